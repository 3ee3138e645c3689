//! The recovery contract (R11, DESIGN.md §4b): after a failure nothing else is touched until the
//! operator chooses, and each choice does exactly what its label says — Retry runs the step's
//! command again as a new attempt; Keep waiting waits another gate timeout for the same check;
//! Roll back node installs the version the node ran when the run first saw it, starts it and
//! verifies it; Skip (typed) leaves the node and plans again; Abort stops, leaving the cluster
//! as it is.

use super::questions::{choice, recovery_question};
use super::waits::{GateWait, Stall};
use super::{Exec, Flow, Res};
use crate::plan::{self, Level, Step};
use crate::run::events::*;
use crate::run::journal::{DecisionRecord, Outcome, Record};
use semver::Version;

/// What the operator chose after a failure.
pub(super) enum Chosen {
    /// Run the step's command again as a new attempt, then its checks.
    Retry,
    /// Wait another gate timeout for the same check.
    KeepWaiting,
    /// Handled here (rollback, skip, abort): go on with this flow.
    Then(Flow),
}

impl Exec {
    /// The version a rollback of `node` installs: the one it ran when this run first saw it.
    fn original_version(&self, node: &str) -> Option<Version> {
        self.state.context.original_versions.get(node).cloned()
    }

    /// Asks what to do after `step` failed (`stall` set when its checks timed out) and carries
    /// the choice out, except Retry and Keep waiting which the caller loops on.
    pub(super) async fn on_failure(
        &mut self,
        step: &Step,
        what: &str,
        tail: &str,
        stall: Option<&Stall>,
    ) -> Res<Chosen> {
        self.record(Record::Note { text: what.to_string() });
        self.back_to_asking(&format!("{} failed", step.id));
        let previous = self.original_version(&step.node);
        let id = self.next_question_id();
        // A node whose kind cannot be started (a component) is only reinstalled by a rollback.
        let starts = self
            .cluster
            .node(&step.node)
            .and_then(|(g, _)| self.cluster.kind_of(g))
            .is_none_or(|k| k.commands.start.is_some());
        let trend = stall.map(|s| s.describe());
        let q = recovery_question(
            step,
            id,
            &self.cluster.name,
            what,
            if stall.is_some() { "" } else { tail },
            previous.as_ref(),
            trend.as_deref(),
            starts,
        );
        let (a, typed) = self.ask(q).await?;
        match a {
            Answer::Retry => {
                self.decided(&step.id, DecisionRecord::Retry, None);
                Ok(Chosen::Retry)
            }
            Answer::KeepWaiting => {
                self.decided(&step.id, DecisionRecord::KeepWaiting, None);
                Ok(Chosen::KeepWaiting)
            }
            Answer::Skip if super::questions::skips_step_only(step) => {
                // A run-level step (health, restore...) or a drain: skipping it skips the step,
                // not the host it runs on.
                self.decided(&step.id, DecisionRecord::Skip { node: step.node.clone() }, typed);
                if step.action == crate::plan::Action::Finalize {
                    // A finalize that failed did not cross the point of no return: deferred.
                    let mut ctx = self.state.context.clone();
                    if let Some(g) = self.cluster.group(&step.group) {
                        ctx.finalize_deferred.insert(g.kind.clone());
                    }
                    self.must_record(Record::Context { context: ctx })?;
                    self.note(
                        Level::Warning,
                        format!(
                            "{} skipped by the operator: not finalized; finalize later with `rollpilot finalize`",
                            step.id
                        ),
                    );
                } else {
                    self.note(
                        Level::Warning,
                        format!("{} skipped by the operator: recorded as done without success", step.id),
                    );
                    self.step_done(step)?;
                }
                self.decided_change = Some(format!("{} was skipped by the operator; planned without it", step.id));
                Ok(Chosen::Then(Flow::Next))
            }
            Answer::Skip => {
                self.decided(&step.id, DecisionRecord::Skip { node: step.node.clone() }, typed);
                self.skip_node(&step.node)?;
                Ok(Chosen::Then(Flow::Next))
            }
            Answer::Rollback => {
                self.decided(&step.id, DecisionRecord::Rollback, None);
                let Some(prev) = previous else {
                    return Ok(Chosen::Then(Flow::End(
                        RunEnd::Aborted,
                        self.resume_hint(&format!("aborted: the version {} ran before is not known", step.node)),
                    )));
                };
                if let Some(flow) = self.rollback(step, &prev).await? {
                    return Ok(Chosen::Then(flow));
                }
                self.after_rollback(step, &prev).await.map(Chosen::Then)
            }
            _ => {
                if self.interrupt {
                    return Ok(Chosen::Then(Flow::End(RunEnd::Interrupted, self.resume_hint("interrupted"))));
                }
                self.decided(&step.id, DecisionRecord::Abort, None);
                let what = format!("aborted after {what}{}", self.still_offline());
                Ok(Chosen::Then(Flow::End(RunEnd::Aborted, self.resume_hint(&what))))
            }
        }
    }

