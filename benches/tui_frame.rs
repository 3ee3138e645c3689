//! TUI frame time and idle cost with 1,000 nodes. Prints a Markdown table.
//!
//!     cargo bench --bench tui_frame
//!
//! Frame: one key through the reducer (scrolling the node table, the plan or the output) plus one
//! full draw at 160×48, both into a bare `Buffer` (render only) and through
//! `Terminal<TestBackend>` (render + diff + backend), over a cluster of 1,000 nodes (250
//! Terracotta stripes of 2 servers, 500 clients; a plan of 3,500 steps) in the middle of a run.
//!
//! Idle: (1) redraws the reducer asks for over 10 simulated minutes with no events, a snapshot
//! every 2 s with unchanged facts and a tick every second; (2) the real loop (`app::drive` over a
//! `TestBackend`) left alone for 6 s of wall time: frames drawn and CPU time used.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::StreamExt;
use jiff::{SignedDuration, Timestamp};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use rollpilot::model::*;
use rollpilot::plan::{self, PlanRequest, RunContext};
use rollpilot::probe::{NodeView, Snapshot};
use rollpilot::run::events::*;
use rollpilot::tui::app::{self, BackendScreen};
use rollpilot::tui::{Action, State, Theme, TuiContext, update, view};
use semver::Version;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const W: u16 = 160;
const H: u16 = 48;

fn big_cluster() -> Cluster {
    let base = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/terracotta.toml")).unwrap();
    let mut cfg = base[..base.find("[[groups]]").unwrap()].to_string();
    for i in 0..250 {
        cfg.push_str(&format!(
            "[[groups]]\nname = \"s{i:03}\"\ntype = \"server\"\nhosts = [ {{ name = \"tc-{i:03}-a\", address = \"10.1.{}.{}\" }}, {{ name = \"tc-{i:03}-b\", address = \"10.2.{}.{}\" }} ]\n\n",
            i / 200,
            i % 200 + 1,
            i / 200,
            i % 200 + 1
        ));
    }
    for c in 0..5 {
        let hosts: Vec<String> =
            (0..100).map(|k| format!("{{ name = \"app-{c}-{k:03}\", address = \"10.3.{c}.{}\" }}", k + 1)).collect();
        cfg.push_str(&format!(
            "[[groups]]\nname = \"apps-{c}\"\ntype = \"client\"\nservers = \"s{c:03}\"\nbatch = 10\nhosts = [ {} ]\n\n",
            hosts.join(", ")
        ));
    }
    cfg = cfg.replace("host = \"tc-east-1\"", "host = \"tc-000-a\"");
    rollpilot::config::parse_str(&cfg, "bench.toml", Path::new(".")).unwrap_or_else(|e| panic!("{e}"))
}

fn observed(c: &Cluster) -> Observed {
    let v = Version::parse("4.2.0").unwrap();
    let mut o = Observed::default();
    for (g, n) in c.nodes() {
        let (role, sync, state) = match (g.gtype, n.name.ends_with("-a")) {
            (GroupType::Server, true) => (Role::Active, SyncState::NotApplicable, "ACTIVE-COORDINATOR"),
            (GroupType::Server, false) => (Role::Passive, SyncState::InSync, "PASSIVE-STANDBY"),
            _ => (Role::None, SyncState::NotApplicable, "CONNECTED"),
        };
        o.nodes.insert(
            n.name.clone(),
            NodeObs {
                reachable: true,
                version: Some(v.clone()),
                role,
                sync,
                health: Health::Ok,
                state: Some(state.into()),
                error: None,
                ..Default::default()
            },
        );
    }
    o
}

fn snapshot(o: &Observed, at: Timestamp, generation: u64) -> Snapshot {
    let nodes: BTreeMap<String, NodeView> = o
        .nodes
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                NodeView {
                    obs: v.clone(),
                    last_good: Some(v.clone()),
                    last_seen: Some(at),
                    stale: false,
                    probe_ms: 40,
                },
            )
        })
        .collect();
    Snapshot { nodes, refreshed_at: Some(at), generation, started: None }
}

