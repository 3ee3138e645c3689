//! The executor actor: owns the transport, the journal and the lock; runs the plan one step at
//! a time; speaks only in [`Event`]s and listens only to [`Command`]s. It never touches the
//! terminal. Before each step it plans again from live facts and tells the operator when the
//! plan changed (R12); it waits at gates with a visible deadline (R5, R6); a failure stops the
//! rollout before anything else is touched and offers only the choices valid then (R11), each
//! doing exactly what its label says (DESIGN.md §4b).
//!
//! The parts, one file each: the actor loop and its state ([`mod@self`]), the lock session with
//! its fencing (`lock_session`), the step loop with re-planning and confirmation (`steps`),
//! running a step's job and re-attaching to it (`runner`), waiting at gates (`waits`), the
//! recovery choices (`recovery`) and the questions with their wording (`questions`).

mod batch;
mod lock_session;
mod policy;
mod questions;
mod recovery;
mod runner;
mod steps;
mod switchover;
mod waits;

pub use questions::{confirmation_question, failure_question};

pub use super::events::PausePolicy;
use super::events::*;
use super::journal::{self, Journal, JournalError, Record, RunState};
use super::lock::LockInfo;
use crate::model::{Cluster, Role};
use crate::plan::{Level, Plan, RunContext};
use crate::probe::Poller;
use crate::transport::Transport;
use semver::Version;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Interactive or not; recorded in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The full-screen TUI.
    Tui,
    /// Plain text or JSON events.
    Headless,
}

/// Everything a run needs besides the transport.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The cluster.
    pub cluster: Arc<Cluster>,
    /// The config file (for the journal and `resume`).
    pub config_path: PathBuf,
    /// Fingerprint of the config text.
    pub config_hash: String,
    /// The version to end on.
    pub target: Version,
    /// Initial decisions (accepted data loss, intended downgrade).
    pub context: RunContext,
    /// Where journals live.
    pub state_dir: PathBuf,
    /// Who drives.
    pub operator: String,
    /// From which machine.
    pub machine: String,
    /// TUI or headless.
    pub mode: Mode,
    /// Continue this run instead of starting a new one.
    pub resume: Option<ResumeFrom>,
    /// The exact command that continues this run if it stops unfinished, as the operator
    /// can paste it (config, state directory and the flags the face needs).
    pub resume_command: String,
    /// `--pause`; `None` keeps what the run's journal says (or `every`).
    pub pause: Option<PausePolicy>,
    /// When the maintenance window or the time budget ends (`--window-end`, `--budget`): no
    /// node's sequence starts that the estimate says would not finish before it.
    pub deadline: Option<Deadline>,
}

/// The end of the time a run may use.
#[derive(Debug, Clone, PartialEq)]
pub struct Deadline {
    /// When it ends (wall clock).
    pub at: jiff::Timestamp,
    /// What ends, for messages: "the maintenance window", "the time budget".
    pub what: String,
}

/// A run to continue.
#[derive(Debug, Clone)]
pub struct ResumeFrom {
    /// Its id.
    pub run: String,
    /// Its journal.
    pub journal: PathBuf,
    /// What it knew.
    pub state: RunState,
}

/// The journal of a run: `<state>/runs/<cluster>/<run>/journal.jsonl`.
pub fn journal_path(state_dir: &Path, cluster: &str, run: &str) -> PathBuf {
    state_dir.join("runs").join(cluster).join(run).join("journal.jsonl")
}

/// A new run id: UTC time plus a few random hex digits.
pub fn new_run_id() -> String {
    let now = jiff::Timestamp::now();
    let n = crate::probe::nonce();
    format!("{}-{}", now.strftime("%Y%m%dT%H%M%SZ"), &n[n.len().saturating_sub(4)..])
}

