//! The real binary for the maintenance-window work: `--readonly` watching in tmux (the live
//! table, action keys refused with a note), a `--budget` that stops a headless demo at a safe
//! point with exit 5 and a resume command that then finishes, and the `[notify]` hook that
//! receives one JSON object per event. Every wait polls with a deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rollpilot")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A local simulated cluster (`sim up`), stopped on drop.
struct Sim {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
}

impl Sim {
    fn up() -> Sim {
        let tmp = tempfile::Builder::new().prefix("rp-win").tempdir_in("/tmp").unwrap();
        let dir = tmp.path().to_path_buf();
        let o = Command::new(bin()).args(["sim", "up", "--dir"]).arg(&dir).stdin(Stdio::null()).output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        Sim { _tmp: tmp, dir }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = Command::new(bin()).args(["sim", "down", "--dir"]).arg(&self.dir).output();
    }
}

fn rollpilot(args: &[&str], state: &Path) -> Output {
    Command::new(bin()).args(args).env("ROLLPILOT_STATE_DIR", state).stdin(Stdio::null()).output().unwrap()
}

/// A tmux server of our own, killed on drop.
struct Tmux(String);

impl Tmux {
    fn new() -> Tmux {
        let ok = Command::new("tmux").arg("-V").output().map(|o| o.status.success()).unwrap_or(false);
        assert!(ok, "tmux is required for the end-to-end test (.ci/run installs it)");
        // One tmux server per test: tests of this file run in parallel.
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Tmux(format!("rp-watch-{}-{n}", std::process::id()))
    }
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux").arg("-L").arg(&self.0).args(args).output().unwrap()
    }
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "w"]).stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-L").arg(&self.0).arg("kill-server").output();
    }
}

#[test]
fn readonly_shows_the_live_table_and_refuses_keys_that_would_act() {
    let sim = Sim::up();
    let tmux = Tmux::new();
    let exit_file = sim.dir.join("exit");
    let shell = format!(
        "TERM=xterm-256color ROLLPILOT_STATE_DIR={d}/state {bin} upgrade -c {d}/cluster.toml --readonly; echo \"EXIT=$?\" > {f}; sleep 600",
        d = sim.dir.display(),
        bin = bin(),
        f = exit_file.display()
    );
    assert!(tmux.run(&["new-session", "-d", "-s", "w", "-x", "160", "-y", "48", shell.as_str()]).status.success());
    support::wait_until(Duration::from_secs(60), "the live table", || {
        let s = tmux.screen();
        s.contains("READ-ONLY: --readonly") && s.lines().any(|l| l.contains("tc-east-1") && l.contains("4.2.0"))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", tmux.screen()));
    let s = tmux.screen();
    assert!(s.lines().next().unwrap().contains("WATCHING (read-only)"), "{s}");
    // Every key that would act (pause, the pause policy, a shell, a fault) is refused, and said so.
    for (key, short) in [("p", "pause"), ("P", "policy"), ("s", "shell"), ("x", "fault")] {
        tmux.run(&["send-keys", "-t", "w", key]);
        let note = format!("refused: {short}");
        support::wait_until(Duration::from_secs(30), "the refusal note", || tmux.screen().contains(&note))
            .unwrap_or_else(|e| panic!("{key}: {e}\n{}", tmux.screen()));
    }
    tmux.run(&["send-keys", "-t", "w", "q"]);
    support::wait_until(Duration::from_secs(30), "rollpilot to exit", || exit_file.exists()).unwrap();
    assert_eq!(std::fs::read_to_string(&exit_file).unwrap().trim(), "EXIT=0");
    // Nothing was run: no journal was written.
    assert!(!sim.dir.join("state").join("runs").exists(), "a read-only session started a run");
}

#[test]
fn a_budget_stops_at_a_safe_point_with_exit_5_and_resume_finishes() {
    let state = tempfile::tempdir().unwrap();
    let o = rollpilot(&["demo", "--headless", "--yes", "--budget", "1s"], state.path());
    let out = text(&o);
    assert_eq!(o.status.code(), Some(5), "{out}");
    assert!(out.contains("the time budget"), "{out}");
    assert!(out.contains("by the estimate") && out.contains("stopped here, safely"), "{out}");
    let resume = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("continue:").map(|c| c.trim().to_string()))
        .unwrap_or_else(|| panic!("no resume command:\n{out}"));
    assert!(resume.starts_with("rollpilot resume -c ") && resume.ends_with("--headless --yes"), "{resume}");
    let dir = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("clean up:  rollpilot sim down --dir "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .trim_matches('\'')
        .to_string();
    struct Down(String);
    impl Drop for Down {
        fn drop(&mut self) {
            let _ = Command::new(bin()).args(["sim", "down", "--dir", self.0.as_str()]).output();
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _down = Down(dir);
    let args = resume.strip_prefix("rollpilot ").unwrap().replace('\'', "");
    let args: Vec<&str> = args.split_whitespace().collect();
    let r = rollpilot(&args, state.path());
    let rt = text(&r);
    assert_eq!(r.status.code(), Some(0), "{rt}");
    assert!(rt.contains("done: sim-bigmemory runs 4.2.1"), "{rt}");
}

#[test]
fn the_notify_command_receives_one_json_object_per_event() {
    let sim = Sim::up();
    let got = sim.dir.join("notified.jsonl");
    let cfg = sim.dir.join("cluster.toml");
    let mut src = std::fs::read_to_string(&cfg).unwrap();
    src = src.replacen("\n[", &format!("\n[notify]\ncommand = \"cat >> {}\"\n\n[", got.display()), 1);
    std::fs::write(&cfg, src).unwrap();
    let state = sim.dir.join("state");
    let c = cfg.to_string_lossy().into_owned();
    let o = rollpilot(&["upgrade", "-c", c.as_str(), "--headless", "--yes", "--json"], &state);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let asked = String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.contains("\"event\":\"ask\"")).count();
    assert!(asked > 0, "{out}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&got)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object per line: {e}: {l}")))
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|v| v["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "decision-needed").count(), asked, "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"done"), "{kinds:?}");
    assert_eq!(lines.len(), asked + 1, "{kinds:?}");
    let last = lines.last().unwrap();
    assert_eq!(last["cluster"], "sim-bigmemory");
    assert_eq!(last["event"]["event"], "finished");
    assert!(last["text"].as_str().unwrap().contains("run finished (done)"), "{last}");
    // The hook's output went to the log directory, not the terminal.
    assert!(state.join("logs").join("notify.log").exists());
}

