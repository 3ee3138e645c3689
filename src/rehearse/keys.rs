//! The TUI's fault key in a rehearsal: `x` on a node of the twin, then a digit for the fault.
//! Taken by the TUI loop before the reducer sees the key, because the twin is the loop's, not
//! the run's; in a real run the key does nothing but say so.

use super::faults::OFFERED;
use crate::tui::state::State;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use std::path::Path;

/// The menu shown after `x`.
fn menu(node: &str) -> String {
    let items: Vec<String> = OFFERED.iter().enumerate().map(|(i, k)| format!("{} {}", i + 1, k.as_str())).collect();
    format!("REHEARSAL fault on {node}: {} (any other key cancels)", items.join(" · "))
}

/// Handles a key press for the fault key; `Some(notice)` when the key was taken (the notice is
/// what to tell the operator), `None` when it goes to the reducer as usual.
pub fn take(twin: Option<&Path>, pending: &mut Option<String>, state: &State, key: &KeyEvent) -> Option<String> {
    let twin = twin?;
    if state.ui.modal.is_some() || state.ui.overlay.is_some() || state.ui.filter_editing {
        *pending = None;
        return None;
    }
    if let Some(node) = pending.take() {
        let chosen = match key.code {
            KeyCode::Char(c) => c.to_digit(10).and_then(|d| OFFERED.get((d as usize).checked_sub(1)?)).copied(),
            _ => None,
        };
        return Some(match chosen {
            Some(kind) => match crate::sim::fault(twin, &node, kind, false) {
                Ok(m) => {
                    super::faults::record_from_tui(twin, &format!("{}@{node}", kind.as_str()), &m);
                    format!("REHEARSAL fault injected: {m}")
                }
                Err(e) => format!("REHEARSAL fault not injected: {e}"),
            },
            None => format!("REHEARSAL: no fault injected on {node}"),
        });
    }
    let is_fault_key = crate::tui::keymap::binding(crate::tui::keymap::KeyAction::Fault)
        .is_some_and(|b| b.keys.iter().any(|k| k.matches(key)));
    if !is_fault_key {
        return None;
    }
    let node = state.selected_node()?.row.host.clone();
    let text = menu(&node);
    *pending = Some(node);
    Some(text)
}
