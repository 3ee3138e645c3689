//! The run as one pure state machine: what every step of a run is (pending, awaiting its
//! confirmation, running attempt N with its job, checking, in doubt, failed and why, done,
//! skipped, declined, rolled back) and where the run stands. [`RunMachine::apply`] is the one
//! transition function: the live executor's events and the journal's records are both turned
//! into [`Input`]s and fed to it, so the TUI, the headless printer and a resumed run all see the
//! same states, and a replayed journal gives the states its live run showed. No I/O, no clock.

use crate::plan::{Plan, Step};
use crate::run::events::{Event, QuestionKind, RunEnd};
use crate::run::journal::{DecisionRecord, Entry, Outcome, Record};
use std::collections::HashMap;

/// Why a step's attempt failed: what the failure dialog and the plan pane say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Its command ended with a non-zero exit status (or could not be started).
    Exit(Option<i32>),
    /// It did not finish within `timeouts.step`.
    TimedOut,
    /// Its job vanished without an exit status (killed, host rebooted).
    Lost,
}

/// Where one step is in its life. Every change comes from the executor (an event) or from the
/// journal (a record), never from a face's guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    /// Planned, not reached yet.
    Pending,
    /// Its gate does not hold yet; the run waits for it.
    Waiting,
    /// The executor asks the operator to confirm it.
    AwaitingConfirmation,
    /// Confirmed (by the operator or the pause policy); it starts when its gates hold.
    Approved,
    /// Its command runs as this attempt (the job directory is on the [`StepEntry`]).
    Running {
        /// Attempt number, 1 for the first run.
        attempt: u32,
    },
    /// Its command ended well; its checks (after-gates) are being waited for.
    Checking {
        /// The attempt whose result is checked.
        attempt: u32,
    },
    /// It started and rollpilot does not know how it ended (the run stopped while it ran).
    InDoubt {
        /// The attempt in doubt.
        attempt: u32,
    },
    /// The attempt failed.
    Failed {
        /// The attempt that failed.
        attempt: u32,
        /// How.
        reason: Failure,
    },
    /// Command and checks held.
    Done,
    /// The operator skipped it (or its node).
    Skipped,
    /// An optional step (failback, finalize) the operator declined.
    Declined,
    /// The operator chose to roll its node back after it failed.
    RolledBack,
}

impl StepState {
    /// The symbol before the step (a state is never shown by colour alone).
    pub fn symbol(self) -> &'static str {
        match self {
            StepState::Pending => "·",
            StepState::Waiting => "…",
            StepState::AwaitingConfirmation => "?",
            StepState::Approved => "+",
            StepState::Running { .. } => "▶",
            StepState::Checking { .. } => "~",
            StepState::InDoubt { .. } => "!",
            StepState::Done => "✓",
            StepState::Failed { .. } => "✗",
            StepState::Declined | StepState::Skipped => "-",
            StepState::RolledBack => "↺",
        }
    }

    /// The state in words (plan pane, details, headless).
    pub fn word(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Waiting => "waiting",
            StepState::AwaitingConfirmation => "asking",
            StepState::Approved => "approved",
            StepState::Running { .. } => "running",
            StepState::Checking { .. } => "checking",
            StepState::InDoubt { .. } => "in doubt",
            StepState::Done => "done",
            StepState::Failed { reason: Failure::TimedOut, .. } => "timed out",
            StepState::Failed { reason: Failure::Lost, .. } => "lost",
            StepState::Failed { .. } => "failed",
            StepState::Declined => "declined",
            StepState::Skipped => "skipped",
            StepState::RolledBack => "rolled back",
        }
    }

    /// Whether the step is behind the run for good.
    pub fn is_final(self) -> bool {
        matches!(self, StepState::Done | StepState::Declined | StepState::Skipped | StepState::RolledBack)
    }

    /// Whether its command is not running now and has not run in this attempt yet (what a
    /// re-plan may drop).
    pub fn is_ahead(self) -> bool {
        matches!(self, StepState::Pending | StepState::Waiting | StepState::AwaitingConfirmation | StepState::Approved)
    }

    /// Whether its command is running (its output is not complete).
    pub fn is_running(self) -> bool {
        matches!(self, StepState::Running { .. })
    }
}

