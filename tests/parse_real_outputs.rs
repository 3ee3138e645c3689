//! The config's parsers over outputs saved from the real tools (tests/fixtures/outputs): Patroni's
//! REST `/cluster` and `patronictl list -f json`, etcd's `endpoint status -w json`, Redis
//! `INFO replication` and `CLUSTER NODES`. What an operator sees in the node table comes from
//! these: the right member of a cluster-wide listing, lags compared as numbers, eligibility,
//! and for broken output (malformed JSON, a missing member, a lag that is not a number) an
//! unknown fact with the reason, never a guess and never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rollpilot::config;
use rollpilot::model::*;
use rollpilot::probe::parse::observe;
use rollpilot::probe::script::ProbeOutput;
use std::collections::BTreeMap;
use std::path::Path;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/outputs/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A one-group cluster whose kind has `parse` as its parsers, hosts `hosts` (name, address).
fn cluster(parse: &str, hosts: &[(&str, &str)]) -> Cluster {
    cluster_of("server", parse, hosts)
}

/// The same with a group type (etcd members are peers with an elected leader).
fn cluster_of(gtype: &str, parse: &str, hosts: &[(&str, &str)]) -> Cluster {
    let hosts: Vec<String> = hosts.iter().map(|(n, a)| format!("{{ name = \"{n}\", address = \"{a}\" }}")).collect();
    let src = format!(
        r#"[cluster]
name = "t"
target = "3.5.9"
profile = "active-passive"

[kinds.server]
version = "tool --version"
status = "tool status"
install = "tool install {{version}}"
stop = "tool stop"

[kinds.server.parse]
{parse}

[[groups]]
name = "g"
type = "{gtype}"
kind = "server"
vars = {{ member = "pg-1" }}
hosts = [{}]
"#,
        hosts.join(", ")
    );
    config::parse_str(&src, "test.toml", Path::new(".")).unwrap_or_else(|e| panic!("{e}"))
}

fn observe_node(c: &Cluster, node: &str, version: &str, status: &str) -> NodeObs {
    let (g, n) = c.node(node).unwrap();
    let mut outs = BTreeMap::new();
    outs.insert(ProbeKind::Version, ProbeOutput { rc: Some(0), stdout: version.into(), stderr: String::new() });
    outs.insert(ProbeKind::Status, ProbeOutput { rc: Some(0), stdout: status.into(), stderr: String::new() });
    observe(c.kind_of(g).unwrap(), &c.vars_for(g, n), &outs)
}

const PATRONI: &str = r#"
role = { json = "$.members[?@.name=='{host}'].role", map = { "leader" = "active", "sync_standby" = "passive", "replica" = "passive" } }
sync = { json = "$.members[?@.name=='{host}'].lag", max = "1MiB" }
eligible = { json = "$.members[?@.name=='{host}' && @.tags.nofailover != true].role", map = { "sync_standby" = "yes", "replica" = "yes", "leader" = "yes" }, default = "no" }
"#;

const PG_HOSTS: &[(&str, &str)] = &[("pg-1", "10.0.0.11"), ("pg-2", "10.0.0.12"), ("pg-3", "10.0.0.13")];

#[test]
fn patroni_rest_cluster_gives_each_node_its_own_member() {
    let c = cluster(PATRONI, PG_HOSTS);
    let out = fixture("patroni-cluster.json");
    let leader = observe_node(&c, "pg-1", "3.5.9", &out);
    assert_eq!((leader.role, leader.sync, leader.error.as_deref()), (Role::Active, SyncState::NotApplicable, None));

    let sync = observe_node(&c, "pg-2", "3.5.9", &out);
    assert_eq!((sync.role, sync.sync), (Role::Passive, SyncState::InSync));
    assert_eq!(sync.sync_shown(), "in-sync (lag 0 B)");
    assert_eq!((sync.eligible, sync.eligible_detail.as_deref()), (Some(true), Some("sync_standby")));
    assert!(sync.can_take_over());

    // 4404019 bytes behind, over the 1 MiB threshold; tagged nofailover.
    let lagging = observe_node(&c, "pg-3", "3.5.9", &out);
    assert_eq!((lagging.role, lagging.sync), (Role::Passive, SyncState::Syncing));
    assert_eq!(lagging.sync_shown(), "syncing (lag 4.2 MiB)");
    assert_eq!(lagging.eligible, Some(false));
    assert!(lagging.error.is_none(), "{:?}", lagging.error);
}

