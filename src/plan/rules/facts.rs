//! Facts before rules: without a version (and, where roles matter, a role) for every node the
//! planner cannot judge anything, so a node it cannot see refuses the plan with what is missing
//! and how to get it, instead of a plan built around a guess.

use super::Rule;
use crate::model::{Cluster, GroupType, Node, Profile, Role};
use crate::plan::planner::PlanRequest;
use crate::plan::types::Finding;

/// One finding per node (not skipped by the operator) that is unreachable, whose role cannot be
/// read where the profile needs it (R5 cannot be judged), or whose version cannot be read while
/// it runs. Unreachable and unreadable versions carry no rule: they are missing facts.
pub(in crate::plan) fn missing(req: &PlanRequest) -> Vec<Finding> {
    let cluster = req.cluster;
    let mut findings = Vec::new();
    for (g, n) in cluster.nodes() {
        if req.context.skipped_nodes.contains(&n.name) {
            continue;
        }
        let o = req.observed.get(&n.name);
        if !o.reachable {
            findings.push(Finding {
                rule: None,
                message: format!(
                    "{} (group {}) is unreachable: {}",
                    n.name,
                    g.name,
                    o.error.as_deref().map(|e| e.strip_prefix(&format!("{}: ", n.name)).unwrap_or(e)).unwrap_or("no answer")
                ),
                advice: format!(
                    "fix the connection to {} (try `{}`), then plan again; rollpilot does not plan around a node it cannot see",
                    n.name,
                    ssh_hint(cluster, n)
                ),
            });
        } else if o.role == Role::Unknown && g.gtype == GroupType::Server && cluster.profile != Profile::AnyOrder {
            findings.push(Finding {
                rule: Some(Rule::SafeToStop),
                message: format!(
                    "the role of {} (group {}) cannot be read{}: rollpilot cannot tell whether stopping it is safe",
                    n.name,
                    g.name,
                    o.error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
                ),
                advice: format!(
                    "run the status command of kind `{}` on {} by hand and fix it or its role parser, then plan again",
                    g.kind, n.name
                ),
            });
        } else if o.version.is_none() && o.role != Role::Stopped {
            findings.push(Finding {
                rule: None,
                message: format!(
                    "the version of {} cannot be read: {}",
                    n.name,
                    o.error.as_deref().unwrap_or("the version probe printed no version")
                ),
                advice: format!(
                    "run the kind's version command on {} by hand and fix the command or its parser in the config",
                    n.name
                ),
            });
        }
    }
    findings
}

/// The ssh command an operator can type to test the connection rollpilot tried: the same
/// address, port and user (from the host or `[ssh]`), so the hint reproduces the failure.
fn ssh_hint(cluster: &Cluster, n: &Node) -> String {
    let mut cmd = String::from("ssh");
    if let Some(f) = &cluster.ssh.config_file {
        cmd.push_str(&format!(" -F {}", f.display()));
    }
    if let Some(p) = n.port.or(cluster.ssh.port) {
        cmd.push_str(&format!(" -p {p}"));
    }
    cmd.push(' ');
    if let Some(u) = n.user.as_ref().or(cluster.ssh.user.as_ref()) {
        cmd.push_str(&format!("{u}@"));
    }
    cmd.push_str(&n.address);
    cmd
}
