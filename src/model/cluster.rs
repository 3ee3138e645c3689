//! The cluster as rollpilot understands it: groups of nodes, what each group is for in the
//! procedure, and how to talk to each kind of node. Built from the config, never from I/O.

use super::quantity::Quantity;
use super::template::Template;
use super::version::CompatRule;
use regex::Regex;
use semver::Version;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Which seed procedure orders the rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// BigMemory/Terracotta 4.2 (seeds 000/001): mirrors, then actives with failover, clients,
    /// then WAN orchestrators.
    Terracotta,
    /// An active/passive pair with an explicit switchover (Exchange virtual servers, seed 003;
    /// Redis with Sentinel).
    ActivePassive,
    /// Peers with no failover roles, upgraded one at a time in any order (StreamBase, seed 002).
    AnyOrder,
}

impl Profile {
    /// The spelling used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Terracotta => "terracotta",
            Profile::ActivePassive => "active-passive",
            Profile::AnyOrder => "any-order",
        }
    }
}

/// Whether to move the active role back to its original node after the upgrade (R8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailbackPolicy {
    /// Offer it as a step the operator may decline.
    Ask,
    /// Always plan it (it proves failover works, seed 003's best practice).
    Always,
    /// Leave the roles where the upgrade left them.
    Never,
}

/// How commands reach the hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransportKind {
    /// The system `ssh`, honouring the operator's ssh config.
    Ssh,
    /// `sh -c` on this machine: the simulator and the demo.
    Local,
}

/// What rollpilot does when a host presents a key it has not seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicy {
    /// Refuse unknown keys (`StrictHostKeyChecking=yes`); the operator adds them first.
    Strict,
    /// Learn keys of new hosts, still refuse changed ones (`accept-new`).
    AcceptNew,
}

/// SSH settings shared by every host unless a host overrides user or port.
#[derive(Debug, Clone, PartialEq)]
pub struct SshSettings {
    /// Remote login, when not left to the ssh config.
    pub user: Option<String>,
    /// Remote port, when not left to the ssh config.
    pub port: Option<u16>,
    /// Private key to use (and only that one).
    pub identity: Option<PathBuf>,
    /// An ssh_config file to use instead of ~/.ssh/config.
    pub config_file: Option<PathBuf>,
    /// A known_hosts file to use instead of ~/.ssh/known_hosts.
    pub known_hosts: Option<PathBuf>,
    /// Unknown-key behaviour; a changed key is always refused.
    pub host_key_policy: HostKeyPolicy,
    /// Give up connecting after this long.
    pub connect_timeout: Duration,
    /// Hosts contacted at once by the poller.
    pub parallelism: usize,
    /// Commands in flight per host connection (sshd's MaxSessions defaults to 10).
    pub max_sessions: usize,
    /// Bastions to jump through (`-J`), when not in the ssh config.
    pub jump_hosts: Vec<String>,
}

/// How long rollpilot waits for each kind of thing before it reports and asks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    /// One probe command (version, status, health).
    pub probe: Duration,
    /// One step command (stop, install, start...).
    pub step: Duration,
    /// A gate waiting for the cluster (sync, failover, safe-to-stop).
    pub gate: Duration,
    /// Interval between live refreshes.
    pub refresh: Duration,
    /// How long a switchover or failback command's role change is watched for, so a handover
    /// that did not happen is reported at once instead of after the whole gate timeout.
    pub switchover: Duration,
}

/// `[notify]`: run locally with `sh -c`, one JSON event on stdin, so a chat or pager hears
/// when an unattended window needs a human.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifySpec {
    /// The shell command.
    pub command: String,
    /// It is killed after this long, so a hung hook never holds anything up.
    pub timeout: Duration,
}

/// Where the cluster-wide operator lock lives.
#[derive(Debug, Clone, PartialEq)]
pub struct LockSpec {
    /// The node whose host holds the lock directory.
    pub node: String,
    /// The lock directory on that host.
    pub path: String,
    /// How long a lock stays valid without renewal.
    pub lease: Duration,
}

