//! Malformed configs: each error must name the file, the line (where the mistake is), the field,
//! and say what is allowed — an operator fixes the file from the message alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rollpilot::config::{ConfigError, parse_str};
use std::path::Path;

const BASE: &str = r#"[cluster]
name = "prod"
target = "4.2.1"
profile = "terracotta"

[ssh]
user = "tc"
parallelism = 16
connect_timeout = "10s"

[timeouts]
probe = "15s"

[lock]
host = "tc-1"

[vars]
home = "/opt/tc"

[kinds.server]
version = "{home}/bin/version.sh"
status = "{home}/bin/server-stat.sh -n {host}"
stop = "{home}/bin/stop.sh -n {host}"
install = "{home}/bin/install.sh {version}"
start = "{home}/bin/start.sh -n {host}"

[kinds.server.parse]
version = { regex = 'Terracotta \S+ (\S+)' }
role = { regex = 'state: (\S+)', map = { "ACTIVE-COORDINATOR" = "active", "PASSIVE-STANDBY" = "passive" } }
sync = { regex = 'state: (\S+)', map = { "PASSIVE-STANDBY" = "in-sync" } }

[kinds.client]
version = "{home}/bin/version.sh"
stop = "{home}/bin/stop-client.sh"
install = "{home}/bin/install.sh {version}"
start = "{home}/bin/start-client.sh"

[kinds.orchestrator]
version = "{home}/bin/version.sh"
stop = "{home}/bin/stop-wan.sh"
install = "{home}/bin/install.sh {version}"
start = "{home}/bin/start-wan.sh"

[[groups]]
name = "east"
type = "server"
hosts = ["tc-1", "tc-2"]

[[groups]]
name = "apps"
type = "client"
servers = "east"
hosts = ["app-1"]

[[groups]]
name = "wan"
type = "orchestrator"
hosts = [{ name = "wan-1", role = "master" }]
"#;

fn errors(src: &str) -> Vec<ConfigError> {
    match parse_str(src, "cluster.toml", Path::new("/etc/rollpilot")) {
        Ok(_) => panic!("config should be refused:\n{src}"),
        Err(e) => e.0,
    }
}

/// Applies `from → to` to the base config, expects an error on the line holding `to`'s marker.
struct Case {
    name: &'static str,
    from: &'static str,
    to: &'static str,
    /// Text on the line the error must point at (defaults to the first line of `to`).
    at: Option<&'static str>,
    field: &'static str,
    says: &'static str,
}

fn check(c: &Case) {
    assert!(BASE.contains(c.from), "{}: base lacks {:?}", c.name, c.from);
    let src = BASE.replacen(c.from, c.to, 1);
    let es = errors(&src);
    let marker = c.at.unwrap_or_else(|| c.to.lines().find(|l| !l.trim().is_empty()).unwrap());
    let line = src
        .lines()
        .position(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("{}: marker {marker:?} not found", c.name))
        + 1;
    let e = es.iter().find(|e| e.field.contains(c.field)).unwrap_or_else(|| {
        panic!(
            "{}: no error on field {:?}; got: {:#?}",
            c.name,
            c.field,
            es.iter().map(|e| e.to_string()).collect::<Vec<_>>()
        )
    });
    assert_eq!(e.line, line, "{}: wrong line in {e}", c.name);
    assert!(e.col >= 1);
    assert!(e.message.contains(c.says), "{}: message {:?} lacks {:?}", c.name, e.message, c.says);
    let shown = e.to_string();
    assert!(shown.starts_with(&format!("cluster.toml:{line}:{}: ", e.col)), "{}: {shown}", c.name);
    assert!(shown.contains(c.field), "{}: {shown}", c.name);
}

