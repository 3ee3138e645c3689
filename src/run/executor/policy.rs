//! The pause policy (`--pause every|first|none`, charm-refresh's all/first/none): which
//! confirmations the operator gives. `first` confirms the first node sequence of each group (a
//! canary), then goes on by itself while every gate holds; `none` asks only typed and optional
//! questions. Any failure, drift or gate that times out returns to asking (`every`). Every change
//! is journaled, and a step that went on by itself is journaled as approved by the policy.

use super::Exec;
use crate::plan::Step;
use crate::run::events::{Event, PausePolicy};
use crate::run::journal::{DecisionRecord, Record};

impl Exec {
    /// Puts a policy in force, saying why, in the journal and on every face.
    pub(super) fn set_policy(&mut self, pause: PausePolicy, why: &str) {
        if pause == self.policy {
            return;
        }
        self.policy = pause;
        self.record(Record::Policy { pause, why: why.to_string() });
        // Each face logs the Policy event itself: a note as well would say it twice.
        tracing::info!(run = %self.run, "pause policy: {} ({why})", pause.as_str());
        self.emit(Event::Policy { pause, why: why.to_string() });
    }

    /// After a failure, a drift or a gate that timed out, the operator decides again.
    pub(super) fn back_to_asking(&mut self, why: &str) {
        if self.policy != PausePolicy::Every {
            self.set_policy(PausePolicy::Every, &format!("back to asking: {why}"));
        }
    }

    /// Whether the policy approves `step` without a question: only ordinary confirmations (never
    /// typed, optional, irreversible, downtime or data-loss steps), and under `first` only once
    /// the group's canary sequence was confirmed by the operator.
    pub(super) fn policy_approves(&self, step: &Step) -> bool {
        let ordinary =
            step.confirm == crate::plan::Confirm::Yes && !step.irreversible && !step.downtime && !step.data_loss;
        match self.policy {
            PausePolicy::Every => false,
            PausePolicy::None => ordinary,
            PausePolicy::First => ordinary && self.canaried.contains(&step.group),
        }
    }

    /// Journals a step approved by the policy, as the operator's confirmation would be.
    pub(super) fn approve_by_policy(&mut self, step: &Step) {
        let by = format!("auto (--pause {}) for {}", self.policy.as_str(), self.cfg.operator);
        self.record(Record::Decided { step: step.id.clone(), decision: DecisionRecord::Proceed, by, typed: None });
    }
}
