//! The async loop over a test backend: it draws, forwards commands, waits for the executor to
//! stop before quitting mid-run, and quits at once in observer mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod engine_support;

use engine_support::tui::terracotta;
use engine_support::{Fake, Lab};
use futures_util::StreamExt;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use rollpilot::model::Node;
use rollpilot::run::events::*;
use rollpilot::tui::app::{self, BackendScreen};
use rollpilot::tui::{Theme, TuiContext};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

type Keys = mpsc::UnboundedSender<std::io::Result<TermEvent>>;

fn keys() -> (Keys, impl FnMut() -> app::Input) {
    let (tx, rx) = mpsc::unbounded_channel::<std::io::Result<TermEvent>>();
    let mut rx = Some(rx);
    let input = move || -> app::Input {
        match rx.take() {
            Some(rx) => {
                futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) }).boxed()
            }
            None => futures_util::stream::pending().boxed(),
        }
    };
    (tx, input)
}

fn press(tx: &Keys, c: KeyCode) {
    tx.send(Ok(TermEvent::Key(KeyEvent::new(c, KeyModifiers::NONE)))).unwrap();
}

/// The Terracotta-shaped scripted cluster, its poller's first snapshot, and the plan the real
/// planner makes for it.
async fn lab() -> (Lab, rollpilot::probe::Snapshot, rollpilot::plan::Plan) {
    let lab = terracotta();
    let transport: Arc<dyn rollpilot::transport::Transport> = Arc::new(Fake { world: lab.world.clone() });
    let poller = rollpilot::probe::Poller::new(lab.cluster.clone(), transport);
    let snap = poller.refresh().await;
    let plan = rollpilot::plan::plan(&rollpilot::plan::PlanRequest {
        cluster: &lab.cluster,
        observed: &snap.observed(),
        target: lab.cluster.target.clone(),
        context: &Default::default(),
    })
    .unwrap();
    (lab, snap, plan)
}

async fn ctx(
    events: Option<mpsc::UnboundedReceiver<Event>>,
    commands: Option<mpsc::UnboundedSender<Command>>,
    observer_of: Option<String>,
) -> (TuiContext, watch::Sender<rollpilot::probe::Snapshot>, rollpilot::plan::Plan) {
    let (lab, snap, plan) = lab().await;
    let (snap_tx, snap_rx) = watch::channel(snap);
    let c = TuiContext {
        cluster: lab.cluster.clone(),
        config_path: PathBuf::from("config/terracotta.toml"),
        snapshots: snap_rx,
        events,
        commands,
        observer_of,
        shell: Arc::new(|_n: &Node| std::process::Command::new("true")),
        options: Default::default(),
    };
    (c, snap_tx, plan)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observer_quits_on_q() {
    let (c, _snap, _) = ctx(None, None, Some("alice".into())).await;
    let (tx, input) = keys();
    let mut screen = BackendScreen::new(TestBackend::new(80, 24)).unwrap();
    press(&tx, KeyCode::Char('q'));
    let end = tokio::time::timeout(Duration::from_secs(10), app::drive(&mut screen, c, Theme::default_colors(), input))
        .await
        .expect("the loop must quit")
        .unwrap();
    assert_eq!(end, None);
    assert!(screen.frames >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quitting_mid_run_interrupts_and_waits_for_the_executor() {
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel();
    let (c, _snap, _) = ctx(Some(ev_rx), Some(cmd_tx), None).await;
    let (tx, input) = keys();
    let mut screen = BackendScreen::new(TestBackend::new(80, 24)).unwrap();
    let driver = tokio::spawn(async move {
        let r = app::drive(&mut screen, c, Theme::default_colors(), input).await;
        (r, screen.frames)
    });
    ev_tx
        .send(Event::Started {
            run: engine_support::tui::RUN.into(),
            journal: PathBuf::from("/tmp/j.jsonl"),
            resumed: false,
            started_at: "2026-11-22T01:58:00Z".parse().unwrap(),
            mixed_since: None,
            done: Vec::new(),
            target: "4.2.1".into(),
            from: vec!["4.2.0".into()],
            downgrade: false,
        })
        .unwrap();
    press(&tx, KeyCode::Char('q'));
    press(&tx, KeyCode::Down);
    press(&tx, KeyCode::Enter);
    let cmd = tokio::time::timeout(Duration::from_secs(10), cmd_rx.recv()).await.unwrap().unwrap();
    assert_eq!(cmd, Command::Interrupt);
    // The loop keeps the screen until the executor says it stopped.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!driver.is_finished());
    ev_tx.send(Event::Finished { end: RunEnd::Interrupted, message: "interrupted".into() }).unwrap();
    let (r, frames) = tokio::time::timeout(Duration::from_secs(10), driver).await.unwrap().unwrap();
    assert_eq!(r.unwrap(), Some(RunEnd::Interrupted));
    assert!(frames >= 2);
}

/// Drives the loop through a question and the end of the run; returns the escapes written.
async fn alerts_for_a_question(quiet: bool) -> Vec<String> {
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let (cmd_tx, _cmd_rx) = mpsc::unbounded_channel();
    let (mut c, _snap, plan) = ctx(Some(ev_rx), Some(cmd_tx), None).await;
    c.options.quiet = quiet;
    let (tx, input) = keys();
    let mut screen = BackendScreen::new(TestBackend::new(80, 24)).unwrap();
    let driver = tokio::spawn(async move {
        let r = app::drive(&mut screen, c, Theme::default_colors(), input).await;
        (r, screen.alerts)
    });
    // The real planner's first step, asked about in the executor's own words.
    let step = plan.step("east/tc-east-2/stop").unwrap().clone();
    ev_tx.send(Event::Planned { plan: Box::new(plan.clone()), reason: "initial plan".into() }).unwrap();
    ev_tx.send(Event::Ask(rollpilot::run::executor::confirmation_question(&step, 1, "bigmemory-prod"))).unwrap();
    ev_tx.send(Event::Finished { end: RunEnd::Aborted, message: "aborted".into() }).unwrap();
    // `q` quits once the loop has seen the end (before that it only opens the quit dialog).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !driver.is_finished() {
        assert!(std::time::Instant::now() < deadline, "the loop did not quit");
        press(&tx, KeyCode::Char('q'));
        tokio::task::yield_now().await;
        let _ = tokio::time::timeout(Duration::from_millis(50), std::future::pending::<()>()).await;
    }
    let (r, alerts) = driver.await.unwrap();
    r.unwrap();
    alerts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_rings_the_bell_through_the_screen_unless_quiet() {
    let alerts = alerts_for_a_question(false).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].starts_with('\x07')
            && alerts[0].contains("\x1b]9;")
            && alerts[0].contains("\x1b]777;notify;rollpilot;")
    );
    assert!(alerts_for_a_question(true).await.is_empty());
}