    /// What an abort leaves behind that the operator must know at once: services taken offline
    /// for an offline-only component are still offline ("" when none is).
    fn still_offline(&self) -> String {
        let services = &self.state.context.offline_services;
        if services.is_empty() {
            return String::new();
        }
        let names = services.iter().cloned().collect::<Vec<_>>().join(", ");
        format!("; {names} is still OFFLINE (clients cannot reach it until the run brings it back online)")
    }

    /// A failure found before the step ran (a plan that does not converge): Retry runs it.
    pub(super) async fn recover(&mut self, step: &Step, what: &str, tail: &str) -> Res<Flow> {
        match self.on_failure(step, what, tail, None).await? {
            Chosen::Retry | Chosen::KeepWaiting => self.run_step(step).await,
            Chosen::Then(flow) => Ok(flow),
        }
    }

    fn skip_node(&mut self, node: &str) -> Res<()> {
        let mut ctx = self.state.context.clone();
        ctx.skipped_nodes.insert(node.to_string());
        self.must_record(Record::Context { context: ctx })?;
        self.note(Level::Warning, format!("{node} skipped by the operator: it is not touched again in this run"));
        self.decided_change = Some(format!("{node} was skipped by the operator; planned without it"));
        Ok(())
    }

    /// Runs the rollback steps of a node; `Some(flow)` when the run ends there (the operator
    /// aborted on a failed rollback step).
    async fn rollback(&mut self, failed: &Step, prev: &Version) -> Res<Option<Flow>> {
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
            let mut rerun = true;
            loop {
                let mut why = None;
                if rerun {
                    match self.execute(&s).await? {
                        super::runner::Executed::Stopped(flow) => return Ok(Some(flow)),
                        super::runner::Executed::Ran(Outcome::Ok, _, _) => {}
                        super::runner::Executed::Ran(_, exit, tail) => {
                            why = Some(format!(
                                "exit {}: {tail}",
                                exit.map(|c| c.to_string()).unwrap_or_else(|| "?".into())
                            ))
                        }
                    }
                }
                let mut stalled = false;
                if why.is_none() {
                    for g in s.after.clone() {
                        if let GateWait::TimedOut(stall) = self.wait_gate(&s, &g, "after").await? {
                            why = Some(format!("{} {}: {}", g.rule(), g.describe(), stall.describe()));
                            stalled = true;
                            break;
                        }
                    }
                }
                let Some(why) = why else {
                    self.step_done(&s)?;
                    break;
                };
                let mut choices =
                    vec![choice(Answer::Abort, "Abort", "stop here; repair the node by hand, then `resume`", false)];
                if stalled {
                    choices.push(choice(
                        Answer::KeepWaiting,
                        "Keep waiting",
                        "wait another gate timeout for the same check",
                        false,
                    ));
                }
                choices.push(choice(Answer::Retry, "Retry", "run this rollback step again as a new attempt", false));
                let q = self.question(
                    &s.id,
                    QuestionKind::Failure,
                    format!("Rollback step {} failed", s.id),
                    vec![why, format!("{} needs attention; nothing else is touched.", failed.node)],
                    choices,
                );
                match self.ask(q).await?.0 {
                    Answer::Retry => {
                        self.decided(&s.id, DecisionRecord::Retry, None);
                        rerun = true;
                    }
                    Answer::KeepWaiting => {
                        self.decided(&s.id, DecisionRecord::KeepWaiting, None);
                        rerun = false;
                    }
                    _ => {
                        if !self.interrupt {
                            self.decided(&s.id, DecisionRecord::Abort, None);
                        }
                        return Ok(Some(Flow::End(
                            RunEnd::Aborted,
                            self.resume_hint(&format!("aborted: the rollback of {} did not finish", failed.node)),
                        )));
                    }
                }
            }
        }
        Ok(None)
    }

    async fn after_rollback(&mut self, failed: &Step, prev: &Version) -> Res<Flow> {
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
            Answer::Retry => {
                self.decided(&failed.id, DecisionRecord::Retry, None);
                self.decided_change = Some(format!("{} was rolled back; planned again", failed.node));
                Ok(Flow::Next)
            }
            Answer::Skip => {
                self.decided(&failed.id, DecisionRecord::Skip { node: failed.node.clone() }, typed);
                self.skip_node(&failed.node)?;
                Ok(Flow::Next)
            }
            _ => {
                if self.interrupt {
                    return Ok(Flow::End(RunEnd::Interrupted, self.resume_hint("interrupted")));
                }
                self.decided(&failed.id, DecisionRecord::Abort, None);
                Ok(Flow::End(
                    RunEnd::Aborted,
                    self.resume_hint(&format!("stopped after rolling {} back to {prev}", failed.node)),
                ))
            }
        }
    }
}
