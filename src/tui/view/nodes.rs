//! The node table: host, group, role, version, sync, health, step state and last answer. Stale
//! values (the host missed the latest probe) are dimmed and marked `*`; a role that changed (a
//! failover) stands out for a minute. Only the rows on screen are formatted, so a thousand nodes
//! cost what forty do.

use super::{put, title_line};
use crate::tui::screen::layout::node_window;
use crate::tui::state::{NodeRow, Pane, State, StepState};
use crate::tui::text::{truncate_middle, width};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Span;

/// A column of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Host,
    Group,
    Kind,
    Role,
    Version,
    Sync,
    Health,
    Step,
    Seen,
}

impl Col {
    fn title(self) -> &'static str {
        match self {
            Col::Host => "HOST",
            Col::Group => "GROUP",
            Col::Kind => "KIND",
            Col::Role => "ROLE",
            Col::Version => "VERSION",
            Col::Sync => "SYNC",
            Col::Health => "HEALTH",
            Col::Step => "STEP",
            Col::Seen => "SEEN",
        }
    }
}

/// The columns shown and their widths for `total` cells. Role, version, sync and health are
/// what an operator decides on, so when the table is narrow the low-value columns give way
/// first: the step column shrinks to its minimum, then KIND and SEEN go, GROUP and HOST
/// narrow, GROUP goes, and only then would the right edge cut anything.
fn columns(state: &State, total: usize) -> Vec<(Col, usize)> {
    let (mut host, mut group, mut kind, mut role, mut version, mut sync, mut health) = (4, 5, 4, 4, 7, 4, 6);
    for r in &state.live.rows {
        host = host.max(width(&r.row.host));
        group = group.max(width(&r.row.group));
        kind = kind.max(width(&r.kind));
        role = role.max(width(&r.row.role) + 1);
        version = version.max(r.row.version.as_deref().map(width).unwrap_or(1) + 1);
        sync = sync.max(width(&r.row.sync) + 1);
        health = health.max(if r.row.reachable { width(&r.row.health) + 1 } else { 11 });
    }
    let mut cols = vec![
        (Col::Host, host.min(28)),
        (Col::Group, group.min(14)),
        (Col::Kind, kind.min(14)),
        (Col::Role, role),
        (Col::Version, version.min(16)),
        (Col::Sync, sync),
        (Col::Health, health),
        (Col::Step, STEP_MIN),
        (Col::Seen, 9),
    ];
    // One cell of margin on the left, one between columns.
    let used = |cols: &[(Col, usize)]| cols.iter().map(|(_, w)| w + 1).sum::<usize>();
    let set = |cols: &mut Vec<(Col, usize)>, c: Col, w: Option<usize>| match w {
        Some(w) => cols.iter_mut().filter(|(x, _)| *x == c).for_each(|(_, cw)| *cw = (*cw).min(w)),
        None => cols.retain(|(x, _)| *x != c),
    };
    let give_way: [(Col, Option<usize>); 7] = [
        (Col::Kind, None),
        (Col::Seen, None),
        (Col::Group, Some(6)),
        (Col::Host, Some(12)),
        (Col::Group, None),
        (Col::Step, Some(4)),
        (Col::Host, Some(8)),
    ];
    for (c, w) in give_way {
        if used(&cols) <= total {
            break;
        }
        set(&mut cols, c, w);
    }
    // Room left goes first to a host name that was narrowed (it tells the rows apart), then
    // to a narrowed group, then to the step column as wide as its texts; then long host and
    // group names show whole, and the step column takes what remains. Host and group keep one
    // cell free before the right edge, so a widened name never touches what is beside the table.
    let step_text = state.live.node_steps.values().map(|(_, t)| width(t)).max().unwrap_or(0).clamp(STEP_MIN, 24);
    let room = total.saturating_sub(used(&cols));
    let mut spare = room.saturating_sub(1);
    let grow = |cols: &mut Vec<(Col, usize)>, want: Col, cap: usize, spare: &mut usize| {
        for (_, w) in cols.iter_mut().filter(|(c, w)| *c == want && (want != Col::Step || *w >= STEP_MIN)) {
            let more = cap.saturating_sub(*w).min(*spare);
            *w += more;
            *spare -= more;
        }
    };
    grow(&mut cols, Col::Host, host.min(28), &mut spare);
    grow(&mut cols, Col::Group, group.min(14), &mut spare);
    grow(&mut cols, Col::Step, step_text, &mut spare);
    grow(&mut cols, Col::Host, host, &mut spare);
    grow(&mut cols, Col::Group, group, &mut spare);
    let mut rest = spare + room.min(1);
    grow(&mut cols, Col::Step, 24, &mut rest);
    cols
}

