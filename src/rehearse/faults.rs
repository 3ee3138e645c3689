//! Faults on cue: `--fault KIND@NODE`. Lasting faults (fail-install, stall-sync, hang-stop) are
//! set on the twin before the run and bite when the run reaches them; a crash is cued by the
//! run itself: the node is killed once the run's first step has finished, like a host dying in
//! the middle of the window.

use crate::sim::FaultKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Why a `--fault` value is not usable.
#[derive(Debug, thiserror::Error)]
pub enum FaultSpecError {
    /// Not `KIND@NODE`.
    #[error(
        "--fault {0}: write KIND@NODE, e.g. fail-install@tc-east-2 (kinds: fail-install, stall-sync, crash, hang-stop)"
    )]
    Shape(String),
    /// A fault the rehearsal does not offer.
    #[error("--fault {0}: unknown fault; choose fail-install, stall-sync, crash or hang-stop")]
    Kind(String),
    /// A node the cluster does not have.
    #[error("--fault {spec}: the cluster has no member {node}")]
    Node {
        /// The flag's value.
        spec: String,
        /// The node named.
        node: String,
    },
}

/// One `--fault KIND@NODE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultCue {
    /// Which fault.
    pub kind: FaultKind,
    /// On which member.
    pub node: String,
}

/// The faults a rehearsal offers on the command line and in the TUI.
pub const OFFERED: [FaultKind; 4] =
    [FaultKind::FailInstall, FaultKind::StallSync, FaultKind::Crash, FaultKind::HangStop];

impl FaultCue {
    /// Parses `KIND@NODE`, checking the node against the cluster's members.
    pub fn parse(s: &str, members: &[String]) -> Result<FaultCue, FaultSpecError> {
        let (k, n) = s.split_once('@').ok_or_else(|| FaultSpecError::Shape(s.to_string()))?;
        if n.is_empty() {
            return Err(FaultSpecError::Shape(s.to_string()));
        }
        let kind = OFFERED.into_iter().find(|x| x.as_str() == k).ok_or_else(|| FaultSpecError::Kind(s.to_string()))?;
        if !members.iter().any(|m| m == n) {
            return Err(FaultSpecError::Node { spec: s.to_string(), node: n.to_string() });
        }
        Ok(FaultCue { kind, node: n.to_string() })
    }

    /// `KIND@NODE`.
    pub fn label(&self) -> String {
        format!("{}@{}", self.kind.as_str(), self.node)
    }

    /// Whether it is set before the run (it bites when the run reaches it).
    pub fn is_lasting(&self) -> bool {
        self.kind != FaultKind::Crash
    }
}

/// What happened to one cued fault, for the report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Injected {
    /// `KIND@NODE`.
    pub fault: String,
    /// What the simulator said, or why it could not inject it.
    pub result: String,
}

/// Sets the lasting faults now.
pub fn set_lasting(dir: &Path, cues: &[FaultCue]) -> Vec<Injected> {
    cues.iter()
        .filter(|c| c.is_lasting())
        .map(|c| Injected {
            fault: c.label(),
            result: match crate::sim::fault(dir, &c.node, c.kind, false) {
                Ok(m) => m,
                Err(e) => format!("not injected: {e}"),
            },
        })
        .collect()
}

/// Watches the rehearsal's journals for the first finished step and then crashes the cued
/// nodes. Stopped (and its results collected) with [`CrashCue::finish`].
pub struct CrashCue {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<Vec<Injected>>>,
}

impl CrashCue {
    /// Starts watching `runs_dir` (the rehearsal state dir's `runs/<cluster>`) for crash cues.
    pub fn start(sim_dir: &Path, runs_dir: PathBuf, cues: &[FaultCue]) -> CrashCue {
        let crashes: Vec<FaultCue> = cues.iter().filter(|c| !c.is_lasting()).cloned().collect();
        let stop = Arc::new(AtomicBool::new(false));
        if crashes.is_empty() {
            return CrashCue { stop, handle: None };
        }
        let before = journals(&runs_dir);
        let dir = sim_dir.to_path_buf();
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            loop {
                if flag.load(Ordering::Relaxed) {
                    return crashes
                        .iter()
                        .map(|c| Injected {
                            fault: c.label(),
                            result: "not injected: the run ended before its first step finished".into(),
                        })
                        .collect();
                }
                let fresh: Vec<PathBuf> = journals(&runs_dir).into_iter().filter(|j| !before.contains(j)).collect();
                let cued = fresh
                    .iter()
                    .any(|j| std::fs::read_to_string(j).is_ok_and(|t| t.contains("\"type\":\"step-done\"")));
                if cued {
                    return crashes
                        .iter()
                        .map(|c| Injected {
                            fault: c.label(),
                            result: match crate::sim::fault(&dir, &c.node, c.kind, false) {
                                Ok(m) => format!("{m}, after the run's first step"),
                                Err(e) => format!("not injected: {e}"),
                            },
                        })
                        .collect();
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        CrashCue { stop, handle: Some(handle) }
    }

    /// Stops watching; returns what was injected.
    pub fn finish(mut self) -> Vec<Injected> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().and_then(|h| h.join().ok()).unwrap_or_default()
    }
}

/// Where faults injected from the TUI are noted for the rehearsal report (in the twin).
const TUI_FAULTS: &str = "tui-faults.jsonl";

/// Notes a fault injected with the TUI's fault key.
pub fn record_from_tui(twin: &Path, fault: &str, result: &str) {
    use std::io::Write as _;
    let Ok(line) =
        serde_json::to_string(&Injected { fault: fault.to_string(), result: format!("{result}, from the TUI") })
    else {
        return;
    };
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(twin.join(TUI_FAULTS)) {
        let _ = writeln!(f, "{line}");
    }
}

/// The faults injected from the TUI, in order.
pub fn from_tui(twin: &Path) -> Vec<Injected> {
    std::fs::read_to_string(twin.join(TUI_FAULTS))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn journals(runs_dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(runs_dir) else { return Vec::new() };
    rd.flatten().map(|e| e.path().join("journal.jsonl")).filter(|p| p.is_file()).collect()
}