/// A step with what happened to it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepEntry {
    /// The step as planned (or as started, for a step outside the plan).
    pub step: Step,
    /// Its state.
    pub state: StepState,
    /// Attempts started so far (kept across re-plans).
    pub attempts: u32,
    /// Exit status of the last attempt that ended.
    pub exit: Option<i32>,
    /// The detached job directory of the latest attempt on its host.
    pub job: Option<String>,
}

impl StepEntry {
    /// A planned step nothing happened to yet.
    pub fn pending(step: Step) -> StepEntry {
        StepEntry { step, state: StepState::Pending, attempts: 0, exit: None, job: None }
    }
}

/// A phase as shown: steps done under earlier plans stay, followed by what the latest plan
/// still has (the executor's plans hold only the remaining steps).
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseEntry {
    /// Title.
    pub title: String,
    /// Why it comes here.
    pub reason: String,
    /// Its steps, in order.
    pub steps: Vec<StepEntry>,
}

/// Where the run as a whole stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunPhase {
    /// Nothing said yet.
    #[default]
    NotStarted,
    /// Going on.
    Running,
    /// Paused before the next step.
    Paused,
    /// Ended.
    Finished(RunEnd),
}

/// The question the executor waits on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenQuestion {
    /// Its id (answers must carry it).
    pub id: u64,
    /// The step it concerns.
    pub step: String,
    /// What kind of decision.
    pub kind: QuestionKind,
}

