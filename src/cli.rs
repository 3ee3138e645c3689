//! Command-line interface: one function per command, mapping outcomes to exit codes.

use crate::config;
use crate::model::{Cluster, Observed};
use crate::plan::{self, PlanRequest, Refusal, RunContext};
use clap::{Args, Parser, Subcommand};
use semver::Version;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit codes (DESIGN.md §7), documented in `--help`.
pub mod exit {
    /// Done.
    pub const OK: u8 = 0;
    /// The run failed or was aborted.
    pub const FAILED: u8 = 1;
    /// Usage or config error.
    pub const USAGE: u8 = 2;
    /// A safety rule refused.
    pub const REFUSED: u8 = 3;
    /// Hosts unreachable.
    pub const UNREACHABLE: u8 = 4;
    /// Interrupted.
    pub const INTERRUPTED: u8 = 130;
}

const AFTER_HELP: &str = "Exit codes: 0 done; 1 the run failed or was aborted; 2 usage or config error; \
3 a safety rule refused; 4 hosts unreachable; 130 interrupted.\n\nStart with `rollpilot demo`.";

/// Guided rolling upgrades of highly available clusters over SSH.
#[derive(Debug, Parser)]
#[command(name = "rollpilot", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a cluster config file (exit 0, or 2 with every problem located).
    Check(CheckArgs),
    /// Show every node: role, version, sync state, health (probed live over ssh).
    Status(StatusArgs),
    /// Show the plan for a rollout: phases, steps, gates, reasons and rollbacks.
    Plan(PlanArgs),
    /// Run a simulated cluster on this machine (for the demo, tests and rehearsals).
    Sim(crate::sim::cli::SimArgs),
}

#[derive(Debug, Args)]
struct ConfigArg {
    /// The cluster config (TOML). See config/ for examples.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: PathBuf,
}

#[derive(Debug, Args)]
struct CheckArgs {
    #[command(flatten)]
    cfg: ConfigArg,
}

#[derive(Debug, Args)]
struct StatusArgs {
    #[command(flatten)]
    cfg: ConfigArg,
    /// Print a JSON array (keys: host, group, kind, role, state, version, target, sync, health, reachable, stale, last_seen, error).
    #[arg(long, conflicts_with = "watch")]
    json: bool,
    /// Refresh in place every timeouts.refresh until Ctrl-C.
    #[arg(long)]
    watch: bool,
}

#[derive(Debug, Args)]
struct PlanArgs {
    #[command(flatten)]
    cfg: ConfigArg,
    /// Plan for an assumed state (TOML [nodes.NAME] tables, or saved `status --json`) instead of probing the hosts.
    #[arg(long, value_name = "STATE_FILE")]
    assume: Option<PathBuf>,
    /// Target version instead of the config's (a lower version plans a rolling downgrade).
    #[arg(long, value_name = "VERSION")]
    to: Option<String>,
    /// Accept R3 data loss for a non-persistent group without a mirror: give the cluster name.
    #[arg(long, value_name = "CLUSTER")]
    accept_data_loss: Option<String>,
    /// Print the plan as JSON.
    #[arg(long)]
    json: bool,
}

/// Parses argv and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let _log = crate::logging::init(&crate::paths::state_dir(None));
    let code = match cli.command {
        Command::Check(a) => check(&a),
        Command::Status(a) => status(&a),
        Command::Plan(a) => plan_cmd(&a),
        Command::Sim(a) => crate::sim::cli::run(a),
    };
    ExitCode::from(code)
}

/// Loads a config or prints every problem; `Err` carries the exit code.
pub fn load_config(path: &std::path::Path) -> Result<Cluster, u8> {
    config::load(path).map_err(|e| {
        eprintln!("{}", e.render());
        exit::USAGE
    })
}

fn check(a: &CheckArgs) -> u8 {
    match load_config(&a.cfg.config) {
        Ok(c) => {
            let nodes = c.nodes().count();
            println!(
                "{}: ok — cluster {} ({} profile, target {}), {} groups, {} hosts",
                a.cfg.config.display(),
                c.name,
                c.profile.as_str(),
                c.target,
                c.groups.len(),
                nodes
            );
            exit::OK
        }
        Err(code) => code,
    }
}

/// Parses `--to`, or explains what a version looks like.
pub fn parse_target(to: Option<&str>, cluster: &Cluster) -> Result<(Version, bool), u8> {
    match to {
        None => Ok((cluster.target.clone(), false)),
        Some(s) => match Version::parse(s.trim()) {
            Ok(v) => Ok((v, true)),
            Err(e) => {
                eprintln!("--to {s}: not a version ({e}); write major.minor.patch like 4.2.1");
                Err(exit::USAGE)
            }
        },
    }
}

