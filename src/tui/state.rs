//! The one state of the TUI, in three parts: the run as the executor said it ([`RunView`]), the
//! cluster as the poller sees it ([`LiveView`]), both kept in display shape, and the operator's
//! view of them ([`UiState`]: dialogs, focus, selection, scroll, filter). Only the reducer in
//! `update/` changes it; the views read it.

use super::text::{TextField, seen_word};
use super::theme::Theme;
use crate::model::Cluster;
use crate::plan::{Level, Plan, Step};
use crate::probe::Snapshot;
use crate::run::events::{Question, RunEnd};
use crate::status_view::{self, Row};
use jiff::Timestamp;
use semver::Version;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

/// Lines of output kept per step (older ones are dropped, the log says so).
pub const OUTPUT_LINES: usize = 2000;
/// Steps whose output is kept (the oldest step's output is dropped first).
pub const OUTPUT_STEPS: usize = 64;
/// Log entries kept.
pub const LOG_LINES: usize = 5000;
/// Longest output line kept, in characters (longer ones are cut and marked).
pub const LINE_MAX: usize = 2000;
/// Smallest terminal the full screen is drawn in.
pub const MIN_WIDTH: u16 = 72;
/// Smallest terminal height the full screen is drawn in.
pub const MIN_HEIGHT: u16 = 20;
/// Keys are ignored this long after a question appears, so that keys typed for something else
/// (the filter, a scroll) cannot answer it by accident.
pub const QUESTION_GUARD_MS: i64 = 400;
/// How long a changed role stays highlighted.
pub const CHANGED_SECS: i64 = 60;

pub use crate::run::machine::StepState;

/// A step as shown: the run state machine's entry (its state, attempts, exit and job come
/// from the executor's events, never from the screen).
pub type StepView = crate::run::machine::StepEntry;

/// A phase as shown: the run state machine's (done steps of earlier plans stay visible,
/// followed by the remaining steps of the latest plan).
pub type PhaseView = crate::run::machine::PhaseEntry;

/// When this TUI saw a step's latest attempt start and how long it took to be done (events
/// carry no time: the reducer's clock). The ETA learns from these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StepTiming {
    /// When the latest attempt started.
    pub started_at: Option<Timestamp>,
    /// Seconds from that start to done.
    pub took_secs: Option<i64>,
}

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

/// The output of one step: bounded, sanitized, the unfinished last line kept apart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepOutput {
    /// The node it ran on.
    pub node: String,
    /// Complete lines, oldest first.
    pub lines: VecDeque<String>,
    /// Raw text after the last newline (a progress line), bounded; sanitized when shown.
    pub partial: String,
    /// Lines dropped because of the bound.
    pub dropped: u64,
}

impl StepOutput {
    /// Number of lines to show (the partial line counts).
    pub fn len(&self) -> usize {
        self.lines.len() + usize::from(!self.partial.is_empty())
    }

    /// Whether nothing was printed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th line to show, sanitized (the partial line is cleaned when shown: it may end
    /// inside an escape sequence that the next output completes).
    pub fn line(&self, i: usize) -> Option<std::borrow::Cow<'_, str>> {
        if i < self.lines.len() {
            return self.lines.get(i).map(|l| std::borrow::Cow::Borrowed(l.as_str()));
        }
        if i == self.lines.len() && !self.partial.is_empty() {
            return Some(std::borrow::Cow::Owned(crate::sanitize::lines(&self.partial).pop().unwrap_or_default()));
        }
        None
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// When the TUI received it.
    pub at: Timestamp,
    /// Info or warning.
    pub level: Level,
    /// The text, sanitized.
    pub text: String,
}

/// The gate the run waits at (`Event::Waiting`).
#[derive(Debug, Clone, PartialEq)]
pub struct WaitingView {
    /// The step it guards (or "(next step)").
    pub step: String,
    /// What must become true.
    pub what: String,
    /// What blocks it now.
    pub blocker: String,
    /// Time left when the event arrived, in milliseconds.
    pub remaining_ms: i64,
    /// When the event arrived.
    pub at: Timestamp,
    /// The step already ran: these are its checks.
    pub after: bool,
}

