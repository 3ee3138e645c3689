//! `rollpilot sim ...`: start, stop, break and verify a simulated cluster.

/// Prints a line on stdout. A reader that went away (`rollpilot sim status | head -1`) is a
/// normal end for a listing, not a panic; the command's exit code stays what it was.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

use super::{FaultKind, SshHost, Topology, UpOptions};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `rollpilot sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    #[command(subcommand)]
    command: SimCommand,
}

#[derive(Debug, Subcommand)]
enum SimCommand {
    /// Create and start a simulated cluster in a directory and write its cluster.toml.
    Up(UpArgs),
    /// Stop every process of a simulated cluster (data stays on disk).
    Down(DirArg),
    /// Inject a fault on one node: stall-sync, fail-install, crash, hang-stop, slow-start, stuck-start, refuse-switchover.
    Fault(FaultArgs),
    /// Check that every write a client saw acknowledged is still in the cluster (exit 0 if so).
    Verify(DirArg),
    /// List the simulated hosts, where they listen and their pids.
    Status(DirArg),
    /// The simulated products' engine, run by the kit scripts.
    #[command(hide = true)]
    Node(super::node::NodeArgs),
}

#[derive(Debug, Args)]
struct DirArg {
    /// The simulator directory.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
}

#[derive(Debug, Args)]
struct UpArgs {
    /// Directory for the cluster (created; must be new, empty or a stopped simulator's).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// terracotta (seeds 000/001), streambase (seed 002), exchange (seed 003) or jsondb (JSON
    /// status over HTTP, numeric lag, finalize).
    #[arg(long, default_value = "terracotta")]
    topology: String,
    /// Initial version (default 4.2.0, 10.6.0, 6.5.7226 or 3.1.4 by topology).
    #[arg(long)]
    version: Option<String>,
    /// Servers per Terracotta stripe: 1 (no mirror), 2 (default) or 3.
    #[arg(long, value_name = "N")]
    stripe_size: Option<usize>,
    /// Terracotta stripes: 1 to 8 (default 2, east and west), each with a client.
    #[arg(long, value_name = "N")]
    stripes: Option<usize>,
    /// StreamBase nodes: 1 to 40 (default 3).
    #[arg(long, value_name = "N")]
    nodes: Option<usize>,
    /// Terracotta servers keep their data in memory only (lost when a lone server restarts).
    #[arg(long)]
    not_persistent: bool,
    /// Reach the hosts over ssh at these addresses, one per host in config order.
    #[arg(long, value_name = "HOST[:PORT],...")]
    ssh_hosts: Option<String>,
    /// ssh_config file written as [ssh] config_file.
    #[arg(long, value_name = "FILE")]
    ssh_config: Option<PathBuf>,
    /// Give up if the cluster is not ready after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 90)]
    timeout: u64,
}

#[derive(Debug, Args)]
struct FaultArgs {
    /// The simulator directory.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// The node (a host name of cluster.toml).
    node: String,
    /// stall-sync, fail-install, crash, hang-stop, slow-start, stuck-start or refuse-switchover.
    kind: String,
    /// Remove the fault instead of setting it.
    #[arg(long)]
    clear: bool,
}

/// Runs a `sim` subcommand and returns the exit code.
pub fn run(a: SimArgs) -> u8 {
    let r = match a.command {
        SimCommand::Node(n) => return super::node::run(n),
        SimCommand::Up(u) => up(u),
        SimCommand::Down(d) => super::down(&d.dir).map(|r| {
            say!(
                "stopped {} process(es) of the simulated cluster in {}; {} recorded, none left running",
                r.stopped.len(),
                d.dir.display(),
                r.recorded
            );
            0
        }),
        SimCommand::Fault(f) => {
            FaultKind::parse(&f.kind).and_then(|k| super::fault(&f.dir, &f.node, k, f.clear)).map(|msg| {
                say!("{msg}");
                0
            })
        }
        SimCommand::Verify(d) => super::verify(&d.dir).map(|r| {
            for line in &r.details {
                say!("{line}");
            }
            if !r.missing_sample.is_empty() {
                say!("missing, for example: {}", r.missing_sample.join(", "));
            }
            say!("{}", r.summary());
            if r.lost == 0 { 0 } else { 1 }
        }),
        SimCommand::Status(d) => super::hosts(&d.dir).map(|hosts| {
            for h in hosts {
                say!(
                    "{:<12} {:<16} {:<10} {:<22} {}",
                    h.name,
                    h.role.as_str(),
                    h.group,
                    h.endpoint.unwrap_or_else(|| "-".into()),
                    match h.pid {
                        Some(p) => format!("pid {p}"),
                        None if h.role.has_process() => "not running".into(),
                        None => "-".into(),
                    }
                );
            }
            0
        }),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rollpilot sim: {e}");
            e.exit_code()
        }
    }
}

fn up(u: UpArgs) -> Result<u8, super::SimError> {
    let topology = Topology::parse(&u.topology)?;
    let mut opts = UpOptions::new(&u.dir, topology);
    opts.version = u.version;
    opts.stripe_size = u.stripe_size;
    opts.nodes = u.nodes;
    opts.stripes = u.stripes;
    opts.persistent = !u.not_persistent;
    if let Some(s) = &u.ssh_hosts {
        opts.ssh_hosts = SshHost::parse_list(s)?;
    }
    opts.ssh_config = u.ssh_config;
    opts.ready_timeout = Duration::from_secs(u.timeout.max(1));
    let info = super::up(&opts)?;
    let d = crate::model::shell_quote(&info.dir.to_string_lossy());
    let c = crate::model::shell_quote(&info.config.to_string_lossy());
    say!("simulated {} cluster is up in {} (version {})", info.topology.as_str(), info.dir.display(), info.version);
    say!("  config: {}", info.config.display());
    for h in &info.hosts {
        say!(
            "  {:<12} {:<16} {:<10} {:<22} {}",
            h.name,
            h.role.as_str(),
            h.group,
            h.endpoint.clone().unwrap_or_else(|| "-".into()),
            h.pid.map(|p| format!("pid {p}")).unwrap_or_default()
        );
    }
    say!("  logs:   {}/nodes/<host>/logs/", info.dir.display());
    say!("next:");
    say!("  rollpilot check -c {c}");
    say!("  rollpilot plan -c {c}");
    if let Some(h) = info.hosts.iter().find(|h| h.role.has_process()) {
        say!("  rollpilot sim fault --dir {d} {} crash", h.name);
    }
    say!("  rollpilot sim verify --dir {d}");
    say!("  rollpilot sim down --dir {d}");
    Ok(0)
}
