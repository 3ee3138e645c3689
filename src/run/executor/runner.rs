//! Running a step: its command as a detached job on the host (journaled before it starts and
//! after it ends, fenced by the lock), followed to its end, re-attached after a dropped
//! connection or a crash, never started twice. Then its checks (`waits`), and on failure the
//! operator's choice (`recovery`).

use super::recovery::Chosen;
use super::waits::Verified;
use super::{Exec, Flow, Res};
use crate::plan::gates::evaluate;
use crate::plan::{Level, Step};
use crate::run::events::*;
use crate::run::job::{self, JobDir, JobState};
use crate::run::journal::{DecisionRecord, Outcome, Record};
use std::time::Duration;
use tokio::time::Instant;

/// How running a step's command ended.
pub(super) enum Executed {
    /// It ran (or provably failed to start): its outcome, exit status and output tail.
    Ran(Outcome, Option<i32>, String),
    /// The run must stop before the command (the lock was lost, or the operator interrupted).
    Stopped(Flow),
}

/// The part of a step's output kept for the journal and the failure question.
const TAIL_KEEP: usize = 4096;

impl Exec {
    /// Runs a step's command and its checks until it is done or the operator decides otherwise.
    /// Every Retry is a new attempt with a new job; earlier attempts stay in the journal.
    pub(super) async fn run_step(&mut self, step: &Step) -> Res<Flow> {
        loop {
            let (outcome, exit, tail) = match self.execute(step).await? {
                Executed::Ran(o, e, t) => (o, e, t),
                Executed::Stopped(flow) => return Ok(flow),
            };
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
                let what = self.describe_failure(step, outcome, exit);
                match self.on_failure(step, &what, &tail, None).await? {
                    Chosen::Retry => continue,
                    Chosen::KeepWaiting => continue,
                    Chosen::Then(flow) => return Ok(flow),
                }
            }
            // A switchover or failback: did the roles move, under timeouts.switchover?
            // Roles that did not move in time: Keep waiting goes on to its checks, which wait
            // another gate timeout for the roles; nothing is run again.
            if let Some((what, stall)) = self.watch_switchover(step, &tail).await? {
                match self.on_failure(step, &what, &tail, stall.as_ref()).await? {
                    Chosen::Retry => continue,
                    Chosen::KeepWaiting => {}
                    Chosen::Then(flow) => return Ok(flow),
                }
            }
            match self.verify(step).await? {
                Verified::Done => return Ok(Flow::Next),
                Verified::Retry => continue,
                Verified::Then(flow) => return Ok(flow),
            }
        }
    }

    /// Checks a step that already ran (found finished after an interruption); a Retry there runs
    /// its command again as a new attempt.
    pub(super) async fn verify_step(&mut self, step: &Step) -> Res<Flow> {
        match self.verify(step).await? {
            Verified::Done => Ok(Flow::Next),
            Verified::Retry => self.run_step(step).await,
            Verified::Then(flow) => Ok(flow),
        }
    }

    fn describe_failure(&self, step: &Step, outcome: Outcome, exit: Option<i32>) -> String {
        match outcome {
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
        }
    }

    /// Runs the step's command as a new attempt (a new detached job) and follows it to its end.
    pub(super) async fn execute(&mut self, step: &Step) -> Res<Executed> {
        if let Some(flow) = self.fence(&step.id).await? {
            return Ok(Executed::Stopped(flow));
        }
        let attempt = self.state.attempts.get(&step.id).copied().unwrap_or(0) + 1;
        let dir = JobDir::new(&self.cluster.job_dir, &self.run, &step.id, attempt);
        self.must_record(Record::StepStarted { step: step.clone(), attempt, job: dir.0.clone() })?;
        self.emit(Event::StepStarted { step: Box::new(step.clone()), attempt, job: dir.0.clone() });
        let Some(command) = step.command.clone() else {
            let msg = format!("the kind of {} has no command for {}; fix the config", step.node, step.action);
            return self.finished(step, attempt, Outcome::Failed, None, msg, Duration::ZERO);
        };
        let node = self.node(&step.node)?;
        let started = Instant::now();
        let deadline = started + self.cluster.timeouts.step;
        // Start (idempotent), retrying while the host cannot be reached.
        let mut failing = false;
        // The first poll comes back with the start (one round trip for a quick command).
        let first = loop {
            match job::start_and_poll(self.transport.as_ref(), &node, &dir, &step.workdir, &command).await {
                Ok((fresh, first)) => {
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
                    break first;
                }
                Err(e) if e.is_transient() && Instant::now() < deadline => {
                    self.poll_commands();
                    if self.interrupt {
                        return Ok(Executed::Stopped(Flow::End(RunEnd::Interrupted, self.resume_hint("interrupted"))));
                    }
                    if let Some(flow) = self.fence(&step.id).await? {
                        return Ok(Executed::Stopped(flow));
                    }
                    if !failing {
                        self.note(
                            Level::Warning,
                            format!(
                                "{e}; retrying until {} answers (the step may or may not have started; it is never started twice)",
                                node.name
                            ),
                        );
                        failing = true;
                    }
                    self.transport.forget(&node).await;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    return self.finished(step, attempt, Outcome::Failed, None, e.to_string(), started.elapsed());
                }
            }
        };
        let (outcome, exit, tail) = self.follow(step, attempt, &node, &dir, started, deadline, first).await?;
        Ok(Executed::Ran(outcome, exit, tail))
    }

    fn finished(
        &mut self,
        step: &Step,
        attempt: u32,
        outcome: Outcome,
        exit: Option<i32>,
        msg: String,
        took: Duration,
    ) -> Res<Executed> {
        self.must_record(Record::StepFinished {
            step: step.id.clone(),
            attempt,
            outcome,
            exit,
            output_tail: msg.clone(),
            duration_ms: took.as_millis() as u64,
        })?;
        self.emit(Event::StepFinished { step: step.id.clone(), outcome, exit });
        Ok(Executed::Ran(outcome, exit, msg))
    }

    /// Follows a started job: its output as it comes, its end, across dropped connections.
    /// `first` is a poll already made (with the start), used before polling again.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn follow(
        &mut self,
        step: &Step,
        attempt: u32,
        node: &crate::model::Node,
        dir: &JobDir,
        started: Instant,
        mut deadline: Instant,
        mut first: Option<job::JobPoll>,
    ) -> Res<(Outcome, Option<i32>, String)> {
        let mut offset = 0u64;
        let mut tail = String::new();
        let mut disconnected = false;
        // Most steps end within milliseconds: look again soon, then less and less often.
        let mut pace = Duration::from_millis(20);
        let (outcome, exit) = loop {
            self.poll_commands();
            if self.interrupt_now {
                // The job goes on on its host; the journal still has it started, so `resume`
                // re-attaches to it. Never reported as a failure of the step.
                return Err(super::ExecError::Interrupted);
            }
            let polled = match first.take() {
                Some(p) => Ok(p),
                None => job::poll(self.transport.as_ref(), node, dir, offset).await,
            };
            match polled {
                Ok(p) => {
                    if disconnected {
                        self.note(Level::Info, format!("reconnected to {}; re-attached to {}", node.name, step.id));
                        disconnected = false;
                    }
                    if p.new_bytes > 0 {
                        // Offsets count the host's bytes (the decoded text can differ in length).
                        offset += p.new_bytes;
                        tail.push_str(&p.new_output);
                        if tail.len() > 2 * TAIL_KEEP {
                            tail = crate::transport::tail_bytes(&tail, TAIL_KEEP).to_string();
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
                        JobState::Lost | JobState::Absent => break (Outcome::Lost, None),
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
                // It may still be running: starting it again (Retry, Roll back) could run it
                // twice at once. Only waiting longer or stopping are offered; the journal keeps
                // it in flight, so `resume` re-attaches to it.
                if self.job_overran(step, node).await? {
                    deadline = Instant::now() + self.cluster.timeouts.step;
                    continue;
                }
                return Err(super::ExecError::Interrupted);
            }
            tokio::time::sleep(if disconnected { Duration::from_secs(1) } else { pace }).await;
            pace = (pace * 2).min(Duration::from_millis(300));
        };
        let tail_text = crate::transport::tail(&tail, 2000);
        match self.finished(step, attempt, outcome, exit, tail_text, started.elapsed())? {
            Executed::Ran(o, e, t) => Ok((o, e, t)),
            Executed::Stopped(_) => Ok((outcome, exit, String::new())),
        }
    }

    /// A step outlived `timeouts.step`: keep following the same job (`true`) or stop here,
    /// leaving it running and in flight (`false`).
    pub(super) async fn job_overran(&mut self, step: &Step, node: &crate::model::Node) -> Res<bool> {
        let what = format!(
            "{} did not finish within {}s (timeouts.step) and may still be running on {}",
            step.id,
            self.cluster.timeouts.step.as_secs(),
            node.name
        );
        self.record(Record::Note { text: what.clone() });
        self.back_to_asking(&format!("{} overran its step timeout", step.id));
        let q = self.question(
            &step.id,
            QuestionKind::Failure,
            format!("{} is taking longer than timeouts.step", step.id),
            vec![
                what,
                "Running it again now could run it twice at once, so only waiting longer or stopping are offered."
                    .into(),
            ],
            vec![
                super::questions::choice(
                    Answer::Abort,
                    "Stop here",
                    "leave the job running on its host; `resume` re-attaches to it",
                    false,
                ),
                super::questions::choice(
                    Answer::KeepWaiting,
                    "Keep waiting",
                    "follow the same job for another step timeout",
                    false,
                ),
            ],
        );
        match self.ask(q).await?.0 {
            Answer::KeepWaiting => {
                self.decided(&step.id, DecisionRecord::KeepWaiting, None);
                Ok(true)
            }
            _ => {
                if !self.interrupt {
                    self.decided(&step.id, DecisionRecord::Abort, None);
                }
                Ok(false)
            }
        }
    }

    /// A step started and never finished: find out what happened before anything runs. A job
    /// that is there is re-attached; one that provably never started is started; one that was
    /// killed is shown to the operator with what the probes say now.
    pub(super) async fn in_doubt(&mut self, step: &Step, attempt: u32, dir: JobDir) -> Res<Flow> {
        let node = self.node(&step.node)?;
        // The host may be rebooting: wait for it, but a gate timeout at most before asking.
        let mut deadline = Instant::now() + self.cluster.timeouts.gate;
        let poll = loop {
            match job::poll(self.transport.as_ref(), &node, &dir, 0).await {
                Ok(p) => break p,
                Err(e) => {
                    self.note(Level::Warning, format!("{step} is in doubt and {e}; retrying", step = step.id));
                    self.transport.forget(&node).await;
                    if Instant::now() >= deadline {
                        if self.unreachable_in_doubt(step, &e.to_string()).await? {
                            deadline = Instant::now() + self.cluster.timeouts.gate;
                            continue;
                        }
                        if self.interrupt {
                            return Ok(Flow::End(RunEnd::Interrupted, self.resume_hint("interrupted")));
                        }
                        return Ok(Flow::End(
                            RunEnd::Unreachable,
                            self.resume_hint(&format!(
                                "stopped: {} is in doubt and {} cannot be reached",
                                step.id, node.name
                            )),
                        ));
                    }
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
                self.record(Record::Reattached { step: step.id.clone(), attempt });
                self.emit(Event::StepStarted { step: Box::new(step.clone()), attempt, job: dir.0.clone() });
                let started = Instant::now();
                let (outcome, exit, tail) = self
                    .follow(step, attempt, &node, &dir, started, started + self.cluster.timeouts.step, None)
                    .await?;
                if outcome == Outcome::Ok {
                    return self.verify_step(step).await;
                }
                let what = format!(
                    "{} ended with exit {} on {}",
                    step.id,
                    exit.map(|c| c.to_string()).unwrap_or_else(|| "?".into()),
                    step.node
                );
                match self.on_failure(step, &what, &tail, None).await? {
                    Chosen::Retry | Chosen::KeepWaiting => self.run_step(step).await,
                    Chosen::Then(flow) => Ok(flow),
                }
            }
            JobState::Absent => {
                // The journal says it was about to start, the host has no trace of it: it never
                // started. Starting it now is what the operator confirmed.
                let text = format!(
                    "{} (attempt {attempt}) never started on {}: rollpilot stopped after journaling it and before its job existed; starting it now",
                    step.id, step.node
                );
                self.note(Level::Info, text);
                self.must_record(Record::StepFinished {
                    step: step.id.clone(),
                    attempt,
                    outcome: Outcome::NotStarted,
                    exit: None,
                    output_tail: String::new(),
                    duration_ms: 0,
                })?;
                self.run_step(step).await
            }
            JobState::Lost => {
                let snap = self.poller.refresh().await;
                let obs = snap.observed().get(&step.node);
                let checks_hold = step.after.iter().all(|g| evaluate(g, &self.cluster, &snap.observed()).is_open());
                let mut lines = vec![
                    format!(
                        "{} ({}) started on {} and rollpilot stopped before it finished: its job was killed before it recorded an exit status.",
                        step.id, step.summary, step.node
                    ),
                    format!("{} now: {}", step.node, crate::plan::gates::brief(&step.node, &obs)),
                ];
                let mut choices = vec![super::questions::choice(
                    Answer::Abort,
                    "Abort",
                    "leave everything as it is; investigate by hand",
                    false,
                )];
                if checks_hold && !step.after.is_empty() {
                    lines.push(format!(
                        "Its checks hold now: {}.",
                        step.after.iter().map(|g| g.describe()).collect::<Vec<_>>().join("; ")
                    ));
                    choices.push(super::questions::choice(
                        Answer::AcceptDone,
                        "Accept as done",
                        "record the step as done because its checks hold",
                        false,
                    ));
                }
                choices.push(super::questions::choice(
                    Answer::Retry,
                    "Run it again",
                    &format!("run {} on {} again as a new attempt", step.action, step.node),
                    false,
                ));
                self.back_to_asking(&format!("{} is in doubt", step.id));
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
                        self.verify_step(step).await
                    }
                    Answer::Retry => {
                        self.decided(&step.id, DecisionRecord::Retry, None);
                        self.must_record(Record::StepFinished {
                            step: step.id.clone(),
                            attempt,
                            outcome: Outcome::Lost,
                            exit: None,
                            output_tail: "killed before it recorded an exit status".into(),
                            duration_ms: 0,
                        })?;
                        self.run_step(step).await
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

    /// An in-doubt step's host did not answer for a gate timeout: keep waiting (`true`) or stop
    /// (`false`). Nothing is run while it is in doubt.
    async fn unreachable_in_doubt(&mut self, step: &Step, error: &str) -> Res<bool> {
        self.back_to_asking(&format!("{} is in doubt and {} cannot be reached", step.id, step.node));
        let q = self.question(
            &step.id,
            QuestionKind::InDoubt,
            format!("{} is in doubt and {} does not answer", step.id, step.node),
            vec![
                format!(
                    "{} started on {} and rollpilot stopped before it finished; {} has not answered for {}s (timeouts.gate): {error}",
                    step.id,
                    step.node,
                    step.node,
                    self.cluster.timeouts.gate.as_secs()
                ),
                "Nothing runs while it is in doubt: its job may still be running there.".into(),
            ],
            vec![
                super::questions::choice(
                    Answer::Abort,
                    "Stop here",
                    "leave everything as it is; `resume` looks at the step again",
                    false,
                ),
                super::questions::choice(
                    Answer::KeepWaiting,
                    "Keep waiting",
                    &format!("wait another gate timeout for {} to answer", step.node),
                    false,
                ),
            ],
        );
        match self.ask(q).await?.0 {
            Answer::KeepWaiting => {
                self.decided(&step.id, DecisionRecord::KeepWaiting, None);
                Ok(true)
            }
            _ => {
                if !self.interrupt {
                    self.decided(&step.id, DecisionRecord::Abort, None);
                }
                Ok(false)
            }
        }
    }

    /// After breaking another driver's lock: its run's jobs still running on the hosts are
    /// followed to their end (re-attached, never started again), so nothing runs twice at once.
    pub(super) async fn adopt_jobs(&mut self, other_run: &str) -> Res<Flow> {
        let nodes: Vec<crate::model::Node> = self.cluster.groups.iter().flat_map(|g| g.nodes.iter().cloned()).collect();
        for node in nodes {
            let listing = match job::list_run(self.transport.as_ref(), &node, &self.cluster.job_dir, other_run).await {
                Ok(l) => l,
                Err(e) => {
                    self.note(
                        Level::Warning,
                        format!("could not look for jobs of run {other_run} on {}: {e}", node.name),
                    );
                    continue;
                }
            };
            for (name, state) in listing {
                // Hosts sharing a job directory all list every job: follow each on its own node.
                if job::node_of(&name, &self.cluster).is_some_and(|n| n != node.name) {
                    continue;
                }
                let dir = JobDir(job::run_dir(&self.cluster.job_dir, other_run) + "/" + &name);
                match state {
                    JobState::Running => {
                        let text = format!(
                            "run {other_run} left {name} running on {}: re-attached and followed to its end, not started again",
                            node.name
                        );
                        self.note(Level::Warning, text.clone());
                        self.record(Record::Note { text });
                        let deadline = Instant::now() + self.cluster.timeouts.step;
                        let mut offset = 0u64;
                        loop {
                            self.poll_commands();
                            if self.interrupt {
                                return Ok(Flow::End(RunEnd::Interrupted, self.resume_hint("interrupted")));
                            }
                            let Ok(p) = job::poll(self.transport.as_ref(), &node, &dir, offset).await else {
                                self.transport.forget(&node).await;
                                if Instant::now() >= deadline {
                                    return Ok(Flow::End(
                                        RunEnd::Unreachable,
                                        self.resume_hint(&format!(
                                            "{name} of run {other_run} may still be running on {}, which did not answer within timeouts.step; nothing was started",
                                            node.name
                                        )),
                                    ));
                                }
                                tokio::time::sleep(Duration::from_secs(1)).await;
                                continue;
                            };
                            if p.new_bytes > 0 {
                                offset += p.new_bytes;
                                self.emit(Event::Output {
                                    step: format!("{other_run}/{name}"),
                                    node: node.name.clone(),
                                    text: p.new_output.clone(),
                                });
                            }
                            if p.state != JobState::Running {
                                let text = format!("{name} of run {other_run} on {} ended: {:?}", node.name, p.state);
                                self.note(Level::Info, text.clone());
                                self.record(Record::Note { text });
                                break;
                            }
                            if Instant::now() >= deadline {
                                return Ok(Flow::End(
                                    RunEnd::Aborted,
                                    self.resume_hint(&format!(
                                        "{name} of run {other_run} is still running on {} after timeouts.step; wait for it, then resume",
                                        node.name
                                    )),
                                ));
                            }
                            tokio::time::sleep(Duration::from_millis(300)).await;
                        }
                    }
                    other => tracing::debug!("job {name} of run {other_run} on {}: {other:?}", node.name),
                }
            }
        }
        Ok(Flow::Next)
    }
}