impl WaitingView {
    /// Seconds left before the operator is asked, as of `now`.
    pub fn left_secs(&self, now: Timestamp) -> i64 {
        let gone = now.as_millisecond() - self.at.as_millisecond();
        ((self.remaining_ms - gone).max(0) + 999) / 1000
    }
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

/// Where pausing stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PauseState {
    /// Running.
    #[default]
    Running,
    /// Asked to pause; the executor pauses after the current step.
    Pausing,
    /// Paused before the next step (the executor's reason).
    Paused(String),
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

/// A node's row, in display shape; rebuilt when a snapshot arrives.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRow {
    /// The facts, as `status` shows them.
    pub row: Row,
    /// Its last answer.
    pub last_seen: Option<Timestamp>,
    /// The role word changed at this time (failover).
    pub role_changed_at: Option<Timestamp>,
    /// The role word before the change.
    pub previous_role: Option<String>,
    /// Runs the target version.
    pub at_target: bool,
    /// The node's kind name (`[kinds.NAME]`: `tc-server`, `patroni`), which says more than
    /// the group type when one cluster mixes products.
    pub kind: String,
}

/// Everything the screen shows: the run as the executor told it, the cluster as the poller
/// sees it, and the operator's own view of both, each kept apart so that each part of the
/// reducer changes only what it is about.
#[derive(Debug, Clone)]
pub struct State {
    /// The cluster (names, groups, target).
    pub cluster: Arc<Cluster>,
    /// The config file, for the resume hint.
    pub config_path: PathBuf,
    /// `Some(holder)` in observer mode: read-only, no executor.
    pub observer_of: Option<String>,
    /// Styles.
    pub theme: Theme,
    /// The latest clock tick.
    pub now: Timestamp,
    /// Terminal size.
    pub size: (u16, u16),
    /// The time zone clock times are shown in (the system's; tests fix it).
    pub tz: jiff::tz::TimeZone,
    /// When the maintenance window (or budget) ends, for the header's "window ends in".
    pub window_end: Option<Timestamp>,
    /// No bell and no desktop notification when a decision waits (`--quiet`).
    pub quiet: bool,
    /// Watching only (`--readonly`, `top`): the reason shown for every refused action key.
    pub readonly: Option<String>,
    /// A rehearsal on a simulated twin (`rollpilot rehearse`): every screen says so.
    pub rehearsal: bool,
    /// `s` opens a shell even though this screen only watches (`top`: a shell drives nothing
    /// of rollpilot's).
    pub shell_allowed: bool,
    /// What the executor said.
    pub run: RunView,
    /// What the poller said.
    pub live: LiveView,
    /// The operator's view: dialogs, focus, selection, scroll, filter.
    pub ui: UiState,
}

/// The run as the executor's events made it, kept in display shape (changed only by executor
/// events, and by the operator's pause requests, which the executor then confirms).
#[derive(Debug, Clone, Default)]
pub struct RunView {
    /// Run id (`Event::Started`).
    pub id: Option<String>,
    /// Journal file.
    pub journal: Option<PathBuf>,
    /// The run resumed an earlier one.
    pub resumed: bool,
    /// When this TUI saw the run start.
    pub started: Option<Timestamp>,
    /// When this TUI saw the run finish (the elapsed clock stops there).
    pub finished_at: Option<Timestamp>,
    /// The latest plan as the executor sent it (remaining steps).
    pub plan: Option<Plan>,
    /// Why the latest plan was made.
    pub plan_reason: Option<String>,
    /// Refusal or other reason there is no plan (observer estimate).
    pub plan_problem: Option<String>,
    /// The run as the executor's events made it: every step's state, attempts and job, the
    /// open question, the executor's count. The one state machine headless and journal replay
    /// use too; the screen only renders it.
    pub machine: crate::run::machine::RunMachine,
    /// Step timings as this TUI saw them, by step id.
    pub timing: HashMap<String, StepTiming>,
    /// The step whose output was last shown.
    pub output_step: Option<String>,
    /// Output per step id, bounded.
    pub outputs: HashMap<String, StepOutput>,
    /// Steps in the order their output started (to drop the oldest).
    pub output_order: VecDeque<String>,
    /// The gate waited for.
    pub waiting: Option<WaitingView>,
    /// The versions the run started from (the first plan's), for "downgrade a → b" in the header.
    pub from: Vec<Version>,
    /// The log: notes, gates, decisions, step results.
    pub log: VecDeque<LogEntry>,
    /// How the run ended, with the executor's sentence.
    pub end: Option<(RunEnd, String)>,
    /// Pausing.
    pub pause: PauseState,
    /// The engine's pause policy (`Event::Policy`); `P` asks for the next one.
    pub pause_policy: crate::run::events::PausePolicy,
    /// Measured step durations in seconds, by (action, group kind), for the ETA.
    pub measured: HashMap<(String, String), Vec<i64>>,
}

