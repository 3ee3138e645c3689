//! The step loop: plan from live facts before every step (the planner is called from here
//! only), say why the plan changed (R12), wait at the step's gates, ask for its confirmation,
//! then run it.

use super::questions::{choice, confirmation_question};
use super::runner::Executed;
use super::waits::GateWait;
use super::{Exec, Flow, Res};
use crate::plan::gates::{Verdict, evaluate};
use crate::plan::{self, Action, Confirm, Direction, Level, Plan, PlanRequest, Step};
use crate::probe::Snapshot;
use crate::run::events::*;
use crate::run::journal::{DecisionRecord, Outcome, Record};
use std::time::Duration;
use tokio::time::Instant;

/// How long the next node's sequence should take: the longest measured one of this run (nodes
/// of one run do the same steps), else `assumed` (its steps' and gates' timeouts), with the
/// basis in words for the message.
fn sequence_estimate(measured: &[Duration], assumed: impl FnOnce() -> Duration) -> (Duration, &'static str) {
    match measured.iter().max() {
        Some(m) => (*m, "the longest node so far"),
        None => (assumed(), "no node measured yet: its steps' and gates' timeouts"),
    }
}

/// A duration for an estimate: whole minutes (rounded up) from a minute on, "45s" below.
fn about(d: Duration) -> String {
    let s = d.as_secs();
    let s = if s >= 60 { s.div_ceil(60) * 60 } else { s };
    crate::config::duration::format_duration(Duration::from_secs(s))
}

