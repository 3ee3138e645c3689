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
    /// Run the rolling upgrade: the full-screen TUI, or plain progress with --headless.
    Upgrade(UpgradeArgs),
    /// Continue an interrupted or aborted run from its journal.
    Resume(UpgradeArgs),
    /// The maintenance report of a run (Markdown or JSON), from its journal.
    Report(ReportArgs),
    /// Upgrade a simulated cluster on this machine in the TUI: no hosts needed. Start here.
    Demo(DemoArgs),
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
    /// `abort`, `rollback`, `retry` or `retry:N` (N more attempts per step; a check that timed
    /// out is waited for again).
    #[arg(long, value_parser = crate::run::headless::OnFailure::parse, default_value = "abort")]
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
struct DemoArgs {
    /// Which seed system to simulate: terracotta, streambase or exchange.
    #[arg(long, default_value = "terracotta")]
    topology: String,
    /// Run without the TUI (needs --yes).
    #[arg(long)]
    headless: bool,
    /// Headless: confirm every step.
    #[arg(long)]
    yes: bool,
    /// Keep the simulated cluster and its journal afterwards (stop it with `rollpilot sim down`).
    #[arg(long)]
    keep: bool,
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
        Command::Demo(a) => demo(&a),
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

/// What `upgrade`, `resume` and `demo` settle before anything runs.
struct Prepared {
    cfg: crate::run::executor::RunConfig,
}

/// Builds the run configuration: a new run, or the newest interrupted one (`resume`).
/// `Ok(None)` means there is nothing to resume.
fn prepare(
    config: &std::path::Path,
    state_dir: PathBuf,
    to: Option<&str>,
    accept_data_loss: Option<&str>,
    operator: Option<&str>,
    resume: bool,
    mode: crate::run::executor::Mode,
) -> Result<Option<Prepared>, u8> {
    use crate::run::{executor, journal, runs};
    let cluster = load_config(config)?;
    let accept = typed_name_matches(accept_data_loss, &cluster, "--accept-data-loss")?;
    let (mut target, mut explicit) = parse_target(to, &cluster)?;
    let mut resume_from = None;
    if resume {
        match runs::resumable(&state_dir, &cluster.name) {
            Err(e @ journal::JournalError::Newer { .. }) => {
                eprintln!("{e}");
                return Err(exit::REFUSED);
            }
            Err(e) => {
                eprintln!("{e}");
                return Err(exit::FAILED);
            }
            Ok(None) => {
                eprintln!(
                    "nothing to resume for {}: no interrupted run in {}",
                    cluster.name,
                    state_dir.join("runs").join(&cluster.name).display()
                );
                return Ok(None);
            }
            Ok(Some((r, _entries, state))) => {
                if let Ok(t) = Version::parse(&state.target) {
                    if to.is_some() && t != target {
                        eprintln!(
                            "run {} targets {}; --to {} does not apply to a resumed run",
                            r.run, state.target, target
                        );
                        return Err(exit::USAGE);
                    }
                    target = t;
                }
                explicit = state.context.downgrade_intended;
                resume_from = Some(executor::ResumeFrom { run: r.run.clone(), journal: r.journal.clone(), state });
            }
        }
    }
    let config_text = std::fs::read_to_string(config).unwrap_or_default();
    Ok(Some(Prepared {
        cfg: executor::RunConfig {
            cluster: std::sync::Arc::new(cluster),
            config_path: config.to_path_buf(),
            config_hash: journal::fingerprint(&config_text),
            target,
            context: RunContext { accept_data_loss: accept, downgrade_intended: explicit, ..Default::default() },
            state_dir,
            operator: operator_name(operator),
            machine: machine_name(),
            mode,
            resume: resume_from,
            resume_command: format!("rollpilot resume -c {}", crate::model::shell_quote(&config.display().to_string())),
        },
    }))
}

/// Refuses before the lock is taken when a new run's plan is refused, or cannot run headless
/// as the flags ask (a typed confirmation or `--yes` missing).
async fn preflight(
    p: &Prepared,
    transport: &std::sync::Arc<dyn crate::transport::Transport>,
    headless: Option<(&crate::run::headless::Options, &std::path::Path)>,
) -> Result<(), u8> {
    let cfg = &p.cfg;
    if cfg.resume.is_some() {
        return Ok(());
    }
    let poller = crate::probe::Poller::new(cfg.cluster.clone(), transport.clone());
    let snap = poller.refresh().await;
    let observed = snap.observed();
    let plan = plan::plan(&PlanRequest {
        cluster: &cfg.cluster,
        observed: &observed,
        target: cfg.target.clone(),
        context: &cfg.context,
    })
    .map_err(|r| report_refusal(&r))?;
    if let Some((opts, config)) = headless {
        let name = cfg.cluster.name.as_str();
        if !plan.typed_confirmations.is_empty() && opts.confirm.as_deref() != Some(name) {
            eprintln!(
                "this plan needs typed confirmation ({}); pass --confirm={name} to run it headless",
                plan.typed_confirmations.iter().map(|t| t.reason.clone()).collect::<Vec<_>>().join("; ")
            );
            return Err(exit::REFUSED);
        }
        if !plan.is_empty() && !opts.yes {
            eprintln!(
                "a headless run confirms every step by flag: pass --yes (and --confirm={name} for typed confirmations); `rollpilot plan -c {}` shows what would run",
                config.display()
            );
            return Err(exit::USAGE);
        }
    }
    Ok(())
}

/// Whether to run without the TUI: asked for, or no terminal to draw on.
fn wants_headless(flag: bool, json: bool) -> bool {
    use std::io::IsTerminal;
    flag || json || !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal()
}

/// Runs a prepared session with the right face and returns the exit code.
fn run_prepared(p: Prepared, headless: Option<crate::run::headless::Options>) -> u8 {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(c) => return c,
    };
    let config = p.cfg.config_path.clone();
    rt.block_on(async move {
        let transport = match crate::transport::for_cluster(&p.cfg.cluster) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{e}");
                return exit::FAILED;
            }
        };
        if let Err(code) = preflight(&p, &transport, headless.as_ref().map(|o| (o, config.as_path()))).await {
            transport.close().await;
            return code;
        }
        let face = match headless {
            Some(o) => crate::session::Face::Headless(o),
            None => crate::session::Face::Tui,
        };
        let out = crate::session::run(p.cfg, transport.clone(), face).await;
        transport.close().await;
        if let Some(m) = &out.message {
            eprintln!("rollpilot: {m}");
        }
        out.code
    })
}

