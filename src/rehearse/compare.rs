//! The rehearsal runs the operator's own procedure: its plan, step by step, must equal the plan
//! `rollpilot plan --assume` makes for the real cluster in the same state.

use crate::plan::{Confirm, Gate, Plan};

/// One step as the operator sees it in a plan: id, action, node, confirmation tier, and the
/// checks around it.
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
    /// The gates that must hold before it runs, as the plan's JSON spells them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<String>,
    /// The gates that must hold after it ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// The service is down while it runs.
    #[serde(default)]
    pub downtime: bool,
    /// It cannot be undone.
    #[serde(default)]
    pub irreversible: bool,
    /// The version it installs, for install and rollback steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

fn gates(g: &[Gate]) -> Vec<String> {
    g.iter().map(|g| serde_json::to_string(g).unwrap_or_else(|_| format!("{g:?}"))).collect()
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
                before: gates(&s.before),
                after: gates(&s.after),
                downtime: s.downtime,
                irreversible: s.irreversible,
                version: s.version.as_ref().map(|v| v.to_string()),
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
/// the same step for step (same phases, actions, nodes, confirmation tiers, gates before and
/// after, downtime, irreversibility and versions) and cross the point of no return at the same
/// step.
pub fn difference(real: &Plan, twin: &Plan) -> Option<String> {
    let a = step_keys(real);
    let b = step_keys(twin);
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        if (&x.id, &x.action, &x.node, &x.confirm, &x.phase) != (&y.id, &y.action, &y.node, &y.confirm, &y.phase) {
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
        if (&x.before, &x.after) != (&y.before, &y.after) {
            return Some(format!(
                "step {} ({}): the real plan checks {} before and {} after it, the twin's {} and {}",
                i + 1,
                x.id,
                x.before.join(", "),
                x.after.join(", "),
                y.before.join(", "),
                y.after.join(", ")
            ));
        }
        if (x.downtime, x.irreversible, &x.version) != (y.downtime, y.irreversible, &y.version) {
            return Some(format!(
                "step {} ({}): downtime, irreversibility or version differ (real: {}, {}, {:?}; twin: {}, {}, {:?})",
                i + 1,
                x.id,
                x.downtime,
                x.irreversible,
                x.version,
                y.downtime,
                y.irreversible,
                y.version
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::plan::{PlanRequest, RunContext};

    fn patroni_plan() -> Plan {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/patroni.toml");
        let cluster = crate::config::load(&path).unwrap();
        let state = "[nodes.pg-1]\nversion = \"16.3.0\"\nrole = \"active\"\nhealth = \"ok\"\n[nodes.pg-2]\nversion = \"16.3.0\"\nrole = \"passive\"\nsync = \"in-sync\"\nhealth = \"ok\"\n[nodes.pg-3]\nversion = \"16.3.0\"\nrole = \"passive\"\nsync = \"in-sync\"\nhealth = \"ok\"\n";
        let observed = crate::config::observed_file::parse(state, "state.toml", &cluster).unwrap();
        crate::plan::plan(&PlanRequest {
            cluster: &cluster,
            observed: &observed,
            target: cluster.target.clone(),
            context: &RunContext::default(),
        })
        .unwrap()
    }

    #[test]
    fn a_twin_plan_with_one_gate_less_is_not_the_real_plan() {
        let real = patroni_plan();
        assert_eq!(difference(&real, &real.clone()), None);
        let mut twin = real.clone();
        let step = twin.phases.iter_mut().flat_map(|p| p.steps.iter_mut()).find(|s| !s.after.is_empty()).unwrap();
        let id = step.id.clone();
        step.after.pop();
        let d = difference(&real, &twin).expect("a difference");
        assert!(d.contains(&id) && d.contains("checks"), "{d}");
        let mut twin = real.clone();
        let step = twin.phases.iter_mut().flat_map(|p| p.steps.iter_mut()).find(|s| s.confirm == Confirm::Yes).unwrap();
        step.confirm = Confirm::None;
        let d = difference(&real, &twin).expect("a difference");
        assert!(d.contains("confirm yes") && d.contains("confirm none"), "{d}");
    }
}