impl Exec {
    /// The plan for the cluster as it is now, from this run's context.
    pub(super) fn plan_now(&self, snap: &Snapshot) -> Result<Plan, plan::Refusal> {
        let mut observed = snap.observed();
        // A node this run stopped and has not started since is stopped, even when its probes
        // cannot say so: an install that failed after removing the old software (then aborted,
        // or interrupted) leaves a node whose version and status commands no longer exist.
        for (name, o) in observed.nodes.iter_mut() {
            if o.reachable && o.version.is_none() && o.role != crate::model::Role::Stopped && self.stopped_by_run(name)
            {
                o.role = crate::model::Role::Stopped;
            }
        }
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

    /// Whether the last stop or start this run did on `node` was a stop.
    fn stopped_by_run(&self, node: &str) -> bool {
        self.state
            .done_steps
            .iter()
            .rev()
            .filter(|s| s.node == node)
            .find_map(|s| match s.action {
                Action::Stop | Action::FailbackStop => Some(true),
                Action::Start | Action::FailbackStart | Action::Rollback => Some(false),
                _ => None,
            })
            .unwrap_or(false)
    }

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

    /// The nodes of `group` and those `step` assumes something about.
    fn group_nodes(&self, group: &str, step: &Step) -> Vec<String> {
        let mut v: Vec<String> =
            self.cluster.group(group).map(|g| g.nodes.iter().map(|n| n.name.clone()).collect()).unwrap_or_default();
        for a in &step.assumes {
            if !v.contains(&a.node) {
                v.push(a.node.clone());
            }
        }
        v
    }

    /// What to look at before planning again: the node of the step the last plan expected next,
    /// the nodes it assumes something about and those its gates before decide on (for most
    /// gates, its group). The gates then reuse these facts; the rest of the cluster is looked at
    /// once a refresh interval.
    fn next_focus(&self) -> Vec<String> {
        let Some(next) =
            self.plan.as_ref().and_then(|p| p.steps().find(|s| !self.done_since_plan.contains(&s.id)).cloned())
        else {
            return Vec::new();
        };
        let mut focus = vec![next.node.clone()];
        // The nodes of the steps done since the plan was made: their effect must be seen before
        // planning again, or a step already done (an orchestrator's install, say) is planned anew.
        if let Some(plan) = &self.plan {
            for s in plan.steps().filter(|s| self.done_since_plan.contains(&s.id)) {
                if !focus.contains(&s.node) {
                    focus.push(s.node.clone());
                }
            }
        }
        let gated = next.before.iter().flat_map(|g| super::waits::gate_nodes(&self.cluster, g));
        for n in next.assumes.iter().map(|a| a.node.clone()).chain(gated) {
            if !focus.contains(&n) {
                focus.push(n);
            }
        }
        // Groups side by side: every lane's group is looked at, or a lane would be planned from
        // stale facts (a step it already ran planned again).
        if let Some(plan) = &self.plan
            && let Some(l) = &plan.lanes
        {
            let remaining = Plan { phases: self.remaining_phases(plan), ..plan.clone() };
            let mut groups: Vec<String> =
                super::batch::lane_wave(&remaining, &self.cluster, l.width).into_iter().map(|s| s.group).collect();
            groups.extend(self.done_since_plan.iter().filter_map(|id| id.split('/').next().map(str::to_string)));
            for g in groups {
                let nodes: Vec<String> = self
                    .cluster
                    .group(&g)
                    .map(|g| g.nodes.iter().map(|n| n.name.clone()).collect())
                    .unwrap_or_default();
                for n in nodes {
                    if !focus.contains(&n) {
                        focus.push(n);
                    }
                }
            }
        }
        focus
    }

    /// The phases of `plan` without the steps done since it was adopted.
    fn remaining_phases(&self, plan: &Plan) -> Vec<crate::plan::Phase> {
        plan.phases
            .iter()
            .map(|ph| crate::plan::Phase {
                steps: ph.steps.iter().filter(|s| !self.done_since_plan.contains(&s.id)).cloned().collect(),
                ..ph.clone()
            })
            .collect()
    }

    /// How the step count moved between two plans, for the progress line ("+1 step: …").
    fn count_change(old: &Plan, new: &Plan, done_since: &[String], reason: &str) -> Option<String> {
        let expected = old.steps().filter(|s| !done_since.contains(&s.id)).count() as i64;
        let now = new.steps().count() as i64;
        let d = now - expected;
        (d != 0).then(|| {
            format!("{}{d} step{}: {reason}", if d > 0 { "+" } else { "" }, if d.abs() == 1 { "" } else { "s" })
        })
    }

    pub(super) async fn steps(&mut self) -> Res<Flow> {
        let mut first = true;
        let mut unreachable_since: Option<Instant> = None;
        // Mid-run, a group seen with no active member is most often a failover still under way
        // (a leader that died, members electing another): wait for it, as a gate would, before
        // giving up on the run.
        let mut leaderless_since: Option<Instant> = None;
        loop {
            if let Flow::End(e, m) = self.wait_while_paused().await? {
                return Ok(Flow::End(e, m));
            }
            if let Flow::End(e, m) = self.lock_check() {
                return Ok(Flow::End(e, m));
            }
            // The first plan uses the round the run just made (one probe of each host before
            // step 1). Later ones look again at the group the plan expected to work on next (and
            // the nodes its next step assumed), and at the whole cluster once a refresh interval.
            self.facts_since = None;
            let snap = if first {
                self.poller.current()
            } else {
                let looked = Instant::now();
                let focus = self.next_focus();
                let poller = self.poller.clone();
                let every = self.cluster.timeouts.refresh;
                // The lock's fencing check rides along with the probes (see `fence`).
                let snap = self
                    .confirm_lock_while(async move {
                        if !focus.is_empty() {
                            poller.refresh_nodes(&focus).await;
                        }
                        poller.refresh_since(Instant::now().checked_sub(every).unwrap_or_else(Instant::now)).await
                    })
                    .await;
                self.facts_since = Some(looked);
                snap
            };
            let plan = match self.plan_now(&snap) {
                Ok(p) => {
                    leaderless_since = None;
                    unreachable_since = None;
                    p
                }
                Err(r) if r.is_unreachable() && !first => {
                    // Mid-run a host may be rebooting or its sshd restarting: wait, visibly.
                    let since = *unreachable_since.get_or_insert_with(Instant::now);
                    let left = self.cluster.timeouts.gate.saturating_sub(since.elapsed());
                    let why = r.findings.iter().map(|f| f.message.clone()).collect::<Vec<_>>().join("; ");
                    if left.is_zero() {
                        self.back_to_asking("hosts stay unreachable");
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
                                    Answer::KeepWaiting,
                                    "Keep waiting",
                                    "wait another gate timeout for the hosts to answer",
                                    false,
                                ),
                            ],
                        );
                        match self.ask(q).await?.0 {
                            Answer::KeepWaiting => {
                                self.decided("reach", DecisionRecord::KeepWaiting, None);
                                unreachable_since = None;
                            }
                            _ => {
                                if !self.interrupt {
                                    self.decided("reach", DecisionRecord::Abort, None);
                                }
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
                    let leaderless = !first
                        && !r.findings.is_empty()
                        && r.findings.iter().all(|f| f.rule == Some(crate::plan::Rule::SafeToStop));
                    if leaderless {
                        let since = *leaderless_since.get_or_insert_with(Instant::now);
                        if let Some(left) = self.cluster.timeouts.gate.checked_sub(since.elapsed()) {
                            self.emit(Event::Waiting {
                                step: "(next step)".into(),
                                what: "R5 safe-to-stop: every group has an active member again".into(),
                                blocker: text.trim().to_string(),
                                remaining: left,
                            });
                            tokio::time::sleep(self.cluster.timeouts.refresh).await;
                            continue;
                        }
                    }
                    self.record(Record::Note { text: text.clone() });
                    let end = if r.is_unreachable() { RunEnd::Unreachable } else { RunEnd::Refused };
                    return Ok(Flow::End(end, text.trim().to_string()));
                }
            };
            let mut change = None;
            if first {
                first = false;
                let reason = if self.cfg.resume.is_some() {
                    "resumed: planned from the cluster as it is now"
                } else {
                    "initial plan"
                };
                self.must_record(Record::Planned { reason: reason.into(), plan: plan.clone() })?;
                self.emit(Event::Planned { plan: Box::new(plan.clone()), reason: reason.into() });
            } else if let Some(old) = self.plan.clone()
                && let Some(drift) = Self::drift_reason(&old, &plan, &snap, &self.done_since_plan)
            {
                let reason = match self.decided_change.take() {
                    Some(why) => why,
                    None => {
                        self.note(Level::Warning, drift.clone());
                        self.back_to_asking("the cluster drifted (R12)");
                        drift
                    }
                };
                change = Self::count_change(&old, &plan, &self.done_since_plan, &reason);
                self.must_record(Record::Planned { reason: reason.clone(), plan: plan.clone() })?;
                self.emit(Event::Planned { plan: Box::new(plan.clone()), reason });
            }
            self.plan = Some(plan.clone());
            self.done_since_plan.clear();
            self.decided_change = None;
            self.emit_progress(change);
            let Some(step) = plan.steps().next().cloned() else {
                let msg = if plan.direction == Direction::Nothing && self.state.done.is_empty() {
                    format!("nothing to do: every node of {} already runs {}", self.cluster.name, self.cfg.target)
                } else {
                    format!("{} runs {} ({} steps)", self.cluster.name, self.cfg.target, self.state.done_steps.len())
                };
                let tolerated: Vec<String> = self
                    .state
                    .context
                    .tolerated_failures
                    .iter()
                    .map(|(g, ns)| format!("{} in {g}", ns.iter().cloned().collect::<Vec<_>>().join(", ")))
                    .collect();
                let msg = if tolerated.is_empty() {
                    msg
                } else {
                    format!(
                        "{msg}, except the nodes whose failure was tolerated (max_failures), left as they were: {}",
                        tolerated.join("; ")
                    )
                };
                return Ok(Flow::End(RunEnd::Done, msg));
            };
            if let Some(end) = self.window_check(&step, &plan) {
                return Ok(end);
            }
            let flow = if step.action == Action::Preflight {
                self.preflight(&plan).await?
            } else if let Some(batch) = plan.batch_of(&step.node).cloned() {
                self.batch_wave(&plan, &batch).await?
            } else if let Some(lanes) = plan.lanes.clone()
                && super::batch::lane_wave(&plan, &self.cluster, lanes.width).len() > 1
            {
                self.together(&plan, &super::batch::Together::Lanes(lanes)).await?
            } else {
                self.one_step(&step).await?
            };
            match flow {
                Flow::Next => continue,
                end => return Ok(end),
            }
        }
    }

    /// Before a node's sequence begins (its `stop`, after another node's steps): stop here,
    /// safely, when the estimate says the node would not finish before the deadline. The
    /// estimate is the longest measured sequence of this run; before one was measured, the
    /// node's step and gate timeouts (the longest it may take without asking anyone).
    fn window_check(&mut self, step: &Step, plan: &Plan) -> Option<Flow> {
        if step.action != Action::Stop || self.sequence.as_ref().is_some_and(|(n, _)| *n == step.node) {
            return None;
        }
        if let Some((_, began)) = self.sequence.take() {
            self.sequences.push(began.elapsed());
        }
        if let Some(d) = &self.cfg.deadline {
            let assumed = || {
                let t = &self.cluster.timeouts;
                plan.steps()
                    .skip_while(|s| s.id != step.id)
                    .take_while(|s| s.node == step.node)
                    .map(|s| t.step + t.gate * (s.before.len() + s.after.len()) as u32)
                    .sum::<Duration>()
            };
            let (estimate, basis) = sequence_estimate(&self.sequences, assumed);
            let left = d.at.as_second() - jiff::Timestamp::now().as_second();
            if left < estimate.as_secs() as i64 {
                let when = if left > 0 {
                    format!("{} ends in {}", d.what, about(Duration::from_secs(left as u64)))
                } else {
                    format!("{} has ended", d.what)
                };
                let what = format!(
                    "{when}; the next node ({}) takes about {} by the estimate ({basis}): stopped here, safely",
                    step.node,
                    about(estimate)
                );
                self.note(Level::Warning, what.clone());
                return Some(Flow::End(RunEnd::Window, self.resume_hint(&what)));
            }
        }
        self.sequence = Some((step.node.clone(), Instant::now()));
        None
    }

    /// R13: runs every preflight check of the plan (read-only, one per host) before anything is
    /// touched, and refuses the run (exit 3) naming each host that failed with its output tail.
    /// All hosts are checked even after a failure, so the operator fixes everything at once.
    async fn preflight(&mut self, plan: &Plan) -> Res<Flow> {
        let checks: Vec<Step> = plan.steps().filter(|s| s.action == Action::Preflight).cloned().collect();
        let mut failed: Vec<String> = Vec::new();
        for s in &checks {
            match self.execute(s).await? {
                Executed::Stopped(flow) => return Ok(flow),
                Executed::Ran(Outcome::Ok, _, _) => self.step_done(s)?,
                Executed::Ran(outcome, exit, tail) => {
                    let how = match (outcome, exit) {
                        (Outcome::Failed, Some(c)) => format!("exit {c}"),
                        (Outcome::TimedOut, _) => "timed out".to_string(),
                        _ => "did not finish".to_string(),
                    };
                    let tail = crate::transport::tail(tail.trim(), 300);
                    failed.push(format!(
                        "{} ({how}): {}",
                        s.node,
                        if tail.is_empty() { "no output".to_string() } else { tail }
                    ));
                }
            }
            if self.interrupt {
                return Ok(Flow::End(RunEnd::Interrupted, self.resume_hint("interrupted during preflight")));
            }
        }
        if !failed.is_empty() {
            let text = format!(
                "R13 preflight refused the run: {} of {} hosts failed their check; nothing was touched\n{}",
                failed.len(),
                checks.len(),
                failed.iter().map(|f| format!("  - {f}")).collect::<Vec<_>>().join("\n")
            );
            self.record(Record::Note { text: text.clone() });
            return Ok(Flow::End(RunEnd::Refused, text));
        }
        let mut ctx = self.state.context.clone();
        ctx.preflight_done = true;
        self.must_record(Record::Context { context: ctx })?;
        self.note(Level::Info, format!("R13 preflight: all {} hosts passed their checks", checks.len()));
        Ok(Flow::Next)
    }

    async fn one_step(&mut self, step: &Step) -> Res<Flow> {
        // The plan must converge: a step already done twice in this run means its effect is not
        // visible to the probes (or something undoes it). Never loop silently (R11).
        let done_before = self.state.done_count.get(&step.id).copied().unwrap_or(0);
        if done_before >= 2 {
            let what = format!(
                "{} was already done {done_before} times in this run and is planned again: the probes do not show its effect on {} (check the kind's probes and parsers), or something undoes it",
                step.id, step.node
            );
            return self.recover(step, &what, "").await;
        }
        // Gates before the step: wait patiently, showing what blocks (R5). Their first look
        // reuses the facts the step loop just probed to plan this step (nothing ran since).
        let mut fresh_since = self.facts_since.take();
        for g in step.before.clone() {
            match self.wait_gate_from(step, &g, "before", &mut fresh_since).await? {
                GateWait::Held => {}
                GateWait::TimedOut(stall) => return self.gate_failed(step, &g, &stall).await,
            }
        }
        // Confirmation, carrying this step's id; the rest of a confirmed sequence is not asked again.
        let covered = matches!(step.confirm, Confirm::Yes | Confirm::Typed)
            && !step.irreversible
            && self.approved.contains(&(step.id.clone(), step.command.clone()));
        if step.confirm != Confirm::None && !covered && self.policy_approves(step) {
            self.approve_by_policy(step);
            self.approve_sequence(step);
        } else if step.confirm != Confirm::None && !covered {
            if let Some(flow) = self.confirm(step).await? {
                return Ok(flow);
            }
            // Time passed while the operator read: re-check before acting (R12).
            let focus = self.group_nodes(&step.group, step);
            self.poller.refresh_nodes(&focus).await;
            let snap = self
                .poller
                .refresh_since(Instant::now().checked_sub(self.cluster.timeouts.refresh).unwrap_or_else(Instant::now))
                .await;
            match self.plan_now(&snap) {
                Ok(p) if p.steps().next().map(|s| (&s.id, &s.command)) == Some((&step.id, &step.command)) => {
                    for g in &step.before {
                        if let Verdict::Blocked(why) = evaluate(g, &self.cluster, &snap.observed()) {
                            self.note(
                                Level::Warning,
                                format!("{} no longer holds ({why}); waiting again before {}", g.describe(), step.id),
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
        self.run_step(step).await
    }

    /// The steps that follow a confirmed one in the plan shown, up to the next with its own
    /// prompt, ride on its confirmation.
    pub(super) fn approve_sequence(&mut self, step: &Step) {
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
    }

    /// Asks for the step's confirmation. `None` means approved.
    async fn confirm(&mut self, step: &Step) -> Res<Option<Flow>> {
        let id = self.next_question_id();
        let q = confirmation_question(step, id, &self.cluster.name);
        let (answer, typed) = self.ask(q).await?;
        match answer {
            Answer::Proceed => {
                self.decided(&step.id, DecisionRecord::Proceed, typed);
                self.canaried.insert(step.group.clone());
                self.approve_sequence(step);
                Ok(None)
            }
            Answer::Decline if step.action == Action::Finalize => {
                self.decided(&step.id, DecisionRecord::Decline, None);
                let mut ctx = self.state.context.clone();
                if let Some(g) = self.cluster.group(&step.group) {
                    ctx.finalize_deferred.insert(g.kind.clone());
                }
                self.must_record(Record::Context { context: ctx })?;
                self.note(
                    Level::Info,
                    format!(
                        "finalize deferred: the cluster stays downgradable; finalize later with `rollpilot finalize -c {}`",
                        self.cfg.config_path.display()
                    ),
                );
                self.decided_change = Some("the operator deferred finalize; planned without it".into());
                Ok(Some(Flow::Next))
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_is_the_longest_measured_node_else_the_stated_assumption() {
        let m = [Duration::from_secs(300), Duration::from_secs(1200), Duration::from_secs(600)];
        assert_eq!(
            sequence_estimate(&m, || Duration::from_secs(1)),
            (Duration::from_secs(1200), "the longest node so far")
        );
        let (d, basis) = sequence_estimate(&[], || Duration::from_secs(2100));
        assert_eq!(d, Duration::from_secs(2100));
        assert!(basis.starts_with("no node measured yet"));
        assert_eq!(about(Duration::from_secs(1201)), "21m");
        assert_eq!(about(Duration::from_secs(45)), "45s");
        assert_eq!(about(Duration::from_secs(3600)), "1h");
    }
}