#[test]
fn a_lag_that_is_not_a_number_is_unknown_with_the_reason() {
    let c = cluster(PATRONI, &PG_HOSTS[..2]);
    let o = observe_node(&c, "pg-2", "3.5.9", &fixture("patroni-cluster-lag-unknown.json"));
    assert_eq!((o.role, o.sync), (Role::Passive, SyncState::Unknown));
    let e = o.error.unwrap();
    assert!(e.contains("sync: lag `unknown` is not a number"), "{e}");
}

#[test]
fn malformed_json_is_unknown_with_the_reason_for_every_fact() {
    let c = cluster(PATRONI, PG_HOSTS);
    let o = observe_node(&c, "pg-2", "3.5.9", &fixture("patroni-cluster-truncated.json"));
    assert_eq!((o.role, o.sync, o.eligible), (Role::Unknown, SyncState::NotApplicable, None));
    let e = o.error.unwrap();
    assert!(e.contains("role: the output is not valid JSON (EOF while parsing"), "{e}");
    assert!(o.version.is_some(), "the version probe is read independently");
}

#[test]
fn a_member_missing_from_the_listing_is_unknown_with_the_reason() {
    let c = cluster(PATRONI, &[("pg-1", "10.0.0.11"), ("pg-9", "10.0.0.19")]);
    let o = observe_node(&c, "pg-9", "3.5.9", &fixture("patroni-cluster.json"));
    assert_eq!(o.role, Role::Unknown);
    let e = o.error.unwrap();
    assert!(
        e.contains("role: expected a value at JSONPath `$.members[?@.name=='{host}'].role` in the status output"),
        "{e}"
    );
}

#[test]
fn patronictl_list_json_with_lag_in_megabytes() {
    let c = cluster(
        r#"
role = { json = "$[?@.Member=='{host}'].Role", map = { "Leader" = "active", "Sync Standby" = "passive", "Replica" = "passive" } }
sync = { json = "$[?@.Member=='{host}']['Lag in MB']", max = "16" }
eligible = { json = "$[?@.Member=='{host}' && @.Tags.nofailover != true].Role", map = { "Sync Standby" = "yes", "Replica" = "yes", "Leader" = "yes" }, default = "no" }
"#,
        PG_HOSTS,
    );
    let out = fixture("patronictl-list.json");
    let o = observe_node(&c, "pg-2", "3.5.9", &out);
    assert_eq!((o.role, o.sync, o.eligible), (Role::Passive, SyncState::InSync, Some(true)));
    assert_eq!(o.sync_shown(), "in-sync (lag 0)");
    let o = observe_node(&c, "pg-3", "3.5.9", &out);
    assert_eq!((o.role, o.sync, o.eligible), (Role::Passive, SyncState::Syncing, Some(false)));
    assert_eq!(o.sync_shown(), "syncing (lag 42)");
    assert_eq!(observe_node(&c, "pg-1", "3.5.9", &out).role, Role::Active);
}

#[test]
fn etcd_leader_is_read_by_comparing_two_fields() {
    // The leader's own entry has leader == header.member_id; the path selects its endpoint.
    let c = cluster_of(
        "peer",
        r#"
version = { from = "status", json = "$[?@.Endpoint=='{address}:2379'].Status.version" }
role = { json = "$[?@.Endpoint=='{address}:2379' && @.Status.leader == @.Status.header.member_id].Endpoint", map = { "10.0.0.21:2379" = "leader", "10.0.0.22:2379" = "leader", "10.0.0.23:2379" = "leader" }, default = "follower" }
"#,
        &[("etcd-1", "10.0.0.21"), ("etcd-2", "10.0.0.22"), ("etcd-3", "10.0.0.23")],
    );
    let out = fixture("etcd-endpoint-status.json");
    assert_eq!(observe_node(&c, "etcd-1", "", &out).role, Role::Active);
    assert_eq!(observe_node(&c, "etcd-2", "", &out).role, Role::Passive);
    assert_eq!(observe_node(&c, "etcd-1", "", &out).version.unwrap().to_string(), "3.5.9");
    // The member not yet upgraded reports its own version, not the leader's.
    assert_eq!(observe_node(&c, "etcd-3", "", &out).version.unwrap().to_string(), "3.4.27");
}