/// The cluster as the poller sees it, in display shape (changed only by snapshots, and by the
/// run's steps for the step column).
#[derive(Debug, Clone, Default)]
pub struct LiveView {
    /// The latest snapshot.
    pub snapshot: Snapshot,
    /// Node rows in config order.
    pub rows: Vec<NodeRow>,
    /// Since when the nodes run more than one version (R7), as this TUI saw it.
    pub mixed_since: Option<Timestamp>,
    /// Distinct versions seen, with how many nodes run each.
    pub versions: Vec<(Version, usize)>,
    /// Node → the text of its step column.
    pub node_steps: HashMap<String, (StepState, String)>,
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
    /// A fresh state for `cluster`; `observer_of` names who drives when this TUI only watches.
    pub fn new(
        cluster: Arc<Cluster>,
        config_path: PathBuf,
        observer_of: Option<String>,
        theme: Theme,
        now: Timestamp,
    ) -> State {
        let mut s = State {
            cluster,
            config_path,
            observer_of,
            theme,
            now,
            size: (80, 24),
            tz: jiff::tz::TimeZone::system(),
            window_end: None,
            quiet: false,
            readonly: None,
            rehearsal: false,
            shell_allowed: false,
            run: RunView::default(),
            live: LiveView::default(),
            ui: UiState::default(),
        };
        s.rebuild_rows();
        s
    }

    /// Observer mode: someone else drives, this screen only watches.
    pub fn is_observer(&self) -> bool {
        self.observer_of.is_some()
    }

    /// The run is in progress: this TUI drives and the executor has not finished.
    pub fn run_in_progress(&self) -> bool {
        !self.is_observer() && self.run.end.is_none()
    }

    /// Nodes run more than one version.
    pub fn is_mixed(&self) -> bool {
        self.live.versions.len() > 1
    }

    /// The question on screen, if any (also while the quit dialog sits on top of it).
    pub fn question(&self) -> Option<&QuestionDialog> {
        match (&self.ui.modal, &self.ui.modal_under) {
            (Some(Modal::Question(q)), _) | (_, Some(Modal::Question(q))) => Some(q),
            _ => None,
        }
    }

    /// The run's target, and whether it is a downgrade from the versions the run started from:
    /// `Some((target, true))` for "downgrade 4.2.1 → 4.2.0".
    pub fn target_direction(&self) -> Option<(&Version, bool)> {
        let plan = self.run.plan.as_ref()?;
        let target = &plan.target;
        let from = if self.run.from.is_empty() { &plan.from_versions } else { &self.run.from };
        let down = plan.direction == crate::plan::Direction::Downgrade
            || (!from.is_empty() && from.iter().all(|v| v >= target) && from.iter().any(|v| v > target));
        Some((target, down))
    }

    /// The step view by id.
    pub fn step(&self, id: &str) -> Option<&StepView> {
        self.run.machine.step(id)
    }

    /// Every step shown, in order.
    pub fn steps(&self) -> impl Iterator<Item = &StepView> {
        self.run.machine.steps()
    }

    /// The phases shown.
    pub fn phases(&self) -> &[PhaseView] {
        &self.run.machine.phases
    }

    /// The step being worked on (running, asked about, waited for), as the executor said.
    pub fn current(&self) -> Option<&str> {
        self.run.machine.current.as_deref()
    }

    /// Where the current step is shown: (phase, index in the phase).
    pub fn current_position(&self) -> Option<(usize, usize)> {
        self.current().and_then(|c| self.run.machine.position(c))
    }

    /// When this TUI saw a step start, and how long it took.
    pub fn timing(&self, id: &str) -> StepTiming {
        self.run.timing.get(id).copied().unwrap_or_default()
    }

    /// (done, total) steps for the progress bar: the executor's count (`Event::Progress`). An
    /// observer has no executor: it counts the steps its estimated plan still has.
    pub fn progress(&self) -> (usize, usize) {
        if self.is_observer() {
            let n = self.steps().filter(|s| !s.state.is_final()).count();
            return (0, n);
        }
        self.run.machine.progress.unwrap_or((0, 0))
    }

