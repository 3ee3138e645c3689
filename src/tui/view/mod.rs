//! Rendering: `render(&State, &mut Frame)` and nothing else. Views read the state only; the
//! layout is a pure function of the state so that the reducer can scroll by pages that match
//! what is on screen.

pub mod dialog;
pub mod header;
pub mod nodes;
pub mod output;
pub mod overlay;
pub mod plan;
pub mod status;

use super::screen::layout::layout;
use super::state::{MIN_HEIGHT, MIN_WIDTH, State};
use super::text::{self, truncate};
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// Draws the whole screen from the state.
pub fn render(state: &State, frame: &mut Frame) {
    let area = frame.area();
    let buf = frame.buffer_mut();
    draw(state, area, buf);
}

/// Draws into a buffer (the benchmark renders without a terminal).
pub fn draw(state: &State, area: Rect, buf: &mut Buffer) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(state, area, buf);
        header::render_rehearsal(state, area, buf);
        return;
    }
    let a = layout(state);
    header::render(state, a.header, buf);
    header::render_banner(state, a.banner, buf);
    nodes::render(state, a.nodes, buf);
    plan::render(state, a.plan, buf);
    output::render(state, a.output, buf);
    output::render_notes(state, a.notes, buf);
    for y in a.separator.top()..a.separator.bottom() {
        buf.set_string(a.separator.x, y, "│", state.theme.border);
    }
    status::render(state, a.status, buf);
    if let Some(o) = &state.ui.overlay {
        overlay::render(state, o, area, buf);
    }
    if let Some(super::state::Modal::Question(q)) = &state.ui.modal_under {
        dialog::render_question(state, q, area, buf);
    }
    match &state.ui.modal {
        Some(super::state::Modal::Question(q)) => dialog::render_question(state, q, area, buf),
        Some(super::state::Modal::Quit { focus }) => dialog::render_quit(state, *focus, area, buf),
        None => {}
    }
    header::render_rehearsal(state, area, buf);
}

/// The screen when the terminal is too small: what is needed, and that q and Ctrl-C still work.
fn too_small(state: &State, area: Rect, buf: &mut Buffer) {
    let t = &state.theme;
    let mut lines = vec![
        (format!("Terminal too small: need {MIN_WIDTH}×{MIN_HEIGHT}, have {}×{}.", area.width, area.height), t.fail),
        ("Enlarge the window; the run goes on meanwhile.".to_string(), t.base),
    ];
    if state.question().is_some() {
        lines.push(("A decision is waiting for you.".to_string(), t.warn));
    }
    lines.push((
        if state.run_in_progress() {
            "q: quit (asks first) · Ctrl-C: pause after this step".to_string()
        } else {
            "q or Ctrl-C: quit".to_string()
        },
        t.dim,
    ));
    let mut wrapped: Vec<(String, Style)> = Vec::new();
    for (l, s) in lines {
        for w in text::wrap(&l, area.width as usize) {
            wrapped.push((w, s));
        }
    }
    let top = area.y + (area.height.saturating_sub(wrapped.len() as u16)) / 2;
    for (i, (l, s)) in wrapped.iter().enumerate() {
        let y = top + i as u16;
        if y >= area.bottom() {
            break;
        }
        let w = text::width(l) as u16;
        let x = area.x + area.width.saturating_sub(w) / 2;
        buf.set_stringn(x, y, l, area.width as usize, *s);
    }
}

/// A pane's title line: `── Title ─────`, highlighted when the pane has the keyboard.
pub(crate) fn title_line(state: &State, area: Rect, buf: &mut Buffer, title: Vec<Span<'_>>, focused: bool) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let t = &state.theme;
    let rule = "─".repeat(area.width as usize);
    buf.set_stringn(area.x, area.y, &rule, area.width as usize, t.border);
    let mut spans =
        vec![Span::styled(if focused { "▌" } else { "─" }, if focused { t.title_focused } else { t.border })];
    let style = if focused { t.title_focused } else { t.title };
    for s in title {
        let st = if s.style == Style::default() { style } else { s.style };
        spans.push(Span::styled(s.content, st));
    }
    spans.push(Span::styled(" ", style));
    buf.set_line(area.x, area.y, &Line::from(spans), area.width);
}

/// Writes one line cut to `width` with `…` when too long.
pub(crate) fn put(buf: &mut Buffer, x: u16, y: u16, width: u16, s: &str, style: Style) -> u16 {
    if width == 0 {
        return x;
    }
    let t = truncate(s, width as usize);
    let (nx, _) = buf.set_stringn(x, y, &t, width as usize, style);
    nx
}
