//! What every simulated node process shares: its log, its pid file and record in `D/pids.log`,
//! the watchdog that honours stop requests (and exits if the simulator directory disappears),
//! fault flags, and the generic "stop and wait until gone" used by every stop script.

use crate::sim::error::{SimError, io_err};
use crate::sim::layout::{self, Layout};
use crate::sim::procs;
use crate::sim::state;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A node process's identity and log.
pub struct NodeCtx {
    /// Host name.
    pub host: String,
    /// The simulator directory.
    pub sim_dir: PathBuf,
    /// The machine directory.
    pub node_dir: PathBuf,
    log: Mutex<Option<std::fs::File>>,
}

impl NodeCtx {
    /// Opens the node's log (appending).
    pub fn new(host: &str, sim_dir: &Path, node_dir: &Path) -> Arc<NodeCtx> {
        let path = layout::log_file(node_dir, host);
        if let Some(d) = path.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path).ok();
        Arc::new(NodeCtx {
            host: host.to_string(),
            sim_dir: sim_dir.to_path_buf(),
            node_dir: node_dir.to_path_buf(),
            log: Mutex::new(file),
        })
    }

    /// Appends a timestamped line to the node's log.
    pub fn log(&self, msg: impl AsRef<str>) {
        let line =
            format!("{} {}: {}\n", jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ"), self.host, msg.as_ref());
        if let Ok(mut g) = self.log.lock()
            && let Some(f) = g.as_mut()
        {
            let _ = f.write_all(line.as_bytes());
        }
    }

    /// Logs and prints to stderr (which the start templates send to a file): for messages an
    /// operator must find, such as a refusal to start.
    pub fn shout(&self, msg: impl AsRef<str>) {
        self.log(msg.as_ref());
        eprintln!("{}: {}", self.host, msg.as_ref());
    }

    /// The pid file of this host.
    pub fn pid_file(&self) -> PathBuf {
        layout::pid_file(&self.node_dir, &self.host)
    }

    /// The stop request file of this host.
    pub fn stop_file(&self) -> PathBuf {
        layout::stop_file(&self.node_dir, &self.host)
    }

    /// Whether a fault flag is set on this host.
    pub fn fault(&self, kind: &str) -> bool {
        fault_flag(&self.sim_dir, &self.host, kind).exists()
    }

    /// Claims the host: refuses if its process already runs, writes the pid file, records the
    /// process in `D/pids.log` and clears a stale stop request.
    pub fn claim(&self, what: &str) -> Result<(), SimError> {
        let me = std::process::id();
        if let Some(pid) = procs::running_pid(&self.pid_file())
            && pid != me
        {
            return Err(SimError::Failed(format!(
                "{} is already running (pid {pid}); stop it before starting it again",
                self.host
            )));
        }
        if let Some(d) = self.pid_file().parent() {
            std::fs::create_dir_all(d).map_err(io_err(format!("cannot create {}", d.display())))?;
        }
        let _ = std::fs::remove_file(self.stop_file());
        std::fs::write(self.pid_file(), format!("{me}\n"))
            .map_err(io_err(format!("cannot write {}", self.pid_file().display())))?;
        state::record_process(&self.sim_dir, me, &self.host, what)?;
        self.log(format!("{what} started, pid {me}"));
        Ok(())
    }

    /// Exits the process after removing the pid file (if it is still ours).
    pub fn exit(&self, code: i32) -> ! {
        if procs::read_pid(&self.pid_file()) == Some(std::process::id()) {
            let _ = std::fs::remove_file(self.pid_file());
        }
        std::process::exit(code)
    }

    /// The slow-start fault: waits several seconds before starting (still honouring a stop).
    pub fn slow_start(&self) {
        let flag = fault_flag(&self.sim_dir, &self.host, "slow-start");
        if !flag.exists() {
            return;
        }
        let secs = std::fs::read_to_string(&flag).ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(8);
        self.log(format!("slow-start fault: delaying the start by {secs}s"));
        let end = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < end {
            if self.stop_file().exists() {
                self.log("stop requested during a slow start");
                self.exit(0);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts the watchdog: on a stop request it runs `on_stop` and exits 0; if the simulator
    /// directory is gone (a test's temporary directory was removed) it exits at once.
    pub fn watchdog(self: &Arc<Self>, on_stop: impl Fn() + Send + 'static) {
        let ctx = Arc::clone(self);
        std::thread::spawn(move || {
            let state_file = Layout::new(&ctx.sim_dir).state_file();
            loop {
                std::thread::sleep(Duration::from_millis(150));
                if ctx.stop_file().exists() {
                    ctx.log("stop requested");
                    on_stop();
                    let _ = std::fs::remove_file(ctx.stop_file());
                    ctx.log("stopped");
                    ctx.exit(0);
                }
                if !state_file.exists() {
                    ctx.log("the simulator directory is gone; exiting");
                    ctx.exit(0);
                }
            }
        });
    }
}

/// The flag file of a fault on a host.
pub fn fault_flag(sim_dir: &Path, host: &str, kind: &str) -> PathBuf {
    Layout::new(sim_dir).faults(host).join(kind)
}

/// Stops a host's process: asks it through its stop file and waits until it is gone (bounded;
/// killed after `grace`). Prints what happened. Honours the hang-stop fault by hanging until the
/// fault is cleared or this process is killed. Always safe to retry: exit 0 when not running.
pub fn stop_host(sim_dir: &Path, node_dir: &Path, host: &str, what: &str, grace: Duration) -> u8 {
    let pid_file = layout::pid_file(node_dir, host);
    let Some(pid) = procs::running_pid(&pid_file) else {
        println!("{what} {host} is not running");
        return 0;
    };
    hang_if_faulted(sim_dir, host, what);
    if let Some(d) = pid_file.parent() {
        let _ = std::fs::create_dir_all(d);
    }
    if let Err(e) = std::fs::write(layout::stop_file(node_dir, host), b"stop\n") {
        eprintln!("cannot ask {host} to stop ({e}); killing it");
        procs::signal(pid, "KILL");
    }
    if procs::wait_gone(pid, grace) {
        println!("{what} {host} stopped");
        return 0;
    }
    eprintln!("{what} {host} did not stop within {}s; killing it (pid {pid})", grace.as_secs());
    procs::signal(pid, "KILL");
    if procs::wait_gone(pid, Duration::from_secs(5)) {
        println!("{what} {host} killed");
        0
    } else {
        eprintln!("{what} {host} (pid {pid}) is still running after SIGKILL");
        1
    }
}

/// The hang-stop fault: the stop script ignores the stop and hangs until killed (or until the
/// fault is cleared, or the simulator is torn down). Recorded in pids.log so `sim down` ends it.
pub fn hang_if_faulted(sim_dir: &Path, host: &str, what: &str) {
    let flag = fault_flag(sim_dir, host, "hang-stop");
    if !flag.exists() {
        return;
    }
    let _ = state::record_process(sim_dir, std::process::id(), host, "hung-stop");
    eprintln!("{what} {host}: hang-stop fault set, the stop hangs until killed");
    let state_file = Layout::new(sim_dir).state_file();
    let end = Instant::now() + Duration::from_secs(3600);
    while flag.exists() && state_file.exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether two versions share major.minor (Terracotta's rolling-upgrade rule, seed 000).
pub fn same_minor(a: &str, b: &str) -> bool {
    match (crate::model::parse_loose(a), crate::model::parse_loose(b)) {
        (Some(x), Some(y)) => x.major == y.major && x.minor == y.minor,
        _ => a == b,
    }
}

/// The major.minor of a version, for messages.
pub fn minor_of(v: &str) -> String {
    match crate::model::parse_loose(v) {
        Some(x) => format!("{}.{}", x.major, x.minor),
        None => v.to_string(),
    }
}

/// Compares versions (semver when both parse).
pub fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    match (crate::model::parse_loose(a), crate::model::parse_loose(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// A status-file writer (clients and loaders publish their state for the status scripts).
pub fn write_status<T: serde::Serialize>(path: &Path, st: &T) {
    if let Ok(text) = serde_json::to_string(st) {
        let _ = state::write_atomic(path, text.as_bytes());
    }
}

/// Appends lines to an acknowledged-writes log, flushed before returning.
pub fn append_line(file: &mut std::fs::File, line: &str) -> std::io::Result<()> {
    file.write_all(line.as_bytes())?;
    file.write_all(b"\n")?;
    file.flush()
}

/// The start of every long-running node process: the kit's version, the claim on the host (one
/// such process per host), and the slow-start fault. `Err` carries the exit code (2: the kit is
/// unusable, 1: the host is taken), after saying why.
pub fn start_node(
    kit: &Path,
    host: &str,
    sim_dir: &Path,
    node_dir: &Path,
    what: &str,
) -> Result<(String, Arc<NodeCtx>), u8> {
    let version = crate::sim::kits::kit_version(kit).map_err(|e| {
        eprintln!("{e}");
        2u8
    })?;
    let ctx = NodeCtx::new(host, sim_dir, node_dir);
    if let Err(e) = ctx.claim(what) {
        ctx.shout(e.to_string());
        return Err(1);
    }
    ctx.slow_start();
    Ok((version, ctx))
}

/// Listens on the node's port, or exits saying why.
pub fn listen_or_exit(ctx: &NodeCtx, address: &str, port: u16) -> std::net::TcpListener {
    match super::net::bind(address, port) {
        Ok(l) => l,
        Err(e) => {
            ctx.shout(format!("cannot listen on {address}:{port}: {e}"));
            ctx.exit(1);
        }
    }
}
