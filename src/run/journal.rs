//! The run journal: append-only JSON Lines, a format version in every record, fsync'd before a
//! step starts and after it ends. A torn last line (rollpilot died mid-write) is ignored.
//! [`RunState::apply`] is the one transition function used both live and on replay, so a resumed
//! run knows exactly what the interrupted one knew; the steps' states in it come from the run
//! state machine ([`crate::run::machine`]), the same one the faces feed with live events.

use crate::plan::{Gate, Plan, RunContext, Step};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The journal format this rollpilot writes and understands (R10: newer ones are refused).
pub const JOURNAL_FORMAT: u32 = 1;

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Exit status 0 and its gates held.
    Ok,
    /// Non-zero exit status.
    Failed,
    /// Did not finish within timeouts.step.
    TimedOut,
    /// The remote job vanished without an exit status.
    Lost,
    /// Journaled as starting, but its job never existed on the host (rollpilot stopped in
    /// between): it provably did not run.
    NotStarted,
}

/// What the operator (or the headless decider) decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum DecisionRecord {
    /// Approved the step.
    Proceed,
    /// Declined an optional step (failback under `ask`).
    Decline,
    /// Retry after a failure.
    Retry,
    /// Roll the failed node back to its previous version.
    Rollback,
    /// Skip a node (typed confirmation).
    Skip {
        /// The node skipped.
        node: String,
    },
    /// Stop the run here, leaving the cluster as it is.
    Abort,
    /// Accept an in-doubt step as done, after seeing what the probes found.
    AcceptDone,
    /// Break another operator's stale lock (typed).
    BreakLock,
    /// Wait another gate timeout for the same check.
    KeepWaiting,
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Record {
    /// The run began.
    RunStarted {
        /// Cluster name.
        cluster: String,
        /// The config file used.
        config: String,
        /// SHA-256-like fingerprint of the config text (FNV-1a, 64 bit), to notice edits.
        config_hash: String,
        /// Target version.
        target: String,
        /// Who drives.
        operator: String,
        /// From which machine.
        machine: String,
        /// tui or headless.
        mode: String,
        /// The rollpilot that wrote it.
        rollpilot: String,
        /// Decisions known at start (original actives, accepted data loss, downgrade).
        context: RunContext,
    },
    /// The run was continued after an interruption (`resume`), by whom and how.
    Resumed {
        /// Who resumed it.
        operator: String,
        /// From which machine.
        machine: String,
        /// tui or headless.
        mode: String,
    },
    /// The pause policy changed (set by the operator, or back to `every` after a failure).
    Policy {
        /// The new policy.
        pause: crate::run::events::PausePolicy,
        /// Why.
        why: String,
    },
    /// A job found running or finished after an interruption was followed again, not re-run.
    Reattached {
        /// Step id.
        step: String,
        /// The attempt whose job it is.
        attempt: u32,
    },
    /// A plan was made (first, after drift, on resume).
    Planned {
        /// Why a plan was made now.
        reason: String,
        /// The plan.
        plan: Plan,
    },
    /// A gate was judged.
    Gate {
        /// The step it guards.
        step: String,
        /// before or after.
        when: String,
        /// The gate.
        gate: Gate,
        /// Whether it held.
        open: bool,
        /// The facts behind the verdict.
        facts: String,
    },
    /// A decision, with who made it.
    Decided {
        /// The step it concerns.
        step: String,
        /// What was decided.
        #[serde(flatten)]
        decision: DecisionRecord,
        /// Who.
        by: String,
        /// What was typed, for typed confirmations.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        typed: Option<String>,
    },
    /// The run's context changed (failback declined, node skipped...).
    Context {
        /// The new context.
        context: RunContext,
    },
    /// A step is about to run (written and fsync'd before acting).
    StepStarted {
        /// The step.
        step: Step,
        /// Attempt number (1 for the first run).
        attempt: u32,
        /// The detached job directory on the host.
        job: String,
    },
    /// A step ended (written and fsync'd after the result is known).
    StepFinished {
        /// Step id.
        step: String,
        /// Attempt number.
        attempt: u32,
        /// How it ended.
        outcome: Outcome,
        /// Exit status.
        exit: Option<i32>,
        /// The last lines of its output.
        output_tail: String,
        /// Wall time.
        duration_ms: u64,
    },
    /// A step's effects were verified (its after-gates held): the step is done.
    StepDone {
        /// Step id.
        step: String,
    },
    /// What every node looked like (at the start and at the end of a run), for the report.
    Observed {
        /// "start" or "end".
        when: String,
        /// Node → facts.
        nodes: BTreeMap<String, crate::model::NodeObs>,
    },
    /// An operator-visible message about the run (drift, in-doubt findings, waits).
    Note {
        /// The message.
        text: String,
    },
    /// The run ended.
    RunFinished {
        /// done, aborted, failed, refused or interrupted.
        outcome: String,
        /// One sentence for the operator.
        message: String,
    },
}

