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

/// Flags of `upgrade`, `resume` and `demo` about time and attention: the maintenance window,
/// the bell, and watching without driving.
#[derive(Debug, Args, Clone, Default)]
pub(super) struct WindowArgs {
    /// Stop at a safe point (before a node's sequence) when the next node would not finish
    /// within this time from now, e.g. `2h`, `90m` (exit 5; `resume` continues).
    #[arg(long, value_name = "DURATION")]
    pub(super) budget: Option<String>,
    /// The maintenance window ends at this local time (`HH:MM`, the next such time): stop at a
    /// safe point when the next node would not finish before it (exit 5; `resume` continues).
    #[arg(long, value_name = "HH:MM")]
    pub(super) window_end: Option<String>,
    /// No bell and no desktop notification when a decision waits.
    #[arg(long)]
    pub(super) quiet: bool,
    /// Only watch: the live node table and the estimated plan; nothing runs, no lock is taken,
    /// and keys that would act are refused.
    #[arg(long)]
    pub(super) readonly: bool,
}

impl WindowArgs {
    /// The earlier of `--budget` and `--window-end`, or a usage error said in words.
    pub(super) fn deadline(&self) -> Result<Option<crate::run::executor::Deadline>, u8> {
        let now = jiff::Zoned::now();
        deadline_at(&now, self.budget.as_deref(), self.window_end.as_deref()).map_err(|e| {
            eprintln!("{e}");
            exit::USAGE
        })
    }

    /// The TUI's options from these flags.
    pub(super) fn tui_options(&self, deadline: Option<&crate::run::executor::Deadline>) -> crate::tui::TuiOptions {
        crate::tui::TuiOptions {
            rehearsal: None,
            quiet: self.quiet,
            readonly: None,
            shell_allowed: false,
            window_end: deadline.map(|d| d.at),
        }
    }
}

/// The deadline from `--budget` (from `now`) and `--window-end` (the next `HH:MM` in `now`'s
/// time zone: later today, or tomorrow when that time has passed); the earlier wins.
pub fn deadline_at(
    now: &jiff::Zoned,
    budget: Option<&str>,
    window_end: Option<&str>,
) -> Result<Option<crate::run::executor::Deadline>, String> {
    use crate::run::executor::Deadline;
    let mut out: Option<Deadline> = None;
    if let Some(b) = budget {
        let d = crate::config::duration::parse_duration(b)
            .map_err(|e| format!("--budget {b}: {e}; write a duration such as 2h, 90m or 1h30m"))?;
        let span = jiff::SignedDuration::try_from(d).map_err(|e| format!("--budget {b}: {e}"))?;
        let at = now.timestamp().checked_add(span).map_err(|e| format!("--budget {b}: {e}"))?;
        out = Some(Deadline { at, what: "the time budget".into() });
    }
    if let Some(w) = window_end {
        let bad = || format!("--window-end {w}: write the local time the window ends as HH:MM, e.g. 06:00");
        let (h, m) = w.trim().split_once(':').ok_or_else(bad)?;
        let (h, m): (i8, i8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if !(0..24).contains(&h) || !(0..60).contains(&m) {
            return Err(bad());
        }
        let mut end =
            now.date().at(h, m, 0, 0).to_zoned(now.time_zone().clone()).map_err(|e| format!("{}: {e}", bad()))?;
        if end.timestamp() <= now.timestamp() {
            end = end.tomorrow().map_err(|e| format!("{}: {e}", bad()))?;
        }
        let at = end.timestamp();
        if out.as_ref().is_none_or(|d| at < d.at) {
            out = Some(Deadline { at, what: "the maintenance window".into() });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::deadline_at;

    fn at(s: &str) -> jiff::Zoned {
        s.parse().unwrap()
    }

    #[test]
    fn window_end_is_the_next_such_local_time_and_the_earlier_limit_wins() {
        let now = at("2026-12-02T01:30:00+01:00[Europe/Paris]");
        let d = deadline_at(&now, None, Some("06:00")).unwrap().unwrap();
        assert_eq!(d.at, at("2026-12-02T06:00:00+01:00[Europe/Paris]").timestamp());
        assert_eq!(d.what, "the maintenance window");
        // A time already past today means tomorrow.
        let d = deadline_at(&now, None, Some("01:00")).unwrap().unwrap();
        assert_eq!(d.at, at("2026-12-03T01:00:00+01:00[Europe/Paris]").timestamp());
        // The budget ends first.
        let d = deadline_at(&now, Some("2h"), Some("06:00")).unwrap().unwrap();
        assert_eq!(d.what, "the time budget");
        assert_eq!(d.at, at("2026-12-02T03:30:00+01:00[Europe/Paris]").timestamp());
        assert!(deadline_at(&now, None, None).unwrap().is_none());
        for bad in ["6", "25:00", "06:60", "x:y"] {
            assert!(deadline_at(&now, None, Some(bad)).unwrap_err().contains("HH:MM"), "{bad}");
        }
        assert!(deadline_at(&now, Some("soon"), None).unwrap_err().contains("--budget soon"));
    }
}
