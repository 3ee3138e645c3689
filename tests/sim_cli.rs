//! The command line on a local simulated cluster: `status --json` and `--watch`, and headless
//! JSON events, as scripts and operators consume them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

struct LocalSim {
    dir: tempfile::TempDir,
}

impl LocalSim {
    fn up() -> LocalSim {
        let dir = tempfile::Builder::new().prefix("rp-cli").tempdir_in("/tmp").unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_rollpilot"))
            .args(["sim", "up", "--dir"])
            .arg(dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        LocalSim { dir }
    }

    fn config(&self) -> String {
        self.dir.path().join("cluster.toml").to_string_lossy().into_owned()
    }
}

impl Drop for LocalSim {
    fn drop(&mut self) {
        let _ =
            Command::new(env!("CARGO_BIN_EXE_rollpilot")).args(["sim", "down", "--dir"]).arg(self.dir.path()).output();
    }
}

#[test]
fn status_json_shows_the_simulated_cluster_at_420_with_its_roles() {
    let sim = LocalSim::up();
    let o =
        Command::new(env!("CARGO_BIN_EXE_rollpilot")).args(["status", "-c", &sim.config(), "--json"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let get = |h: &str| rows.iter().find(|r| r["host"] == h).unwrap().clone();
    assert!(rows.iter().all(|r| r["version"] == "4.2.0"), "{rows:#?}");
    assert_eq!(get("tc-east-1")["role"], "active");
    assert_eq!(get("tc-east-2")["role"], "passive");
    assert_eq!(get("tc-east-2")["sync"], "in-sync");
    assert_eq!(get("tc-east-2")["state"], "PASSIVE-STANDBY");
    assert_eq!(get("app-west-1")["health"], "ok");
    assert_eq!(get("wan-west")["role"], "standby");
}

#[test]
fn status_watch_refreshes_in_place_until_interrupted() {
    let sim = LocalSim::up();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rollpilot"))
        .args(["status", "-c", &sim.config(), "--watch"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    support::wait_until(Duration::from_secs(30), "two refreshes", || {
        while let Ok(chunk) = rx.try_recv() {
            seen.extend(chunk);
        }
        String::from_utf8_lossy(&seen).matches("\u{1b}[H\u{1b}[2J").count() >= 2
    })
    .unwrap();
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(text.contains("sim-bigmemory — ") && text.contains("Ctrl-C to stop"), "{text}");
    assert!(text.contains("tc-east-1") && text.contains("ACTIVE-COORDINATOR"), "{text}");
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let status = support::wait_child(&mut child, Duration::from_secs(10)).expect("exits on Ctrl-C");
    assert_eq!(status.code(), Some(130));
}

#[test]
fn headless_json_events_one_object_per_line() {
    let sim = LocalSim::up();
    let state = sim.dir.path().join("state");
    let o = Command::new(env!("CARGO_BIN_EXE_rollpilot"))
        .args(["upgrade", "-c", &sim.config(), "--headless", "--yes", "--json"])
        .env("ROLLPILOT_STATE_DIR", &state)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(events[0]["event"], "started");
    assert!(events.iter().any(|e| e["event"] == "planned"));
    assert!(events.iter().any(|e| e["event"] == "ask" && e["kind"] == "confirm"));
    assert_eq!(events.iter().filter(|e| e["event"] == "step-done").count(), 28);
    let last = events.last().unwrap();
    assert_eq!((last["event"].as_str(), last["end"].as_str()), (Some("finished"), Some("done")), "{last}");
}
