//! `sim down`: stop every process the simulator (or a kit script) started in a directory, and
//! prove it by pid.

use super::error::SimError;
use super::layout::Layout;
use super::procs;
use super::state::{self, ProcessRecord};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// What `down` did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DownReport {
    /// Processes that were running and were stopped.
    pub stopped: Vec<ProcessRecord>,
    /// Every process ever recorded for the directory (all gone now).
    pub recorded: usize,
}

/// Recorded processes of the directory that are still alive (and really ours).
pub fn live_processes(layout: &Layout) -> Result<Vec<ProcessRecord>, SimError> {
    let mut seen = BTreeSet::new();
    Ok(state::recorded_processes(layout)?
        .into_iter()
        .rev()
        .filter(|r| seen.insert(r.pid))
        .filter(|r| procs::is_ours(r.pid, &layout.root))
        .collect())
}

/// Stops everything: ends fault hangs, asks with SIGTERM, then SIGKILL; fails if any recorded
/// process survives.
pub fn down(dir: &Path) -> Result<DownReport, SimError> {
    let root = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let layout = Layout::new(&root);
    if !layout.state_file().exists() && !layout.pids_log().exists() {
        return Err(SimError::NotASim(root));
    }
    // Hung stop scripts wait on their fault flag: clear the flags first.
    let faults = root.join("faults");
    if faults.exists() {
        let _ = std::fs::remove_dir_all(&faults);
    }
    let recorded = state::recorded_processes(&layout)?.len();
    let live = live_processes(&layout)?;
    for r in &live {
        procs::signal(r.pid, "TERM");
    }
    for r in &live {
        if !procs::wait_gone(r.pid, Duration::from_secs(3)) {
            procs::signal(r.pid, "KILL");
        }
    }
    let survivors: Vec<&ProcessRecord> =
        live.iter().filter(|r| !procs::wait_gone(r.pid, Duration::from_secs(3))).collect();
    if !survivors.is_empty() {
        let list: Vec<String> = survivors.iter().map(|r| format!("{} ({} {})", r.pid, r.host, r.what)).collect();
        return Err(SimError::Failed(format!(
            "these simulator processes survived SIGKILL: {}; check them with ps",
            list.join(", ")
        )));
    }
    Ok(DownReport { stopped: live, recorded })
}
