//! Where each part of the screen goes, as a pure function of the state, so that page keys move
//! by what is on screen and the views draw into the same rectangles.

use super::banner::banner_lines;
use crate::tui::state::State;
use ratatui::layout::{Constraint, Layout, Rect};

/// Where each part of the screen goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Areas {
    /// Two header lines.
    pub header: Rect,
    /// The banner (gate countdown, pause, finished, observer); empty when there is none.
    pub banner: Rect,
    /// The node table (title line, column header, rows).
    pub nodes: Rect,
    /// The plan (title line, rows).
    pub plan: Rect,
    /// The running step's output (title line, lines).
    pub output: Rect,
    /// The latest log lines (wide screens only; empty otherwise).
    pub notes: Rect,
    /// The vertical separator between the columns (wide screens only).
    pub separator: Rect,
    /// The key bar.
    pub status: Rect,
}

/// Screens at least this wide show two columns.
pub const WIDE: u16 = 120;

/// The layout for the state's terminal size.
pub fn layout(state: &State) -> Areas {
    let area = Rect::new(0, 0, state.size.0, state.size.1);
    let banner_h = banner_lines(state, area.width).len() as u16;
    let [header, banner, body, status] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(banner_h),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let rows = state.ui.visible.len().max(1) as u16;
    if area.width >= WIDE {
        let [left, separator, right] =
            Layout::horizontal([Constraint::Percentage(52), Constraint::Length(1), Constraint::Fill(1)]).areas(body);
        let nodes_h = (rows + 2).min(left.height * 6 / 10).max(4.min(left.height));
        let [nodes, output] = Layout::vertical([Constraint::Length(nodes_h), Constraint::Fill(1)]).areas(left);
        let notes_h = 8.min(right.height / 3);
        let [plan, notes] = Layout::vertical([Constraint::Fill(1), Constraint::Length(notes_h)]).areas(right);
        Areas { header, banner, nodes, plan, output, notes, separator, status }
    } else {
        let nodes_h = (rows + 2).min(body.height / 2).max(3.min(body.height));
        let out_h = (body.height / 4).max(3.min(body.height));
        let [nodes, plan, output] =
            Layout::vertical([Constraint::Length(nodes_h), Constraint::Fill(1), Constraint::Length(out_h)]).areas(body);
        Areas { header, banner, nodes, plan, output, notes: Rect::default(), separator: Rect::default(), status }
    }
}

/// The rows of `visible` on screen: `[start, end)`.
pub fn node_window(state: &State) -> (usize, usize) {
    let a = layout(state);
    let h = a.nodes.height.saturating_sub(2) as usize;
    let start = state.ui.node_scroll.min(state.ui.visible.len());
    (start, (start + h).min(state.ui.visible.len()))
}

/// The help's inner size for a terminal: (text width, lines shown).
pub fn help_viewport(size: (u16, u16)) -> (usize, usize) {
    (size.0.saturating_sub(6) as usize, size.1.saturating_sub(4) as usize)
}
