//! The executor actor: owns the transport, the journal and the lock; runs the plan one step at
//! a time; speaks only in [`Event`]s and listens only to [`Command`]s. It never touches the
//! terminal. Before each step it plans again from live facts and tells the operator when the
//! plan changed (R12); it waits at gates with a visible deadline (R5, R6); a failure stops the
//! rollout before anything else is touched and offers only the choices valid then (R11).

use super::events::*;
use super::job::{self, JobDir, JobState};
use super::journal::{DecisionRecord, Journal, JournalError, Outcome, Record, RunState};
use super::lock::{self, Acquire, LockInfo};
use crate::model::{Cluster, Role};
use crate::plan::gates::{Verdict, evaluate};
use crate::plan::{self, Action, Confirm, Direction, Gate, Level, Plan, PlanRequest, RunContext, Step};
use crate::probe::{Poller, Snapshot};
use crate::transport::Transport;
use semver::Version;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

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
pub fn journal_path(state_dir: &std::path::Path, cluster: &str, run: &str) -> PathBuf {
    state_dir.join("runs").join(cluster).join(run).join("journal.jsonl")
}

/// A new run id: UTC time plus a few random hex digits.
pub fn new_run_id() -> String {
    let now = jiff::Timestamp::now();
    let n = crate::probe::nonce();
    format!("{}-{}", now.strftime("%Y%m%dT%H%M%SZ"), &n[n.len().saturating_sub(4)..])
}

enum Flow {
    Next,
    End(RunEnd, String),
}

struct Exec {
    cfg: RunConfig,
    cluster: Arc<Cluster>,
    transport: Arc<dyn Transport>,
    poller: Arc<Poller>,
    events: mpsc::UnboundedSender<Event>,
    commands: mpsc::UnboundedReceiver<Command>,
    journal: Option<Journal>,
    state: RunState,
    run: String,
    lock: LockInfo,
    locked: bool,
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
    /// Renews the lock's lease in the background for the whole run (steps and gate waits can
    /// outlast a lease), and turns true when the lock was taken over.
    renewer: Option<tokio::task::JoinHandle<()>>,
    lock_lost: tokio::sync::watch::Receiver<bool>,
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
    let lock = LockInfo {
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
        lock,
        locked: false,
        questions: 0,
        pause: false,
        interrupt: false,
        interrupt_now: false,
        plan: None,
        rollbacks: 0,
        approved: Default::default(),
        decided_change: None,
        done_since_plan: Vec::new(),
        renewer: None,
        lock_lost: tokio::sync::watch::channel(false).1,
    };
    let (end, message) = match ex.drive().await {
        Ok(Flow::End(e, m)) => (e, m),
        Ok(Flow::Next) => (RunEnd::Done, "done".into()),
        Err(e) => (RunEnd::Failed, e),
    };
    if ex.journal.is_some() {
        let snap = ex.poller.refresh().await;
        ex.record(Record::Observed { when: "end".into(), nodes: snap.observed().nodes });
        ex.record(Record::RunFinished { outcome: end.as_str().into(), message: message.clone() });
    }
    if let Some(r) = ex.renewer.take() {
        r.abort();
    }
    if ex.locked
        && let Err(e) = lock::release(ex.transport.as_ref(), &ex.cluster, &ex.lock.token).await
    {
        {
            ex.note(
                Level::Warning,
                format!(
                    "could not release the lock on {}: {e}; it expires by itself after its lease",
                    ex.cluster.lock.node
                ),
            );
        }
    }
    ex.emit(Event::Finished { end, message });
    end
}

impl Exec {
    fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    fn note(&self, level: Level, text: String) {
        tracing::info!(run = %self.run, "{text}");
        self.emit(Event::Note { level, text });
    }

