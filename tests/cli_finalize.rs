//! `rollpilot finalize` as an operator runs it, on local hosts: it refuses while a node is not on
//! the target or without the typed name headless, finalizes once (journaled), and says so the
//! second time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn rollpilot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rollpilot")).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn lab(dir: &Path) -> String {
    let d = dir.display();
    let cfg = format!(
        r#"
[cluster]
name = "loc"
target = "2.0.0"
profile = "any-order"
compat = "any"
failback = "never"
transport = "local"
job_dir = "{d}/jobs"

[lock]
path = "{d}/lock"

[vars]
d = "{d}"

[kinds.n]
version = "cat {{d}}/{{host}}.version"
install = "echo {{version}} > {{d}}/{{host}}.version"
finalize = "echo {{version}} > {{d}}/finalized"
point_of_no_return = "finalize"

[[groups]]
name = "g"
type = "peer"
kind = "n"
hosts = ["a", "b"]
"#
    );
    let p = dir.join("c.toml");
    std::fs::write(&p, cfg).unwrap();
    p.display().to_string()
}

#[test]
fn finalize_refuses_a_mixed_cluster_and_a_missing_name_then_finalizes_once() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = lab(tmp.path());
    let state = tmp.path().join("state");
    let state = state.to_str().unwrap();
    std::fs::write(tmp.path().join("a.version"), "2.0.0\n").unwrap();
    std::fs::write(tmp.path().join("b.version"), "1.0.0\n").unwrap();

    let o = rollpilot(&["finalize", "-c", &cfg, "--headless", "--confirm=loc", "--state-dir", state]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("not every node runs 2.0.0 yet"), "{}", text(&o));
    assert!(!tmp.path().join("finalized").exists());

    std::fs::write(tmp.path().join("b.version"), "2.0.0\n").unwrap();
    let o = rollpilot(&["finalize", "-c", &cfg, "--headless", "--state-dir", state]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("pass --confirm=loc"), "{}", text(&o));

    let o = rollpilot(&["finalize", "-c", &cfg, "--headless", "--confirm=loc", "--state-dir", state]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("how long it has run 2.0.0 is not known"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(tmp.path().join("finalized")).unwrap(), "2.0.0\n");

    let o = rollpilot(&["finalize", "-c", &cfg, "--headless", "--confirm=loc", "--state-dir", state]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("loc was already finalized at 2.0.0 by run"), "{}", text(&o));
}

#[test]
fn finalize_needs_a_kind_with_a_finalize_command() {
    let o = rollpilot(&["finalize", "-c", "config/terracotta.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no kind has a `finalize` command"), "{}", text(&o));
}
