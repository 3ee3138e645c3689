//! Running a batch (`max_unavailable`): the next step of every node of the batch runs side by
//! side, as detached jobs followed together, so a batch of five takes about as long as one
//! node. The whole batch is judged before any of it starts (its gates), one confirmation covers
//! it (naming every node), each node's step is journaled before its job starts and after it
//! ends (a crash mid-batch leaves each one in flight, and `resume` re-attaches to each), and a
//! failure stops new batches: the operator decides, with every node of the batch named, unless
//! the group's `max_failures` still tolerates it.

use super::questions::confirmation_question;
use super::recovery::Chosen;
use super::waits::{GateWait, Stall};
use super::{Exec, Flow, Res};
use crate::plan::gates::{Verdict, evaluate};
use crate::plan::{Batch, Confirm, Level, Plan, Step};
use crate::run::events::*;
use crate::run::job::{self, JobDir, JobState};
use crate::run::journal::{DecisionRecord, Outcome, Record};
use std::time::Duration;
use tokio::time::Instant;

/// One node's step of the wave, while it runs.
struct Running {
    step: Step,
    attempt: u32,
    node: crate::model::Node,
    dir: JobDir,
    started: Instant,
    deadline: Instant,
    offset: u64,
    tail: String,
    /// How it ended, once it did.
    ended: Option<(Outcome, Option<i32>, String)>,
}

/// A node of the batch whose step failed: what happened, its output, how its check moved.
struct Failed {
    step: Step,
    what: String,
    tail: String,
    stall: Option<Stall>,
}

/// The steps of one node that ride on the confirmation of `first` (up to its next own prompt).
fn sequence_after(plan: &Plan, first: &Step) -> Vec<(String, Option<String>)> {
    plan.steps()
        .skip_while(|s| s.id != first.id)
        .skip(1)
        .take_while(|s| s.node == first.node && s.confirm == Confirm::None)
        .map(|s| (s.id.clone(), s.command.clone()))
        .collect()
}

/// What runs together: the nodes of a batch, or the next step of several server groups.
#[derive(Debug, Clone)]
pub(super) enum Together {
    /// A batch of one group (`max_unavailable`).
    Batch(Batch),
    /// Independent server groups side by side (`parallel_groups`), with why that is safe.
    Lanes(crate::plan::Lanes),
}

impl Together {
    /// Why running these together is safe, for the confirmation.
    fn why_safe(&self) -> &str {
        match self {
            Together::Batch(b) => &b.why_safe,
            Together::Lanes(l) => &l.why_safe,
        }
    }

    /// The group whose `max_failures` applies, for a batch.
    fn group(&self) -> Option<&str> {
        match self {
            Together::Batch(b) => Some(&b.group),
            Together::Lanes(_) => None,
        }
    }
}

/// The next step of up to `width` server groups, while the plan is still upgrading server groups
/// (R4: everything after them waits). A step that asks an optional question (a failback) runs on
/// its own, so its answer is never mixed with another group's.
pub(super) fn lane_wave(plan: &Plan, cluster: &crate::model::Cluster, width: usize) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for s in plan.steps() {
        let server = cluster.group(&s.group).is_some_and(|g| g.gtype == crate::model::GroupType::Server);
        if !server || s.action.is_run_level() || seen.len() >= width {
            break;
        }
        if seen.contains(&s.group.as_str()) {
            continue;
        }
        seen.push(&s.group);
        if s.confirm == Confirm::Optional {
            if out.is_empty() {
                return Vec::new();
            }
            continue;
        }
        out.push(s.clone());
    }
    out
}

impl Exec {
    /// The next step of each node of `batch`, in the batch's order.
    fn wave(plan: &Plan, batch: &Batch) -> Vec<Step> {
        batch.nodes.iter().filter_map(|n| plan.steps().find(|s| &s.node == n).cloned()).collect()
    }

