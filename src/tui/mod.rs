//! The full-screen face of the executor. Operators drive rolling upgrades with it at night on
//! production clusters, so it is built to show the truth at a glance, say what the next step
//! will do and why before it is confirmed, keep the safe choice focused, and never leave the
//! terminal broken.
//!
//! Architecture (rust-tui-codebases.md §8): one [`State`](state::State), one synchronous reducer
//! [`update`](update::update) turning [`Action`](update::Action)s into state changes and
//! [`Effect`](update::Effect)s, views that render from `&State` only, a keymap as data
//! ([`keymap`]) from which help and the key bar are generated, what both the reducer and the
//! views compute from the state without drawing ([`screen`]: layout, clock values, help text,
//! which keys act), and a thin async loop
//! ([`app`]) that drains executor events, throttles frames and redraws only on change. The TUI
//! never touches SSH: it receives [`Event`](crate::run::events::Event)s and sends
//! [`Command`](crate::run::events::Command)s.

pub mod app;
pub mod keymap;
pub mod screen;
pub mod state;
pub mod terminal;
pub mod text;
pub mod theme;
pub mod update;
pub mod view;

pub use state::State;
pub use theme::Theme;
pub use update::{Action, Effect, update};

use crate::run::events::{Command, Event, RunEnd};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// Everything the TUI needs from the command line: what to show, where events come from and
/// where commands go. In observer mode there is no executor: only snapshots.
pub struct TuiContext {
    /// The cluster (names, groups, target).
    pub cluster: Arc<crate::model::Cluster>,
    /// The config file, for the `rollpilot resume -c FILE` hint.
    pub config_path: PathBuf,
    /// Live snapshots from the poller.
    pub snapshots: watch::Receiver<crate::probe::Snapshot>,
    /// None in observer mode.
    pub events: Option<mpsc::UnboundedReceiver<Event>>,
    /// None in observer mode.
    pub commands: Option<mpsc::UnboundedSender<Command>>,
    /// Some("alice on laptop-7 (pid 42), since ...") in observer mode.
    pub observer_of: Option<String>,
    /// Builds the interactive shell command for `s` on a node (ssh for ssh clusters, a local shell
    /// for the simulator).
    pub shell: Arc<dyn Fn(&crate::model::Node) -> std::process::Command + Send + Sync>,
    /// How this screen behaves beyond what it shows (quiet, read-only, the window).
    pub options: TuiOptions,
}

/// Choices of the command line that shape the screen.
#[derive(Debug, Clone, Default)]
pub struct TuiOptions {
    /// No bell or desktop notification when a decision waits (`--quiet`).
    pub quiet: bool,
    /// Watch only (`--readonly`, `top`): the reason, shown in the banner and on refused keys.
    pub readonly: Option<String>,
    /// `s` still opens a shell on a node while watching (`top`).
    pub shell_allowed: bool,
    /// When the maintenance window or the time budget ends (the header counts down to it).
    pub window_end: Option<jiff::Timestamp>,
    /// A rehearsal (`rollpilot rehearse`): the simulated twin's directory, where the fault key
    /// injects faults. Every screen carries a REHEARSAL banner.
    pub rehearsal: Option<PathBuf>,
}

/// Runs the TUI until the operator quits (after the run finished, or with confirmation mid-run).
/// Returns how the run ended if it ended, else None (quit while running/paused: resumable).
///
/// The theme is monochrome under `NO_COLOR` or `TERM=dumb`. The terminal is restored on every
/// exit path, panics included; nothing is printed while the TUI owns it.
pub async fn run_tui(ctx: TuiContext) -> std::io::Result<Option<RunEnd>> {
    use futures_util::StreamExt;
    use ratatui::crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
    let theme = Theme::from_env();
    // SIGTERM and SIGHUP (a kill, a closed terminal window) would end the process with the
    // terminal still in raw mode: they act as Ctrl-C twice instead (stop now, quit when the
    // executor has stopped; an observer quits at once).
    let (sig_tx, sig_rx) = mpsc::unbounded_channel::<()>();
    let signals = tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup)) = (signal(SignalKind::terminate()), signal(SignalKind::hangup())) else {
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            if sig_tx.send(()).is_err() {
                break;
            }
        }
    });
    let sig_rx = Arc::new(tokio::sync::Mutex::new(sig_rx));
    let mut screen = app::TtyScreen::new()?;
    let _restore = terminal::RestoreGuard;
    let input = move || -> app::Input {
        let ctrl_c = || Ok(TermEvent::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        let stops = futures_util::stream::unfold(sig_rx.clone(), |rx| async move {
            let got = rx.lock().await.recv().await;
            got.map(|()| ((), rx))
        })
        .flat_map(move |()| futures_util::stream::iter([ctrl_c(), ctrl_c()]));
        futures_util::stream::select(ratatui::crossterm::event::EventStream::new(), stops).boxed()
    };
    let r = app::drive(&mut screen, ctx, theme, input).await;
    signals.abort();
    r
}