fn upgrade(a: &UpgradeArgs, resume: bool) -> u8 {
    use crate::run::{executor, headless};
    let headless_mode = wants_headless(a.headless, a.json);
    let mode = if headless_mode { executor::Mode::Headless } else { executor::Mode::Tui };
    let state_dir = crate::paths::state_dir(a.state_dir.as_deref());
    let p = match prepare(
        &a.cfg.config,
        state_dir,
        a.to.as_deref(),
        a.accept_data_loss.as_deref(),
        a.operator.as_deref(),
        resume,
        mode,
    ) {
        Ok(Some(p)) => p,
        Ok(None) => return exit::OK,
        Err(code) => return code,
    };
    let opts = headless_mode.then(|| headless::Options {
        yes: a.yes,
        confirm: a.confirm.clone(),
        json: a.json,
        on_failure: a.on_failure,
        break_lock: a.break_lock,
    });
    run_prepared(p, opts)
}

fn demo(a: &DemoArgs) -> u8 {
    use crate::run::{executor, headless};
    use crate::sim::{self, Topology, UpOptions};
    let topology = match a.topology.as_str() {
        "terracotta" => Topology::Terracotta,
        "streambase" => Topology::Streambase,
        "exchange" => Topology::Exchange,
        other => {
            eprintln!("unknown topology {other}; choose terracotta, streambase or exchange");
            return exit::USAGE;
        }
    };
    let headless_mode = wants_headless(a.headless, false);
    if headless_mode && !a.yes {
        eprintln!(
            "`rollpilot demo --headless` confirms every step by flag: add --yes (or run it in a terminal to drive it yourself)"
        );
        return exit::USAGE;
    }
    let dir = std::env::temp_dir().join(format!("rollpilot-demo-{}", crate::probe::nonce()));
    eprintln!(
        "rollpilot demo: starting a simulated {} cluster in {} (real processes on 127.0.0.1)...",
        a.topology,
        dir.display()
    );
    let info = match sim::up(&UpOptions::new(&dir, topology)) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("rollpilot demo: the simulated cluster did not start: {e}");
            let _ = sim::down(&dir);
            let _ = std::fs::remove_dir_all(&dir);
            return exit::FAILED;
        }
    };
    let guard = sim::SimGuard::new(&dir);
    let mode = if headless_mode { executor::Mode::Headless } else { executor::Mode::Tui };
    let code = match prepare(&info.config, dir.join("state"), None, None, None, false, mode) {
        Ok(Some(p)) => {
            let opts = headless_mode.then_some(headless::Options {
                yes: true,
                confirm: None,
                json: false,
                on_failure: headless::OnFailure::Abort,
                break_lock: false,
            });
            run_prepared(p, opts)
        }
        Ok(None) => exit::OK,
        Err(code) => code,
    };
    let verdict = match sim::verify(&dir) {
        Ok(v) => {
            eprintln!("rollpilot demo: data check: {}", v.summary());
            if v.lost > 0 { exit::FAILED } else { exit::OK }
        }
        Err(e) => {
            eprintln!("rollpilot demo: could not check the data: {e}");
            exit::FAILED
        }
    };
    drop(guard);
    if a.keep {
        eprintln!(
            "rollpilot demo: kept {} (journal and report in {}/state; `rollpilot sim down --dir {}` when done)",
            dir.display(),
            dir.display(),
            dir.display()
        );
    } else {
        let _ = sim::down(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!("rollpilot demo: cleaned up (every simulated process stopped, {} removed)", dir.display());
    }
    if code != exit::OK { code } else { verdict }
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
