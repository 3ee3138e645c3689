//! The running step's output (already sanitized when it was stored), scrollable, following new
//! lines unless the operator scrolled up; and the latest log lines on wide screens.

use super::{put, title_line};
use crate::plan::Level;
use crate::tui::state::{Pane, State};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Span;

/// Draws the output pane.
pub fn render(state: &State, area: Rect, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    let t = &state.theme;
    let focused = state.ui.focus == Pane::Output;
    let h = area.height.saturating_sub(1) as usize;
    let Some((id, out)) = state.shown_output() else {
        title_line(state, area, buf, vec![Span::raw(" Output ")], focused);
        if area.height > 1 {
            let msg = if state.is_observer() {
                "observer mode: the driver's step output is not visible here"
            } else if state.run.resumed {
                "no output in this session yet"
            } else {
                "no step has run yet"
            };
            put(buf, area.x + 1, area.y + 1, area.width.saturating_sub(1), msg, t.dim);
        }
        return;
    };
    let len = out.len();
    let max_top = len.saturating_sub(h);
    let top = state.ui.output_scroll.unwrap_or(max_top).min(max_top);
    // A step whose command has ended is "last: ID (exit N)"; a running one is just its id.
    let finished = state.step_finished(id);
    // The output of a step that has ended no longer grows: nothing to follow.
    let pos = match state.ui.output_scroll {
        None if finished => String::new(),
        None => " · following".to_string(),
        Some(_) => format!(" · lines {}-{} of {len} · G: follow", top + 1, (top + h).min(len)),
    };
    let dropped = if out.dropped > 0 { format!(" · {} older lines dropped", out.dropped) } else { String::new() };
    let what = if finished {
        let exit = state.step(id).and_then(|s| s.exit).map(|c| format!(" (exit {c})")).unwrap_or_default();
        format!("last: {id}{exit}")
    } else {
        id.to_string()
    };
    title_line(state, area, buf, vec![Span::raw(format!(" Output · {what} on {}{pos}{dropped} ", out.node))], focused);
    if len == 0 {
        if area.height > 1 {
            let msg = if finished { "(it printed nothing)" } else { "(no output yet)" };
            put(buf, area.x + 1, area.y + 1, area.width.saturating_sub(1), msg, t.dim);
        }
        return;
    }
    for i in 0..h {
        let Some(line) = out.line(top + i) else { break };
        let y = area.y + 1 + i as u16;
        put(buf, area.x + 1, y, area.width.saturating_sub(1), &line, t.base);
    }
}

/// Draws the latest log lines (wide screens).
pub fn render_notes(state: &State, area: Rect, buf: &mut Buffer) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let t = &state.theme;
    title_line(
        state,
        area,
        buf,
        vec![Span::raw(format!(" Log · {} entries · l: full log ", state.run.log.len()))],
        false,
    );
    let h = area.height.saturating_sub(1) as usize;
    let start = state.run.log.len().saturating_sub(h);
    for (i, e) in state.run.log.iter().skip(start).enumerate() {
        let y = area.y + 1 + i as u16;
        let (mark, style) = if e.level == Level::Warning { ("!", t.warn) } else { (" ", t.base) };
        let time = e.at.to_zoned(state.tz.clone()).strftime("%H:%M:%S").to_string();
        let line = format!("{time} {mark} {}", e.text);
        put(buf, area.x + 1, y, area.width.saturating_sub(1), &line, style);
    }
}
