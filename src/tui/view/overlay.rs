//! Full-screen overlays: the help (generated from the keymap), the full log, and the details of
//! a node (why it is unreachable) or a step (command, gates, rollback).

use super::put;
use crate::plan::Level;
use crate::plan::render::markers;
use crate::tui::screen::help::help_wrapped;
use crate::tui::screen::layout::help_viewport;
use crate::tui::state::{Overlay, State};
use crate::tui::text::wrap;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Widget};

fn framed(state: &State, area: Rect, buf: &mut Buffer, title: &str) -> Rect {
    let rect = Rect::new(
        area.x + 1.min(area.width),
        area.y + 1.min(area.height),
        area.width.saturating_sub(2),
        area.height.saturating_sub(2),
    );
    // Clear the whole area, margin included: nothing of the panes underneath stays at the edges.
    Clear.render(area, buf);
    buf.set_style(area, state.theme.base);
    let block = Block::bordered()
        .border_style(state.theme.dialog)
        .title(Line::from(Span::styled(format!(" {title} "), state.theme.title)))
        .title_bottom(Line::from(Span::styled(" Esc: close ", state.theme.dim)));
    let inner = block.inner(rect);
    block.render(rect, buf);
    buf.set_style(inner, state.theme.base);
    inner
}

fn lines_into(buf: &mut Buffer, inner: Rect, lines: &[(String, Style)], skip: usize) {
    for (i, (l, s)) in lines.iter().skip(skip).enumerate() {
        let y = inner.y + i as u16;
        if y >= inner.bottom() {
            break;
        }
        put(buf, inner.x + 1, y, inner.width.saturating_sub(2), l, *s);
    }
}

/// Draws an overlay.
pub fn render(state: &State, o: &Overlay, area: Rect, buf: &mut Buffer) {
    match o {
        Overlay::Help => help(state, area, buf),
        Overlay::Log { scroll } => log(state, *scroll, area, buf),
        Overlay::Node(n) => node(state, n, area, buf),
        Overlay::Step(id) => step(state, id, area, buf),
    }
}

fn help(state: &State, area: Rect, buf: &mut Buffer) {
    let (w, h) = help_viewport((area.width, area.height));
    let lines = help_wrapped(state, w);
    let max_top = lines.len().saturating_sub(h);
    let top = state.ui.help_scroll.min(max_top);
    let title = if max_top > 0 {
        format!("Help · keys · lines {}-{} of {} · j/k scroll", top + 1, (top + h).min(lines.len()), lines.len())
    } else {
        "Help · keys".to_string()
    };
    let inner = framed(state, area, buf, &title);
    lines_into(buf, inner, &lines, top);
}

fn log(state: &State, scroll: Option<usize>, area: Rect, buf: &mut Buffer) {
    let inner = framed(state, area, buf, &format!("Log · {} entries", state.run.log.len()));
    let t = &state.theme;
    let h = inner.height as usize;
    let w = inner.width.saturating_sub(2) as usize;
    // Entries wrap (a long note is read in full); continuation lines sit under the text.
    const STAMP: usize = 11;
    let entry_lines = |e: &crate::tui::state::LogEntry| -> Vec<(String, Style)> {
        let (mark, style) = if e.level == Level::Warning { ("!", t.warn) } else { (" ", t.base) };
        let time = e.at.to_zoned(state.tz.clone()).strftime("%H:%M:%S").to_string();
        wrap(&e.text, w.saturating_sub(STAMP).max(8))
            .into_iter()
            .enumerate()
            .map(|(i, x)| (if i == 0 { format!("{time} {mark} {x}") } else { format!("{:STAMP$}{x}", "") }, style))
            .collect()
    };
    let mut lines: Vec<(String, Style)> = Vec::new();
    match scroll {
        // Follow the end: the newest entries that fit, oldest of them first.
        None => {
            for e in state.run.log.iter().rev() {
                let mut l = entry_lines(e);
                if lines.len() + l.len() > h && !lines.is_empty() {
                    break;
                }
                l.extend(lines);
                lines = l;
            }
            let skip = lines.len().saturating_sub(h);
            lines.drain(..skip);
        }
        Some(top) => {
            for e in state.run.log.iter().skip(top) {
                if lines.len() >= h {
                    break;
                }
                lines.extend(entry_lines(e));
            }
        }
    }
    lines_into(buf, inner, &lines, 0);
}

