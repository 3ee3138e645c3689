//! Selection, filter and scrolling: the node filter, moving the selection in the focused pane,
//! the plan pane's rows, and keeping the selection (or the current step) on screen.

use super::Effect;
use crate::tui::screen::detail::detail_lines;
use crate::tui::screen::layout::layout;
use crate::tui::state::*;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Keys while typing in the node filter.
pub(super) fn filter_key(state: &mut State, ev: KeyEvent) -> Vec<Effect> {
    match ev.code {
        KeyCode::Enter => state.ui.filter_editing = false,
        KeyCode::Esc => {
            state.ui.filter.clear();
            state.ui.filter_editing = false;
            state.refilter();
        }
        KeyCode::Backspace => {
            state.ui.filter.backspace();
            state.refilter();
        }
        KeyCode::Up => move_sel(state, -1),
        KeyCode::Down => move_sel(state, 1),
        KeyCode::Char(c) if !ev.modifiers.contains(KeyModifiers::CONTROL) => {
            state.ui.filter.push(c);
            state.refilter();
        }
        _ => return vec![],
    }
    keep_visible(state);
    vec![Effect::Redraw]
}

/// Lines of the plan pane; the current step is expanded with what it does and why.
pub(super) fn rebuild_plan_rows(state: &mut State) {
    let detail = detail_lines(state);
    let mut rows = Vec::with_capacity(state.run.machine.phases.len() + state.steps().count() + 3);
    let current = state.current_position();
    for (p, ph) in state.run.machine.phases.iter().enumerate() {
        rows.push(PlanRow::Phase(p));
        for s in 0..ph.steps.len() {
            rows.push(PlanRow::Step(p, s));
            if current == Some((p, s)) {
                for k in 0..detail {
                    rows.push(PlanRow::Detail(p, s, k));
                }
            }
        }
    }
    // Keep the operator's selection on the same step when rows move.
    let sel_step = state.ui.plan_sel.and_then(|i| state.ui.plan_rows.get(i).copied());
    state.ui.plan_rows = rows;
    if let Some(PlanRow::Step(p, s)) = sel_step {
        state.ui.plan_sel = state.ui.plan_rows.iter().position(|r| *r == PlanRow::Step(p, s));
    }
    if let Some(i) = state.ui.plan_sel {
        state.ui.plan_sel = Some(i.min(state.ui.plan_rows.len().saturating_sub(1)));
    }
}

/// Lines a page key moves in the focused pane.
pub(super) fn page(state: &State) -> usize {
    let a = layout(state);
    let h = match state.ui.focus {
        Pane::Nodes => a.nodes.height.saturating_sub(2),
        Pane::Plan => a.plan.height.saturating_sub(1),
        Pane::Output => a.output.height.saturating_sub(1),
    };
    (h as usize).max(1)
}

fn step_rows(state: &State) -> Vec<usize> {
    state.ui.plan_rows.iter().enumerate().filter(|(_, r)| matches!(r, PlanRow::Step(..))).map(|(i, _)| i).collect()
}

/// Moves the selection (or the output scroll) of the focused pane by `delta` lines.
pub(super) fn move_sel(state: &mut State, delta: i64) {
    let clamp = |cur: usize, len: usize| -> usize {
        if len == 0 {
            return 0;
        }
        (cur as i64).saturating_add(delta).clamp(0, len as i64 - 1) as usize
    };
    match state.ui.focus {
        Pane::Nodes => state.ui.node_sel = clamp(state.ui.node_sel, state.ui.visible.len()),
        Pane::Plan => {
            let rows = step_rows(state);
            if rows.is_empty() {
                return;
            }
            let cur_row = state.ui.plan_sel.or_else(|| {
                let (p, s) = state.current_position()?;
                state.ui.plan_rows.iter().position(|r| *r == PlanRow::Step(p, s))
            });
            let cur = cur_row.and_then(|r| rows.iter().position(|&x| x >= r)).unwrap_or(0);
            state.ui.plan_sel = Some(rows[clamp(cur, rows.len())]);
        }
        Pane::Output => {
            let (len, h) = match state.shown_output() {
                Some((_, o)) => (o.len(), page(state)),
                None => return,
            };
            let max_top = len.saturating_sub(h);
            let top = state.ui.output_scroll.unwrap_or(max_top);
            let new = (top as i64).saturating_add(delta).clamp(0, max_top as i64) as usize;
            state.ui.output_scroll = if new >= max_top { None } else { Some(new) };
        }
    }
}

/// Adjusts scroll offsets so the selection (or the current step) stays on screen.
pub(super) fn keep_visible(state: &mut State) {
    let a = layout(state);
    let h = a.nodes.height.saturating_sub(2).max(1) as usize;
    state.ui.node_sel = state.ui.node_sel.min(state.ui.visible.len().saturating_sub(1));
    if state.ui.node_sel < state.ui.node_scroll {
        state.ui.node_scroll = state.ui.node_sel;
    } else if state.ui.node_sel >= state.ui.node_scroll + h {
        state.ui.node_scroll = state.ui.node_sel + 1 - h;
    }
    state.ui.node_scroll = state.ui.node_scroll.min(state.ui.visible.len().saturating_sub(h));
    // Plan: the selection, else the current step with its detail lines, else the first
    // unfinished step.
    let ph = a.plan.height.saturating_sub(1).max(1) as usize;
    let target = state.ui.plan_sel.map(|i| (i, i)).or_else(|| {
        let (p, s) = match state.current_position() {
            Some(x) => x,
            None => {
                let first = state.ui.plan_rows.iter().position(|r| match r {
                    PlanRow::Step(p, s) => state.run.machine.phases[*p].steps[*s].state != StepState::Done,
                    _ => false,
                })?;
                return Some((first.saturating_sub(1), first));
            }
        };
        let start = state.ui.plan_rows.iter().position(|r| *r == PlanRow::Step(p, s))?;
        let end = state.ui.plan_rows.iter().rposition(|r| matches!(r, PlanRow::Detail(a, b, _) if (*a, *b) == (p, s)));
        Some((start.saturating_sub(1), end.unwrap_or(start)))
    });
    if let Some((start, end)) = target {
        if start < state.ui.plan_scroll {
            state.ui.plan_scroll = start;
        } else if end >= state.ui.plan_scroll + ph {
            state.ui.plan_scroll = (end + 1 - ph).min(start);
        }
    }
    state.ui.plan_scroll = state.ui.plan_scroll.min(state.ui.plan_rows.len().saturating_sub(ph));
}