/// The step column's width before anything else gives way ("· 3 steps").
const STEP_MIN: usize = 9;

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
        StepState::Running { .. } | StepState::Checking { .. } => t.running,
        StepState::Failed { .. } | StepState::InDoubt { .. } => t.fail,
        StepState::Waiting | StepState::AwaitingConfirmation | StepState::Approved => t.warn,
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
    let focused = state.ui.focus == Pane::Nodes;
    let total = state.live.rows.len();
    let mut title = vec![Span::raw(format!(" Nodes ({total}) "))];
    if state.ui.filter_editing || !state.ui.filter.text.is_empty() {
        let cursor = if state.ui.filter_editing { "▏" } else { "" };
        title.push(Span::styled(
            format!("· filter /{}{cursor} ({} of {total}) ", state.ui.filter.text, state.ui.visible.len()),
            t.warn,
        ));
    }
    if state.live.rows.iter().any(|r| r.row.stale) {
        title.push(Span::styled("· * = last known value ", t.dim));
    }
    title_line(state, area, buf, title, focused);
    if area.height < 2 {
        return;
    }
    let cols = columns(state, area.width as usize);
    let mut x = area.x + 1;
    let right = area.right();
    for &(col, cw) in &cols {
        if x >= right {
            break;
        }
        let cw = (cw as u16).min(right - x);
        put(buf, x, area.y + 1, cw, col.title(), t.title);
        x = x.saturating_add(cw + 1);
    }
    if state.live.rows.is_empty() {
        if area.height > 2 {
            put(buf, area.x + 1, area.y + 2, area.width.saturating_sub(1), "no nodes in the config", t.dim);
        }
        return;
    }
    if state.ui.visible.is_empty() {
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
    let (start, end) = node_window(state);
    for (line, vi) in (start..end).enumerate() {
        let y = area.y + 2 + line as u16;
        if y >= area.bottom() {
            break;
        }
        let Some(r) = state.ui.visible.get(vi).and_then(|&i| state.live.rows.get(i)) else { continue };
        let selected = vi == state.ui.node_sel;
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
            state.live.node_steps.get(&r.row.host).cloned().unwrap_or((StepState::Pending, "-".to_string()));
        let seen = state.seen(r);
        let cell = |col: Col, cw: usize| -> (String, Style) {
            match col {
                Col::Host => (truncate_middle(&r.row.host, cw), t.base),
                Col::Group => (r.row.group.clone(), t.dim),
                Col::Kind => (r.kind.clone(), t.dim),
                Col::Role => (format!("{}{stale}", r.row.role), stale_style(role_style)),
                Col::Version => (format!("{version}{stale}"), stale_style(if r.at_target { t.ok } else { t.base })),
                Col::Sync => (format!("{}{stale}", r.row.sync), stale_style(sync_style(state, r))),
                Col::Health => (health.clone(), health_style(state, r)),
                Col::Step => (step_text.clone(), step_style(state, step_state)),
                Col::Seen => (seen.clone(), if r.row.stale || !r.row.reachable { t.warn } else { t.dim }),
            }
        };
        let mut x = area.x + 1;
        for &(col, cw) in &cols {
            if x >= right {
                break;
            }
            let cw = (cw as u16).min(right - x);
            let (text, style) = cell(col, cw as usize);
            put(buf, x, y, cw, &text, style.patch(sel_style));
            x = x.saturating_add(cw + 1);
        }
    }
}