#[test]
fn every_malformed_config_is_located_and_explained() {
    let cases = [
        Case {
            name: "typo'd field",
            from: "target = \"4.2.1\"",
            to: "tagret = \"4.2.1\"",
            at: None,
            field: "cluster",
            says: "unknown field `tagret`",
        },
        Case {
            name: "typo suggestion",
            from: "parallelism = 16",
            to: "paralelism = 16",
            at: None,
            field: "ssh",
            says: "did you mean `parallelism`?",
        },
        Case {
            name: "short version",
            from: "target = \"4.2.1\"",
            to: "target = \"4.2\"",
            at: None,
            field: "cluster.target",
            says: "major.minor.patch",
        },
        Case {
            name: "unknown profile",
            from: "profile = \"terracotta\"",
            to: "profile = \"terracota\"",
            at: None,
            field: "cluster.profile",
            says: "terracotta",
        },
        Case {
            name: "bad duration",
            from: "probe = \"15s\"",
            to: "probe = \"15 sec later\"",
            at: None,
            field: "timeouts.probe",
            says: "not a duration",
        },
        Case {
            name: "duration without unit",
            from: "connect_timeout = \"10s\"",
            to: "connect_timeout = \"10\"",
            at: None,
            field: "ssh.connect_timeout",
            says: "without a unit",
        },
        Case {
            name: "port out of range",
            from: "user = \"tc\"",
            to: "user = \"tc\"\nport = 70000",
            at: Some("port = 70000"),
            field: "ssh.port",
            says: "expected a port number from 1 to 65535",
        },
        Case {
            name: "parallelism zero",
            from: "parallelism = 16",
            to: "parallelism = 0",
            at: None,
            field: "ssh.parallelism",
            says: "out of range",
        },
        Case {
            name: "duplicate host",
            from: "hosts = [\"app-1\"]",
            to: "hosts = [\"tc-2\"]",
            at: None,
            field: "groups[1].hosts[0]",
            says: "already listed at line",
        },
        Case {
            name: "shell characters in a host",
            from: "hosts = [\"tc-1\", \"tc-2\"]",
            to: "hosts = [\"tc-1\", \"tc-2;reboot\"]",
            at: None,
            field: "groups[0].hosts[1]",
            says: "not a valid host name",
        },
        Case {
            name: "host name starting with a dash",
            from: "hosts = [\"app-1\"]",
            to: "hosts = [{ name = \"-oProxyCommand=x\" }]",
            at: None,
            field: "groups[1].hosts[0].name",
            says: "not starting with `-`",
        },
        Case {
            name: "unknown template variable",
            from: "install = \"{home}/bin/install.sh {version}\"\nstart = \"{home}/bin/start.sh -n {host}\"",
            to: "install = \"{home}/bin/install.sh {kitdir}\"\nstart = \"{home}/bin/start.sh -n {host}\"",
            at: Some("{kitdir}"),
            field: "kinds.server.install",
            says: "uses `{kitdir}`, which has no value for host `tc-1`",
        },
        Case {
            name: "quoted placeholder",
            from: "stop = \"{home}/bin/stop.sh -n {host}\"",
            to: "stop = \"{home}/bin/stop.sh -n '{host}'\"",
            at: None,
            field: "kinds.server.stop",
            says: "inside quotes",
        },
        Case {
            name: "unclosed brace",
            from: "start = \"{home}/bin/start.sh -n {host}\"",
            to: "start = \"{home}/bin/start.sh -n {host\"",
            at: None,
            field: "kinds.server.start",
            says: "not closed",
        },
        Case {
            name: "bad regex",
            from: "version = { regex = 'Terracotta \\S+ (\\S+)' }",
            to: "version = { regex = 'Terracotta (\\S+' }",
            at: None,
            field: "kinds.server.parse.version.regex",
            says: "not a valid regex",
        },
        Case {
            name: "bad role word",
            from: "\"ACTIVE-COORDINATOR\" = \"active\"",
            to: "\"ACTIVE-COORDINATOR\" = \"actve\"",
            at: None,
            field: "kinds.server.parse.role.map",
            says: "not a role",
        },
        Case {
            name: "group of an unknown kind",
            from: "type = \"server\"\nhosts",
            to: "type = \"server\"\nkind = \"tsa\"\nhosts",
            at: Some("kind = \"tsa\""),
            field: "groups[0].kind",
            says: "no [kinds.tsa] table",
        },
        Case {
            name: "clients of an unknown group",
            from: "servers = \"east\"",
            to: "servers = \"esat\"",
            at: None,
            field: "groups[1].servers",
            says: "not a server group",
        },
        Case {
            name: "orchestrator without role",
            from: "hosts = [{ name = \"wan-1\", role = \"master\" }]",
            to: "hosts = [{ name = \"wan-1\" }]",
            at: None,
            field: "groups[2].hosts[0].role",
            says: "role = \"master\"",
        },
        Case {
            name: "lock on a foreign host",
            from: "host = \"tc-1\"",
            to: "host = \"tc-9\"",
            at: None,
            field: "lock.host",
            says: "not a host of this cluster",
        },
        Case {
            name: "batch on servers",
            from: "type = \"server\"\nhosts",
            to: "type = \"server\"\nbatch = 2\nhosts",
            at: Some("batch = 2"),
            field: "groups[0].batch",
            says: "only client groups",
        },
        Case {
            name: "built-in variable overridden",
            from: "home = \"/opt/tc\"",
            to: "home = \"/opt/tc\"\nversion = \"9.9.9\"",
            at: Some("version = \"9.9.9\""),
            field: "vars.version",
            says: "filled in by rollpilot",
        },
        Case {
            name: "unknown group type",
            from: "type = \"client\"",
            to: "type = \"clients\"",
            at: None,
            field: "groups",
            says: "unknown variant `clients`",
        },
        Case {
            name: "unknown host key policy",
            from: "user = \"tc\"",
            to: "user = \"tc\"\nhost_key_policy = \"no\"",
            at: Some("host_key_policy"),
            field: "ssh.host_key_policy",
            says: "unknown variant `no`",
        },
    ];
    for c in &cases {
        check(c);
    }
    assert!(cases.len() >= 15);
}

