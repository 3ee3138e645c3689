//! The simulated Terracotta cluster, driven only through the generated config's command
//! templates and parsers (the same contract as config/terracotta.toml), with real processes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "sim_support.rs"]
mod support;

use std::time::Duration;
use support::*;

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn stripe(s: &Sim, group: &str) -> Vec<String> {
    s.cluster.group(group).unwrap().nodes.iter().map(|n| n.name.clone()).collect()
}

/// (active, passives) of a stripe, read through the config's role parser.
fn roles(s: &Sim, group: &str) -> (String, Vec<String>) {
    let mut active = None;
    let mut passives = Vec::new();
    for h in stripe(s, group) {
        match s.probe(&h, "role").as_deref() {
            Some("active") => active = Some(h),
            Some("passive") => passives.push(h),
            other => panic!("{h} has role {other:?}\n{}", logs(&s.dir)),
        }
    }
    (active.expect("an active"), passives)
}

#[test]
fn up_reports_versions_roles_and_sync_then_fails_over_without_loss() {
    let s = Sim::up(&[]);
    for (_, n) in s.cluster.nodes() {
        assert_eq!(s.probe(&n.name, "version").as_deref(), Some("4.2.0"), "{}", n.name);
        assert_eq!(s.probe(&n.name, "health").as_deref(), Some("ok"), "{}", n.name);
    }
    for g in ["east", "west"] {
        let (a, ps) = roles(&s, g);
        assert_eq!(ps.len(), 1);
        assert_eq!(s.probe(&a, "sync").as_deref(), Some("n/a"));
        assert_eq!(s.probe(&ps[0], "sync").as_deref(), Some("in-sync"));
    }
    assert_eq!(s.probe("app-east-1", "role").as_deref(), Some("none"));
    assert_eq!(s.probe("wan-east", "role").as_deref(), Some("active"));
    assert_eq!(s.probe("wan-west", "role").as_deref(), Some("passive"));

    // A second `up` into the same directory is refused while the cluster runs.
    let again = rollpilot(&["sim", "up", "--dir", &s.d()]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(text(&again).contains("already has a running simulated cluster"), "{}", text(&again));

    // Kill the east active: its mirror takes over within seconds, the client keeps writing.
    let (active, passives) = roles(&s, "east");
    let before = s.acked("app-east-1");
    let o = s.fault(&active, "crash", false);
    assert!(o.status.success(), "{}", text(&o));
    s.wait_fact(&passives[0], "role", "active", SECS(10));
    assert_eq!(s.probe(&active, "role").as_deref(), Some("stopped"));
    wait_until("app-east-1 writes through the new active", SECS(15), || {
        (s.acked("app-east-1") > before + 5).then_some(())
    });
    assert!(s.cmd(&active, "status", &[]).contains("server-stat.sh -s 127.0.0.1:"));

    // The crashed server restarts as the new active's mirror and catches up.
    s.run(&active, "start", &[]);
    s.wait_fact(&active, "sync", "in-sync", SECS(20));
    assert_eq!(s.probe(&active, "role").as_deref(), Some("passive"));
    let n = s.assert_nothing_lost();
    assert!(n > 10, "only {n} writes were acknowledged");
    s.down_and_check();
}

#[test]
fn a_4_3_server_refuses_to_join_a_4_2_stripe() {
    let s = Sim::up(&[]);
    let (_, passives) = roles(&s, "west");
    let m = &passives[0];
    s.run(m, "stop", &[]);
    assert_eq!(s.probe(m, "role").as_deref(), Some("stopped"));
    s.run(m, "install", &[("version", "4.3.0")]);
    assert_eq!(s.probe(m, "version").as_deref(), Some("4.3.0"));
    s.run(m, "start", &[]);
    let (g, node) = s.cluster.node(m).unwrap();
    let out_file = std::path::PathBuf::from(&s.cluster.vars_for(g, node)["log_dir"]).join("tc-server.out");
    let msg = wait_until("the 4.3.0 server to refuse and say why", SECS(15), || {
        let t = std::fs::read_to_string(&out_file).unwrap_or_default();
        t.contains("cannot join stripe west").then_some(t)
    });
    assert!(msg.contains("4.3 vs 4.2"), "{msg}");
    wait_until("the refused server to exit", SECS(10), || {
        (s.probe(m, "role").as_deref() == Some("stopped")).then_some(())
    });
    // Back to 4.2.0 (the rollback template), it joins again.
    s.run(m, "rollback", &[("version", "4.2.0")]);
    s.run(m, "start", &[]);
    s.wait_fact(m, "sync", "in-sync", SECS(20));
    s.assert_nothing_lost();
}

/// Restarts the lone east server of a `--stripe-size 1` cluster through its templates.
fn restart_lone_server(s: &Sim) {
    wait_until("app-east-1 has written", SECS(15), || (s.acked("app-east-1") >= 10).then_some(()));
    s.run("tc-east-1", "stop", &[]);
    assert_eq!(s.probe("tc-east-1", "role").as_deref(), Some("stopped"));
    s.run("tc-east-1", "start", &[]);
    s.wait_fact("tc-east-1", "role", "active", SECS(15));
    let after = s.acked("app-east-1");
    wait_until("app-east-1 writes again", SECS(15), || (s.acked("app-east-1") > after + 3).then_some(()));
}

#[test]
fn a_non_persistent_lone_server_loses_its_data_on_restart() {
    let s = Sim::up(&["--stripe-size", "1", "--not-persistent"]);
    assert!(std::fs::read_to_string(s.dir.join("cluster.toml")).unwrap().contains("persistent = false"));
    assert!(!s.cluster.persistent);
    restart_lone_server(&s);
    let (code, out) = s.verify();
    assert_eq!(code, 1, "{out}");
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("acknowledged "), "{out}");
    let lost: usize = last.rsplit("lost ").next().unwrap().trim().parse().unwrap();
    assert!(lost >= 10, "expected the writes before the restart to be lost: {out}");
}

