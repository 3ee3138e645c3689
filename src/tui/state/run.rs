//! The run as the executor's events made it, in display shape: steps and their timings, output,
//! the log, the gate waited for, pausing, and what is derived from them (progress, the ETA,
//! the output shown).

use super::{LOG_LINES, Pane, PhaseView, State, StepView};
use crate::plan::{Level, Plan, Step};
use crate::run::events::RunEnd;
use jiff::Timestamp;
use semver::Version;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;

/// When this TUI saw a step's latest attempt start and how long it took to be done (events
/// carry no time: the reducer's clock). The ETA learns from these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StepTiming {
    /// When the latest attempt started.
    pub started_at: Option<Timestamp>,
    /// Seconds from that start to done.
    pub took_secs: Option<i64>,
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

impl State {
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
            Some(s) => format!("ETA {}", crate::tui::text::coarse(s)),
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
            format!("window ends in {}", crate::tui::text::coarse(left))
        })
    }

    /// The phase (index, title) of the current step, else of the first unfinished step.
    pub fn current_phase(&self) -> Option<(usize, &PhaseView)> {
        if let Some((p, _)) = self.current_position() {
            return self.run.machine.phases.get(p).map(|ph| (p, ph));
        }
        self.run.machine.phases.iter().enumerate().find(|(_, ph)| ph.steps.iter().any(|s| !s.state.is_final()))
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

    /// Appends to the bounded log.
    pub(crate) fn push_log(&mut self, level: Level, text: String) {
        for line in crate::sanitize::lines(&text) {
            self.run.log.push_back(LogEntry { at: self.now, level, text: line });
        }
        while self.run.log.len() > LOG_LINES {
            self.run.log.pop_front();
        }
    }
}