/// A record with its envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Format version (R10).
    pub v: u32,
    /// Sequence number in the run.
    pub seq: u64,
    /// When it was written.
    pub ts: Timestamp,
    /// The record.
    #[serde(flatten)]
    pub record: Record,
}

/// Why a journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// I/O on the journal file.
    #[error("journal {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// R10: written by a newer rollpilot.
    #[error(
        "version mismatch: journal {path} was written in format {found} by rollpilot {by}, newer than this rollpilot {ours} (format {JOURNAL_FORMAT}); resume it with that version or newer (R10 newer-node)"
    )]
    Newer {
        /// The file.
        path: PathBuf,
        /// Its format.
        found: u32,
        /// Who wrote it.
        by: String,
        /// This rollpilot.
        ours: String,
    },
    /// A line in the middle is not a record (the file was edited or corrupted).
    #[error("journal {path}: line {line} is not a rollpilot record ({detail}); the file was edited or damaged")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// Parser message.
        detail: String,
    },
}

/// An open journal for appending.
pub struct Journal {
    path: PathBuf,
    file: File,
    seq: u64,
}

impl Journal {
    /// Creates a new journal file (its directory too).
    pub fn create(path: &Path) -> Result<Self, JournalError> {
        let io = |source| JournalError::Io { path: path.to_path_buf(), source };
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(io)?;
        }
        let file = OpenOptions::new().create_new(true).append(true).open(path).map_err(io)?;
        Ok(Journal { path: path.to_path_buf(), file, seq: 0 })
    }

    /// Reopens an existing journal to continue it after `seq` records.
    pub fn reopen(path: &Path, seq: u64) -> Result<Self, JournalError> {
        let io = |source| JournalError::Io { path: path.to_path_buf(), source };
        let mut file = OpenOptions::new().append(true).open(path).map_err(io)?;
        // A torn last line would glue onto the next record: start on a fresh line.
        let text = std::fs::read(path).map_err(io)?;
        if !text.is_empty() && text.last() != Some(&b'\n') {
            file.write_all(b"\n").map_err(io)?;
        }
        Ok(Journal { path: path.to_path_buf(), file, seq })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a record and fsyncs it before returning.
    pub fn append(&mut self, record: Record) -> Result<Entry, JournalError> {
        self.seq += 1;
        let entry = Entry { v: JOURNAL_FORMAT, seq: self.seq, ts: Timestamp::now(), record };
        let mut line = serde_json::to_string(&entry)
            .map_err(|e| JournalError::Io { path: self.path.clone(), source: std::io::Error::other(e) })?;
        line.push('\n');
        let io = |source| JournalError::Io { path: self.path.clone(), source };
        self.file.write_all(line.as_bytes()).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        test_hooks::after_append(&line);
        Ok(entry)
    }
}

/// Test hook: the run reached a point with no record of its own (`lock-taken`: the lock is ours and
/// the journal not yet opened; `journal-created`: a new run's journal exists, still empty). Does
/// nothing unless `ROLLPILOT_TEST_JOURNAL_PAUSE_AFTER` names that point (see `test_hooks`).
pub fn test_point(what: &str) {
    test_hooks::pause_if(what);
}

