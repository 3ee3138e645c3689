//! `D/sim.json` (what `sim up` created) and `D/pids.log` (every process it started), so that
//! `down`, `fault` and `verify` work from another process, long after `up` returned.

use super::error::{SimError, io_err};
use super::layout::Layout;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Format of `sim.json`; bumped when its meaning changes.
pub const STATE_FORMAT: u32 = 1;

/// Which simulated system runs in a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Topology {
    /// BigMemory/Terracotta 4.2 (seeds 000/001): two regions of active+mirror stripes, clients, WAN orchestrators.
    Terracotta,
    /// TIBCO StreamBase (seed 002): three peer nodes, mixed versions allowed.
    Streambase,
    /// Exchange 2003 (seed 003): two nodes hosting a virtual server, plus a virus scanner component.
    Exchange,
    /// A replicated database whose status is a Patroni-like JSON member list over HTTP, with
    /// replication lag in bytes and a cluster version that is finalized after the upgrade.
    Jsondb,
}

impl Topology {
    /// The name used on the command line and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Topology::Terracotta => "terracotta",
            Topology::Streambase => "streambase",
            Topology::Exchange => "exchange",
            Topology::Jsondb => "jsondb",
        }
    }

    /// Parses a `--topology` value, or says which ones exist.
    pub fn parse(s: &str) -> Result<Topology, SimError> {
        match s {
            "terracotta" => Ok(Topology::Terracotta),
            "streambase" => Ok(Topology::Streambase),
            "exchange" => Ok(Topology::Exchange),
            "jsondb" => Ok(Topology::Jsondb),
            other => Err(SimError::Usage(format!(
                "unknown topology `{other}`; choose terracotta, streambase, exchange or jsondb"
            ))),
        }
    }
}

/// What a host is in the simulated system; decides its scripts, process and probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostRole {
    /// A Terracotta server (member of a stripe).
    Server,
    /// A Terracotta client application.
    Client,
    /// A WAN orchestrator.
    Orchestrator,
    /// A StreamBase node.
    SbNode,
    /// An Exchange cluster node.
    Exchange,
    /// The virus scanner component installed on an Exchange node (no process of its own).
    Scanner,
}

impl HostRole {
    /// Whether the host runs a process of its own (crash, hang-stop and slow-start apply).
    pub fn has_process(self) -> bool {
        !matches!(self, HostRole::Scanner)
    }

    /// A short word for listings.
    pub fn as_str(self) -> &'static str {
        match self {
            HostRole::Server => "server",
            HostRole::Client => "client",
            HostRole::Orchestrator => "orchestrator",
            HostRole::SbNode => "streambase node",
            HostRole::Exchange => "exchange node",
            HostRole::Scanner => "scanner",
        }
    }
}

/// One host of the generated config, with where its simulated machine lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecord {
    /// The host name in cluster.toml.
    pub name: String,
    /// Its group in cluster.toml.
    pub group: String,
    /// What it is.
    pub role: HostRole,
    /// The simulated machine it sits on (its directory under D/nodes).
    pub machine: String,
    /// The machine directory (the product's install dir).
    pub node_dir: PathBuf,
    /// Where its kit tarballs are.
    pub kit_dir: PathBuf,
    /// Its product's tarball prefix and top-level directory ("terracotta", "scanner"...).
    pub product: String,
    /// The address its process listens on.
    pub bind: String,
    /// The port its process listens on, if it listens.
    pub port: Option<u16>,
    /// For a client: the server group it writes to.
    pub servers: Option<String>,
    /// The port of its HTTP status API (jsondb), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_port: Option<u16>,
    /// It may not take the active role over (a twin of a cluster where only some replicas
    /// may).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nofailover: bool,
}

impl HostRecord {
    /// The directory the product unpacks to (e.g. `<node_dir>/terracotta`).
    pub fn product_dir(&self) -> PathBuf {
        self.node_dir.join(&self.product)
    }