/// What the machine understands: the part of an executor event or a journal record that
/// changes a step or the run. Built with [`Input::from_event`] or [`Input::from_entry`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input<'a> {
    /// The run began (`resumed`: continued; `done`: steps done before, as the executor lists them).
    Started {
        /// Continued after an interruption.
        resumed: bool,
        /// Steps done before the interruption (live only; a replay has them already).
        done: &'a [Step],
    },
    /// A plan (remaining steps) was made.
    Planned(&'a Plan),
    /// A gate of the step does not hold yet.
    Blocked(&'a str),
    /// A gate of the step holds.
    GateOpen(&'a str),
    /// A question was asked.
    Asked {
        /// Question id.
        id: u64,
        /// Its step.
        step: &'a str,
        /// Its kind.
        kind: QuestionKind,
    },
    /// A decision was taken (by the operator, the headless flags or the pause policy).
    Decided {
        /// Its step.
        step: &'a str,
        /// What.
        decision: &'a DecisionRecord,
    },
    /// An attempt of a step started as a job.
    StepStarted {
        /// The step.
        step: &'a Step,
        /// Attempt number.
        attempt: u32,
        /// The job directory (`None` where the source does not say).
        job: Option<&'a str>,
    },
    /// A job found after an interruption is followed again (not re-run).
    Reattached {
        /// Step id.
        step: &'a str,
        /// The attempt whose job it is.
        attempt: u32,
    },
    /// The step's command ended.
    StepFinished {
        /// Step id.
        step: &'a str,
        /// How.
        outcome: Outcome,
        /// Exit status.
        exit: Option<i32>,
    },
    /// The step's checks held.
    StepDone(&'a str),
    /// The executor's count of steps done and planned.
    Progress {
        /// Done.
        done: usize,
        /// Done plus still planned.
        total: usize,
    },
    /// Paused before the next step.
    Paused,
    /// Going on after a pause.
    Resumed,
    /// The run ended.
    Finished(RunEnd),
}

impl<'a> Input<'a> {
    /// The machine's view of an executor event (`None`: it changes no state, e.g. output).
    pub fn from_event(e: &'a Event) -> Option<Input<'a>> {
        Some(match e {
            Event::Started { resumed, done, .. } => Input::Started { resumed: *resumed, done },
            Event::Planned { plan, .. } => Input::Planned(plan),
            Event::Waiting { step, .. } => Input::Blocked(step),
            Event::GateOpen { step, .. } => Input::GateOpen(step),
            Event::Ask(q) => Input::Asked { id: q.id, step: &q.step, kind: q.kind },
            Event::Decided { step, decision } => Input::Decided { step, decision },
            Event::StepStarted { step, attempt, job } => {
                Input::StepStarted { step, attempt: *attempt, job: Some(job.as_str()) }
            }
            Event::StepFinished { step, outcome, exit } => Input::StepFinished { step, outcome: *outcome, exit: *exit },
            Event::StepDone { step } => Input::StepDone(step),
            Event::Progress { done, total, .. } => Input::Progress { done: *done, total: *total },
            Event::Paused { .. } => Input::Paused,
            Event::Resumed => Input::Resumed,
            Event::Finished { end, .. } => Input::Finished(*end),
            Event::Policy { .. } | Event::Output { .. } | Event::Note { .. } => return None,
        })
    }

    /// The machine's view of a journal record (`None`: it changes no state, e.g. a note).
    pub fn from_entry(e: &'a Entry) -> Option<Input<'a>> {
        Some(match &e.record {
            Record::RunStarted { .. } => Input::Started { resumed: false, done: &[] },
            Record::Resumed { .. } => Input::Started { resumed: true, done: &[] },
            Record::Planned { plan, .. } => Input::Planned(plan),
            Record::Gate { step, open: false, .. } => Input::Blocked(step),
            Record::Gate { step, open: true, .. } => Input::GateOpen(step),
            Record::Decided { step, decision, .. } => Input::Decided { step, decision },
            Record::StepStarted { step, attempt, job } => {
                Input::StepStarted { step, attempt: *attempt, job: Some(job.as_str()) }
            }
            Record::Reattached { step, attempt } => Input::Reattached { step, attempt: *attempt },
            Record::StepFinished { step, outcome, exit, .. } => {
                Input::StepFinished { step, outcome: *outcome, exit: *exit }
            }
            Record::StepDone { step } => Input::StepDone(step),
            Record::RunFinished { outcome, .. } => Input::Finished(run_end(outcome)),
            Record::Policy { .. } | Record::Context { .. } | Record::Observed { .. } | Record::Note { .. } => {
                return None;
            }
        })
    }
}

/// The end a journal names (`RunFinished.outcome` is [`RunEnd::as_str`]); an unknown word (a
/// newer rollpilot) counts as failed, never as done.
fn run_end(word: &str) -> RunEnd {
    [
        RunEnd::Done,
        RunEnd::Aborted,
        RunEnd::Failed,
        RunEnd::Refused,
        RunEnd::Unreachable,
        RunEnd::Interrupted,
        RunEnd::Locked,
        RunEnd::Window,
    ]
    .into_iter()
    .find(|e| e.as_str() == word)
    .unwrap_or(RunEnd::Failed)
}

/// What changed, so a face can do what goes with it (time a step, rebuild its plan rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The list of steps changed (a plan, a step outside it).
    PlanChanged,
    /// A step changed state.
    StepChanged {
        /// Step id.
        step: String,
        /// Before.
        from: StepState,
        /// After.
        to: StepState,
    },
    /// The run ended.
    Ended(RunEnd),
}

/// The title of the phase holding steps the executor ran outside any plan.
pub const OTHER_STEPS: &str = "Other steps";
/// The title of the phase holding the steps a resumed run had done before its interruption.
pub const DONE_BEFORE: &str = "Done before the interruption";

/// The state of a run: its steps in display order and where it stands.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunMachine {
    /// The steps as shown, phase by phase.
    pub phases: Vec<PhaseEntry>,
    index: HashMap<String, (usize, usize)>,
    /// Where the run stands.
    pub phase: RunPhase,
    /// The question the executor waits on.
    pub question: Option<OpenQuestion>,
    /// The step being worked on (waited for, asked about, running).
    pub current: Option<String>,
    /// The executor's count (done, total), when it said one.
    pub progress: Option<(usize, usize)>,
    /// Steps whose checks held in this run, counted as the executor counts them.
    pub done: usize,
}

impl RunMachine {
    /// A machine that saw nothing yet.
    pub fn new() -> RunMachine {
        RunMachine::default()
    }

    /// A machine replayed from journal records (the same transitions as live).
    pub fn replay(entries: &[Entry]) -> RunMachine {
        let mut m = RunMachine::new();
        for e in entries {
            if let Some(i) = Input::from_entry(e) {
                m.apply(i);
            }
        }
        m
    }

    /// A step by id.
    pub fn step(&self, id: &str) -> Option<&StepEntry> {
        self.index.get(id).and_then(|&(p, s)| self.phases.get(p).and_then(|ph| ph.steps.get(s)))
    }

    /// Where a step is shown: (phase, index in the phase).
    pub fn position(&self, id: &str) -> Option<(usize, usize)> {
        self.index.get(id).copied()
    }

    /// Every step, in order.
    pub fn steps(&self) -> impl Iterator<Item = &StepEntry> {
        self.phases.iter().flat_map(|p| p.steps.iter())
    }

    /// Step id → state, for comparing two machines (live against replay).
    pub fn states(&self) -> Vec<(String, StepState, u32)> {
        self.steps().map(|s| (s.step.id.clone(), s.state, s.attempts)).collect()
    }

    fn step_mut(&mut self, id: &str) -> Option<&mut StepEntry> {
        let (p, s) = *self.index.get(id)?;
        self.phases.get_mut(p).and_then(|ph| ph.steps.get_mut(s))
    }

    fn reindex(&mut self) {
        self.index.clear();
        for (p, ph) in self.phases.iter().enumerate() {
            for (s, st) in ph.steps.iter().enumerate() {
                self.index.insert(st.step.id.clone(), (p, s));
            }
        }
    }

    /// Sets a step's state; says so when it changed.
    fn set(&mut self, id: &str, to: StepState, fx: &mut Vec<Effect>) {
        if let Some(s) = self.step_mut(id)
            && s.state != to
        {
            let from = s.state;
            s.state = to;
            fx.push(Effect::StepChanged { step: id.to_string(), from, to });
        }
    }

    fn state_of(&self, id: &str) -> Option<StepState> {
        self.step(id).map(|s| s.state)
    }

    /// Merges a new plan: steps behind the run stay where they were; what is ahead is the plan.
    fn merge_plan(&mut self, plan: &Plan) {
        let new_ids: std::collections::HashSet<&str> = plan.steps().map(|s| s.id.as_str()).collect();
        let old: HashMap<String, StepEntry> = self.steps().map(|s| (s.step.id.clone(), s.clone())).collect();
        let mut phases: Vec<PhaseEntry> = Vec::new();
        for ph in &self.phases {
            let kept: Vec<StepEntry> = ph
                .steps
                .iter()
                .filter(|s| !new_ids.contains(s.step.id.as_str()) && !s.state.is_ahead())
                .cloned()
                .collect();
            if !kept.is_empty() {
                phases.push(PhaseEntry { title: ph.title.clone(), reason: ph.reason.to_string(), steps: kept });
            }
        }
        for ph in &plan.phases {
            let steps: Vec<StepEntry> = ph
                .steps
                .iter()
                .map(|s| {
                    let prev = old.get(&s.id);
                    StepEntry {
                        attempts: prev.map(|p| p.attempts).unwrap_or(0),
                        exit: prev.and_then(|p| p.exit),
                        job: prev.and_then(|p| p.job.clone()),
                        ..StepEntry::pending(s.clone())
                    }
                })
                .collect();
            match phases.iter_mut().find(|p| p.title == ph.title) {
                Some(p) => p.steps.extend(steps),
                None => phases.push(PhaseEntry { title: ph.title.clone(), reason: ph.reason.to_string(), steps }),
            }
        }
        self.phases = phases;
        self.reindex();
    }

    /// A step the plan did not have (a rollback step, a step re-attached on resume): shown after
    /// the current step, or in a phase of its own.
    fn ensure_step(&mut self, step: &Step) -> bool {
        if self.index.contains_key(&step.id) {
            return false;
        }
        let entry = StepEntry::pending(step.clone());
        match self.current.as_deref().and_then(|c| self.index.get(c)).copied() {
            Some((p, s)) => self.phases[p].steps.insert(s + 1, entry),
            None => match self.phases.iter_mut().find(|p| p.title == OTHER_STEPS) {
                Some(p) => p.steps.push(entry),
                None => self.phases.push(PhaseEntry {
                    title: OTHER_STEPS.into(),
                    reason: "steps the executor ran outside the plan (rollback, re-attached on resume)".into(),
                    steps: vec![entry],
                }),
            },
        }
        self.reindex();
        true
    }

    /// Applies one input: the single transition function of a run, live and on replay.
    pub fn apply(&mut self, input: Input<'_>) -> Vec<Effect> {
        let mut fx = Vec::new();
        match input {
            Input::Started { resumed, done } => {
                self.phase = RunPhase::Running;
                if resumed {
                    // What was running when the run stopped is in doubt until probed.
                    let running: Vec<(String, u32)> = self
                        .steps()
                        .filter_map(|s| match s.state {
                            StepState::Running { attempt } => Some((s.step.id.clone(), attempt)),
                            _ => None,
                        })
                        .collect();
                    for (id, attempt) in running {
                        self.set(&id, StepState::InDoubt { attempt }, &mut fx);
                    }
                }
                let fresh: Vec<StepEntry> = done
                    .iter()
                    .filter(|s| !self.index.contains_key(&s.id))
                    .map(|s| StepEntry {
                        state: StepState::Done,
                        attempts: 1,
                        exit: Some(0),
                        ..StepEntry::pending(s.clone())
                    })
                    .collect();
                if !fresh.is_empty() {
                    self.phases.insert(
                        0,
                        PhaseEntry { title: DONE_BEFORE.into(), reason: "from the journal".into(), steps: fresh },
                    );
                    self.reindex();
                    fx.push(Effect::PlanChanged);
                }
            }
            Input::Planned(plan) => {
                self.merge_plan(plan);
                fx.push(Effect::PlanChanged);
            }
            Input::Blocked(step) => {
                if let Some(st) = self.state_of(step) {
                    if matches!(st, StepState::Pending | StepState::Approved) {
                        self.set(step, StepState::Waiting, &mut fx);
                    }
                    self.current = Some(step.to_string());
                }
            }
            Input::GateOpen(step) => {
                if self.state_of(step) == Some(StepState::Waiting) {
                    self.set(step, StepState::Pending, &mut fx);
                }
            }
            Input::Asked { id, step, kind } => {
                self.question = Some(OpenQuestion { id, step: step.to_string(), kind });
                if let Some(st) = self.state_of(step) {
                    self.current = Some(step.to_string());
                    match kind {
                        QuestionKind::Confirm | QuestionKind::Typed | QuestionKind::Optional if st.is_ahead() => {
                            self.set(step, StepState::AwaitingConfirmation, &mut fx);
                        }
                        QuestionKind::InDoubt => {
                            let attempt = self.step(step).map(|s| s.attempts).unwrap_or(0);
                            self.set(step, StepState::InDoubt { attempt }, &mut fx);
                        }
                        _ => {}
                    }
                }
            }
            Input::Decided { step, decision } => {
                if self.question.as_ref().is_some_and(|q| q.step == step) {
                    self.question = None;
                }
                let Some(st) = self.state_of(step) else { return fx };
                let attempt = self.step(step).map(|s| s.attempts).unwrap_or(0);
                let to = match decision {
                    DecisionRecord::Proceed if st.is_ahead() => Some(StepState::Approved),
                    DecisionRecord::Decline => Some(StepState::Declined),
                    DecisionRecord::Retry => Some(StepState::Pending),
                    DecisionRecord::Rollback => Some(StepState::RolledBack),
                    DecisionRecord::Skip { .. } => Some(StepState::Skipped),
                    DecisionRecord::AcceptDone => Some(StepState::Checking { attempt }),
                    // A handover whose roles did not move in time is failed until the operator
                    // keeps waiting: from then on its check is waited for again.
                    DecisionRecord::KeepWaiting if matches!(st, StepState::Failed { .. }) => {
                        Some(StepState::Checking { attempt })
                    }
                    DecisionRecord::Abort if st == StepState::AwaitingConfirmation => Some(StepState::Pending),
                    _ => None,
                };
                if let Some(to) = to {
                    self.set(step, to, &mut fx);
                }
            }
            Input::StepStarted { step, attempt, job } => {
                if self.ensure_step(step) {
                    fx.push(Effect::PlanChanged);
                }
                if let Some(s) = self.step_mut(&step.id) {
                    s.attempts = attempt;
                    s.exit = None;
                    s.job = job.map(str::to_string);
                }
                self.set(&step.id, StepState::Running { attempt }, &mut fx);
                self.current = Some(step.id.clone());
            }
            Input::Reattached { step, attempt } => {
                self.set(step, StepState::Running { attempt }, &mut fx);
                if self.index.contains_key(step) {
                    self.current = Some(step.to_string());
                }
            }
            Input::StepFinished { step, outcome, exit } => {
                let attempt = self.step(step).map(|s| s.attempts).unwrap_or(0);
                if let Some(s) = self.step_mut(step) {
                    s.exit = exit;
                }
                let to = match outcome {
                    Outcome::Ok => StepState::Checking { attempt },
                    Outcome::Failed => StepState::Failed { attempt, reason: Failure::Exit(exit) },
                    Outcome::TimedOut => StepState::Failed { attempt, reason: Failure::TimedOut },
                    Outcome::Lost => StepState::Failed { attempt, reason: Failure::Lost },
                    Outcome::NotStarted => StepState::Pending,
                };
                self.set(step, to, &mut fx);
            }
            Input::StepDone(step) => {
                self.done += 1;
                // A step skipped by the operator is recorded as done without success.
                if self.state_of(step) != Some(StepState::Skipped) {
                    self.set(step, StepState::Done, &mut fx);
                }
            }
            Input::Progress { done, total } => self.progress = Some((done, total)),
            Input::Paused => self.phase = RunPhase::Paused,
            Input::Resumed => self.phase = RunPhase::Running,
            Input::Finished(end) => {
                self.phase = RunPhase::Finished(end);
                self.question = None;
                // A job the run stopped following goes on on its host: in doubt until `resume`.
                let running: Vec<(String, u32)> = self
                    .steps()
                    .filter_map(|s| match s.state {
                        StepState::Running { attempt } => Some((s.step.id.clone(), attempt)),
                        _ => None,
                    })
                    .collect();
                for (id, attempt) in running {
                    self.set(&id, StepState::InDoubt { attempt }, &mut fx);
                }
                // A confirmation left open is not a step in progress.
                let asked: Vec<String> = self
                    .steps()
                    .filter(|s| s.state == StepState::AwaitingConfirmation)
                    .map(|s| s.step.id.clone())
                    .collect();
                for id in asked {
                    self.set(&id, StepState::Pending, &mut fx);
                }
                if end == RunEnd::Done {
                    self.current = None;
                }
                fx.push(Effect::Ended(end));
            }
        }
        fx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str) -> Step {
        serde_json::from_value(serde_json::json!({
            "id": id, "action": "install", "node": id.split('/').nth(1).unwrap_or("n"), "group": "g",
            "command": "x", "before": [], "after": [], "reason": "r", "rules": [], "summary": "s",
            "downtime": false, "irreversible": false, "data_loss": false, "confirm": "none", "rollback": "r", "assumes": []
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn attempts_failures_and_retries_are_typed_states() {
        let mut m = RunMachine::new();
        let s = step("g/n1/install");
        m.apply(Input::StepStarted { step: &s, attempt: 1, job: Some("/jobs/r/1") });
        assert_eq!(
            m.step(&s.id).map(|e| (e.state, e.job.clone())),
            Some((StepState::Running { attempt: 1 }, Some("/jobs/r/1".into())))
        );
        m.apply(Input::StepFinished { step: &s.id, outcome: Outcome::Failed, exit: Some(2) });
        assert_eq!(
            m.step(&s.id).map(|e| e.state),
            Some(StepState::Failed { attempt: 1, reason: Failure::Exit(Some(2)) })
        );
        m.apply(Input::Decided { step: &s.id, decision: &DecisionRecord::Retry });
        m.apply(Input::StepStarted { step: &s, attempt: 2, job: Some("/jobs/r/2") });
        m.apply(Input::StepFinished { step: &s.id, outcome: Outcome::Ok, exit: Some(0) });
        assert_eq!(m.step(&s.id).map(|e| e.state), Some(StepState::Checking { attempt: 2 }));
        m.apply(Input::StepDone(&s.id));
        assert_eq!(m.states(), vec![(s.id.clone(), StepState::Done, 2)]);
    }

    #[test]
    fn keeping_waiting_after_a_failed_check_shows_the_step_checked_again_not_failed() {
        let mut m = RunMachine::new();
        let s = step("g/n1/switchover");
        m.apply(Input::StepStarted { step: &s, attempt: 1, job: None });
        m.apply(Input::StepFinished { step: &s.id, outcome: Outcome::Failed, exit: None });
        m.apply(Input::Decided { step: &s.id, decision: &DecisionRecord::KeepWaiting });
        assert_eq!(m.step(&s.id).map(|e| e.state), Some(StepState::Checking { attempt: 1 }));
        // Keeping waiting at a step still running (it outlived its step timeout) changes nothing.
        let t = step("g/n2/install");
        m.apply(Input::StepStarted { step: &t, attempt: 1, job: None });
        m.apply(Input::Decided { step: &t.id, decision: &DecisionRecord::KeepWaiting });
        assert_eq!(m.step(&t.id).map(|e| e.state), Some(StepState::Running { attempt: 1 }));
    }

    #[test]
    fn a_step_running_when_the_run_stopped_is_in_doubt() {
        let mut m = RunMachine::new();
        let s = step("g/n1/install");
        m.apply(Input::StepStarted { step: &s, attempt: 1, job: None });
        m.apply(Input::Started { resumed: true, done: &[] });
        assert_eq!(m.step(&s.id).map(|e| e.state), Some(StepState::InDoubt { attempt: 1 }));
        m.apply(Input::Reattached { step: &s.id, attempt: 1 });
        assert_eq!(m.step(&s.id).map(|e| e.state), Some(StepState::Running { attempt: 1 }));
        m.apply(Input::Finished(RunEnd::Interrupted));
        assert_eq!(m.step(&s.id).map(|e| e.state), Some(StepState::InDoubt { attempt: 1 }));
        assert_eq!(m.phase, RunPhase::Finished(RunEnd::Interrupted));
    }

    #[test]
    fn every_run_end_word_maps_back() {
        for e in [RunEnd::Done, RunEnd::Aborted, RunEnd::Window, RunEnd::Locked] {
            assert_eq!(run_end(e.as_str()), e);
        }
        assert_eq!(run_end("something-new"), RunEnd::Failed);
    }
}
