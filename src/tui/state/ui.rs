//! The operator's side of the screen: dialogs and their queue, quitting, focus, selection,
//! scroll positions, the filter and overlays.

use super::{NodeRow, State};
use crate::run::events::Question;
use crate::tui::text::TextField;
use jiff::Timestamp;
use std::collections::{BTreeSet, VecDeque};

/// One line of the plan pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanRow {
    /// A phase title.
    Phase(usize),
    /// A step (phase, step).
    Step(usize, usize),
    /// The expanded text of the current step: (phase, step, which line).
    Detail(usize, usize, usize),
}

/// A question of the executor on screen.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionDialog {
    /// The question.
    pub question: Question,
    /// The focused choice (0 = the safest).
    pub focus: usize,
    /// The cluster-name field, open after a typed choice was activated.
    pub typing: Option<TextField>,
    /// What went wrong with the last attempt (a mismatch).
    pub error: Option<String>,
    /// When it appeared (keys are ignored for a moment after).
    pub shown_at: Timestamp,
    /// The executor asked this same question again (the previous answer was refused).
    pub repeated: bool,
    /// A visible note about the last key (dropped by the guard, or meaningless here), so no
    /// key is ever lost silently.
    pub note: Option<String>,
}

/// The quit dialog's choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuitChoice {
    /// Keep running, close the dialog (the safe choice).
    Stay,
    /// `Command::Interrupt`: finish the running step, then stop; quit when it has.
    AfterStep,
    /// `Command::InterruptNow`: stop now; the step goes on on its host.
    Now,
}

impl QuitChoice {
    /// All choices, safest first.
    pub const ALL: [QuitChoice; 3] = [QuitChoice::Stay, QuitChoice::AfterStep, QuitChoice::Now];

    /// Button label.
    pub fn label(self) -> &'static str {
        match self {
            QuitChoice::Stay => "Stay",
            QuitChoice::AfterStep => "Stop after this step",
            QuitChoice::Now => "Stop now",
        }
    }

    /// What happens. A rehearsal is never resumed (its twin is torn down on quitting), so its
    /// "Stop now" must not promise a re-attach.
    pub fn consequence(self, rehearsal: bool) -> &'static str {
        match self {
            QuitChoice::Now if rehearsal => "rollpilot stops now and tears the simulated twin down",
            QuitChoice::Stay => "close this dialog; the run goes on",
            QuitChoice::AfterStep => {
                "the running step finishes and is journaled, then the run stops and rollpilot quits"
            }
            QuitChoice::Now => {
                "rollpilot stops now; a running step goes on detached on its host and `resume` re-attaches to it"
            }
        }
    }
}

/// A modal on top of the screen.
#[derive(Debug, Clone, PartialEq)]
pub enum Modal {
    /// The executor waits for a decision.
    Question(Box<QuestionDialog>),
    /// Quit while a run is in progress or the cluster is mixed.
    Quit {
        /// Focused choice index into [`QuitChoice::ALL`].
        focus: usize,
    },
}

/// A full-screen overlay (under any modal).
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    /// The keymap.
    Help,
    /// The full log, with its scroll position (`None` follows the end).
    Log {
        /// Top line, or follow the end.
        scroll: Option<usize>,
    },
    /// One node in detail.
    Node(String),
    /// One step in detail.
    Step(String),
}

/// The pane that has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pane {
    /// The node table.
    #[default]
    Nodes,
    /// The plan.
    Plan,
    /// The running step's output.
    Output,
}

/// How the quit is going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stopping {
    /// Not stopping.
    #[default]
    No,
    /// Interrupt sent: the step finishes, then the run stops and the TUI quits.
    AfterStep,
    /// InterruptNow sent: the run stops now and the TUI quits.
    Now,
}

