//! The one state of the TUI, in three parts: the run as the executor said it ([`RunView`]), the
//! cluster as the poller sees it ([`LiveView`]), both kept in display shape, and the operator's
//! view of them ([`UiState`]: dialogs, focus, selection, scroll, filter). Only the reducer in
//! `update/` changes it; the views read it.

mod live;
mod run;
mod ui;

pub use live::*;
pub use run::*;
pub use ui::*;

use super::theme::Theme;
use crate::model::Cluster;
use jiff::Timestamp;
use std::path::PathBuf;
use std::sync::Arc;

/// Lines of output kept per step (older ones are dropped, the log says so).
pub const OUTPUT_LINES: usize = 2000;
/// Steps whose output is kept (the oldest step's output is dropped first).
pub const OUTPUT_STEPS: usize = 64;
/// Log entries kept.
pub const LOG_LINES: usize = 5000;
/// Longest output line kept, in characters (longer ones are cut and marked).
pub const LINE_MAX: usize = 2000;
/// Smallest terminal the full screen is drawn in.
pub const MIN_WIDTH: u16 = 72;
/// Smallest terminal height the full screen is drawn in.
pub const MIN_HEIGHT: u16 = 20;
/// Keys are ignored this long after a question appears, so that keys typed for something else
/// (the filter, a scroll) cannot answer it by accident.
pub const QUESTION_GUARD_MS: i64 = 400;
/// How long a changed role stays highlighted.
pub const CHANGED_SECS: i64 = 60;

pub use crate::run::machine::StepState;

/// A step as shown: the run state machine's entry (its state, attempts, exit and job come
/// from the executor's events, never from the screen).
pub type StepView = crate::run::machine::StepEntry;

/// A phase as shown: the run state machine's (done steps of earlier plans stay visible,
/// followed by the remaining steps of the latest plan).
pub type PhaseView = crate::run::machine::PhaseEntry;

/// Everything the screen shows: the run as the executor told it, the cluster as the poller
/// sees it, and the operator's own view of both, each kept apart so that each part of the
/// reducer changes only what it is about.
#[derive(Debug, Clone)]
pub struct State {
    /// The cluster (names, groups, target).
    pub cluster: Arc<Cluster>,
    /// The config file, for the resume hint.
    pub config_path: PathBuf,
    /// `Some(holder)` in observer mode: read-only, no executor.
    pub observer_of: Option<String>,
    /// Styles.
    pub theme: Theme,
    /// The latest clock tick.
    pub now: Timestamp,
    /// Terminal size.
    pub size: (u16, u16),
    /// The time zone clock times are shown in (the system's; tests fix it).
    pub tz: jiff::tz::TimeZone,
    /// When the maintenance window (or budget) ends, for the header's "window ends in".
    pub window_end: Option<Timestamp>,
    /// No bell and no desktop notification when a decision waits (`--quiet`).
    pub quiet: bool,
    /// Watching only (`--readonly`, `top`): the reason shown for every refused action key.
    pub readonly: Option<String>,
    /// A rehearsal on a simulated twin (`rollpilot rehearse`): every screen says so.
    pub rehearsal: bool,
    /// `s` opens a shell even though this screen only watches (`top`: a shell drives nothing
    /// of rollpilot's).
    pub shell_allowed: bool,
    /// What the executor said.
    pub run: RunView,
    /// What the poller said.
    pub live: LiveView,
    /// The operator's view: dialogs, focus, selection, scroll, filter.
    pub ui: UiState,
}

impl State {
    /// A fresh state for `cluster`; `observer_of` names who drives when this TUI only watches.
    pub fn new(
        cluster: Arc<Cluster>,
        config_path: PathBuf,
        observer_of: Option<String>,
        theme: Theme,
        now: Timestamp,
    ) -> State {
        let mut s = State {
            cluster,
            config_path,
            observer_of,
            theme,
            now,
            size: (80, 24),
            tz: jiff::tz::TimeZone::system(),
            window_end: None,
            quiet: false,
            readonly: None,
            rehearsal: false,
            shell_allowed: false,
            run: RunView::default(),
            live: LiveView::default(),
            ui: UiState::default(),
        };
        s.rebuild_rows();
        s
    }

    /// Observer mode: someone else drives, this screen only watches.
    pub fn is_observer(&self) -> bool {
        self.observer_of.is_some()
    }

    /// The run is in progress: this TUI drives and the executor has not finished.
    pub fn run_in_progress(&self) -> bool {
        !self.is_observer() && self.run.end.is_none()
    }

    /// The run state word for the header.
    pub fn run_state_word(&self) -> String {
        if self.readonly.is_some() {
            return "WATCHING (read-only)".into();
        }
        if let Some(who) = &self.observer_of {
            let who = who.split(',').next().unwrap_or(who);
            return format!("OBSERVER · {who} drives");
        }
        if let Some((end, _)) = &self.run.end {
            return format!("FINISHED: {}", end.as_str().to_uppercase());
        }
        match self.ui.stopping {
            Stopping::AfterStep => return "STOPPING AFTER THIS STEP".into(),
            Stopping::Now => return "STOPPING NOW".into(),
            Stopping::No => {}
        }
        if self.question().is_some() {
            return "DECISION NEEDED".into();
        }
        match self.run.pause {
            PauseState::Paused(_) => return "PAUSED".into(),
            PauseState::Pausing => return "PAUSING AFTER THIS STEP".into(),
            PauseState::Running => {}
        }
        if let Some(w) = &self.run.waiting {
            return if w.after { "CHECKING".into() } else { "WAITING AT GATE".into() };
        }
        if self.current().and_then(|c| self.step(c)).is_some_and(|s| s.state.is_running()) {
            return "RUNNING".into();
        }
        if self.run.id.is_none() {
            return "STARTING".into();
        }
        if self.run.plan.is_none() { "PLANNING".into() } else { "RUNNING".into() }
    }
}