fn key(c: KeyCode) -> Action {
    Action::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn mid_run(cluster: Arc<Cluster>, now: Timestamp) -> State {
    let obs = observed(&cluster);
    let p = plan::plan(&PlanRequest {
        cluster: &cluster,
        observed: &obs,
        target: cluster.target.clone(),
        context: &RunContext::default(),
    })
    .unwrap();
    let mut s = State::new(cluster.clone(), PathBuf::from("bench.toml"), None, Theme::default_colors(), now);
    update(&mut s, Action::Resize(W, H));
    update(&mut s, Action::Snapshot(snapshot(&obs, now, 1)));
    update(
        &mut s,
        Action::Exec(Event::Started {
            run: "bench".into(),
            journal: PathBuf::from("/tmp/j"),
            resumed: false,
            started_at: jiff::Timestamp::now(),
            mixed_since: None,
            done: Vec::new(),
            target: "2.0.0".into(),
            from: vec!["1.0.0".into()],
            downgrade: false,
        }),
    );
    let steps: Vec<_> = p.steps().take(40).cloned().collect();
    update(&mut s, Action::Exec(Event::Planned { plan: Box::new(p), reason: "initial plan".into() }));
    for st in &steps[..39] {
        update(&mut s, Action::Exec(Event::StepStarted { step: Box::new(st.clone()), attempt: 1, job: String::new() }));
        update(&mut s, Action::Exec(Event::StepDone { step: st.id.clone() }));
    }
    let cur = &steps[39];
    update(&mut s, Action::Exec(Event::StepStarted { step: Box::new(cur.clone()), attempt: 1, job: String::new() }));
    let text: String = (0..3000).map(|i| format!("\u{1b}[32mINFO\u{1b}[0m unpacking file {i} of the kit\n")).collect();
    update(&mut s, Action::Exec(Event::Output { step: cur.id.clone(), node: cur.node.clone(), text }));
    s
}

fn stats(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    (us(v[v.len() / 2]), us(v[(v.len() * 99) / 100]), us(v[v.len() - 1]))
}

/// Scrolls one pane with `keys` and measures reducer + draw per frame.
fn frames(state: &mut State, keys: &[Action], through_terminal: bool) -> Vec<Duration> {
    let mut term = Terminal::new(TestBackend::new(W, H)).unwrap();
    let area = Rect::new(0, 0, W, H);
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        let t = Instant::now();
        update(state, k.clone());
        if through_terminal {
            term.draw(|f| view::render(state, f)).unwrap();
        } else {
            let mut buf = Buffer::empty(area);
            view::draw(state, area, &mut buf);
            std::hint::black_box(&buf);
        }
        out.push(t.elapsed());
    }
    out
}

/// CPU time of every thread of this process (`/proc/self/task/*/schedstat`, nanoseconds).
fn cpu_time() -> Duration {
    let mut ns = 0u64;
    for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
            ns += s.split_whitespace().next().and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    Duration::from_nanos(ns)
}

/// The real loop left idle for `secs` of wall time: (frames, cpu %).
fn idle_loop(cluster: Arc<Cluster>, driving: bool, secs: u64) -> (u64, f64) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        let obs = observed(&cluster);
        let (snap_tx, snap_rx) = tokio::sync::watch::channel(snapshot(&obs, Timestamp::now(), 1));
        let (ev_tx, ev_rx) = tokio::sync::mpsc::unbounded_channel();
        let (cmd_tx, _cmd_rx) = tokio::sync::mpsc::unbounded_channel();
        let (key_tx, key_rx) = tokio::sync::mpsc::unbounded_channel::<std::io::Result<TermEvent>>();
        let mut key_rx = Some(key_rx);
        let ctx = TuiContext {
            cluster: cluster.clone(),
            config_path: PathBuf::from("bench.toml"),
            snapshots: snap_rx,
            events: driving.then_some(ev_rx),
            commands: driving.then_some(cmd_tx),
            observer_of: (!driving).then(|| "bench".to_string()),
            shell: Arc::new(|_n: &Node| std::process::Command::new("true")),
            options: Default::default(),
        };
        let input = move || -> app::Input {
            match key_rx.take() {
                Some(rx) => {
                    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) }).boxed()
                }
                None => futures_util::stream::pending().boxed(),
            }
        };
        let mut screen = BackendScreen::new(TestBackend::new(W, H)).unwrap();
        if driving {
            let _ = ev_tx.send(Event::Started {
                run: "bench".into(),
                journal: PathBuf::from("/tmp/j"),
                resumed: false,
                started_at: jiff::Timestamp::now(),
                mixed_since: None,
                done: Vec::new(),
                target: "2.0.0".into(),
                from: vec!["1.0.0".into()],
                downgrade: false,
            });
        }
        let publisher = tokio::spawn(async move {
            let mut g = 1;
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                g += 1;
                if snap_tx.send(snapshot(&obs, Timestamp::now(), g)).is_err() {
                    break;
                }
            }
        });
        let stopper = tokio::spawn(async move {
            // Let start-up settle, then measure.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (c0, w0) = (cpu_time(), Instant::now());
            tokio::time::sleep(Duration::from_secs(secs)).await;
            let (c1, w1) = (cpu_time(), Instant::now());
            if driving {
                let _ = ev_tx.send(Event::Finished { end: RunEnd::Done, message: "done".into() });
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let _ = key_tx.send(Ok(TermEvent::Key(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE))));
            (c1 - c0, w1 - w0)
        });
        let frames_before = {
            let r = app::drive(&mut screen, ctx, Theme::default_colors(), input).await;
            r.unwrap();
            screen.frames
        };
        publisher.abort();
        let (cpu, wall) = stopper.await.unwrap();
        (frames_before, 100.0 * cpu.as_secs_f64() / wall.as_secs_f64())
    })
}

