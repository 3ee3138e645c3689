//! Everything shown that changes with the clock alone: the elapsed time, how long the cluster
//! has run mixed, the ETA, the window, the gate countdown and the nodes' last answers.

use super::layout::node_window;
use crate::tui::state::{MIN_HEIGHT, MIN_WIDTH, Overlay, State};
use crate::tui::text::{coarse, hms};
use std::fmt::Write;

/// The elapsed run time, frozen when the run finished.
pub fn elapsed_text(state: &State) -> Option<String> {
    let start = state.run.started?;
    let end = state.run.finished_at.unwrap_or(state.now);
    Some(hms(end.as_second() - start.as_second()))
}

/// How long the cluster has run mixed versions (R7), coarse so it does not tick every second.
pub fn mixed_text(state: &State) -> Option<String> {
    let since = state.live.mixed_since?;
    Some(coarse(state.now.as_second() - since.as_second()))
}

/// Everything shown that changes with the clock alone. The reducer redraws on a tick only when
/// this changes, so an idle screen is not redrawn.
pub fn clock_signature(state: &State) -> String {
    let mut s = String::new();
    let _ =
        write!(s, "{:?}|{:?}|{:?}|{:?}", elapsed_text(state), mixed_text(state), state.eta_text(), state.window_text());
    if let Some(w) = &state.run.waiting {
        let _ = write!(s, "|w{}", w.left_secs(state.now));
    }
    if state.size.0 >= MIN_WIDTH && state.size.1 >= MIN_HEIGHT {
        let (start, end) = node_window(state);
        for &i in state.ui.visible.get(start..end).unwrap_or(&[]) {
            if let Some(r) = state.live.rows.get(i) {
                let _ = write!(s, "|{}{}", state.seen(r), u8::from(state.role_recently_changed(r)));
            }
        }
    }
    if let Some(Overlay::Node(n)) = &state.ui.overlay
        && let Some(r) = state.live.rows.iter().find(|r| &r.row.host == n)
    {
        let _ = write!(s, "|o{}", state.seen(r));
    }
    s
}
