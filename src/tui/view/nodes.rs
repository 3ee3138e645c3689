//! The node table: host, group, role, version, sync, health, step state and last answer. Stale
//! values (the host missed the latest probe) are dimmed and marked `*`; a role that changed (a
//! failover) stands out for a minute. Only the rows on screen are formatted, so a thousand nodes
//! cost what forty do.

use super::{put, title_line};
use crate::tui::state::{NodeRow, Pane, State, StepState};
use crate::tui::text::width;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Span;

/// The rows of `visible` on screen: `[start, end)`.
pub fn window(state: &State) -> (usize, usize) {
    let a = super::layout(state);
    let h = a.nodes.height.saturating_sub(2) as usize;
    let start = state.node_scroll.min(state.visible.len());
    (start, (start + h).min(state.visible.len()))
}

struct Widths {
    host: usize,
    group: usize,
    role: usize,
    version: usize,
    sync: usize,
    health: usize,
    step: usize,
    seen: usize,
}

fn widths(state: &State, total: usize) -> Widths {
    let mut w = Widths { host: 4, group: 5, role: 4, version: 7, sync: 4, health: 6, step: 4, seen: 9 };
    for r in &state.rows {
        w.host = w.host.max(width(&r.row.host));
        w.group = w.group.max(width(&r.row.group));
        w.role = w.role.max(width(&r.row.role) + 1);
        w.version = w.version.max(r.row.version.as_deref().map(width).unwrap_or(1) + 1);
        w.sync = w.sync.max(width(&r.row.sync) + 1);
        w.health = w.health.max(if r.row.reachable { width(&r.row.health) + 1 } else { 11 });
    }
    w.host = w.host.min(28);
    w.group = w.group.min(14);
    w.version = w.version.min(16);
    let fixed = w.host + w.group + w.role + w.version + w.sync + w.health + w.seen + 8;
    w.step = total.saturating_sub(fixed).clamp(4, 24);
    w
}

fn health_style(state: &State, r: &NodeRow) -> Style {
    let t = &state.theme;
    if !r.row.reachable {
        return t.fail;
    }
    match r.row.health.as_str() {
        "ok" => t.ok,
        "failed" => t.fail,
        _ => t.dim,
    }
}

fn sync_style(state: &State, r: &NodeRow) -> Style {
    let t = &state.theme;
    match r.row.sync.as_str() {
        "in-sync" => t.ok,
        "syncing" => t.warn,
        "out-of-sync" => t.fail,
        "unknown" => t.dim,
        _ => t.base,
    }
}

fn step_style(state: &State, s: StepState) -> Style {
    let t = &state.theme;
    match s {
        StepState::Running | StepState::Verifying => t.running,
        StepState::Failed(_) => t.fail,
        StepState::Waiting | StepState::Asking | StepState::Approved => t.warn,
        StepState::Done => t.ok,
        _ => t.dim,
    }
}

/// Draws the table.
pub fn render(state: &State, area: Rect, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    let t = &state.theme;
    let focused = state.focus == Pane::Nodes;
    let total = state.rows.len();
    let mut title = vec![Span::raw(format!(" Nodes ({total}) "))];
    if state.filter_editing || !state.filter.text.is_empty() {
        let cursor = if state.filter_editing { "▏" } else { "" };
        title.push(Span::styled(
            format!("· filter /{}{cursor} ({} of {total}) ", state.filter.text, state.visible.len()),
            t.warn,
        ));
    }
    if state.rows.iter().any(|r| r.row.stale) {
        title.push(Span::styled("· * = last known value ", t.dim));
    }
    title_line(state, area, buf, title, focused);
    if area.height < 2 {
        return;
    }
    let w = widths(state, area.width as usize);
    let cols: [(&str, usize); 8] = [
        ("HOST", w.host),
        ("GROUP", w.group),
        ("ROLE", w.role),
        ("VERSION", w.version),
        ("SYNC", w.sync),
        ("HEALTH", w.health),
        ("STEP", w.step),
        ("SEEN", w.seen),
    ];
    let mut x = area.x + 1;
    let right = area.right();
    for (name, cw) in cols {
        if x >= right {
            break;
        }
        let cw = (cw as u16).min(right - x);
        put(buf, x, area.y + 1, cw, name, t.title);
        x = x.saturating_add(cw + 1);
    }
    if state.rows.is_empty() {
        if area.height > 2 {
            put(buf, area.x + 1, area.y + 2, area.width.saturating_sub(1), "no nodes in the config", t.dim);
        }
        return;
    }
    if state.visible.is_empty() {
        if area.height > 2 {
            put(
                buf,
                area.x + 1,
                area.y + 2,
                area.width.saturating_sub(1),
                "no node matches the filter (Esc clears it)",
                t.dim,
            );
        }
        return;
    }
    let (start, end) = window(state);
    for (line, vi) in (start..end).enumerate() {
        let y = area.y + 2 + line as u16;
        if y >= area.bottom() {
            break;
        }
        let Some(r) = state.visible.get(vi).and_then(|&i| state.rows.get(i)) else { continue };
        let selected = vi == state.node_sel;
        let row_area = Rect::new(area.x, y, area.width, 1);
        let sel_style =
            if selected { if focused { t.selected } else { t.selected_unfocused } } else { Style::default() };
        if selected {
            buf.set_style(row_area, sel_style);
            put(buf, area.x, y, 1, "›", t.current.patch(sel_style));
        }
        let stale = if r.row.stale { "*" } else { "" };
        let stale_style = |s: Style| if r.row.stale { s.patch(t.stale) } else { s };
        let role_style = if state.role_recently_changed(r) {
            t.changed
        } else if r.row.role == "active" || r.row.role == "master" {
            t.header
        } else {
            t.base
        };
        let version = r.row.version.clone().unwrap_or_else(|| "?".into());
        let health = if r.row.reachable { format!("{}{stale}", r.row.health) } else { "UNREACHABLE".into() };
        let (step_state, step_text) =
            state.node_steps.get(&r.row.host).cloned().unwrap_or((StepState::Pending, "-".to_string()));
        let seen = state.seen(r);
        let cells: [(String, Style); 8] = [
            (r.row.host.clone(), t.base),
            (r.row.group.clone(), t.dim),
            (format!("{}{stale}", r.row.role), stale_style(role_style)),
            (format!("{version}{stale}"), stale_style(if r.at_target { t.ok } else { t.base })),
            (format!("{}{stale}", r.row.sync), stale_style(sync_style(state, r))),
            (health, health_style(state, r)),
            (step_text, step_style(state, step_state)),
            (seen, if r.row.stale || !r.row.reachable { t.warn } else { t.dim }),
        ];
        let mut x = area.x + 1;
        for ((text, style), (_, cw)) in cells.iter().zip(cols) {
            if x >= right {
                break;
            }
            let cw = (cw as u16).min(right - x);
            put(buf, x, y, cw, text, style.patch(sel_style));
            x = x.saturating_add(cw + 1);
        }
    }
}
