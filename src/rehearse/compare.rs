//! The rehearsal runs the operator's own procedure: its plan, step by step, must equal the plan
//! `rollpilot plan --assume` makes for the real cluster in the same state.

use crate::plan::{Confirm, Plan};

/// One step as the operator sees it in a plan: id, action, node and confirmation tier.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepKey {
    /// `group/node/action`.
    pub id: String,
    /// What it does.
    pub action: String,
    /// Where.
    pub node: String,
    /// What the operator must do before it runs.
    pub confirm: String,
    /// Its phase's title.
    pub phase: String,
}

/// The steps of a plan in order.
pub fn step_keys(plan: &Plan) -> Vec<StepKey> {
    plan.phases
        .iter()
        .flat_map(|p| {
            p.steps.iter().map(move |s| StepKey {
                id: s.id.clone(),
                action: s.action.as_str().to_string(),
                node: s.node.clone(),
                confirm: confirm_word(s.confirm).to_string(),
                phase: p.title.clone(),
            })
        })
        .collect()
}

/// The confirmation tier's word, as the plan's JSON spells it.
pub fn confirm_word(c: Confirm) -> &'static str {
    match c {
        Confirm::None => "none",
        Confirm::Yes => "yes",
        Confirm::Typed => "typed",
        Confirm::Optional => "optional",
    }
}

/// The first difference between the real plan and the twin's, in words, or None if they are
/// the same step for step (and cross the point of no return at the same step).
pub fn difference(real: &Plan, twin: &Plan) -> Option<String> {
    let a = step_keys(real);
    let b = step_keys(twin);
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        if x != y {
            return Some(format!(
                "step {}: the real plan has {} ({}, confirm {}), the twin's has {} ({}, confirm {})",
                i + 1,
                x.id,
                x.action,
                x.confirm,
                y.id,
                y.action,
                y.confirm
            ));
        }
    }
    if a.len() != b.len() {
        return Some(format!("the real plan has {} steps, the twin's {}", a.len(), b.len()));
    }
    let pnr = |p: &Plan| p.point_of_no_return.as_ref().map(|m| (m.crossed_by.clone(), m.declared.clone()));
    if pnr(real) != pnr(twin) {
        return Some("the plans cross the point of no return at different steps".into());
    }
    None
}
