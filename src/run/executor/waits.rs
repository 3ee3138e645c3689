//! Waiting at gates: before a step (R5: wait patiently, showing what blocks) and after it (R6:
//! the node is back and in sync). A wait that times out says what the check last saw and
//! whether that was still moving ("progressing") or not ("stuck"), and offers to keep waiting.

use super::recovery::Chosen;
use super::{Exec, Flow, Res};
use crate::model::GroupType;
use crate::plan::gates::{Verdict, evaluate};
use crate::plan::{Action, Gate, Step};
use crate::run::events::*;
use crate::run::journal::{DecisionRecord, Record};
use std::time::Duration;
use tokio::time::Instant;

/// How a gate's facts moved while it was waited for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stall {
    /// What blocked at the start of the wait.
    pub first: String,
    /// What blocked at its end.
    pub last: String,
    /// How many times the blocker changed during the wait.
    pub changes: u32,
    /// How long the blocker had not changed at the end.
    pub unchanged_for: Duration,
    /// How long the wait was.
    pub waited: Duration,
}

impl Stall {
    /// Whether the fact was still moving: it changed within the last half of the wait.
    pub fn progressing(&self) -> bool {
        self.changes > 0 && self.unchanged_for < self.waited / 2
    }

    /// One sentence for the operator: the last value, the first, and the trend.
    pub fn describe(&self) -> String {
        let trend = if self.progressing() {
            format!(
                "progressing: it changed {} time{} during the wait, last {}s ago",
                self.changes,
                if self.changes == 1 { "" } else { "s" },
                self.unchanged_for.as_secs()
            )
        } else {
            format!("stuck: unchanged for the last {}s", self.unchanged_for.as_secs())
        };
        if self.first == self.last {
            format!("The check last saw: {}. Trend: {trend}.", self.last)
        } else {
            format!("The check last saw: {} (at the start of the wait: {}). Trend: {trend}.", self.last, self.first)
        }
    }
}

/// The end of a wait at a gate.
pub(super) enum GateWait {
    /// It holds (its facts are journaled).
    Held,
    /// Its deadline passed; how the facts moved.
    TimedOut(Stall),
}

/// The end of a step's checks.
pub(super) enum Verified {
    /// Its checks held: the step is done (journaled).
    Done,
    /// The operator chose to run its command again as a new attempt.
    Retry,
    /// The operator decided something else (skip, rollback, abort).
    Then(Flow),
}

/// The nodes whose facts decide a gate: its group's members, or its one node.
pub(super) fn gate_nodes(cluster: &crate::model::Cluster, gate: &Gate) -> Vec<String> {
    let group = match gate {
        Gate::SafeToStop { group, .. }
        | Gate::PeersReady { group, .. }
        | Gate::Quorum { group, .. }
        | Gate::FailedOver { group, .. }
        | Gate::HasActive { group, .. }
        | Gate::NoActive { group, .. }
        | Gate::BatchQuorum { group, .. }
        | Gate::SameVersion { group, .. } => group,
        Gate::Stopped { node } | Gate::IsActive { node } | Gate::Rejoined { node } | Gate::VersionIs { node, .. } => {
            return vec![node.clone()];
        }
    };
    cluster.group(group).map(|g| g.nodes.iter().map(|n| n.name.clone()).collect()).unwrap_or_default()
}

/// The pace of a focused gate wait after `blocked` looks that did not hold: quick at first (a
/// service that comes up within a few tens of milliseconds of its start command is seen then,
/// not a quarter of a second later), doubling up to 250 ms; never faster than twice what a look
/// at those nodes costs, nor slower than the refresh.
fn focused_pace(refresh: Duration, last_look: Duration, blocked: u32) -> Duration {
    let cap = Duration::from_millis(250);
    let floor = (Duration::from_millis(25) * 2u32.saturating_pow(blocked.saturating_sub(1).min(4))).min(cap);
    (last_look * 2).max(floor).min(refresh.max(cap))
}

