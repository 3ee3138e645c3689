//! The live view: every `timeouts.refresh`, probe every node (at most `ssh.parallelism` hosts at
//! once) and publish one snapshot. A node whose refresh fails keeps its last good facts, marked
//! stale, so the operator sees both the last truth and that it is no longer current.

use super::probe_node;
use crate::model::{Cluster, NodeObs, Observed};
use crate::transport::Transport;
use futures_util::StreamExt;
use jiff::Timestamp;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::{Mutex, watch};

/// What is known about one node.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeView {
    /// The latest observation (unreachable with a reason when the last probe failed).
    pub obs: NodeObs,
    /// The last observation that succeeded, shown (marked stale) while the node is unreachable.
    pub last_good: Option<NodeObs>,
    /// When the node last answered.
    pub last_seen: Option<Timestamp>,
    /// The latest probe failed: `last_good` is not current.
    pub stale: bool,
    /// How long the latest probe took.
    pub probe_ms: u64,
}

/// One consistent picture of the cluster.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// Per node, by name.
    pub nodes: BTreeMap<String, NodeView>,
    /// When the last round finished.
    pub refreshed_at: Option<Timestamp>,
    /// Rounds completed.
    pub generation: u64,
    /// When the round behind this snapshot started (facts are at least this recent).
    pub started: Option<tokio::time::Instant>,
}

impl Snapshot {
    /// The facts for planning and gates: only current observations, never stale ones.
    pub fn observed(&self) -> Observed {
        Observed { nodes: self.nodes.iter().map(|(k, v)| (k.clone(), v.obs.clone())).collect() }
    }

    /// Names of nodes whose latest probe could not reach them.
    pub fn unreachable(&self) -> Vec<String> {
        self.nodes.iter().filter(|(_, v)| !v.obs.reachable).map(|(k, _)| k.clone()).collect()
    }
}

/// Refreshes the snapshot; shared by the executor (gates), `status` and the TUI.
pub struct Poller {
    cluster: Arc<Cluster>,
    transport: Arc<dyn Transport>,
    tx: watch::Sender<Snapshot>,
    round: Mutex<()>,
    /// When each node's latest probe started: a node probed after a caller's `since` is not
    /// probed again for it (a gate right after planning reuses the facts planning just read).
    probed: std::sync::Mutex<HashMap<String, tokio::time::Instant>>,
}

impl Poller {
    /// A poller with an empty snapshot; call [`Poller::refresh`] or [`Poller::run`].
    pub fn new(cluster: Arc<Cluster>, transport: Arc<dyn Transport>) -> Arc<Self> {
        let (tx, _) = watch::channel(Snapshot::default());
        Arc::new(Poller { cluster, transport, tx, round: Mutex::new(()), probed: Default::default() })
    }

