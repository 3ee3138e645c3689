//! The clock and the operator's attention: a tick redraws only when something shown changed
//! with time, and a waiting decision rings the bell and asks for a desktop notification.

use super::Effect;
use crate::tui::screen::clock::clock_signature;
use crate::tui::state::State;
use jiff::Timestamp;

/// Moves the clock; redraws only when a shown clock value changed.
pub(super) fn tick(state: &mut State, now: Timestamp) -> Vec<Effect> {
    let before = clock_signature(state);
    state.now = now;
    if clock_signature(state) != before { vec![Effect::Redraw] } else { vec![] }
}

/// The bell, then a desktop notification in the two escape dialects terminals understand
/// (OSC 9: iTerm2, Windows Terminal, kitty; OSC 777: VTE, foot, rxvt). `text` is sanitized and
/// stripped of the characters that would end the sequence early.
pub fn attention_escapes(text: &str) -> String {
    let clean: String =
        crate::sanitize::lines(text).join(" ").chars().filter(|c| !c.is_control() && *c != ';').take(200).collect();
    format!("\x07\x1b]9;{clean}\x07\x1b]777;notify;rollpilot;{clean}\x07")
}
