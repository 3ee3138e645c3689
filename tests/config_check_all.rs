//! `rollpilot check` reports every mistake of a config file in one pass, each at its
//! `file:line:col` with what is allowed: a value of the wrong type no longer hides the mistakes
//! after it, and a key removed for being wrong is not reported a second time as missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn rollpilot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rollpilot")).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

const MANY_MISTAKES: &str = r#"[cluster]
name = "prod"
target = "4.2.1"
profile = "active-passive"
failback = "sometimes"

[ssh]
user = "tc"
parallelism = "sixteen"
port = 99999

[timeouts]
probe = "15 parsecs"
switchover = 12

[kinds.server]
version = "v"
status = "s"
install = "i {version}"
stop = "stop"
start = "start"
tagret = "x"
takeover = "newest"
switchover_refused = ["not possible", ""]

[kinds.server.parse]
role = { regex = 'role=(\S+)' }
sync = { regex = 'sync=(\S+)' }

[[groups]]
name = "east"
type = "server"
kind = "server"
hosts = ["tc-1", "tc-2"]
quorum = "two"
"#;

#[test]
fn every_mistake_is_reported_in_one_pass_at_its_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("many.toml");
    std::fs::write(&path, MANY_MISTAKES).unwrap();
    let p = path.to_str().unwrap();
    let o = rollpilot(&["check", "-c", p]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    let expect = [
        (5, 12, "cluster.failback: unknown variant `sometimes`, expected one of `ask`, `always`, `never`"),
        (9, 15, "ssh.parallelism: invalid type: string \"sixteen\", expected a whole number"),
        (10, 8, "ssh.port: invalid value: integer `99999`, expected a port number from 1 to 65535"),
        (13, 9, "timeouts.probe: `15 parsecs` is not a duration"),
        (14, 14, "timeouts.switchover: invalid type: integer `12`, expected a quoted string"),
        (22, 1, "kinds.server.tagret: unknown field `tagret`"),
        (23, 12, "kinds.server.takeover: `newest` is not a takeover rule; allowed: \"any\""),
        (24, 39, "kinds.server.switchover_refused[1]: an empty word would match every output"),
        (35, 10, "quorum: invalid type: string \"two\", expected a whole number"),
    ];
    for (line, col, what) in expect {
        let head = format!("{p}:{line}:{col}: ");
        assert!(t.lines().any(|l| l.starts_with(&head) && l.contains(what)), "missing `{head}… {what}` in:\n{t}");
    }
    let located = t.lines().filter(|l| l.starts_with(&format!("{p}:"))).count();
    assert_eq!(located, expect.len(), "each mistake once, nothing else:\n{t}");
    // Entries dropped for being wrong never come back as "missing".
    assert!(!t.contains("missing field"), "{t}");
}

#[test]
fn a_toml_syntax_error_is_reported_alone_and_a_good_file_still_checks() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("broken.toml");
    std::fs::write(&path, MANY_MISTAKES.replace("user = \"tc\"", "user = \"tc")).unwrap();
    let p = path.to_str().unwrap();
    let o = rollpilot(&["check", "-c", p]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let located: Vec<String> =
        text(&o).lines().filter(|l| l.starts_with(&format!("{p}:"))).map(str::to_string).collect();
    assert_eq!(located.len(), 1, "{located:?}");
    assert!(located[0].starts_with(&format!("{p}:8:")), "{located:?}");

    let o = rollpilot(&["check", "-c", concat!(env!("CARGO_MANIFEST_DIR"), "/config/jsondb.toml")]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn a_wrong_required_value_is_reported_once_not_again_as_missing() {
    let src = MANY_MISTAKES.replace("target = \"4.2.1\"", "target = 4.2").replace("tagret = \"x\"\n", "");
    let e = rollpilot::config::parse_str(&src, "c.toml", std::path::Path::new(".")).unwrap_err();
    let all = e.to_string();
    assert!(
        all.contains("c.toml:3:10: cluster.target: invalid type: floating point `4.2`, expected a quoted string"),
        "{all}"
    );
    assert!(!all.contains("missing field `target`"), "{all}");
    assert!(all.contains("c.toml:5:12: cluster.failback"), "{all}");
}

#[test]
fn a_removed_required_key_never_turns_its_neighbours_into_unknown_top_level_keys() {
    let src = "[cluster]\nname = 5\ntarget = \"4.2.1\"\nprofile = \"nope\"\n[ssh]\nport = \"22\"\n";
    let e = rollpilot::config::parse_str(src, "c.toml", std::path::Path::new(".")).unwrap_err();
    let all = e.to_string();
    assert!(all.contains("c.toml:2:8: cluster.name: invalid type: integer `5`"), "{all}");
    assert!(all.contains("c.toml:4:11: cluster.profile: unknown variant `nope`"), "{all}");
    assert!(all.contains("c.toml:6:8: ssh.port"), "{all}");
    // `target` is a good key of [cluster]: it must not be called unknown, nor [cluster] missing.
    assert!(!all.contains("unknown field `target`") && !all.contains("missing field `cluster`"), "{all}");
}
