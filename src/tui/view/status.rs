//! The key bar: the keys that apply now, generated from the keymap and the same availability
//! rule the reducer uses, so it shows exactly what works.

use crate::run::events::QuestionKind;
use crate::tui::keymap::{self, DialogAction, KeyAction};
use crate::tui::screen::allowed::available;
use crate::tui::state::{MIN_HEIGHT, MIN_WIDTH, Modal, Overlay, PauseState, State};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

/// The main-screen keys in the order the bar shows them.
const PRIORITY: [KeyAction; 10] = [
    KeyAction::Quit,
    KeyAction::Help,
    KeyAction::Pause,
    KeyAction::Details,
    KeyAction::Filter,
    KeyAction::Shell,
    KeyAction::Log,
    KeyAction::NextPane,
    KeyAction::Up,
    KeyAction::Back,
];

/// The (keys, what) pairs the bar shows now.
pub fn hints(state: &State) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let label = |a: KeyAction| keymap::binding(a).map(|b| b.keys[0].label()).unwrap_or_default();
    if state.size.0 < MIN_WIDTH || state.size.1 < MIN_HEIGHT {
        out.push((label(KeyAction::Quit), "quit".into()));
        out.push((label(KeyAction::Interrupt), "stop".into()));
        return out;
    }
    match &state.ui.modal {
        Some(Modal::Question(d)) => {
            if d.typing.is_some() {
                for (k, what) in [("Enter", "confirm"), ("Esc", "back"), ("Backspace", "delete")] {
                    out.push((k.into(), what.into()));
                }
                return out;
            }
            for b in keymap::DIALOG {
                let what = match b.action {
                    DialogAction::Proceed
                        if !d.question.choices.iter().any(|c| c.answer == crate::run::events::Answer::Proceed) =>
                    {
                        continue;
                    }
                    DialogAction::Quit => "quit".to_string(),
                    DialogAction::Prev => continue,
                    DialogAction::Next => {
                        out.push((format!("{}/↑↓", b.keys[0].label()), "move".into()));
                        continue;
                    }
                    DialogAction::Safe => {
                        let safe = d.question.choices.first().map(|c| c.label.clone()).unwrap_or_default();
                        if matches!(
                            d.question.kind,
                            QuestionKind::Confirm | QuestionKind::Typed | QuestionKind::Optional
                        ) {
                            safe
                        } else {
                            format!("focus {safe}")
                        }
                    }
                    _ => b.short.to_string(),
                };
                out.push((b.keys[0].label(), what));
            }
            // Ctrl-C still pauses (the help says so); the line keeps room for the dialog's own keys.
            return out;
        }
        Some(Modal::Quit { .. }) => {
            for b in keymap::DIALOG {
                let what = match b.action {
                    DialogAction::Proceed | DialogAction::Prev | DialogAction::Quit => continue,
                    DialogAction::Next => {
                        out.push((format!("{}/↑↓", b.keys[0].label()), "move".into()));
                        continue;
                    }
                    DialogAction::Safe => "stay".to_string(),
                    _ => b.short.to_string(),
                };
                out.push((b.keys[0].label(), what));
            }
            return out;
        }
        None => {}
    }
    if state.ui.filter_editing {
        for (k, what) in [("type", "filter"), ("Enter", "keep"), ("Esc", "clear"), ("↑/↓", "move")] {
            out.push((k.into(), what.into()));
        }
        return out;
    }
    if let Some(o) = &state.ui.overlay {
        out.push(("Esc".into(), "close".into()));
        if matches!(o, Overlay::Log { .. }) {
            out.push(("j/k".into(), "scroll".into()));
            out.push(("g/G".into(), "top/end".into()));
        }
        if matches!(o, Overlay::Node(_)) && available(state, KeyAction::Shell) {
            out.push((label(KeyAction::Shell), "shell".into()));
        }
        return out;
    }
    // The most needed first: the bar is cut at the right on narrow screens.
    for action in PRIORITY {
        let Some(b) = keymap::binding(action) else { continue };
        if !available(state, action) {
            continue;
        }
        let what = match action {
            KeyAction::Up => {
                let down = keymap::binding(KeyAction::Down).map(|d| d.keys[0].label()).unwrap_or_default();
                out.push((format!("{down}/{}", b.keys[0].label()), "move".into()));
                continue;
            }
            KeyAction::Pause if state.run.pause != PauseState::Running => "resume".to_string(),
            _ => b.short.to_string(),
        };
        out.push((b.keys[0].label(), what));
    }
    out
}

/// Draws the bar.
pub fn render(state: &State, area: Rect, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    let t = &state.theme;
    let mut spans = vec![Span::styled(" ", t.base)];
    let mut used = 1;
    if let Some(r) = &state.ui.refused {
        // A refused key is said where the eye goes for keys, before the keys that do work.
        let r = format!("{r}  ");
        used += crate::tui::text::width(&r);
        spans.push(Span::styled(r, t.warn));
    }
    for (k, what) in hints(state) {
        let item = format!(" {what}  ");
        let w = crate::tui::text::width(&k) + crate::tui::text::width(&item) - 2;
        if used + w > area.width as usize {
            break;
        }
        used += w + 2;
        spans.push(Span::styled(k, t.key));
        spans.push(Span::styled(item, t.base));
    }
    buf.set_line(area.x, area.y, &Line::from(spans), area.width);
}