#[test]
fn json_escaped_message_is_readable() {
    // The orchestrator-role message quotes TOML; make sure what we show is the real text.
    let src = BASE.replacen("hosts = [{ name = \"wan-1\", role = \"master\" }]", "hosts = [{ name = \"wan-1\" }]", 1);
    let es = errors(&src);
    assert!(es.iter().any(|e| e.message.contains("role = \"master\"")), "{es:#?}");
}

#[test]
fn server_group_needs_role_and_sync_parsers_under_terracotta() {
    let src = BASE.replacen("role = { regex = 'state: (\\S+)', map = { \"ACTIVE-COORDINATOR\" = \"active\", \"PASSIVE-STANDBY\" = \"passive\" } }\n", "", 1);
    let es = errors(&src);
    assert!(
        es.iter().any(|e| e.field == "kinds.server.parse.role" && e.message.contains("must read each node's role")),
        "{es:#?}"
    );
}

#[test]
fn several_errors_are_reported_together() {
    let src = BASE.replacen("parallelism = 16", "parallelism = 0", 1).replacen("probe = \"15s\"", "probe = \"x\"", 1);
    let es = errors(&src);
    assert!(es.len() >= 2, "{es:#?}");
    assert!(es.windows(2).all(|w| w[0].line <= w[1].line), "sorted by line");
}

#[test]
fn valid_base_loads_and_relative_paths_resolve_against_the_config() {
    let src = BASE.replacen("user = \"tc\"", "user = \"tc\"\nidentity = \"keys/id_ed25519\"", 1);
    let c = parse_str(&src, "cluster.toml", Path::new("/etc/rollpilot")).unwrap();
    assert_eq!(c.ssh.identity.as_deref(), Some(Path::new("/etc/rollpilot/keys/id_ed25519")));
    assert_eq!(c.lock.node, "tc-1");
    assert_eq!(c.groups.len(), 3);
}

