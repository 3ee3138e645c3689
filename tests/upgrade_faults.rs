//! What happens when things break mid-upgrade, on the simulated Terracotta cluster behind real
//! loopback sshd: rollpilot itself killed (mid-step and between steps), a node's sshd killed
//! during its install, an install that fails, a mirror that never re-syncs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use rollpilot::run::journal::{Entry, Outcome, Record};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use support::simlab::{SimLab, text};

fn log_has(log: &Path, needle: &str) -> bool {
    std::fs::read_to_string(log).unwrap_or_default().contains(needle)
}

/// Steps that finished OK, with how many times.
fn finished_ok(entries: &[Entry]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in entries {
        if let Record::StepFinished { step, outcome: Outcome::Ok, .. } = &e.record {
            *m.entry(step.clone()).or_insert(0) += 1;
        }
    }
    m
}

fn started(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| if let Record::StepStarted { step, .. } = &e.record { Some(step.id.clone()) } else { None })
        .collect()
}

fn job_dirs(lab: &SimLab, step_dir: &str) -> usize {
    let jobs = lab.dir.join("jobs");
    std::fs::read_dir(&jobs)
        .map(|runs| runs.flatten().filter(|r| r.path().join(step_dir).is_dir()).count())
        .unwrap_or(0)
}

#[test]
fn killed_mid_step_and_between_steps_resume_runs_nothing_twice() {
    let lab = SimLab::up("terracotta", &[]);
    lab.timeout("gate", "90s");
    let c = lab.c();
    let up = ["upgrade", "-c", c.as_str(), "--headless", "--yes"];
    let resume = ["resume", "-c", c.as_str(), "--headless", "--yes"];

    // 1. Killed in the middle of a step: tc-east-2's stop hangs, rollpilot is SIGKILLed while it
    //    runs. The stop goes on, detached on the host, and finishes once the hang is cleared.
    lab.fault("tc-east-2", "hang-stop", false);
    let log = lab.dir.join("run1.log");
    let mut p = lab.spawn(&up, &log);
    lab.wait(Duration::from_secs(60), "the stop of tc-east-2 to run", || {
        log_has(&log, "▶ east/tc-east-2/stop") && job_dirs(&lab, "east_tc-east-2_stop-1") == 1
    });
    p.kill().unwrap();
    p.wait().unwrap();
    lab.fault("tc-east-2", "hang-stop", true);

    // 2. Killed between steps: resume, and kill it again while it waits for tc-west-2 to
    //    re-sync after its restart (its start has run; its checks are not confirmed yet).
    lab.fault("tc-west-2", "stall-sync", false);
    let log2 = lab.dir.join("run2.log");
    let mut p = lab.spawn(&resume, &log2);
    lab.wait(Duration::from_secs(120), "the resumed run to wait for tc-west-2 to sync", || {
        log_has(&log2, "west/tc-west-2/start: waiting until")
    });
    let t2 = std::fs::read_to_string(&log2).unwrap();
    assert!(t2.contains("east/tc-east-2/stop was interrupted in rollpilot but its job on tc-east-2"), "{t2}");
    assert!(t2.contains("re-attaching, not re-running"), "{t2}");
    p.kill().unwrap();
    p.wait().unwrap();
    lab.fault("tc-west-2", "stall-sync", true);

    // 3. Resume to the end.
    let o = lab.rollpilot(&resume);
    let t3 = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t3}");
    assert!(t3.contains("resuming run"), "{t3}");
    assert!(t3.contains("west/tc-west-2/start finished before the interruption; checking its result"), "{t3}");

    // One run, continued twice; no finished step ran twice, no job started twice.
    let runs = lab.runs();
    assert_eq!(runs.len(), 1, "resume continues the same run");
    let entries = &runs[0].1;
    for (step, n) in finished_ok(entries) {
        assert_eq!(n, 1, "{step} finished {n} times");
    }
    let s = started(entries);
    assert_eq!(s.iter().filter(|x| *x == "east/tc-east-2/stop").count(), 1, "{s:#?}");
    assert_eq!(s.iter().filter(|x| *x == "west/tc-west-2/start").count(), 1, "{s:#?}");
    assert_eq!(job_dirs(&lab, "east_tc-east-2_stop-2"), 0, "never re-run");
    assert!(lab.status().iter().all(|r| r["version"] == "4.2.1"));
    let (ok, summary) = lab.verify();
    assert!(ok && summary.ends_with("lost 0"), "{summary}");
}

