//! The simulated cluster used by `demo`, the tests and rehearsals (see DESIGN.md §5).
//!
//! Simulated nodes are real processes on loopback TCP, started and stopped through kit scripts
//! shaped like the real products' (Terracotta 4.x, StreamBase, Exchange 2003), so that
//! `rollpilot status`, `plan`, `upgrade` and the TUI drive them through the same command
//! templates as a real cluster. The simulated product's engine is this binary's hidden
//! `rollpilot sim node` command; the kits exec it.
//!
//! Library API (blocking; call it from `spawn_blocking` in async code):
//! [`up()`], [`down()`], [`verify()`], [`fault()`], [`processes`], [`hosts`], and [`SimGuard`] to tear a
//! cluster down on drop.

pub mod cli;
pub mod conf;
pub mod config_gen;
pub mod down;
pub mod error;
pub mod fault;
pub mod kits;
pub mod layout;
pub mod node;
pub mod procs;
pub mod render;
pub mod state;
pub mod twin;
pub mod up;
pub mod verify;
pub mod wire;

pub use down::{DownReport, down};
pub use error::SimError;
pub use fault::{FaultKind, fault};
pub use state::{HostRole, ProcessRecord, Topology};
pub use up::{SshHost, UpOptions, up};
pub use verify::{VerifyReport, verify};

use layout::Layout;
use state::SimState;
use std::path::{Path, PathBuf};

/// One host of a running simulated cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    /// Host name in cluster.toml.
    pub name: String,
    /// Its group.
    pub group: String,
    /// What it is.
    pub role: HostRole,
    /// Where its process listens, if it does.
    pub endpoint: Option<String>,
    /// Its process id, if running.
    pub pid: Option<u32>,
    /// Its machine directory (logs under logs/).
    pub node_dir: PathBuf,
}

/// A simulated cluster, as `up` left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimInfo {
    /// The simulator directory (absolute).
    pub dir: PathBuf,
    /// Its rollpilot config.
    pub config: PathBuf,
    /// Which system it simulates.
    pub topology: Topology,
    /// The initial version.
    pub version: String,
    /// Hosts in config order.
    pub hosts: Vec<HostInfo>,
}

pub(crate) fn info(st: &SimState, layout: &Layout) -> SimInfo {
    SimInfo {
        dir: layout.root.clone(),
        config: layout.config_file(),
        topology: st.topology,
        version: st.version.clone(),
        hosts: host_infos(st),
    }
}

fn host_infos(st: &SimState) -> Vec<HostInfo> {
    st.hosts
        .iter()
        .map(|h| HostInfo {
            name: h.name.clone(),
            group: h.group.clone(),
            role: h.role,
            endpoint: h.port.map(|p| format!("{}:{p}", h.bind)),
            pid: if h.role.has_process() { procs::running_pid(&layout::pid_file(&h.node_dir, &h.name)) } else { None },
            node_dir: h.node_dir.clone(),
        })
        .collect()
}

/// The hosts of the simulated cluster in `dir`, with the pid each runs now (if any).
pub fn hosts(dir: &Path) -> Result<Vec<HostInfo>, SimError> {
    let layout = Layout::new(dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()));
    Ok(host_infos(&SimState::load(&layout)?))
}

/// Every process the simulator and its kit scripts ever started in `dir` (servers, clients,
/// writers, hung stop scripts...), one record per start, so a test can check each is gone.
pub fn processes(dir: &Path) -> Result<Vec<ProcessRecord>, SimError> {
    let layout = Layout::new(dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()));
    state::recorded_processes(&layout)
}

/// Tears the simulated cluster in a directory down when dropped, so a failing test or an
/// interrupted demo leaves no process behind.
#[derive(Debug)]
pub struct SimGuard {
    dir: PathBuf,
}

impl SimGuard {
    /// Guards the cluster in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> SimGuard {
        SimGuard { dir: dir.into() }
    }

    /// The guarded directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for SimGuard {
    fn drop(&mut self) {
        let _ = down(&self.dir);
    }
}
