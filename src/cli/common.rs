//! Helpers shared by several commands: loading the config, typed flags, refusals, the runtime,
//! one probe round, and who and where the operator is.

/// `eprintln!` for every message a command prints: the text may carry values from the command
/// line (`--to`, `--confirm`), paths, config values or what a host answered (an ssh error, a
/// refusal naming a probed state), so it goes through [`crate::sanitize::clean_text`] first and
/// an escape sequence in any of them is shown, never obeyed by the terminal.
macro_rules! say {
    ($($arg:tt)*) => {
        eprintln!("{}", $crate::sanitize::clean_text(&format!($($arg)*)))
    };
}
pub(crate) use say;

use super::exit;
use crate::config;
use crate::model::Cluster;
use crate::plan::Refusal;
use clap::Args;
use semver::Version;
use std::path::PathBuf;

/// The `-c FILE` flag every cluster command takes.
#[derive(Debug, Args)]
pub(super) struct ConfigArg {
    /// The cluster config (TOML). See config/ for examples.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub(super) config: PathBuf,
}

/// Loads a config or prints every problem; `Err` carries the exit code.
pub fn load_config(path: &std::path::Path) -> Result<Cluster, u8> {
    config::load(path).map_err(|e| {
        say!("{}", e.render());
        exit::USAGE
    })
}

/// Parses `--to`, or explains what a version looks like.
pub fn parse_target(to: Option<&str>, cluster: &Cluster) -> Result<(Version, bool), u8> {
    match to {
        None => Ok((cluster.target.clone(), false)),
        Some(s) => match Version::parse(s.trim()) {
            Ok(v) => Ok((v, true)),
            Err(e) => {
                say!("--to {s}: not a version ({e}); write major.minor.patch like 4.2.1");
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
            say!(
                "{flag}={n} does not match the cluster name `{}`; type the cluster's name exactly to confirm",
                cluster.name
            );
            Err(exit::USAGE)
        }
    }
}

/// Prints a refusal and returns its exit code (3 for a rule, 4 for unreachable hosts).
pub fn report_refusal(r: &Refusal) -> u8 {
    eprint!("{}", crate::sanitize::clean_text(&render_refusal(r)));
    if r.is_unreachable() { exit::UNREACHABLE } else { exit::REFUSED }
}

/// A refusal as an operator reads it: findings that say the same thing about several nodes
/// (R1 refuses every node of a cluster for one reason) are printed once, with the node list,
/// instead of one identical paragraph per node.
pub fn render_refusal(r: &Refusal) -> String {
    use std::fmt::Write;
    // The planner names the node first ("tc-east-1 runs 4.2.0 ..."): the same text with the
    // node's name blanked out is the same finding.
    struct Same<'a> {
        first: &'a crate::plan::Finding,
        nodes: Vec<&'a str>,
        key: (Option<crate::plan::Rule>, String, String),
    }
    let mut groups: Vec<Same> = Vec::new();
    for f in &r.findings {
        let node = f.message.split_whitespace().next().unwrap_or("");
        let blank = |s: &str| if node.is_empty() { s.to_string() } else { s.replace(node, "\u{0}") };
        let key = (f.rule, blank(&f.message), blank(&f.advice));
        match groups.iter_mut().find(|g| g.key == key) {
            Some(g) => g.nodes.push(node),
            None => groups.push(Same { first: f, nodes: vec![node], key }),
        }
    }
    let mut out = format!("rollpilot refuses to plan a rolling upgrade of {}:\n", r.cluster);
    for g in &groups {
        let rule = g.first.rule.map(|r| format!("{r}: ")).unwrap_or_default();
        let _ = writeln!(out, "  - {rule}{}", g.first.message);
        if let [_, others @ ..] = g.nodes.as_slice()
            && !others.is_empty()
        {
            let n = others.len();
            let nodes = if n == 1 { "node" } else { "nodes" };
            let _ = writeln!(out, "    the same holds for {n} more {nodes}: {}", others.join(", "));
        }
        let _ = writeln!(out, "    what to do: {}", g.first.advice);
    }
    out
}

/// A tokio runtime for commands that talk to hosts.
pub fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| {
        say!("cannot start the async runtime: {e}");
        exit::FAILED
    })
}

/// Probes every node once, then closes the connections.
pub async fn probe_once(cluster: &Cluster) -> Result<crate::probe::Snapshot, u8> {
    let transport = crate::transport::for_cluster(cluster).map_err(|e| {
        say!("{e}");
        exit::FAILED
    })?;
    let poller = crate::probe::Poller::new(std::sync::Arc::new(cluster.clone()), transport.clone());
    let snap = poller.refresh().await;
    transport.close().await;
    Ok(snap)
}

/// The machine's name, for the lock and the journal: `ROLLPILOT_MACHINE` when set (containers
/// and CI runners that share one host name, and tests that play two machines), else the host
/// name. The lock uses it to tell this machine's own interrupted run (whose process it can see
/// is gone) from another machine's.
pub fn machine_name() -> String {
    std::env::var("ROLLPILOT_MACHINE")
        .ok()
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| rustix::system::uname().nodename().to_string_lossy().into_owned())
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

/// Whether to run without the TUI: asked for, or no terminal to draw on.
pub(super) fn wants_headless(flag: bool, json: bool) -> bool {
    use std::io::IsTerminal;
    flag || json || !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal()
}

/// Writes a command's output to stdout through one lock. A reader that went away (`| head -1`)
/// is a normal end for a command-line tool, so a broken pipe ends the command quietly with
/// exit 0 instead of a panic; any other write error is reported (exit 1).
pub(super) fn print_out(text: &str) -> Result<(), u8> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(exit::OK),
        Err(e) => {
            say!("rollpilot: cannot write to standard output: {e}");
            Err(exit::FAILED)
        }
    }
}

/// Checks a `--state-dir` before anything is written there: it must be (or become) a
/// directory this user can write. `Err` carries exit 2 after a sentence saying what is wrong.
pub(super) fn usable_state_dir(dir: &std::path::Path) -> Result<(), u8> {
    let fail = |why: String| {
        say!("--state-dir {}: {why}; give a directory you can write (or leave it out for the default)", dir.display());
        Err(exit::USAGE)
    };
    if dir.exists() && !dir.is_dir() {
        return fail("is a file, not a directory".into());
    }
    if let Err(e) = std::fs::create_dir_all(dir) {
        return fail(format!("cannot be created ({e})"));
    }
    let probe = dir.join(format!(".rollpilot-write-test-{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => fail(format!("is not writable ({e})")),
    }
}
