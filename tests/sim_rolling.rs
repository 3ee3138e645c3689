//! A full manual rolling upgrade of the simulated Terracotta topology (4.2.0 → 4.2.1), done with
//! the kit scripts alone through the generated config's templates, in the order of seed 001:
//! every stripe (mirror first, then the active, which fails over), the clients, then the WAN
//! orchestrators (stopped standby first, upgraded together, restarted). Nothing may be lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "sim_support.rs"]
mod support;

use std::time::Duration;
use support::*;

const SECS: fn(u64) -> Duration = Duration::from_secs;
const TARGET: &str = "4.2.1";

fn active_and_passive(s: &Sim, group: &str) -> (String, String) {
    let hosts: Vec<String> = s.cluster.group(group).unwrap().nodes.iter().map(|n| n.name.clone()).collect();
    let active = hosts.iter().find(|h| s.probe(h, "role").as_deref() == Some("active")).cloned().unwrap();
    let passive = hosts.iter().find(|h| **h != active).cloned().unwrap();
    (active, passive)
}

/// Seed 001 step 2.1 a-g for one server that is not active: stop, remove + unpack, start, wait sync.
fn upgrade_passive(s: &Sim, h: &str) {
    s.run(h, "stop", &[]);
    assert_eq!(s.probe(h, "role").as_deref(), Some("stopped"));
    s.run(h, "install", &[("version", TARGET)]);
    assert_eq!(s.probe(h, "version").as_deref(), Some(TARGET), "version.sh after the install");
    s.run(h, "start", &[]);
    s.wait_fact(h, "sync", "in-sync", SECS(30));
}

fn client_of(group: &str) -> String {
    format!("app-{group}-1")
}

#[test]
fn a_full_rolling_upgrade_through_the_kit_scripts_loses_nothing() {
    let s = Sim::up(&[]);
    for group in ["east", "west"] {
        let client = client_of(group);
        let (active, mirror) = active_and_passive(&s, group);
        // 2.1: the mirror.
        upgrade_passive(&s, &mirror);
        // 2.2 a: stop the active; the cluster fails over to the (upgraded) mirror.
        let before = s.acked(&client);
        s.run(&active, "stop", &[]);
        s.wait_fact(&mirror, "role", "active", SECS(10));
        wait_until("the client writes through the new active", SECS(15), || {
            (s.acked(&client) > before + 3).then_some(())
        });
        // 2.2 b-c: install on the old active and start it: it becomes the mirror.
        s.run(&active, "install", &[("version", TARGET)]);
        s.run(&active, "start", &[]);
        s.wait_fact(&active, "sync", "in-sync", SECS(30));
        // 2.2 d: optional failback, done in one region: stop the current active, restart it.
        if group == "east" {
            s.run(&mirror, "stop", &[]);
            s.wait_fact(&active, "role", "active", SECS(10));
            s.run(&mirror, "start", &[]);
            s.wait_fact(&mirror, "sync", "in-sync", SECS(30));
        }
    }
    // 2.3: the clients.
    for group in ["east", "west"] {
        let c = client_of(group);
        s.run(&c, "stop", &[]);
        assert_eq!(s.probe(&c, "role").as_deref(), Some("stopped"));
        s.run(&c, "install", &[("version", TARGET)]);
        s.run(&c, "start", &[]);
        s.wait_fact(&c, "health", "ok", SECS(15));
        let n = s.acked(&c);
        wait_until("the upgraded client writes", SECS(15), || (s.acked(&c) > n + 3).then_some(()));
    }
    // Steps 3-5: orchestrators. Upgrading one while the other still runs the old version is
    // refused once it restarts (all orchestrators must run the same version).
    s.run("wan-west", "stop", &[]);
    s.run("wan-west", "install", &[("version", TARGET)]);
    s.run("wan-west", "start", &[]);
    let (g, node) = s.cluster.node("wan-west").unwrap();
    let out = std::path::PathBuf::from(&s.cluster.vars_for(g, node)["log_dir"]).join("wan.out");
    let msg = wait_until("wan-west to refuse to run beside a 4.2.0 orchestrator", SECS(15), || {
        std::fs::read_to_string(&out).ok().filter(|t| t.contains("refuses to run"))
    });
    assert!(msg.contains("Terracotta upgrade procedure, step 4"), "{msg}");
    wait_until("wan-west to exit", SECS(10), || {
        (s.probe("wan-west", "role").as_deref() == Some("stopped")).then_some(())
    });
    // The procedure: standbys stopped first (done), then the master; upgrade all; restart all.
    s.run("wan-east", "stop", &[]);
    s.run("wan-east", "install", &[("version", TARGET)]);
    s.run("wan-east", "start", &[]);
    s.run("wan-west", "start", &[]);
    s.wait_fact("wan-east", "role", "active", SECS(15));
    s.wait_fact("wan-west", "role", "passive", SECS(15));

    for (_, n) in s.cluster.nodes() {
        assert_eq!(s.probe(&n.name, "version").as_deref(), Some(TARGET), "{} after the rollout", n.name);
        assert_eq!(s.probe(&n.name, "health").as_deref(), Some("ok"), "{} after the rollout", n.name);
    }
    let n = s.assert_nothing_lost();
    assert!(n > 20, "only {n} writes were acknowledged during the rollout");
    s.down_and_check();
}
