//! The reducer: every key, executor event, snapshot and clock tick goes through
//! [`update`], which changes the [`State`] and says what the loop must do ([`Effect`]s). It is
//! synchronous and does no I/O, so every behaviour of the screen is testable without a terminal.

mod dialogs;
mod events;
mod keys;
mod live;
mod selection;
mod timers;

pub use super::screen::allowed::{available, dangerous};
pub use timers::attention_escapes;

use super::state::State;
use crate::plan::Level;
use crate::probe::Snapshot;
use crate::run::events::{Command, Event};
use jiff::Timestamp;
use ratatui::crossterm::event::KeyEvent;

/// Something that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A key was pressed.
    Key(KeyEvent),
    /// The executor said something.
    Exec(Event),
    /// The poller published a snapshot.
    Snapshot(Snapshot),
    /// The clock moved (every second, and before each batch of other actions).
    Tick(Timestamp),
    /// The terminal was resized.
    Resize(u16, u16),
    /// The loop itself has something to tell the operator (a shell ended, the executor vanished).
    Notice {
        /// Info or warning.
        level: Level,
        /// The text.
        text: String,
    },
}

/// What the loop must do after an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send a command to the executor.
    Send(Command),
    /// Leave the TUI.
    Quit,
    /// Suspend the TUI and open an interactive shell on this node.
    OpenShell(String),
    /// Something shown changed: draw again (throttled by the loop).
    Redraw,
}

/// Applies one action to the state and returns what the loop must do.
pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Tick(now) => timers::tick(state, now),
        Action::Resize(w, h) => {
            state.size = (w, h);
            selection::rebuild_plan_rows(state);
            selection::keep_visible(state);
            vec![Effect::Redraw]
        }
        Action::Snapshot(s) => live::snapshot(state, s),
        Action::Exec(e) => {
            // Output and notes arrive in bursts and change neither the plan nor the node table.
            let structural = !matches!(e, Event::Output { .. } | Event::Note { .. });
            let fx = events::exec(state, e);
            if structural {
                refresh_derived(state);
            }
            fx
        }
        Action::Key(k) => {
            let had = state.ui.refused.take().is_some();
            let mut fx = keys::key(state, k);
            if had && !fx.contains(&Effect::Redraw) {
                fx.push(Effect::Redraw);
            }
            fx
        }
        Action::Notice { level, text } => {
            state.push_log(level, text);
            vec![Effect::Redraw]
        }
    }
}

/// Derived views: the node step column, the plan rows, scroll positions.
pub(super) fn refresh_derived(state: &mut State) {
    live::node_steps(state);
    selection::rebuild_plan_rows(state);
    if !state.ui.filter.text.is_empty() {
        state.refilter();
    }
    selection::keep_visible(state);
}
