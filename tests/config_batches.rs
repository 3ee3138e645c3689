//! The batch keys (`max_unavailable`, `batch_by`, `max_failures`): every bad value is refused
//! with `file:line:col`, the field, and what is allowed; good values load as written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rollpilot::config::parse_str;
use rollpilot::model::MaxUnavailable;
use std::path::Path;

fn src(profile: &str, gtype: &str, keys: &str) -> String {
    format!(
        r#"[cluster]
name = "sb"
target = "10.6.1"
profile = "{profile}"
compat = "any"

[kinds.node]
version = "epadmin display node"
status = "epadmin display node"
stop = "epadmin stop node"
install = "install-kit {{version}}"
start = "epadmin start node"

[kinds.node.parse]
version = {{ regex = 'Version = (\S+)' }}
role = {{ regex = 'State = (\S+)', map = {{ "Started" = "none", "Stopped" = "stopped" }}, default = "unknown" }}
sync = {{ regex = 'Sync = (\S+)', default = "n/a" }}

[[groups]]
name = "trading"
type = "{gtype}"
kind = "node"
{keys}
hosts = [
  {{ name = "sb-1", vars = {{ rack = "r1" }} }},
  {{ name = "sb-2", vars = {{ rack = "r1" }} }},
  {{ name = "sb-3" }},
  {{ name = "sb-4", vars = {{ rack = "r2" }} }},
]
"#
    )
}

/// The one error of `keys` must point at the line holding `marker` and say `says`.
fn refused(profile: &str, gtype: &str, keys: &str, marker: &str, field: &str, says: &str) {
    let text = src(profile, gtype, keys);
    let es = match parse_str(&text, "cluster.toml", Path::new(".")) {
        Ok(_) => panic!("should be refused: {keys}"),
        Err(e) => e.0,
    };
    let line = text.lines().position(|l| l.contains(marker)).unwrap() + 1;
    let e = es
        .iter()
        .find(|e| e.field.contains(field))
        .unwrap_or_else(|| panic!("no error on {field}: {:#?}", es.iter().map(|e| e.to_string()).collect::<Vec<_>>()));
    let shown = e.to_string();
    assert_eq!(e.line, line, "{shown}");
    assert!(shown.starts_with(&format!("cluster.toml:{line}:{}: ", e.col)), "{shown}");
    assert!(e.col > 1, "{shown}");
    assert!(e.message.contains(says), "{shown} lacks {says:?}");
}

#[test]
fn bad_batch_values_are_located_and_say_what_is_allowed() {
    let allowed =
        "allowed: a whole number of members from 1 (max_unavailable = 5) or a percentage of the group from 1% to 100%";
    for bad in ["max_unavailable = 0", "max_unavailable = -2", "max_unavailable = 5000"] {
        refused("any-order", "peer", bad, bad, "groups[0].max_unavailable", "is out of range; allowed");
    }
    for bad in [
        "max_unavailable = \"20\"",
        "max_unavailable = \"0%\"",
        "max_unavailable = \"150%\"",
        "max_unavailable = \"lots\"",
        "max_unavailable = 2.5",
        "max_unavailable = true",
    ] {
        refused("any-order", "peer", bad, bad, "groups[0].max_unavailable", allowed);
    }
    // Groups whose members are not peers, nor passives, go one at a time.
    refused(
        "active-passive",
        "client",
        "max_unavailable = 2",
        "max_unavailable = 2",
        "groups[0].max_unavailable",
        "applies to peer groups, server groups of the any-order profile, and the passives of server groups with an active",
    );
    refused(
        "any-order",
        "peer",
        "max_unavailable = 2\nbatch_by = \"rack\"",
        "batch_by",
        "groups[0].batch_by",
        "every host of the group needs the variable `rack`",
    );
    refused(
        "any-order",
        "peer",
        "max_unavailable = 2\nbatch_by = \"rack\"",
        "batch_by",
        "groups[0].batch_by",
        "missing on: sb-3",
    );
    refused("any-order", "peer", "batch_by = \"zone\"", "batch_by", "groups[0].batch_by", "needs `max_unavailable`");
    refused(
        "any-order",
        "peer",
        "max_unavailable = 2\nbatch_by = \"rack zone\"",
        "batch_by",
        "groups[0].batch_by",
        "is not a variable name",
    );
    refused("any-order", "peer", "max_failures = -1", "max_failures", "groups[0].max_failures", "allowed 0 to 1000");
    refused(
        "any-order",
        "peer",
        "max_unavailable = 2\nmax_failures = 4",
        "max_failures",
        "groups[0].max_failures",
        "allowed 0 to 3",
    );
    refused(
        "any-order",
        "peer",
        "max_failures = 1",
        "max_failures",
        "groups[0].max_failures",
        "needs `max_unavailable`",
    );
    refused(
        "active-passive",
        "server",
        "max_failures = 1",
        "max_failures",
        "groups[0].max_failures",
        "applies to peer groups",
    );
}