    /// Receives every new snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.tx.subscribe()
    }

    /// The latest snapshot.
    pub fn current(&self) -> Snapshot {
        self.tx.borrow().clone()
    }

    /// The transport the poller uses.
    pub fn transport(&self) -> Arc<dyn Transport> {
        self.transport.clone()
    }

    /// Probes every node once and publishes the result. Rounds never overlap.
    pub async fn refresh(&self) -> Snapshot {
        self.refresh_since(tokio::time::Instant::now()).await
    }

    /// A snapshot in which every node's facts were probed at or after `since`: only the nodes
    /// probed earlier are probed now (none when the live view's own round or a gate's focused
    /// look already covers them).
    pub async fn refresh_since(&self, since: tokio::time::Instant) -> Snapshot {
        let _round = self.round.lock().await;
        let started = tokio::time::Instant::now();
        let jobs = self.jobs(self.older_than(since, |_| true));
        if jobs.is_empty() {
            return self.current();
        }
        let whole = jobs.len() == self.cluster.groups.iter().map(|g| g.nodes.len()).sum::<usize>();
        let mut snap = self.probe_and_merge(jobs).await;
        snap.started = self.oldest_probe();
        snap.generation += 1;
        // One line per round at debug level: how `bench/compare.sh` times warm refreshes from
        // outside (`ROLLPILOT_LOG=rollpilot::probe=debug rollpilot status --watch`).
        if whole {
            tracing::debug!(
                round = snap.generation,
                nodes = snap.nodes.len(),
                ms = started.elapsed().as_secs_f64() * 1000.0,
                "refresh round"
            );
        }
        self.tx.send_replace(snap.clone());
        snap
    }

    /// Probes `names` (a step's node or its group) and merges the result into the latest
    /// snapshot: what a gate needs, without probing every host of a large cluster each time.
    pub async fn refresh_nodes(&self, names: &[String]) -> Snapshot {
        self.refresh_nodes_since(names, tokio::time::Instant::now()).await
    }

    /// Like [`Poller::refresh_nodes`], but a node already probed at or after `since` keeps
    /// those facts: facts proven within the same step are not read twice.
    pub async fn refresh_nodes_since(&self, names: &[String], since: tokio::time::Instant) -> Snapshot {
        let _round = self.round.lock().await;
        let jobs = self.jobs(self.older_than(since, |n| names.contains(&n.name)));
        if jobs.is_empty() {
            return self.current();
        }
        let mut snap = self.probe_and_merge(jobs).await;
        snap.started = self.oldest_probe();
        self.tx.send_replace(snap.clone());
        snap
    }

    /// A filter for [`Poller::jobs`]: `wanted` nodes whose latest probe started at or before
    /// `since`. A probe that started at the very instant asked about may have read the node
    /// just before what happened at that instant (a step's effect), so only one started after
    /// it counts as fresh.
    fn older_than<'a>(
        &'a self,
        since: tokio::time::Instant,
        wanted: impl Fn(&crate::model::Node) -> bool + 'a,
    ) -> impl Fn(&crate::model::Node) -> bool + 'a {
        let probed = self.probed.lock().unwrap_or_else(|e| e.into_inner()).clone();
        move |n| wanted(n) && probed.get(&n.name).is_none_or(|t| *t <= since)
    }

    /// When the least recent node's latest probe started (`None` while one was never probed):
    /// every fact of the snapshot is at least this recent.
    fn oldest_probe(&self) -> Option<tokio::time::Instant> {
        let probed = self.probed.lock().unwrap_or_else(|e| e.into_inner());
        let mut oldest: Option<tokio::time::Instant> = None;
        for n in self.cluster.groups.iter().flat_map(|g| g.nodes.iter()) {
            let t = *probed.get(&n.name)?;
            oldest = Some(oldest.map_or(t, |o| o.min(t)));
        }
        oldest
    }

    /// The nodes to probe, as (group, node) positions in the cluster: a copy of each node's group
    /// per job made memory grow with the square of the node count (1,000 hosts in one group: a
    /// million node copies per round).
    fn jobs(&self, wanted: impl Fn(&crate::model::Node) -> bool) -> Vec<(usize, usize)> {
        let mut jobs = Vec::new();
        for (gi, g) in self.cluster.groups.iter().enumerate() {
            for (ni, n) in g.nodes.iter().enumerate() {
                if wanted(n) {
                    jobs.push((gi, ni));
                }
            }
        }
        jobs
    }

    async fn probe_and_merge(&self, jobs: Vec<(usize, usize)>) -> Snapshot {
        let cluster = self.cluster.clone();
        let transport = self.transport.clone();
        let results: Vec<(String, NodeObs, tokio::time::Instant, u64)> = futures_util::stream::iter(jobs)
            .map(|(gi, ni)| {
                let cluster = cluster.clone();
                let transport = transport.clone();
                async move {
                    let t = tokio::time::Instant::now();
                    let g = &cluster.groups[gi];
                    let n = &g.nodes[ni];
                    let obs = probe_node(transport.as_ref(), &cluster, g, n).await;
                    (n.name.clone(), obs, t, t.elapsed().as_millis() as u64)
                }
            })
            .buffer_unordered(self.cluster.ssh.parallelism.max(1))
            .collect()
            .await;
        let now = Timestamp::now();
        let mut snap = self.current();
        let mut probed = self.probed.lock().unwrap_or_else(|e| e.into_inner());
        for (name, obs, began, ms) in results {
            probed.insert(name.clone(), began);
            let view = snap.nodes.entry(name).or_default();
            view.probe_ms = ms;
            if obs.reachable {
                view.last_seen = Some(now);
                view.last_good = Some(obs.clone());
                view.stale = false;
            } else {
                view.stale = view.last_good.is_some();
            }
            view.obs = obs;
        }
        snap.refreshed_at = Some(now);
        snap
    }

    /// Refreshes every `timeouts.refresh` until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.cluster.timeouts.refresh);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => { self.refresh().await; }
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: &str = r#"
[cluster]
name = "t"
target = "1.0.0"
profile = "any-order"
transport = "local"
[kinds.node]
version = "echo v1.0.0"
install = "true"
[[groups]]
name = "g"
type = "server"
kind = "node"
hosts = ["a", "b"]
"#;

    #[tokio::test]
    async fn gate_waits_reuse_a_round_that_started_after_they_asked() {
        let cluster = Arc::new(crate::config::parse_str(LOCAL, "t.toml", std::path::Path::new(".")).unwrap());
        let p = Poller::new(cluster, Arc::new(crate::transport::local::LocalTransport::new()));
        let before = tokio::time::Instant::now();
        let first = p.refresh().await;
        assert_eq!(first.generation, 1);
        assert_eq!(first.nodes["a"].obs.version.as_ref().map(|v| v.to_string()).as_deref(), Some("1.0.0"));
        // Asked for facts newer than `before`: the round just made serves, no new probing.
        assert_eq!(p.refresh_since(before).await.generation, 1);
        // Asked for facts newer than now: a new round.
        assert_eq!(p.refresh().await.generation, 2);
    }
}