#[test]
fn caret_display_points_at_the_column() {
    let src = BASE.replacen("target = \"4.2.1\"", "target = \"4.2\"", 1);
    let e = errors(&src).remove(0);
    let shown = e.render_with_source();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 3, "{shown}");
    let caret = lines[2].find('^').unwrap();
    let quote = lines[1].find('"').unwrap();
    assert_eq!(caret, quote, "caret under the value:\n{shown}");
}

const SYNC_LINE: &str = r#"sync = { regex = 'state: (\S+)', map = { "PASSIVE-STANDBY" = "in-sync" } }"#;
const STOP_LINE: &str = r#"stop = "{home}/bin/stop.sh -n {host}""#;

#[test]
fn new_parser_and_kind_fields_are_located_and_say_what_is_allowed() {
    let cases = [
        Case {
            name: "JSONPath that does not parse",
            from: SYNC_LINE,
            to: r#"sync = { json = "$.members[?@.name=='{host}'", max = "1MiB" }"#,
            at: None,
            field: "kinds.server.parse.sync.json",
            says: "is not a valid JSONPath (RFC 9535",
        },
        Case {
            name: "JSONPath with a variable that has no value",
            from: SYNC_LINE,
            to: r#"sync = { json = "$.members[?@.name=='{member}'].lag", max = "1MiB" }"#,
            at: None,
            field: "kinds.server.parse.sync.json",
            says: "uses `{member}`, which has no value when probing; allowed: cluster, host, address",
        },
        Case {
            name: "two ways to find one value",
            from: SYNC_LINE,
            to: r#"sync = { json = "$.lag", key = "lag", max = "1MiB" }"#,
            at: None,
            field: "kinds.server.parse.sync.json",
            says: "give one of `regex`, `key` or `json`, not several",
        },
        Case {
            name: "threshold with an unknown unit",
            from: SYNC_LINE,
            to: r#"sync = { key = "lag", max = "1 parsec" }"#,
            at: None,
            field: "kinds.server.parse.sync.max",
            says: "`parsec` in `1 parsec` is not a unit; allowed: B, KiB, MiB, GiB, TiB, KB, MB, GB, TB, or a plain number",
        },
        Case {
            name: "negative threshold",
            from: SYNC_LINE,
            to: r#"sync = { key = "lag", max = -5 }"#,
            at: None,
            field: "kinds.server.parse.sync.max",
            says: "is negative",
        },
        Case {
            name: "threshold and map together",
            from: SYNC_LINE,
            to: r#"sync = { key = "lag", max = "1MiB", map = { "0" = "in-sync" } }"#,
            at: None,
            field: "kinds.server.parse.sync.max",
            says: "give either `max` (the value is a number compared with it) or `map`",
        },
        Case {
            name: "threshold on a word fact",
            from: SYNC_LINE,
            to: &*Box::leak(
                format!("{SYNC_LINE}\nhealth = {{ from = \"status\", key = \"lag\", max = 10 }}").into_boxed_str(),
            ),
            at: Some("health = {"),
            field: "kinds.server.parse.health.max",
            says: "a threshold applies to the sync parser only",
        },
        Case {
            name: "eligible word",
            from: SYNC_LINE,
            to: &*Box::leak(
                format!("{SYNC_LINE}\neligible = {{ key = \"slave_priority\", map = {{ \"0\" = \"never\" }} }}")
                    .into_boxed_str(),
            ),
            at: Some("eligible = {"),
            field: "kinds.server.parse.eligible.map.0",
            says: "`never` is not a eligible; allowed: yes (true, eligible), no (false, ineligible), unknown",
        },
        Case {
            name: "every role word is listed",
            from: r#""PASSIVE-STANDBY" = "passive" }"#,
            to: r#""PASSIVE-STANDBY" = "sync_standby" }"#,
            at: None,
            field: "kinds.server.parse.role.map.PASSIVE-STANDBY",
            says: "allowed: active (master, primary, leader, online), passive (standby, mirror, replica, slave, secondary, follower), stopped (down, offline), unknown, none (peer, client, running, -)",
        },
        Case {
            name: "every sync word is listed",
            from: r#"map = { "PASSIVE-STANDBY" = "in-sync" }"#,
            to: r#"map = { "PASSIVE-STANDBY" = "streaming" }"#,
            at: None,
            field: "kinds.server.parse.sync.map.PASSIVE-STANDBY",
            says: "allowed: in-sync (insync, synced, yes, up), syncing (catching-up, uninitialized), out-of-sync (no, down), unknown, n/a (not-applicable, none, -)",
        },
        Case {
            name: "running version read from a probe the kind does not run",
            from: SYNC_LINE,
            to: &*Box::leak(
                format!("{SYNC_LINE}\nrunning_version = {{ from = \"health\", regex = '(\\S+)' }}").into_boxed_str(),
            ),
            at: Some("running_version = {"),
            field: "kinds.server.parse.running_version.from",
            says: "reads the `health` probe, but kinds.server has no `health` command",
        },
        Case {
            name: "peer choice",
            from: STOP_LINE,
            to: &*Box::leak(format!("{STOP_LINE}\npeer = \"manager\"").into_boxed_str()),
            at: Some("peer = \"manager\""),
            field: "kinds.server.peer",
            says: "`manager` is not a peer choice; allowed: \"auto\" (the cluster manager picks the node that takes over), or leave it out",
        },
        Case {
            name: "{peer} under peer = auto",
            from: STOP_LINE,
            to: &*Box::leak(
                format!("{STOP_LINE}\npeer = \"auto\"\nswitchover = \"{{home}}/bin/switch.sh --to {{peer}}\"")
                    .into_boxed_str(),
            ),
            at: Some("switchover = "),
            field: "kinds.server.switchover",
            says: "uses `{peer}`, but kinds.server sets peer = \"auto\"",
        },
        Case {
            name: "working directory",
            from: STOP_LINE,
            to: &*Box::leak(format!("{STOP_LINE}\nworkdir = \"opt/tc\"").into_boxed_str()),
            at: Some("workdir = "),
            field: "kinds.server.workdir",
            says: "`opt/tc` is not a usable working directory; allowed: an absolute path",
        },
        Case {
            name: "compat values",
            from: "profile = \"terracotta\"",
            to: "profile = \"terracotta\"\ncompat = \"one-major\"",
            at: Some("compat = "),
            field: "cluster",
            says: "`same-minor`, `one-minor`, `same-major`",
        },
    ];
    for c in &cases {
        check(c);
    }
}

