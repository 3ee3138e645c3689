//! R1 version-compat: a rolling upgrade mixes the old and the new version, so every node that
//! will run alongside the target must be compatible with it under the cluster's `compat` rule;
//! otherwise only a full-downtime upgrade is safe, and the plan is refused saying so.

use super::Rule;
use crate::model::{CompatRule, GroupType};
use crate::plan::builder::target_of;
use crate::plan::planner::PlanRequest;
use crate::plan::types::Finding;

/// One finding per node whose version cannot run side by side with its group's target. An
/// offline component never runs mixed (all of it is upgraded inside one offline window, R9), and
/// a node the operator skipped is not moved at all.
pub(in crate::plan) fn check(req: &PlanRequest) -> Vec<Finding> {
    let cluster = req.cluster;
    let mut findings = Vec::new();
    for (g, n) in cluster.nodes() {
        if req.context.skipped_nodes.contains(&n.name) || (g.gtype == GroupType::Component && g.offline) {
            continue;
        }
        let Some(v) = req.observed.get(&n.name).version else { continue };
        let t = target_of(req, g);
        if !cluster.compat.compatible(&v, &t) {
            findings.push(Finding {
                rule: Some(Rule::VersionCompat),
                message: format!(
                    "{} runs {v} and the target is {t}: compat = \"{}\" refuses {v} → {t} (only {} may run side by side), so these versions cannot be mixed during a rolling upgrade{}; compat = \"{}\" would allow it if the product supports it",
                    n.name,
                    cluster.compat.as_str(),
                    cluster.compat.describe(),
                    if cluster.compat == CompatRule::SameMinor {
                        " (the Terracotta upgrade guide: no rolling upgrade across minor versions, e.g. 4.1.x to 4.2.0)"
                    } else {
                        ""
                    },
                    CompatRule::weakest_needed(&v, &t).as_str()
                ),
                advice: "a full-downtime upgrade is needed: stop the whole cluster, upgrade every node, start it again (rollpilot does not drive that); or choose a target compatible with the running versions".into(),
            });
        }
    }
    findings
}
