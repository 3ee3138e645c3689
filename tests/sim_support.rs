//! Helpers shared by the simulator tests (included with `#[path]`; this file alone has no tests).
//! Everything is synchronised by polling with a deadline, never by fixed sleeps, and every
//! simulated cluster is torn down by a guard even when a test fails.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use rollpilot::model::Cluster;
use rollpilot::sim::{self, SimGuard, render};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The rollpilot binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rollpilot")
}

/// Runs `rollpilot ARGS` with no stdin.
pub fn rollpilot(args: &[&str]) -> Output {
    Command::new(bin()).args(args).stdin(Stdio::null()).output().expect("run rollpilot")
}

/// Text of both streams, for assertion messages.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A running simulated cluster in a temporary directory; `sim down` runs on drop (before the
/// directory is removed).
pub struct Sim {
    pub guard: SimGuard,
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub cluster: Cluster,
}

impl Sim {
    /// `rollpilot sim up --dir <tmp> ARGS`, asserting success.
    pub fn up(args: &[&str]) -> Sim {
        let tmp = tempfile::Builder::new().prefix("rp-sim").tempdir().expect("tempdir");
        let dir = tmp.path().canonicalize().unwrap();
        let guard = SimGuard::new(&dir);
        let d = dir.to_string_lossy().into_owned();
        let mut all = vec!["sim", "up", "--dir", d.as_str()];
        all.extend_from_slice(args);
        let out = rollpilot(&all);
        assert!(out.status.success(), "sim up {args:?} failed:\n{}\n{}", text(&out), logs(&dir));
        let cluster = rollpilot::config::load(&dir.join("cluster.toml")).expect("cluster.toml loads");
        Sim { guard, tmp, dir, cluster }
    }

    /// The directory as a string.
    pub fn d(&self) -> String {
        self.dir.to_string_lossy().into_owned()
    }

    /// A rendered command of the generated config.
    pub fn cmd(&self, host: &str, which: &str, extra: &[(&str, &str)]) -> String {
        render::command(&self.cluster, host, which, extra).unwrap()
    }

    /// Runs a config command (install, start, stop, switchover...) through `sh -c`, asserting exit 0.
    pub fn run(&self, host: &str, which: &str, extra: &[(&str, &str)]) -> String {
        match render::run(&self.cluster, host, which, extra, Duration::from_secs(60)) {
            Ok(o) => o.combined(),
            Err(e) => panic!("{which} on {host} failed: {e}\n{}", logs(&self.dir)),
        }
    }

    /// Runs a config command that is expected to fail; returns its output.
    pub fn run_failing(&self, host: &str, which: &str, extra: &[(&str, &str)]) -> String {
        let c = self.cmd(host, which, extra);
        let o = rollpilot::sim::procs::run_shell(&c, Duration::from_secs(60)).unwrap();
        assert!(!o.success(), "`{c}` should have failed but printed:\n{}", o.combined());
        o.combined()
    }

    /// A fact read through the config's probe command and parser.
    pub fn probe(&self, host: &str, fact: &str) -> Option<String> {
        render::probe(&self.cluster, host, fact, Duration::from_secs(20)).unwrap()
    }

    /// Waits until a fact reads `want`.
    pub fn wait_fact(&self, host: &str, fact: &str, want: &str, within: Duration) {
        wait_until(&format!("{host} {fact} = {want}"), within, || {
            (self.probe(host, fact).as_deref() == Some(want)).then_some(())
        });
    }

    /// `sim fault`.
    pub fn fault(&self, node: &str, kind: &str, clear: bool) -> Output {
        let d = self.d();
        let mut a = vec!["sim", "fault", "--dir", d.as_str(), node, kind];
        if clear {
            a.push("--clear");
        }
        rollpilot(&a)
    }

    /// `sim verify` as (exit code, output).
    pub fn verify(&self) -> (i32, String) {
        let o = rollpilot(&["sim", "verify", "--dir", &self.d()]);
        (o.status.code().unwrap_or(-1), text(&o))
    }

    /// Asserts `sim verify` reports nothing lost.
    pub fn assert_nothing_lost(&self) -> usize {
        let (code, out) = self.verify();
        assert_eq!(code, 0, "sim verify found lost writes:\n{out}\n{}", logs(&self.dir));
        let last = out.lines().last().unwrap_or_default().to_string();
        let n: usize = last
            .strip_prefix("acknowledged ")
            .and_then(|r| r.split(',').next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected verify output: {out}"));
        assert_eq!(last, format!("acknowledged {n}, present {n}, lost 0"));
        n
    }

    /// Output of `rollpilot sim down`, then checks every recorded pid is gone.
    pub fn down_and_check(&self) {
        let o = rollpilot(&["sim", "down", "--dir", &self.d()]);
        assert!(o.status.success(), "sim down failed: {}", text(&o));
        assert_all_gone(&self.dir);
    }

    /// Acknowledged writes of a client host (its status command's `acknowledged:` line).
    pub fn acked(&self, client: &str) -> u64 {
        let out = rollpilot::sim::procs::run_shell(&self.cmd(client, "status", &[]), Duration::from_secs(10)).unwrap();
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix("acknowledged: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }
}

/// Every process the simulator ever recorded for `dir` is gone.
pub fn assert_all_gone(dir: &Path) {
    let recs = sim::processes(dir).unwrap();
    assert!(!recs.is_empty(), "no process was recorded");
    for r in recs {
        assert!(
            !rollpilot::sim::procs::alive(r.pid) || !rollpilot::sim::procs::is_ours(r.pid, dir),
            "{r:?} is still running"
        );
    }
}

/// Polls `f` every 100 ms until it returns Some, or panics after `within`.
pub fn wait_until<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out after {}s waiting for: {what}", within.as_secs());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The tail of every node log, for failure messages.
pub fn logs(dir: &Path) -> String {
    let mut s = String::new();
    let Ok(nodes) = std::fs::read_dir(dir.join("nodes")) else { return s };
    for n in nodes.flatten() {
        let Ok(files) = std::fs::read_dir(n.path().join("logs")) else { continue };
        for f in files.flatten() {
            let t = std::fs::read_to_string(f.path()).unwrap_or_default();
            let lines: Vec<&str> = t.lines().collect();
            let tail = &lines[lines.len().saturating_sub(8)..];
            s.push_str(&format!("--- {}\n{}\n", f.path().display(), tail.join("\n")));
        }
    }
    s
}
