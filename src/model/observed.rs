//! What rollpilot knows about each node right now: the input of every plan and every gate.

use semver::Version;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A node's role in its group, as the probes report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Serves the group (Terracotta ACTIVE-COORDINATOR, Redis master, Exchange virtual-server owner,
    /// WAN master orchestrator).
    Active,
    /// Stands by (mirror, replica, passive cluster node, standby orchestrator).
    Passive,
    /// The service is not running.
    Stopped,
    /// Could not be determined.
    #[default]
    Unknown,
    /// The node has no failover role (client, peer).
    None,
}

impl Role {
    /// Reads a role word from a parser map value; accepts the vocabulary of the seed systems.
    pub fn from_word(s: &str) -> Option<Role> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "active" | "master" | "primary" | "leader" | "online" => Role::Active,
            "passive" | "standby" | "mirror" | "replica" | "slave" | "secondary" | "follower" => Role::Passive,
            "stopped" | "down" | "offline" => Role::Stopped,
            "unknown" => Role::Unknown,
            "none" | "peer" | "client" | "running" => Role::None,
            _ => return None,
        })
    }

    /// Whether the service runs in some role.
    pub fn is_running(self) -> bool {
        matches!(self, Role::Active | Role::Passive | Role::None)
    }

    /// The word shown in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Active => "active",
            Role::Passive => "passive",
            Role::Stopped => "stopped",
            Role::Unknown => "unknown",
            Role::None => "-",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a passive holds a complete copy of its active's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SyncState {
    /// Complete and following (PASSIVE-STANDBY, master_link_status:up).
    InSync,
    /// Catching up (PASSIVE-UNINITIALIZED, a full resync in progress).
    Syncing,
    /// Known not to be in sync (link down).
    OutOfSync,
    /// Could not be determined.
    #[default]
    Unknown,
    /// Sync does not apply (an active, a client, a peer).
    NotApplicable,
}

impl SyncState {
    /// Reads a sync word from a parser map value.
    pub fn from_word(s: &str) -> Option<SyncState> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "in-sync" | "insync" | "synced" | "yes" | "up" => SyncState::InSync,
            "syncing" | "catching-up" | "uninitialized" => SyncState::Syncing,
            "out-of-sync" | "no" | "down" => SyncState::OutOfSync,
            "unknown" => SyncState::Unknown,
            "n/a" | "none" | "-" => SyncState::NotApplicable,
            _ => return None,
        })
    }

    /// The word shown in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::InSync => "in-sync",
            SyncState::Syncing => "syncing",
            SyncState::OutOfSync => "out-of-sync",
            SyncState::Unknown => "unknown",
            SyncState::NotApplicable => "-",
        }
    }
}

impl fmt::Display for SyncState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the node serves, per its health probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    /// The health probe passed.
    Ok,
    /// The health probe failed.
    Failed,
    /// No health probe, or it could not run.
    #[default]
    Unknown,
}

impl Health {
    /// Reads a health word from a parser map value.
    pub fn from_word(s: &str) -> Option<Health> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "ok" | "healthy" | "up" | "pong" | "yes" => Health::Ok,
            "failed" | "fail" | "unhealthy" | "down" | "no" => Health::Failed,
            "unknown" => Health::Unknown,
            _ => return None,
        })
    }

    /// The word shown in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Failed => "failed",
            Health::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything observed about one node at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NodeObs {
    /// The host answered (the probe command ran).
    #[serde(default = "yes")]
    pub reachable: bool,
    /// Installed version, if the version probe could be read.
    #[serde(default)]
    pub version: Option<Version>,
    /// Role in its group.
    #[serde(default)]
    pub role: Role,
    /// Sync state (for passives).
    #[serde(default)]
    pub sync: SyncState,
    /// Health.
    #[serde(default)]
    pub health: Health,
    /// The raw state word the node printed (e.g. PASSIVE-UNINITIALIZED), for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// What went wrong reading this node, in an operator's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn yes() -> bool {
    true
}

impl NodeObs {
    /// A node that could not be reached, with the reason.
    pub fn unreachable(error: impl Into<String>) -> Self {
        NodeObs { reachable: false, error: Some(error.into()), ..Default::default() }
    }

    /// In sync and running as a passive: a complete copy that can take over.
    pub fn is_standby_in_sync(&self) -> bool {
        self.reachable && self.role == Role::Passive && self.sync == SyncState::InSync
    }
}

/// The observed state of the whole cluster, keyed by node name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Observed {
    /// Per-node facts.
    #[serde(default)]
    pub nodes: BTreeMap<String, NodeObs>,
}

impl Observed {
    /// The facts for a node; an absent node reads as unknown and unreachable.
    pub fn get(&self, node: &str) -> NodeObs {
        self.nodes.get(node).cloned().unwrap_or_else(|| NodeObs::unreachable("not observed"))
    }
}
