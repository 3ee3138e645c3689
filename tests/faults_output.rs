//! Hostile output and input sizes, end to end on the simulated StreamBase cluster with the real
//! binary: a step that prints 200 KB of random bytes and more than 8 KB of non-ASCII text, a
//! rollpilot killed while that step runs, and a config file far too large to be one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "sim_support.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// `rollpilot ARGS` with its own state directory and operator name.
fn rp(state: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args).stdin(Stdio::null()).env("ROLLPILOT_STATE_DIR", state).env("USER", "test-operator");
    c
}

fn run(state: &Path, args: &[&str]) -> Output {
    rp(state, args).output().unwrap()
}

fn status_json(state: &Path, cfg: &str) -> Vec<serde_json::Value> {
    let o = run(state, &["status", "-c", cfg, "--json"]);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("status json: {e}\n{}", text(&o)))
}

#[test]
fn binary_and_non_ascii_step_output_neither_crashes_nor_reaches_the_terminal_raw_and_resume_finishes() {
    let s = Sim::up(&["--topology", "streambase"]);
    let state = s.dir.join("state");
    let cfg = s.dir.join("cluster.toml");
    let c = cfg.to_string_lossy().into_owned();
    let hold = s.dir.join("hold");
    std::fs::write(&hold, "").unwrap();
    // Every install prints 200 KB of /dev/urandom, 20 KB of "é" in long lines and an OSC 52
    // clipboard write, then (while `hold` exists) waits, so rollpilot can be killed mid-step.
    let noisy = format!(
        "install = \"head -c 200000 /dev/urandom; echo; yes {e} | head -n 250; printf '\\\\033]52;c;aGk=\\\\007 done\\\\n'; while [ -e {h} ]; do sleep 0.2; done; rm -rf",
        e = "é".repeat(40),
        h = hold.display()
    );
    let src = std::fs::read_to_string(&cfg).unwrap().replacen("install = \"rm -rf", &noisy, 1);
    assert!(src.contains("/dev/urandom"), "the install command was rewritten");
    std::fs::write(&cfg, src).unwrap();

    let log = s.dir.join("run1.log");
    let f = std::fs::File::create(&log).unwrap();
    let mut p = rp(&state, &["upgrade", "-c", &c, "--headless", "--yes"])
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .unwrap();
    let read = || std::fs::read(&log).unwrap_or_default();
    let t0 = Instant::now();
    wait_until("the install's output to be followed to its end", Duration::from_secs(120), || {
        let b = read();
        assert!(p.try_wait().unwrap().is_none(), "rollpilot ended early:\n{}", String::from_utf8_lossy(&b));
        // The last line the install prints (shown escaped; the command line shows `\033`).
        String::from_utf8_lossy(&b).contains("aGk=\\x07 done").then_some(())
    });
    let followed = t0.elapsed();
    // Killed mid-step (the install still holds on the host).
    assert!(p.try_wait().unwrap().is_none(), "still running when killed");
    p.kill().unwrap();
    p.wait().unwrap();
    let out = read();
    let shown = String::from_utf8_lossy(&out);
    assert!(!shown.contains("panicked"), "{shown}");
    assert!(!out.contains(&0x1b) && !out.contains(&0x07), "no escape or bell byte reaches the terminal");
    assert!(shown.contains("\\x1b]52;c;aGk=\\x07 done"), "the escape is shown as text: {shown}");
    assert!(shown.contains("output not text: ") && shown.contains("KB of binary; not shown"), "{shown}");
    assert!(shown.contains(&"é".repeat(40)), "non-ASCII text is shown as text");
    // Binary lines are summed up, not printed as replacement characters (a character cut at a
    // poll's boundary may show as one).
    assert!(shown.matches('\u{FFFD}').count() <= 2, "{shown}");
    eprintln!("200 KB of binary + 20 KB of é followed in {followed:?}");

    // The step goes on on the host; resume re-attaches and finishes the run.
    std::fs::remove_file(&hold).unwrap();
    let o = run(&state, &["resume", "-c", &c, "--headless", "--yes"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(!o.stdout.contains(&0x1b) && !o.stdout.contains(&0x07));
    let rows = status_json(&state, &c);
    assert!(rows.iter().all(|r| r["version"] == "10.6.1"), "{rows:#?}");
}

#[test]
fn a_config_file_over_1_mb_is_refused_at_once_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let big = tmp.path().join("huge.toml");
    let mut src = String::from("[cluster]\nname = \"x\"\n");
    while src.len() < 2 * 1024 * 1024 {
        src.push_str("# a comment line that pads this file far beyond any real cluster description\n");
    }
    std::fs::write(&big, src).unwrap();
    let b = big.to_string_lossy().into_owned();
    for cmd in ["check", "plan"] {
        let t = Instant::now();
        let o = Command::new(bin()).args([cmd, "-c", b.as_str()]).stdin(Stdio::null()).output().unwrap();
        let took = t.elapsed();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {err}");
        assert!(err.contains("huge.toml") && err.contains("is 2 MB, over the 1 MB limit"), "{cmd}: {err}");
        assert!(took < Duration::from_secs(5), "{cmd} took {took:?}");
        eprintln!("{cmd} refused a 2 MB config in {took:?}");
    }
}

#[test]
fn oversized_probe_output_is_reported_as_cut_not_as_a_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("chatty.toml");
    // Host `text` answers its status probe with endless text, host `binary` with 10 MB of
    // random bytes; both print their version first.
    std::fs::write(
        &cfg,
        r#"[cluster]
name = "chatty"
target = "1.0.0"
profile = "any-order"
transport = "local"
[timeouts]
probe = "20s"
[kinds.node]
version = "echo 1.0.0"
status = "if [ {host} = text ]; then yes 'all good'; else head -c 10485760 /dev/urandom; fi"
install = "true"
[[groups]]
name = "g"
type = "server"
kind = "node"
hosts = ["text", "binary"]
"#,
    )
    .unwrap();
    let state = tmp.path().join("state");
    let t = Instant::now();
    let o = run(&state, &["status", "-c", &cfg.to_string_lossy(), "--json"]);
    let took = t.elapsed();
    let rows: Vec<serde_json::Value> =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    let err = |h: &str| rows.iter().find(|r| r["host"] == h).unwrap()["error"].as_str().unwrap_or("").to_string();
    assert_eq!(err("text"), "status probe printed more than 64 KB; its output was cut");
    assert_eq!(err("binary"), "status probe output not text: more than 64 KB of binary; its output was cut");
    for h in ["text", "binary"] {
        assert!(!err(h).contains("timed out"), "{}", err(h));
        assert_eq!(rows.iter().find(|r| r["host"] == h).unwrap()["version"], "1.0.0", "the version still counts");
    }
    assert!(took < Duration::from_secs(10), "cut at once, not at the 20s probe timeout: {took:?}");
    eprintln!("10 MB of probe output cut and reported in {took:?}");
}
