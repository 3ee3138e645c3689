//! The simulator's own per-node configuration files (what `{tc_config}`, `{wan_config}` and the
//! kits' `conf/` directories hold). They are TOML in the simulator's format, not the real
//! products' XML, and say so in their first line.

use super::error::{SimError, io_err};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One server of a stripe, as every member of the stripe sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Host name.
    pub name: String,
    /// Address it listens on.
    pub address: String,
    /// Port (data, replication and statistics share it).
    pub port: u16,
    /// Its machine directory (install dir; run/, logs/, data/ inside).
    pub node_dir: PathBuf,
    /// Where it keeps its data when persistent.
    pub data_dir: PathBuf,
    /// The port of its HTTP status API (jsondb only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_port: Option<u16>,
    /// It never takes the active role over while another in-sync member can (a Patroni
    /// `nofailover` tag), so a rehearsal twin plays an operator's "only some replicas may take
    /// over".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nofailover: bool,
}

/// The HTTP status API of a jsondb stripe: what makes the Terracotta-style engine a database
/// with a Patroni-like REST API, a looser join rule and a cluster version to finalize.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpApi {
    /// The cluster name shown as `scope`.
    pub scope: String,
    /// The file holding the finalized cluster version (major.minor), shared by every member.
    pub cluster_version_file: PathBuf,
    /// Every member of every group of the simulated cluster, for the cluster-wide answers
    /// (finalize, cluster health); empty means this stripe is the whole cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster: Vec<Member>,
    /// Which versions replicate together (a rehearsal twin plays the operator's compat rule);
    /// absent: members of one major version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compat: Option<crate::model::CompatRule>,
}

/// `tc-config.conf`: one stripe (a Terracotta server array group).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StripeConf {
    /// The simulator directory.
    pub sim_dir: PathBuf,
    /// The stripe (group) name.
    pub group: String,
    /// Fast Restart: data survives a restart.
    pub persistent: bool,
    /// Members, in config order (the order breaks ties in elections).
    pub servers: Vec<Member>,
    /// jsondb: the HTTP status API; members of one major version replicate together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpApi>,
}

/// `conf/tc-client.conf` beside a client's kit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientConf {
    /// The simulator directory.
    pub sim_dir: PathBuf,
    /// The client's host name.
    pub name: String,
    /// Its machine directory.
    pub node_dir: PathBuf,
    /// The stripe it writes to.
    pub group: String,
    /// That stripe's servers.
    pub servers: Vec<Member>,
    /// Pause between writes, in milliseconds.
    pub interval_ms: u64,
}

/// One WAN orchestrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Orchestrator {
    /// Host name.
    pub name: String,
    /// Address it listens on.
    pub address: String,
    /// Port.
    pub port: u16,
    /// MASTER or STANDBY.
    pub role: String,
    /// Its machine directory.
    pub node_dir: PathBuf,
}

/// `wan.conf`: the WAN replication service's orchestrators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WanConf {
    /// The simulator directory.
    pub sim_dir: PathBuf,
    /// Every orchestrator.
    pub orchestrators: Vec<Orchestrator>,
}

/// One StreamBase node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SbMember {
    /// Host name.
    pub name: String,
    /// Its service name (`<host>.<cluster_suffix>`), what epadmin is given.
    pub service: String,
    /// Address it listens on.
    pub address: String,
    /// Port.
    pub port: u16,
    /// Its machine directory (`{sb_home}`).
    pub node_dir: PathBuf,
}

/// `conf/node.conf` beside a StreamBase kit: the whole cluster, so any epadmin finds any node
/// by service name (the simulator's stand-in for service discovery).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SbConf {
    /// The simulator directory.
    pub sim_dir: PathBuf,
    /// Every node.
    pub nodes: Vec<SbMember>,
}

/// One Exchange cluster node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExNode {
    /// Host name.
    pub name: String,
    /// Address of its cluster service.
    pub address: String,
    /// Port of its cluster service.
    pub port: u16,
    /// Its machine directory (`{exch_home}` and `{av_home}`).
    pub node_dir: PathBuf,
}

/// `conf/cluster.conf` beside an Exchange kit: both nodes, the virtual server, shared storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExConf {
    /// The simulator directory.
    pub sim_dir: PathBuf,
    /// The virtual server's name (EVS1).
    pub evs: String,
    /// The virtual server's address: clients reach it there wherever it runs.
    pub evs_address: String,
    /// The virtual server's port.
    pub evs_port: u16,
    /// The shared disk holding the virtual server's data.
    pub storage: PathBuf,
    /// The quorum file: who owns the virtual server, online or not.
    pub quorum: PathBuf,
    /// Both nodes.
    pub nodes: Vec<ExNode>,
}

/// A simulator writer's target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Name for logs.
    pub name: String,
    /// Address.
    pub address: String,
    /// Port.
    pub port: u16,
}

/// `loader.conf` of one of the simulator's own writers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoaderConf {
    /// The simulator directory.
    pub sim_dir: PathBuf,
    /// Its name (key prefix).
    pub name: String,
    /// Its directory (acked.log, run/, logs/).
    pub dir: PathBuf,
    /// Where to write: one target (a virtual server) or several peers taken in turn.
    pub targets: Vec<Target>,
    /// Pause between writes, in milliseconds.
    pub interval_ms: u64,
    /// Write to one target until it fails (a leader), instead of spreading over all of them.
    #[serde(default)]
    pub follow_active: bool,
}

const HEADER: &str = "# rollpilot simulator configuration (the simulator's own TOML format, not the real product's).\n\
# Written by `rollpilot sim up`; the kit scripts of this node read it.\n";

/// Writes a conf file with its header.
pub fn write<T: Serialize>(path: &Path, conf: &T) -> Result<(), SimError> {
    let body = toml::to_string(conf).map_err(|e| SimError::Failed(format!("cannot encode {}: {e}", path.display())))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    }
    std::fs::write(path, format!("{HEADER}{body}")).map_err(io_err(format!("cannot write {}", path.display())))
}

/// Reads a conf file, naming the file and the problem.
pub fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, SimError> {
    let text = std::fs::read_to_string(path).map_err(io_err(format!("cannot read config {}", path.display())))?;
    toml::from_str(&text).map_err(|e| {
        SimError::Usage(format!(
            "{} is not a simulator config of the expected kind: {}",
            path.display(),
            e.message().trim()
        ))
    })
}