impl Exec {
    /// Waits for a gate until it holds or a gate timeout passes. The gate's own nodes are
    /// looked at right away and then at a quick pace; the whole cluster at the refresh interval.
    pub(super) async fn wait_gate(&mut self, step: &Step, gate: &Gate, when: &str) -> Res<GateWait> {
        self.wait_gate_from(step, gate, when, &mut None).await
    }

    /// [`Exec::wait_gate`] whose first look accepts facts probed at or after `fresh_since`: the
    /// step loop's look at the group just before planning this step, with nothing run since.
    /// Those facts are not read twice; every later look probes again. A gate that did not hold
    /// at once clears `fresh_since`, so the gates after it do not take facts from before the wait.
    pub(super) async fn wait_gate_from(
        &mut self,
        step: &Step,
        gate: &Gate,
        when: &str,
        fresh_since: &mut Option<Instant>,
    ) -> Res<GateWait> {
        let start = Instant::now();
        let deadline = start + self.cluster.timeouts.gate;
        let mut first: Option<String> = None;
        let mut last_blocker = String::new();
        let mut changes = 0u32;
        let mut changed_at = start;
        let nodes = gate_nodes(&self.cluster, gate);
        let mut since = *fresh_since;
        let mut blocked = 0u32;
        loop {
            let looked = Instant::now();
            let snap = self.poller.refresh_nodes_since(&nodes, since.take().unwrap_or(looked)).await;
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
                    return Ok(GateWait::Held);
                }
                Verdict::Blocked(why) => {
                    let now = Instant::now();
                    if first.is_none() {
                        first = Some(why.clone());
                    } else if why != last_blocker {
                        changes += 1;
                        changed_at = now;
                    }
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
                        return Ok(GateWait::TimedOut(Stall {
                            first: first.unwrap_or_else(|| why.clone()),
                            last: why,
                            changes,
                            unchanged_for: now - changed_at,
                            waited: now - start,
                        }));
                    }
                    last_blocker = why.clone();
                    blocked += 1;
                    *fresh_since = None;
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
                return Err(super::ExecError::Interrupted);
            }
            tokio::time::sleep(focused_pace(self.cluster.timeouts.refresh, looked.elapsed(), blocked)).await;
        }
    }

    /// A step's checks (R6): each gate after it must hold. A check that times out asks:
    /// keep waiting (the same check again), retry (the command again), roll back, skip, abort.
    pub(super) async fn verify(&mut self, step: &Step) -> Res<Verified> {
        for g in step.after.clone() {
            loop {
                match self.wait_gate(step, &g, "after").await? {
                    GateWait::Held => break,
                    GateWait::TimedOut(stall) => {
                        let what = format!(
                            "{} {} did not hold within {}s: {}",
                            g.rule(),
                            g.describe(),
                            self.cluster.timeouts.gate.as_secs(),
                            stall.last
                        );
                        match self.on_failure(step, &what, "", Some(&stall)).await? {
                            Chosen::KeepWaiting => continue,
                            Chosen::Retry => return Ok(Verified::Retry),
                            Chosen::Then(flow) => return Ok(Verified::Then(flow)),
                        }
                    }
                }
            }
        }
        self.step_done(step)?;
        Ok(Verified::Done)
    }

    /// Journals a step as done and what the run's context learns from it.
    pub(super) fn step_done(&mut self, step: &Step) -> Res<()> {
        // What the run learns from the step goes to the journal before the step is marked done:
        // after a crash in between, the step is checked again and marked done then, and facts
        // the probes cannot see (a drained node, a restore owed) are never lost.
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
            Action::Before => {
                if let Some(k) = self.cluster.group(&step.group).map(|g| g.kind.clone()) {
                    ctx.restore_done.remove(&k);
                    ctx.before_done.insert(k);
                }
            }
            Action::Restore => {
                if let Some(k) = self.cluster.group(&step.group).map(|g| g.kind.clone()) {
                    ctx.restore_done.insert(k);
                }
            }
            Action::Health => {
                if let Some(k) = self.cluster.group(&step.group).map(|g| g.kind.clone()) {
                    ctx.health_done.insert(k);
                }
            }
            Action::Finalize => {
                if let (Some(k), Some(v)) = (self.cluster.group(&step.group).map(|g| g.kind.clone()), &step.version) {
                    ctx.finalize_deferred.remove(&k);
                    ctx.finalized.insert(k, v.clone());
                }
            }
            Action::Drain => {
                ctx.drained.insert(step.node.clone());
            }
            Action::Undrain => {
                ctx.drained.remove(&step.node);
            }
            Action::Offline | Action::Online => {
                let service = self.cluster.group(&step.group).and_then(|g| g.service.clone()).or_else(|| {
                    self.cluster.groups.iter().find(|x| x.gtype == GroupType::Server).map(|x| x.name.clone())
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
        self.must_record(Record::StepDone { step: step.id.clone() })?;
        self.emit(Event::StepDone { step: step.id.clone() });
        self.done_since_plan.push(step.id.clone());
        self.emit_progress(None);
        Ok(())
    }

    /// A gate before a step did not hold in time: nothing was done yet, so only keeping on
    /// waiting or stopping make sense.
    pub(super) async fn gate_failed(&mut self, step: &Step, gate: &Gate, stall: &Stall) -> Res<Flow> {
        let what = format!(
            "{} {} did not hold within {}s: {}",
            gate.rule(),
            gate.describe(),
            self.cluster.timeouts.gate.as_secs(),
            stall.last
        );
        self.record(Record::Note { text: what.clone() });
        self.back_to_asking(&format!("a gate before {} timed out", step.id));
        let q = self.question(
            &step.id,
            QuestionKind::Failure,
            format!("Gate blocks {}", step.id),
            vec![
                what.clone(),
                stall.describe(),
                "Nothing has been done to this node yet; nothing else is touched (R11).".into(),
            ],
            vec![
                super::questions::choice(
                    Answer::Abort,
                    "Abort",
                    "stop here; the cluster is left as it is, the journal is kept for `resume`",
                    false,
                ),
                super::questions::choice(
                    Answer::KeepWaiting,
                    "Keep waiting",
                    "wait another gate timeout for the same condition",
                    false,
                ),
            ],
        );
        let (a, _) = self.ask(q).await?;
        if a == Answer::KeepWaiting {
            self.decided(&step.id, DecisionRecord::KeepWaiting, None);
            return Ok(Flow::Next);
        }
        if self.interrupt {
            return Ok(Flow::End(RunEnd::Interrupted, self.resume_hint("interrupted")));
        }
        self.decided(&step.id, DecisionRecord::Abort, None);
        Ok(Flow::End(RunEnd::Aborted, self.resume_hint(&format!("aborted: {what}"))))
    }
}

#[cfg(test)]
mod tests {
    use super::{Stall, focused_pace};
    use std::time::Duration;

    #[test]
    fn a_blocked_gate_looks_again_soon_then_less_often() {
        let ms = Duration::from_millis;
        let refresh = Duration::from_secs(2);
        let paces: Vec<Duration> = (1..=7).map(|b| focused_pace(refresh, ms(1), b)).collect();
        assert_eq!(paces, [ms(25), ms(50), ms(100), ms(200), ms(250), ms(250), ms(250)]);
        // Never faster than twice what a look costs, never slower than the refresh.
        assert_eq!(focused_pace(refresh, ms(90), 1), ms(180));
        assert_eq!(focused_pace(refresh, ms(3000), 1), refresh);
    }

    #[test]
    fn a_fact_that_moved_lately_is_progressing_one_that_did_not_is_stuck() {
        let moving = Stall {
            first: "lag 4 GB".into(),
            last: "lag 1.2 GB".into(),
            changes: 7,
            unchanged_for: Duration::from_secs(2),
            waited: Duration::from_secs(600),
        };
        assert!(moving.progressing());
        assert!(moving.describe().contains("lag 1.2 GB (at the start of the wait: lag 4 GB)"), "{}", moving.describe());
        assert!(moving.describe().contains("progressing"));
        let stuck = Stall { changes: 1, unchanged_for: Duration::from_secs(500), ..moving.clone() };
        assert!(!stuck.progressing());
        assert!(stuck.describe().contains("stuck: unchanged for the last 500s"), "{}", stuck.describe());
    }
}
