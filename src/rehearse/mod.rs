//! `rollpilot rehearse`: practise a maintenance window on a simulated twin of the operator's own
//! cluster, with the operator's own plan, before the window opens.
//!
//! The twin itself is built by [`crate::sim::twin`]; this module holds what a rehearsal adds
//! around the ordinary run: the check that the twin's plan is the real plan ([`compare`]),
//! faults on cue ([`faults`]), the projected duration of the real window ([`timings`]) and the
//! rehearsal report ([`report`]).

pub mod compare;
pub mod faults;
pub mod keys;
pub mod report;
pub mod timings;

/// The file next to a rehearsal run's journal that holds its rehearsal report (JSON), so
/// `rollpilot report` on that run shows it too.
pub const REPORT_JSON: &str = "rehearsal.json";
/// The Markdown form of the same report.
pub const REPORT_MD: &str = "rehearsal.md";
/// The state the rehearsal took for the real cluster's (assumed, probed, or the twin's own
/// when none was given), as JSON `rollpilot plan --assume` reads, so the operator can print
/// the very plan the rehearsal ran for the real cluster.
pub const STARTING_STATE: &str = "starting-state.json";

/// The default directory of rehearsal journals: beside the real runs, never among them, so a
/// rehearsal can never be taken for an unfinished real run of the cluster.
pub fn default_state_dir() -> std::path::PathBuf {
    crate::paths::state_dir(None).join("rehearsals")
}