/// Why the executor could not go on; each one ends the run with the cluster left as it is.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The journal could not be opened or written: nothing may happen that would be forgotten.
    #[error("{0}; stopping before anything else happens")]
    Journal(#[from] JournalError),
    /// A plan names a node the config does not have (a config edited under a run).
    #[error("{0} is not in the cluster config (was the config edited during the run?)")]
    UnknownNode(String),
    /// The operator asked to stop now while waiting.
    #[error("interrupted")]
    Interrupted,
}

/// What the step loop does next.
pub(crate) enum Flow {
    /// Plan again and go on.
    Next,
    /// The run ends here.
    End(RunEnd, String),
}

pub(crate) type Res<T> = Result<T, ExecError>;

/// The actor's state: the run's state from the journal plus what only a live run knows.
pub(crate) struct Exec {
    cfg: RunConfig,
    cluster: Arc<Cluster>,
    transport: Arc<dyn Transport>,
    poller: Arc<Poller>,
    events: mpsc::UnboundedSender<Event>,
    commands: mpsc::UnboundedReceiver<Command>,
    journal: Option<Journal>,
    state: RunState,
    run: String,
    questions: u64,
    pause: bool,
    interrupt: bool,
    interrupt_now: bool,
    plan: Option<Plan>,
    rollbacks: u32,
    /// Steps approved by the operator's last confirmation: those that followed the confirmed step
    /// in the plan shown, up to the next one with its own prompt, matched by id and command so a
    /// step that changed after a re-plan is asked again.
    approved: std::collections::HashSet<(String, Option<String>)>,
    /// Why the next plan will differ when the operator caused it (a declined failback, a skipped
    /// node): reported as that, not as drift.
    decided_change: Option<String>,
    /// Steps done since the current plan was adopted: the next plan should be this one without
    /// them, anything else is drift (R12).
    done_since_plan: Vec<String>,
    /// The operator lock and its lease.
    lock: lock_session::LockSession,
    /// The pause policy in force.
    policy: PausePolicy,
    /// Groups whose first node sequence the operator confirmed (the canary of `--pause first`).
    canaried: std::collections::HashSet<String>,
    /// The node whose sequence runs now and when it began (for the window estimate).
    sequence: Option<(String, tokio::time::Instant)>,
    /// How long earlier node sequences of this run took.
    sequences: Vec<std::time::Duration>,
    /// When the step loop last looked at the nodes it plans from, with nothing run since: the
    /// first look of the next step's gates before accepts facts probed from then on.
    facts_since: Option<tokio::time::Instant>,
}

/// Runs (or resumes) a rollout to its end. Events go to `events`; decisions come from `commands`.
pub async fn run(
    cfg: RunConfig,
    transport: Arc<dyn Transport>,
    poller: Arc<Poller>,
    events: mpsc::UnboundedSender<Event>,
    commands: mpsc::UnboundedReceiver<Command>,
) -> RunEnd {
    let run = cfg.resume.as_ref().map(|r| r.run.clone()).unwrap_or_else(new_run_id);
    let info = LockInfo {
        token: crate::probe::nonce(),
        operator: cfg.operator.clone(),
        machine: cfg.machine.clone(),
        pid: std::process::id(),
        run: run.clone(),
        since: 0,
        lease_until: 0,
    };
    let cluster = cfg.cluster.clone();
    let mut ex = Exec {
        cfg,
        cluster,
        transport,
        poller,
        events,
        commands,
        journal: None,
        state: RunState::default(),
        run,
        questions: 0,
        pause: false,
        interrupt: false,
        interrupt_now: false,
        plan: None,
        rollbacks: 0,
        approved: Default::default(),
        decided_change: None,
        done_since_plan: Vec::new(),
        lock: lock_session::LockSession::new(info),
        policy: PausePolicy::Every,
        canaried: Default::default(),
        sequence: None,
        sequences: Vec::new(),
        facts_since: None,
    };
    let (end, mut message) = match ex.drive().await {
        Ok(Flow::End(e, m)) => (e, m),
        Ok(Flow::Next) => (RunEnd::Done, "done".into()),
        Err(ExecError::Interrupted) => (
            RunEnd::Interrupted,
            ex.resume_hint("interrupted; a step that was running goes on on its host and `resume` re-attaches to it"),
        ),
        Err(e) => (RunEnd::Failed, ex.resume_hint(&e.to_string())),
    };
    if ex.journal.is_some()
        && let Some(said) = ex.restore_on_end().await
    {
        message = format!("{message}; {said}");
    }
    // A lost lock stops every wait like a second Ctrl-C; it is not an interruption to resume.
    let (end, message) = if ex.lock.lost() && end == RunEnd::Interrupted { ex.lost_lock_end() } else { (end, message) };
    if ex.journal.is_some() {
        let snap = ex.poller.refresh().await;
        ex.record(Record::Observed { when: "end".into(), nodes: snap.observed().nodes });
        ex.record(Record::RunFinished { outcome: end.as_str().into(), message: message.clone() });
    }
    ex.release_lock().await;
    ex.emit(Event::Finished { end, message });
    end
}