fn node(state: &State, name: &str, area: Rect, buf: &mut Buffer) {
    let t = &state.theme;
    let inner = framed(state, area, buf, &format!("Node {name}"));
    let w = inner.width.saturating_sub(2) as usize;
    let mut l: Vec<(String, Style)> = Vec::new();
    let mut say = |label: &str, value: String, style: Style| {
        for (i, x) in wrap(&format!("{label:<12} {value}"), w).into_iter().enumerate() {
            l.push((if i == 0 { x } else { format!("{:13}{x}", "") }, style));
        }
    };
    let Some(r) = state.live.rows.iter().find(|r| r.row.host == name) else {
        say("", "not in the cluster config".into(), t.dim);
        lines_into(buf, inner, &l, 0);
        return;
    };
    let view = state.live.snapshot.nodes.get(name);
    if let Some((g, n)) = state.cluster.node(name) {
        say("address", n.address.clone(), t.base);
        say(
            "group",
            format!(
                "{} ({}{})",
                g.name,
                g.gtype.as_str(),
                g.region.as_ref().map(|r| format!(", {r}")).unwrap_or_default()
            ),
            t.base,
        );
    }
    let stale = if r.row.stale { " (last known value)" } else { "" };
    say(
        "role",
        format!("{}{}{stale}", r.row.role, r.row.state.as_ref().map(|s| format!(" — {s}")).unwrap_or_default()),
        t.base,
    );
    if let (Some(p), Some(at)) = (&r.previous_role, r.role_changed_at) {
        say("", format!("was {p} until {}", at.to_zoned(state.tz.clone()).strftime("%H:%M:%S")), t.dim);
    }
    say(
        "version",
        format!("{}{stale} (target {})", r.row.version.clone().unwrap_or_else(|| "?".into()), r.row.target),
        t.base,
    );
    say("sync", format!("{}{stale}", r.row.sync), t.base);
    say("health", format!("{}{stale}", r.row.health), t.base);
    say(
        "reachable",
        if r.row.reachable { "yes".into() } else { "NO: the latest probe did not reach the host".into() },
        if r.row.reachable { t.base } else { t.fail },
    );
    say("last seen", state.seen(r), t.base);
    if let Some(v) = view {
        say("probe", format!("{} ms", v.probe_ms), t.dim);
    }
    if let Some(e) = &r.row.error {
        say("why", crate::sanitize::clean_line(e), t.fail);
    }
    l.push((String::new(), t.base));
    l.push(("Steps on this node".into(), t.title));
    let mut any = false;
    for s in state.steps().filter(|s| s.step.node == name) {
        any = true;
        l.push((format!("  {} {} ({})", s.state.symbol(), s.step.id, s.state.word()), t.base));
    }
    if !any {
        l.push(("  none in the plan".into(), t.dim));
    }
    if !state.is_observer() {
        l.push((String::new(), t.base));
        l.push(("s: interactive shell on this node (rollpilot comes back when it exits)".into(), t.dim));
    }
    lines_into(buf, inner, &l, 0);
}

fn step(state: &State, id: &str, area: Rect, buf: &mut Buffer) {
    let t = &state.theme;
    let inner = framed(state, area, buf, &format!("Step {id}"));
    let w = inner.width.saturating_sub(2) as usize;
    let mut l: Vec<(String, Style)> = Vec::new();
    let mut say = |label: &str, value: &str, style: Style| {
        for (i, x) in wrap(&format!("{label:<12} {value}"), w).into_iter().enumerate() {
            l.push((if i == 0 { x } else { format!("{:13}{x}", "") }, style));
        }
    };
    let Some(s) = state.step(id) else {
        say("", "no longer in the plan", t.dim);
        lines_into(buf, inner, &l, 0);
        return;
    };
    let st = &s.step;
    let mut state_word = s.state.word().to_string();
    if s.attempts > 0 {
        state_word.push_str(&format!(", attempt {}", s.attempts));
    }
    if let Some(e) = s.exit {
        state_word.push_str(&format!(", exit {e}"));
    }
    say("state", &format!("{} {state_word}", s.state.symbol()), t.base);
    say("does", &st.summary, t.base);
    say("node", &format!("{} (group {})", st.node, st.group), t.base);
    if let Some(c) = &st.command {
        say("command", c, t.base);
    }
    // Where its latest attempt runs detached on the host (what `resume` re-attaches to).
    if let Some(j) = &s.job
        && !j.is_empty()
    {
        say("job", j, t.dim);
    }
    for g in &st.before {
        say("before", &format!("{}: {}", g.rule(), g.describe()), t.base);
    }
    for g in &st.after {
        say("after", &format!("{}: {}", g.rule(), g.describe()), t.base);
    }
    say("why", &st.reason.to_string(), t.base);
    let m = markers(st);
    if !m.is_empty() {
        say("marks", &m.join(", "), t.warn);
    }
    say("if it fails", &st.rollback, t.base);
    if let Some(o) = state.run.outputs.get(id) {
        say("output", &format!("{} lines (output pane)", o.len()), t.dim);
    }
    lines_into(buf, inner, &l, 0);
}