    /// The kind of a step's group (`tc-server`, `orchestrator`...): steps of one action on one
    /// kind take about as long as each other, which is what the ETA assumes.
    pub fn kind_of(&self, s: &Step) -> String {
        self.cluster.groups.iter().find(|g| g.name == s.group).map(|g| g.kind.clone()).unwrap_or_default()
    }

    /// Seconds the remaining steps should take, from measured durations of earlier steps of
    /// the same action and group kind (a step with no such measurement counts as the mean of
    /// every measured step). `None` until a step was measured.
    pub fn eta_secs(&self) -> Option<i64> {
        let all: Vec<i64> = self.run.measured.values().flatten().copied().collect();
        if all.is_empty() {
            return None;
        }
        let mean = |v: &[i64]| v.iter().sum::<i64>() / v.len().max(1) as i64;
        let overall = mean(&all);
        let mut total = 0;
        for s in self.steps().filter(|s| !s.state.is_final()) {
            let m = self.run.measured.get(&(s.step.action.as_str().to_string(), self.kind_of(&s.step)));
            // No step takes under a second once its probes and checks are counted: a first
            // measurement rounded down to 0 s must not make the header promise "ETA 0s".
            let per = m.map(|v| mean(v)).unwrap_or(overall).max(1);
            let timing = self.timing(&s.step.id);
            total += match timing.started_at {
                // A running step has already spent part of its time.
                Some(t) if timing.took_secs.is_none() => (per - (self.now.as_second() - t.as_second())).max(0),
                _ => per,
            };
        }
        Some(total)
    }

    /// The header's ETA: "ETA 12m" from measurements, or the assumption it waits for.
    pub fn eta_text(&self) -> Option<String> {
        if self.is_observer() || self.run.end.is_some() || self.run.plan.is_none() {
            return None;
        }
        Some(match self.eta_secs() {
            Some(s) => format!("ETA {}", super::text::coarse(s)),
            None => "ETA: after the first node".into(),
        })
    }

    /// "window ends in 1h 12m" for the header, while a window or budget is set.
    pub fn window_text(&self) -> Option<String> {
        let end = self.window_end?;
        let left = end.as_second() - self.now.as_second();
        Some(if left <= 0 {
            "maintenance window over".into()
        } else {
            format!("window ends in {}", super::text::coarse(left))
        })
    }

    /// The phase (index, title) of the current step, else of the first unfinished step.
    pub fn current_phase(&self) -> Option<(usize, &PhaseView)> {
        if let Some((p, _)) = self.current_position() {
            return self.run.machine.phases.get(p).map(|ph| (p, ph));
        }
        self.run.machine.phases.iter().enumerate().find(|(_, ph)| ph.steps.iter().any(|s| !s.state.is_final()))
    }

    /// The selected node's row.
    pub fn selected_node(&self) -> Option<&NodeRow> {
        self.ui.visible.get(self.ui.node_sel).and_then(|&i| self.live.rows.get(i))
    }

    /// The step whose output the output pane shows: the step selected in the plan (when the
    /// plan has the keyboard and that step printed something), else the running (or latest)
    /// step when it printed something, else the latest finished step that printed something,
    /// so the pane does not go blank between steps.
    pub fn shown_output(&self) -> Option<(&str, &StepOutput)> {
        if self.ui.focus == Pane::Plan
            && let Some(id) = self.selected_step_id()
            && let Some(o) = self.run.outputs.get(id)
        {
            return Some((id, o));
        }
        let current = self.run.output_step.as_deref().and_then(|id| self.run.outputs.get_key_value(id));
        if let Some((id, o)) = current
            && !o.is_empty()
        {
            return Some((id.as_str(), o));
        }
        let earlier = self.run.output_order.iter().rev().find_map(|id| {
            let o = self.run.outputs.get(id)?;
            (Some(id.as_str()) != self.run.output_step.as_deref() && !o.is_empty() && self.step_finished(id))
                .then_some((id.as_str(), o))
        });
        earlier.or(current.map(|(id, o)| (id.as_str(), o)))
    }

