//! Live facts about nodes: run the kinds' probe commands (one remote command per host), parse
//! them, and keep a refreshed snapshot that the executor, `status` and the TUI read.

pub mod parse;
pub mod poller;
pub mod script;

use crate::model::{Cluster, Group, Node, NodeObs, ProbeKind};
use crate::transport::{RemoteCommand, Transport, tail};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use poller::{NodeView, Poller, Snapshot};

/// A marker nonce no probe output will contain by accident.
pub fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("rp{:x}{:x}{:x}", t, std::process::id(), n)
}

/// Probes one node: its version, role, sync state and health, or why they cannot be read.
pub async fn probe_node(transport: &dyn Transport, cluster: &Cluster, group: &Group, node: &Node) -> NodeObs {
    let Some(kind) = cluster.kind_of(group) else {
        return NodeObs::unreachable(format!("no kind `{}` in the config", group.kind));
    };
    let probes = script::probe_commands(cluster, group, node);
    let nonce = nonce();
    let per = cluster.timeouts.probe;
    let script = script::probe_script(&probes, per, &nonce);
    // Each probe bounds itself remotely; the whole command gets their sum plus a margin.
    let total = per * (probes.len() as u32).max(1) + Duration::from_secs(10);
    let cmd =
        RemoteCommand { script, timeout: total, max_output: 4 * (script::PROBE_STDOUT_MAX + script::PROBE_STDERR_MAX) };
    match transport.run(node, &cmd).await {
        Err(e) => NodeObs::unreachable(e.to_string()),
        Ok(out) => {
            let parts: BTreeMap<ProbeKind, script::ProbeOutput> =
                script::split_output(&out.stdout, &nonce).into_iter().collect();
            if parts.is_empty() {
                let why = tail(&out.stderr, 200);
                let mut o = NodeObs { reachable: true, ..Default::default() };
                o.error = Some(format!(
                    "the probe script did not run (exit {}{}); the host needs a POSIX sh with mktemp, timeout and head",
                    out.status.map(|c| c.to_string()).unwrap_or_else(|| "signal".into()),
                    if why.is_empty() { String::new() } else { format!(": {why}") }
                ));
                return o;
            }
            let mut obs = parse::observe(kind, &parts);
            obs.error = obs.error.map(|e| {
                e.replace("probe timed out", &format!("probe timed out after {}s (timeouts.probe)", per.as_secs()))
            });
            obs
        }
    }
}