    /// The steps that run together now.
    fn wave_of(&self, plan: &Plan, together: &Together) -> Vec<Step> {
        match together {
            Together::Batch(b) => Self::wave(plan, b),
            Together::Lanes(l) => lane_wave(plan, &self.cluster, l.width),
        }
    }

    /// Runs the next step of every node of `batch` side by side, then their checks.
    pub(super) async fn batch_wave(&mut self, plan: &Plan, batch: &Batch) -> Res<Flow> {
        self.together(plan, &Together::Batch(batch.clone())).await
    }

    /// Runs the steps of a wave side by side (a batch's nodes, or several server groups), then
    /// their checks; one confirmation for all of them.
    pub(super) async fn together(&mut self, plan: &Plan, together: &Together) -> Res<Flow> {
        let wave = self.wave_of(plan, together);
        if wave.is_empty() {
            return Ok(Flow::Next);
        }
        let label = match together {
            Together::Batch(batch) => {
                format!("batch {}/{} of {} ({})", batch.number, batch.of, batch.group, batch.nodes.join(", "))
            }
            Together::Lanes(_) => format!(
                "server groups side by side ({})",
                wave.iter().map(|s| format!("{}: {} {}", s.group, s.action, s.node)).collect::<Vec<_>>().join("; ")
            ),
        };
        for s in &wave {
            let done_before = self.state.done_count.get(&s.id).copied().unwrap_or(0);
            if done_before >= 2 {
                let what = format!(
                    "{} was already done {done_before} times in this run and is planned again ({label}): the probes do not show its effect on {}",
                    s.id, s.node
                );
                return self.recover(s, &what, "").await;
            }
        }
        // Everything that runs together is judged before any of it starts (R5: the batch gate
        // keeps the quorum; each group's own gates hold).
        for s in &wave {
            for g in s.before.clone() {
                match self.wait_gate(s, &g, "before").await? {
                    GateWait::Held => {}
                    GateWait::TimedOut(stall) => return self.gate_failed(s, &g, &stall).await,
                }
            }
        }
        // One confirmation for all of them, naming every node; the pause policy applies as to one.
        let asking: Vec<&Step> = wave
            .iter()
            .filter(|s| {
                s.confirm != Confirm::None
                    && !(matches!(s.confirm, Confirm::Yes | Confirm::Typed)
                        && !s.irreversible
                        && self.approved.contains(&(s.id.clone(), s.command.clone())))
            })
            .collect();
        let mut approved: std::collections::HashSet<(String, Option<String>)> = Default::default();
        for s in &wave {
            approved.extend(sequence_after(plan, s));
        }
        if !asking.is_empty() {
            if asking.iter().all(|s| self.policy_approves(s)) {
                for s in &asking {
                    self.approve_by_policy(s);
                }
            } else {
                // The strongest confirmation any of them needs is the one asked (typed wins).
                let head = asking.iter().find(|s| s.confirm == Confirm::Typed).copied().unwrap_or(asking[0]).clone();
                let id = self.next_question_id();
                let mut q = confirmation_question(&head, id, &self.cluster.name);
                q.title = match together {
                    Together::Batch(_) => format!("{} {label}", head.action),
                    Together::Lanes(_) => label.clone(),
                };
                let mut lines = vec![
                    format!(
                        "{label}: {} run side by side, with one confirmation for all of them.",
                        wave.iter().map(|s| format!("{} {}", s.action, s.node)).collect::<Vec<_>>().join(", ")
                    ),
                    format!("Why this is safe: {}.", together.why_safe()),
                ];
                for s in wave.iter().filter(|s| s.id != head.id) {
                    if let Some(c) = &s.command {
                        lines.push(format!("Command on {}: {c}", s.node));
                    }
                }
                lines.append(&mut q.lines);
                q.lines = lines;
                let (answer, typed) = self.ask(q).await?;
                match answer {
                    Answer::Proceed => {
                        for s in &asking {
                            self.decided(&s.id, DecisionRecord::Proceed, typed.clone());
                            self.canaried.insert(s.group.clone());
                        }
                    }
                    Answer::Cancel => {
                        self.pause = true;
                        return Ok(Flow::Next);
                    }
                    _ => {
                        if self.interrupt {
                            return Ok(Flow::End(RunEnd::Interrupted, self.resume_hint("interrupted")));
                        }
                        self.decided(&head.id, DecisionRecord::Abort, None);
                        return Ok(Flow::End(RunEnd::Aborted, self.resume_hint(&format!("aborted before {label}"))));
                    }
                }
                // Time passed while the operator read: it is all judged again (R12).
                let mut focus: Vec<String> = Vec::new();
                for s in &wave {
                    if let Some(g) = self.cluster.group(&s.group) {
                        focus.extend(
                            g.nodes.iter().map(|n| n.name.clone()).filter(|n| !focus.contains(n)).collect::<Vec<_>>(),
                        );
                    }
                }
                let snap = self.poller.refresh_nodes(&focus).await;
                match self.plan_now(&snap) {
                    Ok(p)
                        if self
                            .wave_of(&p, together)
                            .iter()
                            .map(|s| (&s.id, &s.command))
                            .eq(wave.iter().map(|s| (&s.id, &s.command))) =>
                    {
                        for s in &wave {
                            for g in &s.before {
                                if let Verdict::Blocked(why) = evaluate(g, &self.cluster, &snap.observed()) {
                                    self.note(
                                        Level::Warning,
                                        format!(
                                            "{} no longer holds ({why}); waiting again before {label}",
                                            g.describe()
                                        ),
                                    );
                                    self.approved = approved;
                                    return Ok(Flow::Next);
                                }
                            }
                        }
                    }
                    _ => {
                        self.note(
                            Level::Warning,
                            format!(
                                "R12 drift: the cluster changed while {label} waited for confirmation; planning again"
                            ),
                        );
                        return Ok(Flow::Next);
                    }
                }
            }
        }
        // The rest of each node's sequence rides on this confirmation.
        self.approved = approved;
        let failed = self.run_wave(&wave, &label).await?;
        if let Some(flow) = failed.0 {
            return Ok(flow);
        }
        self.batch_failures(together.group(), &wave, failed.1, &label).await
    }

