//! Where everything of one simulated cluster lives inside its directory D.
//!
//! ```text
//! D/sim.json          what `sim up` created: topology, engine, hosts, ports (read by down/fault/verify)
//! D/cluster.toml      the rollpilot config for this cluster
//! D/pids.log          every long-lived process the simulator started: "pid host what"
//! D/kits/             <product>-<version>.tar.gz, built at `sim up`
//! D/nodes/<machine>/  one simulated machine: the install dir of its products, plus
//!                     conf/ data/ logs/ run/ and kits/ (its own copy of D/kits, so faults stay per node)
//! D/faults/<host>/    fault flag files (stall-sync, hang-stop, slow-start, stuck-start, fail-install)
//! D/shared/           shared cluster storage and quorum (exchange topology)
//! D/loaders/<name>/   the simulator's own writers for topologies without client hosts
//! D/lock, D/jobs      rollpilot's operator lock and detached-job directory for this cluster
//! ```

use std::path::{Path, PathBuf};

/// Paths inside one simulator directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The directory given with `--dir`, made absolute.
    pub root: PathBuf,
}

impl Layout {
    /// A layout rooted at `root` (should be absolute: paths end up in scripts and configs).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }

    /// The simulator's own record of what it created.
    pub fn state_file(&self) -> PathBuf {
        self.root.join("sim.json")
    }

    /// The generated rollpilot config.
    pub fn config_file(&self) -> PathBuf {
        self.root.join("cluster.toml")
    }

    /// Every process the simulator started, one per line.
    pub fn pids_log(&self) -> PathBuf {
        self.root.join("pids.log")
    }

    /// The kit tarballs.
    pub fn kits(&self) -> PathBuf {
        self.root.join("kits")
    }

    /// All simulated machines.
    pub fn nodes(&self) -> PathBuf {
        self.root.join("nodes")
    }

    /// One simulated machine's directory (its products' install dir).
    pub fn machine(&self, machine: &str) -> PathBuf {
        self.nodes().join(machine)
    }

    /// Fault flags of one host.
    pub fn faults(&self, host: &str) -> PathBuf {
        self.root.join("faults").join(host)
    }

    /// Shared storage (exchange).
    pub fn shared(&self) -> PathBuf {
        self.root.join("shared")
    }

    /// The simulator's own writers.
    pub fn loaders(&self) -> PathBuf {
        self.root.join("loaders")
    }

    /// rollpilot's lock directory for this cluster.
    pub fn lock(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// rollpilot's detached-job directory for this cluster.
    pub fn jobs(&self) -> PathBuf {
        self.root.join("jobs")
    }
}

/// The standard sub-directories of one machine or loader directory.
pub fn node_subdirs(dir: &Path) -> [PathBuf; 6] {
    ["conf", "data", "logs", "run", "kits", "tmp"].map(|s| dir.join(s))
}

/// The pid file of a host's process inside its machine directory.
pub fn pid_file(node_dir: &Path, host: &str) -> PathBuf {
    node_dir.join("run").join(format!("{host}.pid"))
}

/// The file whose presence asks a host's process to stop gracefully.
pub fn stop_file(node_dir: &Path, host: &str) -> PathBuf {
    node_dir.join("run").join(format!("{host}.stop"))
}

/// The log file a host's process writes.
pub fn log_file(node_dir: &Path, host: &str) -> PathBuf {
    node_dir.join("logs").join(format!("{host}.log"))
}