/// What a group is in the procedure; decides its phase and its steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupType {
    /// A server group (a Terracotta stripe, an Exchange pair, a Redis replication set):
    /// active and passive members, failover between them.
    Server,
    /// Clients of a server group, upgraded after their servers, in batches.
    Client,
    /// WAN orchestrators: stopped standbys-first, upgraded together, restarted together.
    Orchestrator,
    /// Members with no roles (StreamBase nodes, Redis sentinels), one at a time, keeping quorum.
    Peer,
    /// A component that can only be upgraded with the service offline (R9).
    Component,
}

impl GroupType {
    /// The spelling used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupType::Server => "server",
            GroupType::Client => "client",
            GroupType::Orchestrator => "orchestrator",
            GroupType::Peer => "peer",
            GroupType::Component => "component",
        }
    }
}

/// The role an orchestrator is configured for (seed 001 distinguishes master and standby).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeclaredRole {
    /// The master orchestrator of its region.
    Master,
    /// A standby orchestrator.
    Standby,
}

/// One host of the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The name operators use; unique in the cluster.
    pub name: String,
    /// What ssh connects to (an ssh_config alias, a host name or an address); defaults to `name`.
    pub address: String,
    /// Per-host ssh user override.
    pub user: Option<String>,
    /// Per-host ssh port override.
    pub port: Option<u16>,
    /// The configured orchestrator role, for orchestrator groups.
    pub declared_role: Option<DeclaredRole>,
    /// Per-host template variables (override group and cluster variables).
    pub vars: BTreeMap<String, String>,
}

/// A set of nodes treated alike by the procedure.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Unique group name (a region or stripe, "clients", "wan"...).
    pub name: String,
    /// What the group is in the procedure.
    pub gtype: GroupType,
    /// Key of the `[kinds.X]` table giving its commands and parsers.
    pub kind: String,
    /// Region label shown to operators (seed 001 upgrades all regions' TSAs first).
    pub region: Option<String>,
    /// Its members, in the order the operator listed them.
    pub nodes: Vec<Node>,
    /// Whether its data survives a restart (decides R3).
    pub persistent: bool,
    /// Clients upgraded together.
    pub batch: usize,
    /// Orchestrators configured with replicaDisconnectBehavior=reconnectResync (seed 001).
    pub reconnect_resync: bool,
    /// Members that must stay up (sentinels).
    pub quorum: Option<usize>,
    /// The group can only be upgraded with the service offline (R9).
    pub offline: bool,
    /// For a client group: the server group it talks to.
    pub servers: Option<String>,
    /// For a component group: the server group whose service goes offline.
    pub service: Option<String>,
    /// A version for this group different from the cluster's target.
    pub target: Option<Version>,
    /// Group template variables.
    pub vars: BTreeMap<String, String>,
    /// Overrides the kind's `takeover` rule for this group (R15), when set.
    pub takeover: Option<Takeover>,
    /// Members that may be down at once (`max_unavailable`); `None` is one at a time. Wider
    /// batches shorten a long rollout of a big peer group without giving up its quorum.
    pub max_unavailable: Option<MaxUnavailable>,
    /// A per-host variable (rack, zone) whose value a batch never spans (`batch_by`), so one
    /// batch never takes down two failure domains at once.
    pub batch_by: Option<String>,
    /// Failed nodes tolerated (reported and left out) before the run stops (`max_failures`).
    pub max_failures: usize,
}

/// How many members of a group may be down at once: a count or a share of the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxUnavailable {
    /// At most this many members.
    Count(usize),
    /// At most this percentage of the members (rounded down, at least one).
    Percent(u8),
}

impl MaxUnavailable {
    /// The count for a group of `members`: a percentage is rounded down, never below one.
    pub fn resolve(self, members: usize) -> usize {
        match self {
            MaxUnavailable::Count(n) => n.max(1),
            MaxUnavailable::Percent(p) => (members * p as usize / 100).max(1),
        }
    }