impl Exec {
    /// The guarantee behind `before`/`restore`: however the run ends (done, aborted, failed,
    /// refused), a `before` that ran without its restore is restored now, journaled like any
    /// step. Only a second Ctrl-C or a lost lock leave it to `resume`, whose plan has it.
    /// Returns what the operator must know, if anything.
    async fn restore_on_end(&mut self) -> Option<String> {
        let pending = crate::plan::restore_steps(&self.cluster, &self.state.context, &self.cfg.target);
        if pending.is_empty() {
            return None;
        }
        if let Some((s, _, _)) = self.state.in_flight.as_ref().or_else(|| self.state.in_flight_all.values().next()) {
            // A step is in doubt or still running: `resume` sorts it out first, then restores.
            let text =
                format!("restore pending: {} is still in flight; the plan of `resume` includes the restore", s.id);
            self.note(Level::Warning, text.clone());
            return Some(text);
        }
        let ids = pending.iter().map(|s| s.id.clone()).collect::<Vec<_>>().join(", ");
        if self.interrupt_now || self.lock.lost() {
            let text = format!("restore pending ({ids}): the plan of `resume` includes it");
            self.note(Level::Warning, text.clone());
            return Some(text);
        }
        // A single Ctrl-C asked to stop the rollout, not to leave a frozen setting behind.
        self.interrupt = false;
        let mut said = Vec::new();
        for step in pending {
            self.note(Level::Warning, format!("the run ended with a restore pending: running {} now", step.id));
            let ok = match self.execute(&step).await {
                Ok(runner::Executed::Ran(journal::Outcome::Ok, _, _)) => self.step_done(&step).is_ok(),
                _ => false,
            };
            if ok {
                said.push(format!("{} ran", step.id));
            } else {
                let text = format!(
                    "{} FAILED: run it by hand on {}: {} (or `resume`, whose plan includes it)",
                    step.id,
                    step.node,
                    step.command.as_deref().unwrap_or("(no command)")
                );
                self.note(Level::Warning, text.clone());
                self.record(Record::Note { text: text.clone() });
                said.push(text);
            }
        }
        Some(said.join("; "))
    }

    fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    fn note(&self, level: Level, text: String) {
        tracing::info!(run = %self.run, "{text}");
        self.emit(Event::Note { level, text });
    }

    /// Journals a record; `false` when the journal cannot be written (said once as a note).
    fn record(&mut self, r: Record) -> bool {
        let Some(j) = self.journal.as_mut() else { return false };
        match j.append(r) {
            Ok(e) => {
                self.state.apply(&e);
                self.mirror(&e);
                true
            }
            Err(e) => {
                let _ = self
                    .events
                    .send(Event::Note { level: Level::Warning, text: format!("cannot write the journal: {e}") });
                false
            }
        }
    }

