//! The `check` and `plan` commands as an operator runs them: exit codes and what they print.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rollpilot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rollpilot")).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_shipped_example_checks_clean() {
    let ex = examples();
    assert!(ex.len() >= 3, "config/ holds terracotta, streambase and exchange examples");
    for p in ex {
        let o = rollpilot(&["check", "-c", p.to_str().unwrap()]);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{}: {err}", p.display());
        assert!(out.contains(": ok — cluster "), "{out}");
    }
}

#[test]
fn a_typo_exits_2_with_file_line_col() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let src = std::fs::read_to_string("config/terracotta.toml").unwrap().replacen(
        "profile = \"terracotta\"",
        "profle = \"terracotta\"",
        1,
    );
    std::fs::write(&bad, &src).unwrap();
    let line = src.lines().position(|l| l.starts_with("profle")).unwrap() + 1;
    let o = rollpilot(&["check", "-c", bad.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(out.is_empty());
    assert!(err.contains(&format!("bad.toml:{line}:1: cluster.profle: unknown field `profle`")), "{err}");
    assert!(err.contains("did you mean `profile`?"), "{err}");
}

#[test]
fn a_missing_file_exits_2_and_says_so() {
    let o = rollpilot(&["check", "-c", "config/nope.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("cannot read config config/nope.toml"), "{}", text(&o).1);
}

#[test]
fn plan_with_an_assumed_state_prints_the_seed_order() {
    let o = rollpilot(&["plan", "-c", "config/terracotta.toml", "--assume", "tests/fixtures/terracotta-4.2.0.toml"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(out.contains("rolling upgrade 4.2.0 → 4.2.1"), "{out}");
    let east = out.find("Phase 1. Stripe east").unwrap();
    let wan = out.find("Stop all orchestrators of wan (standbys first)").unwrap();
    assert!(east < wan);
    let o = rollpilot(&[
        "plan",
        "-c",
        "config/terracotta.toml",
        "--assume",
        "tests/fixtures/terracotta-4.2.0.toml",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["target"], "4.2.1");
    assert_eq!(v["phases"][0]["steps"][0]["id"], "east/tc-east-2/stop");
    assert_eq!(v["phases"][0]["steps"][3]["before"][0]["gate"], "safe-to-stop");
}

#[test]
fn plan_refusals_exit_3_for_rules_and_4_for_unreachable_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.toml");
    std::fs::write(
        &old,
        std::fs::read_to_string("tests/fixtures/terracotta-4.2.0.toml").unwrap().replace("4.2.0", "4.1.2"),
    )
    .unwrap();
    let o = rollpilot(&["plan", "-c", "config/terracotta.toml", "--assume", old.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    assert!(text(&o).1.contains("R1 version-compat: tc-east-1 runs 4.1.2 and the target is 4.2.1"), "{}", text(&o).1);

    let down = dir.path().join("down.toml");
    let src = std::fs::read_to_string("tests/fixtures/terracotta-4.2.0.toml").unwrap();
    std::fs::write(&down, src.replacen("[nodes.wan-west]\n", "[nodes.wan-west]\nreachable = false\nerror = \"ssh: connect to host 10.20.3.31 port 22: Connection refused\"\n", 1)).unwrap();
    let o = rollpilot(&["plan", "-c", "config/terracotta.toml", "--assume", down.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4));
    assert!(text(&o).1.contains("wan-west (group wan) is unreachable"), "{}", text(&o).1);
}

#[test]
fn plan_downgrade_needs_to_and_bad_names_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let newer = dir.path().join("newer.toml");
    std::fs::write(
        &newer,
        std::fs::read_to_string("tests/fixtures/terracotta-4.2.0.toml").unwrap().replace("4.2.0", "4.2.1"),
    )
    .unwrap();
    let o = rollpilot(&["plan", "-c", "config/terracotta.toml", "--assume", newer.to_str().unwrap(), "--to", "4.2.0"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    assert!(text(&o).0.contains("rolling DOWNGRADE 4.2.1 → 4.2.0"));
    let o = rollpilot(&["plan", "-c", "config/terracotta.toml", "--assume", newer.to_str().unwrap(), "--to", "4.2"]);
    assert_eq!(o.status.code(), Some(2));
    let o = rollpilot(&[
        "plan",
        "-c",
        "config/terracotta.toml",
        "--assume",
        newer.to_str().unwrap(),
        "--accept-data-loss",
        "wrong",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("does not match the cluster name `bigmemory-prod`"));
    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "[nodes.tc-nowhere]\nversion = \"4.2.0\"\n").unwrap();
    let o = rollpilot(&["plan", "-c", "config/terracotta.toml", "--assume", unknown.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).1.contains("unknown.toml:1:8: nodes.tc-nowhere: `tc-nowhere` is not a host of cluster bigmemory-prod"),
        "{}",
        text(&o).1
    );
}