    /// Starts every step of the wave (each journaled before its job starts), follows them all to
    /// their end, then waits for each one's checks. Returns the failures, or the end of the run.
    async fn run_wave(&mut self, wave: &[Step], label: &str) -> Res<(Option<Flow>, Vec<Failed>)> {
        let mut failed = Vec::new();
        let mut running: Vec<Running> = Vec::new();
        for s in wave {
            if let Some(flow) = self.fence(&s.id).await? {
                return Ok((Some(flow), failed));
            }
            let attempt = self.state.attempts.get(&s.id).copied().unwrap_or(0) + 1;
            let dir = JobDir::new(&self.cluster.job_dir, &self.run, &s.id, attempt);
            self.must_record(Record::StepStarted { step: s.clone(), attempt, job: dir.0.clone() })?;
            self.emit(Event::StepStarted { step: Box::new(s.clone()), attempt, job: dir.0.clone() });
            let started = Instant::now();
            let Some(command) = s.command.clone() else {
                let msg = format!("the kind of {} has no command for {}; fix the config", s.node, s.action);
                self.finish(s, attempt, Outcome::Failed, None, msg.clone(), Duration::ZERO)?;
                failed.push(Failed {
                    step: s.clone(),
                    what: format!("{} failed: {msg}", s.id),
                    tail: String::new(),
                    stall: None,
                });
                continue;
            };
            let node = self.node(&s.node)?;
            let deadline = started + self.cluster.timeouts.step;
            let mut result = job::start(self.transport.as_ref(), &node, &dir, &s.workdir, &command).await;
            // A host that cannot be reached right now: a few more tries, never a second start.
            while let Err(e) = &result {
                if !e.is_transient() || Instant::now() >= deadline {
                    break;
                }
                self.poll_commands();
                if self.interrupt_now {
                    return Err(super::ExecError::Interrupted);
                }
                self.transport.forget(&node).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
                result = job::start(self.transport.as_ref(), &node, &dir, &s.workdir, &command).await;
            }
            match result {
                Ok(_) => running.push(Running {
                    step: s.clone(),
                    attempt,
                    node,
                    dir,
                    started,
                    deadline,
                    offset: 0,
                    tail: String::new(),
                    ended: None,
                }),
                Err(e) => {
                    let msg = e.to_string();
                    self.finish(s, attempt, Outcome::Failed, None, msg.clone(), started.elapsed())?;
                    failed.push(Failed {
                        step: s.clone(),
                        what: format!("{} failed on {}: {msg}", s.id, s.node),
                        tail: msg,
                        stall: None,
                    });
                }
            }
        }
        self.follow_all(&mut running, label).await?;
        // Each step's checks, once every job of the wave ended (they moved on together).
        for r in running {
            let Some((outcome, exit, tail)) = r.ended else { continue };
            if outcome != Outcome::Ok {
                let what = match outcome {
                    Outcome::Failed => format!(
                        "{} failed on {} (exit {})",
                        r.step.id,
                        r.step.node,
                        exit.map(|c| c.to_string()).unwrap_or_else(|| "?".into())
                    ),
                    _ => format!("{} was lost on {}: its job ended without an exit status", r.step.id, r.step.node),
                };
                failed.push(Failed { step: r.step, what, tail, stall: None });
                continue;
            }
            let mut stalled = None;
            for g in r.step.after.clone() {
                if let GateWait::TimedOut(stall) = self.wait_gate(&r.step, &g, "after").await? {
                    let what = format!(
                        "{} {} did not hold within {}s: {}",
                        g.rule(),
                        g.describe(),
                        self.cluster.timeouts.gate.as_secs(),
                        stall.last
                    );
                    stalled = Some((what, stall));
                    break;
                }
            }
            match stalled {
                None => self.step_done(&r.step)?,
                Some((what, stall)) => {
                    failed.push(Failed { step: r.step, what, tail: String::new(), stall: Some(stall) })
                }
            }
        }
        Ok((None, failed))
    }

