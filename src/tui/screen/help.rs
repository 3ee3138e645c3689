//! The help text, generated from the keymap tables, and how it wraps at a given width: the
//! overlay draws it and the reducer scrolls it by the same lines.

use crate::tui::keymap::{self, Scope};
use crate::tui::state::{State, StepState};
use crate::tui::text::{width, wrap};
use crate::tui::theme::ThemeKind;
use ratatui::style::Style;

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
