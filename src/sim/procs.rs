//! Processes of the simulator: is a pid alive and ours, signals, pid files, detached spawns,
//! and running a rendered command through `sh -c` like the local transport does.
//!
//! Signals go through the system `kill` so the crate stays free of `unsafe`.

use super::error::{SimError, io_err};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whether a process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => match stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next()) {
            Some(state) => state != "Z" && state != "X",
            None => true,
        },
        Err(_) if Path::new("/proc/self").exists() => false,
        // No /proc: ask kill(1).
        Err(_) => Command::new("kill")
            .args(["-0", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false),
    }
}

/// The command line of a process, if it can be read.
pub fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(raw.split(|b| *b == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect())
}

/// Whether `pid` is a live simulator process of the cluster in `sim_dir` (guards against pid reuse:
/// its command line must be `... sim node ...` and mention the directory).
pub fn is_ours(pid: u32, sim_dir: &Path) -> bool {
    if !alive(pid) {
        return false;
    }
    let Some(args) = cmdline(pid) else {
        // Cannot tell without /proc; trust the record.
        return !Path::new("/proc/self").exists();
    };
    let dir = sim_dir.to_string_lossy();
    let inside = format!("{}/", dir.trim_end_matches('/'));
    let is_node = args.windows(2).any(|w| w[0] == "sim" && w[1] == "node");
    is_node && args.iter().any(|a| a == dir.as_ref() || a.starts_with(&inside))
}

/// Sends a signal (`TERM`, `KILL`...) to a process; false when it was already gone.
pub fn signal(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Waits until a process is gone, polling; true if it went before the deadline.
pub fn wait_gone(pid: u32, within: Duration) -> bool {
    let end = Instant::now() + within;
    while alive(pid) {
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// Reads a pid file.
pub fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The live pid recorded in a pid file (`<node_dir>/run/<host>.pid`), if that process still
/// runs and is a simulator process of that node (a pid reused by something else does not count).
pub fn running_pid(pid_file: &Path) -> Option<u32> {
    let pid = read_pid(pid_file)?;
    match pid_file.parent().and_then(Path::parent) {
        Some(node_dir) => is_ours(pid, node_dir).then_some(pid),
        None => alive(pid).then_some(pid),
    }
}

/// Starts a long-lived process detached from the caller: own process group (a Ctrl-C or a
/// transport killing the caller's group does not reach it), stdin from /dev/null, output
/// appended to `log`. Returns its pid.
pub fn spawn_detached(cmd: &mut Command, log: &Path) -> Result<u32, SimError> {
    use std::os::unix::process::CommandExt;
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io_err(format!("cannot open log {}", log.display())))?;
    let err = out.try_clone().map_err(io_err(format!("cannot open log {}", log.display())))?;
    let child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .map_err(io_err(format!("cannot start {:?}", cmd.get_program())))?;
    let pid = child.id();
    // The child is reaped by a thread so it never lingers as a zombie of a long-lived caller.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    Ok(pid)
}

/// What a shell command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellOutput {
    /// Exit code (None when killed by a signal or by the timeout).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Whether the timeout killed it.
    pub timed_out: bool,
}

impl ShellOutput {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Both streams, for messages.
    pub fn combined(&self) -> String {
        let mut s = self.stdout.trim_end().to_string();
        if !self.stderr.trim().is_empty() {
            if !s.is_empty() {
                s.push('\n');
            }
            s.push_str(self.stderr.trim_end());
        }
        s
    }
}

/// Runs `sh -c CMD` as the local transport does (stdin from /dev/null, output captured, own
/// process group), killing it after `timeout`.
pub fn run_shell(cmd: &str, timeout: Duration) -> Result<ShellOutput, SimError> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_err("cannot run sh"))?;
    // Readers report through channels so a background process that kept the pipes open
    // (a template without redirections) cannot block us past the deadline.
    let out_rx = read_in_background(child.stdout.take());
    let err_rx = read_in_background(child.stderr.take());
    let end = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait().map_err(io_err("cannot wait for sh"))? {
            Some(st) => break Some(st),
            None if Instant::now() >= end => {
                timed_out = true;
                // The whole group: sh and whatever it is waiting for.
                signal_group(child.id(), "KILL");
                let _ = child.kill();
                break child.wait().ok();
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let grace = Duration::from_secs(2);
    let stdout = out_rx.recv_timeout(grace).unwrap_or_default();
    let stderr = err_rx.recv_timeout(grace).unwrap_or_default();
    let code = if timed_out { None } else { status.and_then(|s| s.code()) };
    Ok(ShellOutput { code, stdout, stderr, timed_out })
}

fn read_in_background<R: Read + Send + 'static>(pipe: Option<R>) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
    });
    rx
}

/// Sends a signal to a whole process group.
fn signal_group(pgid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([format!("-{sig}"), "--".to_string(), format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
