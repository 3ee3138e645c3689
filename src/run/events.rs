//! What the executor tells its face (TUI or headless printer), and what it is told back.
//! A question carries an id; an answer for another id is stale and is refused.

use super::journal::{DecisionRecord, Outcome};
use crate::plan::{Level, Plan, Step};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// Which confirmations the operator wants to give (charm-refresh's all/first/none): nobody
/// should press `y` 300 times for a 100-node cluster, and nobody should lose the canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PausePolicy {
    /// Every node sequence is confirmed (the default).
    #[default]
    Every,
    /// The first node sequence of each group is confirmed (a canary); the rest go on by
    /// themselves while every gate holds.
    First,
    /// Only typed and optional questions are asked.
    None,
}

impl PausePolicy {
    /// Parses `every`, `first` or `none`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "every" => Ok(PausePolicy::Every),
            "first" => Ok(PausePolicy::First),
            "none" => Ok(PausePolicy::None),
            _ => Err(format!("`{s}` is not one of every, first, none")),
        }
    }

    /// The word shown and written on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            PausePolicy::Every => "every",
            PausePolicy::First => "first",
            PausePolicy::None => "none",
        }
    }

    /// The next policy, for the key that cycles it.
    pub fn next(self) -> Self {
        match self {
            PausePolicy::Every => PausePolicy::First,
            PausePolicy::First => PausePolicy::None,
            PausePolicy::None => PausePolicy::Every,
        }
    }
}

/// How a run ended; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunEnd {
    /// Every step done: the cluster runs the target.
    Done,
    /// The operator aborted (or a headless run met a decision it may not take); journal kept.
    Aborted,
    /// A step failed and the run could not go on.
    Failed,
    /// A safety rule refused the plan.
    Refused,
    /// Hosts could not be reached.
    Unreachable,
    /// Interrupted (Ctrl-C); resumable.
    Interrupted,
    /// Another operator holds the lock.
    Locked,
    /// Stopped at a safe point (before a node's sequence) because the next node would not
    /// finish before the maintenance window (or the time budget) ends; resumable.
    Window,
}

impl RunEnd {
    /// The process exit code (DESIGN.md §7).
    pub fn exit_code(self) -> u8 {
        match self {
            RunEnd::Done => 0,
            RunEnd::Aborted | RunEnd::Failed => 1,
            RunEnd::Refused | RunEnd::Locked => 3,
            RunEnd::Unreachable => 4,
            RunEnd::Interrupted => 130,
            RunEnd::Window => 5,
        }
    }

    /// The word in journals and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RunEnd::Done => "done",
            RunEnd::Aborted => "aborted",
            RunEnd::Failed => "failed",
            RunEnd::Refused => "refused",
            RunEnd::Unreachable => "unreachable",
            RunEnd::Interrupted => "interrupted",
            RunEnd::Locked => "locked",
            RunEnd::Window => "window",
        }
    }
}

/// What kind of decision is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuestionKind {
    /// Run this step? (Cancel focused by default.)
    Confirm,
    /// Type the cluster name to run this step (R2, R3, downgrade).
    Typed,
    /// An optional step (failback under `ask`): run it or leave it out.
    Optional,
    /// A step failed: retry, roll back, skip, abort (R11).
    Failure,
    /// A step was interrupted and its result is unknown.
    InDoubt,
    /// Another operator's lock has expired: break it (typed)?
    StaleLock,
    /// A node was rolled back: what next?
    AfterRollback,
}

/// An answer the operator can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Answer {
    /// Run the step.
    Proceed,
    /// Leave the optional step out.
    Decline,
    /// Not now: pause before the step.
    Cancel,
    /// Run the failed step again (or wait again for its gate).
    Retry,
    /// Return the node to its previous version.
    Rollback,
    /// Leave the node out of the rollout (typed).
    Skip,
    /// Stop here, leave the cluster as it is, keep the journal.
    Abort,
    /// Treat an in-doubt step as done (only offered when its checks hold now).
    AcceptDone,
    /// Break an expired lock (typed).
    BreakLock,
    /// Wait another gate timeout for the same check.
    KeepWaiting,
}

/// One option of a question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Choice {
    /// The answer it sends.
    pub answer: Answer,
    /// Short label ("Retry").
    pub label: String,
    /// What happens if chosen, in one sentence.
    pub consequence: String,
    /// Needs the cluster name typed.
    pub typed: bool,
}

