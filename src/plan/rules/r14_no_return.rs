//! R14 point-of-no-return: past a kind's declared point of no return (`finalize`, or
//! `all-upgraded`) nothing is rolled back or downgraded. Before planning, a downgrade past it is
//! refused; in a plan, every step past it offers no rollback and the plan says where it lies.

use super::Rule;
use crate::model::{Group, NoReturn};
use crate::plan::builder::Builder;
use crate::plan::planner::PlanRequest;
use crate::plan::types::*;
use semver::Version;
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// The highest series a node of kind `kname` reports the cluster finalized at (`parse.finalized`).
pub(in crate::plan) fn reported_finalized(req: &PlanRequest, kname: &str) -> Option<Version> {
    req.cluster
        .groups
        .iter()
        .filter(|g| g.kind == kname)
        .flat_map(|g| g.nodes.iter())
        .filter_map(|n| req.observed.get(&n.name).finalized)
        .max()
}

/// Whether `finalized` commits the cluster to a series above `version`'s (major.minor): patch
/// releases of one series stay interchangeable.
pub(in crate::plan) fn series_above(finalized: &Version, version: &Version) -> bool {
    (finalized.major, finalized.minor) > (version.major, version.minor)
}

/// R14 findings for a rolling downgrade: a kind finalized in this run (or reported finalized),
/// or a kind whose point of no return is "all-upgraded" and whose nodes all run one version
/// above the target.
pub(in crate::plan) fn refusals(req: &PlanRequest) -> Vec<Finding> {
    let cluster = req.cluster;
    let mut out = Vec::new();
    for (kname, k) in &cluster.kinds {
        let groups: Vec<&Group> = cluster.groups.iter().filter(|g| &g.kind == kname).collect();
        if groups.is_empty() {
            continue;
        }
        match k.point_of_no_return {
            Some(NoReturn::Finalize) => {
                if let Some(f) = reported_finalized(req, kname)
                    && series_above(&f, &req.target)
                {
                    out.push(Finding {
                        rule: Some(Rule::NoReturn),
                        message: format!(
                            "kind {kname} reports the cluster finalized at {}.{} (parse.finalized): its point of no return (point_of_no_return = \"finalize\") is behind it, so a rolling downgrade to {} is no longer possible",
                            f.major, f.minor, req.target
                        ),
                        advice: "restore from a backup taken before the upgrade, or stay on the finalized series; rollpilot does not roll back past a point of no return".into(),
                    });
                } else if let Some(v) = req.context.finalized.get(kname) {
                    out.push(Finding {
                        rule: Some(Rule::NoReturn),
                        message: format!(
                            "kind {kname} was finalized at {v}: its point of no return (point_of_no_return = \"finalize\") is behind it, so a rolling downgrade to {} is no longer possible",
                            req.target
                        ),
                        advice: "restore from a backup taken before the upgrade, or stay on the finalized version; rollpilot does not roll back past a point of no return".into(),
                    });
                }
            }
            Some(NoReturn::AllUpgraded) => {
                let versions: BTreeSet<Version> = groups
                    .iter()
                    .flat_map(|g| g.nodes.iter())
                    .filter(|n| !req.context.skipped_nodes.contains(&n.name))
                    .filter_map(|n| req.observed.get(&n.name).version)
                    .collect();
                if versions.len() == 1
                    && let Some(v) = versions.first()
                    && v.cmp_precedence(&req.target) == Ordering::Greater
                {
                    out.push(Finding {
                        rule: Some(Rule::NoReturn),
                        message: format!(
                            "every node of kind {kname} runs {v}: its point of no return (point_of_no_return = \"all-upgraded\") was crossed when the last node was upgraded, so a rolling downgrade to {} is not possible",
                            req.target
                        ),
                        advice: "restore from a backup taken before the upgrade, or stay on the running version; rollpilot does not roll back past a point of no return".into(),
                    });
                }
            }
            None => {}
        }
    }
    out
}

