//! Escape sequences from nodes, configs and arguments, end to end on the simulated StreamBase
//! cluster with the real binary: an OSC 52 clipboard write, a title change and a screen clear
//! must reach no terminal and no report as such. The raw bytes each command writes are checked:
//! no ESC (0x1b) and no BEL (0x07), and the visible form (`\x1b]52;c;aGk=\x07`) is there, so
//! nothing was silently dropped either. JSON keeps the exact values.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "sim_support.rs"]
mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::*;

const CLIPBOARD: &str = "\u{1b}]52;c;aGk=\u{7}";
const TITLE: &str = "\u{1b}]0;pwned\u{7}";
const CLEAR: &str = "\u{1b}[2J";

/// `rollpilot ARGS` with its own state directory and operator name.
fn rp(state: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args).stdin(Stdio::null()).env("ROLLPILOT_STATE_DIR", state).env("USER", "test-operator");
    c
}

fn run(state: &Path, args: &[&str]) -> Output {
    rp(state, args).output().unwrap()
}

/// What an operator's terminal would have received holds no escape and no bell, and shows each
/// of `visible` as text.
fn assert_shown_not_obeyed(what: &str, bytes: &[u8], visible: &[&str]) {
    let s = String::from_utf8_lossy(bytes);
    assert!(!bytes.contains(&0x1b), "{what}: an ESC byte reached the terminal:\n{s}");
    assert!(!bytes.contains(&0x07), "{what}: a BEL byte reached the terminal:\n{s}");
    for v in visible {
        let shown = rollpilot::sanitize::clean_line(v);
        assert!(s.contains(&shown), "{what}: `{shown}` is not shown:\n{s}");
    }
}

#[test]
fn escapes_in_config_values_arguments_and_step_output_are_shown_in_plan_headless_and_report() {
    let s = Sim::up(&["--topology", "streambase"]);
    let state = s.dir.join("state");
    let cfg = s.dir.join("cluster.toml");
    let c = cfg.to_string_lossy().into_owned();
    // A cluster variable with a title change, overridden for the first host by a screen clear;
    // the install echoes it and prints a clipboard write of its own.
    let src = std::fs::read_to_string(&cfg).unwrap();
    let src = src
        .replacen("[vars]\n", "[vars]\nbanner = \"\\u001b]0;pwned\\u0007\"\n", 1)
        .replacen("[groups.hosts.vars]\n", "[groups.hosts.vars]\nbanner = \"\\u001b[2J\"\n", 1)
        .replacen("install = \"rm -rf", "install = \"echo {banner}; printf '\\\\033]52;c;aGk=\\\\007\\\\n'; rm -rf", 1);
    std::fs::write(&cfg, src).unwrap();

    let o = run(&state, &["plan", "-c", &c]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_shown_not_obeyed("plan", &o.stdout, &[TITLE, CLEAR]);

    let operator = format!("ops{TITLE}{CLIPBOARD}");
    let o = run(&state, &["upgrade", "-c", &c, "--headless", "--yes", "--operator", &operator]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_shown_not_obeyed("headless upgrade (stdout)", &o.stdout, &[TITLE, CLEAR, CLIPBOARD]);
    assert_shown_not_obeyed("headless upgrade (stderr)", &o.stderr, &[]);

    let o = run(&state, &["report", "-c", &c, "--format", "md"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_shown_not_obeyed("report md", &o.stdout, &[&operator, TITLE, CLIPBOARD]);
    // The JSON report keeps the exact value (escaped by JSON, so still no raw ESC byte).
    let o = run(&state, &["report", "-c", &c, "--format", "json"]);
    assert!(!o.stdout.contains(&0x1b));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["summary"]["operator"], operator.as_str());
}

#[test]
fn escapes_in_probe_output_are_shown_in_status_and_watch_and_kept_exact_in_json() {
    let s = Sim::up(&["--topology", "streambase"]);
    let state = s.dir.join("state");
    let cfg = s.dir.join("cluster.toml");
    let c = cfg.to_string_lossy().into_owned();
    // The version probe prints a clipboard write and a screen clear instead of a version; the
    // status probe reports a state word that is a title change.
    let src = std::fs::read_to_string(&cfg).unwrap();
    let mut out = String::new();
    for l in src.lines() {
        // The probe commands, not the parsers of the same names (`version = { regex = ... }`).
        if l.starts_with("version = \"") {
            out.push_str("version = \"printf '\\\\033]52;c;aGk=\\\\007\\\\033[2J\\\\n'\"\n");
        } else if l.starts_with("status = \"") {
            out.push_str("status = \"printf 'Node State = \\\\033]0;pwned\\\\007\\\\n'\"\n");
        } else {
            out.push_str(l);
            out.push('\n');
        }
    }
    std::fs::write(&cfg, out).unwrap();

    let o = run(&state, &["status", "-c", &c]);
    assert_shown_not_obeyed("status", &o.stdout, &[CLIPBOARD, TITLE]);
    assert_shown_not_obeyed("status (stderr)", &o.stderr, &[]);

    let o = run(&state, &["status", "-c", &c, "--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows[0]["state"], TITLE, "JSON keeps the exact state word");
    assert!(rows[0]["error"].as_str().unwrap().contains(CLIPBOARD), "{rows:#?}");

    // `status --watch`: one full round, then stopped. Its own screen clear is the only escape.
    let mut p = rp(&state, &["status", "-c", &c, "--watch"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut pipe = p.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let round_done = |b: &[u8]| {
        let t = String::from_utf8_lossy(b);
        t.contains("HOST") && t.matches("  ! sb-").count() >= 3
    };
    while !round_done(&seen) {
        assert!(Instant::now() < deadline, "no full round of status --watch:\n{}", String::from_utf8_lossy(&seen));
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.extend(chunk);
        }
    }
    p.kill().unwrap();
    p.wait().unwrap();
    let own = b"\x1b[H\x1b[2J";
    assert!(seen.starts_with(own), "the watch clears the screen itself");
    let rest: Vec<u8> = String::from_utf8_lossy(&seen).replace("\u{1b}[H\u{1b}[2J", "").into_bytes();
    assert_shown_not_obeyed("status --watch", &rest, &[CLIPBOARD, TITLE]);
}

#[test]
fn a_cluster_name_with_escapes_is_refused_with_the_escapes_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("evil.toml");
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/streambase.toml")).unwrap();
    let src = src.replacen("name = \"sb-trading\"", "name = \"sb\\u001b]0;pwned\\u0007\\u001b[2J\"", 1);
    assert!(src.contains("pwned"));
    std::fs::write(&cfg, src).unwrap();
    for cmd in ["check", "plan"] {
        let o = Command::new(bin()).args([cmd, "-c", &cfg.to_string_lossy()]).stdin(Stdio::null()).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{cmd}: {}", text(&o));
        assert!(String::from_utf8_lossy(&o.stderr).contains("evil.toml:"), "{}", text(&o));
        assert_shown_not_obeyed(cmd, &o.stderr, &[TITLE]);
        assert_shown_not_obeyed(cmd, &o.stdout, &[]);
    }
}