    /// The version of the kit currently unpacked, if any.
    pub fn installed_version(&self) -> Option<String> {
        let s = std::fs::read_to_string(self.product_dir().join("lib").join("version")).ok()?;
        let v = s.trim().to_string();
        if v.is_empty() { None } else { Some(v) }
    }
}

/// One of the simulator's own writers (topologies whose config lists no client hosts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoaderRecord {
    /// Its name (also the prefix of the keys it writes).
    pub name: String,
    /// Its directory under D/loaders.
    pub dir: PathBuf,
    /// The group it writes to, when the cluster has several (its data is checked there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// Everything `sim up` created, as read back by the other commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimState {
    /// [`STATE_FORMAT`] of the writer.
    pub format: u32,
    /// Which system runs here.
    pub topology: Topology,
    /// The engine binary the kits exec.
    pub engine: PathBuf,
    /// The initial version of the main product.
    pub version: String,
    /// Whether servers keep their data on disk.
    pub persistent: bool,
    /// Whether the config reaches the hosts over ssh.
    pub ssh: bool,
    /// Hosts in config order.
    pub hosts: Vec<HostRecord>,
    /// The simulator's own writers.
    pub loaders: Vec<LoaderRecord>,
    /// Exchange: the virtual server's name, address and port.
    pub evs: Option<(String, String, u16)>,
}

impl SimState {
    /// Reads `D/sim.json`, or explains that D is not a simulator directory.
    pub fn load(layout: &Layout) -> Result<SimState, SimError> {
        let path = layout.state_file();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SimError::NotASim(layout.root.clone()));
            }
            Err(e) => return Err(io_err(format!("cannot read {}", path.display()))(e)),
        };
        let st: SimState = serde_json::from_str(&text).map_err(|e| {
            SimError::Failed(format!(
                "{} is damaged ({e}); stop what runs with `rollpilot sim down --dir {}` and create the cluster again",
                path.display(),
                layout.root.display()
            ))
        })?;
        if st.format > STATE_FORMAT {
            return Err(SimError::Failed(format!(
                "{} was written by a newer rollpilot (format {}, this one reads {STATE_FORMAT}); use that rollpilot",
                path.display(),
                st.format
            )));
        }
        Ok(st)
    }

    /// Writes `D/sim.json` atomically.
    pub fn save(&self, layout: &Layout) -> Result<(), SimError> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| SimError::Failed(format!("cannot encode the simulator state: {e}")))?;
        write_atomic(&layout.state_file(), text.as_bytes())
    }

    /// Finds a host by name, or lists the hosts there are.
    pub fn host(&self, name: &str) -> Result<&HostRecord, SimError> {
        self.hosts.iter().find(|h| h.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
            SimError::Usage(format!("no node `{name}` in this simulated cluster; its nodes are: {}", names.join(", ")))
        })
    }
}

/// One process the simulator (or a kit script) started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessRecord {
    /// Its process id.
    pub pid: u32,
    /// The host (or loader) it belongs to.
    pub host: String,
    /// What it is ("server", "client", "stop"...).
    pub what: String,
}

/// Appends a started process to `D/pids.log`.
pub fn record_process(sim_dir: &Path, pid: u32, host: &str, what: &str) -> Result<(), SimError> {
    let path = Layout::new(sim_dir).pids_log();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_err(format!("cannot open {}", path.display())))?;
    writeln!(f, "{pid} {host} {what}").map_err(io_err(format!("cannot write {}", path.display())))
}

/// Every process recorded in `D/pids.log`, oldest first (a pid may appear once per start).
pub fn recorded_processes(layout: &Layout) -> Result<Vec<ProcessRecord>, SimError> {
    let path = layout.pids_log();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(format!("cannot read {}", path.display()))(e)),
    };
    let mut out = Vec::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(pid), Some(host), Some(what)) = (it.next(), it.next(), it.next()) else { continue };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        out.push(ProcessRecord { pid, host: host.to_string(), what: what.to_string() });
    }
    Ok(out)
}

/// Writes a file through a temporary sibling and a rename, so readers never see half of it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SimError> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io_err(format!("cannot write {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io_err(format!("cannot replace {}", path.display())))
}
