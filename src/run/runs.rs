//! Finding earlier runs in the state directory: the one to resume, the one to report on.

use super::journal::{self, Entry, JournalError, RunState};
use std::path::{Path, PathBuf};

/// A run on disk.
#[derive(Debug, Clone)]
pub struct RunOnDisk {
    /// Cluster name (its directory).
    pub cluster: String,
    /// Run id (its directory; sorts by start time).
    pub run: String,
    /// The journal file.
    pub journal: PathBuf,
}

/// All runs, oldest first; `cluster` narrows to one cluster.
pub fn list(state_dir: &Path, cluster: Option<&str>) -> Vec<RunOnDisk> {
    let root = state_dir.join("runs");
    let mut out = Vec::new();
    let Ok(clusters) = std::fs::read_dir(&root) else { return out };
    for c in clusters.flatten() {
        let name = c.file_name().to_string_lossy().into_owned();
        if cluster.is_some_and(|want| want != name) {
            continue;
        }
        let Ok(runs) = std::fs::read_dir(c.path()) else { continue };
        for r in runs.flatten() {
            let j = r.path().join("journal.jsonl");
            if j.is_file() {
                out.push(RunOnDisk {
                    cluster: name.clone(),
                    run: r.file_name().to_string_lossy().into_owned(),
                    journal: j,
                });
            }
        }
    }
    // Run ids begin with the second they started; two runs of one second (an abandoned run and
    // the new one) are told apart by which journal was written last.
    let second = |r: &RunOnDisk| r.run.split('-').next().unwrap_or("").to_string();
    let written = |r: &RunOnDisk| std::fs::metadata(&r.journal).and_then(|m| m.modified()).ok();
    out.sort_by(|a, b| second(a).cmp(&second(b)).then_with(|| written(a).cmp(&written(b))).then(a.run.cmp(&b.run)));
    out
}

/// Reads a run's journal and replays it.
pub fn load(r: &RunOnDisk) -> Result<(Vec<Entry>, RunState), JournalError> {
    let entries = journal::read(&r.journal)?;
    let state = RunState::replay(&entries);
    Ok((entries, state))
}

/// The newest run of `cluster` that did not finish `done` (or `locked`/`refused` before acting).
pub fn resumable(state_dir: &Path, cluster: &str) -> Result<Option<(RunOnDisk, Vec<Entry>, RunState)>, JournalError> {
    let Some(last) = list(state_dir, Some(cluster)).pop() else { return Ok(None) };
    let (entries, state) = load(&last)?;
    match state.finished.as_deref() {
        Some("done") => Ok(None),
        _ => Ok(Some((last, entries, state))),
    }
}