    /// Follows every started job of the wave at once: output as it comes, each end journaled.
    async fn follow_all(&mut self, running: &mut [Running], label: &str) -> Res<()> {
        let mut pace = Duration::from_millis(20);
        loop {
            self.poll_commands();
            if self.interrupt_now {
                // The jobs go on on their hosts; each is in flight in the journal for `resume`.
                return Err(super::ExecError::Interrupted);
            }
            let mut open = 0;
            for r in running.iter_mut() {
                if r.ended.is_some() {
                    continue;
                }
                let (node, dir) = (r.node.clone(), r.dir.clone());
                match job::poll(self.transport.as_ref(), &node, &dir, r.offset).await {
                    Ok(p) => {
                        if p.new_bytes > 0 {
                            r.offset += p.new_bytes;
                            r.tail.push_str(&p.new_output);
                            if r.tail.len() > 8192 {
                                r.tail = crate::transport::tail_bytes(&r.tail, 4096).to_string();
                            }
                            let ev =
                                Event::Output { step: r.step.id.clone(), node: node.name.clone(), text: p.new_output };
                            self.emit(ev);
                        }
                        let end = match p.state {
                            JobState::Done(rc) if r.offset >= p.out_size => {
                                Some((if rc == 0 { Outcome::Ok } else { Outcome::Failed }, Some(rc)))
                            }
                            JobState::Lost | JobState::Absent => Some((Outcome::Lost, None)),
                            _ => None,
                        };
                        if let Some((outcome, exit)) = end {
                            let tail = crate::transport::tail(&r.tail, 2000);
                            self.finish(&r.step, r.attempt, outcome, exit, tail.clone(), r.started.elapsed())?;
                            r.ended = Some((outcome, exit, tail));
                            continue;
                        }
                    }
                    Err(_) => self.transport.forget(&node).await,
                }
                open += 1;
                if Instant::now() >= r.deadline {
                    self.note(Level::Warning, format!("{} of {label} overran timeouts.step", r.step.id));
                    if !self.job_overran(&r.step, &node).await? {
                        return Err(super::ExecError::Interrupted);
                    }
                    r.deadline = Instant::now() + self.cluster.timeouts.step;
                }
            }
            if open == 0 {
                return Ok(());
            }
            tokio::time::sleep(pace).await;
            pace = (pace * 2).min(Duration::from_millis(300));
        }
    }

