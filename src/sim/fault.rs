//! `sim fault`: inject (or clear) a failure on one simulated node. Lasting faults are flag files
//! under `D/faults/<host>/`, read by the node's processes and scripts.

use super::error::{SimError, io_err};
use super::kits;
use super::layout::{self, Layout};
use super::procs;
use super::state::{HostRecord, HostRole, SimState};

/// A failure the simulator can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// A (re)joining Terracotta passive stays PASSIVE-UNINITIALIZED.
    StallSync,
    /// The next install of another version fails (its tarball on that node is corrupt).
    FailInstall,
    /// SIGKILL the node's process now.
    Crash,
    /// The node's stop script hangs (ignores the stop) until killed.
    HangStop,
    /// The node's start is delayed by several seconds.
    SlowStart,
    /// A starting Terracotta server stays in START-STATE (it never joins or becomes active)
    /// until the fault is cleared.
    StuckStart,
    /// A jsondb leader answers a switchover request with "switchover not possible" (HTTP 412).
    RefuseSwitchover,
}

impl FaultKind {
    /// Every fault, for messages.
    pub const ALL: [FaultKind; 7] = [
        FaultKind::StallSync,
        FaultKind::FailInstall,
        FaultKind::Crash,
        FaultKind::HangStop,
        FaultKind::SlowStart,
        FaultKind::StuckStart,
        FaultKind::RefuseSwitchover,
    ];

    /// The name on the command line (and of the flag file).
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::StallSync => "stall-sync",
            FaultKind::FailInstall => "fail-install",
            FaultKind::Crash => "crash",
            FaultKind::HangStop => "hang-stop",
            FaultKind::SlowStart => "slow-start",
            FaultKind::StuckStart => "stuck-start",
            FaultKind::RefuseSwitchover => "refuse-switchover",
        }
    }

    /// Parses a fault name, or lists the faults there are.
    pub fn parse(s: &str) -> Result<FaultKind, SimError> {
        FaultKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.as_str()).collect();
            SimError::Usage(format!("unknown fault `{s}`; faults: {}", names.join(", ")))
        })
    }
}

const CORRUPT: &[u8] = b"rollpilot sim fault fail-install: this is not a gzip archive\n";

/// Injects (or with `clear`, removes) a fault on a node; returns what was done, as a sentence.
pub fn fault(dir: &std::path::Path, node: &str, kind: FaultKind, clear: bool) -> Result<String, SimError> {
    let root = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let layout = Layout::new(&root);
    let st = SimState::load(&layout)?;
    let h = st.host(node)?.clone();
    let applies = match kind {
        FaultKind::StallSync | FaultKind::StuckStart => h.role == HostRole::Server,
        FaultKind::RefuseSwitchover => h.role == HostRole::Server && h.http_port.is_some(),
        FaultKind::FailInstall => true,
        FaultKind::Crash | FaultKind::HangStop | FaultKind::SlowStart => h.role.has_process(),
    };
    if !applies {
        let why = match kind {
            FaultKind::StallSync => "only Terracotta servers synchronise as passives",
            FaultKind::StuckStart => "only Terracotta servers have a START-STATE",
            FaultKind::RefuseSwitchover => "only jsondb members answer switchover requests",
            _ => "it has no process of its own (it is a component installed on its node)",
        };
        return Err(SimError::Usage(format!(
            "{} does not apply to {node} ({}): {why}",
            kind.as_str(),
            h.role.as_str()
        )));
    }
    let flag_dir = layout.faults(node);
    let flag = flag_dir.join(kind.as_str());
    match kind {
        FaultKind::Crash => {
            if clear {
                return Err(SimError::Usage(
                    "crash is not a lasting fault; there is nothing to clear (start the node again)".into(),
                ));
            }
            let pid = procs::running_pid(&layout::pid_file(&h.node_dir, &h.name))
                .ok_or_else(|| SimError::Usage(format!("{node} is not running; there is nothing to crash")))?;
            procs::signal(pid, "KILL");
            procs::wait_gone(pid, std::time::Duration::from_secs(5));
            Ok(format!("{node} crashed (pid {pid} killed with SIGKILL)"))
        }
        FaultKind::FailInstall => {
            if clear {
                let n = restore_kits(&h)?;
                let _ = std::fs::remove_file(&flag);
                Ok(format!("fail-install cleared on {node}: {n} kit(s) restored"))
            } else {
                let n = corrupt_kits(&h)?;
                set_flag(&flag_dir, &flag)?;
                Ok(format!(
                    "fail-install set on {node}: {n} {} kit(s) other than the installed {} will fail to unpack",
                    h.product,
                    h.installed_version().unwrap_or_else(|| "(none)".into())
                ))
            }
        }
        _ => {
            if clear {
                if flag.exists() {
                    std::fs::remove_file(&flag).map_err(io_err(format!("cannot remove {}", flag.display())))?;
                }
                Ok(format!("{} cleared on {node}", kind.as_str()))
            } else {
                set_flag(&flag_dir, &flag)?;
                Ok(format!("{} set on {node}", kind.as_str()))
            }
        }
    }
}

fn set_flag(dir: &std::path::Path, flag: &std::path::Path) -> Result<(), SimError> {
    std::fs::create_dir_all(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    std::fs::write(flag, b"set by rollpilot sim fault\n").map_err(io_err(format!("cannot write {}", flag.display())))
}

fn originals(h: &HostRecord) -> std::path::PathBuf {
    h.kit_dir.join(".fail-install-originals")
}

/// Moves this node's tarballs of other versions aside and puts corrupt files in their place
/// (a rename, so the other nodes' hard links keep the good kits).
fn corrupt_kits(h: &HostRecord) -> Result<usize, SimError> {
    let current = h.installed_version();
    let keep = current.as_deref().map(|v| kits::tarball_name_str(&h.product, v));
    let aside = originals(h);
    std::fs::create_dir_all(&aside).map_err(io_err(format!("cannot create {}", aside.display())))?;
    let mut n = 0;
    let entries = std::fs::read_dir(&h.kit_dir).map_err(io_err(format!("cannot list {}", h.kit_dir.display())))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with(&format!("{}-", h.product)) || !name.ends_with(".tar.gz") || Some(&name) == keep.as_ref() {
            continue;
        }
        let saved = aside.join(&name);
        if !saved.exists() {
            std::fs::rename(e.path(), &saved).map_err(io_err(format!("cannot move {} aside", e.path().display())))?;
        }
        std::fs::write(e.path(), CORRUPT).map_err(io_err(format!("cannot write {}", e.path().display())))?;
        n += 1;
    }
    Ok(n)
}

fn restore_kits(h: &HostRecord) -> Result<usize, SimError> {
    let aside = originals(h);
    let Ok(entries) = std::fs::read_dir(&aside) else { return Ok(0) };
    let mut n = 0;
    for e in entries.flatten() {
        let dest = h.kit_dir.join(e.file_name());
        std::fs::rename(e.path(), &dest).map_err(io_err(format!("cannot restore {}", dest.display())))?;
        n += 1;
    }
    let _ = std::fs::remove_dir(&aside);
    Ok(n)
}
