//! Every fault `rollpilot rehearse --fault KIND@NODE` offers, on a real twin of the Patroni
//! example (simulated replicated members, quick to start) with the operator's timeouts cut to
//! seconds: what the operator sees (exit code, the rehearsal report's faults, choices and
//! outcome, writes acknowledged against writes lost) and that no process is left behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Each rehearsal here stays well within this.
const WITHIN: Duration = Duration::from_secs(60);

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The Patroni example with 8s step and gate timeouts, so a stalled check gives up quickly.
fn fast_patroni(dir: &Path) -> PathBuf {
    let src = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/patroni.toml")).unwrap();
    let fast: String = src
        .lines()
        .map(|l| match l {
            l if l.starts_with("step = ") => "step = \"8s\"",
            l if l.starts_with("gate = ") => "gate = \"8s\"",
            l => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(fast, src, "the example's timeouts moved; update this test");
    let p = dir.join("fast-patroni.toml");
    std::fs::write(&p, fast).unwrap();
    p
}

/// What one headless rehearsal showed.
struct Rehearsed {
    code: Option<i32>,
    out: String,
    report: serde_json::Value,
    events: Vec<String>,
    took: Duration,
}

/// Rehearses the fast Patroni example headless with these extra flags, then checks that no
/// process of the twin is left and that the twin's directory is gone.
fn rehearse(extra: &[&str]) -> Rehearsed {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = fast_patroni(tmp.path());
    let twins = tmp.path().join("twins");
    std::fs::create_dir_all(&twins).unwrap();
    let rehearsals = tmp.path().join("rehearsals");
    let mut args = vec![
        "rehearse".to_string(),
        "-c".into(),
        cfg.to_string_lossy().into_owned(),
        "--headless".into(),
        "--yes".into(),
        "--rehearsal-dir".into(),
        rehearsals.to_string_lossy().into_owned(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let started = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_rollpilot"))
        .args(&args)
        .env("TMPDIR", &twins)
        .env("ROLLPILOT_STATE_DIR", tmp.path().join("state"))
        .env("XDG_STATE_HOME", tmp.path().join("xdg"))
        .env_remove("ROLLPILOT_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let took = started.elapsed();
    let out = text(&o);
    assert!(took < WITHIN, "the rehearsal took {took:?}: {out}");
    let left = processes_under(&twins);
    assert!(left.is_empty(), "processes left behind: {left:?}\n{out}");
    let dirs: Vec<_> = std::fs::read_dir(&twins).unwrap().flatten().map(|e| e.path()).collect();
    assert!(dirs.is_empty(), "twin directories left behind: {dirs:?}");
    let runs = rehearsals.join("runs");
    let cluster = std::fs::read_dir(&runs).unwrap().flatten().next().unwrap().path();
    let run = std::fs::read_dir(&cluster).unwrap().flatten().next().unwrap().path();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("rehearsal.json")).unwrap()).unwrap();
    let events = report["events"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_string()).collect();
    Rehearsed { code: o.status.code(), out, report, events, took }
}

/// Processes on this machine whose command line mentions `dir`.
fn processes_under(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else { continue };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(&needle) {
            out.push(format!("{name}: {cmd}"));
        }
    }
    out
}

impl Rehearsed {
    fn at(&self, starts: &str) -> usize {
        self.events
            .iter()
            .position(|e| e.starts_with(starts))
            .unwrap_or_else(|| panic!("no `{starts}` in {:#?}\n{}", self.events, self.out))
    }

    /// No step of a member other than these was started after `from`.
    fn touched_after(&self, from: usize, members: &[&str]) -> Vec<&String> {
        self.events[from..]
            .iter()
            .filter(|e| e.starts_with("started "))
            .filter(|e| !members.iter().any(|m| e.contains(&format!("/{m}/"))))
            .collect()
    }

    fn nothing_lost(&self) {
        assert!(self.report["acknowledged"].as_u64().unwrap() > 0, "{}", self.report);
        assert_eq!(self.report["lost"], 0, "{}", self.report);
        assert!(self.out.contains("lost 0"), "{}", self.out);
    }
}

#[test]
fn stall_sync_times_out_stuck_and_keep_waiting_is_recorded() {
    let r = rehearse(&["--fault", "stall-sync@pg-3", "--on-failure", "retry"]);
    // The wait after pg-3's start gives up, twice (the retry keeps waiting), then stops.
    assert_eq!(r.code, Some(1), "{}", r.out);
    assert_eq!(r.report["faults"][0]["fault"], "stall-sync@pg-3");
    assert_eq!(r.report["faults"][0]["result"], "stall-sync set on pg-3");
    assert!(r.out.contains("pg/pg-3/start: its checks did not hold in time"), "{}", r.out);
    // The fact did not move: a stalled replica applies nothing, so the check calls it stuck.
    assert!(r.out.contains("Trend: stuck: unchanged"), "{}", r.out);
    assert!(!r.out.contains("Trend: progressing"), "{}", r.out);
    assert!(r.out.contains("(pg-3: replica, syncing (lag "), "{}", r.out);
    let started = r.at("started pg/pg-3/start");
    let waited = r.at("root chose KeepWaiting for pg/pg-3/start");
    let stopped = r.at("root chose Abort for pg/pg-3/start");
    assert!(started < waited && waited < stopped, "{:#?}", r.events);
    assert_eq!(r.report["outcome"], "aborted");
    // R11: the leader was never touched.
    assert!(r.touched_after(started, &["pg-3"]).is_empty(), "{:#?}", r.events);
    assert!(!r.events.iter().any(|e| e.contains("pg/pg-1/")), "{:#?}", r.events);
    r.nothing_lost();
    eprintln!("stall-sync with retry: exit 1 in {:.1}s", r.took.as_secs_f64());
}

#[test]
fn stall_sync_with_rollback_rolls_the_replica_back_and_stops() {
    let r = rehearse(&["--fault", "stall-sync@pg-3", "--on-failure", "rollback"]);
    assert_eq!(r.code, Some(1), "{}", r.out);
    assert!(r.out.contains("Trend: stuck: unchanged"), "{}", r.out);
    let started = r.at("started pg/pg-3/start");
    let chose = r.at("root chose Rollback for pg/pg-3/start");
    let reinstalled = r.at("done pg/pg-3/rollback-rollback");
    assert!(started < chose && chose < reinstalled, "{:#?}", r.events);
    // The stall is lasting: the rolled-back replica does not sync either, and the run stops
    // there rather than touching the leader.
    assert!(r.at("root chose Abort for pg/pg-3/rollback-start") > reinstalled, "{:#?}", r.events);
    assert!(r.out.contains("the rollback of pg-3 did not finish"), "{}", r.out);
    assert!(r.touched_after(started, &["pg-3"]).is_empty(), "{:#?}", r.events);
    assert_eq!(r.report["outcome"], "aborted");
    r.nothing_lost();
    eprintln!("stall-sync with rollback: exit 1 in {:.1}s", r.took.as_secs_f64());
}

#[test]
fn hang_stop_runs_past_its_timeout_and_the_run_stops_with_the_step_in_doubt() {
    let r = rehearse(&["--fault", "hang-stop@pg-3", "--on-failure", "retry"]);
    assert_eq!(r.report["faults"][0]["fault"], "hang-stop@pg-3");
    assert_eq!(r.report["faults"][0]["result"], "hang-stop set on pg-3");
    assert!(r.out.contains("pg/pg-3/stop did not finish within 8s (timeouts.step)"), "{}", r.out);
    // A command that may still run is never started again: only waiting longer is offered,
    // and the retry policy keeps waiting once before it stops.
    assert!(r.out.contains("Running it again now could run it twice at once"), "{}", r.out);
    let started = r.at("started pg/pg-3/stop (attempt 1)");
    let waited = r.at("root chose KeepWaiting for pg/pg-3/stop");
    let stopped = r.at("root chose Abort for pg/pg-3/stop");
    assert!(started < waited && waited < stopped, "{:#?}", r.events);
    assert!(!r.events.iter().any(|e| e.starts_with("started pg/pg-3/stop (attempt 2)")), "{:#?}", r.events);
    assert!(!r.events.iter().any(|e| e.starts_with("finished pg/pg-3/stop")), "{:#?}", r.events);
    // The stop is in doubt (it may still be running): the run ends interrupted, exit 130.
    assert_eq!(r.code, Some(130), "{}", r.out);
    assert_eq!(r.report["outcome"], "interrupted");
    assert!(r.touched_after(started, &["pg-3"]).is_empty(), "{:#?}", r.events);
    r.nothing_lost();
    eprintln!("hang-stop with retry: exit 130 in {:.1}s", r.took.as_secs_f64());
}

#[test]
fn a_crashed_leader_is_found_failed_over_and_the_run_follows_the_cluster() {
    // The leader dies once the run's first step (pg-2's stop) has finished: the members elect
    // pg-3, the run notices the cluster changed (R12), plans again from what it sees, and
    // upgrades every member without losing a write.
    let r = rehearse(&["--fault", "crash@pg-1"]);
    assert_eq!(r.code, Some(0), "{}", r.out);
    let f = r.report["faults"][0]["result"].as_str().unwrap();
    assert_eq!(r.report["faults"][0]["fault"], "crash@pg-1");
    assert!(f.contains("pg-1 crashed") && f.ends_with("after the run's first step"), "{}", r.report);
    let first = r.at("done pg/pg-2/stop");
    let noticed = r
        .events
        .iter()
        .position(|e| e.starts_with("planned (R12 drift") && e.contains("pg-1 was expected active but is stopped"))
        .unwrap_or_else(|| panic!("the crash was not noticed: {:#?}", r.events));
    assert!(first < noticed, "{:#?}", r.events);
    // The crashed leader is not stopped again: it is already down.
    assert!(!r.events.iter().any(|e| e == "started pg/pg-1/stop (attempt 1)"), "{:#?}", r.events);
    assert!(r.events.iter().any(|e| e == "done pg/pg-1/start"), "{:#?}", r.events);
    assert_eq!(r.report["outcome"], "done");
    assert!(r.out.contains("pg-prod runs 16.4.0"), "{}", r.out);
    r.nothing_lost();
    eprintln!("crash of the leader: exit 0 in {:.1}s", r.took.as_secs_f64());
}