    fn finish(
        &mut self,
        step: &Step,
        attempt: u32,
        outcome: Outcome,
        exit: Option<i32>,
        tail: String,
        took: Duration,
    ) -> Res<()> {
        self.must_record(Record::StepFinished {
            step: step.id.clone(),
            attempt,
            outcome,
            exit,
            output_tail: tail,
            duration_ms: took.as_millis() as u64,
        })?;
        self.emit(Event::StepFinished { step: step.id.clone(), outcome, exit });
        Ok(())
    }

    /// After a wave: nothing failed, go on; failures the group's `max_failures` still tolerates
    /// are reported and their nodes left out; any other failure stops new batches (R11) and asks,
    /// naming every node of the batch and where each one is.
    async fn batch_failures(
        &mut self,
        group: Option<&str>,
        wave: &[Step],
        failed: Vec<Failed>,
        label: &str,
    ) -> Res<Flow> {
        if failed.is_empty() {
            return Ok(Flow::Next);
        }
        let allowed = group.and_then(|g| self.cluster.group(g)).map(|g| g.max_failures).unwrap_or(0);
        let so_far = group.and_then(|g| self.state.context.tolerated_failures.get(g)).map(|s| s.len()).unwrap_or(0);
        if let Some(group) = group
            && so_far + failed.len() <= allowed
        {
            let mut ctx = self.state.context.clone();
            for f in &failed {
                ctx.tolerated_failures.entry(group.to_string()).or_default().insert(f.step.node.clone());
                ctx.skipped_nodes.insert(f.step.node.clone());
            }
            let count = so_far + failed.len();
            for f in &failed {
                let text = format!(
                    "{} ({label}); tolerated under max_failures = {allowed} ({count} of {allowed} used): {} is left as it is and out of the rest of the run",
                    f.what, f.step.node
                );
                self.record(Record::Note { text: text.clone() });
                self.note(Level::Warning, text);
            }
            self.must_record(Record::Context { context: ctx })?;
            self.decided_change = Some(format!(
                "{} failed and {} tolerated (max_failures = {allowed}); planned without {}",
                failed.iter().map(|f| f.step.node.as_str()).collect::<Vec<_>>().join(", "),
                if failed.len() == 1 { "is" } else { "are" },
                if failed.len() == 1 { "it" } else { "them" }
            ));
            return Ok(Flow::Next);
        }
        let status: Vec<String> = wave
            .iter()
            .map(|s| match failed.iter().find(|f| f.step.id == s.id) {
                Some(_) => format!("{}: {} FAILED", s.node, s.action),
                None => format!("{}: {} done", s.node, s.action),
            })
            .collect();
        let tolerance = if allowed > 0 {
            format!(" ({so_far} of max_failures = {allowed} already used; {} more would exceed it)", failed.len())
        } else {
            String::new()
        };
        for f in failed {
            let what = format!(
                "{}. In {label}: {}. Nothing new starts until you decide{tolerance}.",
                f.what,
                status.join("; ")
            );
            let chosen = self.on_failure(&f.step, &what, &f.tail, f.stall.as_ref()).await?;
            let flow = match chosen {
                Chosen::Retry => self.run_step(&f.step).await?,
                Chosen::KeepWaiting => self.verify_step(&f.step).await?,
                Chosen::Then(flow) => flow,
            };
            if let Flow::End(e, m) = flow {
                return Ok(Flow::End(e, m));
            }
        }
        Ok(Flow::Next)
    }
}
