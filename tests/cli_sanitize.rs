//! Values from the command line echoed back in messages reach the terminal made visible, never
//! obeyed: an escape sequence in `--to` or in a typed confirmation is shown as text.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};

const TITLE: &str = "\u{1b}]0;pwned\u{7}";

fn upgrade(state: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/terracotta.toml");
    Command::new(env!("CARGO_BIN_EXE_rollpilot"))
        .args(["upgrade", "-c", config, "--headless", "--yes"])
        .args(extra)
        .env("ROLLPILOT_STATE_DIR", state)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn assert_shown(o: &std::process::Output, what: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!o.stderr.contains(&0x1b) && !o.stderr.contains(&0x07), "an escape reached the terminal: {err}");
    assert!(err.contains(&rollpilot::sanitize::clean_line(TITLE)), "{err}");
    assert!(err.contains(what), "{err}");
}

#[test]
fn escapes_in_to_and_typed_names_are_shown_not_obeyed() {
    let state = tempfile::tempdir().unwrap();
    let to = format!("4.2.{TITLE}");
    assert_shown(&upgrade(state.path(), &["--to", to.as_str()]), "not a version");
    let typed = format!("--accept-data-loss=x{TITLE}");
    assert_shown(&upgrade(state.path(), &[typed.as_str()]), "does not match the cluster name");
}

#[test]
fn an_escape_in_a_probe_error_is_shown_in_the_refusal_not_obeyed() {
    // A saved `status --json` whose tc-east-2 could not be read, the probe's error carrying a
    // title-change sequence: the refusal that quotes it makes it visible.
    let saved = include_str!("fixtures/status-json-sim.json");
    let mut rows: Vec<serde_json::Value> = serde_json::from_str(saved).unwrap();
    for r in rows.iter_mut().filter(|r| r["host"] == "tc-east-2") {
        r["role"] = "unknown".into();
        r["state"] = serde_json::Value::Null;
        r["error"] = format!("probe said {TITLE} nonsense").into();
    }
    let dir = tempfile::tempdir().unwrap();
    let assume = dir.path().join("status.json");
    std::fs::write(&assume, serde_json::to_string(&rows).unwrap()).unwrap();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/terracotta.toml");
    let o = Command::new(env!("CARGO_BIN_EXE_rollpilot"))
        .args(["plan", "-c", config, "--assume"])
        .arg(&assume)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(!o.stderr.contains(&0x1b) && !o.stderr.contains(&0x07), "an escape reached the terminal: {err}");
    assert!(err.contains(&format!("probe said {} nonsense", rollpilot::sanitize::clean_line(TITLE))), "{err}");
}
