//! The cluster as the poller sees it, in display shape: one row per node, the versions seen and
//! the mixed-version window, each node's step column.

use super::{CHANGED_SECS, State, StepState};
use crate::plan::Level;
use crate::probe::Snapshot;
use crate::status_view::{self, Row};
use crate::tui::text::seen_word;
use jiff::Timestamp;
use semver::Version;
use std::collections::HashMap;

/// A node's row, in display shape; rebuilt when a snapshot arrives.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRow {
    /// The facts, as `status` shows them.
    pub row: Row,
    /// Its last answer.
    pub last_seen: Option<Timestamp>,
    /// The role word changed at this time (failover).
    pub role_changed_at: Option<Timestamp>,
    /// The role word before the change.
    pub previous_role: Option<String>,
    /// Runs the target version.
    pub at_target: bool,
    /// The node's kind name (`[kinds.NAME]`: `tc-server`, `patroni`), which says more than
    /// the group type when one cluster mixes products.
    pub kind: String,
}

/// The cluster as the poller sees it, in display shape (changed only by snapshots, and by the
/// run's steps for the step column).
#[derive(Debug, Clone, Default)]
pub struct LiveView {
    /// The latest snapshot.
    pub snapshot: Snapshot,
    /// Node rows in config order.
    pub rows: Vec<NodeRow>,
    /// Since when the nodes run more than one version (R7), as this TUI saw it.
    pub mixed_since: Option<Timestamp>,
    /// Distinct versions seen, with how many nodes run each.
    pub versions: Vec<(Version, usize)>,
    /// Node → the text of its step column.
    pub node_steps: HashMap<String, (StepState, String)>,
}

impl State {
    /// Nodes run more than one version.
    pub fn is_mixed(&self) -> bool {
        self.live.versions.len() > 1
    }

    /// Rebuilds the node rows from the snapshot (and notes role changes).
    pub(crate) fn rebuild_rows(&mut self) {
        let rows = status_view::rows(&self.cluster, &self.live.snapshot);
        let old: HashMap<&str, &NodeRow> = self.live.rows.iter().map(|r| (r.row.host.as_str(), r)).collect();
        let mut out = Vec::with_capacity(rows.len());
        let mut changes = Vec::new();
        for r in rows {
            let view = self.live.snapshot.nodes.get(&r.host);
            let last_seen = view.and_then(|v| v.last_seen);
            let (mut changed_at, mut previous) = (None, None);
            if let Some(o) = old.get(r.host.as_str()) {
                changed_at = o.role_changed_at;
                previous = o.previous_role.clone();
                let real = |w: &str| w != "unknown" && w != "-";
                if o.row.role != r.role && real(&o.row.role) && real(&r.role) && r.reachable {
                    changed_at = Some(self.now);
                    previous = Some(o.row.role.clone());
                    changes.push(format!("{} is now {} (was {})", r.host, r.role, o.row.role));
                }
            }
            let at_target = r.version.as_deref() == Some(r.target.as_str());
            let kind =
                self.cluster.groups.iter().find(|g| g.name == r.group).map(|g| g.kind.clone()).unwrap_or_default();
            out.push(NodeRow {
                row: r,
                last_seen,
                role_changed_at: changed_at,
                previous_role: previous,
                at_target,
                kind,
            });
        }
        self.live.rows = out;
        // Versions and the mixed-version window (R7).
        let mut versions: Vec<(Version, usize)> = Vec::new();
        for v in self.live.snapshot.nodes.values() {
            let shown = if v.obs.reachable { Some(&v.obs) } else { v.last_good.as_ref() };
            if let Some(ver) = shown.and_then(|o| o.version.as_ref()) {
                match versions.iter_mut().find(|(x, _)| x == ver) {
                    Some((_, n)) => *n += 1,
                    None => versions.push((ver.clone(), 1)),
                }
            }
        }
        versions.sort_by(|a, b| a.0.cmp(&b.0));
        self.live.versions = versions;
        if self.live.versions.len() > 1 {
            self.live.mixed_since.get_or_insert(self.now);
        } else if !self.live.versions.is_empty() {
            self.live.mixed_since = None;
        }
        for c in changes {
            self.push_log(Level::Info, format!("observed: {c}"));
        }
        self.refilter();
    }

    /// "now", "12s ago"... for a node's last answer; "now" while it answers every refresh.
    pub fn seen(&self, r: &NodeRow) -> String {
        seen_word(r.last_seen, self.now, self.cluster.timeouts.refresh)
    }

    /// Whether a node's role changed recently enough to be highlighted.
    pub fn role_recently_changed(&self, r: &NodeRow) -> bool {
        r.role_changed_at.is_some_and(|t| self.now.as_second() - t.as_second() < CHANGED_SECS)
    }
}
