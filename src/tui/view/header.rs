//! The header (cluster, versions, run state, progress, clocks) and the banner under it, which
//! says what the run waits for: a gate with its countdown and blocker, a pause, the end.

use super::put;
use crate::tui::state::{PauseState, State, Stopping};
use crate::tui::text::{coarse, hms, mmss, wrap};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// The elapsed run time, frozen when the run finished.
pub fn elapsed_text(state: &State) -> Option<String> {
    let start = state.run_started?;
    let end = state.finished_at.unwrap_or(state.now);
    Some(hms(end.as_second() - start.as_second()))
}

/// How long the cluster has run mixed versions (R7), coarse so it does not tick every second.
pub fn mixed_text(state: &State) -> Option<String> {
    let since = state.mixed_since?;
    Some(coarse(state.now.as_second() - since.as_second()))
}

/// "4.2.0 → 4.2.1", "4.2.0 ×5 · 4.2.1 ×3 → 4.2.1", "all on 4.2.1", and for a run whose target
/// is older than what it started from, "downgrade 4.2.1 → 4.2.0": the run's target (a `--to`
/// given on the command line included), not only the config's.
pub fn versions_text(state: &State) -> String {
    let (target, down) = state.target_direction().unwrap_or((&state.cluster.target, false));
    let word = if down { "downgrade " } else { "" };
    match state.versions.as_slice() {
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
        && state.run_end.is_none()
    {
        l1.push(Span::styled(format!("  {lanes}"), t.current));
    } else if let Some(c) = state.current()
        && state.run_end.is_none()
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
    if state.pause_policy != crate::run::events::PausePolicy::Every {
        l2.push(Span::styled(format!(" · pause: {}", state.pause_policy.as_str()), t.warn));
    }
    if let Some(m) = mixed_text(state) {
        l2.push(Span::styled(format!(" · mixed versions for {m} (R7)"), t.warn));
    }
    if let Some(id) = &state.run_id {
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

/// The banner's two lines and its style, when there is something to say.
pub fn banner(state: &State) -> Option<(String, String, Style)> {
    let t = &state.theme;
    let resume = if state.rehearsal {
        // A rehearsal starts over: its twin is torn down when rollpilot quits.
        "rollpilot rehearse".to_string()
    } else {
        format!("rollpilot resume -c {}", state.config_path.display())
    };
    if let Some(why) = &state.readonly {
        return Some((
            format!("READ-ONLY: {why}."),
            "Nothing is run from here; keys that would act are refused. The plan shown is estimated from the live cluster.".into(),
            t.warn,
        ));
    }
    if let Some(who) = &state.observer_of {
        return Some((
            format!("READ-ONLY: {who} drives this cluster."),
            "The plan shown is estimated from the live cluster; the driver's may differ.".into(),
            t.warn,
        ));
    }
    if let Some((end, msg)) = &state.run_end {
        let style = if *end == crate::run::events::RunEnd::Done { t.ok } else { t.fail };
        return Some((
            format!("Run finished: {} — {msg}", end.as_str().to_uppercase()),
            "q: quit · l: full log".into(),
            style,
        ));
    }
    match state.stopping {
        Stopping::AfterStep => {
            return Some((
                "Stopping: the running step finishes and is journaled, then the run stops and rollpilot quits.".into(),
                format!("Ctrl-C: stop now instead. Continue later with `{resume}`."),
                t.warn,
            ));
        }
        Stopping::Now => {
            return Some((
                "Stopping now: waiting for the executor to stop; a running step goes on on its host.".into(),
                format!("Continue later with `{resume}` (it re-attaches to the step)."),
                t.warn,
            ));
        }
        Stopping::No => {}
    }
    match &state.pause {
        PauseState::Paused(reason) => {
            return Some((
                format!("‖ PAUSED: {reason}"),
                format!("p: resume · q: quit (continue later with `{resume}`)"),
                t.warn,
            ));
        }
        PauseState::Pausing => {
            let second = if state.ctrl_c > 0 {
                "Ctrl-C again: stop now (the step goes on on its host, `resume` re-attaches) · p: cancel the pause"
            } else {
                "p: cancel the pause"
            };
            return Some(("‖ Pausing after the current step.".into(), second.into(), t.warn));
        }
        PauseState::Running => {}
    }
    if let Some(w) = &state.waiting {
        let left = mmss(w.left_secs(state.now));
        let (head, tail) = if w.after {
            (
                format!("~ CHECKING {} · {left} left, then you are asked", w.step),
                format!("{} — not yet: {}", w.what, w.blocker),
            )
        } else {
            (
                format!("… WAITING before {} · {left} left, then you are asked", w.step),
                format!("{} — blocked by: {}", w.what, w.blocker),
            )
        };
        return Some((head, tail, t.warn));
    }
    None
}

/// The banner's lines at `width` columns: the head, then the rest wrapped on up to two lines.
pub fn banner_lines(state: &State, width: u16) -> Vec<(String, Style)> {
    let Some((a, b, style)) = banner(state) else { return Vec::new() };
    let mut out = vec![(format!(" {a}"), style)];
    let w = (width as usize).saturating_sub(3).max(1);
    let wrapped = wrap(&b, w);
    let n = wrapped.len();
    for (i, l) in wrapped.into_iter().take(2).enumerate() {
        let cut = i == 1 && n > 2;
        out.push((format!("   {l}{}", if cut { " …" } else { "" }), state.theme.base));
    }
    out
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