    /// As written in a config file.
    pub fn as_config(self) -> String {
        match self {
            MaxUnavailable::Count(n) => n.to_string(),
            MaxUnavailable::Percent(p) => format!("\"{p}%\""),
        }
    }
}

/// The commands of one kind of node. Only `version` is mandatory; a missing command means the
/// step does not exist for this kind (an Exchange node has no separate stop).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Commands {
    /// Prints the installed version (works while the service is stopped, like version.sh).
    pub version: Option<Template>,
    /// Prints the role and sync state.
    pub status: Option<Template>,
    /// Exits 0 when the node serves.
    pub health: Option<Template>,
    /// Stops the service.
    pub stop: Option<Template>,
    /// Installs `{version}` (the seed: remove the old kit, unpack the new one).
    pub install: Option<Template>,
    /// Starts the service.
    pub start: Option<Template>,
    /// Moves the active role from this node to `{peer}` (move the virtual server).
    pub switchover: Option<Template>,
    /// Moves the active role back to this node from `{peer}`.
    pub failback: Option<Template>,
    /// Reinstalls `{version}` = the previous version after a failure.
    pub rollback: Option<Template>,
    /// Optional irreversible cleanup after stop (seed 001: dirty-objectdb backups).
    pub cleanup: Option<Template>,
    /// Takes the service offline for an offline-only component (R9).
    pub offline: Option<Template>,
    /// Brings the service back online.
    pub online: Option<Template>,
    /// A read-only check run on every node of the kind before anything is touched (the kit is
    /// there, the disk has room); a failure on any host refuses the run.
    pub preflight: Option<Template>,
    /// Runs once before the first node of the kind is touched (a backup, a frozen setting).
    pub before: Option<Template>,
    /// Undoes `before`; always runs when `before` ran: at the end, after an abort, on resume.
    pub restore: Option<Template>,
    /// Takes a node out of service before its stop.
    pub drain: Option<Template>,
    /// Puts a node back into service after its start was verified.
    pub undrain: Option<Template>,
    /// A cluster-wide check after the last node; it must exit 0.
    pub cluster_health: Option<Template>,
    /// Commits the cluster to the new version (e.g. `RESET CLUSTER SETTING
    /// cluster.preserve_downgrade_option`); may be deferred to `rollpilot finalize`.
    pub finalize: Option<Template>,
}

impl Commands {
    /// Every template with its config key, for validation and display.
    pub fn all(&self) -> Vec<(&'static str, &Template)> {
        let mut v = Vec::new();
        let pairs: [(&'static str, &Option<Template>); 19] = [
            ("version", &self.version),
            ("status", &self.status),
            ("health", &self.health),
            ("stop", &self.stop),
            ("install", &self.install),
            ("start", &self.start),
            ("switchover", &self.switchover),
            ("failback", &self.failback),
            ("rollback", &self.rollback),
            ("cleanup", &self.cleanup),
            ("offline", &self.offline),
            ("online", &self.online),
            ("preflight", &self.preflight),
            ("before", &self.before),
            ("restore", &self.restore),
            ("drain", &self.drain),
            ("undrain", &self.undrain),
            ("cluster_health", &self.cluster_health),
            ("finalize", &self.finalize),
        ];
        for (k, t) in pairs {
            if let Some(t) = t {
                v.push((k, t));
            }
        }
        v
    }
}

/// Which probe's output a parser reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeKind {
    /// The `version` command.
    Version,
    /// The `status` command.
    Status,
    /// The `health` command.
    Health,
}

impl ProbeKind {
    /// The probe's name in messages and config.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Version => "version",
            ProbeKind::Status => "status",
            ProbeKind::Health => "health",
        }
    }
}

