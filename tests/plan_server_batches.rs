//! R5 per batch for server groups with an active (`max_unavailable` on a terracotta stripe or an
//! active-passive group): passives go in batches, every batch leaves the active and at least one
//! in-sync passive outside it, and the active goes last, alone, with its switchover.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod plan_support;

use plan_support::*;
use rollpilot::model::*;
use rollpilot::plan::gates::{Verdict, evaluate};
use rollpilot::plan::*;

/// Patroni with five members (pg-1 leads) and `keys` on the group.
fn patroni5(keys: &str) -> Cluster {
    let src = std::fs::read_to_string(format!("{}/config/patroni.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let src = src.replace(
        "kind = \"postgres\"\nhosts = [\n",
        &format!(
            "kind = \"postgres\"\n{keys}\nhosts = [\n  {{ name = \"pg-4\", address = \"10.0.0.14\" }},\n  {{ name = \"pg-5\", address = \"10.0.0.15\" }},\n"
        ),
    );
    parse(&src)
}

fn at(v: &str) -> Observed {
    observed(&[
        ("pg-4", v, "passive", "in-sync"),
        ("pg-5", v, "passive", "in-sync"),
        ("pg-1", v, "active", "n/a"),
        ("pg-2", v, "passive", "in-sync"),
        ("pg-3", v, "passive", "in-sync"),
    ])
}

fn batches(p: &Plan) -> Vec<Vec<String>> {
    p.batches.iter().map(|b| b.nodes.clone()).collect()
}

#[test]
fn passives_go_in_batches_and_the_active_goes_last_alone_with_its_switchover() {
    let c = patroni5("max_unavailable = 3");
    let p = run(&c, &at("16.3.0"), "16.4.0", &RunContext::default()).unwrap();
    // Four passives, width capped at 3 so one in-sync passive stays beside the active.
    assert_eq!(batches(&p), vec![vec!["pg-4", "pg-5", "pg-2"], vec!["pg-3"]]);
    assert!(p.batches.iter().all(|b| !b.nodes.contains(&"pg-1".to_string())), "the active is never in a batch");
    let ids: Vec<&str> = p.steps().map(|s| s.id.as_str()).collect();
    let sw = ids.iter().position(|i| *i == "pg/pg-1/switchover").unwrap();
    assert!(ids[..sw].iter().all(|i| !i.contains("/pg-1/")), "the active is touched only after every passive");
    assert_eq!(ids[sw..], ["pg/pg-1/switchover", "pg/pg-1/stop", "pg/pg-1/install", "pg/pg-1/start"]);
    assert!(p.step("pg/pg-1/switchover").unwrap().command.as_deref().unwrap().contains("--candidate pg-4"));
    // One gate judges the whole batch before any of it stops.
    let first = p.step("pg/pg-4/stop").unwrap();
    assert_eq!(
        first.before[0],
        Gate::BatchQuorum { group: "pg".into(), nodes: vec!["pg-4".into(), "pg-5".into(), "pg-2".into()], min: 2 }
    );
    let b = &p.batches[0];
    assert_eq!(
        b.why_safe,
        "3 of 4 passives of pg down at once (max_unavailable = 3); pg-1 stays active and at least one passive in sync stays outside the batch (R5), so the gate before the batch needs 2 others up, pg-1 among them"
    );
    let text = render::to_text(&p);
    assert!(text.contains("   ── batch 1/2: pg-4, pg-5, pg-2 run side by side (one confirmation for the batch) — safe because 3 of 4 passives"), "{text}");
    insta::assert_snapshot!("server_batches_patroni", text);
}

#[test]
fn the_batch_gate_needs_the_active_and_an_in_sync_passive_outside_the_batch() {
    let c = patroni5("max_unavailable = 2");
    let p = run(&c, &at("16.3.0"), "16.4.0", &RunContext::default()).unwrap();
    assert_eq!(batches(&p), vec![vec!["pg-4", "pg-5"], vec!["pg-2", "pg-3"]]);
    let gate = p.step("pg/pg-2/stop").unwrap().before[0].clone();
    // pg-4 and pg-5 are back in sync: pg-1 active and pg-4 in sync outside the batch.
    assert!(evaluate(&gate, &c, &at("16.4.0")).is_open());
    // The passives outside the batch are still catching up: the batch waits, saying why.
    let mut o = at("16.4.0");
    for n in ["pg-4", "pg-5"] {
        o.nodes.get_mut(n).unwrap().sync = SyncState::Syncing;
    }
    match evaluate(&gate, &c, &o) {
        Verdict::Blocked(why) => assert!(
            why.starts_with(
                "no passive of pg outside the batch (pg-2, pg-3) is in sync, so the active would be left without one"
            ),
            "{why}"
        ),
        v => panic!("{v:?}"),
    }
    // No active outside the batch: waits too.
    let mut o = at("16.4.0");
    o.nodes.get_mut("pg-1").unwrap().role = Role::Passive;
    o.nodes.get_mut("pg-1").unwrap().sync = SyncState::InSync;
    assert!(
        matches!(evaluate(&gate, &c, &o), Verdict::Blocked(w) if w.starts_with("no member of pg outside the batch (pg-2, pg-3) is active"))
    );
}

#[test]
fn too_few_passives_or_a_width_of_one_plan_one_at_a_time_as_before() {
    let plain = run(&patroni5(""), &at("16.3.0"), "16.4.0", &RunContext::default()).unwrap();
    let one = run(&patroni5("max_unavailable = 1"), &at("16.3.0"), "16.4.0", &RunContext::default()).unwrap();
    assert!(plain.batches.is_empty() && one.batches.is_empty());
    assert_eq!(render::to_text(&plain), render::to_text(&one));
    // "20%" of five is one: one at a time.
    let pct = run(&patroni5("max_unavailable = \"20%\""), &at("16.3.0"), "16.4.0", &RunContext::default()).unwrap();
    assert!(pct.batches.is_empty());
}
