//! The switchover watch: after a switchover or failback command, rollpilot looks for the role
//! change under its own short timeout (`timeouts.switchover`), so a handover that did not happen
//! is reported right away with the command's output, instead of after the whole gate timeout.
//! A command that prints one of its kind's `switchover_refused` words (Sentinel's `ERR`,
//! patronictl's "not possible") is reported as refused at once, even when it exited 0.

use super::waits::Stall;
use super::{Exec, Res};
use crate::plan::gates::{Verdict, evaluate};
use crate::plan::{Action, Gate, Step};
use crate::run::events::Event;
use crate::run::journal::{Outcome, Record};
use std::time::Duration;
use tokio::time::Instant;

/// How often the watch looks at the group's roles.
const PACE: Duration = Duration::from_millis(500);
/// How much of the command's output a failure message quotes.
const QUOTE: usize = 400;

/// The end of the command's output, on one line, for a failure sentence.
fn quoted(output: &str) -> String {
    let t = output.trim();
    let start = t.char_indices().rev().nth(QUOTE).map(|(i, _)| i).unwrap_or(0);
    let tail = t[start..].split_whitespace().collect::<Vec<_>>().join(" ");
    if tail.is_empty() { "(nothing)".to_string() } else { format!("\"{}{tail}\"", if start > 0 { "…" } else { "" }) }
}

/// The refusal word of `words` that `output` contains, if any (matched as written).
pub(super) fn refusal_in<'a>(words: &'a [String], output: &str) -> Option<&'a str> {
    words.iter().map(String::as_str).find(|w| output.contains(w))
}

impl Exec {
    /// Watches a switchover or failback that exited 0: `Some(what went wrong)` when its output
    /// says it refused, or when no role moved within `timeouts.switchover`; `None` when the
    /// roles moved (or the step is not a handover), and its checks then run as usual.
    /// A handover whose roles did not move in time comes with how the check's fact moved
    /// meanwhile, so the operator may keep waiting for it; a refusal comes without.
    pub(super) async fn watch_switchover(&mut self, step: &Step, output: &str) -> Res<Option<(String, Option<Stall>)>> {
        let failed = self.watch(step, output).await?;
        if let Some((what, _)) = &failed {
            // The command exited 0, but the handover did not happen: the attempt is journaled
            // as failed, so a `resume` runs the switchover again instead of waiting at its check.
            let attempt = self.state.attempts.get(&step.id).copied().unwrap_or(1);
            self.must_record(Record::StepFinished {
                step: step.id.clone(),
                attempt,
                outcome: Outcome::Failed,
                exit: None,
                output_tail: what.clone(),
                duration_ms: 0,
            })?;
            self.emit(Event::StepFinished { step: step.id.clone(), outcome: Outcome::Failed, exit: None });
        }
        Ok(failed)
    }

    async fn watch(&mut self, step: &Step, output: &str) -> Res<Option<(String, Option<Stall>)>> {
        if !matches!(step.action, Action::Switchover | Action::Failback) {
            return Ok(None);
        }
        let Some((group, _)) = self.cluster.node(&step.node) else { return Ok(None) };
        let nodes: Vec<String> = group.nodes.iter().map(|n| n.name.clone()).collect();
        let group_name = group.name.clone();
        if let Some(kind) = self.cluster.kind_of(group)
            && let Some(word) = refusal_in(&kind.switchover_refused, output)
        {
            return Ok(Some((
                format!(
                    "{} on {}: the {} command refused: its output contains \"{word}\" (kinds.{}.switchover_refused), so no role moves; it printed {}",
                    step.id,
                    step.node,
                    step.action,
                    kind.name,
                    quoted(output)
                ),
                None,
            )));
        }
        let gates: Vec<Gate> = step
            .after
            .iter()
            .filter(|g| matches!(g, Gate::FailedOver { .. } | Gate::IsActive { .. }))
            .cloned()
            .collect();
        if gates.is_empty() {
            return Ok(None);
        }
        let limit = self.cluster.timeouts.switchover;
        let start = Instant::now();
        let deadline = start + limit;
        let mut seen: Option<Stall> = None;
        loop {
            let snap = self.poller.refresh_nodes(&nodes).await;
            let observed = snap.observed();
            let blocked = gates.iter().find_map(|g| match evaluate(g, &self.cluster, &observed) {
                Verdict::Blocked(why) => Some((g.clone(), why)),
                Verdict::Open(_) => None,
            });
            let Some((gate, why)) = blocked else { return Ok(None) };
            let now = Instant::now();
            let stall = seen.get_or_insert_with(|| Stall {
                first: why.clone(),
                last: why.clone(),
                changes: 0,
                unchanged_for: Duration::ZERO,
                waited: Duration::ZERO,
            });
            if why != stall.last {
                stall.changes += 1;
                stall.unchanged_for = Duration::ZERO;
            } else {
                stall.unchanged_for += now - (start + stall.waited);
            }
            stall.last = why.clone();
            stall.waited = now - start;
            if now >= deadline {
                self.record(Record::Gate {
                    step: step.id.clone(),
                    when: "after".into(),
                    gate: gate.clone(),
                    open: false,
                    facts: why.clone(),
                });
                return Ok(Some((
                    format!(
                        "{} on {}: no role moved in group {group_name} within {}s of the {} command (timeouts.switchover): {why}; the command printed {}",
                        step.id,
                        step.node,
                        limit.as_secs(),
                        step.action,
                        quoted(output)
                    ),
                    seen.take(),
                )));
            }
            self.emit(Event::Waiting {
                step: step.id.clone(),
                what: format!("{}: {} (switchover watch, timeouts.switchover)", gate.rule(), gate.describe()),
                blocker: why,
                remaining: deadline - now,
            });
            self.poll_commands();
            if self.interrupt_now {
                return Err(super::ExecError::Interrupted);
            }
            tokio::time::sleep(PACE.min(self.cluster.timeouts.refresh.max(Duration::from_millis(100)))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_words_match_as_written_and_the_output_is_quoted_on_one_line() {
        let words = vec!["not possible".to_string(), "ERR".to_string()];
        assert_eq!(refusal_in(&words, "Switchover is not possible: no candidate\n"), Some("not possible"));
        assert_eq!(refusal_in(&words, "(error) ERR no such master\n"), Some("ERR"));
        assert_eq!(refusal_in(&words, "errors: 0\nOK\n"), None);
        assert_eq!(quoted("line one\n  line two\n"), "\"line one line two\"");
        assert_eq!(quoted(""), "(nothing)");
        assert!(quoted(&"x".repeat(1000)).starts_with("\"…"));
    }
}
