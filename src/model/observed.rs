//! What rollpilot knows about each node right now: the input of every plan and every gate.

use semver::Version;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A node's role in its group, as the probes report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
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
    /// Every role word a parser map may produce, with its meaning: one list for the parser and
    /// for the error that lists what is allowed.
    pub const WORDS: &'static [(&'static str, Role)] = &[
        ("active", Role::Active),
        ("master", Role::Active),
        ("primary", Role::Active),
        ("leader", Role::Active),
        ("online", Role::Active),
        ("passive", Role::Passive),
        ("standby", Role::Passive),
        ("mirror", Role::Passive),
        ("replica", Role::Passive),
        ("slave", Role::Passive),
        ("secondary", Role::Passive),
        ("follower", Role::Passive),
        ("stopped", Role::Stopped),
        ("down", Role::Stopped),
        ("offline", Role::Stopped),
        ("unknown", Role::Unknown),
        ("none", Role::None),
        ("peer", Role::None),
        ("client", Role::None),
        ("running", Role::None),
        ("-", Role::None),
    ];

    /// Reads a role word from a parser map value; accepts the vocabulary of the seed systems.
    pub fn from_word(s: &str) -> Option<Role> {
        let w = s.trim().to_ascii_lowercase();
        Role::WORDS.iter().find(|(k, _)| *k == w).map(|(_, r)| *r)
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
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
    /// Every sync word a parser map may produce, with its meaning.
    pub const WORDS: &'static [(&'static str, SyncState)] = &[
        ("in-sync", SyncState::InSync),
        ("insync", SyncState::InSync),
        ("synced", SyncState::InSync),
        ("yes", SyncState::InSync),
        ("up", SyncState::InSync),
        ("syncing", SyncState::Syncing),
        ("catching-up", SyncState::Syncing),
        ("uninitialized", SyncState::Syncing),
        ("out-of-sync", SyncState::OutOfSync),
        ("no", SyncState::OutOfSync),
        ("down", SyncState::OutOfSync),
        ("unknown", SyncState::Unknown),
        ("n/a", SyncState::NotApplicable),
        ("not-applicable", SyncState::NotApplicable),
        ("none", SyncState::NotApplicable),
        ("-", SyncState::NotApplicable),
    ];

    /// Reads a sync word from a parser map value.
    pub fn from_word(s: &str) -> Option<SyncState> {
        let w = s.trim().to_ascii_lowercase();
        SyncState::WORDS.iter().find(|(k, _)| *k == w).map(|(_, r)| *r)
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

/// Words are read the way the parsers read them, so a state file may say `n/a` (the README's
/// word) or `-` (what `status --json` prints) as well as the serialized `not-applicable`.
impl<'de> Deserialize<'de> for SyncState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = String::deserialize(d)?;
        SyncState::from_word(&w).ok_or_else(|| {
            serde::de::Error::custom(format!("`{w}` is not a sync state; allowed: {}", word_list(SyncState::WORDS)))
        })
    }
}

/// Roles are read like the parsers read them (`master`, `standby`, `-` as `status --json` prints).
impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = String::deserialize(d)?;
        Role::from_word(&w).ok_or_else(|| {
            serde::de::Error::custom(format!("`{w}` is not a role; allowed: {}", word_list(Role::WORDS)))
        })
    }
}

/// "active (master, primary), passive (...)": the accepted words grouped by meaning, for errors.
pub fn word_list<T: Copy + PartialEq>(words: &[(&str, T)]) -> String {
    let mut groups: Vec<(T, Vec<&str>)> = Vec::new();
    for (w, m) in words {
        match groups.iter_mut().find(|(k, _)| k == m) {
            Some((_, ws)) => ws.push(w),
            None => groups.push((*m, vec![w])),
        }
    }
    groups
        .iter()
        .map(|(_, ws)| match ws.split_first() {
            Some((first, [])) => first.to_string(),
            Some((first, rest)) => format!("{first} ({})", rest.join(", ")),
            None => String::new(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads an eligibility word ("may this passive take over?"): `None` for unknown.
pub fn eligible_from_word(s: &str) -> Option<Option<bool>> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "eligible" => Some(true),
        "no" | "false" | "ineligible" => Some(false),
        "unknown" => None,
        _ => return None,
    })
}

/// The eligibility words, for errors.
pub const ELIGIBLE_WORDS: &str = "yes (true, eligible), no (false, ineligible), unknown";

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
    /// The number behind a numeric sync fact, for the table: "lag 4.2 MiB".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_detail: Option<String>,
    /// May this node take over as active: `Some(false)` rules it out as the peer of a
    /// switchover; unknown (`None`) counts as eligible, as before eligibility was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eligible: Option<bool>,
    /// The raw word behind `eligible` (e.g. `sync_standby`), to say why a peer was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eligible_detail: Option<String>,
    /// The version the service runs, when the kind reads it apart from the installed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_version: Option<Version>,
    /// The version the cluster is committed to (CockroachDB's cluster version, MongoDB's
    /// featureCompatibilityVersion), when the kind reads it: below its major.minor no
    /// downgrade is possible any more (R14), and at the target's there is nothing to finalize.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalized: Option<Version>,
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

    /// Not ruled out from taking over (unknown eligibility counts as eligible).
    pub fn is_eligible(&self) -> bool {
        self.eligible != Some(false)
    }

    /// A passive that is in sync and eligible: what R5 needs before an active stops.
    pub fn can_take_over(&self) -> bool {
        self.is_standby_in_sync() && self.is_eligible()
    }

    /// The sync word with its number when one was read: "syncing (lag 4.2 MiB)".
    pub fn sync_shown(&self) -> String {
        match &self.sync_detail {
            Some(d) => format!("{} ({d})", self.sync),
            None => self.sync.to_string(),
        }
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
