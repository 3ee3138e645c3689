//! The async loop over a test backend: it draws, forwards commands, waits for the executor to
//! stop before quitting mid-run, and quits at once in observer mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "tui_common.rs"]
mod common;

use common::*;
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

fn ctx(
    events: Option<mpsc::UnboundedReceiver<Event>>,
    commands: Option<mpsc::UnboundedSender<Command>>,
    observer_of: Option<String>,
) -> (TuiContext, watch::Sender<rollpilot::probe::Snapshot>) {
    let mut sim = Sim::new(80, 24, Theme::default_colors());
    let (snap_tx, snap_rx) = watch::channel(sim.snapshot());
    let c = TuiContext {
        cluster: cluster(),
        config_path: PathBuf::from(CONFIG),
        snapshots: snap_rx,
        events,
        commands,
        observer_of,
        shell: Arc::new(|_n: &Node| std::process::Command::new("true")),
        options: Default::default(),
    };
    (c, snap_tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observer_quits_on_q() {
    let (c, _snap) = ctx(None, None, Some("alice".into()));
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
    let (c, _snap) = ctx(Some(ev_rx), Some(cmd_tx), None);
    let (tx, input) = keys();
    let mut screen = BackendScreen::new(TestBackend::new(80, 24)).unwrap();
    let driver = tokio::spawn(async move {
        let r = app::drive(&mut screen, c, Theme::default_colors(), input).await;
        (r, screen.frames)
    });
    ev_tx
        .send(Event::Started {
            run: RUN.into(),
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
