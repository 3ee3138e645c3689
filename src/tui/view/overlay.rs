//! Full-screen overlays: the help (generated from the keymap), the full log, and the details of
//! a node (why it is unreachable) or a step (command, gates, rollback).

use super::put;
use crate::plan::Level;
use crate::plan::render::markers;
use crate::tui::keymap::{self, Scope};
use crate::tui::state::{Overlay, State, StepState};
use crate::tui::text::{width, wrap};
use crate::tui::theme::ThemeKind;
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

/// The rule every dialog follows, as the help and the README state it.
pub const DIALOG_RULE: &[&str] = &[
    "Proceed is focused, so Enter proceeds; the safe choice (Cancel, Abort) is focused instead",
    "  when the step is dangerous: typed confirmations, failures, irreversible or downtime steps.",
    "A key pressed in the first 0.4 s after a dialog opens is ignored, and the dialog says so.",
    "A question that arrives while a dialog is open waits until that one is answered.",
];

/// The help text, generated from the keymap tables.
pub fn help_lines(state: &State) -> Vec<(String, Style)> {
    let t = &state.theme;
    let mut out: Vec<(String, Style)> = Vec::new();
    out.push(("Main screen".into(), t.title));
    let kw = keymap::MAIN.iter().map(|b| keymap::keys_label(b.keys).chars().count()).max().unwrap_or(8);
    for b in keymap::MAIN {
        let keys = keymap::keys_label(b.keys);
        let hidden = b.scope == Scope::Driver && state.is_observer();
        let note = if hidden { "  (not in observer mode)" } else { "" };
        out.push((format!("  {keys:kw$}  {}{note}", b.help), if hidden { t.dim } else { t.base }));
    }
    out.push((String::new(), t.base));
    out.push(("Dialogs: one rule for every dialog".into(), t.title));
    for line in DIALOG_RULE {
        out.push((format!("  {line}"), t.base));
    }
    for b in keymap::DIALOG {
        out.push((format!("  {:kw$}  {}", keymap::keys_label(b.keys), b.help), t.base));
    }
    out.push((String::new(), t.base));
    out.push(("Typing (filter, cluster name)".into(), t.title));
    for (k, what) in keymap::TEXT {
        out.push((format!("  {k:kw$}  {what}"), t.base));
    }
    out.push((String::new(), t.base));
    out.push(("Symbols".into(), t.title));
    let states = [
        StepState::Pending,
        StepState::Waiting,
        StepState::AwaitingConfirmation,
        StepState::Approved,
        StepState::Running { attempt: 1 },
        StepState::Checking { attempt: 1 },
        StepState::InDoubt { attempt: 1 },
        StepState::Done,
        StepState::Failed { attempt: 1, reason: crate::run::machine::Failure::Exit(Some(1)) },
        StepState::Skipped,
        StepState::RolledBack,
    ];
    let legend: Vec<String> = states.iter().map(|s| format!("{} {}", s.symbol(), s.word())).collect();
    out.push((format!("  {}", legend.join("   ")), t.base));
    out.push((
        "  * value from an earlier probe (the host did not answer the latest one)   » current step".into(),
        t.base,
    ));
    out.push((String::new(), t.base));
    let theme = match state.theme.kind {
        ThemeKind::Default => "colour theme (set NO_COLOR for monochrome)",
        ThemeKind::Monochrome => "monochrome theme (NO_COLOR or TERM=dumb)",
    };
    out.push((format!("Theme: {theme}. Mouse capture is off: select text with the mouse as usual."), t.dim));
    out
}

/// Where a wrapped help line continues: under the description column of a key line
/// ("  k/↑  move up"), else two cells in from the line's own indent.
fn continuation_indent(l: &str) -> usize {
    let lead = l.len() - l.trim_start().len();
    if lead == 0 {
        return 2;
    }
    let rest = &l[lead..];
    match rest.find("  ") {
        Some(i) => {
            let after = &rest[i..];
            let spaces = after.len() - after.trim_start().len();
            width(&l[..lead + i]) + spaces
        }
        None => lead + 2,
    }
}

/// The help as drawn at `w` cells: long lines wrap instead of being cut.
pub fn help_wrapped(state: &State, w: usize) -> Vec<(String, Style)> {
    let mut out = Vec::new();
    for (l, st) in help_lines(state) {
        if width(&l) <= w {
            out.push((l, st));
            continue;
        }
        let indent = continuation_indent(&l).min(w / 2);
        let lead = l.len() - l.trim_start().len();
        let first = wrap(l.trim_start(), w.saturating_sub(lead).max(1));
        let Some((head, tail)) = first.split_first() else { continue };
        out.push((format!("{}{head}", " ".repeat(lead)), st));
        let rest = tail.join(" ");
        for x in wrap(&rest, w.saturating_sub(indent).max(1)) {
            out.push((format!("{}{x}", " ".repeat(indent)), st));
        }
    }
    out
}

/// The help's inner size for a terminal: (text width, lines shown).
pub fn help_viewport(size: (u16, u16)) -> (usize, usize) {
    (size.0.saturating_sub(6) as usize, size.1.saturating_sub(4) as usize)
}

fn help(state: &State, area: Rect, buf: &mut Buffer) {
    let (w, h) = help_viewport((area.width, area.height));
    let lines = help_wrapped(state, w);
    let max_top = lines.len().saturating_sub(h);
    let top = state.help_scroll.min(max_top);
    let title = if max_top > 0 {
        format!("Help · keys · lines {}-{} of {} · j/k scroll", top + 1, (top + h).min(lines.len()), lines.len())
    } else {
        "Help · keys".to_string()
    };
    let inner = framed(state, area, buf, &title);
    lines_into(buf, inner, &lines, top);
}

fn log(state: &State, scroll: Option<usize>, area: Rect, buf: &mut Buffer) {
    let inner = framed(state, area, buf, &format!("Log · {} entries", state.log.len()));
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
            for e in state.log.iter().rev() {
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
            for e in state.log.iter().skip(top) {
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
    let Some(r) = state.rows.iter().find(|r| r.row.host == name) else {
        say("", "not in the cluster config".into(), t.dim);
        lines_into(buf, inner, &l, 0);
        return;
    };
    let view = state.snapshot.nodes.get(name);
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
    if let Some(o) = state.outputs.get(id) {
        say("output", &format!("{} lines (output pane)", o.len()), t.dim);
    }
    lines_into(buf, inner, &l, 0);
}