#[test]
fn a_persistent_lone_server_keeps_its_data_on_restart() {
    let s = Sim::up(&["--stripe-size", "1"]);
    assert!(s.cluster.persistent);
    restart_lone_server(&s);
    s.assert_nothing_lost();
}

#[test]
fn faults_stall_sync_hang_stop_slow_start_fail_install_and_crash() {
    let s = Sim::up(&[]);

    // Wrong requests are refused with a sentence.
    let o = s.fault("nope", "crash", false);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("tc-east-1"), "{}", text(&o));
    let o = s.fault("app-east-1", "stall-sync", false);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = s.fault("tc-east-1", "explode", false);
    assert!(text(&o).contains("stall-sync, fail-install, crash, hang-stop, slow-start"), "{}", text(&o));

    // stall-sync: a rejoining passive stays PASSIVE-UNINITIALIZED until cleared.
    let (_, ep) = roles(&s, "east");
    let m = &ep[0];
    assert!(s.fault(m, "stall-sync", false).status.success());
    s.run(m, "stop", &[]);
    s.run(m, "start", &[]);
    s.wait_fact(m, "sync", "syncing", SECS(15));
    for _ in 0..5 {
        assert_eq!(s.probe(m, "sync").as_deref(), Some("syncing"), "stall-sync let the passive sync");
    }
    assert!(s.fault(m, "stall-sync", true).status.success());
    s.wait_fact(m, "sync", "in-sync", SECS(15));

    // hang-stop: the stop command hangs (the server keeps running) until killed.
    let (_, wp) = roles(&s, "west");
    let w = &wp[0];
    assert!(s.fault(w, "hang-stop", false).status.success());
    let out = rollpilot::sim::procs::run_shell(&s.cmd(w, "stop", &[]), SECS(2)).unwrap();
    assert!(out.timed_out, "the stop did not hang: {}", out.combined());
    assert_eq!(s.probe(w, "sync").as_deref(), Some("in-sync"));
    assert!(s.fault(w, "hang-stop", true).status.success());
    s.run(w, "stop", &[]);
    assert_eq!(s.probe(w, "role").as_deref(), Some("stopped"));

    // slow-start: the start is delayed by several seconds, then the server joins.
    assert!(s.fault(w, "slow-start", false).status.success());
    let t0 = std::time::Instant::now();
    s.run(w, "start", &[]);
    assert_eq!(s.probe(w, "role").as_deref(), Some("stopped"));
    s.wait_fact(w, "sync", "in-sync", SECS(40));
    assert!(t0.elapsed() >= SECS(4), "slow-start started in {:?}", t0.elapsed());
    assert!(s.fault(w, "slow-start", true).status.success());

    // fail-install: installing another version fails; the current version still reinstalls.
    assert!(s.fault(w, "fail-install", false).status.success());
    s.run(w, "stop", &[]);
    let out = s.run_failing(w, "install", &[("version", "4.2.1")]);
    assert!(out.contains("gzip") || out.contains("tar"), "{out}");
    s.run(w, "rollback", &[("version", "4.2.0")]);
    assert_eq!(s.probe(w, "version").as_deref(), Some("4.2.0"));
    assert!(s.fault(w, "fail-install", true).status.success());
    s.run(w, "install", &[("version", "4.2.1")]);
    assert_eq!(s.probe(w, "version").as_deref(), Some("4.2.1"));
    s.run(w, "start", &[]);
    s.wait_fact(w, "sync", "in-sync", SECS(20));

    // crash a client: it reads as stopped, and restarts through its template.
    assert!(s.fault("app-west-1", "crash", false).status.success());
    assert_eq!(s.probe("app-west-1", "role").as_deref(), Some("stopped"));
    s.run("app-west-1", "start", &[]);
    s.wait_fact("app-west-1", "health", "ok", SECS(15));

    s.assert_nothing_lost();
    s.down_and_check();
}

