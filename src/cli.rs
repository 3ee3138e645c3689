//! Command-line interface: one function per command, mapping outcomes to exit codes.

use crate::config;
use crate::model::{Cluster, Observed};
use crate::plan::{self, PlanRequest, Refusal, RunContext};
use crate::run::events::Command as RunCommand;
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
    /// Run the rolling upgrade: the full-screen TUI, or plain progress with --headless.
    Upgrade(UpgradeArgs),
    /// Continue an interrupted or aborted run from its journal.
    Resume(UpgradeArgs),
    /// The maintenance report of a run (Markdown or JSON), from its journal.
    Report(ReportArgs),
    /// Run a simulated cluster on this machine (for the demo, tests and rehearsals).
    Sim(crate::sim::cli::SimArgs),
}

#[derive(Debug, Args)]
struct UpgradeArgs {
    #[command(flatten)]
    cfg: ConfigArg,
    /// Target version instead of the config's (lower than the running version: a rolling downgrade).
    #[arg(long, value_name = "VERSION")]
    to: Option<String>,
    /// No TUI: print progress and decide from --yes/--confirm/--on-failure (implied without a terminal).
    #[arg(long)]
    headless: bool,
    /// Headless: confirm ordinary steps (and optional ones such as failback under `ask`).
    #[arg(long)]
    yes: bool,
    /// Headless: the cluster name, for steps that need a typed confirmation (R2, downgrade, skip).
    #[arg(long, value_name = "CLUSTER")]
    confirm: Option<String>,
    /// Accept R3 data loss for a non-persistent group without a mirror: give the cluster name.
    #[arg(long, value_name = "CLUSTER")]
    accept_data_loss: Option<String>,
    /// Headless: what a failure leads to.
    #[arg(long, value_enum, default_value = "abort")]
    on_failure: crate::run::headless::OnFailure,
    /// Headless: break another operator's EXPIRED lock (with --confirm=CLUSTER).
    #[arg(long)]
    break_lock: bool,
    /// Headless: print JSON events, one per line.
    #[arg(long)]
    json: bool,
    /// Where journals and reports live (default: $XDG_STATE_HOME/rollpilot).
    #[arg(long, value_name = "DIR", env = "ROLLPILOT_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Operator name recorded in the lock, the journal and the report (default: $USER).
    #[arg(long, value_name = "NAME")]
    operator: Option<String>,
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// The run id (default: the newest run, of the cluster given with -c).
    run: Option<String>,
    /// Narrow to this cluster's runs.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// md or json.
    #[arg(long, default_value = "md", value_parser = ["md", "json"])]
    format: String,
    /// Where journals live (default: $XDG_STATE_HOME/rollpilot).
    #[arg(long, value_name = "DIR", env = "ROLLPILOT_STATE_DIR")]
    state_dir: Option<PathBuf>,
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
        Command::Upgrade(a) => upgrade(&a, false),
        Command::Resume(a) => upgrade(&a, true),
        Command::Report(a) => report(&a),
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
        None => match runtime().map(|rt| rt.block_on(probe_once(&cluster))) {
            Ok(Ok(snap)) => {
                let down = snap.unreachable();
                if !down.is_empty() {
                    eprintln!("probed {} hosts; unreachable: {}", snap.nodes.len(), down.join(", "));
                }
                snap.observed()
            }
            Ok(Err(code)) | Err(code) => return code,
        },
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

/// The machine's name, for the lock and the journal.
pub fn machine_name() -> String {
    rustix::system::uname().nodename().to_string_lossy().into_owned()
}

/// Who drives: `--operator`, else $USER/$LOGNAME, else the account of this process.
pub fn operator_name(given: Option<&str>) -> String {
    let env = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
    given.map(str::to_string).or_else(|| env("USER")).or_else(|| env("LOGNAME")).unwrap_or_else(|| {
        let uid = rustix::process::getuid().as_raw();
        std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|p| {
                p.lines().find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
                })
            })
            .unwrap_or_else(|| format!("uid-{uid}"))
    })
}

