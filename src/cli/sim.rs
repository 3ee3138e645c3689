//! `rollpilot sim ...`: passed through to the simulator's own command line, which owns its flags.

/// Runs a `sim` subcommand; the simulator maps its outcomes to the same exit codes.
pub(super) fn run(a: crate::sim::cli::SimArgs) -> u8 {
    crate::sim::cli::run(a)
}
