//! `rollpilot sim ...`: start, stop, break and verify a simulated cluster.

use clap::{Args, Subcommand};

/// Arguments of `rollpilot sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    #[command(subcommand)]
    command: SimCommand,
}

#[derive(Debug, Subcommand)]
enum SimCommand {
    /// Create and start a simulated cluster.
    Up,
}

/// Runs a `sim` subcommand and returns the exit code.
pub fn run(a: SimArgs) -> u8 {
    match a.command {
        SimCommand::Up => {
            eprintln!("the simulator is not built yet");
            1
        }
    }
}
