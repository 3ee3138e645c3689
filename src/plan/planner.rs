//! The planner: cluster + observed state + target → an ordered, explained plan, or a refusal.
//!
//! It reconciles toward the goal rather than replaying a script: every node's next steps follow
//! from what is observed now (version, role, running or not), so planning again mid-run (drift,
//! resume) naturally continues where the cluster is, and finished work is never planned twice.
//!
//! The order is always the same: facts first (a node that cannot be seen refuses), then the
//! rules that refuse a whole plan (R10, R14, R15, R1, R3, each in `rules/`), then the groups in
//! their profile's way (`profile/`), then the run-level steps around them, the point of no
//! return and the notes an operator reads.

use super::builder::{Builder, Work, target_of, work_of};
use super::rules::{Rule, facts, r1_version_compat, r3_data_loss, r10_newer, r14_no_return, r15_takeover};
use super::types::*;
use crate::model::*;
use semver::Version;
use std::collections::BTreeSet;

/// Everything the planner needs; nothing it does touches the network.
#[derive(Debug, Clone)]
pub struct PlanRequest<'a> {
    /// The cluster description.
    pub cluster: &'a Cluster,
    /// What is observed now.
    pub observed: &'a Observed,
    /// The version to end on (the config's target unless `--to` overrides it).
    pub target: Version,
    /// Decisions and progress of the run so far.
    pub context: &'a RunContext,
}

/// The plan format written into plans and journals; bumped when their meaning changes.
pub const PLAN_FORMAT: u32 = 1;

/// Plans the rollout, or refuses with every rule that forbids it.
pub fn plan(req: &PlanRequest) -> Result<Plan, Refusal> {
    let cluster = req.cluster;
    let refuse = |findings: Vec<Finding>| Refusal { cluster: cluster.name.clone(), findings };

    // Facts first: without a version for every node nothing can be judged.
    let findings = facts::missing(req);
    if !findings.is_empty() {
        return Err(refuse(findings));
    }
    let versions = r10_newer::direction(req).map_err(|f| refuse(vec![f]))?;
    let direction = versions.direction;
    let downgrade = direction == Direction::Downgrade;
    let mut findings = Vec::new();
    // R14: a downgrade past a kind's point of no return is refused, whatever the versions say.
    if downgrade {
        findings.extend(r14_no_return::refusals(req));
    }
    // R15: a takeover never goes from a newer member to an older one, when the kind says so.
    findings.extend(r15_takeover::refusals(req, downgrade));
    findings.extend(r1_version_compat::check(req));
    findings.extend(r3_data_loss::check(req, direction));
    if !findings.is_empty() {
        return Err(refuse(findings));
    }

    let mut b = Builder::new(req, direction);
    b.notes.extend(r10_newer::warnings(req, &versions));
    b.notes.extend(member_notes(req));
    b.groups()?;
    b.run_level_steps();
    let point_of_no_return = b.mark_no_return();
    let lanes = b.note_lanes();
    if let Some(n) = mixed_version_note(req, &b.phases, &versions.from_versions) {
        b.notes.push(n);
    }
    let nodes = node_plans(req, direction);
    if downgrade {
        r10_newer::confirm_downgrade(&req.target, &mut b.phases, &mut b.typed);
    }

    Ok(Plan {
        format: PLAN_FORMAT,
        rollpilot: env!("CARGO_PKG_VERSION").to_string(),
        cluster: cluster.name.clone(),
        profile: cluster.profile,
        target: req.target.clone(),
        direction: if b.phases.iter().all(|p| p.steps.is_empty()) { Direction::Nothing } else { direction },
        from_versions: versions.from_versions.into_iter().collect(),
        nodes,
        phases: b.phases.into_iter().filter(|p| !p.steps.is_empty()).collect(),
        notes: b.notes,
        typed_confirmations: b.typed,
        point_of_no_return,
        batches: b.batches,
        lanes,
    })
}

/// Notes on members the plan leaves out or cannot read: a stopped node whose version cannot be
/// read (it is reinstalled, R6), and each node the operator skipped (not touched, R11).
fn member_notes(req: &PlanRequest) -> Vec<Note> {
    let ctx = req.context;
    let mut notes = Vec::new();
    for (g, n) in req.cluster.nodes() {
        let o = req.observed.get(&n.name);
        let skipped = ctx.skipped_nodes.contains(&n.name);
        if o.version.is_none() && o.role == Role::Stopped && !skipped {
            notes.push(Note {
                rule: Some(Rule::Verify),
                level: Level::Warning,
                text: format!(
                    "{} (group {}) is stopped and its version cannot be read while it is down; the plan reinstalls {} and starts it",
                    n.name,
                    g.name,
                    target_of(req, g)
                ),
            });
        }
        if skipped {
            notes.push(Note {
                rule: Some(Rule::DoNoHarm),
                level: Level::Warning,
                text: format!("{} was skipped by the operator and is not touched", n.name),
            });
        }
    }
    notes
}

/// R7: from the first install to the last the cluster runs mixed versions; said when the plan
/// installs on more than one node, or on one node of a cluster already mixed.
fn mixed_version_note(req: &PlanRequest, phases: &[Phase], from_versions: &BTreeSet<Version>) -> Option<Note> {
    let changing = phases.iter().flat_map(|p| p.steps.iter()).filter(|s| matches!(s.action, Action::Install)).count();
    if !(changing > 1 || (changing == 1 && from_versions.len() > 1)) {
        return None;
    }
    let vs: Vec<String> = from_versions
        .iter()
        .chain(std::iter::once(&req.target))
        .map(|v| v.to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let text = if req.cluster.profile == Profile::AnyOrder {
        format!(
            "while the rollout runs, nodes run mixed versions ({}); this profile supports that (StreamBase upgrade notes), but the rollout should still be finished",
            vs.join(" and ")
        )
    } else {
        format!(
            "from the first install to the last, the cluster runs mixed versions ({}); a partly upgraded cluster is only a temporary state, so finish the rollout",
            vs.join(" and ")
        )
    };
    Some(Note { rule: Some(Rule::MixedVersion), level: Level::Info, text })
}

/// What the plan intends for every node, skipped and left-alone ones included: a member the plan
/// leaves out ends on the version it runs, not on the target.
fn node_plans(req: &PlanRequest, direction: Direction) -> Vec<NodePlan> {
    req.cluster
        .nodes()
        .map(|(g, n)| {
            let o = req.observed.get(&n.name);
            let skipped = req.context.skipped_nodes.contains(&n.name);
            let work = work_of(req, g, n, direction);
            let disposition = if skipped {
                "skipped"
            } else {
                match work {
                    Work::Nothing => "at-target",
                    Work::StartOnly => "start",
                    Work::LeaveNewer => "newer-left-alone",
                    Work::Full if direction == Direction::Downgrade => "downgrade",
                    Work::Full => "upgrade",
                }
            };
            let left_out = skipped || work == Work::LeaveNewer;
            let to = match &o.version {
                Some(v) if left_out => v.clone(),
                _ => target_of(req, g),
            };
            NodePlan {
                node: n.name.clone(),
                group: g.name.clone(),
                from: o.version,
                to,
                disposition: disposition.into(),
            }
        })
        .collect()
}