    /// Whether a step's command has ended (its output is complete).
    pub fn step_finished(&self, id: &str) -> bool {
        self.step(id).is_none_or(|s| !s.state.is_running() && !s.state.is_ahead())
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

    /// Rebuilds the node rows from the snapshot (and notes role changes).
    pub(crate) fn rebuild_rows(&mut self) {
        let rows = status_view::rows(&self.cluster, &self.live.snapshot);
        let old: HashMap<&str, &NodeRow> = self.live.rows.iter().map(|r| (r.row.host.as_str(), r)).collect();
        let mut out = Vec::with_capacity(rows.len());
        let mut changes = Vec::new();
        for r in rows {
            let view = self.live.snapshot.nodes.get(&r.host);
            let last_seen = view.and_then(|v| v.last_seen);
            let (mut changed_at, mut previous) = (None, None);
            if let Some(o) = old.get(r.host.as_str()) {
                changed_at = o.role_changed_at;
                previous = o.previous_role.clone();
                let real = |w: &str| w != "unknown" && w != "-";
                if o.row.role != r.role && real(&o.row.role) && real(&r.role) && r.reachable {
                    changed_at = Some(self.now);
                    previous = Some(o.row.role.clone());
                    changes.push(format!("{} is now {} (was {})", r.host, r.role, o.row.role));
                }
            }
            let at_target = r.version.as_deref() == Some(r.target.as_str());
            let kind =
                self.cluster.groups.iter().find(|g| g.name == r.group).map(|g| g.kind.clone()).unwrap_or_default();
            out.push(NodeRow {
                row: r,
                last_seen,
                role_changed_at: changed_at,
                previous_role: previous,
                at_target,
                kind,
            });
        }
        self.live.rows = out;
        // Versions and the mixed-version window (R7).
        let mut versions: Vec<(Version, usize)> = Vec::new();
        for v in self.live.snapshot.nodes.values() {
            let shown = if v.obs.reachable { Some(&v.obs) } else { v.last_good.as_ref() };
            if let Some(ver) = shown.and_then(|o| o.version.as_ref()) {
                match versions.iter_mut().find(|(x, _)| x == ver) {
                    Some((_, n)) => *n += 1,
                    None => versions.push((ver.clone(), 1)),
                }
            }
        }
        versions.sort_by(|a, b| a.0.cmp(&b.0));
        self.live.versions = versions;
        if self.live.versions.len() > 1 {
            self.live.mixed_since.get_or_insert(self.now);
        } else if !self.live.versions.is_empty() {
            self.live.mixed_since = None;
        }
        for c in changes {
            self.push_log(Level::Info, format!("observed: {c}"));
        }
        self.refilter();
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

    /// Appends to the bounded log.
    pub(crate) fn push_log(&mut self, level: Level, text: String) {
        for line in crate::sanitize::lines(&text) {
            self.run.log.push_back(LogEntry { at: self.now, level, text: line });
        }
        while self.run.log.len() > LOG_LINES {
            self.run.log.pop_front();
        }
    }

    /// "now", "12s ago"... for a node's last answer; "now" while it answers every refresh.
    pub fn seen(&self, r: &NodeRow) -> String {
        seen_word(r.last_seen, self.now, self.cluster.timeouts.refresh)
    }

    /// Whether a node's role changed recently enough to be highlighted.
    pub fn role_recently_changed(&self, r: &NodeRow) -> bool {
        r.role_changed_at.is_some_and(|t| self.now.as_second() - t.as_second() < CHANGED_SECS)
    }

    /// The run state word for the header.
    pub fn run_state_word(&self) -> String {
        if self.readonly.is_some() {
            return "WATCHING (read-only)".into();
        }
        if let Some(who) = &self.observer_of {
            let who = who.split(',').next().unwrap_or(who);
            return format!("OBSERVER · {who} drives");
        }
        if let Some((end, _)) = &self.run.end {
            return format!("FINISHED: {}", end.as_str().to_uppercase());
        }
        match self.ui.stopping {
            Stopping::AfterStep => return "STOPPING AFTER THIS STEP".into(),
            Stopping::Now => return "STOPPING NOW".into(),
            Stopping::No => {}
        }
        if self.question().is_some() {
            return "DECISION NEEDED".into();
        }
        match self.run.pause {
            PauseState::Paused(_) => return "PAUSED".into(),
            PauseState::Pausing => return "PAUSING AFTER THIS STEP".into(),
            PauseState::Running => {}
        }
        if let Some(w) = &self.run.waiting {
            return if w.after { "CHECKING".into() } else { "WAITING AT GATE".into() };
        }
        if self.current().and_then(|c| self.step(c)).is_some_and(|s| s.state.is_running()) {
            return "RUNNING".into();
        }
        if self.run.id.is_none() {
            return "STARTING".into();
        }
        if self.run.plan.is_none() { "PLANNING".into() } else { "RUNNING".into() }
    }
}
