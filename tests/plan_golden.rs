//! Golden plans for every seed scenario: the order of steps, the gates, the refusals and the
//! confirmations an operator will see. Full plans are snapshotted (tests/snapshots) so any change
//! to what operators read is reviewed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod plan_support;

use plan_support::{load, observed, parse, run};
use rollpilot::config;
use rollpilot::model::*;
use rollpilot::plan::gates::{Verdict, evaluate};
use rollpilot::plan::*;
use semver::Version;
use std::path::Path;

fn terracotta_at(v: &str) -> Observed {
    observed(&[
        ("tc-east-1", v, "active", "n/a"),
        ("tc-east-2", v, "passive", "in-sync"),
        ("tc-west-1", v, "active", "n/a"),
        ("tc-west-2", v, "passive", "in-sync"),
        ("app-east-1", v, "none", "n/a"),
        ("app-west-1", v, "none", "n/a"),
        ("wan-east", v, "active", "n/a"),
        ("wan-west", v, "passive", "n/a"),
    ])
}

/// The step ids, for tests that name a local `ids`.
fn step_ids(p: &Plan) -> Vec<String> {
    ids(p)
}

fn ids(p: &Plan) -> Vec<String> {
    p.steps().map(|s| s.id.clone()).collect()
}

fn pos(p: &Plan, id: &str) -> usize {
    ids(p).iter().position(|x| x == id).unwrap_or_else(|| panic!("{id} not in plan: {:#?}", ids(p)))
}

fn with_failback(c: &Cluster, f: FailbackPolicy) -> Cluster {
    let mut c = c.clone();
    c.failback = f;
    c
}

#[test]
fn terracotta_two_regions_follow_seed_001_order() {
    let c = load("terracotta");
    let p = run(&c, &terracotta_at("4.2.0"), "4.2.1", &RunContext::default()).unwrap();
    assert_eq!(p.direction, Direction::Upgrade);
    assert_eq!(
        ids(&p),
        vec![
            "east/tc-east-2/stop",
            "east/tc-east-2/install",
            "east/tc-east-2/start",
            "east/tc-east-1/stop",
            "east/tc-east-1/install",
            "east/tc-east-1/start",
            "east/tc-east-2/failback-stop",
            "east/tc-east-2/failback-start",
            "west/tc-west-2/stop",
            "west/tc-west-2/install",
            "west/tc-west-2/start",
            "west/tc-west-1/stop",
            "west/tc-west-1/install",
            "west/tc-west-1/start",
            "west/tc-west-2/failback-stop",
            "west/tc-west-2/failback-start",
            "app-east/app-east-1/stop",
            "app-east/app-east-1/install",
            "app-east/app-east-1/start",
            "app-west/app-west-1/stop",
            "app-west/app-west-1/install",
            "app-west/app-west-1/start",
            "wan/wan-west/stop",
            "wan/wan-east/stop",
            "wan/wan-east/install",
            "wan/wan-west/install",
            "wan/wan-east/start",
            "wan/wan-west/start",
        ]
    );
    // Mirrors before actives, with R5 before each active stops and R6 after each start.
    let stop_active = p.step("east/tc-east-1/stop").unwrap();
    assert!(stop_active.before.contains(&Gate::SafeToStop { group: "east".into(), node: "tc-east-1".into() }));
    assert!(stop_active.after.contains(&Gate::FailedOver { group: "east".into(), not: "tc-east-1".into() }));
    assert_eq!(stop_active.confirm, Confirm::Yes);
    assert!(
        stop_active.summary.contains("fails over to tc-east-2, which becomes the active server"),
        "{}",
        stop_active.summary
    );
    let start = p.step("east/tc-east-2/start").unwrap();
    assert!(
        start.after.contains(&Gate::VersionIs { node: "tc-east-2".into(), version: Version::parse("4.2.1").unwrap() })
    );
    assert!(start.after.contains(&Gate::Rejoined { node: "tc-east-2".into() }));
    // Failback is optional under `ask` and is its own gated step (R8).
    let fb = p.step("east/tc-east-2/failback-stop").unwrap();
    assert_eq!(fb.confirm, Confirm::Optional);
    assert!(fb.rules.contains(&Rule::Failback));
    assert!(fb.before.contains(&Gate::SafeToStop { group: "east".into(), node: "tc-east-2".into() }));
    // All TSAs in all regions before clients, clients before orchestrators (R4).
    assert!(pos(&p, "west/tc-west-2/failback-start") < pos(&p, "app-east/app-east-1/stop"));
    assert!(pos(&p, "app-west/app-west-1/start") < pos(&p, "wan/wan-west/stop"));
    // Orchestrators: standby stopped first (reconnect-resync), all installed before any restart,
    // and the last restart checks they all run one version.
    let last = p.step("wan/wan-west/start").unwrap();
    assert!(last.after.contains(&Gate::SameVersion { group: "wan".into(), version: Version::parse("4.2.1").unwrap() }));
    assert!(p.step("wan/wan-west/stop").unwrap().downtime);
    assert!(p.notes.iter().any(|n| n.rule == Some(Rule::MixedVersion)));
    insta::assert_snapshot!("terracotta_two_regions", render::to_text(&p));
}

#[test]
fn failback_always_and_never() {
    let c = load("terracotta");
    let o = terracotta_at("4.2.0");
    let always = run(&with_failback(&c, FailbackPolicy::Always), &o, "4.2.1", &RunContext::default()).unwrap();
    assert_eq!(always.step("east/tc-east-2/failback-stop").unwrap().confirm, Confirm::Yes);
    let never = run(&with_failback(&c, FailbackPolicy::Never), &o, "4.2.1", &RunContext::default()).unwrap();
    assert!(
        never.steps().all(|s| !matches!(s.action, Action::FailbackStop | Action::FailbackStart | Action::Failback))
    );
    // A declined failback is not planned again when the run plans anew.
    let mut ctx = RunContext::default();
    ctx.failback_declined.insert("east".into());
    let declined = run(&c, &o, "4.2.1", &ctx).unwrap();
    assert!(declined.step("east/tc-east-2/failback-stop").is_none());
    assert!(declined.step("west/tc-west-2/failback-stop").is_some());
}

const SOLO: &str = r#"
[cluster]
name = "solo"
target = "4.2.1"
profile = "terracotta"
persistent = PERSISTENT

