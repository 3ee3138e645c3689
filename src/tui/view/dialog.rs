//! Dialogs: the executor's questions (what will happen and why, every choice with what it
//! does, the safe one focused) and the quit dialog. The choices are always drawn; when the
//! screen is short, the explanation is cut instead.

use super::status::hints;
use crate::run::events::QuestionKind;
use crate::tui::state::{QuestionDialog, QuitChoice, State};
use crate::tui::text::{width, wrap};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Widget};

/// A line of dialog content.
type DLine = Vec<(String, Style)>;

fn kind_word(k: QuestionKind) -> &'static str {
    match k {
        QuestionKind::Confirm => "Confirm",
        QuestionKind::Typed => "Typed confirmation",
        QuestionKind::Optional => "Optional",
        QuestionKind::Failure => "FAILURE",
        QuestionKind::InDoubt => "In doubt",
        QuestionKind::StaleLock => "Expired lock",
        QuestionKind::AfterRollback => "After rollback",
    }
}

struct Choice<'a> {
    label: String,
    consequence: &'a str,
}

fn choices_lines(state: &State, choices: &[Choice<'_>], focus: usize, inner: usize) -> Vec<DLine> {
    let t = &state.theme;
    let lw = choices.iter().map(|c| width(&c.label)).max().unwrap_or(4) + 4;
    let mut out = Vec::new();
    for (i, c) in choices.iter().enumerate() {
        let focused = i == focus;
        let button = format!("[ {:w$} ]", c.label, w = lw - 4);
        let marker = if focused { "▶ " } else { "  " };
        let cw = inner.saturating_sub(lw + 4).max(10);
        let wrapped = wrap(c.consequence, cw);
        for (k, l) in wrapped.iter().enumerate() {
            if k == 0 {
                out.push(vec![
                    (marker.to_string(), t.current),
                    (button.clone(), if focused { t.button_focused } else { t.button }),
                    (format!("  {l}"), if focused { t.base } else { t.dim }),
                ]);
            } else {
                out.push(vec![(format!("{:w$}  {l}", "", w = lw + 2), if focused { t.base } else { t.dim })]);
            }
        }
    }
    out
}

fn hint_line(state: &State) -> DLine {
    let t = &state.theme;
    let mut l = Vec::new();
    for (i, (k, what)) in hints(state).into_iter().enumerate() {
        if i > 0 {
            l.push((" · ".to_string(), t.dim));
        }
        l.push((k, t.key));
        l.push((format!(" {what}"), t.dim));
    }
    l
}

/// Dialogs are centred over the whole screen: a command or a sentence should not wrap over
/// five lines because a pane is narrow.
fn dialog_area(_state: &State, area: Rect) -> Rect {
    area
}

/// The widest a dialog may be: about 90% of a wide screen, all but a margin on a small one.
fn max_width(area: Rect) -> u16 {
    let w =
        if area.width >= crate::tui::screen::layout::WIDE { area.width * 9 / 10 } else { area.width.saturating_sub(4) };
    w.max(area.width.min(20))
}

/// The dialog's outer width for content whose widest unwrapped line is `natural` cells: what
/// the content needs (never narrower than 60 cells when the screen has them), at most
/// [`max_width`].
fn dialog_width(area: Rect, natural: usize) -> u16 {
    let max = max_width(area);
    let need = (natural + 4).min(u16::MAX as usize) as u16;
    need.max(60.min(max)).min(max)
}

/// The width text is wrapped at inside a dialog of outer width `w`.
fn text_width(w: u16) -> usize {
    (w as usize).saturating_sub(4)
}

/// The widest line of a dialog's choices, unwrapped.
fn choices_natural(choices: &[Choice<'_>]) -> usize {
    let lw = choices.iter().map(|c| width(&c.label)).max().unwrap_or(4) + 4;
    choices.iter().map(|c| lw + 4 + width(c.consequence)).max().unwrap_or(0)
}

/// The hint line's width.
fn hint_natural(state: &State) -> usize {
    hint_line(state).iter().map(|(s, _)| width(s)).sum()
}

/// Draws a framed dialog of outer width `w`: `body` may be cut to fit, `tail` (the choices)
/// never is.
#[allow(clippy::too_many_arguments)]
fn frame(
    state: &State,
    area: Rect,
    buf: &mut Buffer,
    w: u16,
    title: &str,
    border: Style,
    body: Vec<DLine>,
    tail: Vec<DLine>,
) {
    let area = dialog_area(state, area);
    let w = w.min(area.width);
    let inner_h_max = area.height.saturating_sub(2) as usize;
    let mut lines = body;
    let room = inner_h_max.saturating_sub(tail.len());
    if lines.len() > room {
        lines.truncate(room.saturating_sub(1));
        lines.push(vec![(
            "… (more in the step details: Enter on the step after this dialog)".to_string(),
            state.theme.dim,
        )]);
        lines.truncate(room);
    }
    lines.extend(tail);
    let h = (lines.len() as u16 + 2).min(area.height);
    let x = area.x + area.width.saturating_sub(w) / 2;
    let y = area.y + area.height.saturating_sub(h) / 2;
    let rect = Rect::new(x, y, w, h);
    // Clear the dialog's rows across the whole screen: the few columns left at its sides would
    // only show cut-off fragments of the panes underneath.
    let rows = Rect::new(area.x, y, area.width, h).intersection(area);
    Clear.render(rows, buf);
    buf.set_style(rows, state.theme.base);
    let mut block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(border)
        .title(Line::from(Span::styled(format!(" {title} "), border)));
    if state.rehearsal {
        // A rehearsal's questions must never be taken for the real window's.
        block = block.title_bottom(Line::from(Span::styled(" REHEARSAL ", state.theme.warn)).right_aligned());
    }
    let inner = block.inner(rect);
    block.render(rect, buf);
    buf.set_style(inner, state.theme.base);
    for (i, l) in lines.iter().enumerate() {
        let yy = inner.y + i as u16;
        if yy >= inner.bottom() {
            break;
        }
        let spans: Vec<Span> = l.iter().map(|(s, st)| Span::styled(s.clone(), *st)).collect();
        buf.set_line(inner.x + 1, yy, &Line::from(spans), inner.width.saturating_sub(2));
    }
}

/// Draws an executor question.
pub fn render_question(state: &State, d: &QuestionDialog, area: Rect, buf: &mut Buffer) {
    let t = &state.theme;
    let q = &d.question;
    let choices: Vec<Choice> = q
        .choices
        .iter()
        .map(|c| Choice {
            label: if c.typed { format!("{} (type name)", c.label) } else { c.label.clone() },
            consequence: &c.consequence,
        })
        .collect();
    let natural = q
        .lines
        .iter()
        .map(|l| width(&crate::sanitize::clean_line(l)))
        .chain([choices_natural(&choices), hint_natural(state), width(&q.title) + 14])
        .max()
        .unwrap_or(0);
    let w = dialog_width(dialog_area(state, area), natural);
    let inner = text_width(w);
    let mut body: Vec<DLine> = Vec::new();
    if let Some((target, true)) = state.target_direction()
        && matches!(q.kind, QuestionKind::Confirm | QuestionKind::Typed | QuestionKind::Optional)
    {
        body.push(vec![(format!("DOWNGRADE: this run takes the cluster back to {target}."), t.fail)]);
    }
    if d.repeated {
        body.push(vec![("The previous answer was not accepted (see the log); answer again.".into(), t.warn)]);
    }
    for l in &q.lines {
        let style = if l.starts_with("DOWNTIME") || l.starts_with("IRREVERSIBLE") || l.starts_with("DATA LOSS") {
            t.fail
        } else {
            t.base
        };
        for w in wrap(&crate::sanitize::clean_line(l), inner) {
            body.push(vec![(w, style)]);
        }
    }
    let mut tail: Vec<DLine> = vec![vec![]];
    // Part of the tail, which is never cut: the operator must see why this one is typed.
    if q.kind == QuestionKind::Typed && d.typing.is_none() {
        let why = why_typed(state, d, Some(crate::run::events::Answer::Proceed));
        for w in wrap(&format!("Typing the cluster name is needed because {why}."), inner) {
            tail.push(vec![(w, t.warn)]);
        }
        tail.push(vec![]);
    }
    tail.extend(choices_lines(state, &choices, d.focus, inner));
    if let Some(field) = &d.typing {
        let label = q.choices.get(d.focus).map(|c| c.label.as_str()).unwrap_or("");
        tail.push(vec![]);
        tail.push(vec![(format!("Type the cluster name `{}` to confirm “{label}”:", q.expected), t.warn)]);
        let chosen = q.choices.get(d.focus).map(|c| c.answer);
        for w in wrap(&format!("(typing is needed because {})", why_typed(state, d, chosen)), inner) {
            tail.push(vec![(w, t.dim)]);
        }
        tail.push(vec![("> ".into(), t.key), (field.text.clone(), t.header), ("▏".into(), t.key)]);
    }
    if let Some(e) = &d.error {
        tail.push(vec![(e.clone(), t.fail)]);
    }
    if let Some(n) = &d.note {
        tail.push(vec![(n.clone(), t.warn)]);
    }
    tail.push(vec![]);
    tail.push(hint_line(state));
    let danger =
        matches!(q.kind, QuestionKind::Failure | QuestionKind::Typed | QuestionKind::InDoubt | QuestionKind::StaleLock);
    let kind = kind_word(q.kind);
    let title = if q.title.to_lowercase().starts_with(&kind.to_lowercase()) {
        q.title.clone()
    } else {
        format!("{kind}: {}", q.title)
    };
    frame(state, area, buf, w, &title, if danger { t.danger } else { t.dialog }, body, tail);
}

/// Draws the quit dialog.
pub fn render_quit(state: &State, focus: usize, area: Rect, buf: &mut Buffer) {
    let t = &state.theme;
    let choices: Vec<Choice> = QuitChoice::ALL
        .iter()
        .map(|c| Choice { label: c.label().to_string(), consequence: c.consequence(state.rehearsal) })
        .collect();
    let w = dialog_width(dialog_area(state, area), choices_natural(&choices).max(hint_natural(state)));
    let inner = text_width(w);
    let mut body: Vec<DLine> = Vec::new();
    let mut say = |s: String, st: Style| {
        for w in wrap(&s, inner) {
            body.push(vec![(w, st)]);
        }
    };
    say("A run is in progress: quitting stops it.".into(), t.base);
    if let Some(c) = state.current() {
        say(format!("Current step: {c}."), t.base);
    }
    if state.is_mixed() {
        let since = crate::tui::screen::clock::mixed_text(state).unwrap_or_default();
        say(
            format!(
                "The cluster runs mixed versions (for {since}): a partly upgraded cluster is only a temporary state (R7)."
            ),
            t.warn,
        );
    }
    if state.rehearsal {
        // The twin is torn down when rollpilot quits: there is nothing to resume.
        say(
            "A rehearsal is not resumed: its twin is torn down on quitting; run `rollpilot rehearse` again.".into(),
            t.base,
        );
    } else {
        say(
            format!(
                "Continue later with `rollpilot resume -c {}`; the journal keeps every step.",
                state.config_path.display()
            ),
            t.base,
        );
    }
    let mut tail: Vec<DLine> = vec![vec![]];
    tail.extend(choices_lines(state, &choices, focus, inner));
    tail.push(vec![]);
    tail.push(hint_line(state));
    frame(state, area, buf, w, "Quit rollpilot?", t.dialog, body, tail);
}

/// Why a choice needs the cluster name typed, from what the step does: the operator should
/// know what makes this one different from the Enter-to-proceed steps.
fn why_typed(state: &State, d: &QuestionDialog, chosen: Option<crate::run::events::Answer>) -> String {
    let q = &d.question;
    if chosen == Some(crate::run::events::Answer::Skip) {
        return "skipping leaves this node out of the rollout, on its old version".into();
    }
    if chosen == Some(crate::run::events::Answer::BreakLock) {
        return "breaking the lock takes the cluster from another operator".into();
    }
    let step = state.step(&q.step).map(|s| &s.step);
    if step.is_some_and(|s| s.data_loss) {
        return "this step loses the group's data (R3)".into();
    }
    if step.is_some_and(|s| s.downtime) {
        return "the service is down during this step (R2/R9)".into();
    }
    if step.is_some_and(|s| s.irreversible) {
        return "this step cannot be undone".into();
    }
    if let Some((target, true)) = state.target_direction() {
        return format!("this is a downgrade to {target}, which runs the cluster on older software");
    }
    "this step is dangerous enough that a key press alone must not run it".into()
}