#[test]
fn peer_placeholder_under_auto_points_at_its_column() {
    let src = BASE.replacen(
        STOP_LINE,
        &format!("{STOP_LINE}\npeer = \"auto\"\nswitchover = \"{{home}}/bin/switch.sh --to {{peer}}\""),
        1,
    );
    let es = errors(&src);
    let e = es.iter().find(|e| e.field == "kinds.server.switchover").unwrap();
    let line = src.lines().nth(e.line - 1).unwrap();
    assert_eq!(&line[e.col - 1..e.col - 1 + "{peer}".len()], "{peer}", "{e}");
}

#[test]
fn the_notify_hook_is_read_and_checked() {
    let ok = BASE.replacen("[vars]", "[notify]\ncommand = \"cat >> /tmp/n\"\ntimeout = \"3s\"\n\n[vars]", 1);
    let c = parse_str(&ok, "cluster.toml", Path::new("/etc/rollpilot")).unwrap();
    let n = c.notify.unwrap();
    assert_eq!((n.command.as_str(), n.timeout), ("cat >> /tmp/n", std::time::Duration::from_secs(3)));
    assert!(parse_str(BASE, "cluster.toml", Path::new("/etc/rollpilot")).unwrap().notify.is_none());
    check(&Case {
        name: "empty notify command",
        from: "[vars]",
        to: "[notify]\ncommand = \"  \"\n\n[vars]",
        at: Some("command = "),
        field: "notify.command",
        says: "shell command",
    });
    check(&Case {
        name: "bad notify timeout",
        from: "[vars]",
        to: "[notify]\ncommand = \"true\"\ntimeout = \"soon\"\n\n[vars]",
        at: Some("timeout = \"soon\""),
        field: "notify.timeout",
        says: "",
    });
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[test]
fn run_level_steps_and_the_point_of_no_return_are_located_and_explained() {
    let cases = [
        Case {
            name: "before without restore",
            from: STOP_LINE,
            to: leak(format!("{STOP_LINE}\nbefore = \"{{home}}/bin/freeze.sh\"")),
            at: Some("before = "),
            field: "kinds.server.before",
            says: "is set but kinds.server.restore is missing",
        },
        Case {
            name: "restore without before",
            from: STOP_LINE,
            to: leak(format!("{STOP_LINE}\nrestore = \"{{home}}/bin/thaw.sh\"")),
            at: Some("restore = "),
            field: "kinds.server.restore",
            says: "a restore undoes a `before` step",
        },
        Case {
            name: "drain without undrain",
            from: STOP_LINE,
            to: leak(format!("{STOP_LINE}\ndrain = \"{{home}}/bin/drain.sh\"")),
            at: Some("drain = "),
            field: "kinds.server.drain",
            says: "is set but kinds.server.undrain is missing",
        },
        Case {
            name: "undrain without drain",
            from: STOP_LINE,
            to: leak(format!("{STOP_LINE}\nundrain = \"{{home}}/bin/undrain.sh\"")),
            at: Some("undrain = "),
            field: "kinds.server.undrain",
            says: "an undrain puts back a node drained",
        },
        Case {
            name: "unknown point of no return",
            from: STOP_LINE,
            to: leak(format!("{STOP_LINE}\npoint_of_no_return = \"last-node\"")),
            at: Some("point_of_no_return = "),
            field: "kinds.server.point_of_no_return",
            says: "`last-node` is not a point of no return; allowed: \"finalize\"",
        },
        Case {
            name: "finalize as the point without a finalize command",
            from: STOP_LINE,
            to: leak(format!("{STOP_LINE}\npoint_of_no_return = \"finalize\"")),
            at: Some("point_of_no_return = "),
            field: "kinds.server.point_of_no_return",
            says: "kinds.server.finalize is missing",
        },
        Case {
            name: "undefined variable in preflight",
            from: STOP_LINE,
            to: leak(format!("{STOP_LINE}\npreflight = \"test -f {{kits}}/x-{{version}}.tgz\"")),
            at: Some("preflight = "),
            field: "kinds.server.preflight",
            says: "kits",
        },
        Case {
            name: "quoted placeholder in finalize",
            from: STOP_LINE,
            to: leak(format!("{STOP_LINE}\nfinalize = \"fcv '{{version}}'\"")),
            at: Some("finalize = "),
            field: "kinds.server.finalize",
            says: "quote",
        },
        Case {
            name: "finalized parser reading a probe the kind lacks",
            from: "sync = { regex = 'state: (\\S+)', map = { \"PASSIVE-STANDBY\" = \"in-sync\" } }",
            to: "sync = { regex = 'state: (\\S+)', map = { \"PASSIVE-STANDBY\" = \"in-sync\" } }\nfinalized = { from = \"health\", regex = '^(\\d+\\.\\d+)' }",
            at: Some("finalized = "),
            field: "kinds.server.parse.finalized.from",
            says: "reads the `health` probe, but kinds.server has no `health` command",
        },
        Case {
            name: "typo'd run-level key",
            from: STOP_LINE,
            to: leak(format!("{STOP_LINE}\ncluster_heath = \"true\"")),
            at: Some("cluster_heath"),
            field: "kinds",
            says: "did you mean `cluster_health`?",
        },
    ];
    for c in &cases {
        check(c);
    }
}