[kinds.server]
version = "version.sh"
status = "server-stat.sh"
stop = "stop-tc-server.sh"
install = "install.sh {version}"
start = "start-tc-server.sh"
[kinds.server.parse]
role = { regex = 'state: (\S+)', map = { "ACTIVE-COORDINATOR" = "active", "PASSIVE-STANDBY" = "passive" } }
sync = { regex = 'state: (\S+)', map = { "PASSIVE-STANDBY" = "in-sync" } }

[[groups]]
name = "stripe1"
type = "server"
hosts = ["tc-solo"]
"#;

#[test]
fn stripe_without_mirror_needs_typed_confirmation_r2() {
    let c = parse(&SOLO.replace("PERSISTENT", "true"));
    let o = observed(&[("tc-solo", "4.2.0", "active", "n/a")]);
    let p = run(&c, &o, "4.2.1", &RunContext::default()).unwrap();
    let stop = p.step("stripe1/tc-solo/stop").unwrap();
    assert_eq!(stop.confirm, Confirm::Typed);
    assert!(stop.downtime && !stop.data_loss);
    assert!(stop.rules.contains(&Rule::NoMirrorDowntime));
    assert_eq!(p.typed_confirmations.len(), 1);
    assert_eq!(p.typed_confirmations[0].rule, Some(Rule::NoMirrorDowntime));
    assert!(p.notes.iter().any(|n| n.rule == Some(Rule::NoMirrorDowntime) && n.level == Level::Warning));
    assert!(p.steps().all(|s| s.downtime), "every step of a lone server is downtime");
    insta::assert_snapshot!("no_mirror_r2", render::to_text(&p));
}

#[test]
fn non_persistent_without_mirror_is_refused_r3_unless_accepted() {
    let c = parse(&SOLO.replace("PERSISTENT", "false"));
    let o = observed(&[("tc-solo", "4.2.0", "active", "n/a")]);
    let r = run(&c, &o, "4.2.1", &RunContext::default()).unwrap_err();
    assert!(!r.is_unreachable());
    assert_eq!(r.findings[0].rule, Some(Rule::NoMirrorDataLoss));
    assert!(r.findings[0].message.contains("loses all of its data"), "{}", r.findings[0].message);
    assert!(r.findings[0].advice.contains("--accept-data-loss=solo"), "{}", r.findings[0].advice);
    let ctx = RunContext { accept_data_loss: true, ..Default::default() };
    let p = run(&c, &o, "4.2.1", &ctx).unwrap();
    let stop = p.step("stripe1/tc-solo/stop").unwrap();
    assert!(stop.data_loss && stop.confirm == Confirm::Typed);
    assert!(stop.summary.contains("ALL ITS DATA IS LOST"), "{}", stop.summary);
    assert_eq!(p.typed_confirmations[0].rule, Some(Rule::NoMirrorDataLoss));
}

#[test]
fn minor_version_change_is_refused_r1() {
    let c = load("terracotta");
    let r = run(&c, &terracotta_at("4.1.3"), "4.2.0", &RunContext::default()).unwrap_err();
    assert_eq!(r.findings.len(), 8, "every node is named");
    assert!(r.findings.iter().all(|f| f.rule == Some(Rule::VersionCompat)));
    assert!(
        r.findings[0].message.contains("tc-east-1 runs 4.1.3 and the target is 4.2.0"),
        "{}",
        r.findings[0].message
    );
    assert!(r.findings[0].advice.contains("full-downtime upgrade"), "{}", r.findings[0].advice);
    let text = r.to_string();
    assert!(text.contains("R1 version-compat"), "{text}");
    // 4.2.0 -> 4.3.0 is a minor change too.
    assert!(run(&c, &terracotta_at("4.2.0"), "4.3.0", &RunContext::default()).is_err());
}

#[test]
fn passive_out_of_sync_blocks_the_active_r5() {
    let c = load("terracotta");
    // tc-east-2 was already upgraded and is still catching up: the next step stops the active,
    // and the safe-to-stop gate must hold it, naming the blocker.
    let mut o = terracotta_at("4.2.1");
    o.nodes.insert("tc-east-1".into(), observed(&[("tc-east-1", "4.2.0", "active", "n/a")]).nodes["tc-east-1"].clone());
    let mut e2 = observed(&[("tc-east-2", "4.2.1", "passive", "syncing")]).nodes["tc-east-2"].clone();
    e2.state = Some("PASSIVE-UNINITIALIZED".into());
    o.nodes.insert("tc-east-2".into(), e2);
    let p = run(&with_failback(&c, FailbackPolicy::Never), &o, "4.2.1", &RunContext::default()).unwrap();
    assert_eq!(ids(&p)[0], "east/tc-east-1/stop");
    let gate = &p.step("east/tc-east-1/stop").unwrap().before[0];
    assert_eq!(gate, &Gate::SafeToStop { group: "east".into(), node: "tc-east-1".into() });
    match evaluate(gate, &c, &o) {
        Verdict::Blocked(why) => {
            assert!(why.contains("no passive of east is in sync (tc-east-2: PASSIVE-UNINITIALIZED, syncing"), "{why}")
        }
        v => panic!("gate should block: {v:?}"),
    }
    // Once the mirror is in sync the gate opens and records the fact that allowed it.
    let mut synced = o.clone();
    synced.nodes.get_mut("tc-east-2").unwrap().sync = SyncState::InSync;
    assert!(matches!(evaluate(gate, &c, &synced), Verdict::Open(f) if f.contains("tc-east-2")));
}