    /// Journals a record; a journal that cannot be written stops the run (nothing may happen
    /// that would be forgotten).
    fn record(&mut self, r: Record) -> bool {
        let Some(j) = self.journal.as_mut() else { return false };
        match j.append(r) {
            Ok(e) => {
                self.state.apply(&e);
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

    fn must_record(&mut self, r: Record) -> Result<(), String> {
        if self.record(r) {
            Ok(())
        } else {
            Err("the journal cannot be written; stopping before anything else happens".into())
        }
    }

    async fn drive(&mut self) -> Result<Flow, String> {
        // The lock first: nothing is written or touched without it.
        if let Flow::End(e, m) = self.take_lock().await? {
            return Ok(Flow::End(e, m));
        }
        self.start_renewer();
        let journal_file = match &self.cfg.resume {
            Some(r) => {
                self.state = r.state.clone();
                Journal::reopen(&r.journal, r.state.seq).map_err(|e| e.to_string())?
            }
            None => Journal::create(&journal_path(&self.cfg.state_dir, &self.cluster.name, &self.run))
                .map_err(|e: JournalError| e.to_string())?,
        };
        let path = journal_file.path().to_path_buf();
        self.journal = Some(journal_file);
        let resumed = self.cfg.resume.is_some();
        let started_at = self.state.started_at.unwrap_or_else(jiff::Timestamp::now);
        self.emit(Event::Started {
            run: self.run.clone(),
            journal: path,
            resumed,
            started_at,
            mixed_since: self.state.first_install_at,
            done: self.state.done_steps.clone(),
        });

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
            self.note(Level::Info, format!("resuming run {}: {} steps already done", self.run, self.state.done.len()));
            self.record(Record::Observed { when: "resume".into(), nodes: snap.observed().nodes });
        }

        // A step that started and never finished is in doubt: find out, never re-run silently.
        if let Some((step, attempt, dir)) = self.state.in_flight.clone()
            && let Flow::End(e, m) = self.in_doubt(&step, attempt, JobDir(dir)).await?
        {
            return Ok(Flow::End(e, m));
        }
        // Steps that ran but whose checks were not confirmed: confirm them before going on.
        for (id, outcome) in self.state.unverified.clone() {
            if outcome == Outcome::Ok
                && let Some(step) = self.state.plan.as_ref().and_then(|p| p.step(&id)).cloned()
            {
                self.note(Level::Info, format!("{id} finished before the interruption; checking its result"));
                if let Flow::End(e, m) = self.after_gates(&step).await? {
                    return Ok(Flow::End(e, m));
                }
            }
        }
        self.steps().await
    }

    async fn take_lock(&mut self) -> Result<Flow, String> {
        for _attempt in 0..5 {
            let r = lock::acquire(self.transport.as_ref(), &self.cluster, &self.lock).await;
            match r {
                Ok(Acquire::Acquired) => {
                    self.locked = true;
                    return Ok(Flow::Next);
                }
                Ok(Acquire::Held { holder, stale, now }) => {
                    let Some(h) = holder else {
                        return Ok(Flow::End(
                            RunEnd::Locked,
                            format!(
                                "the lock {} on {} is being taken by someone else right now; try again in a moment",
                                self.cluster.lock.path, self.cluster.lock.node
                            ),
                        ));
                    };
                    // Our own interrupted run from this machine, whose process is gone: take it back.
                    let ours = self.cfg.resume.as_ref().is_some_and(|r| r.run == h.run)
                        && h.machine == lock::clean(&self.cfg.machine)
                        && !pid_alive(h.pid);
                    if ours {
                        if let Ok(Acquire::Acquired) =
                            lock::break_and_acquire(self.transport.as_ref(), &self.cluster, &h.token, &self.lock).await
                        {
                            self.locked = true;
                            self.note(
                                Level::Info,
                                format!(
                                    "took back the lock of interrupted run {} (its process {} is gone)",
                                    h.run, h.pid
                                ),
                            );
                            return Ok(Flow::Next);
                        }
                        continue;
                    }
                    if !stale {
                        let left = h.lease_until - now;
                        return Ok(Flow::End(
                            RunEnd::Locked,
                            format!(
                                "another operator drives {}: {} — lease renewed until {}s from now. Use `rollpilot status` to watch; the TUI opens read-only (observer mode)",
                                self.cluster.name,
                                h.describe(),
                                left.max(0)
                            ),
                        ));
                    }
                    let q = self.question(
                        "lock",
                        QuestionKind::StaleLock,
                        format!("The lock of {} has expired", self.cluster.name),
                        vec![
                            format!("Held by {}.", h.describe()),
                            format!("Its lease ran out {}s ago: that rollpilot stopped renewing it (crashed, or lost its connection).", now - h.lease_until),
                            "Break it only if you are sure that operator is not driving this cluster any more.".into(),
                        ],
                        vec![
                            choice(Answer::Abort, "Leave it", "exit without touching anything", false),
                            choice(Answer::BreakLock, "Break the lock", "remove their lock and take it (type the cluster name)", true),
                        ],
                    );
                    match self.ask(q).await? {
                        (Answer::BreakLock, _) => {
                            self.decided("lock", DecisionRecord::BreakLock, Some(self.cluster.name.clone()));
                            match lock::break_and_acquire(self.transport.as_ref(), &self.cluster, &h.token, &self.lock)
                                .await
                            {
                                Ok(Acquire::Acquired) => {
                                    self.locked = true;
                                    self.note(Level::Warning, format!("broke the expired lock of {}", h.describe()));
                                    return Ok(Flow::Next);
                                }
                                _ => continue,
                            }
                        }
                        _ => {
                            return Ok(Flow::End(
                                RunEnd::Locked,
                                format!("left the expired lock of {} in place", h.describe()),
                            ));
                        }
                    }
                }
                Err(e) => {
                    return Ok(Flow::End(
                        RunEnd::Unreachable,
                        format!("cannot reach the lock host {}: {e}", self.cluster.lock.node),
                    ));
                }
            }
        }
        Ok(Flow::End(
            RunEnd::Locked,
            format!(
                "could not take the lock {} on {} after 5 attempts (it keeps changing hands); try again",
                self.cluster.lock.path, self.cluster.lock.node
            ),
        ))
    }

    /// Keeps the lease alive every third of it until the run ends; a renewal that finds the lock
    /// no longer ours raises `lock_lost`.
    fn start_renewer(&mut self) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        self.lock_lost = rx;
        let (t, c, token) = (self.transport.clone(), self.cluster.clone(), self.lock.token.clone());
        let every = (c.lock.lease / 3).max(Duration::from_secs(1));
        self.renewer = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match lock::renew(t.as_ref(), &c, &token).await {
                    Ok(true) => {}
                    Ok(false) => {
                        let _ = tx.send(true);
                        break;
                    }
                    Err(e) => tracing::warn!("could not renew the lock on {}: {e}", c.lock.node),
                }
            }
        }));
    }

    /// The lock was taken over by someone else: nothing more may be done.
    fn lock_lost(&self) -> bool {
        *self.lock_lost.borrow()
    }

    fn lock_check(&mut self) -> Flow {
        if self.lock_lost() {
            self.locked = false;
            return Flow::End(
                RunEnd::Aborted,
                "the operator lock was taken over by someone else; stopping here, the cluster is left as it is".into(),
            );
        }
        Flow::Next
    }

    fn decided(&mut self, step: &str, decision: DecisionRecord, typed: Option<String>) {
        let by = self.cfg.operator.clone();
        self.record(Record::Decided { step: step.into(), decision, by, typed });
    }

    fn question(
        &mut self,
        step: &str,
        kind: QuestionKind,
        title: String,
        lines: Vec<String>,
        choices: Vec<Choice>,
    ) -> Question {
        self.questions += 1;
        Question {
            id: self.questions,
            step: step.into(),
            kind,
            title,
            lines,
            choices,
            expected: self.cluster.name.clone(),
        }
    }

    /// Asks and waits for a valid answer; pause and interrupt commands are honoured meanwhile.
    async fn ask(&mut self, q: Question) -> Result<(Answer, Option<String>), String> {
        self.emit(Event::Ask(q.clone()));
        loop {
            let Some(cmd) = self.commands.recv().await else {
                return Ok((Answer::Abort, None));
            };
            match cmd {
                Command::Answer { question, answer, typed } => {
                    if question != q.id {
                        self.note(Level::Warning, format!("ignored an answer to an earlier question ({question}); the current question is about {}", q.step));
                        continue;
                    }
                    let Some(c) = q.choices.iter().find(|c| c.answer == answer) else {
                        self.note(Level::Warning, format!("{answer:?} is not a valid answer here"));
                        self.emit(Event::Ask(q.clone()));
                        continue;
                    };
                    if c.typed && typed.as_deref().map(str::trim) != Some(self.cluster.name.as_str()) {
                        self.note(
                            Level::Warning,
                            format!(
                                "typed confirmation did not match the cluster name `{}`; nothing was done",
                                self.cluster.name
                            ),
                        );
                        self.emit(Event::Ask(q.clone()));
                        continue;
                    }
                    return Ok((answer, typed));
                }
                Command::Pause => self.pause = true,
                Command::Resume => self.pause = false,
                Command::Interrupt | Command::InterruptNow => {
                    self.interrupt = true;
                    return Ok((Answer::Abort, None));
                }
            }
        }
    }

    /// Drains pending commands without waiting; a lost lock stops waits like a second Ctrl-C.
    fn poll_commands(&mut self) {
        if self.lock_lost() {
            self.interrupt = true;
            self.interrupt_now = true;
        }
        while let Ok(cmd) = self.commands.try_recv() {
            match cmd {
                Command::Pause => self.pause = true,
                Command::Resume => self.pause = false,
                Command::Interrupt => self.interrupt = true,
                Command::InterruptNow => {
                    self.interrupt = true;
                    self.interrupt_now = true;
                }
                Command::Answer { question, .. } => self
                    .note(Level::Warning, format!("ignored an answer to question {question}: nothing is being asked")),
            }
        }
    }

    async fn wait_while_paused(&mut self) -> Result<Flow, String> {
        self.poll_commands();
        if self.interrupt {
            return Ok(Flow::End(RunEnd::Interrupted, self.resume_hint("interrupted")));
        }
        if !self.pause {
            return Ok(Flow::Next);
        }
        self.emit(Event::Paused { reason: "paused after the current step; resume when ready".into() });
        while self.pause {
            match self.commands.recv().await {
                None => return Ok(Flow::End(RunEnd::Interrupted, self.resume_hint("interrupted"))),
                Some(Command::Resume) => self.pause = false,
                Some(Command::Interrupt | Command::InterruptNow) => {
                    return Ok(Flow::End(RunEnd::Interrupted, self.resume_hint("interrupted while paused")));
                }
                Some(_) => {}
            }
        }
        self.emit(Event::Resumed);
        Ok(Flow::Next)
    }

    fn resume_hint(&self, what: &str) -> String {
        let what = if self.lock_lost() {
            format!("the operator lock was taken over by someone else; {what}")
        } else {
            what.to_string()
        };
        format!(
            "{what}; the cluster is left as it is and the journal is kept: continue with `rollpilot resume -c {}`",
            self.cfg.config_path.display()
        )
    }

    fn plan_now(&self, snap: &Snapshot) -> Result<Plan, plan::Refusal> {
        let observed = snap.observed();
        let req = PlanRequest {
            cluster: &self.cluster,
            observed: &observed,
            target: self.cfg.target.clone(),
            context: &self.state.context,
        };
        let mut p = plan::plan(&req)?;
        // The planner reconciles from what it observes, so finished work is not planned again.
        // The one effect it cannot observe is a cleanup (deleted backups): never run it twice.
        for ph in &mut p.phases {
            ph.steps.retain(|s| !(s.action == Action::Cleanup && self.state.done.contains(&s.id)));
        }
        p.phases.retain(|ph| !ph.steps.is_empty());
        Ok(p)
    }

    /// Why two plans differ, for the operator (R12).
    /// Why the new plan is not the old one minus the steps done since (R12), or `None`.
    fn drift_reason(old: &Plan, new: &Plan, snap: &Snapshot, done_since: &[String]) -> Option<String> {
        let key = |p: &Plan| p.steps().map(|s| (s.id.clone(), s.command.clone())).collect::<Vec<_>>();
        let expected: Vec<_> = key(old).into_iter().filter(|(id, _)| !done_since.contains(id)).collect();
        let now = key(new);
        if expected == now {
            return None;
        }
        let obs = snap.observed();
        let mut why: Vec<String> = Vec::new();
        if let Some(next) = old.steps().find(|s| !done_since.contains(&s.id)) {
            for asm in &next.assumes {
                let role = obs.get(&asm.node).role;
                if role != asm.role {
                    why.push(format!("{} was expected {} but is {}", asm.node, asm.role, role));
                }
            }
        }
        let gone: Vec<&str> =
            expected.iter().filter(|e| !now.iter().any(|n| n.0 == e.0)).map(|e| e.0.as_str()).collect();
        let new_steps: Vec<&str> =
            now.iter().filter(|n| !expected.iter().any(|e| e.0 == n.0)).map(|n| n.0.as_str()).collect();
        if !gone.is_empty() {
            why.push(format!("no longer needed: {}", gone.join(", ")));
        }
        if !new_steps.is_empty() {
            why.push(format!("now needed: {}", new_steps.join(", ")));
        }
        if why.is_empty() {
            why.push("the order or the commands of the remaining steps changed".into());
        }
        Some(format!("R12 drift: the cluster changed since the plan was made ({}); planned again", why.join("; ")))
    }

    async fn steps(&mut self) -> Result<Flow, String> {
        let mut first = true;
        let mut unreachable_since: Option<Instant> = None;
        loop {
            if let Flow::End(e, m) = self.wait_while_paused().await? {
                return Ok(Flow::End(e, m));
            }
            if let Flow::End(e, m) = self.lock_check() {
                return Ok(Flow::End(e, m));
            }
            let snap = self.poller.refresh().await;
            let plan = match self.plan_now(&snap) {
                Ok(p) => {
                    unreachable_since = None;
                    p
                }
                Err(r) if r.is_unreachable() && !first => {
                    // Mid-run a host may be rebooting or its sshd restarting: wait, visibly.
                    let since = *unreachable_since.get_or_insert_with(Instant::now);
                    let left = self.cluster.timeouts.gate.saturating_sub(since.elapsed());
                    let why = r.findings.iter().map(|f| f.message.clone()).collect::<Vec<_>>().join("; ");
                    if left.is_zero() {
                        let q = self.question(
                            "reach",
                            QuestionKind::Failure,
                            "Hosts stay unreachable".into(),
                            vec![why, "Nothing else is touched while a host cannot be seen (R11).".into()],
                            vec![
                                choice(
                                    Answer::Abort,
                                    "Abort",
                                    "stop here; the cluster is left as it is, resume later",
                                    false,
                                ),
                                choice(
                                    Answer::Retry,
                                    "Keep waiting",
                                    "wait another gate timeout for the hosts to answer",
                                    false,
                                ),
                            ],
                        );
                        match self.ask(q).await?.0 {
                            Answer::Retry => unreachable_since = None,
                            _ => {
                                return Ok(Flow::End(
                                    RunEnd::Unreachable,
                                    self.resume_hint("stopped: hosts unreachable"),
                                ));
                            }
                        }
                    } else {
                        self.emit(Event::Waiting {
                            step: "(next step)".into(),
                            what: "every host answers its probes".into(),
                            blocker: why,
                            remaining: left,
                        });
                        tokio::time::sleep(self.cluster.timeouts.refresh).await;
                    }
                    continue;
                }
                Err(r) => {
                    let text = r.to_string();
                    self.record(Record::Note { text: text.clone() });
                    let end = if r.is_unreachable() { RunEnd::Unreachable } else { RunEnd::Refused };
                    return Ok(Flow::End(end, text.trim().to_string()));
                }
            };
            if first {
                first = false;
                let reason = if self.cfg.resume.is_some() {
                    "resumed: planned from the cluster as it is now"
                } else {
                    "initial plan"
                };
                self.must_record(Record::Planned { reason: reason.into(), plan: plan.clone() })?;
                self.emit(Event::Planned { plan: Box::new(plan.clone()), reason: reason.into() });
            } else if let Some(old) = &self.plan
                && let Some(drift) = Self::drift_reason(old, &plan, &snap, &self.done_since_plan)
            {
                let reason = match self.decided_change.take() {
                    Some(why) => why,
                    None => {
                        self.note(Level::Warning, drift.clone());
                        drift
                    }
                };
                self.must_record(Record::Planned { reason: reason.clone(), plan: plan.clone() })?;
                self.emit(Event::Planned { plan: Box::new(plan.clone()), reason });
            }
            self.plan = Some(plan.clone());
            self.done_since_plan.clear();
            self.decided_change = None;
            let Some(step) = plan.steps().next().cloned() else {
                let msg = if plan.direction == Direction::Nothing && self.state.done.is_empty() {
                    format!("nothing to do: every node of {} already runs {}", self.cluster.name, self.cfg.target)
                } else {
                    format!("{} runs {} ({} steps)", self.cluster.name, self.cfg.target, self.state.done.len())
                };
                return Ok(Flow::End(RunEnd::Done, msg));
            };
            match self.one_step(&step).await? {
                Flow::Next => continue,
                end => return Ok(end),
            }
        }
    }

    /// Waits for a gate until it holds or its deadline passes.
    async fn wait_gate(&mut self, step: &Step, gate: &Gate, when: &str) -> Result<Result<String, String>, String> {
        let deadline = Instant::now() + self.cluster.timeouts.gate;
        let mut last_blocker = String::new();
        // Facts must be newer than the step (or the previous look); a round of the live view
        // that started since serves as well as one of our own.
        let mut since = Instant::now();
        loop {
            let snap = self.poller.refresh_since(since).await;
            match evaluate(gate, &self.cluster, &snap.observed()) {
                Verdict::Open(facts) => {
                    self.record(Record::Gate {
                        step: step.id.clone(),
                        when: when.into(),
                        gate: gate.clone(),
                        open: true,
                        facts: facts.clone(),
                    });
                    self.emit(Event::GateOpen {
                        step: step.id.clone(),
                        what: format!("{}: {}", gate.rule(), gate.describe()),
                        facts: facts.clone(),
                    });
                    return Ok(Ok(facts));
                }
                Verdict::Blocked(why) => {
                    let now = Instant::now();
                    // Journal each new blocker, and the one that held at the deadline.
                    if now >= deadline || why != last_blocker {
                        self.record(Record::Gate {
                            step: step.id.clone(),
                            when: when.into(),
                            gate: gate.clone(),
                            open: false,
                            facts: why.clone(),
                        });
                    }
                    if now >= deadline {
                        return Ok(Err(why));
                    }
                    last_blocker = why.clone();
                    self.emit(Event::Waiting {
                        step: step.id.clone(),
                        what: format!("{}: {}", gate.rule(), gate.describe()),
                        blocker: why,
                        remaining: deadline - now,
                    });
                }
            }
            self.poll_commands();
            if self.interrupt_now {
                return Err("interrupted".into());
            }
            since = Instant::now();
            tokio::time::sleep(self.cluster.timeouts.refresh).await;
        }
    }

    async fn one_step(&mut self, step: &Step) -> Result<Flow, String> {
        // The plan must converge: a step already done twice in this run means its effect is not
        // visible to the probes (or something undoes it). Never loop silently (R11).
        let done_before = self.state.done_count.get(&step.id).copied().unwrap_or(0);
        if done_before >= 2 {
            let what = format!(
                "{} was already done {done_before} times in this run and is planned again: the probes do not show its effect on {} (check the kind's probes and parsers), or something undoes it",
                step.id, step.node
            );
            match self.failure(step, &what, "").await? {
                Some(Answer::Retry) => {}
                Some(_) => return Ok(Flow::Next),
                None => return Ok(Flow::End(RunEnd::Aborted, self.resume_hint(&format!("aborted: {what}")))),
            }
        }
        // Gates before the step: wait patiently, showing what blocks (R5).
        for g in step.before.clone() {
            match self.wait_gate(step, &g, "before").await {
                Err(_) => {
                    return Ok(Flow::End(RunEnd::Interrupted, self.resume_hint("interrupted while waiting at a gate")));
                }
                Ok(Ok(_)) => {}
                Ok(Err(why)) => return self.gate_failed(step, &g, &why).await,
            }
        }
        // Confirmation, carrying this step's id; the rest of a confirmed sequence is not asked again.
        let covered = matches!(step.confirm, Confirm::Yes | Confirm::Typed)
            && !step.irreversible
            && self.approved.contains(&(step.id.clone(), step.command.clone()));
        if step.confirm != Confirm::None && !covered {
            match self.confirm(step).await? {
                Some(flow) => return Ok(flow),
                None => {
                    // Time passed while the operator read: re-check before acting (R12).
                    let snap = self.poller.refresh().await;
                    match self.plan_now(&snap) {
                        Ok(p) if p.steps().next().map(|s| (&s.id, &s.command)) == Some((&step.id, &step.command)) => {
                            for g in &step.before {
                                if let Verdict::Blocked(why) = evaluate(g, &self.cluster, &snap.observed()) {
                                    self.note(
                                        Level::Warning,
                                        format!(
                                            "{} no longer holds ({why}); waiting again before {}",
                                            g.describe(),
                                            step.id
                                        ),
                                    );
                                    return Ok(Flow::Next);
                                }
                            }
                        }
                        _ => {
                            self.note(
                                Level::Warning,
                                format!(
                                    "R12 drift: the cluster changed while {} waited for confirmation; planning again",
                                    step.id
                                ),
                            );
                            return Ok(Flow::Next);
                        }
                    }
                }
            }
        }
        self.execute_and_verify(step).await
    }

    /// Asks for the step's confirmation. `None` means approved.
    async fn confirm(&mut self, step: &Step) -> Result<Option<Flow>, String> {
        self.questions += 1;
        let q = confirmation_question(step, self.questions, &self.cluster.name);
        let (answer, typed) = self.ask(q).await?;
        match answer {
            Answer::Proceed => {
                self.decided(&step.id, DecisionRecord::Proceed, typed);
                self.approved = self
                    .plan
                    .as_ref()
                    .map(|p| {
                        p.steps()
                            .skip_while(|s| s.id != step.id)
                            .skip(1)
                            .take_while(|s| s.confirm == Confirm::None)
                            .map(|s| (s.id.clone(), s.command.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(None)
            }
            Answer::Decline => {
                self.decided(&step.id, DecisionRecord::Decline, None);
                let mut ctx = self.state.context.clone();
                ctx.failback_declined.insert(step.group.clone());
                self.must_record(Record::Context { context: ctx })?;
                self.note(Level::Info, format!("failback of {} declined: roles stay as they are", step.group));
                self.decided_change =
                    Some(format!("the operator declined the failback of {}; planned without it", step.group));
                Ok(Some(Flow::Next))
            }
            Answer::Cancel => {
                self.pause = true;
                Ok(Some(Flow::Next))
            }
            _ => {
                if self.interrupt {
                    return Ok(Some(Flow::End(RunEnd::Interrupted, self.resume_hint("interrupted"))));
                }
                self.decided(&step.id, DecisionRecord::Abort, None);
                Ok(Some(Flow::End(RunEnd::Aborted, self.resume_hint(&format!("aborted before {}", step.id)))))
            }
        }
    }

    async fn execute_and_verify(&mut self, step: &Step) -> Result<Flow, String> {
        loop {
            let (outcome, exit, tail) = self.execute(step).await?;
            if self.interrupt_now {
                return Ok(Flow::End(
                    RunEnd::Interrupted,
                    self.resume_hint(&format!(
                        "interrupted while {} ran; it goes on on {} and `resume` re-attaches to it",
                        step.id, step.node
                    )),
                ));
            }
            if outcome != Outcome::Ok {
                let what = match outcome {
                    Outcome::Failed => format!(
                        "{} failed on {} (exit {})",
                        step.id,
                        step.node,
                        exit.map(|c| c.to_string()).unwrap_or_else(|| "?".into())
                    ),
                    Outcome::TimedOut => format!(
                        "{} did not finish within {}s (timeouts.step); it may still be running on {}",
                        step.id,
                        self.cluster.timeouts.step.as_secs(),
                        step.node
                    ),
                    _ => format!(
                        "{} was lost on {}: its job ended without an exit status (killed, or the host rebooted)",
                        step.id, step.node
                    ),
                };
                match self.failure(step, &what, &tail).await? {
                    Some(Answer::Retry) => continue,
                    Some(_) => return Ok(Flow::Next),
                    None => return Ok(Flow::End(RunEnd::Aborted, self.resume_hint(&format!("aborted after {what}")))),
                }
            }
            return self.after_gates(step).await;
        }
    }

    /// Runs the step's command as a detached job and follows it to its end.
    async fn execute(&mut self, step: &Step) -> Result<(Outcome, Option<i32>, String), String> {
        let attempt = self.state.attempts.get(&step.id).copied().unwrap_or(0) + 1;
        let dir = JobDir::new(&self.cluster.job_dir, &self.run, &step.id, attempt);
        self.must_record(Record::StepStarted { step: step.clone(), attempt, job: dir.0.clone() })?;
        self.emit(Event::StepStarted { step: Box::new(step.clone()), attempt });
        let Some(command) = step.command.clone() else {
            let msg = format!("the kind of {} has no command for {}; fix the config", step.node, step.action);
            self.must_record(Record::StepFinished {
                step: step.id.clone(),
                attempt,
                outcome: Outcome::Failed,
                exit: None,
                output_tail: msg.clone(),
                duration_ms: 0,
            })?;
            return Ok((Outcome::Failed, None, msg));
        };
        let node = self.node(&step.node)?;
        let started = Instant::now();
        let deadline = started + self.cluster.timeouts.step;
        // Start (idempotent), retrying while the host cannot be reached.
        let mut failing = false;
        loop {
            match job::start(self.transport.as_ref(), &node, &dir, &command).await {
                Ok(fresh) => {
                    if failing {
                        self.note(
                            Level::Info,
                            if fresh {
                                format!("reconnected to {}; started {}", node.name, step.id)
                            } else {
                                format!(
                                    "reconnected to {}; {} was already running there: re-attached, not re-run",
                                    node.name, step.id
                                )
                            },
                        );
                    }
                    break;
                }
                Err(e) if e.is_transient() && Instant::now() < deadline => {
                    if !failing {
                        self.note(Level::Warning, format!("{e}; retrying until {} answers (the step may or may not have started; it is never started twice)", node.name));
                        failing = true;
                    }
                    self.transport.forget(&node).await;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    let msg = e.to_string();
                    self.must_record(Record::StepFinished {
                        step: step.id.clone(),
                        attempt,
                        outcome: Outcome::Failed,
                        exit: None,
                        output_tail: msg.clone(),
                        duration_ms: started.elapsed().as_millis() as u64,
                    })?;
                    return Ok((Outcome::Failed, None, msg));
                }
            }
        }
        self.follow(step, attempt, &node, &dir, started, deadline).await
    }

    async fn follow(
        &mut self,
        step: &Step,
        attempt: u32,
        node: &crate::model::Node,
        dir: &JobDir,
        started: Instant,
        deadline: Instant,
    ) -> Result<(Outcome, Option<i32>, String), String> {
        let mut offset = 0u64;
        let mut tail = String::new();
        let mut disconnected = false;
        let (outcome, exit) = loop {
            self.poll_commands();
            if self.interrupt_now {
                return Ok((Outcome::Lost, None, tail));
            }
            match job::poll(self.transport.as_ref(), node, dir, offset).await {
                Ok(p) => {
                    if disconnected {
                        self.note(Level::Info, format!("reconnected to {}; re-attached to {}", node.name, step.id));
                        disconnected = false;
                    }
                    if !p.new_output.is_empty() {
                        offset += p.new_bytes;
                        tail.push_str(&p.new_output);
                        if tail.len() > 8192 {
                            tail = crate::transport::tail_bytes(&tail, 4096).to_string();
                        }
                        self.emit(Event::Output {
                            step: step.id.clone(),
                            node: node.name.clone(),
                            text: p.new_output.clone(),
                        });
                    }
                    match p.state {
                        JobState::Done(rc) if offset >= p.out_size => {
                            break (if rc == 0 { Outcome::Ok } else { Outcome::Failed }, Some(rc));
                        }
                        JobState::Done(_) => continue,
                        JobState::Lost => break (Outcome::Lost, None),
                        JobState::Absent => break (Outcome::Lost, None),
                        JobState::Running => {}
                    }
                }
                Err(e) => {
                    if !disconnected {
                        self.note(
                            Level::Warning,
                            format!("{e}; the step goes on on the host, rollpilot keeps trying to re-attach"),
                        );
                        disconnected = true;
                    }
                    self.transport.forget(node).await;
                }
            }
            if Instant::now() >= deadline {
                break (Outcome::TimedOut, None);
            }
            tokio::time::sleep(Duration::from_millis(if disconnected { 1000 } else { 300 })).await;
        };
        let tail_text = crate::transport::tail(&tail, 2000);
        self.must_record(Record::StepFinished {
            step: step.id.clone(),
            attempt,
            outcome,
            exit,
            output_tail: tail_text.clone(),
            duration_ms: started.elapsed().as_millis() as u64,
        })?;
        self.emit(Event::StepFinished { step: step.id.clone(), outcome, exit });
        Ok((outcome, exit, tail_text))
    }

    fn node(&self, name: &str) -> Result<crate::model::Node, String> {
        self.cluster.node(name).map(|(_, n)| n.clone()).ok_or_else(|| format!("{name} is not in the cluster config"))
    }

    async fn after_gates(&mut self, step: &Step) -> Result<Flow, String> {
        'again: loop {
            for g in step.after.clone() {
                match self.wait_gate(step, &g, "after").await {
                    Err(_) => {
                        return Ok(Flow::End(
                            RunEnd::Interrupted,
                            self.resume_hint("interrupted while waiting for a step's checks"),
                        ));
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(why)) => {
                        let what = format!(
                            "{} {} did not hold within {}s: {why}",
                            g.rule(),
                            g.describe(),
                            self.cluster.timeouts.gate.as_secs()
                        );
                        match self.failure(step, &what, "").await? {
                            Some(Answer::Retry) => continue 'again,
                            Some(_) => return Ok(Flow::Next),
                            None => {
                                return Ok(Flow::End(RunEnd::Aborted, self.resume_hint(&format!("aborted: {what}"))));
                            }
                        }
                    }
                }
            }
            break;
        }
        self.must_record(Record::StepDone { step: step.id.clone() })?;
        self.emit(Event::StepDone { step: step.id.clone() });
        self.done_since_plan.push(step.id.clone());
        // Failback progress lives in the run's context, so planning again (or resuming) knows it.
        let mut ctx = self.state.context.clone();
        match step.action {
            Action::FailbackStop => {
                ctx.failback_started.insert(step.group.clone());
            }
            Action::Failback | Action::FailbackStart => {
                ctx.failback_done.insert(step.group.clone());
            }
            Action::Install | Action::Rollback => {
                if let Some(v) = &step.version {
                    ctx.installed.insert(step.node.clone(), v.clone());
                }
            }
            Action::Offline | Action::Online => {
                let service = self.cluster.group(&step.group).and_then(|g| g.service.clone()).or_else(|| {
                    self.cluster
                        .groups
                        .iter()
                        .find(|x| x.gtype == crate::model::GroupType::Server)
                        .map(|x| x.name.clone())
                });
                if let Some(sv) = service {
                    if step.action == Action::Offline {
                        ctx.offline_services.insert(sv);
                    } else {
                        ctx.offline_services.remove(&sv);
                    }
                }
            }
            _ => {}
        }
        if ctx != self.state.context {
            self.must_record(Record::Context { context: ctx })?;
        }
        Ok(Flow::Next)
    }

    /// A gate before a step did not hold in time: nothing was done yet, so only waiting again
    /// or stopping make sense.
    async fn gate_failed(&mut self, step: &Step, gate: &Gate, why: &str) -> Result<Flow, String> {
        let what = format!(
            "{} {} did not hold within {}s: {why}",
            gate.rule(),
            gate.describe(),
            self.cluster.timeouts.gate.as_secs()
        );
        self.record(Record::Note { text: what.clone() });
        let q = self.question(
            &step.id,
            QuestionKind::Failure,
            format!("Gate blocks {}", step.id),
            vec![what.clone(), "Nothing has been done to this node yet; nothing else is touched (R11).".into()],
            vec![
                choice(
                    Answer::Abort,
                    "Abort",
                    "stop here; the cluster is left as it is, the journal is kept for `resume`",
                    false,
                ),
                choice(Answer::Retry, "Wait again", "wait another gate timeout for the condition", false),
            ],
        );
        let (a, _) = self.ask(q).await?;
        if a == Answer::Retry {
            self.decided(&step.id, DecisionRecord::Retry, None);
            return Ok(Flow::Next);
        }
        if self.interrupt {
            return Ok(Flow::End(RunEnd::Interrupted, self.resume_hint("interrupted")));
        }
        self.decided(&step.id, DecisionRecord::Abort, None);
        Ok(Flow::End(RunEnd::Aborted, self.resume_hint(&format!("aborted: {what}"))))
    }

    /// R11: a failure stops everything; offers exactly the valid choices. `Some(Retry)` means run
    /// the step again; `Some(other)` means the situation was handled (rollback, skip) and the run
    /// plans again; `None` means abort.
    async fn failure(&mut self, step: &Step, what: &str, tail: &str) -> Result<Option<Answer>, String> {
        self.record(Record::Note { text: what.to_string() });
        let previous = self.state.context.original_versions.get(&step.node).cloned();
        self.questions += 1;
        let q = failure_question(step, self.questions, &self.cluster.name, what, tail, previous.as_ref());
        let (a, typed) = self.ask(q).await?;
        match a {
            Answer::Retry => {
                self.decided(&step.id, DecisionRecord::Retry, None);
                Ok(Some(Answer::Retry))
            }
            Answer::Skip => {
                self.decided(&step.id, DecisionRecord::Skip { node: step.node.clone() }, typed);
                let mut ctx = self.state.context.clone();
                ctx.skipped_nodes.insert(step.node.clone());
                self.must_record(Record::Context { context: ctx })?;
                self.note(
                    Level::Warning,
                    format!("{} skipped by the operator: it is not touched again in this run", step.node),
                );
                Ok(Some(Answer::Skip))
            }
            Answer::Rollback => {
                self.decided(&step.id, DecisionRecord::Rollback, None);
                match previous {
                    Some(prev) => match self.rollback(step, &prev).await? {
                        true => self.after_rollback(step, &prev).await,
                        false => Ok(None),
                    },
                    None => Ok(None),
                }
            }
            _ => {
                if !self.interrupt {
                    self.decided(&step.id, DecisionRecord::Abort, None);
                }
                Ok(None)
            }
        }
    }

    /// Runs the rollback steps of a node; `false` when the operator aborted on a failure there.
    async fn rollback(&mut self, failed: &Step, prev: &Version) -> Result<bool, String> {
        self.rollbacks += 1;
        let snap = self.poller.refresh().await;
        let steps = plan::rollback_steps(&self.cluster, &snap.observed(), &failed.node, prev, self.rollbacks);
        self.note(
            Level::Warning,
            format!(
                "rolling {} back to {prev}: {}",
                failed.node,
                steps.iter().map(|s| s.action.as_str()).collect::<Vec<_>>().join(", ")
            ),
        );
        for s in steps {
            loop {
                let (outcome, exit, tail) = self.execute(&s).await?;
                let gates_ok = if outcome == Outcome::Ok {
                    let mut ok = Ok(());
                    for g in s.after.clone() {
                        match self.wait_gate(&s, &g, "after").await? {
                            Ok(_) => {}
                            Err(why) => {
                                ok = Err(why);
                                break;
                            }
                        }
                    }
                    ok
                } else {
                    Err(format!("exit {}: {tail}", exit.map(|c| c.to_string()).unwrap_or_else(|| "?".into())))
                };
                match gates_ok {
                    Ok(()) => {
                        self.must_record(Record::StepDone { step: s.id.clone() })?;
                        self.emit(Event::StepDone { step: s.id.clone() });
                        break;
                    }
                    Err(why) => {
                        let q = self.question(
                            &s.id,
                            QuestionKind::Failure,
                            format!("Rollback step {} failed", s.id),
                            vec![why, format!("{} needs attention; nothing else is touched.", failed.node)],
                            vec![
                                choice(
                                    Answer::Abort,
                                    "Abort",
                                    "stop here; repair the node by hand, then `resume`",
                                    false,
                                ),
                                choice(Answer::Retry, "Retry", "run this rollback step again", false),
                            ],
                        );
                        match self.ask(q).await?.0 {
                            Answer::Retry => continue,
                            _ => return Ok(false),
                        }
                    }
                }
            }
        }
        Ok(true)
    }

    async fn after_rollback(&mut self, failed: &Step, prev: &Version) -> Result<Option<Answer>, String> {
        let q = self.question(
            &failed.id,
            QuestionKind::AfterRollback,
            format!("{} is back on {prev}", failed.node),
            vec![
                format!("{} was rolled back to {prev} and is in sync.", failed.node),
                "Find out why the step failed before trying again.".into(),
            ],
            vec![
                choice(
                    Answer::Abort,
                    "Stop here",
                    "end the run; the cluster stays as it is now, `resume` continues later",
                    false,
                ),
                choice(
                    Answer::Retry,
                    "Try again",
                    &format!("plan again: {} will be upgraded again", failed.node),
                    false,
                ),
                choice(
                    Answer::Skip,
                    "Skip node",
                    &format!("leave {} on {prev} and go on with the other nodes (type the cluster name)", failed.node),
                    true,
                ),
            ],
        );
        let (a, typed) = self.ask(q).await?;
        match a {
            Answer::Retry => Ok(Some(Answer::Rollback)),
            Answer::Skip => {
                self.decided(&failed.id, DecisionRecord::Skip { node: failed.node.clone() }, typed);
                let mut ctx = self.state.context.clone();
                ctx.skipped_nodes.insert(failed.node.clone());
                self.must_record(Record::Context { context: ctx })?;
                Ok(Some(Answer::Skip))
            }
            _ => {
                self.decided(&failed.id, DecisionRecord::Abort, None);
                Ok(None)
            }
        }
    }

    /// A step started and never finished: find out what happened before anything runs.
    async fn in_doubt(&mut self, step: &Step, attempt: u32, dir: JobDir) -> Result<Flow, String> {
        let node = self.node(&step.node)?;
        let poll = loop {
            match job::poll(self.transport.as_ref(), &node, &dir, 0).await {
                Ok(p) => break p,
                Err(e) => {
                    self.note(Level::Warning, format!("{step} is in doubt and {e}; retrying", step = step.id));
                    self.transport.forget(&node).await;
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    self.poll_commands();
                    if self.interrupt {
                        return Ok(Flow::End(RunEnd::Interrupted, self.resume_hint("interrupted")));
                    }
                }
            }
        };
        match poll.state {
            JobState::Done(_) | JobState::Running => {
                self.note(
                    Level::Info,
                    format!(
                        "{} was interrupted in rollpilot but its job on {} {}; re-attaching, not re-running",
                        step.id,
                        step.node,
                        if poll.state == JobState::Running { "is still running" } else { "finished" }
                    ),
                );
                self.emit(Event::StepStarted { step: Box::new(step.clone()), attempt });
                let started = Instant::now();
                let (outcome, exit, tail) =
                    self.follow(step, attempt, &node, &dir, started, started + self.cluster.timeouts.step).await?;
                if outcome == Outcome::Ok {
                    return self.after_gates(step).await;
                }
                let what = format!(
                    "{} ended with exit {} on {}",
                    step.id,
                    exit.map(|c| c.to_string()).unwrap_or_else(|| "?".into()),
                    step.node
                );
                match self.failure(step, &what, &tail).await? {
                    Some(Answer::Retry) => self.execute_and_verify(step).await,
                    Some(_) => Ok(Flow::Next),
                    None => Ok(Flow::End(RunEnd::Aborted, self.resume_hint(&format!("aborted after {what}")))),
                }
            }
            JobState::Lost | JobState::Absent => {
                let snap = self.poller.refresh().await;
                let obs = snap.observed().get(&step.node);
                let checks_hold = step.after.iter().all(|g| evaluate(g, &self.cluster, &snap.observed()).is_open());
                let found = if poll.state == JobState::Absent {
                    "its job never started on the host".to_string()
                } else {
                    "its job was killed before it recorded an exit status".to_string()
                };
                let mut lines = vec![
                    format!(
                        "{} ({}) started on {} and rollpilot stopped before it finished: {found}.",
                        step.id, step.summary, step.node
                    ),
                    format!("{} now: {}", step.node, crate::plan::gates::brief(&step.node, &obs)),
                ];
                let mut choices =
                    vec![choice(Answer::Abort, "Abort", "leave everything as it is; investigate by hand", false)];
                if checks_hold && !step.after.is_empty() {
                    lines.push(format!(
                        "Its checks hold now: {}.",
                        step.after.iter().map(|g| g.describe()).collect::<Vec<_>>().join("; ")
                    ));
                    choices.push(choice(
                        Answer::AcceptDone,
                        "Accept as done",
                        "record the step as done because its checks hold",
                        false,
                    ));
                }
                choices.push(choice(
                    Answer::Retry,
                    "Run it again",
                    &format!("run {} on {} again", step.action, step.node),
                    false,
                ));
                let q =
                    self.question(&step.id, QuestionKind::InDoubt, format!("{} is in doubt", step.id), lines, choices);
                match self.ask(q).await?.0 {
                    Answer::AcceptDone => {
                        self.decided(&step.id, DecisionRecord::AcceptDone, None);
                        self.must_record(Record::StepFinished {
                            step: step.id.clone(),
                            attempt,
                            outcome: Outcome::Ok,
                            exit: None,
                            output_tail: "accepted as done by the operator after checking".into(),
                            duration_ms: 0,
                        })?;
                        self.after_gates(step).await
                    }
                    Answer::Retry => {
                        self.decided(&step.id, DecisionRecord::Retry, None);
                        self.execute_and_verify(step).await
                    }
                    _ => {
                        if self.interrupt {
                            return Ok(Flow::End(RunEnd::Interrupted, self.resume_hint("interrupted")));
                        }
                        self.decided(&step.id, DecisionRecord::Abort, None);
                        Ok(Flow::End(RunEnd::Aborted, self.resume_hint(&format!("aborted: {} is in doubt", step.id))))
                    }
                }
            }
        }
    }
}

/// The question asked before a step that needs confirmation: what happens, the command, why
/// now, what it waits for afterwards, its costs, and what can be done if it fails; the safe
/// choice first. One wording for the executor and for everything that shows it.
pub fn confirmation_question(step: &Step, id: u64, cluster_name: &str) -> Question {
    let mut lines = vec![step.summary.clone()];
    if let Some(c) = &step.command {
        lines.push(format!("Command on {}: {c}", step.node));
    }
    lines.push(format!("Why now: {}", step.reason));
    for g in &step.after {
        lines.push(format!("Then waits until {} ({}).", g.describe(), g.rule()));
    }
    if step.downtime {
        lines.push("DOWNTIME: the service (or part of it) is unavailable during this step.".into());
    }
    if step.irreversible {
        lines.push("IRREVERSIBLE: this cannot be undone.".into());
    }
    if step.data_loss {
        lines.push("DATA LOSS: the data of this group is lost (R3, accepted).".into());
    }
    lines.push(format!("If it fails: {}.", step.rollback));
    let (kind, title, choices) = match step.confirm {
        Confirm::Typed => (
            QuestionKind::Typed,
            format!("{} {} — type the cluster name to confirm", step.action, step.node),
            vec![
                choice(Answer::Cancel, "Cancel", "pause here; nothing is done", false),
                choice(Answer::Proceed, "Proceed", "run this step (type the cluster name)", true),
            ],
        ),
        Confirm::Optional => (
            QuestionKind::Optional,
            format!("Optional: {} {}", step.action, step.node),
            vec![
                choice(Answer::Decline, "Skip it", "leave the roles as they are and go on", false),
                choice(Answer::Proceed, "Do it", "run this optional step", false),
                choice(Answer::Cancel, "Pause", "pause here; decide later", false),
            ],
        ),
        _ => (
            QuestionKind::Confirm,
            format!("{} {}", step.action, step.node),
            vec![
                choice(Answer::Cancel, "Cancel", "pause here; nothing is done", false),
                choice(Answer::Proceed, "Proceed", "run this step", false),
            ],
        ),
    };
    Question { id, step: step.id.clone(), kind, title, lines, choices, expected: cluster_name.to_string() }
}

/// The question after a failure (R11): what failed, that nothing else is touched, the output
/// tail, the step's planned rollback, and exactly the choices valid for it — rolling the node back
/// only when the step touched its software and its previous version is known.
pub fn failure_question(
    step: &Step,
    id: u64,
    cluster_name: &str,
    what: &str,
    tail: &str,
    previous: Option<&Version>,
) -> Question {
    let node_software =
        matches!(step.action, Action::Stop | Action::Cleanup | Action::Install | Action::Start | Action::Rollback);
    let mut choices = vec![
        choice(
            Answer::Abort,
            "Abort",
            "stop here; the cluster is left exactly as it is, the journal is kept for `resume`",
            false,
        ),
        choice(Answer::Retry, "Retry", &format!("run {} again", step.action), false),
    ];
    if let Some(prev) = previous
        && node_software
    {
        choices.push(choice(
            Answer::Rollback,
            "Roll back node",
            &format!("reinstall {prev} on {}, start it and wait until it is back in sync; then decide", step.node),
            false,
        ));
    }
    choices.push(choice(
        Answer::Skip,
        "Skip node",
        &format!("leave {} as it is and go on with the other nodes (type the cluster name)", step.node),
        true,
    ));
    let mut lines = vec![
        what.to_string(),
        "The rollout stopped here: no other node is touched until you decide (R11 do-no-harm).".into(),
    ];
    if !tail.is_empty() {
        lines.push(format!("Output: {tail}"));
    }
    lines.push(format!("Planned rollback for this step: {}.", step.rollback));
    Question {
        id,
        step: step.id.clone(),
        kind: QuestionKind::Failure,
        title: format!("{} failed", step.id),
        lines,
        choices,
        expected: cluster_name.to_string(),
    }
}

fn choice(answer: Answer, label: &str, consequence: &str, typed: bool) -> Choice {
    Choice { answer, label: label.into(), consequence: consequence.into(), typed }
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}
