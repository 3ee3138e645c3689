//! Golden plans for R15 takeover-direction (`takeover = "newer-or-equal"`): the active role is
//! never handed from a newer member to an older one. An upgrade plans as before; a rolling
//! downgrade that would fail over to an older member is refused with the reason, and with
//! `peer = "auto"` the plan is refused as soon as the cluster manager could pick such a member.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rollpilot::config;
use rollpilot::model::*;
use rollpilot::plan::*;
use semver::Version;
use std::path::Path;

fn patroni_with(extra_kind: &str, extra_group: &str) -> Cluster {
    let src = std::fs::read_to_string(format!("{}/config/patroni.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let src = src
        .replace("[kinds.postgres]\n", &format!("[kinds.postgres]\n{extra_kind}"))
        .replace("kind = \"postgres\"\n", &format!("kind = \"postgres\"\n{extra_group}"));
    config::parse_str(&src, "patroni.toml", Path::new(".")).unwrap_or_else(|e| panic!("{e}"))
}

/// Patroni with `peer = "auto"` (the cluster manager picks the new leader) under R15.
fn patroni_auto() -> Cluster {
    let src = std::fs::read_to_string(format!("{}/config/patroni.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let src = src
        .replace("[kinds.postgres]\n", "[kinds.postgres]\npeer = \"auto\"\ntakeover = \"newer-or-equal\"\n")
        .replace(" --candidate {peer}", "");
    config::parse_str(&src, "patroni.toml", Path::new(".")).unwrap()
}

/// pg-1 leads; pg-2 and pg-3 replicate in sync; all at `v`.
fn at(v: &str) -> Observed {
    let mut o = Observed::default();
    for (n, role) in [("pg-1", "active"), ("pg-2", "passive"), ("pg-3", "passive")] {
        o.nodes.insert(
            n.to_string(),
            NodeObs {
                reachable: true,
                version: Some(Version::parse(v).unwrap()),
                role: Role::from_word(role).unwrap(),
                sync: if role == "active" { SyncState::NotApplicable } else { SyncState::InSync },
                health: Health::Ok,
                ..Default::default()
            },
        );
    }
    o
}

fn run(c: &Cluster, o: &Observed, target: &str, ctx: &RunContext) -> Result<Plan, Refusal> {
    plan(&PlanRequest { cluster: c, observed: o, target: Version::parse(target).unwrap(), context: ctx })
}

#[test]
fn newer_or_equal_plans_an_upgrade_and_refuses_a_downgrade_that_fails_over_to_an_older_member() {
    let c = patroni_with("takeover = \"newer-or-equal\"\n", "");
    assert_eq!(c.takeover_of(&c.groups[0]), Takeover::NewerOrEqual);

    // Upgrading: the replicas run 16.4.0 before pg-1 (16.3.0) hands over, so the rule allows it.
    let p = run(&c, &at("16.3.0"), "16.4.0", &RunContext::default()).unwrap();
    let sw = p.step("pg/pg-1/switchover").unwrap();
    assert!(sw.command.as_deref().unwrap().contains("--candidate pg-2"), "{:?}", sw.command);
    assert!(!sw.summary.contains("R15"), "nothing is ruled out: {}", sw.summary);

    // Downgrading: every replica would run 16.3.0 when pg-1 (16.4.0) hands over: refused (exit 3).
    let down = RunContext { downgrade_intended: true, ..Default::default() };
    let r = run(&c, &at("16.4.0"), "16.3.0", &down).unwrap_err();
    assert!(!r.is_unreachable(), "a rule refused (exit 3)");
    assert_eq!(r.findings.len(), 1, "{r}");
    assert_eq!(r.findings[0].rule, Some(Rule::TakeoverDirection));
    let text = r.to_string();
    assert!(text.contains("R15 takeover-direction"), "{text}");
    assert!(text.contains("pg-2 would run 16.3.0, older than pg-1's 16.4.0"), "{text}");
    assert!(text.contains("pg-3 would run 16.3.0, older than pg-1's 16.4.0"), "{text}");
    insta::assert_snapshot!("takeover_downgrade_refused", text);

    // Without the rule the same rolling downgrade is planned.
    let any = patroni_with("", "");
    assert_eq!(any.takeover_of(&any.groups[0]), Takeover::Any);
    assert!(run(&any, &at("16.4.0"), "16.3.0", &down).is_ok());
    // A group may override its kind.
    let relaxed = patroni_with("takeover = \"newer-or-equal\"\n", "takeover = \"any\"\n");
    assert!(run(&relaxed, &at("16.4.0"), "16.3.0", &down).is_ok());
    let strict = patroni_with("", "takeover = \"newer-or-equal\"\n");
    assert_eq!(
        run(&strict, &at("16.4.0"), "16.3.0", &down).unwrap_err().findings[0].rule,
        Some(Rule::TakeoverDirection)
    );
}

#[test]
fn with_peer_auto_a_member_the_manager_could_pick_against_the_rule_refuses_the_plan() {
    let c = patroni_auto();
    let down = RunContext { downgrade_intended: true, ..Default::default() };
    let r = run(&c, &at("16.4.0"), "16.3.0", &down).unwrap_err();
    assert_eq!(r.findings[0].rule, Some(Rule::TakeoverDirection));
    assert!(r.to_string().contains("with peer = \"auto\" the cluster manager may pick"), "{r}");
    insta::assert_snapshot!("takeover_peer_auto_refused", r.to_string());
    // The upgrade is still planned: every member the manager could pick runs the target by then.
    assert!(run(&c, &at("16.3.0"), "16.4.0", &RunContext::default()).is_ok());
}

#[test]
fn a_bad_takeover_value_names_file_line_col_and_what_is_allowed() {
    let src = std::fs::read_to_string(format!("{}/config/patroni.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let src = src.replace("[kinds.postgres]\n", "[kinds.postgres]\ntakeover = \"newest\"\n");
    let e = config::parse_str(&src, "patroni.toml", Path::new(".")).unwrap_err().to_string();
    let line = src.lines().position(|l| l.starts_with("takeover = ")).unwrap() + 1;
    assert!(e.contains(&format!("patroni.toml:{line}:12")), "{e}");
    assert!(e.contains("kinds.postgres.takeover"), "{e}");
    assert!(e.contains("\"any\"") && e.contains("\"newer-or-equal\""), "{e}");
}

fn skipping(node: &str) -> RunContext {
    RunContext { skipped_nodes: [node.to_string()].into(), ..Default::default() }
}

/// pg-1 leads; pg-2 replicates in sync; pg-3 is left out of the run on `pg3`.
fn with_pg3_at(pg3: &str) -> Observed {
    let mut o = at("16.3.0");
    o.nodes.get_mut("pg-3").unwrap().version = Some(Version::parse(pg3).unwrap());
    o
}

#[test]
fn a_newer_primary_never_feeds_a_replica_left_out_on_the_old_version() {
    let c = patroni_with("takeover = \"newer-or-equal\"\n", "");
    // pg-3 was skipped on 16.3.0: once pg-1 hands over to pg-2 (upgraded to 16.4.0), pg-3 would
    // replicate from a newer primary. Refused (exit 3) naming pg-3 and what to do.
    let r = run(&c, &with_pg3_at("16.3.0"), "16.4.0", &skipping("pg-3")).unwrap_err();
    assert!(!r.is_unreachable(), "a rule refused (exit 3)");
    assert_eq!(r.findings.len(), 1, "{r}");
    assert_eq!(r.findings[0].rule, Some(Rule::TakeoverDirection));
    assert_eq!(
        r.to_string(),
        "rollpilot refuses to plan a rolling upgrade of pg-prod:\n  \
         - R15 takeover-direction: group pg hands the active role over from pg-1 to pg-2 (16.4.0), but pg-3 is left out of the run and would then replicate from a newer primary (pg-3 runs 16.3.0); takeover = \"newer-or-equal\" forbids a newer member feeding an older one\n    \
         what to do: upgrade pg-3 to 16.4.0 first (plan again without skipping it, or upgrade it by hand), or take it out of group pg in the config, and out of replication, until it runs 16.4.0; if the product lets an older replica follow a newer primary, set takeover = \"any\"\n"
    );

    // A left-out replica already on the target is fed by an equal primary: planned.
    let p = run(&c, &with_pg3_at("16.4.0"), "16.4.0", &skipping("pg-3")).unwrap();
    assert!(p.step("pg/pg-1/switchover").is_some());
    // A left-out member that cannot be read may be older: refused, saying so.
    let mut o = with_pg3_at("16.3.0");
    o.nodes.get_mut("pg-3").unwrap().reachable = false;
    o.nodes.get_mut("pg-3").unwrap().version = None;
    let r = run(&c, &o, "16.4.0", &skipping("pg-3")).unwrap_err();
    assert!(r.to_string().contains("(pg-3's version cannot be read)"), "{r}");
    // ... unless the run knows what it ran when it began.
    let mut ctx = skipping("pg-3");
    ctx.original_versions.insert("pg-3".into(), Version::parse("16.3.0").unwrap());
    let r = run(&c, &o, "16.4.0", &ctx).unwrap_err();
    assert!(r.to_string().contains("(pg-3 runs 16.3.0)"), "{r}");

    // Without the rule the same plan hands over and leaves pg-3 as it is.
    let any = patroni_with("", "");
    assert!(run(&any, &with_pg3_at("16.3.0"), "16.4.0", &skipping("pg-3")).is_ok());
    // Nothing is skipped: every replica is upgraded before the handover, as before.
    assert!(run(&c, &at("16.3.0"), "16.4.0", &RunContext::default()).is_ok());
}

#[test]
fn with_peer_auto_any_member_the_manager_may_pick_counts_as_the_new_primary() {
    let c = patroni_auto();
    let r = run(&c, &with_pg3_at("16.3.0"), "16.4.0", &skipping("pg-3")).unwrap_err();
    assert_eq!(r.findings[0].rule, Some(Rule::TakeoverDirection));
    assert!(
        r.findings[0].message.starts_with(
            "group pg hands the active role over from pg-1 to the member the cluster manager picks (up to 16.4.0, e.g. pg-2), but pg-3 is left out of the run"
        ),
        "{r}"
    );
}
