//! The other two seed procedures end to end through real loopback sshd: StreamBase (any order,
//! mixed versions while it runs) and the Exchange-style active/passive cluster (upgrade the
//! passive, move the virtual server, upgrade the other, failback, the offline scanner as
//! confirmed downtime). Each must lose no acknowledged write.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use rollpilot::run::journal::Record;
use support::simlab::{SimLab, text};

fn started(lab: &SimLab) -> Vec<String> {
    lab.runs()[0]
        .1
        .iter()
        .filter_map(|e| if let Record::StepStarted { step, .. } = &e.record { Some(step.id.clone()) } else { None })
        .collect()
}

#[test]
fn streambase_any_order_with_mixed_versions_loses_nothing() {
    let lab = SimLab::up("streambase", &[]);
    let before = lab.status();
    assert!(before.iter().all(|r| r["version"] == "10.6.0"), "{before:#?}");
    let o = lab.upgrade(&[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("this profile supports that (StreamBase upgrade notes)"), "{t}");
    // Mixed versions while it ran: sb-1 was on 10.6.1 while sb-3 still served on 10.6.0.
    let entries = &lab.runs()[0].1;
    assert!(
        entries.iter().any(|e| matches!(&e.record, Record::Gate { step, open: true, facts, .. }
        if step == "trading/sb-3/stop" && facts.contains("sb-1: Started, 10.6.1"))),
        "{t}"
    );
    assert_eq!(started(&lab).iter().filter(|s| s.ends_with("/stop")).count(), 3, "one node at a time, each once");
    assert!(lab.status().iter().all(|r| r["version"] == "10.6.1" && r["health"] == "ok"));
    lab.assert_nothing_lost();
}

#[test]
fn exchange_passive_first_move_failback_and_offline_scanner() {
    let lab = SimLab::up("exchange", &[]);
    assert_eq!(lab.node("node1")["role"], "active");
    let o = lab.upgrade(&[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let s = started(&lab);
    let pos = |id: &str| s.iter().position(|x| x == id).unwrap_or_else(|| panic!("{id} not run: {s:#?}"));
    assert!(pos("mail/node2/install") < pos("mail/node1/switchover"), "the passive first");
    assert!(
        pos("mail/node1/switchover") < pos("mail/node1/install"),
        "move the virtual server, then upgrade the other"
    );
    assert!(pos("mail/node1/install") < pos("mail/node1/failback"), "failback after both");
    assert!(pos("mail/node1/failback") < pos("antivirus/node1-av/offline"));
    assert!(pos("antivirus/node2-av/install") < pos("antivirus/node1-av/online"));
    assert!(t.contains("Taking mail OFFLINE to upgrade antivirus to 8.1.0"), "{t}");
    assert!(t.contains("DOWNTIME"), "the offline step is shown as downtime: {t}");
    let rows = lab.status();
    assert_eq!(lab.node("node1")["role"], "active", "failback returned EVS1 to node1: {rows:#?}");
    assert_eq!(lab.node("node1")["version"], "6.5.7638");
    assert_eq!(lab.node("node2")["version"], "6.5.7638");
    assert_eq!(lab.node("node1-av")["version"], "8.1.0");
    assert_eq!(lab.node("node2-av")["version"], "8.1.0");
    let (ok, summary) = lab.verify();
    assert!(ok && summary.ends_with("lost 0"), "{summary}");
}

#[test]
fn sim_status_through_sshd_with_ssh_hosts() {
    let lab = SimLab::up("terracotta", &[]);
    let src = std::fs::read_to_string(&lab.config).unwrap();
    assert!(src.contains("transport = \"ssh\"") && src.contains("host_key_policy = \"strict\""), "{src}");
    let rows = lab.status();
    assert_eq!(rows.len(), 8);
    for r in &rows {
        assert_eq!(r["reachable"], true, "{r}");
        assert_eq!(r["version"], "4.2.0", "{r}");
    }
    let role = |h: &str| rows.iter().find(|r| r["host"] == h).unwrap()["role"].as_str().unwrap().to_string();
    assert_eq!((role("tc-east-1"), role("tc-east-2")), ("active".into(), "passive".into()));
    assert_eq!(rows.iter().find(|r| r["host"] == "tc-west-2").unwrap()["sync"], "in-sync");
    assert_eq!((role("wan-east"), role("wan-west")), ("master".into(), "standby".into()));
}
