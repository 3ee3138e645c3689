//! `rollpilot rehearse`, as an operator runs it before a maintenance window: a twin of every
//! example cluster in config/ runs exactly the plan `rollpilot plan --assume` shows for the
//! same state (steps, confirmations and gates), loses no acknowledged write, and leaves no
//! process behind; a feature the simulator cannot play is refused by name; a cued install
//! failure shows the rollback path in the report; and a rehearsal never leaves a real run to
//! resume.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rollpilot")
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Runs rollpilot with its own state and temporary directories (the twin lives under `tmp`).
fn rollpilot(tmp: &Path, args: &[&str]) -> Output {
    let twins = tmp.join("twins");
    std::fs::create_dir_all(&twins).unwrap();
    Command::new(bin())
        .args(args)
        .env("TMPDIR", &twins)
        .env("ROLLPILOT_STATE_DIR", tmp.join("state"))
        .env("XDG_STATE_HOME", tmp.join("xdg"))
        .env_remove("ROLLPILOT_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Processes on this machine whose command line mentions `dir` (every simulated node names its
/// configuration under the twin's directory).
fn processes_under(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else { continue };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(&needle) {
            out.push(format!("{name}: {cmd}"));
        }
    }
    out
}

/// (id, action, confirm) of every step of a plan's JSON, in order.
fn steps_of(plan: &serde_json::Value) -> Vec<(String, String, String)> {
    plan["phases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["steps"].as_array().unwrap().iter())
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["action"].as_str().unwrap().to_string(),
                s["confirm"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The gates before and after every step of a plan's JSON, in order.
fn gates_of(plan: &serde_json::Value) -> Vec<(serde_json::Value, serde_json::Value)> {
    plan["phases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["steps"].as_array().unwrap().iter())
        .map(|s| (s["before"].clone(), s["after"].clone()))
        .collect()
}

/// The command of the step `id` in a plan's JSON.
fn command_of(plan: &serde_json::Value, id: &str) -> String {
    plan["phases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["steps"].as_array().unwrap().iter())
        .find(|s| s["id"] == id)
        .and_then(|s| s["command"].as_str())
        .unwrap_or_else(|| panic!("no step {id} with a command"))
        .to_string()
}

/// The plan the rehearsal run actually started with: the first `planned` record of its journal.
fn journaled_plan(rehearsals: &Path) -> (PathBuf, serde_json::Value) {
    let runs = rehearsals.join("runs");
    let cluster = std::fs::read_dir(&runs).unwrap().flatten().next().unwrap().path();
    let run = std::fs::read_dir(&cluster).unwrap().flatten().next().unwrap().path();
    let journal = std::fs::read_to_string(run.join("journal.jsonl")).unwrap();
    let plan = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["type"] == "planned")
        .expect("a planned record")["plan"]
        .clone();
    (run, plan)
}

const STREAMBASE_STATE: &str = r#"
[nodes.sb-1]
version = "10.6.0"
role = "none"
health = "ok"
[nodes.sb-2]
version = "10.6.0"
role = "none"
health = "ok"
[nodes.sb-3]
version = "10.6.0"
role = "none"
health = "ok"
"#;

const EXCHANGE_STATE: &str = r#"
[nodes.node1]
version = "6.5.7226"
role = "active"
health = "ok"
[nodes.node2]
version = "6.5.7226"
role = "passive"
sync = "in-sync"
health = "ok"
[nodes.node1-av]
version = "8.0.0"
role = "none"
health = "ok"
[nodes.node2-av]
version = "8.0.0"
role = "none"
health = "ok"
"#;

/// The terracotta fixture with tc-east-2 (not the first member) as the active of east, so the
/// twin must follow the assumed state rather than its own default.
fn terracotta_state() -> String {
    let s = std::fs::read_to_string(repo("tests/fixtures/terracotta-4.2.0.toml")).unwrap();
    let swapped = s
        .replace(
            "[nodes.tc-east-1]\nversion = \"4.2.0\"\nrole = \"active\"\nsync = \"not-applicable\"\nstate = \"ACTIVE-COORDINATOR\"",
            "[nodes.tc-east-1]\nversion = \"4.2.0\"\nrole = \"passive\"\nsync = \"in-sync\"\nstate = \"PASSIVE-STANDBY\"",
        )
        .replace(
            "[nodes.tc-east-2]\nversion = \"4.2.0\"\nrole = \"passive\"\nsync = \"in-sync\"\nstate = \"PASSIVE-STANDBY\"",
            "[nodes.tc-east-2]\nversion = \"4.2.0\"\nrole = \"active\"\nsync = \"not-applicable\"\nstate = \"ACTIVE-COORDINATOR\"",
        );
    assert_ne!(s, swapped, "the fixture changed shape; update this test");
    swapped
}

/// Rehearses one example with an assumed state and checks everything an operator relies on.
fn rehearse_example(config: &str, state: &str) -> serde_json::Value {
    let tmp = tempfile::tempdir().unwrap();
    let assume = tmp.path().join("state.toml");
    std::fs::write(&assume, state).unwrap();
    let cfg = repo(config);
    let cfg = cfg.to_str().unwrap();
    let a = assume.to_str().unwrap();
    let expected = rollpilot(tmp.path(), &["plan", "-c", cfg, "--assume", a, "--json"]);
    assert!(expected.status.success(), "{}", text(&expected));
    let expected: serde_json::Value = serde_json::from_slice(&expected.stdout).unwrap();
    let rehearsals = tmp.path().join("rehearsals");
    let r = rehearsals.to_str().unwrap();
    let out =
        rollpilot(tmp.path(), &["rehearse", "-c", cfg, "--assume", a, "--headless", "--yes", "--rehearsal-dir", r]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("the twin's plan is the real plan"), "{t}");
    assert!(t.contains("lost 0"), "{t}");
    // Step by step: the plan the twin ran is the plan for the real cluster.
    let (run, ran) = journaled_plan(&rehearsals);
    let want = steps_of(&expected);
    assert!(!want.is_empty());
    assert_eq!(steps_of(&ran), want, "{config}: the rehearsal ran another plan");
    assert_eq!(gates_of(&ran), gates_of(&expected), "{config}: the rehearsal checked other gates");
    assert_eq!(ran["point_of_no_return"], expected["point_of_no_return"]);
    // The rehearsal report: same steps, data checked, nothing lost.
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("rehearsal.json")).unwrap()).unwrap();
    let listed: Vec<(String, String, String)> = rep["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().into(),
                s["action"].as_str().unwrap().into(),
                s["confirm"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(listed, want);
    assert_eq!(rep["outcome"], "done");
    assert!(rep["acknowledged"].as_u64().unwrap() > 0, "{rep}");
    assert_eq!(rep["lost"], 0);
    assert!(rep["projection"]["total_secs"].as_u64().unwrap() > 0);
    // Nothing left running, and the twin's directory is gone.
    let twins = tmp.path().join("twins");
    assert!(processes_under(&twins).is_empty(), "{:?}", processes_under(&twins));
    let left: Vec<_> = std::fs::read_dir(&twins).unwrap().flatten().map(|e| e.path()).collect();
    assert!(left.is_empty(), "twin directories left behind: {left:?}");
    // A rehearsal is not a real run: nothing to resume for the cluster.
    let resume = rollpilot(tmp.path(), &["resume", "-c", cfg, "--headless", "--yes"]);
    assert!(text(&resume).contains("nothing to resume"), "{}", text(&resume));
    let mut rep = rep;
    rep["ran"] = ran;
    rep
}

#[test]
fn terracotta_twin_runs_the_real_plan_and_loses_nothing() {
    rehearse_example("config/terracotta.toml", &terracotta_state());
}

#[test]
fn streambase_twin_runs_the_real_plan_and_loses_nothing() {
    rehearse_example("config/streambase.toml", STREAMBASE_STATE);
}

#[test]
fn exchange_twin_runs_the_real_plan_and_loses_nothing() {
    rehearse_example("config/exchange.toml", EXCHANGE_STATE);
}

/// db-2 (not the first member) leads and the cluster is committed to 3.1, so the twin must
/// follow the assumed state rather than its own default.
const JSONDB_STATE: &str = r#"
[nodes.db-1]
version = "3.1.4"
role = "passive"
sync = "in-sync"
health = "ok"
finalized = "3.1.0"
[nodes.db-2]
version = "3.1.4"
role = "active"
health = "ok"
finalized = "3.1.0"
[nodes.db-3]
version = "3.1.4"
role = "passive"
sync = "in-sync"
health = "ok"
finalized = "3.1.0"
"#;

#[test]
fn jsondb_twin_runs_the_real_plan_up_to_finalize_and_loses_nothing() {
    let rep = rehearse_example("config/jsondb.toml", JSONDB_STATE);
    // The replicas go first, then the assumed leader's switchover.
    let ids: Vec<&str> = rep["plan"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    let switchover = ids.iter().position(|i| *i == "db/db-2/switchover").expect("a switchover of db-2");
    assert!(ids.iter().position(|i| *i == "db/db-1/stop").unwrap() < switchover, "{ids:?}");
    // The finalize step and its point of no return, as in the real plan.
    assert!(rep["plan"].as_array().unwrap().iter().any(|s| s["action"] == "finalize"), "{ids:?}");
    assert!(rep["point_of_no_return"].as_str().unwrap().contains("finalize"), "{rep}");
    // Headless with --yes defers the optional finalize, as `upgrade` does; with the typed
    // cluster name the rehearsal crosses the point of no return on the twin.
    let tmp = tempfile::tempdir().unwrap();
    let rehearsals = tmp.path().join("rehearsals");
    let cfg = repo("config/jsondb.toml");
    let out = rollpilot(
        tmp.path(),
        &[
            "rehearse",
            "-c",
            cfg.to_str().unwrap(),
            "--headless",
            "--yes",
            "--confirm",
            "jsondb-prod",
            "--rehearsal-dir",
            rehearsals.to_str().unwrap(),
        ],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let (run, _) = journaled_plan(&rehearsals);
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("rehearsal.json")).unwrap()).unwrap();
    let events: Vec<&str> = rep["events"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert!(events.contains(&"done db/db-1/finalize"), "{events:?}");
    assert_eq!(rep["outcome"], "done");
    assert_eq!(rep["lost"], 0);
    assert!(processes_under(&tmp.path().join("twins")).is_empty());
}

/// An operator's own kind of another name whose switchover names the replica rollpilot chose
/// (no `peer = "auto"`): the twin's members hand over to exactly that one.
#[test]
fn a_kind_of_another_name_with_a_named_successor_is_rehearsed() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(repo("config/jsondb.toml")).unwrap();
    let named = src
        .replace("[kinds.jsondb", "[kinds.ledger")
        .replace("kind = \"jsondb\"", "kind = \"ledger\"")
        .replace("peer = \"auto\"", "")
        .replace("/switchover\"", "/switchover?to={peer}\"");
    assert_ne!(named, src);
    let cfg = dir.path().join("ledger.toml");
    std::fs::write(&cfg, &named).unwrap();
    let rep = rehearse_example(cfg.to_str().unwrap(), JSONDB_STATE);
    assert_eq!(rep["stood_in"], serde_json::json!([]), "{rep}");
    // db-2 leads; the plan names db-1 (first in sync) and the twin's members elect no other.
    assert!(command_of(&rep["ran"], "db/db-2/switchover").ends_with("/switchover/db-1"), "{}", rep["ran"]);
    let events: Vec<&str> = rep["events"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert!(events.contains(&"done db/db-2/switchover"), "{events:?}");
}

/// Patroni: pg-2 is in sync but tagged nofailover; the plan hands over to pg-3, and so does the
/// twin.
const PATRONI_STATE: &str = r#"
[nodes.pg-1]
version = "16.3.0"
role = "active"
health = "ok"
[nodes.pg-2]
version = "16.3.0"
role = "passive"
sync = "in-sync"
eligible = false
health = "ok"
[nodes.pg-3]
version = "16.3.0"
role = "passive"
sync = "in-sync"
eligible = true
health = "ok"
"#;

#[test]
fn patroni_twin_hands_over_only_to_an_eligible_replica() {
    let rep = rehearse_example("config/patroni.toml", PATRONI_STATE);
    assert!(command_of(&rep["ran"], "pg/pg-1/switchover").ends_with("/switchover/pg-3"), "{}", rep["ran"]);
    let events: Vec<&str> = rep["events"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert!(events.contains(&"done pg/pg-1/switchover"), "{events:?}");
}

/// Patroni with pg-3 down (a replica stopped before the window): the twin starts pg-3 stopped,
/// so the rehearsed plan is the real one, which begins by installing pg-3 without stopping it.
const PATRONI_STOPPED_STATE: &str = r#"
[nodes.pg-1]
version = "16.3.0"
role = "active"
health = "ok"
[nodes.pg-2]
version = "16.3.0"
role = "passive"
sync = "in-sync"
health = "ok"
[nodes.pg-3]
version = "16.3.0"
role = "stopped"
health = "failed"
"#;

#[test]
fn a_twin_starts_a_member_the_state_says_is_stopped_stopped() {
    let rep = rehearse_example("config/patroni.toml", PATRONI_STOPPED_STATE);
    let ids: Vec<&str> = rep["plan"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids.first(), Some(&"pg/pg-3/install"), "{ids:?}");
    assert!(!ids.contains(&"pg/pg-3/stop"), "{ids:?}");
    let events: Vec<&str> = rep["events"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert!(events.contains(&"done pg/pg-3/start"), "{events:?}");
    assert!(!events.iter().any(|e| e.starts_with("started pg/pg-3/stop")), "{events:?}");
}

const PATRONI_LEADER_STOPPED_STATE: &str = r#"
[nodes.pg-1]
version = "16.3.0"
role = "stopped"
health = "failed"
[nodes.pg-2]
version = "16.3.0"
role = "passive"
sync = "in-sync"
health = "ok"
[nodes.pg-3]
version = "16.3.0"
role = "passive"
sync = "in-sync"
health = "ok"
"#;

/// The leader is the stopped member: `plan --assume` refuses (R5, no active), and so does the
/// rehearsal, with the same exit code and reason, leaving nothing running.
#[test]
fn a_state_whose_plan_is_refused_is_not_rehearsed() {
    let tmp = tempfile::tempdir().unwrap();
    let assume = tmp.path().join("state.toml");
    std::fs::write(&assume, PATRONI_LEADER_STOPPED_STATE).unwrap();
    let cfg = repo("config/patroni.toml");
    let (c, a) = (cfg.to_str().unwrap(), assume.to_str().unwrap());
    let plan = rollpilot(tmp.path(), &["plan", "-c", c, "--assume", a]);
    assert_eq!(plan.status.code(), Some(3), "{}", text(&plan));
    let out = rollpilot(tmp.path(), &["rehearse", "-c", c, "--assume", a, "--headless", "--yes"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    assert!(t.contains("the real cluster's plan is refused") && t.contains("group pg has no active member"), "{t}");
    let twins = tmp.path().join("twins");
    assert!(processes_under(&twins).is_empty(), "{:?}", processes_under(&twins));
    assert!(std::fs::read_dir(&twins).unwrap().next().is_none(), "a twin directory was left behind");
}

#[test]
fn a_feature_the_simulator_cannot_play_is_refused_by_name() {
    // Exchange's virus scanner under another kind name: a component group outside the
    // simulated products, which the simulated replicated members do not play.
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(repo("config/exchange.toml")).unwrap();
    let renamed =
        src.replace("[kinds.scanner", "[kinds.antivirus").replace("kind = \"scanner\"", "kind = \"antivirus\"");
    assert_ne!(renamed, src);
    let cfg = dir.path().join("antivirus.toml");
    std::fs::write(&cfg, renamed).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = rollpilot(tmp.path(), &["rehearse", "-c", cfg.to_str().unwrap(), "--headless", "--yes"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("type component, kind antivirus") && t.contains("cannot be simulated"), "{t}");
    let twins: Vec<_> = std::fs::read_dir(tmp.path().join("twins")).unwrap().flatten().collect();
    assert!(twins.is_empty(), "a refused rehearsal started a twin");
}

/// Every example config in config/ (a new one is covered as soon as it is added): the twin
/// runs the plan `plan --assume` makes on the state the rehearsal started from, step by step
/// and gate by gate, finishes, loses no acknowledged write and leaves nothing behind.
#[test]
fn every_example_config_is_rehearsed_on_its_twin() {
    let mut configs: Vec<PathBuf> = std::fs::read_dir(repo("config"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    configs.sort();
    assert!(configs.len() >= 8, "{configs:?}");
    for cfg in &configs {
        let name = cfg.file_name().unwrap().to_string_lossy().into_owned();
        let tmp = tempfile::tempdir().unwrap();
        let rehearsals = tmp.path().join("rehearsals");
        let started = std::time::Instant::now();
        let out = rollpilot(
            tmp.path(),
            &[
                "rehearse",
                "-c",
                cfg.to_str().unwrap(),
                "--headless",
                "--yes",
                "--rehearsal-dir",
                rehearsals.to_str().unwrap(),
            ],
        );
        let t = text(&out);
        assert!(out.status.success(), "{name}: {t}");
        assert!(t.contains("the twin's plan is the real plan"), "{name}: {t}");
        let (run, ran) = journaled_plan(&rehearsals);
        let state = run.join("starting-state.json");
        let expected = rollpilot(
            tmp.path(),
            &["plan", "-c", cfg.to_str().unwrap(), "--assume", state.to_str().unwrap(), "--json"],
        );
        assert!(expected.status.success(), "{name}: {}", text(&expected));
        let expected: serde_json::Value = serde_json::from_slice(&expected.stdout).unwrap();
        assert!(!steps_of(&expected).is_empty(), "{name}");
        assert_eq!(steps_of(&ran), steps_of(&expected), "{name}: the rehearsal ran another plan");
        assert_eq!(gates_of(&ran), gates_of(&expected), "{name}: the rehearsal checked other gates");
        assert_eq!(ran["point_of_no_return"], expected["point_of_no_return"], "{name}");
        let rep: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("rehearsal.json")).unwrap()).unwrap();
        assert_eq!(rep["outcome"], "done", "{name}: {t}");
        assert!(rep["acknowledged"].as_u64().unwrap() > 0, "{name}: {rep}");
        assert_eq!(rep["lost"], 0, "{name}: {rep}");
        let twins = tmp.path().join("twins");
        assert!(processes_under(&twins).is_empty(), "{name}: {:?}", processes_under(&twins));
        let left: Vec<_> = std::fs::read_dir(&twins).unwrap().flatten().map(|e| e.path()).collect();
        assert!(left.is_empty(), "{name}: twin directories left behind: {left:?}");
        eprintln!(
            "{name}: {} steps, same plan, done in {:.1}s, {} writes acknowledged, {} lost",
            steps_of(&ran).len(),
            started.elapsed().as_secs_f64(),
            rep["acknowledged"],
            rep["lost"]
        );
    }
}

#[test]
fn a_cued_install_failure_on_simulated_replicated_members_shows_the_rollback_path() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = repo("config/patroni.toml");
    let cfg = cfg.to_str().unwrap();
    let rehearsals = tmp.path().join("rehearsals");
    let r = rehearsals.to_str().unwrap();
    let out = rollpilot(
        tmp.path(),
        &[
            "rehearse",
            "-c",
            cfg,
            "--headless",
            "--yes",
            "--fault",
            "fail-install@pg-3",
            "--on-failure",
            "rollback",
            "--rehearsal-dir",
            r,
        ],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("fault fail-install@pg-3") && t.contains("lost 0"), "{t}");
    let (run, _) = journaled_plan(&rehearsals);
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("rehearsal.json")).unwrap()).unwrap();
    assert_eq!(rep["faults"][0]["fault"], "fail-install@pg-3");
    let events: Vec<String> =
        rep["events"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_string()).collect();
    let failed = events.iter().position(|e| e.starts_with("finished pg/pg-3/install: Failed")).expect("install failed");
    let chose = events.iter().position(|e| e.contains("chose Rollback for pg/pg-3/install")).expect("rollback chosen");
    let rolled = events.iter().position(|e| e.starts_with("done pg/pg-3/rollback")).expect("rolled back");
    assert!(failed < chose && chose < rolled, "{events:?}");
    // The leader was never touched: the failure stopped the rollout at pg-3.
    assert!(!events.iter().any(|e| e.contains("pg/pg-1/")), "{events:?}");
    let md = text(&rollpilot(tmp.path(), &["report", "--state-dir", r]));
    assert!(md.starts_with("# REHEARSAL of pg-prod") && md.contains("chose Rollback"), "{md}");
    assert!(processes_under(&tmp.path().join("twins")).is_empty());
}

#[test]
fn a_cued_install_failure_shows_the_rollback_path_in_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = repo("config/terracotta.toml");
    let cfg = cfg.to_str().unwrap();
    let rehearsals = tmp.path().join("rehearsals");
    let r = rehearsals.to_str().unwrap();
    let out = rollpilot(
        tmp.path(),
        &[
            "rehearse",
            "-c",
            cfg,
            "--headless",
            "--yes",
            "--fault",
            "fail-install@tc-east-2",
            "--on-failure",
            "rollback",
            "--rehearsal-dir",
            r,
        ],
    );
    let t = text(&out);
    // The rollback succeeded and the run stopped there, as `--on-failure rollback` says.
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("fault fail-install@tc-east-2"), "{t}");
    assert!(t.contains("lost 0"), "{t}");
    // Every hint names the rehearsal again, never a `resume` of the torn-down twin.
    assert!(!t.contains("rollpilot resume"), "{t}");
    assert!(t.contains(&format!("`rollpilot rehearse -c {cfg}` practises again from the start")), "{t}");
    let (run, _) = journaled_plan(&rehearsals);
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("rehearsal.json")).unwrap()).unwrap();
    assert_eq!(rep["faults"][0]["fault"], "fail-install@tc-east-2");
    let events: Vec<String> =
        rep["events"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_string()).collect();
    let failed =
        events.iter().position(|e| e.starts_with("finished east/tc-east-2/install: Failed")).expect("install failed");
    let chose =
        events.iter().position(|e| e.contains("chose Rollback for east/tc-east-2/install")).expect("rollback chosen");
    let rolled = events.iter().position(|e| e.starts_with("done east/tc-east-2/rollback")).expect("rolled back");
    assert!(failed < chose && chose < rolled, "{events:?}");
    // `rollpilot report` on the rehearsal run shows the same, marked as a rehearsal.
    let md = rollpilot(tmp.path(), &["report", "--state-dir", r]);
    let md = text(&md);
    assert!(md.starts_with("# REHEARSAL of bigmemory-prod"), "{md}");
    assert!(md.contains("fail-install@tc-east-2") && md.contains("chose Rollback"), "{md}");
    assert!(md.contains("Projected duration of the real window"), "{md}");
    let json = rollpilot(tmp.path(), &["report", "--state-dir", r, "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["rehearsal"]["faults"][0]["fault"], "fail-install@tc-east-2");
    // The aborted rehearsal is no unfinished real run; nor does it stop the next rehearsal.
    let resume = rollpilot(tmp.path(), &["resume", "-c", cfg, "--headless", "--yes"]);
    assert!(text(&resume).contains("nothing to resume for bigmemory-prod"), "{}", text(&resume));
    assert!(processes_under(&tmp.path().join("twins")).is_empty());
}

#[test]
fn timings_from_a_real_run_project_the_window() {
    // A "real" run of the cluster is faked by a rehearsal's journal copied among real runs:
    // its step durations are what --timings reads.
    let tmp = tempfile::tempdir().unwrap();
    let cfg = repo("config/streambase.toml");
    let cfg = cfg.to_str().unwrap();
    let rehearsals = tmp.path().join("rehearsals");
    let r = rehearsals.to_str().unwrap();
    let first = rollpilot(tmp.path(), &["rehearse", "-c", cfg, "--headless", "--yes", "--rehearsal-dir", r]);
    assert!(first.status.success(), "{}", text(&first));
    let (run, _) = journaled_plan(&rehearsals);
    let id = run.file_name().unwrap().to_string_lossy().into_owned();
    let real = tmp.path().join("state").join("runs").join("sb-trading").join(&id);
    std::fs::create_dir_all(&real).unwrap();
    std::fs::copy(run.join("journal.jsonl"), real.join("journal.jsonl")).unwrap();
    std::fs::remove_dir_all(&rehearsals).unwrap();
    let out =
        rollpilot(tmp.path(), &["rehearse", "-c", cfg, "--headless", "--yes", "--rehearsal-dir", r, "--timings", &id]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains(&format!("step durations measured in the real run {id}")), "{t}");
    let unknown = rollpilot(tmp.path(), &["rehearse", "-c", cfg, "--headless", "--yes", "--timings", "nope"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(text(&unknown).contains("--timings nope"), "{}", text(&unknown));
}

#[test]
fn fault_flags_are_checked_before_anything_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = repo("config/terracotta.toml");
    for (flag, says) in [
        ("fail-install", "write KIND@NODE"),
        ("melt@tc-east-1", "unknown fault"),
        ("crash@nowhere", "has no member nowhere"),
    ] {
        let out =
            rollpilot(tmp.path(), &["rehearse", "-c", cfg.to_str().unwrap(), "--headless", "--yes", "--fault", flag]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(says), "{flag}: {}", text(&out));
    }
}

#[test]
fn a_crash_on_cue_is_survived_and_reported() {
    // The operator's own timeouts decide how long a rehearsal waits; short ones keep this quick.
    let tmp = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(repo("config/terracotta.toml")).unwrap();
    let fast: String = src
        .lines()
        .map(|l| {
            if l.starts_with("step = ") {
                "step = \"30s\"".to_string()
            } else if l.starts_with("gate = ") {
                "gate = \"30s\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let cfg = tmp.path().join("fast.toml");
    std::fs::write(&cfg, fast).unwrap();
    let rehearsals = tmp.path().join("rehearsals");
    let out = rollpilot(
        tmp.path(),
        &[
            "rehearse",
            "-c",
            cfg.to_str().unwrap(),
            "--headless",
            "--yes",
            "--fault",
            "crash@tc-west-2",
            "--rehearsal-dir",
            rehearsals.to_str().unwrap(),
        ],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let (run, _) = journaled_plan(&rehearsals);
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("rehearsal.json")).unwrap()).unwrap();
    let f = rep["faults"][0]["result"].as_str().unwrap();
    assert!(f.contains("tc-west-2 crashed"), "{rep}");
    assert_eq!(rep["outcome"], "done");
    assert_eq!(rep["lost"], 0);
    // The crashed mirror is found already stopped: the run goes on without stopping it again.
    let events: Vec<&str> = rep["events"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert!(!events.contains(&"started west/tc-west-2/stop (attempt 1)"), "{events:?}");
    assert!(events.contains(&"done west/tc-west-2/start"), "{events:?}");
    assert!(processes_under(&tmp.path().join("twins")).is_empty());
}

/// An operator's own Terracotta cluster, unlike any example: one stripe of three servers with
/// other names and region, two clients in one batch, a single orchestrator, and a backup hook
/// the simulator has no counterpart for.
fn custom_terracotta(dir: &Path) -> PathBuf {
    let src = std::fs::read_to_string(repo("config/terracotta.toml")).unwrap();
    let head = &src[..src.find("[[groups]]").unwrap()];
    let head = head.replace("host = \"tc-east-1\"", "host = \"store-a1\"").replacen(
        "[kinds.server.parse]",
        "before = \"/opt/backup/snapshot-all.sh --label pre-upgrade\"\nrestore = \"/opt/backup/restore-settings.sh\"\n\n[kinds.server.parse]",
        1,
    );
    let groups = r#"
[[groups]]
name = "alpha"
type = "server"
region = "ap-south"
hosts = [
  { name = "store-a1", address = "10.1.0.1" },
  { name = "store-a2", address = "10.1.0.2" },
  { name = "store-a3", address = "10.1.0.3" },
]

[[groups]]
name = "apps"
type = "client"
servers = "alpha"
batch = 2
hosts = [{ name = "web-1", address = "10.1.1.1" }, { name = "web-2", address = "10.1.1.2" }]

[[groups]]
name = "bridge"
type = "orchestrator"
reconnect_resync = false
hosts = [{ name = "bridge-1", address = "10.1.2.1", role = "master" }]
"#;
    let p = dir.join("custom.toml");
    std::fs::write(&p, format!("{head}{groups}")).unwrap();
    p
}

const CUSTOM_STATE: &str = r#"
[nodes.store-a1]
version = "4.2.0"
role = "passive"
sync = "in-sync"
state = "PASSIVE-STANDBY"
health = "ok"
[nodes.store-a2]
version = "4.2.0"
role = "active"
sync = "n/a"
state = "ACTIVE-COORDINATOR"
health = "ok"
[nodes.store-a3]
version = "4.2.0"
role = "passive"
sync = "in-sync"
state = "PASSIVE-STANDBY"
health = "ok"
[nodes.web-1]
version = "4.2.0"
role = "none"
health = "ok"
[nodes.web-2]
version = "4.2.0"
role = "none"
health = "ok"
[nodes.bridge-1]
version = "4.2.0"
role = "active"
health = "ok"
"#;

#[test]
fn a_cluster_unlike_the_examples_gets_its_own_twin_and_plan() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = custom_terracotta(dir.path());
    let rep = rehearse_example(cfg.to_str().unwrap(), CUSTOM_STATE);
    // The assumed active (store-a2) is the twin's active: the others go first.
    assert_eq!(rep["plan"][1]["id"], "alpha/store-a1/stop", "{rep}");
    // The backup hook is a step of the rehearsal, not a command run on this machine.
    assert_eq!(rep["stood_in"], serde_json::json!(["server.before", "server.restore"]));
    let events = rep["events"].to_string();
    assert!(events.contains("done alpha/store-a2/before") || events.contains("/before"), "{events}");
}

/// CockroachDB from 23.2 to 24.1 (another major, as its compat rule allows): the twin's members
/// replicate across the two series, and every hook of the kind runs on the twin, in the real
/// plan's order: preflight on every node, before, drain/undrain around each node, the cluster
/// health check, restore, then the finalize (deferred by --yes, as `upgrade` defers it).
const CRDB_STATE: &str = r#"
[nodes.crdb-1]
version = "23.2.5"
health = "ok"
finalized = "23.2.0"
[nodes.crdb-2]
version = "23.2.5"
health = "ok"
finalized = "23.2.0"
[nodes.crdb-3]
version = "23.2.5"
health = "ok"
finalized = "23.2.0"
"#;

#[test]
fn cockroachdb_twin_runs_every_hook_across_majors() {
    let rep = rehearse_example("config/cockroachdb.toml", CRDB_STATE);
    let events: Vec<&str> = rep["events"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    let at = |e: &str| events.iter().position(|x| *x == e).unwrap_or_else(|| panic!("no `{e}` in {events:?}"));
    let order = [
        "done crdb/crdb-3/preflight",
        "done crdb/crdb-1/before",
        "done crdb/crdb-1/drain",
        "done crdb/crdb-1/stop",
        "done crdb/crdb-1/undrain",
        "done crdb/crdb-3/undrain",
        "done crdb/crdb-1/cluster-health",
        "done crdb/crdb-1/restore",
    ];
    for w in order.windows(2) {
        assert!(at(w[0]) < at(w[1]), "{} before {}: {events:?}", w[0], w[1]);
    }
    assert!(rep["plan"].as_array().unwrap().iter().any(|s| s["id"] == "crdb/crdb-1/finalize"), "{rep}");
    assert!(rep["point_of_no_return"].as_str().unwrap().contains("finalize"), "{rep}");
}