const REDIS: &str = r#"
version = { regex = 'redis_version:(\S+)' }
role = { key = "role", map = { "master" = "active", "slave" = "passive" } }
sync = { key = "master_last_io_seconds_ago", max = 10 }
eligible = { key = "slave_priority", map = { "0" = "no" }, default = "yes" }
"#;

#[test]
fn redis_info_replication_numbers_and_priority_zero() {
    let c = cluster(REDIS, &[("r-1", "10.0.0.31"), ("r-2", "10.0.0.32")]);
    let up = observe_node(&c, "r-2", "redis_version:7.0.15\r\n", &fixture("redis-info-replication-replica.txt"));
    assert_eq!((up.role, up.sync, up.eligible), (Role::Passive, SyncState::InSync, Some(true)));
    assert_eq!(up.sync_shown(), "in-sync (lag 1)");
    // A full resync prints -1: not a lag rollpilot can compare, so unknown with the reason.
    let down = observe_node(&c, "r-2", "redis_version:7.0.15\r\n", &fixture("redis-info-replication-syncing.txt"));
    assert_eq!((down.role, down.sync, down.eligible), (Role::Passive, SyncState::Unknown, Some(false)));
    assert!(down.error.as_deref().unwrap().contains("`-1` is negative"), "{:?}", down.error);
}

#[test]
fn redis_cluster_nodes_reads_the_myself_line() {
    let c = cluster(
        r#"
version = { regex = 'redis_version:(\S+)' }
role = { regex = '(?m)^\S+ \S+ myself,(master|slave)', map = { "master" = "active", "slave" = "passive" } }
"#,
        &[("rc-1", "10.0.0.41")],
    );
    let o = observe_node(&c, "rc-1", "redis_version:7.2.4\n", &fixture("redis-cluster-nodes.txt"));
    assert_eq!(o.role, Role::Active);
    assert_eq!(o.state.as_deref(), Some("master"));
}

#[test]
fn a_host_name_with_quotes_cannot_break_out_of_the_selector() {
    // Host names are validated, but user variables are not: a value is always one string.
    let c = cluster(
        r#"
role = { json = "$.members[?@.name=='{member}'].role", map = { "leader" = "active", "replica" = "passive" } }
"#,
        &[("pg-1", "10.0.0.11")],
    );
    let (g, n) = c.node("pg-1").unwrap();
    let mut vars = c.vars_for(g, n);
    vars.insert("member".into(), "x' || @.role=='leader".into());
    let mut outs = BTreeMap::new();
    outs.insert(
        ProbeKind::Status,
        ProbeOutput { rc: Some(0), stdout: fixture("patroni-cluster.json"), stderr: String::new() },
    );
    let o = observe(c.kind_of(g).unwrap(), &vars, &outs);
    assert_eq!(o.role, Role::Unknown, "the injected selector must not match the leader");
}

#[test]
fn cockroach_cluster_version_is_read_as_the_finalized_series() {
    let c = config::load(Path::new(&format!("{}/config/cockroachdb.toml", env!("CARGO_MANIFEST_DIR")))).unwrap();
    let (g, n) = c.node("crdb-1").unwrap();
    let mut outs = BTreeMap::new();
    let ok = |s: &str| ProbeOutput { rc: Some(0), stdout: s.into(), stderr: String::new() };
    outs.insert(ProbeKind::Version, ok("v24.1.6\n"));
    outs.insert(ProbeKind::Status, ok("version\n23.2\n"));
    outs.insert(ProbeKind::Health, ok("{}\n"));
    let o = observe(c.kind_of(g).unwrap(), &c.vars_for(g, n), &outs);
    assert_eq!(o.version.unwrap().to_string(), "24.1.6");
    assert_eq!(o.finalized.unwrap().to_string(), "23.2.0", "{:?}", o.error);
}
