//! The simulated StreamBase cluster (seed 002): peers with no failover roles, any order, mixed
//! versions serving together, data written through any node readable through every other.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "sim_support.rs"]
mod support;

use rollpilot::sim::wire;
use std::time::Duration;
use support::*;

const SECS: fn(u64) -> Duration = Duration::from_secs;
const NODES: [&str; 3] = ["sb-1", "sb-2", "sb-3"];

fn endpoint(s: &Sim, host: &str) -> (String, u16) {
    let h = rollpilot::sim::hosts(&s.dir).unwrap().into_iter().find(|h| h.name == host).unwrap();
    let e = h.endpoint.unwrap();
    let (a, p) = e.rsplit_once(':').unwrap();
    (a.to_string(), p.parse().unwrap())
}

fn upgrade(s: &Sim, host: &str, version: &str) {
    s.run(host, "stop", &[]);
    assert_eq!(s.probe(host, "role").as_deref(), Some("stopped"));
    s.run(host, "install", &[("version", version)]);
    // epadmin display node reads the kit while the node is stopped.
    assert_eq!(s.probe(host, "version").as_deref(), Some(version));
    s.run(host, "start", &[]);
    assert_eq!(s.probe(host, "health").as_deref(), Some("ok"), "start node returns once the node serves");
}

#[test]
fn nodes_of_different_versions_serve_together_and_share_every_write() {
    let s = Sim::up(&["--topology", "streambase"]);
    for h in NODES {
        assert_eq!(s.probe(h, "version").as_deref(), Some("10.6.0"));
        assert_eq!(s.probe(h, "role").as_deref(), Some("none"));
        assert_eq!(s.probe(h, "health").as_deref(), Some("ok"));
    }
    // Any order: the last node first, then a downgrade of another: three versions at once.
    upgrade(&s, "sb-3", "10.6.1");
    upgrade(&s, "sb-1", "10.5.0");
    let versions: Vec<String> = NODES.iter().map(|h| s.probe(h, "version").unwrap()).collect();
    assert_eq!(versions, ["10.5.0", "10.6.0", "10.6.1"]);

    // Data written through any node is readable through every other.
    for w in NODES {
        let (a, p) = endpoint(&s, w);
        let key = format!("written-through-{w}");
        let r = wire::put(&a, p, &key, w).unwrap();
        assert!(r.ok, "{r:?}");
        for reader in NODES {
            let (ra, rp) = endpoint(&s, reader);
            assert_eq!(wire::get(&ra, rp, &key).unwrap().as_deref(), Some(w), "{key} read through {reader}");
        }
    }

    // An older epadmin refuses to manage a newer node (seed 002).
    let (g, n) = s.cluster.node("sb-1").unwrap();
    let sb_home = s.cluster.vars_for(g, n)["sb_home"].clone();
    let out = rollpilot::sim::procs::run_shell(
        &format!("{sb_home}/streambase/bin/epadmin --servicename=sb-3.trading display node"),
        SECS(10),
    )
    .unwrap();
    assert!(!out.success() && out.combined().contains("version mismatch"), "{}", out.combined());

    // A node that was down catches up with what was written meanwhile.
    s.run("sb-2", "stop", &[]);
    let w = rollpilot::sim::hosts(&s.dir).unwrap();
    assert!(w.iter().any(|h| h.name == "sb-2" && h.pid.is_none()));
    let before = s.verify();
    assert_eq!(before.0, 0, "{}", before.1);
    wait_until("the writer to keep writing with sb-2 down", SECS(10), || {
        let n: usize = s.verify().1.lines().last()?.strip_prefix("acknowledged ")?.split(',').next()?.parse().ok()?;
        let m: usize = before.1.lines().last()?.strip_prefix("acknowledged ")?.split(',').next()?.parse().ok()?;
        (n > m + 5).then_some(())
    });
    s.run("sb-2", "start", &[]);
    s.assert_nothing_lost();
    s.down_and_check();
}
