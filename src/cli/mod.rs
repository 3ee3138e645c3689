//! Command-line interface: one module per command, each mapping its outcome to an exit code
//! from the one table in [`exit`]. No procedure logic lives here.

mod check;
mod common;
mod demo;
pub mod exit;
mod finalize;
mod init;
mod plan;
mod rehearse;
mod report;
mod sim;
mod status;
mod top;
mod upgrade;

pub use common::{
    load_config, machine_name, operator_name, parse_target, probe_once, report_refusal, runtime, typed_name_matches,
};

use clap::{CommandFactory, Parser, Subcommand};
use std::process::ExitCode;

/// Guided rolling upgrades of highly available clusters over SSH.
#[derive(Debug, Parser)]
#[command(name = "rollpilot", version, about, after_help = after_help())]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The text under `--help`: the exit-code table and where to start.
fn after_help() -> String {
    format!("{}\n\nStart with `rollpilot demo`.", exit::help_text())
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a cluster config file (exit 0, or 2 with every problem located).
    Check(check::CheckArgs),
    /// Show every node: role, version, sync state, health (probed live over ssh).
    Status(status::StatusArgs),
    /// Watch a cluster live, full screen, without starting a run (filter `/`, details Enter, shell `s`).
    Top(top::TopArgs),
    /// Show the plan for a rollout: phases, steps, gates, reasons and rollbacks.
    Plan(plan::PlanArgs),
    /// Run the rolling upgrade: the full-screen TUI, or plain progress with --headless.
    Upgrade(upgrade::UpgradeArgs),
    /// Continue an interrupted or aborted run from its journal.
    Resume(upgrade::UpgradeArgs),
    /// Finalize a finished upgrade later (the point of no return), after showing how long it has run.
    Finalize(finalize::FinalizeArgs),
    /// The maintenance report of a run (Markdown or JSON), from its journal.
    Report(report::ReportArgs),
    /// Practise the maintenance window on a simulated twin of your cluster (same plan; nothing runs on real hosts).
    Rehearse(rehearse::RehearseArgs),
    /// Upgrade a simulated cluster on this machine in the TUI: no hosts needed. Start here.
    Demo(demo::DemoArgs),
    /// Write a commented starting config for a profile, with hosts from a list, an ssh_config or an Ansible inventory.
    Init(init::InitArgs),
    /// Run a simulated cluster on this machine (for the demo, tests and rehearsals).
    Sim(crate::sim::cli::SimArgs),
    /// Print a shell completion script: `source <(rollpilot completions bash)`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `rollpilot man | man -l -`.
    Man,
}

/// Parses argv and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let _log = crate::logging::init(&crate::paths::state_dir(None));
    let code = match cli.command {
        Command::Check(a) => check::run(&a),
        Command::Status(a) => status::run(&a),
        Command::Top(a) => top::run(&a),
        Command::Plan(a) => plan::run(&a),
        Command::Upgrade(a) => upgrade::upgrade(&a, false),
        Command::Resume(a) => upgrade::upgrade(&a, true),
        Command::Finalize(a) => finalize::run(&a),
        Command::Report(a) => report::run(&a),
        Command::Demo(a) => demo::run(&a),
        Command::Rehearse(a) => rehearse::run(&a),
        Command::Init(a) => init::run(&a),
        Command::Sim(a) => sim::run(a),
        Command::Completions { shell } => completions(shell),
        Command::Man => man(),
    };
    ExitCode::from(code)
}

/// Writes the completion script for `shell` to stdout (a closed pipe ends quietly).
fn completions(shell: clap_complete::Shell) -> u8 {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "rollpilot", &mut buf);
    common::print_out(&String::from_utf8_lossy(&buf)).err().unwrap_or(exit::OK)
}

/// Writes the manual page (roff) generated from the same definitions as `--help`.
fn man() -> u8 {
    let mut buf = Vec::new();
    if let Err(e) = clap_mangen::Man::new(Cli::command()).render(&mut buf) {
        common::say!("rollpilot: cannot render the manual page: {e}");
        return exit::FAILED;
    }
    common::print_out(&String::from_utf8_lossy(&buf)).err().unwrap_or(exit::OK)
}
