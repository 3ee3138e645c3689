//! Live facts about nodes: run the kinds' probe commands (one remote command per host), parse
//! them, and keep a refreshed snapshot that the executor, `status` and the TUI read.

pub mod parse;
pub mod poller;
pub mod script;

use crate::model::{Cluster, Group, Node, NodeObs, ProbeKind};
use crate::transport::{Conversation, Transport, tail};
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
    let function = script::probe_function(&probes, per);
    let agent = script::agent_script(&function);
    let oneshot = script::oneshot_script(&function, &nonce);
    // The probes bound themselves remotely (`timeout`); the conversation gets a margin on top.
    let limit = per + Duration::from_secs(5);
    let done = script::done_marker(&nonce);
    let talk = Conversation {
        agent: &agent,
        oneshot: &oneshot,
        request: &nonce,
        end: &done,
        timeout: limit,
        // The host sends at most one byte over the bound; decoded, a byte that is not UTF-8
        // takes three, and the framing comes on top.
        max: 3 * script::PROBE_OUTPUT_MAX + 4096,
    };
    match transport.converse(node, &talk).await {
        Err(e) => NodeObs::unreachable(e.to_string()),
        Ok(out) => {
            let out = script::bound_output(out, &nonce);
            let mut parts: BTreeMap<ProbeKind, script::ProbeOutput> =
                script::split_output(&out, &nonce).into_iter().collect();
            // The probe running when the output bound was hit printed too much: say so (and
            // whether it was text at all) instead of calling it a timeout.
            let cut = script::was_cut(&out, &nonce)
                .then(|| parts.iter_mut().rev().find(|(_, o)| o.timed_out()))
                .flatten()
                .map(|(k, o)| {
                    let bound = crate::sanitize::size(script::PROBE_OUTPUT_MAX as u64);
                    let why = if crate::sanitize::looks_binary(&o.stdout) {
                        format!("{} probe output not text: more than {bound} of binary; its output was cut", k.as_str())
                    } else {
                        format!("{} probe printed more than {bound}; its output was cut", k.as_str())
                    };
                    o.stdout.push_str(&format!("… (cut at {bound})"));
                    (format!("{} probe timed out", k.as_str()), why)
                });
            if parts.is_empty() {
                let mut o = NodeObs { reachable: true, ..Default::default() };
                let why = tail(&out, 200);
                o.error = Some(format!(
                    "the probes did not run{}; the host needs a POSIX sh with timeout and head (coreutils)",
                    if why.is_empty() { String::new() } else { format!(": {why}") }
                ));
                return o;
            }
            let missing: Vec<&str> =
                probes.iter().filter(|(k, _)| !parts.contains_key(k)).map(|(k, _)| k.as_str()).collect();
            let mut obs = parse::observe(kind, &cluster.vars_for(group, node), &parts);
            if let Some((said, why)) = &cut {
                obs.error = obs.error.map(|e| e.replace(said, why));
            }
            obs.error = obs.error.map(|e| {
                e.replace("probe timed out", &format!("probe timed out after {}s (timeouts.probe)", per.as_secs()))
            });
            if !missing.is_empty() {
                let why = if cut.is_some() {
                    "the probes' output was cut before it began"
                } else {
                    "an earlier probe used up timeouts.probe"
                };
                let m = format!("{} probe did not run: {why}", missing.join(" and "));
                obs.error = Some(obs.error.map(|e| format!("{e}; {m}")).unwrap_or(m));
            }
            obs
        }
    }
}