/// Test hooks, read only when their environment variables are set (never in normal use): they let
/// the integration tests stop rollpilot exactly at a journal-record boundary.
///
/// - `ROLLPILOT_TEST_JOURNAL_DELAY_MS=N`: sleep N ms after each record is fsync'd, so a SIGKILL
///   sent once the journal holds k records lands right after record k.
/// - `ROLLPILOT_TEST_JOURNAL_PAUSE_AFTER=TEXT` with `ROLLPILOT_TEST_JOURNAL_PAUSE_FILE=PATH`:
///   after fsyncing a record whose JSON line contains TEXT (or at the [`test_point`] named TEXT),
///   create PATH and wait until it is removed (by the test), so the test acts (lifts a fault,
///   kills) at a known point.
mod test_hooks {
    use std::time::Duration;

    pub(super) fn after_append(line: &str) {
        if let Some(ms) = std::env::var("ROLLPILOT_TEST_JOURNAL_DELAY_MS").ok().and_then(|v| v.parse::<u64>().ok()) {
            std::thread::sleep(Duration::from_millis(ms));
        }
        pause_if(line);
    }

    pub(super) fn pause_if(line: &str) {
        if let (Ok(text), Some(file)) =
            (std::env::var("ROLLPILOT_TEST_JOURNAL_PAUSE_AFTER"), std::env::var_os("ROLLPILOT_TEST_JOURNAL_PAUSE_FILE"))
            && !text.is_empty()
            && line.contains(&text)
            && std::fs::write(&file, line).is_ok()
        {
            while std::path::Path::new(&file).exists() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Reads a journal; a torn last line is dropped, a newer format is refused (R10).
pub fn read(path: &Path) -> Result<Vec<Entry>, JournalError> {
    let text = std::fs::read_to_string(path).map_err(|source| JournalError::Io { path: path.to_path_buf(), source })?;
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = Vec::new();
    let last_nonempty = lines.iter().rposition(|l| !l.trim().is_empty()).unwrap_or(0);
    for (i, l) in lines.iter().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        // Check the version before the shape: a newer record may not parse at all.
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(l)
            && let Some(found) = v.get("v").and_then(|x| x.as_u64())
            && found > u64::from(JOURNAL_FORMAT)
        {
            let by = v.get("rollpilot").and_then(|x| x.as_str()).unwrap_or("(unknown)").to_string();
            return Err(JournalError::Newer {
                path: path.to_path_buf(),
                found: found as u32,
                by,
                ours: env!("CARGO_PKG_VERSION").into(),
            });
        }
        match serde_json::from_str::<Entry>(l) {
            Ok(e) => out.push(e),
            // A record cut short by a crash mid-write: at the end, or in the middle once a resumed
            // run appended after it. Its action never started (records are written before acting).
            Err(e) if e.is_eof() => continue,
            Err(_) if i == last_nonempty && !text.ends_with('\n') => break,
            Err(e) => {
                return Err(JournalError::Corrupt { path: path.to_path_buf(), line: i + 1, detail: e.to_string() });
            }
        }
    }
    Ok(out)
}

/// What a run knows, rebuilt from its records.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunState {
    /// Cluster name.
    pub cluster: String,
    /// Target version.
    pub target: String,
    /// Config file used.
    pub config: String,
    /// Decisions of the run.
    pub context: RunContext,
    /// Steps whose effects are verified.
    pub done: BTreeSet<String>,
    /// How many times each step was done in this run (a step done again and again means the
    /// plan does not converge).
    pub done_count: BTreeMap<String, u32>,
    /// Steps started and not finished: in doubt until probed.
    pub in_flight: Option<(Step, u32, String)>,
    /// Every step started and not finished, by id: a batch runs several at once, and after a
    /// crash each one is in doubt (`in_flight` is the last one started).
    pub in_flight_all: BTreeMap<String, (Step, u32, String)>,
    /// Steps that finished but whose after-gates have not been confirmed.
    pub unverified: BTreeMap<String, Outcome>,
    /// Attempts per step.
    pub attempts: BTreeMap<String, u32>,
    /// The latest plan.
    pub plan: Option<Plan>,
    /// When the run began.
    pub started_at: Option<Timestamp>,
    /// When the first install started (the cluster is mixed-version from then on).
    pub first_install_at: Option<Timestamp>,
    /// The steps done, in the order they were done.
    pub done_steps: Vec<Step>,
    /// The latest started form of every step.
    started_steps: BTreeMap<String, Step>,
    /// Steps the operator confirmed with a question of their own (the rest of a confirmed
    /// sequence rode on that confirmation).
    pub confirmed: BTreeSet<String>,
    /// The pause policy last journaled (a resumed run keeps it unless told otherwise).
    pub pause: Option<crate::run::events::PausePolicy>,
    /// How the run ended, if it did: the machine's word for it ([`RunEnd::as_str`]). A run
    /// resumed after it ended has not ended until it ends again.
    ///
    /// [`RunEnd::as_str`]: crate::run::events::RunEnd::as_str
    pub finished: Option<String>,
    /// Records applied.
    pub seq: u64,
    /// The steps' states and the run's, by the one state machine the faces use live.
    pub machine: crate::run::machine::RunMachine,
}

impl RunState {
    /// Applies one record: the single transition function for live runs and replay.
    pub fn apply(&mut self, e: &Entry) {
        self.seq = e.seq;
        if let Some(input) = crate::run::machine::Input::from_entry(e) {
            self.machine.apply(input);
        }
        match &e.record {
            Record::RunStarted { cluster, config, target, context, .. } => {
                self.started_at = Some(e.ts);
                self.cluster = cluster.clone();
                self.config = config.clone();
                self.target = target.clone();
                self.context = context.clone();
            }
            Record::Planned { plan, .. } => self.plan = Some(plan.clone()),
            Record::Context { context } => self.context = context.clone(),
            Record::StepStarted { step, attempt, job } => {
                if step.action == crate::plan::Action::Install && self.first_install_at.is_none() {
                    self.first_install_at = Some(e.ts);
                }
                self.started_steps.insert(step.id.clone(), step.clone());
                self.attempts.insert(step.id.clone(), *attempt);
                self.in_flight = Some((step.clone(), *attempt, job.clone()));
                self.in_flight_all.insert(step.id.clone(), (step.clone(), *attempt, job.clone()));
            }
            Record::StepFinished { step, outcome, .. } => {
                if self.in_flight.as_ref().is_some_and(|(s, _, _)| &s.id == step) {
                    self.in_flight = None;
                }
                self.in_flight_all.remove(step);
                self.unverified.insert(step.clone(), *outcome);
            }
            Record::StepDone { step } => {
                if let Some(s) = self.started_steps.get(step) {
                    self.done_steps.push(s.clone());
                }
                self.unverified.remove(step);
                self.done.insert(step.clone());
                *self.done_count.entry(step.clone()).or_insert(0) += 1;
            }
            Record::Decided { step, decision: DecisionRecord::Proceed, by, .. } => {
                if !by.starts_with("auto") {
                    self.confirmed.insert(step.clone());
                }
            }
            Record::Decided { step, decision: DecisionRecord::Rollback, .. } => {
                // A rolled-back step's run is over (an aborted one is asked about on resume).
                self.unverified.remove(step);
            }
            Record::Decided { decision: DecisionRecord::Skip { node }, .. } => {
                // A skipped node's steps are not checked again.
                self.unverified.retain(|id, _| id.split('/').nth(1) != Some(node.as_str()));
            }
            Record::Policy { pause, .. } => self.pause = Some(*pause),
            Record::RunFinished { .. }
            | Record::Gate { .. }
            | Record::Decided { .. }
            | Record::Note { .. }
            | Record::Observed { .. }
            | Record::Resumed { .. }
            | Record::Reattached { .. } => {}
        }
        // Whether and how the run ended is the machine's to say (a resume opens it again).
        self.finished = match self.machine.phase {
            crate::run::machine::RunPhase::Finished(end) => Some(end.as_str().to_string()),
            _ => None,
        };
    }