fn upgrade(a: &UpgradeArgs, resume: bool) -> u8 {
    use crate::run::{executor, headless, journal, runs};
    use std::io::IsTerminal;
    let cluster = match load_config(&a.cfg.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let state_dir = crate::paths::state_dir(a.state_dir.as_deref());
    let accept = match typed_name_matches(a.accept_data_loss.as_deref(), &cluster, "--accept-data-loss") {
        Ok(b) => b,
        Err(c) => return c,
    };
    let (mut target, mut explicit) = match parse_target(a.to.as_deref(), &cluster) {
        Ok(t) => t,
        Err(c) => return c,
    };
    let mut resume_from = None;
    if resume {
        match runs::resumable(&state_dir, &cluster.name) {
            Err(e @ journal::JournalError::Newer { .. }) => {
                eprintln!("{e}");
                return exit::REFUSED;
            }
            Err(e) => {
                eprintln!("{e}");
                return exit::FAILED;
            }
            Ok(None) => {
                eprintln!(
                    "nothing to resume for {}: no interrupted run in {}",
                    cluster.name,
                    state_dir.join("runs").join(&cluster.name).display()
                );
                return exit::OK;
            }
            Ok(Some((r, _entries, state))) => {
                if let Ok(t) = Version::parse(&state.target) {
                    if a.to.is_some() && t != target {
                        eprintln!(
                            "run {} targets {}; --to {} does not apply to a resumed run",
                            r.run, state.target, target
                        );
                        return exit::USAGE;
                    }
                    target = t;
                }
                explicit = state.context.downgrade_intended;
                resume_from = Some(executor::ResumeFrom { run: r.run.clone(), journal: r.journal.clone(), state });
            }
        }
    }
    let headless_mode = a.headless || a.json || !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal();
    if !headless_mode {
        eprintln!(
            "the interactive TUI is not available in this build; run with --headless (and --yes / --confirm={})",
            cluster.name
        );
        return exit::USAGE;
    }
    let config_text = std::fs::read_to_string(&a.cfg.config).unwrap_or_default();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(c) => return c,
    };
    let cluster = std::sync::Arc::new(cluster);
    rt.block_on(async move {
        let transport = match crate::transport::for_cluster(&cluster) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{e}");
                return exit::FAILED;
            }
        };
        let poller = crate::probe::Poller::new(cluster.clone(), transport.clone());
        // Preflight for a new run: refuse before taking the lock when the plan cannot run
        // headless as asked (a rule refuses, or a typed confirmation is missing).
        if resume_from.is_none() {
            let snap = poller.refresh().await;
            let ctx = RunContext { accept_data_loss: accept, downgrade_intended: explicit, ..Default::default() };
            let observed = snap.observed();
            match plan::plan(&PlanRequest { cluster: &cluster, observed: &observed, target: target.clone(), context: &ctx }) {
                Err(r) => {
                    transport.close().await;
                    return report_refusal(&r);
                }
                Ok(p) => {
                    if !p.typed_confirmations.is_empty() && a.confirm.as_deref() != Some(cluster.name.as_str()) {
                        eprintln!("this plan needs typed confirmation ({}); pass --confirm={} to run it headless", p.typed_confirmations.iter().map(|t| t.reason.clone()).collect::<Vec<_>>().join("; "), cluster.name);
                        transport.close().await;
                        return exit::REFUSED;
                    }
                    if !p.is_empty() && !a.yes {
                        eprintln!("a headless run confirms every step by flag: pass --yes (and --confirm={} for typed confirmations); `rollpilot plan -c {}` shows what would run", cluster.name, a.cfg.config.display());
                        transport.close().await;
                        return exit::USAGE;
                    }
                }
            }
        }
        let cfg = executor::RunConfig {
            cluster: cluster.clone(),
            config_path: a.cfg.config.clone(),
            config_hash: journal::fingerprint(&config_text),
            target,
            context: RunContext { accept_data_loss: accept, downgrade_intended: explicit, ..Default::default() },
            state_dir,
            operator: operator_name(a.operator.as_deref()),
            machine: machine_name(),
            mode: executor::Mode::Headless,
            resume: resume_from,
        };
        let (ev_tx, ev_rx) = tokio::sync::mpsc::unbounded_channel();
        let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel();
        let opts = headless::Options { yes: a.yes, confirm: a.confirm.clone(), json: a.json, on_failure: a.on_failure, break_lock: a.break_lock };
        let sig_tx = cmd_tx.clone();
        let signals = tokio::spawn(async move {
            // First Ctrl-C: finish the running step, then stop (resumable). Second: stop now.
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupt: finishing the current step, then stopping (Ctrl-C again to stop now; the step goes on on its host)");
                let _ = sig_tx.send(RunCommand::Interrupt);
                if tokio::signal::ctrl_c().await.is_ok() {
                    let _ = sig_tx.send(RunCommand::InterruptNow);
                }
            }
        });
        let printer = tokio::spawn(headless::drive(ev_rx, cmd_tx, opts));
        let end = executor::run(cfg, transport.clone(), poller, ev_tx, cmd_rx).await;
        let _ = printer.await;
        signals.abort();
        transport.close().await;
        end.exit_code()
    })
}

fn report(a: &ReportArgs) -> u8 {
    use crate::run::{report, runs};
    let state_dir = crate::paths::state_dir(a.state_dir.as_deref());
    let cluster = match &a.config {
        Some(p) => match load_config(p) {
            Ok(c) => Some(c.name),
            Err(code) => return code,
        },
        None => None,
    };
    let all = runs::list(&state_dir, cluster.as_deref());
    let chosen = match &a.run {
        Some(id) => all.into_iter().find(|r| &r.run == id),
        None => all.into_iter().last(),
    };
    let Some(r) = chosen else {
        eprintln!(
            "no run {}found in {}",
            a.run.as_ref().map(|r| format!("{r} ")).unwrap_or_default(),
            state_dir.join("runs").display()
        );
        return exit::USAGE;
    };
    let (entries, _) = match runs::load(&r) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return exit::FAILED;
        }
    };
    if a.format == "json" {
        match serde_json::to_string_pretty(&report::json(&r.run, &entries)) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("cannot encode JSON: {e}");
                return exit::FAILED;
            }
        }
    } else {
        print!("{}", report::markdown(&r.run, &entries));
    }
    exit::OK
}
