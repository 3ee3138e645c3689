//! Every step and phase of a plan says which rule placed it as a typed value, and the one-line
//! reason an operator reads (and the journal stores) is still exactly what it was: "R4 order: …",
//! "R8 failback (policy ask): …", or plain text where no single rule places a step.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod plan_support;

use plan_support::{load, observed};
use rollpilot::model::*;
use rollpilot::plan::*;

fn run(c: &Cluster, o: &Observed, target: &str) -> Plan {
    plan_support::run(c, o, target, &RunContext::default()).unwrap()
}

fn exchange() -> Plan {
    let o = observed(&[
        ("node1", "6.5.7226", "active", "n/a"),
        ("node2", "6.5.7226", "passive", "in-sync"),
        ("node1-av", "8.0.0", "none", "n/a"),
        ("node2-av", "8.0.0", "none", "n/a"),
    ]);
    run(&load("exchange"), &o, "6.5.7638")
}

fn cockroach() -> Plan {
    let o = observed(&[
        ("crdb-1", "23.2.9", "none", "n/a"),
        ("crdb-2", "23.2.9", "none", "n/a"),
        ("crdb-3", "23.2.9", "none", "n/a"),
    ]);
    run(&load("cockroachdb"), &o, "24.1.6")
}

#[test]
fn each_step_names_the_rule_that_placed_it() {
    let p = exchange();
    let rule = |id: &str| p.step(id).unwrap().reason.rule;
    assert_eq!(rule("mail/node2/stop"), Some(Rule::Order));
    assert_eq!(rule("mail/node1/switchover"), Some(Rule::Order));
    assert_eq!(rule("mail/node1/failback"), Some(Rule::Failback));
    assert_eq!(rule("antivirus/node1-av/offline"), Some(Rule::OfflineStep));
    let fb = &p.step("mail/node1/failback").unwrap().reason;
    assert_eq!(fb.qualifier.as_deref(), Some("policy ask"));
    assert_eq!(
        fb.to_string(),
        "R8 failback (policy ask): optional, moves the active role back to node1 and proves failover works on the new version (Exchange cluster procedure, step 3)"
    );
    assert_eq!(
        p.step("mail/node2/stop").unwrap().reason.to_string(),
        "R4 order: passives of group mail before its active, so the active keeps serving"
    );
    assert_eq!(
        p.phases[0].reason.to_string(),
        "R4 order: server groups first, passives before the active (Exchange cluster procedure, steps 1-2)"
    );

    let c = cockroach();
    let rule = |id: &str| c.step(id).unwrap().reason.rule;
    assert_eq!(rule("crdb/crdb-1/preflight"), Some(Rule::Preflight));
    // Run-level steps no single rule places read as plain text.
    let before = &c.step("crdb/crdb-1/before").unwrap().reason;
    assert_eq!(before.rule, None);
    assert_eq!(before.to_string(), "runs once before the first node is touched; its restore is guaranteed to follow");
}

#[test]
fn the_reason_is_one_line_in_json_and_reads_back_as_the_same_rule() {
    for p in [exchange(), cockroach()] {
        let json = serde_json::to_value(&p).unwrap();
        for (pi, ph) in p.phases.iter().enumerate() {
            assert_eq!(json["phases"][pi]["reason"], ph.reason.to_string());
            for (si, s) in ph.steps.iter().enumerate() {
                assert_eq!(json["phases"][pi]["steps"][si]["reason"], s.reason.to_string());
                assert_eq!(Reason::parse(&s.reason.to_string()), s.reason, "{}", s.id);
            }
        }
        let back: Plan = serde_json::from_value(json).unwrap();
        assert_eq!(back, p, "a journal's plan reads back with the same typed reasons");
    }
}

#[test]
fn a_drift_reason_is_told_by_its_rule_not_its_first_letters() {
    assert!(Reason::parse("R12 drift: the cluster changed since the plan was made (x); planned again").is(Rule::Drift));
    assert!(!Reason::parse("initial plan").is(Rule::Drift));
    // R1 is not R12: the rule's whole name is matched.
    assert_eq!(Reason::parse("R1 version-compat: 4.1 and 4.2").rule, Some(Rule::VersionCompat));
    assert_eq!(Reason::parse("R12 something else").rule, None);
}