#[test]
fn streambase_any_order_leaves_a_newer_node_alone_r10() {
    let c = load("streambase");
    let o = observed(&[
        ("sb-1", "10.6.0", "none", "n/a"),
        ("sb-2", "10.6.0", "none", "n/a"),
        ("sb-3", "10.7.0", "none", "n/a"),
    ]);
    let p = run(&c, &o, "10.6.1", &RunContext::default()).unwrap();
    assert_eq!(
        ids(&p),
        vec![
            "trading/sb-1/stop",
            "trading/sb-1/install",
            "trading/sb-1/start",
            "trading/sb-2/stop",
            "trading/sb-2/install",
            "trading/sb-2/start"
        ]
    );
    assert!(p.steps().all(|s| s.node != "sb-3"), "the newer node is never touched");
    let r10 = p.notes.iter().find(|n| n.rule == Some(Rule::NewerNode)).unwrap();
    assert!(r10.text.contains("sb-3 already runs 10.7.0, newer than the target 10.6.1"), "{}", r10.text);
    assert_eq!(p.nodes.iter().find(|n| n.node == "sb-3").unwrap().disposition, "newer-left-alone");
    // Any order: no failover steps, no safe-to-stop gates.
    assert!(p.steps().all(|s| !s.before.iter().any(|g| matches!(g, Gate::SafeToStop { .. }))));
    assert!(p.notes.iter().any(|n| n.rule == Some(Rule::MixedVersion) && n.text.contains("supports that")));
    insta::assert_snapshot!("streambase_newer_node", render::to_text(&p));
}

#[test]
fn downgrade_only_when_asked_r10() {
    let c = load("terracotta");
    let o = terracotta_at("4.2.1");
    let r = run(&c, &o, "4.2.0", &RunContext::default()).unwrap_err();
    assert_eq!(r.findings[0].rule, Some(Rule::NewerNode));
    assert!(r.findings[0].advice.contains("--to 4.2.0"), "{}", r.findings[0].advice);
    let p = run(&c, &o, "4.2.0", &RunContext { downgrade_intended: true, ..Default::default() }).unwrap();
    assert_eq!(p.direction, Direction::Downgrade);
    assert!(p.notes.iter().any(|n| n.text.contains("rolling DOWNGRADE")));
    assert_eq!(ids(&p)[0], "east/tc-east-2/stop", "a downgrade obeys the same order");
}

fn exchange_obs() -> Observed {
    observed(&[
        ("node1", "6.5.7226", "active", "n/a"),
        ("node2", "6.5.7226", "passive", "in-sync"),
        ("node1-av", "8.0.0", "none", "n/a"),
        ("node2-av", "8.0.0", "none", "n/a"),
    ])
}

#[test]
fn exchange_passive_first_then_move_then_failback() {
    let c = load("exchange");
    let p = run(&c, &exchange_obs(), "6.5.7638", &RunContext::default()).unwrap();
    assert_eq!(
        ids(&p),
        vec![
            "mail/node2/stop",
            "mail/node2/install",
            "mail/node2/start",
            "mail/node1/switchover",
            "mail/node1/stop",
            "mail/node1/install",
            "mail/node1/start",
            "mail/node1/failback",
            "antivirus/node1-av/offline",
            "antivirus/node1-av/install",
            "antivirus/node2-av/install",
            "antivirus/node1-av/online",
        ]
    );
    let mv = p.step("mail/node1/switchover").unwrap();
    assert_eq!(mv.command.as_deref(), Some("/opt/exchange/exchange/bin/cluster-move.sh -g EVS1 -n node2"));
    assert!(mv.before.contains(&Gate::SafeToStop { group: "mail".into(), node: "node1".into() }));
    let fb = p.step("mail/node1/failback").unwrap();
    assert_eq!(fb.confirm, Confirm::Optional);
    assert_eq!(fb.node, "node2", "the move back runs where the virtual server is");
    assert_eq!(fb.command.as_deref(), Some("/opt/exchange/exchange/bin/cluster-move.sh -g EVS1 -n node1"));
    assert!(fb.after.contains(&Gate::IsActive { node: "node1".into() }));
    // The scanner can only be upgraded with the virtual server offline (R9).
    let off = p.step("antivirus/node1-av/offline").unwrap();
    assert!(off.downtime && off.confirm == Confirm::Yes && off.rules.contains(&Rule::OfflineStep));
    assert!(p.steps().filter(|s| s.group == "antivirus").all(|s| s.downtime));
    // The offline is checked before anything is installed behind it: no member of mail serves.
    assert_eq!(off.after, vec![Gate::NoActive { group: "mail".into() }]);
    assert_eq!(
        off.after[0].describe(),
        "mail is offline: no member of mail reports the role active",
        "the plan says what the check waits for"
    );
    assert!(p.step("antivirus/node1-av/online").unwrap().after.contains(&Gate::HasActive { group: "mail".into() }));
    assert_eq!(p.step("antivirus/node1-av/install").unwrap().version, Some(Version::parse("8.1.0").unwrap()));
    insta::assert_snapshot!("exchange_failback_ask", render::to_text(&p));

    let always =
        run(&with_failback(&c, FailbackPolicy::Always), &exchange_obs(), "6.5.7638", &RunContext::default()).unwrap();
    assert_eq!(always.step("mail/node1/failback").unwrap().confirm, Confirm::Yes);
    let never =
        run(&with_failback(&c, FailbackPolicy::Never), &exchange_obs(), "6.5.7638", &RunContext::default()).unwrap();
    assert!(never.step("mail/node1/failback").is_none());
}

#[test]
fn replanning_mid_run_continues_where_the_cluster_is() {
    // Killed after tc-east-1 was stopped and failed over, before its install: the new plan
    // installs and starts it, then offers the failback; the mirror is not touched again.
    let c = load("terracotta");
    let mut o = terracotta_at("4.2.0");
    let mid = observed(&[("tc-east-1", "4.2.0", "stopped", "unknown"), ("tc-east-2", "4.2.1", "active", "n/a")]);
    o.nodes.extend(mid.nodes);
    let mut ctx = RunContext::default();
    ctx.original_active.insert("east".into(), "tc-east-1".into());
    let p = run(&c, &o, "4.2.1", &ctx).unwrap();
    let east: Vec<String> = ids(&p).into_iter().filter(|i| i.starts_with("east/")).collect();
    assert_eq!(
        east,
        vec![
            "east/tc-east-1/install",
            "east/tc-east-1/start",
            "east/tc-east-2/failback-stop",
            "east/tc-east-2/failback-start"
        ]
    );
}

#[test]
fn unreachable_node_refuses_with_facts_not_rules() {
    let c = load("terracotta");
    let mut o = terracotta_at("4.2.0");
    o.nodes.insert("tc-west-2".into(), NodeObs::unreachable("connection refused"));
    let r = run(&c, &o, "4.2.1", &RunContext::default()).unwrap_err();
    assert!(r.is_unreachable());
    assert!(
        r.findings[0].message.contains("tc-west-2 (group west) is unreachable: connection refused"),
        "{}",
        r.findings[0].message
    );
}

