//! R3 no-mirror-data-loss: a server group with one server and no persistence loses all of its
//! data when that server restarts. The plan is refused unless the operator accepted the loss by
//! typing the cluster name (headless: `--accept-data-loss=NAME`).

use super::Rule;
use crate::model::{GroupType, Profile};
use crate::plan::builder::{Work, work_of};
use crate::plan::planner::PlanRequest;
use crate::plan::types::{Direction, Finding};

/// One finding per non-persistent single-server group whose server this plan would restart,
/// unless the loss was accepted. Any-order clusters have no server roles and are not judged.
pub(in crate::plan) fn check(req: &PlanRequest, direction: Direction) -> Vec<Finding> {
    let cluster = req.cluster;
    let ctx = req.context;
    if cluster.profile == Profile::AnyOrder {
        return Vec::new();
    }
    let mut findings = Vec::new();
    for g in cluster.groups.iter().filter(|g| g.gtype == GroupType::Server && g.nodes.len() == 1) {
        let n = &g.nodes[0];
        let w = work_of(req, g, n, direction);
        if !g.persistent
            && w != Work::Nothing
            && w != Work::LeaveNewer
            && !ctx.accept_data_loss
            && !ctx.skipped_nodes.contains(&n.name)
        {
            findings.push(Finding {
                rule: Some(Rule::NoMirrorDataLoss),
                message: format!(
                    "server group {} has no mirror and is not persistent: restarting {} to upgrade it loses all of its data (the Terracotta upgrade guide: \"servers cannot be upgraded without losing all the data\")",
                    g.name, n.name
                ),
                advice: format!(
                    "add a mirror to {} and let it reach sync, or make the group persistent; to go ahead and lose the data, confirm by typing the cluster name (headless: --accept-data-loss={})",
                    g.name, cluster.name
                ),
            });
        }
    }
    findings
}
