//! Rolling upgrades of the simulated Terracotta cluster through real loopback sshd, headless,
//! through the real executor: the seed-001 order, failovers as planned, 0 acknowledged writes
//! lost, a complete journal and report; refusals (R1, R3); the cross-machine lock; and a rolling
//! downgrade by the same machinery.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use rollpilot::run::journal::{Entry, Outcome, Record};
use support::simlab::{SimLab, text};

fn started_steps(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| if let Record::StepStarted { step, .. } = &e.record { Some(step.id.clone()) } else { None })
        .collect()
}

#[test]
fn full_upgrade_then_rolling_downgrade_lose_nothing() {
    let lab = SimLab::up("terracotta", &[]);
    let before = lab.status();
    assert!(before.iter().all(|r| r["version"] == "4.2.0" && r["reachable"] == true), "{before:#?}");
    assert_eq!(lab.node("tc-east-1")["role"], "active");

    let o = lab.upgrade(&[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("done: sim-bigmemory runs 4.2.1 (28 steps)"), "{out}");

    // Every node on 4.2.1; the failback put the original actives back; mirrors in sync.
    let after = lab.status();
    assert!(after.iter().all(|r| r["version"] == "4.2.1"), "{after:#?}");
    for (a, p) in [("tc-east-1", "tc-east-2"), ("tc-west-1", "tc-west-2")] {
        assert_eq!(lab.node(a)["role"], "active");
        assert_eq!(lab.node(p)["role"], "passive");
        assert_eq!(lab.node(p)["sync"], "in-sync");
    }
    assert_eq!(lab.node("wan-east")["role"], "master");
    let (ok, summary) = lab.verify();
    assert!(ok, "{summary}");
    assert!(summary.ends_with("lost 0") && !summary.starts_with("acknowledged 0"), "{summary}");

    // The journal: the seed-001 order, each active's stop failed over to its mirror, the
    // orchestrators stopped standby first and all restarted on one version.
    let runs = lab.runs();
    assert_eq!(runs.len(), 1);
    let (run, entries) = &runs[0];
    let order = started_steps(entries);
    let pos = |id: &str| order.iter().position(|s| s == id).unwrap_or_else(|| panic!("{id} not run: {order:#?}"));
    assert!(pos("east/tc-east-2/stop") < pos("east/tc-east-1/stop"));
    assert!(pos("east/tc-east-2/failback-start") < pos("west/tc-west-2/stop"));
    assert!(pos("west/tc-west-2/failback-start") < pos("app-east/app-east-1/stop"));
    assert!(pos("app-west/app-west-1/start") < pos("wan/wan-west/stop"));
    assert!(pos("wan/wan-west/stop") < pos("wan/wan-east/stop"), "standby orchestrator first");
    assert!(pos("wan/wan-west/install") < pos("wan/wan-east/start"), "all installed before any restart");
    let failovers: Vec<&str> = entries
        .iter()
        .filter_map(|e| match &e.record {
            Record::Gate { step, open: true, facts, .. }
                if step.ends_with("tc-east-1/stop") && facts.contains("took over") =>
            {
                Some(facts.as_str())
            }
            _ => None,
        })
        .collect();
    assert!(failovers.iter().any(|f| f.contains("tc-east-2: ACTIVE-COORDINATOR")), "{failovers:?}");
    assert!(entries.iter().any(|e| matches!(&e.record, Record::Gate { gate, open: true, facts, .. }
        if matches!(gate, rollpilot::plan::Gate::SameVersion { .. }) && facts.contains("all 2 members of wan run 4.2.1"))));
    assert!(
        entries.iter().all(|e| !matches!(&e.record, Record::StepFinished { outcome, .. } if *outcome != Outcome::Ok))
    );
    assert!(matches!(entries.last().unwrap().record, Record::RunFinished { ref outcome, .. } if outcome == "done"));

    // The maintenance report names who confirmed what, the commands and the versions.
    let o = lab.rollpilot(&["report", run, "--format", "md"]);
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.contains("# Maintenance report: rolling upgrade of sim-bigmemory to 4.2.1"), "{md}");
    assert!(md.contains("| tc-east-1 | 4.2.0 | 4.2.1 | active |"), "{md}");
    assert!(md.contains("**test-operator** confirmed `east/tc-east-1/stop`"), "{md}");
    assert!(md.contains("stop-tc-server.sh -f"), "{md}");
    let o = lab.rollpilot(&["report", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["end"]["outcome"], "done");
    assert_eq!(v["steps"].as_array().unwrap().len(), 28);

    // Roll the whole cluster back to 4.2.0 by the same rules (typed: it is a downgrade).
    let c = lab.c();
    let o = lab.rollpilot(&["upgrade", "-c", c.as_str(), "--headless", "--yes", "--to", "4.2.0"]);
    assert_eq!(o.status.code(), Some(3), "a downgrade needs the typed confirmation: {}", text(&o));
    assert!(text(&o).contains("--confirm=sim-bigmemory"), "{}", text(&o));
    let o = lab.upgrade(&["--to", "4.2.0", "--confirm", "sim-bigmemory"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let after = lab.status();
    assert!(after.iter().all(|r| r["version"] == "4.2.0"), "{after:#?}");
    let (ok, summary) = lab.verify();
    assert!(ok && summary.ends_with("lost 0"), "{summary}");
}

#[test]
fn refusals_exit_3_and_touch_nothing() {
    let lab = SimLab::up("terracotta", &[]);
    // R1: 4.2 -> 4.3 is a minor change.
    let o = lab.upgrade(&["--to", "4.3.0"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("R1 version-compat"), "{}", text(&o));
    assert!(text(&o).contains("full-downtime upgrade"), "{}", text(&o));
    assert!(lab.runs().is_empty(), "nothing journaled, nothing run");
    assert!(lab.status().iter().all(|r| r["version"] == "4.2.0"));
}

#[test]
fn a_second_operator_is_refused_by_the_lock_on_the_cluster() {
    let lab = SimLab::up("terracotta", &[]);
    lab.timeout("gate", "90s");
    lab.edit_config(|s| s.replace("lease = \"2m\"", "lease = \"10s\""));
    // Operator one starts and is held at the stall: tc-east-2 never re-syncs, so the run waits
    // at its gate while holding the lock.
    lab.fault("tc-east-2", "stall-sync", false);
    let log = lab.dir.join("first.log");
    let c = lab.c();
    let mut first = lab.spawn(&["upgrade", "-c", c.as_str(), "--headless", "--yes"], &log);
    lab.wait(std::time::Duration::from_secs(60), "the first operator to wait at a gate", || {
        std::fs::read_to_string(&log).unwrap_or_default().contains("waiting until")
    });
    // The lease (10 s here) is kept alive while the run waits: let the first lease run out.
    let owner = lab.dir.join("lock/rollpilot/owner");
    let lease_of = |f: &std::path::Path| -> i64 {
        std::fs::read_to_string(f)
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("lease_until="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let first_lease = lease_of(&owner);
    assert!(first_lease > 0, "the lock records a lease");
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    lab.wait(std::time::Duration::from_secs(60), "the first lease to pass while the run holds the lock", || {
        now() > first_lease + 1
    });
    assert!(lease_of(&owner) > now(), "the lease was renewed while the run waited at its gate");
    // Operator two, another machine's state directory: refused, told who drives.
    let other = lab.dir.join("other-operator");
    let o = lab.rollpilot_as(&other, &["upgrade", "-c", c.as_str(), "--headless", "--yes", "--operator", "bob"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("another operator drives sim-bigmemory: test-operator on"), "{t}");
    assert!(t.contains("observer mode"), "{t}");
    // status still works for everyone.
    let o = lab.rollpilot_as(&other, &["status", "-c", c.as_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    first.kill().unwrap();
    first.wait().unwrap();
}