fn main() {
    let cluster = Arc::new(big_cluster());
    let now: Timestamp = "2026-11-22T02:00:00Z".parse().unwrap();
    assert_eq!(cluster.nodes().count(), 1000);

    let mut rows = Vec::new();
    for (label, pane_keys) in [
        ("node table, j × 999 then k × 999", {
            let mut v = vec![key(KeyCode::Down); 999];
            v.extend(vec![key(KeyCode::Up); 999]);
            v
        }),
        ("node table, PgDn/PgUp × 200", {
            let mut v = Vec::new();
            for i in 0..200 {
                v.push(key(if (i / 25) % 2 == 0 { KeyCode::PageDown } else { KeyCode::PageUp }));
            }
            v
        }),
        ("plan, j × 1000 (3,500 steps)", {
            let mut v = vec![key(KeyCode::Tab)];
            v.extend(vec![key(KeyCode::Down); 1000]);
            v
        }),
        ("output, k × 1000 (2,000 lines)", {
            let mut v = vec![key(KeyCode::Tab), key(KeyCode::Tab)];
            v.extend(vec![key(KeyCode::Up); 1000]);
            v
        }),
    ] {
        for through in [false, true] {
            let mut s = mid_run(cluster.clone(), now);
            // Warm up.
            let _ = frames(&mut s, &pane_keys[..pane_keys.len().min(20)], through);
            let mut s = mid_run(cluster.clone(), now);
            let d = frames(&mut s, &pane_keys, through);
            let (med, p99, max) = stats(d);
            rows.push(format!(
                "| {label} | {} | {med:.0} | {p99:.0} | {max:.0} |",
                if through { "Terminal<TestBackend>" } else { "Buffer" }
            ));
        }
    }

    // Idle, reducer only: 10 simulated minutes.
    let mut idle_rows = Vec::new();
    for (label, driving) in [("observer, quiet cluster", false), ("driving, run in progress, no events", true)] {
        let mut s = if driving {
            mid_run(cluster.clone(), now)
        } else {
            let mut s = State::new(
                cluster.clone(),
                PathBuf::from("bench.toml"),
                Some("alice".into()),
                Theme::default_colors(),
                now,
            );
            update(&mut s, Action::Resize(W, H));
            s
        };
        let obs = observed(&cluster);
        let mut redraws = 0;
        let mut t = now;
        for sec in 1..=600 {
            t = t.checked_add(SignedDuration::from_secs(1)).unwrap();
            redraws += update(&mut s, Action::Tick(t)).len();
            if sec % 2 == 0 {
                redraws += update(&mut s, Action::Snapshot(snapshot(&obs, t, sec as u64))).len();
            }
        }
        idle_rows.push(format!("| reducer, {label}: redraws in 600 simulated s | {redraws} |"));
    }
    for (label, driving) in [("observer, quiet cluster", false), ("driving, run in progress, no events", true)] {
        let secs = 6;
        let (frames, cpu) = idle_loop(cluster.clone(), driving, secs);
        idle_rows.push(format!(
            "| real loop, {label}: frames in ~{} s (incl. start-up) / CPU while idle | {frames} frames / {cpu:.2} % |",
            secs + 1
        ));
    }

    println!("| 1,000 nodes, 160×48: scrolling (reducer + draw per frame) | into | median µs | p99 µs | max µs |");
    println!("|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    println!();
    println!("| idle, 1,000 nodes, snapshot every 2 s with unchanged facts | result |");
    println!("|---|---|");
    for r in idle_rows {
        println!("{r}");
    }
}
