//! Batches and lanes on real processes, driven by the real binary, headless: a simulated
//! StreamBase cluster of 20 peers upgraded five at a time (`max_unavailable = 5`), and a
//! simulated Terracotta cluster of four stripes upgraded side by side (`parallel_groups = 4`).
//! Never more down than allowed, the jobs run side by side, and no acknowledged write is lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "sim_support.rs"]
mod support;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// Runs `rollpilot ARGS` to its end (killed after `limit`), returning its exit code and output.
fn run_with_limit(args: &[&str], log: &std::path::Path, limit: Duration) -> (i32, String) {
    let out = std::fs::File::create(log).unwrap();
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let end = Instant::now() + limit;
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code().unwrap_or(-1);
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rollpilot did not finish within {limit:?}:\n{}", std::fs::read_to_string(log).unwrap());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    (code, std::fs::read_to_string(log).unwrap())
}

/// The journal's records, in order.
fn journal(state: &std::path::Path) -> Vec<serde_json::Value> {
    let runs = state.join("runs");
    let cluster = std::fs::read_dir(&runs).unwrap().flatten().next().unwrap().path();
    let run = std::fs::read_dir(&cluster).unwrap().flatten().next().unwrap().path();
    std::fs::read_to_string(run.join("journal.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn twenty_peers_five_at_a_time_never_more_than_five_down_and_nothing_lost() {
    let s = Sim::up(&["--topology", "streambase", "--nodes", "20"]);
    let config = s.dir.join("cluster.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("kind = \"node\"\n"), "{text}");
    std::fs::write(&config, text.replacen("kind = \"node\"\n", "kind = \"node\"\nmax_unavailable = 5\n", 1)).unwrap();
    let c = config.to_string_lossy().into_owned();
    let state = s.dir.join("state");
    let st = state.to_string_lossy().into_owned();

    let plan = rollpilot(&["plan", "-c", &c]);
    let plan = text_of(&plan);
    assert!(plan.contains("── batch 1/4: sb-1, sb-2, sb-3, sb-4, sb-5 run side by side"), "{plan}");
    assert!(plan.contains("the gate before the batch needs 15 others up"), "{plan}");

    let began = Instant::now();
    let (code, log) = run_with_limit(
        &["upgrade", "-c", &c, "--headless", "--yes", "--state-dir", &st],
        &s.dir.join("run.log"),
        Duration::from_secs(900),
    );
    let took = began.elapsed();
    assert_eq!(code, 0, "{log}\n{}", logs(&s.dir));
    eprintln!("20 peers at max_unavailable = 5: {took:?}");
    assert!(log.contains("runs 10.6.1 (60 steps)"), "{log}");
    for i in 1..=20 {
        assert_eq!(s.probe(&format!("sb-{i}"), "version").as_deref(), Some("10.6.1"), "sb-{i}");
    }

    // From the journal: at most five nodes were down at once (a stop started and the node's start
    // not yet verified), five were, and the stops of a batch ran side by side.
    let records = journal(&state);
    let mut down: BTreeSet<String> = BTreeSet::new();
    let mut most = 0;
    let mut running: BTreeSet<String> = BTreeSet::new();
    let mut most_running = 0;
    for r in &records {
        match r["type"].as_str() {
            Some("step-started") => {
                let id = r["step"]["id"].as_str().unwrap().to_string();
                if r["step"]["action"] == "stop" {
                    down.insert(r["step"]["node"].as_str().unwrap().to_string());
                }
                running.insert(id);
            }
            Some("step-finished") => {
                running.remove(r["step"].as_str().unwrap());
            }
            Some("step-done") => {
                let id = r["step"].as_str().unwrap();
                if id.ends_with("/start") {
                    down.remove(id.split('/').nth(1).unwrap());
                }
            }
            _ => {}
        }
        most = most.max(down.len());
        most_running = most_running.max(running.len());
    }
    assert_eq!(most, 5, "at most max_unavailable nodes down at once, and batches of five");
    assert_eq!(most_running, 5, "the five jobs of a batch run side by side");
    // One confirmation per batch (answered by --yes), naming its five nodes.
    let asked: Vec<&str> =
        log.lines().filter(|l| l.contains("? stop batch") && l.ends_with("-> proceed (--yes)")).collect();
    assert_eq!(asked.len(), 4, "{asked:#?}");
    assert!(asked[3].contains("batch 4/4 of trading (sb-16, sb-17, sb-18, sb-19, sb-20)"), "{}", asked[3]);

    // Every acknowledged write is on every running node. A write forwarded while a peer was
    // stopping reaches it by anti-entropy (every 3 s): it gets a few rounds before it counts as lost.
    let mut last = String::new();
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        let (code, out) = s.verify();
        last = out;
        if code == 0 && last.trim_end().ends_with("lost 0") {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(last.trim_end().ends_with("lost 0"), "writes lost:\n{last}");
    s.down_and_check();
}

/// `sim verify` until every acknowledged write is everywhere (writes in flight get a few rounds).
fn settled_nothing_lost(s: &Sim) {
    let mut last = String::new();
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        let (code, out) = s.verify();
        last = out;
        if code == 0 && last.trim_end().ends_with("lost 0") {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("writes lost:\n{last}");
}

#[test]
fn four_stripes_side_by_side_each_in_its_own_order_and_nothing_lost() {
    let s = Sim::up(&["--topology", "terracotta", "--stripes", "4"]);
    let config = s.dir.join("cluster.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replacen("[cluster]\n", "[cluster]\nparallel_groups = 4\n", 1)).unwrap();
    let c = config.to_string_lossy().into_owned();
    let state = s.dir.join("state");
    let st = state.to_string_lossy().into_owned();
    let plan = text_of(&rollpilot(&["plan", "-c", &c]));
    assert!(
        plan.contains("server groups east, west, north, south share no member: up to 4 run side by side"),
        "{plan}"
    );

    let began = Instant::now();
    let (code, log) = run_with_limit(
        &["upgrade", "-c", &c, "--headless", "--yes", "--state-dir", &st],
        &s.dir.join("run.log"),
        Duration::from_secs(900),
    );
    assert_eq!(code, 0, "{log}\n{}", logs(&s.dir));
    eprintln!("4 stripes at parallel_groups = 4: {:?}", began.elapsed());
    // Every lane is planned from fresh facts: nothing it already did is planned again.
    assert!(!log.contains("R12 drift"), "{log}");
    assert!(log.contains("server groups side by side (east: stop tc-east-2; west: stop tc-west-2; north: stop tc-north-2; south: stop tc-south-2)"), "{log}");

    // From the journal: the four stripes' jobs ran side by side, and within a stripe the mirror
    // was back before the active stopped (never both members of one stripe down).
    let records = journal(&state);
    let mut running: BTreeSet<String> = BTreeSet::new();
    let mut most_running = 0;
    let mut down: BTreeSet<String> = BTreeSet::new();
    for r in &records {
        match r["type"].as_str() {
            Some("step-started") => {
                running.insert(r["step"]["id"].as_str().unwrap().to_string());
                let (action, node, group) =
                    (&r["step"]["action"], r["step"]["node"].as_str().unwrap(), r["step"]["group"].as_str().unwrap());
                if action == "stop" && !group.starts_with("app-") && group != "wan" {
                    let stripe_down = down.iter().any(|d| d.starts_with(&format!("tc-{group}-")));
                    assert!(!stripe_down, "{node} stopped while another member of {group} was down: {down:?}");
                    down.insert(node.to_string());
                }
            }
            Some("step-finished") => {
                running.remove(r["step"].as_str().unwrap());
            }
            Some("step-done") => {
                let id = r["step"].as_str().unwrap();
                if id.ends_with("/start") {
                    down.remove(id.split('/').nth(1).unwrap());
                }
            }
            _ => {}
        }
        most_running = most_running.max(running.len());
    }
    assert_eq!(most_running, 4, "one job per stripe at once");
    settled_nothing_lost(&s);
    s.down_and_check();
}

fn text_of(o: &std::process::Output) -> String {
    text(o)
}