#[test]
fn good_batch_values_load() {
    let c =
        parse_str(&src("any-order", "server", "max_unavailable = \"50%\"\nmax_failures = 1"), "c.toml", Path::new("."))
            .unwrap();
    let g = &c.groups[0];
    assert_eq!(g.max_unavailable, Some(MaxUnavailable::Percent(50)));
    assert_eq!(g.max_unavailable.unwrap().resolve(4), 2);
    assert_eq!(MaxUnavailable::Percent(10).resolve(4), 1, "rounded down, at least one");
    assert_eq!(g.max_failures, 1);
    let c = parse_str(&src("any-order", "peer", ""), "c.toml", Path::new(".")).unwrap();
    assert_eq!((c.groups[0].max_unavailable, c.groups[0].max_failures, c.groups[0].batch_by.clone()), (None, 0, None));
}

#[test]
fn bad_parallel_groups_are_located() {
    for (bad, says) in
        [("parallel_groups = 0", "is out of range; allowed 1 to 64"), ("parallel_groups = 100", "allowed 1 to 64")]
    {
        let text = src("active-passive", "server", "").replacen(
            "compat = \"any\"\n",
            &format!("compat = \"any\"\n{bad}\n"),
            1,
        );
        let es = parse_str(&text, "cluster.toml", Path::new(".")).err().unwrap().0;
        let e = es.iter().find(|e| e.field == "cluster.parallel_groups").unwrap();
        assert_eq!(e.line, 6, "{e}");
        assert!(e.to_string().starts_with("cluster.toml:6:"), "{e}");
        assert!(e.message.contains(says), "{e}");
    }
    let text =
        src("any-order", "peer", "").replacen("compat = \"any\"\n", "compat = \"any\"\nparallel_groups = 2\n", 1);
    let es = parse_str(&text, "cluster.toml", Path::new(".")).err().unwrap().0;
    assert!(
        es.iter().any(|e| e.field == "cluster.parallel_groups" && e.message.contains("use max_unavailable")),
        "{es:?}"
    );
}

#[test]
fn a_server_group_with_an_active_batches_its_passives_only_when_it_has_enough_of_them() {
    // One active and three passives: two passives at a time, one in sync stays beside the active.
    for profile in ["active-passive", "terracotta"] {
        let c = parse_str(&src(profile, "server", "max_unavailable = 2"), "cluster.toml", Path::new("."))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.groups[0].max_unavailable, Some(MaxUnavailable::Count(2)));
    }
    // Three hosts leave two passives, one of which must stay outside every batch: nothing to batch.
    let three = src("active-passive", "server", "max_unavailable = 2")
        .replace("  {{ name = \"sb-4\", vars = {{ rack = \"r2\" }} }},\n", "");
    let three = three.replace("  { name = \"sb-4\", vars = { rack = \"r2\" } },\n", "");
    let es = parse_str(&three, "cluster.toml", Path::new(".")).unwrap_err().0;
    let line = three.lines().position(|l| l.contains("max_unavailable = 2")).unwrap() + 1;
    let e = es.iter().find(|e| e.field == "groups[0].max_unavailable").unwrap();
    assert_eq!(
        e.to_string(),
        format!(
            "cluster.toml:{line}:19: groups[0].max_unavailable: batches the passives of a server group with an active, keeping the active and one in-sync passive outside every batch (R5); with 3 hosts there are not two passives to batch: allowed on a group of at least 4 hosts (one active, three passives or more)"
        )
    );
    // Batches of passives and groups side by side are one or the other.
    let both = src("active-passive", "server", "max_unavailable = 2")
        .replace("compat = \"any\"\n", "compat = \"any\"\nparallel_groups = 2\n");
    let es = parse_str(&both, "cluster.toml", Path::new(".")).unwrap_err().0;
    let e = es.iter().find(|e| e.field == "groups[0].max_unavailable").unwrap();
    assert!(e.message.contains("cluster.parallel_groups cannot be combined"), "{e}");
    // A failed passive always asks: max_failures stays a peer-group key.
    refused(
        "active-passive",
        "server",
        "max_unavailable = 2\nmax_failures = 1",
        "max_failures",
        "groups[0].max_failures",
        "a failed passive of a server group with an active always asks (R11)",
    );
}
