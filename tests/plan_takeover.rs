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
    let src = std::fs::read_to_string(format!("{}/config/patroni.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let src = src
        .replace("[kinds.postgres]\n", "[kinds.postgres]\npeer = \"auto\"\ntakeover = \"newer-or-equal\"\n")
        .replace(" --candidate {peer}", "");
    let c = config::parse_str(&src, "patroni.toml", Path::new(".")).unwrap();
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