    /// The step as it was last started (what a re-attached or unverified step is checked as).
    pub fn started_step(&self, id: &str) -> Option<&Step> {
        self.started_steps.get(id)
    }

    /// Replays records.
    pub fn replay(entries: &[Entry]) -> Self {
        let mut s = RunState::default();
        for e in entries {
            s.apply(e);
        }
        s
    }
}

/// A stable fingerprint of a text (FNV-1a 64), to notice that a config changed between runs.
pub fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(cluster: &str) -> Record {
        Record::RunStarted {
            cluster: cluster.into(),
            config: "c.toml".into(),
            config_hash: fingerprint("x"),
            target: "4.2.1".into(),
            operator: "op".into(),
            machine: "m".into(),
            mode: "headless".into(),
            rollpilot: "0.1.0".into(),
            context: RunContext::default(),
        }
    }

    #[test]
    fn append_read_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("runs/x/journal.jsonl");
        let mut j = Journal::create(&p).unwrap();
        j.append(started("c")).unwrap();
        j.append(Record::StepDone { step: "g/n/stop".into() }).unwrap();
        // Simulate a crash mid-write.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"v\":1,\"seq\":3,\"ts\":\"2026-").unwrap();
        let es = read(&p).unwrap();
        assert_eq!(es.len(), 2);
        let st = RunState::replay(&es);
        assert!(st.done.contains("g/n/stop"));
        assert_eq!(st.cluster, "c");
        // Continuing after the torn line starts on a fresh line.
        let mut j = Journal::reopen(&p, st.seq).unwrap();
        j.append(Record::StepDone { step: "g/n/install".into() }).unwrap();
        let es = read(&p).unwrap();
        assert_eq!(es.len(), 3);
        assert_eq!(es[2].seq, 3);
    }

    #[test]
    fn newer_format_is_refused_with_version_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        std::fs::write(
            &p,
            "{\"v\":9,\"seq\":1,\"ts\":\"2026-11-22T00:00:00Z\",\"type\":\"run-started\",\"rollpilot\":\"3.0.0\"}\n",
        )
        .unwrap();
        let e = read(&p).unwrap_err();
        assert!(e.to_string().contains("version mismatch"), "{e}");
        assert!(e.to_string().contains("rollpilot 3.0.0"), "{e}");
    }

    #[test]
    fn a_damaged_middle_line_is_an_error_not_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        let mut j = Journal::create(&p).unwrap();
        j.append(started("c")).unwrap();
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"garbage\n").unwrap();
        drop(f);
        j.append(Record::StepDone { step: "a".into() }).unwrap();
        assert!(matches!(read(&p), Err(JournalError::Corrupt { line: 2, .. })));
    }

    #[test]
    fn in_flight_step_is_in_doubt_after_replay() {
        let step: Step = serde_json::from_value(serde_json::json!({
            "id": "east/tc-east-2/install", "action": "install", "node": "tc-east-2", "group": "east",
            "command": "x", "before": [], "after": [], "reason": "r", "rules": [], "summary": "s",
            "downtime": false, "irreversible": false, "data_loss": false, "confirm": "none", "rollback": "r", "assumes": []
        }))
        .unwrap();
        let es = vec![
            Entry { v: 1, seq: 1, ts: Timestamp::now(), record: started("c") },
            Entry {
                v: 1,
                seq: 2,
                ts: Timestamp::now(),
                record: Record::StepStarted { step, attempt: 1, job: "j".into() },
            },
        ];
        let st = RunState::replay(&es);
        assert_eq!(st.in_flight.as_ref().map(|(s, a, _)| (s.id.as_str(), *a)), Some(("east/tc-east-2/install", 1)));
    }
}
