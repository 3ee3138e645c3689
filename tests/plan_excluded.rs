//! Members a plan leaves out (skipped by the operator, already on the target, newer than it,
//! unreachable, stopped with no readable version) and exactly how the plan text an operator reads
//! says so: the Nodes table shows the version each member ends on, the notes say why it is left
//! out, and no step touches it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod plan_support;

use plan_support::*;
use rollpilot::plan::*;
use std::collections::BTreeSet;

fn skipping(nodes: &[&str]) -> RunContext {
    RunContext { skipped_nodes: nodes.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>(), ..Default::default() }
}

fn notes(text: &str) -> Vec<String> {
    section(text, "Notes:").into_iter().skip(1).collect()
}

#[test]
fn at_target_and_newer_members_end_on_their_own_version_and_are_never_touched() {
    let c = load("streambase");
    let o = observed(&[
        ("sb-1", "10.6.0", "none", "n/a"),
        ("sb-2", "10.6.1", "none", "n/a"),
        ("sb-3", "10.7.0", "none", "n/a"),
    ]);
    let p = run(&c, &o, "10.6.1", &RunContext::default()).unwrap();
    let text = render::to_text(&p);
    assert_eq!(
        section(&text, "Nodes:"),
        vec![
            "Nodes:",
            "  sb-1  trading      10.6.0 → 10.6.1      upgrade",
            "  sb-2  trading      10.6.1 → 10.6.1      at-target",
            "  sb-3  trading      10.7.0 → 10.7.0      newer-left-alone",
        ]
    );
    assert_eq!(
        notes(&text)[0],
        "  ! R10 newer-node: sb-3 already runs 10.7.0, newer than the target 10.6.1: it is left as it is and not touched (to bring it down, run an explicit rolling downgrade with --to 10.6.1)"
    );
    assert!(
        p.steps().all(|s| s.node == "sb-1"),
        "only sb-1 has steps: {:?}",
        p.steps().map(|s| &s.id).collect::<Vec<_>>()
    );
}

#[test]
fn a_skipped_member_that_cannot_be_reached_is_left_out_and_said_to_be() {
    let c = load("streambase");
    let mut o = observed(&[("sb-2", "10.6.0", "none", "n/a"), ("sb-3", "10.6.0", "none", "n/a")]);
    unreachable(&mut o, "sb-1", "sb-1: ssh: connect to host sb-1 port 22: Connection refused");

    // Not skipped: the plan is refused with the missing fact and how to get it.
    let refused = run(&c, &o, "10.6.1", &RunContext::default()).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "rollpilot refuses to plan a rolling upgrade of sb-trading:\n  \
         - sb-1 (group trading) is unreachable: ssh: connect to host sb-1 port 22: Connection refused\n    \
         what to do: fix the connection to sb-1 (try `ssh streambase@sb-1`), then plan again; rollpilot does not plan around a node it cannot see\n"
    );

    // Skipped by the operator: planned around, shown as left out, its version unknown.
    let p = run(&c, &o, "10.6.1", &skipping(&["sb-1"])).unwrap();
    let text = render::to_text(&p);
    assert_eq!(
        section(&text, "Nodes:"),
        vec![
            "Nodes:",
            "  sb-1  trading           ? → ?           skipped",
            "  sb-2  trading      10.6.0 → 10.6.1      upgrade",
            "  sb-3  trading      10.6.0 → 10.6.1      upgrade",
        ]
    );
    assert_eq!(notes(&text)[0], "  ! R11 do-no-harm: sb-1 was skipped by the operator and is not touched");
    assert!(p.steps().all(|s| s.node != "sb-1"));
}

#[test]
fn a_skipped_member_that_answers_keeps_its_version_in_the_table() {
    let c = load("streambase");
    let o = observed(&[
        ("sb-1", "10.6.0", "none", "n/a"),
        ("sb-2", "10.6.0", "none", "n/a"),
        ("sb-3", "10.6.0", "none", "n/a"),
    ]);
    let p = run(&c, &o, "10.6.1", &skipping(&["sb-2"])).unwrap();
    let text = render::to_text(&p);
    assert_eq!(section(&text, "Nodes:")[2], "  sb-2  trading      10.6.0 → 10.6.0      skipped");
    assert_eq!(p.nodes[1].to.to_string(), "10.6.0", "plan --json says the same");
    assert_eq!(notes(&text)[0], "  ! R11 do-no-harm: sb-2 was skipped by the operator and is not touched");
}

#[test]
fn a_stopped_member_whose_version_cannot_be_read_is_reinstalled_and_said_to_be() {
    let c = load("streambase");
    let o = observed(&[
        ("sb-1", "10.6.0", "none", "n/a"),
        ("sb-2", "", "stopped", "n/a"),
        ("sb-3", "10.6.1", "none", "n/a"),
    ]);
    let p = run(&c, &o, "10.6.1", &RunContext::default()).unwrap();
    let text = render::to_text(&p);
    assert_eq!(section(&text, "Nodes:")[2], "  sb-2  trading           ? → 10.6.1      upgrade");
    assert_eq!(
        notes(&text)[0],
        "  ! R6 verify: sb-2 (group trading) is stopped and its version cannot be read while it is down; the plan reinstalls 10.6.1 and starts it"
    );
    assert!(p.step("trading/sb-2/install").is_some() && p.step("trading/sb-2/stop").is_none());
}