#[test]
fn top_shows_the_live_table_filters_and_quits_without_a_run() {
    let sim = Sim::up();
    let tmux = Tmux::new();
    let exit_file = sim.dir.join("exit");
    let shell = format!(
        "TERM=xterm-256color ROLLPILOT_STATE_DIR={d}/state {bin} top -c {d}/cluster.toml; echo \"EXIT=$?\" > {f}; sleep 600",
        d = sim.dir.display(),
        bin = bin(),
        f = exit_file.display()
    );
    assert!(tmux.run(&["new-session", "-d", "-s", "w", "-x", "160", "-y", "48", shell.as_str()]).status.success());
    // A node table row starts with its host (after the selection mark).
    let row = |s: &str, host: &str| {
        s.lines().any(|l| l.trim_start_matches(['›', '▌', ' ']).split_whitespace().next() == Some(host))
    };
    support::wait_until(Duration::from_secs(60), "the live table", || {
        let s = tmux.screen();
        row(&s, "tc-east-1") && row(&s, "tc-west-1")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", tmux.screen()));
    // `/west` keeps only the west rows.
    tmux.run(&["send-keys", "-t", "w", "/", "w", "e", "s", "t", "Enter"]);
    support::wait_until(Duration::from_secs(30), "the filter", || {
        let s = tmux.screen();
        row(&s, "tc-west-1") && !row(&s, "tc-east-1")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", tmux.screen()));
    tmux.run(&["send-keys", "-t", "w", "q"]);
    support::wait_until(Duration::from_secs(30), "rollpilot to exit", || exit_file.exists()).unwrap();
    assert_eq!(std::fs::read_to_string(&exit_file).unwrap().trim(), "EXIT=0");
    assert!(!sim.dir.join("state").join("runs").exists(), "top started a run");
}
