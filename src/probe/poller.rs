//! The live view: every `timeouts.refresh`, probe every node (at most `ssh.parallelism` hosts at
//! once) and publish one snapshot. A node whose refresh fails keeps its last good facts, marked
//! stale, so the operator sees both the last truth and that it is no longer current.

use super::probe_node;
use crate::model::{Cluster, NodeObs, Observed};
use crate::transport::Transport;
use futures_util::StreamExt;
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
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
}

impl Poller {
    /// A poller with an empty snapshot; call [`Poller::refresh`] or [`Poller::run`].
    pub fn new(cluster: Arc<Cluster>, transport: Arc<dyn Transport>) -> Arc<Self> {
        let (tx, _) = watch::channel(Snapshot::default());
        Arc::new(Poller { cluster, transport, tx, round: Mutex::new(()) })
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
        let _round = self.round.lock().await;
        let cluster = self.cluster.clone();
        let transport = self.transport.clone();
        let jobs = cluster.nodes().map(|(g, n)| (g.clone(), n.clone())).collect::<Vec<_>>();
        let results: Vec<(String, NodeObs, u64)> = futures_util::stream::iter(jobs)
            .map(|(g, n)| {
                let cluster = cluster.clone();
                let transport = transport.clone();
                async move {
                    let t = Instant::now();
                    let obs = probe_node(transport.as_ref(), &cluster, &g, &n).await;
                    (n.name, obs, t.elapsed().as_millis() as u64)
                }
            })
            .buffer_unordered(self.cluster.ssh.parallelism.max(1))
            .collect()
            .await;
        let now = Timestamp::now();
        let mut snap = self.current();
        for (name, obs, ms) in results {
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
        snap.generation += 1;
        self.tx.send_replace(snap.clone());
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