#[test]
fn a_server_of_unknown_role_is_never_guessed() {
    let c = load("terracotta");
    let mut o = terracotta_at("4.2.0");
    o.nodes.get_mut("tc-west-2").unwrap().role = Role::Unknown;
    let r = run(&c, &o, "4.2.1", &RunContext::default()).unwrap_err();
    assert_eq!(r.findings[0].rule, Some(Rule::SafeToStop));
    assert!(
        r.findings[0].message.contains("the role of tc-west-2 (group west) cannot be read"),
        "{}",
        r.findings[0].message
    );
}

#[test]
fn split_brain_and_no_active_are_refused() {
    let c = load("terracotta");
    let mut o = terracotta_at("4.2.0");
    o.nodes.get_mut("tc-east-2").unwrap().role = Role::Active;
    let r = run(&c, &o, "4.2.1", &RunContext::default()).unwrap_err();
    assert!(r.findings[0].message.contains("split brain"), "{}", r.findings[0].message);
    let mut o = terracotta_at("4.2.0");
    o.nodes.get_mut("tc-east-1").unwrap().role = Role::Stopped;
    o.nodes.get_mut("tc-east-2").unwrap().role = Role::Stopped;
    let r = run(&c, &o, "4.2.1", &RunContext::default()).unwrap_err();
    assert!(r.findings[0].message.contains("no active member"), "{}", r.findings[0].message);
}

#[test]
fn nothing_to_do_when_at_target() {
    let c = load("terracotta");
    let p = run(&c, &terracotta_at("4.2.1"), "4.2.1", &RunContext::default()).unwrap();
    assert!(p.is_empty());
    assert_eq!(p.direction, Direction::Nothing);
}

#[test]
fn commands_are_rendered_with_quoted_values() {
    let src = SOLO
        .replace("PERSISTENT", "true")
        .replace("install.sh {version}", "install.sh {kit}")
        .replace("[[groups]]", "[vars]\nkit = \"/opt/my kits/x\"\n\n[[groups]]");
    let c = parse(&src);
    let o = observed(&[("tc-solo", "4.2.0", "active", "n/a")]);
    let p = run(&c, &o, "4.2.1", &RunContext::default()).unwrap();
    assert_eq!(p.step("stripe1/tc-solo/install").unwrap().command.as_deref(), Some("install.sh '/opt/my kits/x'"));
}

#[test]
fn optional_dirty_objectdb_cleanup_is_its_own_irreversible_confirmed_step() {
    // Seed 001 step 2.1c: optionally delete the dirty-objectdb backups after a server stops.
    let src = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/terracotta.toml"))
        .unwrap()
        .replace("# cleanup = \"rm -rf {data_dir}", "cleanup = \"rm -rf {data_dir}");
    let c = config::parse_str(&src, "terracotta.toml", Path::new(".")).unwrap();
    let p = run(&c, &terracotta_at("4.2.0"), "4.2.1", &RunContext::default()).unwrap();
    let east: Vec<String> = ids(&p).into_iter().filter(|i| i.starts_with("east/tc-east-2/")).take(4).collect();
    assert_eq!(
        east,
        vec!["east/tc-east-2/stop", "east/tc-east-2/cleanup", "east/tc-east-2/install", "east/tc-east-2/start"]
    );
    let s = p.step("east/tc-east-2/cleanup").unwrap();
    assert!(s.irreversible && s.confirm == Confirm::Yes, "{s:?}");
    assert_eq!(s.command.as_deref(), Some("rm -rf /var/lib/terracotta/data/dirty-objectdb-backup/dirty-objectdb-*"));
    assert!(s.rollback.contains("cannot be restored"), "{}", s.rollback);
    assert!(render::to_text(&p).contains("cleanup tc-east-2 [confirm] [IRREVERSIBLE]"));
    // Clients and orchestrators have no cleanup.
    assert!(p.steps().filter(|s| s.action == Action::Cleanup).all(|s| s.group == "east" || s.group == "west"));
}