#[test]
fn with_two_standbys_exactly_one_takes_over_and_a_whole_stripe_restart_keeps_everything() {
    let s = Sim::up(&["--stripe-size", "3"]);
    let (active, passives) = roles(&s, "east");
    assert_eq!(passives.len(), 2);
    for p in &passives {
        assert_eq!(s.probe(p, "sync").as_deref(), Some("in-sync"), "{p}");
    }
    assert!(s.fault(&active, "crash", false).status.success());
    wait_until("exactly one standby to take over and the other to rejoin it", SECS(20), || {
        let roles: Vec<Option<String>> = passives.iter().map(|p| s.probe(p, "role")).collect();
        let actives = roles.iter().filter(|r| r.as_deref() == Some("active")).count();
        let synced = passives.iter().filter(|p| s.probe(p, "sync").as_deref() == Some("in-sync")).count();
        (actives == 1 && synced == 1).then_some(())
    });
    s.run(&active, "start", &[]);
    s.wait_fact(&active, "sync", "in-sync", SECS(20));
    s.assert_nothing_lost();

    // Stop the whole stripe (passives first, the active last) and start it all at once: the
    // server that was active last, which holds the most data, becomes active again.
    let (a, ps) = roles(&s, "east");
    for h in ps.iter().chain([&a]) {
        s.run(h, "stop", &[]);
    }
    for h in ps.iter().chain([&a]) {
        s.run(h, "start", &[]);
    }
    s.wait_fact(&a, "role", "active", SECS(20));
    for p in &ps {
        s.wait_fact(p, "sync", "in-sync", SECS(20));
    }
    let n = s.acked("app-east-1");
    wait_until("app-east-1 writes again", SECS(15), || (s.acked("app-east-1") > n + 3).then_some(()));
    s.assert_nothing_lost();
    s.down_and_check();
}
