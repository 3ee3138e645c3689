//! Parallel independent groups (`parallel_groups`): the server groups of a wide cluster (many
//! stripes) are upgraded several at once. Each group keeps its own order (mirrors first, the
//! active with failover, R4/R5) and no two members of one group are touched at once; groups share
//! no member, so one group's failover never depends on another's. Everything after the server
//! groups (clients, components, orchestrators) still waits for all of them (R4).

use super::builder::Builder;
use crate::model::{GroupType, Profile};
use crate::plan::rules::Rule;
use crate::plan::types::*;

/// Which server groups run side by side, how many at once, and why that is safe.
pub fn lanes_of(plan_phases: &[Phase], cluster: &crate::model::Cluster) -> Option<Lanes> {
    if cluster.parallel_groups < 2 || cluster.profile == Profile::AnyOrder {
        return None;
    }
    let mut groups: Vec<String> = Vec::new();
    for s in plan_phases.iter().flat_map(|p| p.steps.iter()) {
        let server = cluster.group(&s.group).is_some_and(|g| g.gtype == GroupType::Server);
        if !server || s.action.is_run_level() {
            continue;
        }
        if !groups.contains(&s.group) {
            groups.push(s.group.clone());
        }
    }
    if groups.len() < 2 {
        return None;
    }
    let width = cluster.parallel_groups.min(groups.len());
    Some(Lanes {
        width,
        why_safe: format!(
            "server groups {} share no member: up to {width} run side by side (parallel_groups = {}), each still in its own order (mirrors first, the active with failover; R4, R5 per group) and never two members of one group at once; clients, components and orchestrators start after every server group (R4)",
            groups.join(", "),
            cluster.parallel_groups
        ),
        groups,
    })
}

impl Builder<'_> {
    /// Notes the lanes in the plan, so `rollpilot plan` says what runs side by side and why.
    pub(super) fn note_lanes(&mut self) -> Option<Lanes> {
        let lanes = lanes_of(&self.phases, self.cluster)?;
        self.notes.push(Note {
            rule: Some(Rule::Order),
            level: Level::Info,
            text: format!("side by side: {}", lanes.why_safe),
        });
        Some(lanes)
    }
}