    /// Journals a record that must be on disk before anything goes on (a step's start and end,
    /// a decision's effect); a journal that cannot be written stops the run.
    fn must_record(&mut self, r: Record) -> Res<()> {
        let Some(j) = self.journal.as_mut() else { return Ok(()) };
        let e = j.append(r)?;
        self.state.apply(&e);
        self.mirror(&e);
        Ok(())
    }

    /// A journaled decision is told to the faces too, so their run state machine moves exactly
    /// as a replay of the journal does.
    fn mirror(&self, e: &crate::run::journal::Entry) {
        if let Record::Decided { step, decision, .. } = &e.record {
            self.emit(Event::Decided { step: step.clone(), decision: decision.clone() });
        }
    }

    fn node(&self, name: &str) -> Res<crate::model::Node> {
        self.cluster.node(name).map(|(_, n)| n.clone()).ok_or_else(|| ExecError::UnknownNode(name.to_string()))
    }

    /// Done and total steps of the run: the steps done so far plus those the current plan
    /// still has. One function, so every face counts alike.
    fn progress(&self) -> (usize, usize) {
        let done = self.state.done_steps.len();
        let left = self
            .plan
            .as_ref()
            .map(|p| p.steps().filter(|s| !self.done_since_plan.contains(&s.id)).count())
            .unwrap_or(0);
        (done, done + left)
    }

    fn emit_progress(&self, why: Option<String>) {
        let (done, total) = self.progress();
        self.emit(Event::Progress { done, total, why });
    }

    /// The sentence that ends an unfinished run: what happened, that nothing was changed
    /// beyond it, and the exact command that continues.
    fn resume_hint(&self, what: &str) -> String {
        let what = if self.lock.lost() {
            format!("the operator lock was taken over by someone else; {what}")
        } else {
            what.to_string()
        };
        format!(
            "{what}; the cluster is left as it is and the journal is kept: continue with `{}`",
            self.cfg.resume_command
        )
    }