/// How a value is found in a probe's output.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// The first capture group of the regex that participated in the match (or the whole
    /// match when the regex has no groups).
    Regex(Regex),
    /// A `key:value` or `key=value` line (Redis INFO, properties files).
    Key(String),
    /// An RFC 9535 JSONPath into JSON output (REST APIs, `-o json` listings). `{name}`
    /// placeholders (e.g. `{host}`) are filled per node with JSON-string-escaped values, so
    /// one path selects this node's member of a cluster-wide listing.
    Json(String),
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Matcher::Regex(a), Matcher::Regex(b)) => a.as_str() == b.as_str(),
            (Matcher::Key(a), Matcher::Key(b)) | (Matcher::Json(a), Matcher::Json(b)) => a == b,
            _ => false,
        }
    }
}

/// Reads one fact out of one probe's output: find a value, then translate it through `map`.
#[derive(Debug, Clone, PartialEq)]
pub struct Extract {
    /// Which probe's output is read.
    pub from: ProbeKind,
    /// How the raw value is found.
    pub matcher: Matcher,
    /// Raw value → meaning (e.g. "PASSIVE-STANDBY" → "passive"); empty means the raw value is the meaning.
    pub map: BTreeMap<String, String>,
    /// Meaning when nothing matched; `None` makes "nothing matched" an error worth reporting.
    pub default: Option<String>,
    /// For a numeric fact (replication lag): the value read is a number, at most this much
    /// means in sync, more means still syncing.
    pub max: Option<Quantity>,
}

/// The parsers of one kind of node.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsers {
    /// Finds the version (mandatory).
    pub version: Extract,
    /// Finds the role (active/passive/stopped...).
    pub role: Option<Extract>,
    /// Finds the sync state (in-sync/syncing/out-of-sync).
    pub sync: Option<Extract>,
    /// Finds health (ok/failed); without it, health is the health command's exit status.
    pub health: Option<Extract>,
    /// Finds whether a passive may take over (yes/no); without it every passive may. Distinct
    /// from sync: a Patroni replica tagged `nofailover` can be in sync and still never promote.
    pub eligible: Option<Extract>,
    /// Finds the version the service actually runs, when it can differ from the installed one
    /// (a package upgraded under a running PostgreSQL); R6 then checks both.
    pub running_version: Option<Extract>,
    /// Finds the version the cluster is committed to (its finalized series), for R14.
    pub finalized: Option<Extract>,
}

/// Commands and parsers shared by the groups of one kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Kind {
    /// The `[kinds.X]` key.
    pub name: String,
    /// Command templates.
    pub commands: Commands,
    /// Output parsers.
    pub parse: Parsers,
    /// Run every command through `sudo -n`.
    pub sudo: bool,
    /// The cluster manager chooses the node that takes over (`peer = "auto"`): rollpilot does
    /// not name one, and templates of this kind cannot use `{peer}`.
    pub peer_auto: bool,
    /// Remote working directory every command of the kind runs in (default `/`), so relative
    /// paths do not depend on the login directory of whoever runs rollpilot.
    pub workdir: String,
    /// The step after which the kind's upgrade cannot be rolled back, if any.
    pub point_of_no_return: Option<NoReturn>,
    /// Which members may take the active role over, by version (R15); a group may override it.
    pub takeover: Takeover,
    /// Words that, printed by a switchover or failback command, mean it refused (Sentinel's
    /// `ERR`/`NOGOODSLAVE`, patronictl's "not possible") even when it exited 0.
    pub switchover_refused: Vec<String>,
}

/// Which direction a takeover may go, by version (R15 takeover-direction): some products
/// (PostgreSQL across majors, MongoDB across FCV) must never fail over from a newer member to an
/// older one, because the newer data format cannot be read back by the older version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Takeover {
    /// Any member in sync and eligible may take over (the default).
    #[default]
    Any,
    /// Only a member that will run the same or a newer version than the active it replaces.
    NewerOrEqual,
}

impl Takeover {
    /// The spelling used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            Takeover::Any => "any",
            Takeover::NewerOrEqual => "newer-or-equal",
        }
    }

    /// Parses a configuration value.
    pub fn parse(s: &str) -> Option<Takeover> {
        match s {
            "any" => Some(Takeover::Any),
            "newer-or-equal" => Some(Takeover::NewerOrEqual),
            _ => None,
        }
    }
}

