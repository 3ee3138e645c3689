//! The simulated Exchange 2003 cluster (seed 003): a virtual server moved between two nodes by a
//! command (planned moves lose nothing), and a virus scanner that must be upgraded offline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "sim_support.rs"]
mod support;

use std::time::Duration;
use support::*;

const SECS: fn(u64) -> Duration = Duration::from_secs;
const TARGET: &str = "6.5.7638";

fn writes(s: &Sim) -> usize {
    let (_, out) = s.verify();
    out.lines().last().and_then(|l| l.strip_prefix("acknowledged ")?.split(',').next()?.parse().ok()).unwrap_or(0)
}

fn wait_more_writes(s: &Sim) {
    let n = writes(s);
    wait_until("the writer to reach the virtual server", SECS(15), || (writes(s) > n + 3).then_some(()));
}

#[test]
fn a_rolling_service_pack_moves_the_virtual_server_without_loss() {
    let s = Sim::up(&["--topology", "exchange"]);
    assert_eq!(s.probe("node1", "role").as_deref(), Some("active"));
    assert_eq!(s.probe("node2", "role").as_deref(), Some("passive"));
    assert_eq!(s.probe("node2", "sync").as_deref(), Some("in-sync"));
    for h in ["node1", "node2"] {
        assert_eq!(s.probe(h, "version").as_deref(), Some("6.5.7226"));
        assert_eq!(s.probe(h, "health").as_deref(), Some("ok"));
    }
    for h in ["node1-av", "node2-av"] {
        assert_eq!(s.probe(h, "version").as_deref(), Some("8.0.0"));
    }
    wait_more_writes(&s);

    // 1. Apply the service pack to the passive node2.
    s.run("node2", "stop", &[]);
    assert_eq!(s.probe("node2", "role").as_deref(), Some("stopped"));
    s.run("node2", "install", &[("version", TARGET)]);
    s.run("node2", "start", &[]);
    assert_eq!(s.probe("node2", "version").as_deref(), Some(TARGET));
    assert_eq!(s.probe("node2", "role").as_deref(), Some("passive"));
    // 2. Move EVS1 to node2 (planned), then apply the service pack to node1.
    s.run("node1", "switchover", &[("peer", "node2")]);
    assert_eq!(s.probe("node2", "role").as_deref(), Some("active"));
    assert_eq!(s.probe("node1", "role").as_deref(), Some("passive"));
    wait_more_writes(&s);
    s.assert_nothing_lost();
    s.run("node1", "stop", &[]);
    s.run("node1", "install", &[("version", TARGET)]);
    s.run("node1", "start", &[]);
    // 3. Optional failback, proving failover works.
    s.run("node2", "switchover", &[("peer", "node1")]);
    assert_eq!(s.probe("node1", "role").as_deref(), Some("active"));
    wait_more_writes(&s);
    s.assert_nothing_lost();

    // The scanner cannot roll: replacing it under the online virtual server fails EVS1.
    s.run("node1-av", "install", &[("version", "8.1.0")]);
    let status = s.cmd("node1", "status", &[]);
    let out = wait_until("EVS1 to fail after its scanner changed", SECS(10), || {
        let o = rollpilot::sim::procs::run_shell(&status, SECS(10)).unwrap().stdout;
        o.contains("Offline").then_some(o)
    });
    assert!(out.contains("scanners do not support rolling upgrades"), "{out}");
    // Done right: offline, install both, online (R9).
    s.run("node1-av", "offline", &[]);
    s.run("node1-av", "install", &[("version", "8.1.0")]);
    s.run("node2-av", "install", &[("version", "8.1.0")]);
    s.run("node1-av", "online", &[]);
    for h in ["node1-av", "node2-av"] {
        assert_eq!(s.probe(h, "version").as_deref(), Some("8.1.0"));
    }
    wait_more_writes(&s);

    // A crashed owner is replaced by its peer; stopping the owner moves the group first.
    assert!(s.fault("node1", "crash", false).status.success());
    s.wait_fact("node2", "role", "active", SECS(10));
    s.run("node1", "start", &[]);
    assert_eq!(s.probe("node1", "role").as_deref(), Some("passive"));
    s.run("node2", "stop", &[]);
    assert_eq!(s.probe("node1", "role").as_deref(), Some("active"));
    wait_more_writes(&s);
    let n = s.assert_nothing_lost();
    assert!(n > 20, "{n}");
    s.down_and_check();
}