    async fn drive(&mut self) -> Res<Flow> {
        // The lock first: nothing is written or touched without it.
        let adopt = match self.take_lock().await? {
            lock_session::Taken::Yes { adopt } => adopt,
            lock_session::Taken::No(e, m) => return Ok(Flow::End(e, m)),
        };
        self.start_renewer();
        crate::run::journal::test_point("lock-taken");
        let journal_file = match &self.cfg.resume {
            Some(r) => {
                self.state = r.state.clone();
                Journal::reopen(&r.journal, r.state.seq)?
            }
            None => {
                let j = Journal::create(&journal_path(&self.cfg.state_dir, &self.cluster.name, &self.run))?;
                crate::run::journal::test_point("journal-created");
                j
            }
        };
        let path = journal_file.path().to_path_buf();
        self.journal = Some(journal_file);
        let resumed = self.cfg.resume.is_some();
        if let Some(taken) = &self.lock.took_over {
            self.record(Record::Note { text: taken.clone() });
        }

        // A new run probes every host once, before step 1, and remembers what each ran.
        let snap = self.poller.refresh().await;
        if !resumed {
            let mut ctx = self.cfg.context.clone();
            for g in &self.cluster.groups {
                if let Some(n) = g.nodes.iter().find(|n| snap.observed().get(&n.name).role == Role::Active) {
                    ctx.original_active.insert(g.name.clone(), n.name.clone());
                }
            }
            for (name, v) in &snap.nodes {
                if let Some(ver) = &v.obs.version {
                    ctx.original_versions.insert(name.clone(), ver.clone());
                }
            }
            self.must_record(Record::RunStarted {
                cluster: self.cluster.name.clone(),
                config: self.cfg.config_path.display().to_string(),
                config_hash: self.cfg.config_hash.clone(),
                target: self.cfg.target.to_string(),
                operator: self.cfg.operator.clone(),
                machine: self.cfg.machine.clone(),
                mode: match self.cfg.mode {
                    Mode::Tui => "tui".into(),
                    Mode::Headless => "headless".into(),
                },
                rollpilot: env!("CARGO_PKG_VERSION").into(),
                context: ctx,
            })?;
            self.record(Record::Observed { when: "start".into(), nodes: snap.observed().nodes });
        } else {
            self.must_record(Record::Resumed {
                operator: self.cfg.operator.clone(),
                machine: self.cfg.machine.clone(),
                mode: match self.cfg.mode {
                    Mode::Tui => "tui".into(),
                    Mode::Headless => "headless".into(),
                },
            })?;
            self.record(Record::Observed { when: "resume".into(), nodes: snap.observed().nodes });
        }
        let downgrade = self.state.context.downgrade_intended;
        let from: Vec<String> = {
            let mut v: Vec<Version> = self.state.context.original_versions.values().cloned().collect();
            v.sort();
            v.dedup();
            v.iter().map(|v| v.to_string()).collect()
        };
        self.emit(Event::Started {
            run: self.run.clone(),
            journal: path,
            resumed,
            started_at: self.state.started_at.unwrap_or_else(jiff::Timestamp::now),
            mixed_since: self.state.first_install_at,
            // Done steps as they were asked: a step that rode on its sequence's confirmation
            // is not shown as confirmed on its own.
            done: self
                .state
                .done_steps
                .iter()
                .map(|s| {
                    let mut s = s.clone();
                    if s.confirm == crate::plan::Confirm::Yes && !self.state.confirmed.contains(&s.id) {
                        s.confirm = crate::plan::Confirm::None;
                    }
                    s
                })
                .collect(),
            target: self.cfg.target.to_string(),
            from,
            downgrade,
        });
        if resumed {
            self.note(Level::Info, format!("resuming run {}: {} steps already done", self.run, self.state.done.len()));
        }
        self.canaried = self.state.confirmed.iter().filter_map(|id| id.split('/').next().map(str::to_string)).collect();
        match (self.cfg.pause, self.state.pause) {
            (Some(p), _) => self.set_policy(p, "--pause"),
            (None, Some(p)) => self.set_policy(p, "as the run had it"),
            (None, None) => {}
        }

        // Jobs another driver left running (its lock was broken): follow them to their end
        // before planning, never start them again.
        if let Some(other) = adopt
            && let Flow::End(e, m) = self.adopt_jobs(&other).await?
        {
            return Ok(Flow::End(e, m));
        }
        // A step that started and never finished is in doubt: find out, never re-run silently.
        // A batch leaves one per node; each is re-attached (or started, or asked about) in turn.
        let mut in_doubt: Vec<(crate::plan::Step, u32, String)> = self.state.in_flight_all.values().cloned().collect();
        if in_doubt.is_empty()
            && let Some(one) = self.state.in_flight.clone()
        {
            in_doubt.push(one);
        }
        for (step, attempt, dir) in in_doubt {
            if let Flow::End(e, m) = self.in_doubt(&step, attempt, super::job::JobDir(dir)).await? {
                return Ok(Flow::End(e, m));
            }
        }
        // Steps that ran but whose checks were not confirmed: confirm them before going on.
        for (id, outcome) in self.state.unverified.clone() {
            let Some(step) = self.state.started_step(&id).cloned() else { continue };
            if self.state.context.skipped_nodes.contains(&step.node) {
                continue;
            }
            if outcome == super::journal::Outcome::Ok {
                self.note(Level::Info, format!("{id} finished before the interruption; checking its result"));
                if let Flow::End(e, m) = self.verify_step(&step).await? {
                    return Ok(Flow::End(e, m));
                }
            } else if outcome != super::journal::Outcome::NotStarted {
                // It failed before the run stopped, and the operator resumed: the plan runs it
                // again as a new attempt, and says so first.
                let next = self.state.attempts.get(&id).copied().unwrap_or(0) + 1;
                self.note(
                    Level::Warning,
                    format!(
                        "{id} had failed ({}) when the run stopped; resuming runs it again as attempt {next} once the plan reaches it",
                        format!("{outcome:?}").to_lowercase()
                    ),
                );
            }
        }
        self.steps().await
    }
}