/// Which step of a kind's upgrade cannot be undone (CockroachDB finalization, MongoDB
/// `setFeatureCompatibilityVersion`): before it a rollback is offered, after it never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoReturn {
    /// The `finalize` step: the cluster stays downgradable until the operator finalizes.
    Finalize,
    /// The last node's upgrade: once every node runs the target, there is no way back.
    AllUpgraded,
}

impl NoReturn {
    /// The spelling used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            NoReturn::Finalize => "finalize",
            NoReturn::AllUpgraded => "all-upgraded",
        }
    }
}

/// The whole cluster description, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// Cluster name; typed by the operator to confirm dangerous steps.
    pub name: String,
    /// The version every node should run at the end.
    pub target: Version,
    /// Which seed procedure orders the rollout.
    pub profile: Profile,
    /// Which versions may run side by side (R1).
    pub compat: CompatRule,
    /// Whether servers keep their data across restarts (R3), unless a group overrides it.
    pub persistent: bool,
    /// Failback after the upgrade (R8).
    pub failback: FailbackPolicy,
    /// How commands reach the hosts.
    pub transport: TransportKind,
    /// SSH settings.
    pub ssh: SshSettings,
    /// Waiting limits.
    pub timeouts: Timeouts,
    /// Directory on each host for detached step jobs.
    pub job_dir: String,
    /// The operator lock.
    pub lock: LockSpec,
    /// A local command told about decisions, failures and the end of a run (`[notify]`).
    pub notify: Option<NotifySpec>,
    /// Cluster-wide template variables.
    pub vars: BTreeMap<String, String>,
    /// Commands and parsers per kind.
    pub kinds: BTreeMap<String, Kind>,
    /// Groups in the order the operator listed them.
    pub groups: Vec<Group>,
    /// Server groups whose sequences may run at once (`parallel_groups`, default 1): independent
    /// groups share no member, so a wide cluster of stripes need not wait for each in turn.
    pub parallel_groups: usize,
}

impl Cluster {
    /// Finds a node and its group by node name.
    pub fn node(&self, name: &str) -> Option<(&Group, &Node)> {
        self.groups.iter().find_map(|g| g.nodes.iter().find(|n| n.name == name).map(|n| (g, n)))
    }

    /// Finds a group by name.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// All nodes with their groups, in config order.
    pub fn nodes(&self) -> impl Iterator<Item = (&Group, &Node)> {
        self.groups.iter().flat_map(|g| g.nodes.iter().map(move |n| (g, n)))
    }

    /// The kind of a group (validated to exist at load time).
    pub fn kind_of(&self, group: &Group) -> Option<&Kind> {
        self.kinds.get(&group.kind)
    }

    /// The takeover rule of a group: its own, else its kind's, else any (R15).
    pub fn takeover_of(&self, group: &Group) -> Takeover {
        group.takeover.or_else(|| self.kind_of(group).map(|k| k.takeover)).unwrap_or_default()
    }

    /// The version a group should end on.
    pub fn target_of(&self, group: &Group) -> Version {
        group.target.clone().unwrap_or_else(|| self.target.clone())
    }

    /// Template variables for a node: cluster, then group, then host values, plus built-ins.
    pub fn vars_for(&self, group: &Group, node: &Node) -> BTreeMap<String, String> {
        let mut vars = self.vars.clone();
        vars.extend(group.vars.clone());
        vars.extend(node.vars.clone());
        vars.insert("cluster".into(), self.name.clone());
        vars.insert("host".into(), node.name.clone());
        vars.insert("address".into(), node.address.clone());
        vars.insert("group".into(), group.name.clone());
        vars.insert("region".into(), group.region.clone().unwrap_or_else(|| group.name.clone()));
        vars.insert("target".into(), self.target_of(group).to_string());
        vars
    }
}

/// Template variables rollpilot fills in itself; a config may use them without declaring them.
pub const BUILTIN_VARS: &[&str] =
    &["cluster", "host", "address", "group", "region", "target", "version", "from_version", "peer"];