/// A decision the executor waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Question {
    /// Unique per run; answers must carry it.
    pub id: u64,
    /// The step concerned.
    pub step: String,
    /// What kind of decision.
    pub kind: QuestionKind,
    /// One line.
    pub title: String,
    /// What will happen and why, in the seeds' terms.
    pub lines: Vec<String>,
    /// The valid options, safest first.
    pub choices: Vec<Choice>,
    /// The text a typed choice needs (the cluster name).
    pub expected: String,
}

/// Executor → face.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The run began (or resumed).
    Started {
        /// Run id.
        run: String,
        /// The journal file.
        journal: PathBuf,
        /// Resumed from an earlier run.
        resumed: bool,
        /// When the run first began (for a resumed run: its original start).
        started_at: jiff::Timestamp,
        /// When this run first installed a new version: the cluster is mixed since then (R7).
        mixed_since: Option<jiff::Timestamp>,
        /// Steps done before an interruption, in order (empty for a new run).
        done: Vec<Step>,
        /// The version this run ends on (a resumed run keeps its own, whatever the config says).
        target: String,
        /// The versions the nodes ran when the run first saw them.
        from: Vec<String>,
        /// The target is below the versions the run started from: a rolling downgrade.
        downgrade: bool,
    },
    /// The pause policy in force, and why it is what it is (set by the operator, or back to
    /// `every` after a failure, a drift or a gate that timed out).
    Policy {
        /// The policy.
        pause: PausePolicy,
        /// Why it changed.
        why: String,
    },
    /// Where the run stands: steps done, and done plus still planned. One count for every face;
    /// `why` says why the total moved after a re-plan ("+1 step: tc-2 was stopped by someone").
    Progress {
        /// Steps done in this run (before and after any interruption).
        done: usize,
        /// Done plus the steps the current plan still has.
        total: usize,
        /// Why the total changed, when it did.
        why: Option<String>,
    },
    /// A plan was made; `reason` says why now (initial, drift, resume).
    Planned {
        /// The plan (remaining steps).
        plan: Box<Plan>,
        /// Why.
        reason: String,
    },
    /// A gate does not hold yet (or hosts do not answer); the run waits with a deadline.
    Waiting {
        /// The step it guards.
        step: String,
        /// What must become true ("R5 safe-to-stop: a passive of east ... is in sync").
        what: String,
        /// What blocks it now.
        blocker: String,
        /// Time left before the operator is asked.
        remaining: Duration,
    },
    /// A gate holds.
    GateOpen {
        /// The step it guards.
        step: String,
        /// The condition.
        what: String,
        /// The facts that allowed it.
        facts: String,
    },
    /// A decision is needed.
    Ask(Question),
    /// A step began.
    StepStarted {
        /// The step.
        step: Box<Step>,
        /// Attempt.
        attempt: u32,
        /// The detached job directory on the host (what `resume` re-attaches to).
        job: String,
    },
    /// A decision was taken and journaled (by the operator, the headless flags or the pause
    /// policy): the faces learn a step's new state from the executor, never by guessing.
    Decided {
        /// The step it concerns.
        step: String,
        /// What was decided.
        #[serde(flatten)]
        decision: DecisionRecord,
    },
    /// Output of the running step.
    Output {
        /// Step id.
        step: String,
        /// Node.
        node: String,
        /// New text (may hold several lines).
        text: String,
    },
    /// The step's command ended.
    StepFinished {
        /// Step id.
        step: String,
        /// How.
        outcome: Outcome,
        /// Exit status.
        exit: Option<i32>,
    },
    /// The step's checks held: it is done.
    StepDone {
        /// Step id.
        step: String,
    },
    /// Something the operator should read.
    Note {
        /// Info or warning.
        level: Level,
        /// The text.
        text: String,
    },
    /// The run is paused before the next step.
    Paused {
        /// Why.
        reason: String,
    },
    /// The run goes on.
    Resumed,
    /// The run ended.
    Finished {
        /// How.
        end: RunEnd,
        /// One sentence for the operator.
        message: String,
    },
}

/// Face → executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Answers question `question`.
    Answer {
        /// The question id.
        question: u64,
        /// The choice.
        answer: Answer,
        /// What was typed (typed choices).
        typed: Option<String>,
    },
    /// Pause after the current step (`p`, first Ctrl-C in the TUI).
    Pause,
    /// Change the pause policy for the rest of the run (journaled).
    SetPolicy(PausePolicy),
    /// Go on after a pause.
    Resume,
    /// Finish the current step, then stop as interrupted (headless Ctrl-C).
    Interrupt,
    /// Stop now without waiting for the running step (second Ctrl-C); it goes on detached and
    /// is re-attached by `resume`.
    InterruptNow,
}
