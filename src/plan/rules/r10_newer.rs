//! R10 downgrade / newer-node: a node already newer than the target is never touched silently.
//! In an upgrade it is left as it is (with a warning); when every node that differs is newer,
//! the plan is a rolling downgrade, which is refused unless explicitly asked for (`--to`) and
//! then needs the cluster name typed before its first change.

use super::Rule;
use crate::plan::builder::target_of;
use crate::plan::planner::PlanRequest;
use crate::plan::types::*;
use semver::Version;
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// Where the versions of the cluster stand against the target.
pub(in crate::plan) struct Versions {
    /// Up, down or nothing.
    pub(in crate::plan) direction: Direction,
    /// Nodes newer than their group's target: (node, its version, the target).
    pub(in crate::plan) newer: Vec<(String, Version, Version)>,
    /// The versions the cluster's own groups run (components with a version line of their own
    /// are not "the cluster's" versions).
    pub(in crate::plan) from_versions: BTreeSet<Version>,
}

/// The direction of the run, or the R10 refusal of a downgrade nobody asked for.
pub(in crate::plan) fn direction(req: &PlanRequest) -> Result<Versions, Finding> {
    let cluster = req.cluster;
    let ctx = req.context;
    let mut older = 0;
    let mut newer: Vec<(String, Version, Version)> = Vec::new();
    let mut from_versions: BTreeSet<Version> = BTreeSet::new();
    for (g, n) in cluster.nodes() {
        if ctx.skipped_nodes.contains(&n.name) {
            continue;
        }
        if let Some(v) = req.observed.get(&n.name).version {
            if g.target.is_none() {
                from_versions.insert(v.clone());
            }
            let t = target_of(req, g);
            match v.cmp_precedence(&t) {
                Ordering::Less => older += 1,
                Ordering::Greater => newer.push((n.name.clone(), v, t)),
                Ordering::Equal => {}
            }
        }
    }
    let direction = if older > 0 {
        Direction::Upgrade
    } else if !newer.is_empty() {
        if !ctx.downgrade_intended {
            return Err(Finding {
                rule: Some(Rule::NewerNode),
                message: format!(
                    "every node that differs from the target runs a newer version ({}); rollpilot never downgrades without being asked",
                    newer.iter().map(|(n, v, t)| format!("{n} runs {v} > {t}")).collect::<Vec<_>>().join(", ")
                ),
                advice: format!(
                    "to roll the cluster back, ask for it explicitly: `rollpilot upgrade --to {}`; otherwise set cluster.target to the version you want",
                    req.target
                ),
            });
        }
        Direction::Downgrade
    } else {
        Direction::Nothing
    };
    Ok(Versions { direction, newer, from_versions })
}

/// The warnings an operator reads first: each newer node left alone in an upgrade, or that the
/// whole plan is a downgrade.
pub(in crate::plan) fn warnings(req: &PlanRequest, v: &Versions) -> Vec<Note> {
    let mut notes = Vec::new();
    if v.direction == Direction::Upgrade {
        for (n, ver, t) in &v.newer {
            notes.push(Note {
                rule: Some(Rule::NewerNode),
                level: Level::Warning,
                text: format!("{n} already runs {ver}, newer than the target {t}: it is left as it is and not touched (to bring it down, run an explicit rolling downgrade with --to {t})"),
            });
        }
    }
    if v.direction == Direction::Downgrade {
        let from: Vec<String> = v.from_versions.iter().map(|v| v.to_string()).collect();
        notes.push(Note {
            rule: Some(Rule::NewerNode),
            level: Level::Warning,
            text: format!(
                "this is a rolling DOWNGRADE from {} to {}: every node is moved down, one at a time, by the same rules",
                from.join(", "),
                req.target
            ),
        });
    }
    notes
}

/// A rolling downgrade is deliberate and typed: the first step that changes anything (the
/// read-only preflight checks run before the question) asks for the cluster name.
pub(in crate::plan) fn confirm_downgrade(target: &Version, phases: &mut [Phase], typed: &mut Vec<TypedConfirmation>) {
    if let Some(first) = phases.iter_mut().flat_map(|p| p.steps.iter_mut()).find(|s| s.action != Action::Preflight) {
        first.confirm = Confirm::Typed;
        typed.insert(
            0,
            TypedConfirmation {
                rule: Some(Rule::NewerNode),
                reason: format!("a rolling DOWNGRADE of every node to {target}"),
                step: first.id.clone(),
            },
        );
    }
}