impl Builder<'_> {
    /// Marks where rollback stops being possible and gives every step past it no rollback.
    pub(in crate::plan) fn mark_no_return(&mut self) -> Option<NoReturnMarker> {
        let ctx = self.req.context;
        let (kname, k) = self.kinds_in_use().into_iter().find_map(|(kn, _, _)| {
            self.cluster.kinds.get(&kn).filter(|k| k.point_of_no_return.is_some()).map(|k| (kn, k))
        })?;
        let declared = k.point_of_no_return?;
        let steps: Vec<&Step> = self.phases.iter().flat_map(|p| p.steps.iter()).collect();
        let kind_nodes: Vec<String> = self
            .cluster
            .groups
            .iter()
            .filter(|g| g.kind == kname)
            .flat_map(|g| g.nodes.iter().map(|n| n.name.clone()))
            .collect();
        let crossing = match declared {
            NoReturn::Finalize => steps.iter().position(|s| s.action == Action::Finalize),
            NoReturn::AllUpgraded => {
                steps.iter().rposition(|s| s.action == Action::Install && kind_nodes.contains(&s.node))
            }
        };
        let already_past = match declared {
            NoReturn::Finalize => {
                ctx.finalized.contains_key(&kname)
                    || reported_finalized(self.req, &kname).is_some_and(|f| {
                        self.cluster
                            .groups
                            .iter()
                            .filter(|g| g.kind == kname)
                            .flat_map(|g| g.nodes.iter())
                            .filter_map(|n| {
                                ctx.original_versions.get(&n.name).cloned().or(self.req.observed.get(&n.name).version)
                            })
                            .any(|v| series_above(&f, &v))
                    })
            }
            NoReturn::AllUpgraded => {
                crossing.is_none()
                    && self.direction != Direction::Downgrade
                    && kind_nodes.iter().filter(|n| !ctx.skipped_nodes.contains(*n)).all(|n| {
                        let t = self.cluster.node(n).map(|(g, _)| self.target(g));
                        let v = self.req.observed.get(n).version.or_else(|| ctx.installed.get(n).cloned());
                        v.is_some() && v == t
                    })
            }
        };
        let marker = if already_past {
            NoReturnMarker {
                declared: declared.as_str().into(),
                rollback_possible_until: None,
                crossed_by: None,
                text: format!(
                    "point of no return ({}) already crossed for kind {kname}: no step of this plan can be rolled back",
                    declared.as_str()
                ),
            }
        } else if let Some(i) = crossing {
            let until = i.checked_sub(1).map(|j| steps[j].id.clone());
            NoReturnMarker {
                declared: declared.as_str().into(),
                rollback_possible_until: until.clone(),
                crossed_by: Some(steps[i].id.clone()),
                text: format!(
                    "rollback possible until {}: {} crosses the point of no return ({}) of kind {kname}; after it no rollback is offered and no downgrade is planned",
                    until.map(|u| format!("{u} (marked in the plan)")).unwrap_or_else(|| "here".into()),
                    steps[i].id,
                    declared.as_str()
                ),
            }
        } else {
            NoReturnMarker {
                declared: declared.as_str().into(),
                rollback_possible_until: None,
                crossed_by: None,
                text: match declared {
                    NoReturn::Finalize if ctx.finalize_deferred.contains(&kname) => format!(
                        "rollback possible until finalize, which was deferred: finalize kind {kname} later with `rollpilot finalize`"
                    ),
                    _ => format!(
                        "rollback possible: this plan does not reach the point of no return ({})",
                        declared.as_str()
                    ),
                },
            }
        };
        // Finalize is itself the irreversible step; with "all-upgraded" the last install still
        // leaves a node that can be rolled back if it fails, everything after it cannot.
        let past_from = if already_past {
            Some(0)
        } else {
            match declared {
                NoReturn::Finalize => crossing,
                NoReturn::AllUpgraded => crossing.map(|i| i + 1),
            }
        };
        if let Some(from) = past_from {
            let mut i = 0;
            for p in &mut self.phases {
                for s in &mut p.steps {
                    if i >= from && !matches!(s.action, Action::Preflight) {
                        s.rollback = PAST_NO_RETURN.to_string();
                    }
                    i += 1;
                }
            }
        }
        self.notes.push(Note { rule: Some(Rule::NoReturn), level: Level::Warning, text: marker.text.clone() });
        Some(marker)
    }
}