/// The Patroni example observed from the saved `GET /cluster` listing: pg-1 leads, pg-2 is the
/// synchronous standby (lag 0), pg-3 is 4.2 MiB behind and tagged nofailover. Every node has
/// 16.3 installed and running.
fn patroni_observed(c: &Cluster, listing: &str) -> Observed {
    use rollpilot::probe::parse::observe;
    use rollpilot::probe::script::ProbeOutput;
    let out =
        std::fs::read_to_string(format!("{}/tests/fixtures/outputs/{listing}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut o = Observed::default();
    for (g, n) in c.nodes() {
        let mut outs = std::collections::BTreeMap::new();
        let p = |s: &str| ProbeOutput { rc: Some(0), stdout: s.into(), stderr: String::new() };
        outs.insert(ProbeKind::Version, p("postgres (PostgreSQL) 16.3\n16.3 (Debian 16.3-1.pgdg120+1)\n"));
        outs.insert(ProbeKind::Status, p(&out));
        outs.insert(ProbeKind::Health, p(""));
        o.nodes.insert(n.name.clone(), observe(c.kind_of(g).unwrap(), &c.vars_for(g, n), &outs));
    }
    o
}

#[test]
fn patroni_json_and_numeric_facts_pick_the_synchronous_standby() {
    let c = load("patroni");
    let o = patroni_observed(&c, "patroni-cluster.json");
    assert_eq!(o.nodes["pg-3"].sync_shown(), "syncing (lag 4.2 MiB)");
    assert_eq!(o.nodes["pg-1"].running_version.as_ref().unwrap().to_string(), "16.3.0");
    let p = run(&c, &o, "16.4.0", &RunContext::default()).unwrap();
    let sw = p.step("pg/pg-1/switchover").unwrap();
    assert!(sw.command.as_deref().unwrap().contains("--candidate pg-2"), "{:?}", sw.command);
    assert!(
        sw.summary.contains("pg-2: in sync, eligible (sync_standby); not eligible: pg-3"),
        "the plan says why that peer: {}",
        sw.summary
    );
    // R6 after each start: the installed AND the running version must read the target.
    let start = p.step("pg/pg-2/start").unwrap();
    let verify = start.after.iter().find(|g| matches!(g, Gate::VersionIs { .. })).unwrap();
    let mut half = o.clone();
    let n2 = half.nodes.get_mut("pg-2").unwrap();
    n2.version = Some(Version::parse("16.4.0").unwrap());
    match evaluate(verify, &c, &half) {
        Verdict::Blocked(why) => assert!(why.contains("pg-2 has 16.4.0 installed but still runs 16.3.0"), "{why}"),
        v => panic!("a node still running the old server is not verified: {v:?}"),
    }
    half.nodes.get_mut("pg-2").unwrap().running_version = Some(Version::parse("16.4.0").unwrap());
    assert!(evaluate(verify, &c, &half).is_open());
    insta::assert_snapshot!("patroni_json_numeric", render::to_text(&p));
}

#[test]
fn takeover_goes_to_an_eligible_passive_even_when_another_comes_first() {
    let c = load("patroni");
    let mut o = patroni_observed(&c, "patroni-cluster.json");
    // pg-2 is in sync but tagged nofailover; pg-3 caught up and may take over.
    let n2 = o.nodes.get_mut("pg-2").unwrap();
    n2.eligible = Some(false);
    n2.eligible_detail = None;
    let n3 = o.nodes.get_mut("pg-3").unwrap();
    n3.sync = SyncState::InSync;
    n3.sync_detail = Some("lag 0 B".into());
    n3.eligible = Some(true);
    n3.eligible_detail = Some("sync_standby".into());
    let p = run(&c, &o, "16.4.0", &RunContext::default()).unwrap();
    let sw = p.step("pg/pg-1/switchover").unwrap();
    assert!(sw.command.as_deref().unwrap().contains("--candidate pg-3"), "{:?}", sw.command);
    assert!(sw.summary.contains("pg-3: in sync, eligible (sync_standby); not eligible: pg-2"), "{}", sw.summary);
    // R5 holds for pg-3, never for the ineligible pg-2 alone.
    let gate = Gate::SafeToStop { group: "pg".into(), node: "pg-1".into() };
    assert!(evaluate(&gate, &c, &o).text().contains("pg-3"), "{}", evaluate(&gate, &c, &o).text());
    o.nodes.get_mut("pg-3").unwrap().eligible = Some(false);
    match evaluate(&gate, &c, &o) {
        Verdict::Blocked(why) => {
            assert!(why.contains("no passive of pg is in sync and eligible"), "{why}");
            assert!(why.contains("not eligible"), "{why}");
        }
        v => panic!("no eligible passive: R5 must block: {v:?}"),
    }
    insta::assert_snapshot!("patroni_eligible_only", render::to_text(&p));
}

#[test]
fn peer_auto_leaves_the_choice_to_the_cluster_manager() {
    let src = std::fs::read_to_string(format!("{}/config/patroni.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let src =
        src.replace("[kinds.postgres]\n", "[kinds.postgres]\npeer = \"auto\"\n").replace(" --candidate {peer}", "");
    let c = parse(&src);
    let o = patroni_observed(&c, "patroni-cluster.json");
    let p = run(&c, &o, "16.4.0", &RunContext::default()).unwrap();
    let sw = p.step("pg/pg-1/switchover").unwrap();
    assert!(!sw.command.as_deref().unwrap().contains("--candidate"), "{:?}", sw.command);
    assert!(
        sw.summary.contains("the passive the cluster manager picks (peer = \"auto\"; candidates: pg-2)"),
        "{}",
        sw.summary
    );
    insta::assert_snapshot!("patroni_peer_auto", render::to_text(&p));
}

const ETCD_ONE_MINOR: &str = r#"[cluster]
name = "etcd-prod"
target = "3.5.0"
profile = "any-order"
compat = "one-minor"

[kinds.etcd]
version = "etcd --version"
install = "/usr/local/sbin/etcd-install {version}"
stop = "systemctl stop etcd"
start = "systemctl start etcd"

[[groups]]
name = "etcd"
type = "peer"
kind = "etcd"
hosts = ["etcd-1", "etcd-2", "etcd-3"]
"#;

#[test]
fn one_minor_allows_3_4_to_3_5_and_refuses_3_3_to_3_5() {
    let c = parse(ETCD_ONE_MINOR);
    let at =
        |v: &str| observed(&[("etcd-1", v, "none", "n/a"), ("etcd-2", v, "none", "n/a"), ("etcd-3", v, "none", "n/a")]);
    let p = run(&c, &at("3.4.27"), "3.5.0", &RunContext::default()).unwrap();
    assert_eq!(p.direction, Direction::Upgrade);
    insta::assert_snapshot!("etcd_one_minor_3_4_to_3_5", render::to_text(&p));
    // 3.5 -> 3.4 is a downgrade the rule also allows (when asked for).
    let back = run(&c, &at("3.5.0"), "3.4.27", &RunContext { downgrade_intended: true, ..Default::default() });
    assert!(back.is_ok(), "{back:?}");

    let r = run(&c, &at("3.3.9"), "3.5.0", &RunContext::default()).unwrap_err();
    assert_eq!(r.findings[0].rule, Some(Rule::VersionCompat));
    let text = r.to_string();
    assert!(
        text.contains("compat = \"one-minor\" refuses 3.3.9 → 3.5.0")
            && text.contains("compat = \"same-major\" would allow it if the product supports it"),
        "{text}"
    );
    insta::assert_snapshot!("etcd_one_minor_refuses_3_3", text);

    // The Terracotta rule names the setting that would allow a minor step.
    let c = load("terracotta");
    let r = run(&c, &terracotta_at("4.1.0"), "4.2.1", &RunContext::default()).unwrap_err();
    let text = r.to_string();
    assert!(
        text.contains("compat = \"same-minor\" refuses 4.1.0 → 4.2.1")
            && text.contains("compat = \"one-minor\" would allow it if the product supports it"),
        "{text}"
    );
}

fn crdb_at(versions: [&str; 3]) -> Observed {
    observed(&[
        ("crdb-1", versions[0], "none", "n/a"),
        ("crdb-2", versions[1], "none", "n/a"),
        ("crdb-3", versions[2], "none", "n/a"),
    ])
}

#[test]
fn cockroachdb_run_level_steps_surround_the_nodes_and_finalize_is_the_point_of_no_return() {
    let c = load("cockroachdb");
    let p = run(&c, &crdb_at(["23.2.9"; 3]), "24.1.6", &RunContext::default()).unwrap();
    let ids = ids(&p);
    // Preflight on every host first, then the frozen setting, then each node drained around
    // its stop/start, then health, restore and finalize.
    assert_eq!(
        &ids[..4],
        &["crdb/crdb-1/preflight", "crdb/crdb-2/preflight", "crdb/crdb-3/preflight", "crdb/crdb-1/before"]
    );
    for n in ["crdb-1", "crdb-2", "crdb-3"] {
        let d = pos(&p, &format!("crdb/{n}/drain"));
        assert_eq!(pos(&p, &format!("crdb/{n}/stop")), d + 1);
        assert_eq!(pos(&p, &format!("crdb/{n}/undrain")), pos(&p, &format!("crdb/{n}/start")) + 1);
        // The node's sequence is confirmed once, at its drain.
        assert_eq!(p.step(&format!("crdb/{n}/drain")).unwrap().confirm, Confirm::Yes);
        assert_eq!(p.step(&format!("crdb/{n}/stop")).unwrap().confirm, Confirm::None);
    }
    assert_eq!(&ids[ids.len() - 3..], &["crdb/crdb-1/cluster-health", "crdb/crdb-1/restore", "crdb/crdb-1/finalize"]);
    let fin = p.step("crdb/crdb-1/finalize").unwrap();
    assert_eq!((fin.confirm, fin.irreversible), (Confirm::Optional, true));
    assert_eq!(fin.rollback, PAST_NO_RETURN);
    // Before the point, rollback is offered; the marker says where it ends, in text and JSON.
    assert!(p.step("crdb/crdb-3/start").unwrap().rollback.contains("reinstall 23.2.9"));
    let m = p.point_of_no_return.as_ref().unwrap();
    assert_eq!(m.rollback_possible_until.as_deref(), Some("crdb/crdb-1/restore"));
    assert_eq!(m.crossed_by.as_deref(), Some("crdb/crdb-1/finalize"));
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["point_of_no_return"]["crossed_by"], "crdb/crdb-1/finalize");
    assert_eq!(json["phases"][0]["steps"][0]["workdir"], "/var/lib/cockroach");
    let text = render::to_text(&p);
    assert!(text.contains("── rollback possible until here ──"), "{text}");
    insta::assert_snapshot!("cockroachdb_run_level", text);
}

#[test]
fn finalize_deferred_leaves_the_cluster_downgradable_and_says_how_to_finalize() {
    let c = load("cockroachdb");
    let mut ctx = RunContext { preflight_done: true, ..Default::default() };
    ctx.before_done.insert("crdb".into());
    ctx.restore_done.insert("crdb".into());
    ctx.health_done.insert("crdb".into());
    ctx.finalize_deferred.insert("crdb".into());
    ctx.installed.insert("crdb-3".into(), Version::parse("24.1.6").unwrap());
    let p = run(&c, &crdb_at(["24.1.6"; 3]), "24.1.6", &ctx).unwrap();
    assert!(p.is_empty(), "{:?}", ids(&p));
    let m = p.point_of_no_return.unwrap();
    assert!(m.text.contains("deferred: finalize kind crdb later with `rollpilot finalize`"), "{}", m.text);
    assert_eq!(m.crossed_by, None);

    // `rollpilot finalize`: a run of its own, with only finalize in it, typed.
    let ctx = RunContext { finalize_requested: true, ..Default::default() };
    let p = run(&c, &crdb_at(["24.1.6"; 3]), "24.1.6", &ctx).unwrap();
    assert_eq!(ids(&p), vec!["crdb/crdb-1/finalize"]);
    assert_eq!(p.steps().next().unwrap().confirm, Confirm::Typed);
    assert_eq!(p.typed_confirmations[0].rule, Some(Rule::NoReturn));
    assert!(
        p.steps().next().unwrap().before.iter().any(|g| g.describe() == "every member of crdb runs 24.1.6"),
        "finalize waits until every node runs the target"
    );
}

#[test]
fn a_downgrade_past_the_point_of_no_return_is_refused_r14() {
    let c = load("cockroachdb");
    // Finalized in the run (journal context): `--to` the old version is refused with the reason.
    let mut ctx = RunContext { downgrade_intended: true, ..Default::default() };
    ctx.finalized.insert("crdb".into(), Version::parse("24.1.6").unwrap());
    let r = run(&c, &crdb_at(["24.1.6"; 3]), "23.2.9", &ctx).unwrap_err();
    assert!(!r.is_unreachable(), "a rule refused (exit 3)");
    assert_eq!(r.findings[0].rule, Some(Rule::NoReturn));
    insta::assert_snapshot!("downgrade_past_finalize_refused", r.to_string());
    // Not finalized: the rolling downgrade is planned, and every step can be rolled back.
    let ctx = RunContext { downgrade_intended: true, ..Default::default() };
    let p = run(&c, &crdb_at(["24.1.6"; 3]), "23.2.9", &ctx).unwrap();
    assert_eq!(p.direction, Direction::Downgrade);
    assert!(!ids(&p).iter().any(|i| i.ends_with("/finalize")), "nothing to finalize on the way down");
    // The typed downgrade confirmation sits on the first change, after the read-only preflight.
    assert_eq!(p.typed_confirmations[0].step, "crdb/crdb-1/before");
    assert_eq!(p.step("crdb/crdb-1/before").unwrap().confirm, Confirm::Typed);

    // "all-upgraded": once every node runs the new version there is no way back, from the facts.
    let mut c2 = c.clone();
    c2.kinds.get_mut("crdb").unwrap().point_of_no_return = Some(NoReturn::AllUpgraded);
    let r = run(&c2, &crdb_at(["24.1.6"; 3]), "23.2.9", &ctx).unwrap_err();
    assert_eq!(r.findings[0].rule, Some(Rule::NoReturn));
    assert!(r.findings[0].message.contains("every node of kind crdb runs 24.1.6"), "{r}");
    // Partly upgraded: still before the point, the downgrade is planned.
    assert!(run(&c2, &crdb_at(["24.1.6", "23.2.9", "23.2.9"]), "23.2.9", &ctx).is_ok());
    // And the upgrade plan marks the last install as the point; what follows has no rollback.
    let p = run(&c2, &crdb_at(["23.2.9"; 3]), "24.1.6", &RunContext::default()).unwrap();
    let m = p.point_of_no_return.as_ref().unwrap();
    assert_eq!(m.crossed_by.as_deref(), Some("crdb/crdb-3/install"));
    assert!(p.step("crdb/crdb-3/install").unwrap().rollback.contains("reinstall 23.2.9"));
    assert_eq!(p.step("crdb/crdb-3/start").unwrap().rollback, PAST_NO_RETURN);
}

#[test]
fn resuming_mid_node_keeps_the_drain_and_the_pending_restore_from_the_context() {
    let c = load("cockroachdb");
    // crdb-1 is done; crdb-2 was drained and stopped when rollpilot died.
    let mut ctx = RunContext { preflight_done: true, ..Default::default() };
    ctx.before_done.insert("crdb".into());
    ctx.drained.insert("crdb-2".into());
    ctx.installed.insert("crdb-1".into(), Version::parse("24.1.6").unwrap());
    let o = observed(&[
        ("crdb-1", "24.1.6", "none", "n/a"),
        ("crdb-2", "23.2.9", "stopped", "n/a"),
        ("crdb-3", "23.2.9", "none", "n/a"),
    ]);
    let p = run(&c, &o, "24.1.6", &ctx).unwrap();
    let ids = ids(&p);
    assert_eq!(ids[0], "crdb/crdb-2/install", "no second preflight, before or drain: {ids:?}");
    assert!(ids.contains(&"crdb/crdb-2/undrain".to_string()));
    assert!(ids.contains(&"crdb/crdb-3/drain".to_string()));
    assert!(ids.contains(&"crdb/crdb-1/restore".to_string()), "the pending restore is planned: {ids:?}");
    assert!(!ids.iter().any(|i| i.ends_with("/before") || i.ends_with("/preflight")));

    // The operator skipped crdb-2 while it was drained: it goes back into service first.
    ctx.skipped_nodes.insert("crdb-2".into());
    let p = run(&c, &o, "24.1.6", &ctx).unwrap();
    let after_skip = step_ids(&p);
    assert_eq!(after_skip[0], "crdb/crdb-2/undrain");
    assert_eq!(after_skip.iter().filter(|i| i.contains("crdb-2")).count(), 1);
}

fn crdb_finalized(versions: [&str; 3], series: &str) -> Observed {
    let mut o = crdb_at(versions);
    for n in o.nodes.values_mut() {
        n.finalized = Some(Version::parse(series).unwrap());
    }
    o
}

#[test]
fn the_reported_cluster_version_decides_finalize_and_refuses_a_fresh_downgrade_r14() {
    let c = load("cockroachdb");
    // Not finalized yet (cluster version 23.2): finalize is planned after the upgrade.
    let p = run(&c, &crdb_finalized(["23.2.9"; 3], "23.2.0"), "24.1.6", &RunContext::default()).unwrap();
    assert!(ids(&p).contains(&"crdb/crdb-1/finalize".to_string()));
    // A fresh `plan --to 23.2.9` with no journal: the cluster says it is finalized at 24.1.
    let down = RunContext { downgrade_intended: true, ..Default::default() };
    let r = run(&c, &crdb_finalized(["24.1.6"; 3], "24.1.0"), "23.2.9", &down).unwrap_err();
    assert_eq!(r.findings[0].rule, Some(Rule::NoReturn));
    assert!(r.findings[0].message.contains("reports the cluster finalized at 24.1 (parse.finalized)"), "{r}");
    // Still 23.2: the downgrade is possible and planned.
    assert!(run(&c, &crdb_finalized(["24.1.6"; 3], "23.2.0"), "23.2.9", &down).is_ok());
    // A patch downgrade within the finalized series stays possible.
    assert!(run(&c, &crdb_finalized(["24.1.6"; 3], "24.1.0"), "24.1.5", &down).is_ok());
    // `rollpilot finalize` on a cluster that already reports 24.1: nothing to finalize.
    let fin = RunContext { finalize_requested: true, ..Default::default() };
    let p = run(&c, &crdb_finalized(["24.1.6"; 3], "24.1.0"), "24.1.6", &fin).unwrap();
    assert!(p.is_empty(), "{:?}", ids(&p));
}

/// A peer group of seven in two racks, for the batch tests.
fn racked_peers(extra: &str) -> Cluster {
    parse(&format!(
        r#"[cluster]
name = "sb-big"
target = "10.6.1"
profile = "any-order"
compat = "any"
failback = "never"

[kinds.node]
version = "epadmin --servicename={{host}} display node"
status = "epadmin --servicename={{host}} display node"
stop = "epadmin --servicename={{host}} stop node"
install = "install-kit {{version}}"
start = "epadmin --servicename={{host}} start node"

[kinds.node.parse]
version = {{ regex = 'Product Version = \D*(\d+\.\d+\.\d+\S*)' }}
role = {{ regex = 'Node State = (\S+)', map = {{ "Started" = "none", "Stopped" = "stopped" }}, default = "unknown" }}

[[groups]]
name = "trading"
type = "peer"
kind = "node"
{extra}
hosts = [
  {{ name = "a1", vars = {{ rack = "r1" }} }},
  {{ name = "b1", vars = {{ rack = "r2" }} }},
  {{ name = "a2", vars = {{ rack = "r1" }} }},
  {{ name = "a3", vars = {{ rack = "r1" }} }},
  {{ name = "b2", vars = {{ rack = "r2" }} }},
  {{ name = "a4", vars = {{ rack = "r1" }} }},
  {{ name = "b3", vars = {{ rack = "r2" }} }},
]
"#
    ))
}

fn racked_obs(stopped: &[&str]) -> Observed {
    let names = ["a1", "b1", "a2", "a3", "b2", "a4", "b3"];
    let rows: Vec<(&str, &str, &str, &str)> =
        names.iter().map(|n| (*n, "10.6.0", if stopped.contains(n) { "stopped" } else { "none" }, "n/a")).collect();
    observed(&rows)
}

fn batch_names(p: &Plan) -> Vec<Vec<String>> {
    p.batches.iter().map(|b| b.nodes.clone()).collect()
}

#[test]
fn batches_keep_the_quorum_and_never_span_two_racks() {
    // 50% of 7 is 3, but quorum 5 leaves room for only 2 down at once.
    let c = racked_peers("max_unavailable = \"50%\"\nbatch_by = \"rack\"\nquorum = 5");
    let p = run(&c, &racked_obs(&[]), "10.6.1", &RunContext::default()).unwrap();
    assert_eq!(
        batch_names(&p),
        vec![vec!["a1", "a2"], vec!["a3", "a4"], vec!["b1", "b2"], vec!["b3"]],
        "rack r1 first (listed first), then r2; never more than the quorum allows"
    );
    for b in &p.batches {
        let racks: std::collections::BTreeSet<String> =
            b.nodes.iter().map(|n| c.node(n).unwrap().1.vars["rack"].clone()).collect();
        assert_eq!(racks.len(), 1, "batch {:?} spans racks {racks:?}", b.nodes);
        assert_eq!(b.label.as_deref(), racks.iter().next().map(String::as_str));
    }
    // The whole batch is judged before any of it stops: each member's first step carries the
    // batch gate with the quorum, and no single-node PeersReady gate that the batch would break.
    for id in ["trading/a1/stop", "trading/a2/stop"] {
        let s = p.step(id).unwrap();
        assert_eq!(
            s.before,
            vec![Gate::BatchQuorum { group: "trading".into(), nodes: vec!["a1".into(), "a2".into()], min: 5 }]
        );
    }
    assert!(p.steps().all(|s| !s.before.iter().any(|g| matches!(g, Gate::PeersReady { .. }))));
    // One confirmation per node sequence; the executor asks once for the whole batch.
    assert_eq!(p.step("trading/a2/stop").unwrap().confirm, Confirm::Yes);
    assert_eq!(p.step("trading/a2/install").unwrap().confirm, Confirm::None);
    // The gate: open while the five others are up, blocked when one of them is down.
    let gate = &p.step("trading/a1/stop").unwrap().before[0];
    assert!(evaluate(gate, &c, &racked_obs(&[])).is_open());
    let blocked = evaluate(gate, &c, &racked_obs(&["b3"]));
    assert!(!blocked.is_open());
    assert!(
        blocked.text().contains("only 4 of trading outside the batch (a1, a2) are up; 5 must stay up"),
        "{}",
        blocked.text()
    );
    insta::assert_snapshot!("peer_batches_racks_quorum", render::to_text(&p));
}

#[test]
fn a_member_already_down_outside_the_batches_shrinks_them() {
    let c = racked_peers("max_unavailable = 3");
    // b3 was skipped and is down: it uses one of the three places.
    let ctx = RunContext { skipped_nodes: ["b3".to_string()].into(), ..Default::default() };
    let p = run(&c, &racked_obs(&["b3"]), "10.6.1", &ctx).unwrap();
    assert_eq!(batch_names(&p), vec![vec!["a1", "b1"], vec!["a2", "a3"], vec!["b2", "a4"]]);
    let s = p.step("trading/a1/stop").unwrap();
    assert_eq!(
        s.before,
        vec![Gate::BatchQuorum { group: "trading".into(), nodes: vec!["a1".into(), "b1".into()], min: 4 }]
    );
    // 7 members, at most 3 down: with b3 down and a batch of 2, 4 stay up.
    assert!(evaluate(&s.before[0], &c, &racked_obs(&["b3"])).is_open());
    assert!(p.batches[0].why_safe.contains("1 already down outside the batch"), "{}", p.batches[0].why_safe);
}

#[test]
fn without_max_unavailable_or_at_one_the_plan_is_one_at_a_time_as_before() {
    let plain = run(&racked_peers(""), &racked_obs(&[]), "10.6.1", &RunContext::default()).unwrap();
    let one = run(&racked_peers("max_unavailable = 1"), &racked_obs(&[]), "10.6.1", &RunContext::default()).unwrap();
    assert_eq!(render::to_text(&plain), render::to_text(&one));
    assert!(plain.batches.is_empty());
    assert!(plain.step("trading/a1/stop").unwrap().before.iter().any(|g| matches!(g, Gate::PeersReady { .. })));
    // Mid-batch (a1 stopped after a crash or a failure), the batch is formed again with a1 in it:
    // its remaining steps keep the batch gate and their confirmation.
    let c = racked_peers("max_unavailable = 2");
    let p = run(&c, &racked_obs(&["a1"]), "10.6.1", &RunContext::default()).unwrap();
    assert_eq!(batch_names(&p)[0], vec!["a1", "b1"]);
    let s = p.step("trading/a1/install").unwrap();
    assert_eq!(s.confirm, Confirm::Yes);
    assert!(matches!(&s.before[0], Gate::BatchQuorum { nodes, min: 5, .. } if nodes == &["a1", "b1"]));
}

#[test]
fn parallel_groups_say_which_groups_run_side_by_side_and_why_it_is_safe() {
    let text = std::fs::read_to_string(format!("{}/config/terracotta.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let c = parse(&text.replacen("[cluster]\n", "[cluster]\nparallel_groups = 2\n", 1));
    let p = run(&c, &terracotta_at("4.2.0"), "4.2.1", &RunContext::default()).unwrap();
    let plain = run(&load("terracotta"), &terracotta_at("4.2.0"), "4.2.1", &RunContext::default()).unwrap();
    // The steps, their order and their gates are those of one group at a time (R4, R5 per group).
    assert_eq!(ids(&p), ids(&plain));
    assert!(p.steps().zip(plain.steps()).all(|(a, b)| a.before == b.before && a.after == b.after));
    let lanes = p.lanes.as_ref().expect("lanes");
    assert_eq!((lanes.width, lanes.groups.clone()), (2, vec!["east".to_string(), "west".to_string()]));
    let note = p.notes.iter().find(|n| n.text.starts_with("side by side:")).unwrap();
    assert!(note.text.contains("server groups east, west share no member: up to 2 run side by side"), "{}", note.text);
    assert!(note.text.contains("never two members of one group at once"), "{}", note.text);
    assert!(render::to_text(&p).contains("R4 order: side by side: server groups east, west"));
    assert!(plain.lanes.is_none());
}
