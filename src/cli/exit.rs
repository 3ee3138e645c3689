//! The one table of exit codes (DESIGN.md §7). Scripts and CI branch on these numbers, so every
//! command returns one of them and `--help` prints this table from the same constants.

/// Done: the command did what was asked (a run finished, the config is valid, every host answered).
pub const OK: u8 = 0;
/// The run failed or was aborted (a step failed, the operator aborted, the demo lost data).
pub const FAILED: u8 = 1;
/// Usage or config error: a bad flag, a bad config or state file, nothing to work on.
pub const USAGE: u8 = 2;
/// A safety rule refused (R1–R12), or another operator holds the cluster's lock.
pub const REFUSED: u8 = 3;
/// Hosts unreachable: at least one node could not be probed.
pub const UNREACHABLE: u8 = 4;
/// Stopped at a safe point before the maintenance window ends: the next node would not have
/// finished inside `--window-end`/`--budget`; nothing is half done and `resume` continues.
pub const WINDOW: u8 = 5;
/// Interrupted by Ctrl-C (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;

/// The table as `--help` prints it, built from the constants above so the two cannot drift.
pub fn help_text() -> String {
    format!(
        "Exit codes: {OK} done; {FAILED} the run failed or was aborted; {USAGE} usage or config error; \
{REFUSED} a safety rule refused (or another operator holds the lock); {UNREACHABLE} hosts unreachable; \
{WINDOW} stopped at a safe point before the maintenance window ends; {INTERRUPTED} interrupted."
    )
}
