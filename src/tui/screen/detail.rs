//! The current step's expanded lines in the plan pane: the plan pane draws them and the reducer
//! lays the plan rows out with their count.

use super::layout::layout;
use crate::tui::state::{State, StepView};
use crate::tui::text::{truncate, wrap};

/// Indent of the expanded lines under the current step.
pub const DETAIL_INDENT: usize = 6;

/// The expanded lines of the current step at the plan pane's width: the summary (up to three
/// lines) and why it comes now.
pub fn detail_text(state: &State, s: &StepView) -> Vec<(String, bool)> {
    let w = (layout(state).plan.width as usize).saturating_sub(DETAIL_INDENT + 1).max(10);
    let mut out: Vec<(String, bool)> = wrap(&s.step.summary, w).into_iter().take(3).map(|l| (l, false)).collect();
    if let Some(first) = wrap(&format!("why: {}", s.step.reason), w).into_iter().next() {
        let cut = format!("why: {}", s.step.reason).len() > first.len();
        out.push((if cut { truncate(&format!("{first} …"), w) } else { first }, true));
    }
    out
}

/// How many expanded lines the current step gets (the reducer lays the rows out with it).
pub fn detail_lines(state: &State) -> usize {
    match state.current().and_then(|c| state.step(c)) {
        Some(s) => detail_text(state, s).len(),
        None => 0,
    }
}