/// The operator's side of the screen: dialogs and their queue, quitting, focus, selection,
/// scroll positions, the filter and overlays.
#[derive(Debug, Clone, Default)]
pub struct UiState {
    /// The modal on top: a question, or the quit dialog (which may sit on top of a question).
    pub modal: Option<Modal>,
    /// The question under the quit dialog (`q` pressed in a question): shown again when the
    /// quit dialog closes.
    pub modal_under: Option<Modal>,
    /// Questions that arrived while another dialog was open: shown one after the other, so a
    /// new question never replaces the one the operator is typing at.
    pub queued: VecDeque<Question>,
    /// Questions answered, by id (a repeated id means the answer was refused).
    pub answered: BTreeSet<u64>,
    /// Ctrl-C presses while the run goes on.
    pub ctrl_c: u8,
    /// Quitting: waiting for the run to stop.
    pub stopping: Stopping,
    /// The attention escapes to write at the next draw (bell, OSC 9, OSC 777), set when a
    /// decision starts waiting; the loop writes them through the terminal backend and clears it.
    pub attention: Option<String>,
    /// The last key refused because this screen only watches: shown in the status bar so no
    /// key is refused silently.
    pub refused: Option<String>,
    /// Focused pane.
    pub focus: Pane,
    /// Indices into the live rows that pass the filter.
    pub visible: Vec<usize>,
    /// Selected row in `visible`.
    pub node_sel: usize,
    /// First row shown of the node table.
    pub node_scroll: usize,
    /// The plan pane's lines, rebuilt when the plan or the current step changes.
    pub plan_rows: Vec<PlanRow>,
    /// Selected step (index into `plan_rows`), when the operator moved it.
    pub plan_sel: Option<usize>,
    /// First line shown of the plan pane.
    pub plan_scroll: usize,
    /// First output line shown, or follow the end.
    pub output_scroll: Option<usize>,
    /// The node filter.
    pub filter: TextField,
    /// Typing in the filter.
    pub filter_editing: bool,
    /// An overlay (help, log, details).
    pub overlay: Option<Overlay>,
    /// First line shown of the help (it is longer than a small terminal).
    pub help_scroll: usize,
}

impl State {
    /// The question on screen, if any (also while the quit dialog sits on top of it).
    pub fn question(&self) -> Option<&QuestionDialog> {
        match (&self.ui.modal, &self.ui.modal_under) {
            (Some(Modal::Question(q)), _) | (_, Some(Modal::Question(q))) => Some(q),
            _ => None,
        }
    }

    /// The selected node's row.
    pub fn selected_node(&self) -> Option<&NodeRow> {
        self.ui.visible.get(self.ui.node_sel).and_then(|&i| self.live.rows.get(i))
    }

    /// The step under the plan selection (or the current step when the operator did not move).
    pub fn selected_step_id(&self) -> Option<&str> {
        let row = match self.ui.plan_sel {
            Some(i) => self.ui.plan_rows.get(i).copied(),
            None => self.current_position().map(|(p, s)| PlanRow::Step(p, s)),
        }?;
        let (p, s) = match row {
            PlanRow::Step(p, s) | PlanRow::Detail(p, s, _) => (p, s),
            PlanRow::Phase(_) => return None,
        };
        self.run.machine.phases.get(p).and_then(|ph| ph.steps.get(s)).map(|s| s.step.id.as_str())
    }

    /// Recomputes which rows pass the filter, keeping the selected node selected if it still does.
    pub(crate) fn refilter(&mut self) {
        let keep = self.selected_node().map(|r| r.row.host.clone());
        let f = self.ui.filter.text.trim().to_lowercase();
        self.ui.visible = (0..self.live.rows.len())
            .filter(|&i| {
                f.is_empty() || {
                    let r = &self.live.rows[i];
                    let step = self.live.node_steps.get(&r.row.host).map(|s| s.1.as_str()).unwrap_or("");
                    [
                        r.row.host.as_str(),
                        r.row.group.as_str(),
                        r.row.role.as_str(),
                        r.row.version.as_deref().unwrap_or("?"),
                        r.row.sync.as_str(),
                        r.row.health.as_str(),
                        step,
                    ]
                    .iter()
                    .any(|c| c.to_lowercase().contains(&f))
                        || (!r.row.reachable && "unreachable".contains(&f))
                        || (r.row.stale && "stale".contains(&f))
                }
            })
            .collect();
        self.ui.node_sel = keep
            .and_then(|h| self.ui.visible.iter().position(|&i| self.live.rows[i].row.host == h))
            .unwrap_or(0)
            .min(self.ui.visible.len().saturating_sub(1));
    }
}
