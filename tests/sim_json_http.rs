//! The simulated jsondb cluster: status is a Patroni-like JSON member list served over HTTP and
//! read with curl; facts come from JSONPath parsers; replication lag in bytes against a numeric
//! threshold holds the gate while a replica's sync is stalled; the upgrade ends with a deferred
//! finalize, the point of no return, after which a downgrade is refused. A switchover the leader
//! refuses stops the run at once with the refusal, and `resume` runs it again. A switchover that
//! names its successor goes to that member; drain, undrain and the cluster health check answer
//! as a rehearsal twin needs them to. No write is lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "sim_support.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn status_text(s: &Sim) -> String {
    let o = rollpilot(&["status", "-c", &s.dir.join("cluster.toml").to_string_lossy()]);
    text(&o)
}

fn line_of<'a>(text: &'a str, host: &str) -> &'a str {
    text.lines().find(|l| l.starts_with(&format!("{host} "))).unwrap_or_default()
}

#[test]
fn json_status_lag_gate_and_finalize_past_which_rollback_is_refused() {
    let s = Sim::up(&["--topology", "jsondb"]);
    let cfg = s.dir.join("cluster.toml").to_string_lossy().into_owned();
    let state = s.dir.join("state").to_string_lossy().into_owned();

    // The simulator is held to the example's contract: the same kinds, templates and parsers.
    let example =
        rollpilot::config::load(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config/jsondb.toml")))
            .unwrap();
    assert_eq!(s.cluster.kinds, example.kinds, "[kinds.*] of the jsondb simulator differ from config/jsondb.toml");
    assert_eq!((s.cluster.target.clone(), s.cluster.profile), (example.target.clone(), example.profile));

    // The facts come from the JSON member list, through curl and JSONPath.
    assert_eq!(s.probe("db-1", "role").as_deref(), Some("active"));
    assert_eq!(s.probe("db-2", "role").as_deref(), Some("passive"));
    assert_eq!(s.probe("db-2", "version").as_deref(), Some("3.1.4"));
    let st = status_text(&s);
    assert!(line_of(&st, "db-2").contains("in-sync (lag 0 B)"), "{st}");

    // The plan marks the point of no return before finalize.
    let o = rollpilot(&["plan", "-c", &cfg]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let plan = text(&o);
    assert!(plan.contains("── rollback possible until here ──"), "{plan}");
    assert!(plan.contains("db/db-1/finalize crosses the point of no return (finalize)"), "{plan}");

    // db-3's replication stalls: once restarted it falls behind, and the gate holds with the lag shown.
    let f = s.fault("db-3", "stall-sync", false);
    assert!(f.status.success(), "{}", text(&f));
    let out_path = s.dir.join("upgrade.out");
    let mut child = Command::new(bin())
        .args(["upgrade", "-c", &cfg, "--headless", "--yes", "--state-dir", &state])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let read_out = || std::fs::read_to_string(&out_path).unwrap_or_default();
    wait_until("the R6 gate to wait on db-3's lag", SECS(120), || {
        read_out().contains("waiting for db-3 to rejoin: it is syncing (lag ").then_some(())
    });
    wait_until("the status table to show db-3's lag", SECS(30), || {
        let st = status_text(&s);
        line_of(&st, "db-3").contains("syncing (lag ").then_some(())
    });
    // Held: the leader was not touched while db-3 lags.
    assert_eq!(s.probe("db-1", "role").as_deref(), Some("active"), "{}", read_out());
    assert!(!read_out().contains("▶ db/db-1/switchover"), "{}", read_out());
    let f = s.fault("db-3", "stall-sync", true);
    assert!(f.status.success(), "{}", text(&f));
    let code = wait_until("the upgrade to finish", SECS(240), || child.try_wait().unwrap()).code();
    let out = read_out();
    assert_eq!(code, Some(0), "{out}\n{}", logs(&s.dir));
    assert!(out.contains("db-3: replica, in-sync (lag "), "{out}");
    assert!(out.contains("finalize deferred"), "{out}");
    assert!(out.contains("done: sim-jsondb runs 3.2.0"), "{out}");
    for h in ["db-1", "db-2", "db-3"] {
        assert_eq!(s.probe(h, "version").as_deref(), Some("3.2.0"), "{h}");
        assert_eq!(s.probe(h, "running_version").as_deref(), Some("3.2.0"), "{h}");
    }
    // Not finalized yet: the cluster is still on the old series, and a downgrade can be planned.
    assert_eq!(s.probe("db-2", "finalized").as_deref(), Some("3.1"));
    let o = rollpilot(&["plan", "-c", &cfg, "--to", "3.1.4"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // Finalize later, with the typed name.
    let o = rollpilot(&["finalize", "-c", &cfg, "--headless", "--confirm=sim-jsondb", "--state-dir", &state]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("{\"cluster_version\":\"3.2\",\"previous\":\"3.1\"}"), "{}", text(&o));
    assert_eq!(s.probe("db-2", "finalized").as_deref(), Some("3.2"));

    // Past the point of no return: a downgrade is refused with the reason (exit 3), plan and run.
    for args in [
        vec!["plan", "-c", cfg.as_str(), "--to", "3.1.4"],
        vec!["upgrade", "-c", cfg.as_str(), "--to", "3.1.4", "--headless", "--yes", "--state-dir", state.as_str()],
    ] {
        let o = rollpilot(&args);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {}", text(&o));
        let t = text(&o);
        assert!(t.contains("R14 point-of-no-return: kind jsondb reports the cluster finalized at 3.2"), "{t}");
        assert!(t.contains("a rolling downgrade to 3.1.4 is no longer possible"), "{t}");
    }
    // The report of the finalize run says where the point of no return was.
    let o = rollpilot(&["report", "-c", &cfg, "--state-dir", &state]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("db/db-1/finalize crosses the point of no return"), "{}", text(&o));

    // The simulated product enforces it too: an old kit refuses to start on a finalized cluster.
    s.run("db-3", "stop", &[]);
    s.run("db-3", "install", &[("version", "3.1.4")]);
    s.run("db-3", "start", &[]);
    let log = s.dir.join("nodes/db-3/logs/jsondb.out");
    wait_until("db-3 on 3.1.4 to refuse to start", SECS(30), || {
        std::fs::read_to_string(&log).unwrap_or_default().contains("cluster is finalized at 3.2").then_some(())
    });
    s.run("db-3", "install", &[("version", "3.2.0")]);
    s.run("db-3", "start", &[]);
    s.wait_fact("db-3", "sync", "in-sync", SECS(60));

    s.assert_nothing_lost();
    s.down_and_check();
}

#[test]
fn a_refused_switchover_stops_the_run_at_once_with_its_output_and_resume_runs_it_again() {
    let s = Sim::up(&["--topology", "jsondb"]);
    let cfg = s.dir.join("cluster.toml").to_string_lossy().into_owned();
    let state = s.dir.join("state").to_string_lossy().into_owned();
    let f = s.fault("db-1", "refuse-switchover", false);
    assert!(f.status.success(), "{}", text(&f));
    let o = rollpilot(&["upgrade", "-c", &cfg, "--headless", "--yes", "--state-dir", &state]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    // curl exits 0 with the API's refusal: the refusal words catch it, quoting the output.
    assert!(
        out.contains("db/db-1/switchover on db-1: the switchover command refused: its output contains \"not possible\" (kinds.jsondb.switchover_refused)"),
        "{out}"
    );
    assert!(out.contains("db-1 refuses switchovers (simulator fault refuse-switchover)"), "{out}");
    assert!(!out.contains("waiting until R4 order: another member of db has taken over"), "no gate wait: {out}");
    assert_eq!(s.probe("db-1", "role").as_deref(), Some("active"), "db-1 still leads");

    let f = s.fault("db-1", "refuse-switchover", true);
    assert!(f.status.success(), "{}", text(&f));
    let o = rollpilot(&["resume", "-c", &cfg, "--headless", "--yes", "--state-dir", &state]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", logs(&s.dir));
    assert!(
        out.contains(
            "db/db-1/switchover had failed (failed) when the run stopped; resuming runs it again as attempt 2"
        ),
        "{out}"
    );
    assert!(out.contains("done: sim-jsondb runs 3.2.0"), "{out}");
    assert_eq!(s.probe("db-1", "role").as_deref(), Some("passive"), "a replica took over from db-1");
    s.assert_nothing_lost();
    s.down_and_check();
}

/// `curl` against a member's HTTP API: (HTTP status, body).
fn http(s: &Sim, host: &str, method: &str, path: &str) -> (u16, serde_json::Value) {
    let (_, node) = s.cluster.node(host).unwrap();
    let port = node.vars.get("http_port").cloned().unwrap();
    let url = format!("http://127.0.0.1:{port}{path}");
    let o = Command::new("curl")
        .args(["-s", "--max-time", "90", "-X", method, "-w", "\n%{http_code}", &url])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = out.trim_end().rsplit_once('\n').unwrap_or(("", out.trim()));
    (code.trim().parse().unwrap_or(0), serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}

/// What a rehearsal twin relies on: a switchover that names its successor hands over to that
/// member and no other (and is refused for a member that cannot take over), drain and undrain
/// take a member out of service and back, and the cluster health check sees every member in sync
/// under one leader. No acknowledged write is lost.
#[test]
fn a_named_switchover_goes_to_that_member_and_drain_and_cluster_health_answer() {
    let s = Sim::up(&["--topology", "jsondb"]);
    assert_eq!(s.probe("db-1", "role").as_deref(), Some("active"));
    let (code, body) = http(&s, "db-2", "POST", "/switchover/db-1");
    assert_eq!(code, 412, "{body}");
    assert!(body["error"].as_str().unwrap().contains("is the leader already"), "{body}");
    let (code, body) = http(&s, "db-2", "POST", "/switchover/nobody");
    assert_eq!(code, 412, "{body}");
    // db-3, not db-2 (which holds as much data and comes first), takes over.
    let (code, body) = http(&s, "db-2", "POST", "/switchover/db-3");
    assert_eq!((code, body["leader"].as_str()), (200, Some("db-3")), "{body}");
    s.wait_fact("db-3", "role", "active", SECS(20));
    wait_until("every member in sync again", SECS(30), || {
        (http(&s, "db-1", "GET", "/cluster-health").0 == 200).then_some(())
    });
    // Drain marks the member in the member list; undrain answers once it is in sync.
    let (code, _) = http(&s, "db-2", "POST", "/drain");
    assert_eq!(code, 200);
    let (_, list) = http(&s, "db-1", "GET", "/cluster");
    let db2 = list["members"].as_array().unwrap().iter().find(|m| m["name"] == "db-2").cloned().unwrap();
    assert_eq!(db2["drained"], true, "{list}");
    assert_eq!(db2["eligible"], true, "{list}");
    let (code, body) = http(&s, "db-2", "POST", "/undrain");
    assert_eq!((code, body["drained"].as_bool()), (200, Some(false)), "{body}");
    // A stopped member makes the cluster unhealthy, by name.
    s.run("db-1", "stop", &[]);
    let (code, body) = http(&s, "db-2", "GET", "/cluster-health");
    assert_eq!(code, 503, "{body}");
    assert!(body["error"].as_str().unwrap().contains("db-1 is down"), "{body}");
    s.assert_nothing_lost();
    s.down_and_check();
}