/// Checks a typed cluster name given on the command line.
pub fn typed_name_matches(given: Option<&str>, cluster: &Cluster, flag: &str) -> Result<bool, u8> {
    match given {
        None => Ok(false),
        Some(n) if n == cluster.name => Ok(true),
        Some(n) => {
            eprintln!(
                "{flag}={n} does not match the cluster name `{}`; type the cluster's name exactly to confirm",
                cluster.name
            );
            Err(exit::USAGE)
        }
    }
}

/// Prints a refusal and returns its exit code (3 for a rule, 4 for unreachable hosts).
pub fn report_refusal(r: &Refusal) -> u8 {
    eprint!("{r}");
    if r.is_unreachable() { exit::UNREACHABLE } else { exit::REFUSED }
}

fn plan_cmd(a: &PlanArgs) -> u8 {
    let cluster = match load_config(&a.cfg.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (target, explicit) = match parse_target(a.to.as_deref(), &cluster) {
        Ok(t) => t,
        Err(c) => return c,
    };
    let accept = match typed_name_matches(a.accept_data_loss.as_deref(), &cluster, "--accept-data-loss") {
        Ok(b) => b,
        Err(c) => return c,
    };
    let observed: Observed = match &a.assume {
        Some(p) => match config::observed_file::load(p, &cluster) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("{}", e.render());
                return exit::USAGE;
            }
        },
        None => {
            eprintln!(
                "plan without --assume needs live probing, which this build cannot do yet; pass --assume STATE_FILE"
            );
            return exit::USAGE;
        }
    };
    let ctx = RunContext { accept_data_loss: accept, downgrade_intended: explicit, ..Default::default() };
    let req = PlanRequest { cluster: &cluster, observed: &observed, target, context: &ctx };
    match plan::plan(&req) {
        Ok(p) => {
            if a.json {
                match serde_json::to_string_pretty(&p) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("cannot encode the plan as JSON: {e}");
                        return exit::FAILED;
                    }
                }
            } else {
                print!("{}", plan::render::to_text(&p));
            }
            exit::OK
        }
        Err(r) => {
            if a.json
                && let Ok(s) = serde_json::to_string_pretty(&r)
            {
                println!("{s}");
            }
            report_refusal(&r)
        }
    }
}

/// A tokio runtime for commands that talk to hosts.
pub fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| {
        eprintln!("cannot start the async runtime: {e}");
        exit::FAILED
    })
}

/// Probes every node once, then closes the connections.
pub async fn probe_once(cluster: &Cluster) -> Result<crate::probe::Snapshot, u8> {
    let transport = crate::transport::for_cluster(cluster).map_err(|e| {
        eprintln!("{e}");
        exit::FAILED
    })?;
    let poller = crate::probe::Poller::new(std::sync::Arc::new(cluster.clone()), transport.clone());
    let snap = poller.refresh().await;
    transport.close().await;
    Ok(snap)
}

fn status(a: &StatusArgs) -> u8 {
    let cluster = match load_config(&a.cfg.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(c) => return c,
    };
    rt.block_on(async {
        use crate::status_view;
        if a.watch {
            let transport = match crate::transport::for_cluster(&cluster) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{e}");
                    return exit::FAILED;
                }
            };
            let poller = crate::probe::Poller::new(std::sync::Arc::new(cluster.clone()), transport.clone());
            let mut tick = tokio::time::interval(cluster.timeouts.refresh);
            let code = loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let snap = poller.refresh().await;
                        let now = jiff::Timestamp::now();
                        let rows = status_view::rows(&cluster, &snap);
                        print!("\x1b[H\x1b[2J{} — {} (every {}; Ctrl-C to stop)\n\n{}", cluster.name, now.strftime("%H:%M:%S"), crate::config::duration::format_duration(cluster.timeouts.refresh), status_view::to_text(&rows, now));
                        use std::io::Write;
                        let _ = std::io::stdout().flush();
                    }
                    _ = tokio::signal::ctrl_c() => break exit::INTERRUPTED,
                }
            };
            transport.close().await;
            return code;
        }
        let snap = match probe_once(&cluster).await {
            Ok(s) => s,
            Err(c) => return c,
        };
        let rows = status_view::rows(&cluster, &snap);
        if a.json {
            match serde_json::to_string_pretty(&rows) {
                Ok(s) => println!("{s}"),
                Err(e) => {
                    eprintln!("cannot encode JSON: {e}");
                    return exit::FAILED;
                }
            }
        } else {
            print!("{}", status_view::to_text(&rows, jiff::Timestamp::now()));
        }
        let down = snap.unreachable();
        if down.is_empty() {
            exit::OK
        } else {
            eprintln!("{} of {} hosts unreachable: {}", down.len(), rows.len(), down.join(", "));
            exit::UNREACHABLE
        }
    })
}
