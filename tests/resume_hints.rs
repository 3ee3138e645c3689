//! Every "how to continue" command rollpilot prints works when copied verbatim: it is run through
//! `sh -c` exactly as printed (only the leading `rollpilot` becomes the binary under test). The
//! headless abort's `resume`, the `resume` that a refused `upgrade` prints, and the demo's
//! `continue:` and `clean up:` lines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use rollpilot::run::journal::Record;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use support::simlab::{SimLab, bin, text};

/// The command between "`MARK`" and the closing backtick (or the end of the line).
fn hint_after(out: &str, mark: &str) -> String {
    let at = out.find(mark).unwrap_or_else(|| panic!("no `{mark}` in:\n{out}")) + mark.len();
    let rest = &out[at..];
    let end = rest.find(['`', '\n']).unwrap_or(rest.len());
    rest[..end].trim().to_string()
}

/// Runs a printed command as an operator pasting it would, with no rollpilot environment.
fn paste(cmd: &str) -> Output {
    let rest = cmd.strip_prefix("rollpilot ").unwrap_or_else(|| panic!("not a rollpilot command: {cmd}"));
    let line = format!("'{}' {rest}", bin());
    Command::new("sh")
        .arg("-c")
        .arg(&line)
        .env_remove("ROLLPILOT_STATE_DIR")
        .env("USER", "test-operator")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs rollpilot with a state directory passed as a flag (not through the environment).
fn rollpilot(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_remove("ROLLPILOT_STATE_DIR")
        .env("USER", "test-operator")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn outcome(state: &Path) -> Option<String> {
    let runs = rollpilot::run::runs::list(state, None);
    let (entries, _) = rollpilot::run::runs::load(runs.last()?).ok()?;
    entries.iter().rev().find_map(|e| match &e.record {
        Record::RunFinished { outcome, .. } => Some(outcome.clone()),
        _ => None,
    })
}

/// A headless run aborted at a check that timed out: tc-east-2 never re-syncs within the gate.
fn abort_at_a_stalled_mirror(lab: &SimLab, state: &str) -> String {
    lab.timeout("gate", "8s");
    lab.fault("tc-east-2", "stall-sync", false);
    let c = lab.c();
    let o = rollpilot(&["upgrade", "-c", c.as_str(), "--state-dir", state, "--headless", "--yes"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    lab.fault("tc-east-2", "stall-sync", true);
    t
}

#[test]
fn headless_abort_prints_a_resume_command_that_finishes_the_run() {
    let lab = SimLab::up("terracotta", &[]);
    let state = lab.dir.join("my state");
    let t = abort_at_a_stalled_mirror(&lab, &state.to_string_lossy());
    let hint = hint_after(&t, "continue with `");
    assert!(hint.starts_with("rollpilot resume -c ") && hint.contains("--state-dir"), "{hint}");
    assert!(hint.contains("--headless") && hint.contains("--yes"), "{hint}");
    assert_eq!(outcome(&state).as_deref(), Some("aborted"), "{t}");

    let o = paste(&hint);
    let t2 = text(&o);
    assert_eq!(o.status.code(), Some(0), "{hint}\n{t2}");
    assert!(t2.contains("resumed run"), "{t2}");
    assert_eq!(outcome(&state).as_deref(), Some("done"), "{t2}");
    assert!(lab.status().iter().all(|r| r["version"] == "4.2.1"));
    lab.assert_nothing_lost();
}

/// After an install that failed (the sim's fail-install removes the old software, then cannot
/// unpack the new), the node's version and status cannot be read; once the kit is good again the
/// printed resume command re-plans with the node as stopped (this run stopped it) and finishes.
#[test]
fn resume_after_a_failed_install_finishes_the_run() {
    let lab = SimLab::up("streambase", &[]);
    let c = lab.c();
    let state = lab.dir.join("state");
    let s = state.to_string_lossy().into_owned();
    lab.fault("sb-2", "fail-install", false);
    let o = rollpilot(&["upgrade", "-c", c.as_str(), "--state-dir", s.as_str(), "--headless", "--yes"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    let hint = hint_after(&t, "continue with `");
    lab.fault("sb-2", "fail-install", true);
    let o = paste(&hint);
    let t2 = text(&o);
    assert_eq!(o.status.code(), Some(0), "{hint}\n{t2}");
    assert!(t2.contains("is stopped and its version cannot be read while it is down"), "{t2}");
    assert_eq!(outcome(&state).as_deref(), Some("done"), "{t2}");
    assert!(lab.status().iter().all(|r| r["version"] == "10.6.1"));
    lab.assert_nothing_lost();
}

#[test]
fn upgrade_refused_while_unfinished_prints_a_resume_command_that_works() {
    let lab = SimLab::up("terracotta", &[]);
    let c = lab.c();
    let state = lab.dir.join("state");
    let s = state.to_string_lossy().into_owned();
    abort_at_a_stalled_mirror(&lab, &s);

    // A second `upgrade`, with other flags: refused, and told how to continue with them.
    let o = rollpilot(&[
        "upgrade",
        "-c",
        c.as_str(),
        "--state-dir",
        s.as_str(),
        "--headless",
        "--yes",
        "--on-failure",
        "retry:2",
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    let hint = hint_after(&t, "continue it with `");
    assert!(hint.starts_with("rollpilot resume -c ") && hint.contains("--on-failure=retry:2"), "{hint}");
    assert!(t.contains("--abandon-previous=sim-bigmemory"), "{t}");
    let o = paste(&hint);
    let t2 = text(&o);
    assert_eq!(o.status.code(), Some(0), "{hint}\n{t2}");
    assert_eq!(outcome(&state).as_deref(), Some("done"), "{t2}");
    assert_eq!(rollpilot::run::runs::list(&state, None).len(), 1, "the same run was continued");
    assert!(lab.status().iter().all(|r| r["version"] == "4.2.1"));
    lab.assert_nothing_lost();
}

/// Processes whose command line mentions `dir`.
fn processes_in(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
        .filter_map(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(&needle).then(|| format!("{}: {cmd}", e.file_name().to_string_lossy()))
        })
        .collect()
}

#[test]
fn interrupted_demo_prints_continue_and_clean_up_commands_that_work() {
    let tmp = tempfile::Builder::new().prefix("rp-demo-hints").tempdir_in("/tmp").unwrap();
    let log = tmp.path().join("demo.log");
    let f = std::fs::File::create(&log).unwrap();
    let mut demo = support::KillOnDrop(
        Command::new(bin())
            .args(["demo", "--headless", "--yes", "--topology", "streambase"])
            .env("TMPDIR", tmp.path())
            .env_remove("ROLLPILOT_STATE_DIR")
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap(),
    );
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    support::wait_until(Duration::from_secs(120), "the demo's first step to start", || read().contains("▶ "))
        .unwrap_or_else(|e| panic!("{e}\n{}", read()));
    // Ctrl-C: the running step finishes, then the run stops, resumable.
    let pid = demo.id().to_string();
    assert!(Command::new("kill").args(["-INT", pid.as_str()]).status().unwrap().success());
    let status = demo.wait_timeout(Duration::from_secs(120));
    let t = read();
    assert!(status.is_some_and(|s| !s.success()), "{status:?}\n{t}");
    assert!(t.contains("the run stopped unfinished"), "{t}");
    let cont = hint_after(&t, "continue:  ");
    let clean = hint_after(&t, "clean up:  ");
    assert!(cont.starts_with("rollpilot resume -c "), "{cont}");

    let o = paste(&cont);
    let t2 = text(&o);
    assert_eq!(o.status.code(), Some(0), "{cont}\n{t2}");
    assert!(t2.contains("resumed run"), "{t2}");
    let demo_dir = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("rollpilot-demo-")))
        .expect("the demo's directory is kept");
    assert_eq!(outcome(&demo_dir.join("state")).as_deref(), Some("done"), "{t2}");
    assert!(!processes_in(&demo_dir).is_empty(), "the simulated cluster kept running until cleaned up");

    let o = paste(&clean);
    assert_eq!(o.status.code(), Some(0), "{clean}\n{}", text(&o));
    assert!(!demo_dir.exists(), "{clean} removed {}", demo_dir.display());
    let mut left = Vec::new();
    let gone = support::wait_until(Duration::from_secs(30), "every simulated process to be gone", || {
        left = processes_in(&demo_dir);
        left.is_empty()
    });
    assert!(gone.is_ok(), "{left:#?}");
}

/// Starts `upgrade` held at the journal test point `point`, SIGKILLs it there.
fn kill_at(lab: &SimLab, state: &str, point: &str) {
    let c = lab.c();
    let pause = lab.dir.join("paused");
    let log = lab.dir.join(format!("{point}.log"));
    let f = std::fs::File::create(&log).unwrap();
    let mut p = support::KillOnDrop(
        Command::new(bin())
            .args(["upgrade", "-c", c.as_str(), "--state-dir", state, "--headless", "--yes"])
            .env_remove("ROLLPILOT_STATE_DIR")
            .env("USER", "test-operator")
            .env("ROLLPILOT_TEST_JOURNAL_PAUSE_AFTER", point)
            .env("ROLLPILOT_TEST_JOURNAL_PAUSE_FILE", &pause)
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap(),
    );
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    support::wait_until(Duration::from_secs(120), point, || pause.exists() || p.0.try_wait().ok().flatten().is_some())
        .unwrap_or_else(|e| panic!("{e}\n{}", read()));
    assert!(pause.exists(), "rollpilot exited before {point}:\n{}", read());
    p.0.kill().unwrap();
    p.0.wait().unwrap();
    std::fs::remove_file(&pause).unwrap();
}

#[test]
fn killed_after_taking_the_lock_before_its_journal_upgrade_starts_again() {
    let lab = SimLab::up("streambase", &[]);
    let c = lab.c();
    let state = lab.dir.join("state");
    let s = state.to_string_lossy().into_owned();
    kill_at(&lab, &s, "lock-taken");
    assert!(rollpilot::run::runs::list(&state, None).is_empty(), "no journal yet");
    // Nothing ran under that lock and there is no run to resume: upgrade takes the lock over.
    let o = rollpilot(&["upgrade", "-c", c.as_str(), "--state-dir", s.as_str(), "--headless", "--yes"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("which stopped before it started"), "{t}");
    assert_eq!(outcome(&state).as_deref(), Some("done"), "{t}");
    assert!(lab.status().iter().all(|r| r["version"] == "10.6.1"));
    lab.assert_nothing_lost();
}

#[test]
fn killed_before_its_start_record_resume_prints_an_upgrade_command_that_works() {
    let lab = SimLab::up("streambase", &[]);
    let c = lab.c();
    let state = lab.dir.join("state");
    let s = state.to_string_lossy().into_owned();
    kill_at(&lab, &s, "journal-created");
    let o = rollpilot(&["resume", "-c", c.as_str(), "--state-dir", s.as_str(), "--headless", "--yes"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    let hint = hint_after(&t, "start again with `");
    assert!(hint.starts_with("rollpilot upgrade -c ") && hint.contains("--headless --yes"), "{hint}");
    let o = paste(&hint);
    let t2 = text(&o);
    assert_eq!(o.status.code(), Some(0), "{hint}\n{t2}");
    assert!(t2.contains("stopped before it started (nothing ran); closed it"), "{t2}");
    assert_eq!(outcome(&state).as_deref(), Some("done"), "{t2}");
    let runs = rollpilot::run::runs::list(&state, None);
    assert_eq!(runs.len(), 2, "the empty run is kept, closed");
    let (first, _) = rollpilot::run::runs::load(&runs[0]).unwrap();
    assert!(
        matches!(&first.last().unwrap().record, Record::RunFinished { outcome, .. } if outcome == "abandoned"),
        "{first:?}"
    );
    assert!(lab.status().iter().all(|r| r["version"] == "10.6.1"));
    lab.assert_nothing_lost();
}