#[test]
fn sshd_killed_during_install_rollpilot_reattaches_and_finishes() {
    let mut lab = SimLab::up("terracotta", &[]);
    // An install that takes a few seconds, as real ones do.
    lab.edit_config(|s| {
        s.replacen(
            "install = \"rm -rf {install_dir}/terracotta",
            "install = \"sleep 4 && rm -rf {install_dir}/terracotta",
            1,
        )
    });
    let c = lab.c();
    let log = lab.dir.join("run.log");
    let mut p = lab.spawn(&["upgrade", "-c", c.as_str(), "--headless", "--yes"], &log);
    // Wait until the install's job really runs on the host (its pid is recorded), then kill.
    lab.wait(Duration::from_secs(60), "tc-east-2's install job to run", || {
        std::fs::read_dir(lab.dir.join("jobs"))
            .map(|runs| runs.flatten().any(|r| r.path().join("east_tc-east-2_install-1/pid").exists()))
            .unwrap_or(false)
    });
    // tc-east-2 is the second machine: its sshd dies, and with it every session.
    lab.ssh.kill_host("m1");
    if support::wait_until(Duration::from_secs(30), "rollpilot to notice the lost connection", || {
        // Whether the drop hit the job's start (its answer lost) or its follow-up polls.
        log_has(&log, "rollpilot keeps trying to re-attach") || log_has(&log, "retrying until tc-east-2 answers")
    })
    .is_err()
    {
        panic!("rollpilot did not notice the lost connection:\n{}", std::fs::read_to_string(&log).unwrap());
    }
    lab.ssh.restart_host("m1");
    let status = p.wait_timeout_secs(240);
    let t = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status, Some(0), "{t}");
    assert!(
        t.contains("reconnected to tc-east-2; re-attached to east/tc-east-2/install")
            || t.contains(
                "reconnected to tc-east-2; east/tc-east-2/install was already running there: re-attached, not re-run"
            ),
        "{t}"
    );
    assert!(
        !lab.dir.join("jobs").read_dir().unwrap().flatten().any(|r| r.path().join("east_tc-east-2_install-2").exists()),
        "never re-run"
    );
    let entries = &lab.runs()[0].1;
    assert_eq!(started(entries).iter().filter(|x| *x == "east/tc-east-2/install").count(), 1, "the install ran once");
    assert!(lab.status().iter().all(|r| r["version"] == "4.2.1"));
    let (ok, summary) = lab.verify();
    assert!(ok && summary.ends_with("lost 0"), "{summary}");
}

trait WaitSecs {
    fn wait_timeout_secs(&mut self, secs: u64) -> Option<i32>;
}

impl WaitSecs for std::process::Child {
    fn wait_timeout_secs(&mut self, secs: u64) -> Option<i32> {
        support::wait_child(self, Duration::from_secs(secs)).and_then(|s| s.code())
    }
}

#[test]
fn failed_install_touches_nothing_else_and_rolls_back() {
    let lab = SimLab::up("terracotta", &[]);
    lab.fault("tc-east-2", "fail-install", false);
    let o = lab.upgrade(&["--on-failure", "rollback"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("east/tc-east-2/install failed on tc-east-2"), "{t}");
    assert!(t.contains("rolling tc-east-2 back to 4.2.0"), "{t}");
    let entries = &lab.runs()[0].1;
    let s = started(entries);
    assert!(s.iter().all(|id| id.contains("/tc-east-2/")), "nothing else touched: {s:#?}");
    assert!(s.contains(&"east/tc-east-2/rollback-rollback#1".to_string()), "{s:#?}");
    let n = lab.node("tc-east-2");
    assert_eq!(
        (n["version"].as_str(), n["role"].as_str(), n["sync"].as_str()),
        (Some("4.2.0"), Some("passive"), Some("in-sync")),
        "{n}"
    );
    assert_eq!(lab.node("tc-east-1")["role"], "active");
    assert!(lab.status().iter().all(|r| r["version"] == "4.2.0"));
    let (ok, summary) = lab.verify();
    assert!(ok && summary.ends_with("lost 0"), "{summary}");
}

#[test]
fn a_mirror_that_never_resyncs_holds_the_active_and_times_out_cleanly() {
    let lab = SimLab::up("terracotta", &[]);
    lab.timeout("gate", "8s");
    lab.fault("tc-east-2", "stall-sync", false);
    let o = lab.upgrade(&[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("waiting until R6 verify: tc-east-2 is back"), "{t}");
    assert!(t.contains("tc-east-2: PASSIVE-UNINITIALIZED, syncing"), "the blocker is named: {t}");
    assert!(t.contains("did not hold within 8s"), "{t}");
    assert!(t.contains("continue with `rollpilot resume -c"), "{t}");
    let entries = &lab.runs()[0].1;
    assert!(!started(entries).iter().any(|id| id.contains("tc-east-1")), "the active was never stopped");
    assert_eq!(lab.node("tc-east-1")["role"], "active");
    let (ok, summary) = lab.verify();
    assert!(ok && summary.ends_with("lost 0"), "{summary}");
}

#[test]
fn non_persistent_stripe_without_mirror_needs_accept_data_loss_r3() {
    let lab = SimLab::up("terracotta", &["--stripe-size", "1", "--not-persistent"]);
    let o = lab.upgrade(&[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(t.contains("R3 no-mirror-data-loss"), "{t}");
    assert!(t.contains("--accept-data-loss=sim-bigmemory"), "{t}");
    assert!(lab.runs().is_empty());
    // Accepted (typed twice: the data loss, and the downtime step), it runs, and the loss it
    // warned about is real.
    let o = lab.upgrade(&["--accept-data-loss", "sim-bigmemory", "--confirm", "sim-bigmemory"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(lab.status().iter().all(|r| r["version"] == "4.2.1"));
    let (ok, summary) = lab.verify();
    assert!(!ok && !summary.ends_with("lost 0"), "data was lost, as R3 said: {summary}");
}
