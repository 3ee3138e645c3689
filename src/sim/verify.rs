//! `sim verify`: is every write a client saw acknowledged still in the cluster?
//!
//! Each writer logged its acknowledged keys before writing the next; verify reads every one of
//! those logs first, then asks the nodes that serve the data (each stripe's active, every running
//! StreamBase node, the node serving the virtual server) for everything they hold.
//!
//! The order matters because the writers keep writing while verify runs: a write is logged only
//! after the cluster acknowledged it, and the cluster holds it from then on, so every key in a log
//! read before the nodes' data must be in that data. Read the other way round, the write
//! acknowledged between a node's dump and the log read is counted as lost although nothing lost
//! it (a flaky "lost 1" whose missing key is always the newest one).

use super::error::SimError;
use super::layout::Layout;
use super::node::client::acked_keys;
use super::state::{HostRecord, HostRole, LoaderRecord, SimState, Topology};
use super::wire;
use std::collections::HashSet;
use std::path::Path;

/// The verdict.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyReport {
    /// Writes acknowledged to writers.
    pub acknowledged: usize,
    /// Of those, how many the cluster still holds (on every node that must hold them).
    pub present: usize,
    /// acknowledged - present.
    pub lost: usize,
    /// One line per writer and where it was checked.
    pub details: Vec<String>,
    /// A few lost keys, for the operator.
    pub missing_sample: Vec<String>,
}

impl VerifyReport {
    /// The summary line: `acknowledged N, present N, lost N`.
    pub fn summary(&self) -> String {
        format!("acknowledged {}, present {}, lost {}", self.acknowledged, self.present, self.lost)
    }

    fn add(&mut self, who: &str, keys: &[String], held: &[&HashSet<String>], where_: &str) {
        let present: Vec<&String> = keys.iter().filter(|k| held.iter().all(|h| h.contains(*k))).collect();
        let lost = keys.len() - present.len();
        self.acknowledged += keys.len();
        self.present += present.len();
        self.lost += lost;
        for k in keys
            .iter()
            .filter(|k| !held.iter().all(|h| h.contains(*k)))
            .take(5usize.saturating_sub(self.missing_sample.len()))
        {
            self.missing_sample.push(k.clone());
        }
        self.details.push(format!(
            "{who}: acknowledged {}, present {}, lost {lost} (checked on {where_})",
            keys.len(),
            present.len()
        ));
    }
}

fn keys_of(host: &str, port: u16, name: &str) -> Result<HashSet<String>, SimError> {
    wire::dump(host, port)
        .map(|e| e.into_iter().map(|(k, _)| k).collect())
        .map_err(|e| SimError::Failed(format!("cannot read the data of {name} ({host}:{port}): {e}")))
}

/// Checks every acknowledged write against the cluster.
pub fn verify(dir: &Path) -> Result<VerifyReport, SimError> {
    let root = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let layout = Layout::new(&root);
    let st = SimState::load(&layout)?;
    let mut report = VerifyReport::default();
    // Every writer's acknowledged keys, taken before any node is asked for its data (see above).
    let clients: Vec<(&HostRecord, Vec<String>)> =
        st.hosts.iter().filter(|h| h.role == HostRole::Client).map(|c| (c, acked_keys(&c.node_dir))).collect();
    let loaders: Vec<(&LoaderRecord, Vec<String>)> = st.loaders.iter().map(|l| (l, acked_keys(&l.dir))).collect();
    match st.topology {
        Topology::Terracotta => {
            for (c, keys) in &clients {
                let group = c.servers.clone().unwrap_or_default();
                let servers: Vec<_> =
                    st.hosts.iter().filter(|h| h.role == HostRole::Server && h.group == group).collect();
                let active = servers
                    .iter()
                    .find(|h| wire::stat(&h.bind, h.port.unwrap_or(0)).is_ok_and(|s| s.state == "ACTIVE-COORDINATOR"));
                let Some(active) = active else {
                    let names: Vec<&str> = servers.iter().map(|h| h.name.as_str()).collect();
                    return Err(SimError::Failed(format!(
                        "cannot verify client {}: stripe {group} has no active server; start one of {} and verify again",
                        c.name,
                        names.join(", ")
                    )));
                };
                let held = keys_of(&active.bind, active.port.unwrap_or(0), &active.name)?;
                report.add(&c.name, keys, &[&held], &format!("active {}", active.name));
            }
        }
        Topology::Jsondb => {
            // Each writer's keys are checked on the leader of the group it writes to.
            for (l, keys) in &loaders {
                let leader = st.hosts.iter().find(|h| {
                    l.group.as_ref().is_none_or(|g| *g == h.group)
                        && wire::stat(&h.bind, h.port.unwrap_or(0)).is_ok_and(|s| s.state == "ACTIVE-COORDINATOR")
                });
                let Some(leader) = leader else {
                    return Err(SimError::Failed(format!(
                        "cannot verify: group {} has no leader; start its members and verify again",
                        l.group.as_deref().unwrap_or("db")
                    )));
                };
                let held = keys_of(&leader.bind, leader.port.unwrap_or(0), &leader.name)?;
                report.add(&l.name, keys, &[&held], &format!("leader {}", leader.name));
            }
        }
        Topology::Streambase => {
            let mut sets = Vec::new();
            let mut names = Vec::new();
            for h in &st.hosts {
                if wire::stat(&h.bind, h.port.unwrap_or(0)).is_ok_and(|s| s.state == "Started") {
                    sets.push(keys_of(&h.bind, h.port.unwrap_or(0), &h.name)?);
                    names.push(h.name.clone());
                }
            }
            if sets.is_empty() {
                return Err(SimError::Failed(
                    "cannot verify: no StreamBase node is running; start one and verify again".into(),
                ));
            }
            let refs: Vec<&HashSet<String>> = sets.iter().collect();
            for (l, keys) in &loaders {
                report.add(&l.name, keys, &refs, &format!("every running node: {}", names.join(", ")));
            }
        }
        Topology::Exchange => {
            let Some((evs, addr, port)) = st.evs.clone() else {
                return Err(SimError::Failed("this exchange simulator has no virtual server recorded".into()));
            };
            let held = keys_of(&addr, port, &evs).map_err(|_| {
                SimError::Failed(format!(
                    "cannot verify: {evs} is offline; bring it online (cluster-online.sh -g {evs}) and verify again"
                ))
            })?;
            for (l, keys) in &loaders {
                report.add(&l.name, keys, &[&held], &format!("virtual server {evs}"));
            }
        }
    }
    Ok(report)
}
