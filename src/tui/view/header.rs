//! The header (cluster, versions, run state, progress, clocks) and the banner under it, which
//! says what the run waits for: a gate with its countdown and blocker, a pause, the end.

use super::put;
use crate::tui::screen::banner::banner_lines;
use crate::tui::screen::clock::{elapsed_text, mixed_text};
use crate::tui::state::State;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

/// "4.2.0 → 4.2.1", "4.2.0 ×5 · 4.2.1 ×3 → 4.2.1", "all on 4.2.1", and for a run whose target
/// is older than what it started from, "downgrade 4.2.1 → 4.2.0": the run's target (a `--to`
/// given on the command line included), not only the config's.
pub fn versions_text(state: &State) -> String {
    let (target, down) = state.target_direction().unwrap_or((&state.cluster.target, false));
    let word = if down { "downgrade " } else { "" };
    match state.live.versions.as_slice() {
        [] => format!("{word}? → {target}"),
        [(v, _)] if v == target => format!("all on {target}"),
        [(v, _)] => format!("{word}{v} → {target}"),
        many => {
            let parts: Vec<String> = many.iter().map(|(v, n)| format!("{v} ×{n}")).collect();
            format!("{word}{} → {target}", parts.join(" · "))
        }
    }
}

/// The lanes line: when several steps run side by side (a batch, or server groups with
/// `parallel_groups`), each one's group, action and node, so the operator sees every lane move,
/// not just the last step that started. `None` while at most one step runs.
pub fn lanes_text(state: &State) -> Option<String> {
    let running: Vec<String> = state
        .steps()
        .filter(|s| s.state.is_running())
        .map(|s| format!("{}: {} {}", s.step.group, s.step.action, s.step.node))
        .collect();
    (running.len() > 1).then(|| format!("side by side: {}", running.join(" · ")))
}

/// The two header lines.
pub fn render(state: &State, area: Rect, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    let t = &state.theme;
    let run_state = format!(" {} ", state.run_state_word());
    let mut l1 = vec![
        Span::styled(" rollpilot ", t.dim),
        Span::styled(state.cluster.name.clone(), t.header),
        Span::styled("  ", t.base),
        Span::styled(versions_text(state), t.header),
        Span::styled("  ", t.base),
        Span::styled(run_state, t.run_state),
    ];
    if let Some(lanes) = lanes_text(state)
        && state.run.end.is_none()
    {
        l1.push(Span::styled(format!("  {lanes}"), t.current));
    } else if let Some(c) = state.current()
        && state.run.end.is_none()
    {
        l1.push(Span::styled(format!("  {c}"), t.current));
    }
    buf.set_line(area.x, area.y, &Line::from(l1), area.width);
    if area.height < 2 {
        return;
    }
    let (done, total) = state.progress();
    let cells = 12usize;
    let filled = (done * cells).checked_div(total).unwrap_or(0).min(cells);
    let mut l2 = if state.is_observer() {
        vec![Span::styled(format!(" {total} steps remain (estimated from the live cluster)"), t.base)]
    } else {
        vec![
            Span::styled(" ", t.base),
            Span::styled("█".repeat(filled), t.gauge),
            Span::styled("░".repeat(cells - filled), t.dim),
            Span::styled(format!(" {done}/{total} steps"), t.base),
        ]
    };
    if let Some((i, _)) = state.current_phase() {
        l2.push(Span::styled(format!(" · phase {}/{}", i + 1, state.phases().len()), t.base));
    }
    if let Some(e) = elapsed_text(state) {
        l2.push(Span::styled(format!(" · elapsed {e}"), t.base));
    }
    if let Some(e) = state.eta_text() {
        l2.push(Span::styled(format!(" · {e}"), t.base));
    }
    if let Some(w) = state.window_text() {
        l2.push(Span::styled(format!(" · {w}"), t.warn));
    }
    if state.run.pause_policy != crate::run::events::PausePolicy::Every {
        l2.push(Span::styled(format!(" · pause: {}", state.run.pause_policy.as_str()), t.warn));
    }
    if let Some(m) = mixed_text(state) {
        l2.push(Span::styled(format!(" · mixed versions for {m} (R7)"), t.warn));
    }
    if let Some(id) = &state.run.id {
        l2.push(Span::styled(format!(" · run {id}"), t.dim));
    }
    buf.set_line(area.x, area.y + 1, &Line::from(l2), area.width);
}

/// A rehearsal's mark, drawn last on the top line of every screen (over overlays and dialogs),
/// so nothing on a rehearsal's screen can be taken for the real window.
pub fn render_rehearsal(state: &State, area: Rect, buf: &mut Buffer) {
    if !state.rehearsal || area.height == 0 || area.width == 0 {
        return;
    }
    let long = " REHEARSAL · simulated twin, nothing runs on real hosts ";
    // The long form only where it leaves the header's cluster, target, run state and current
    // step readable (they take about 80 columns).
    let text = if (long.chars().count() as u16) + 80 <= area.width { long } else { " REHEARSAL " };
    let w = (text.chars().count() as u16).min(area.width);
    let x = area.x + area.width - w;
    buf.set_stringn(x, area.y, text, w as usize, state.theme.warn.add_modifier(ratatui::style::Modifier::REVERSED));
}

/// Draws the banner.
pub fn render_banner(state: &State, area: Rect, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    buf.set_style(area, state.theme.base);
    for (i, (l, style)) in banner_lines(state, area.width).iter().enumerate().take(area.height as usize) {
        put(buf, area.x, area.y + i as u16, area.width, l, *style);
    }
}
