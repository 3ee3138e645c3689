//! Dialogs: questions of the executor (opened, queued, answered with the one key rule) and the
//! quit dialog.

use super::Effect;
use super::keys::{next_pause_policy, quit};
use super::refresh_derived;
use crate::plan::Level;
use crate::run::events::{Answer, Command, QuestionKind};
use crate::tui::keymap::{self, DialogAction};
use crate::tui::screen::allowed::dangerous;
use crate::tui::state::*;
use crate::tui::text::TextField;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Shows a question: as the dialog, or under the quit dialog when that is open (it comes back
/// when the quit dialog closes). The same question asked again replaces itself.
pub(super) fn open_question(state: &mut State, q: crate::run::events::Question) {
    let repeated = state.ui.answered.contains(&q.id);
    if state.run.waiting.as_ref().is_some_and(|w| w.step == q.step) {
        state.run.waiting = None;
    }
    state.ui.filter_editing = false;
    let focus = default_focus(state, &q);
    let dialog = Modal::Question(Box::new(QuestionDialog {
        question: q,
        focus,
        typing: None,
        error: None,
        shown_at: state.now,
        repeated,
        note: None,
    }));
    if matches!(state.ui.modal, Some(Modal::Quit { .. })) {
        state.ui.modal_under = Some(dialog);
    } else {
        state.ui.modal = Some(dialog);
    }
}

/// The choice focused when a question opens: the safe one (first) where the action is
/// dangerous, else Proceed, so Enter proceeds as the README says.
fn default_focus(state: &State, q: &crate::run::events::Question) -> usize {
    if dangerous(state, q) {
        return 0;
    }
    q.choices.iter().position(|c| c.answer == Answer::Proceed && !c.typed).unwrap_or(0)
}

/// After a question is answered: the next queued one, if any.
fn next_question(state: &mut State) {
    if let Some(q) = state.ui.queued.pop_front() {
        open_question(state, q);
    }
}

/// Keys in the quit dialog.
pub(super) fn quit_dialog_key(state: &mut State, ev: KeyEvent) -> Vec<Effect> {
    let Some(Modal::Quit { focus }) = state.ui.modal.as_mut() else { return vec![] };
    let n = QuitChoice::ALL.len();
    match keymap::lookup_dialog(&ev) {
        Some(DialogAction::Next) => *focus = (*focus + 1) % n,
        Some(DialogAction::Prev) => *focus = (*focus + n - 1) % n,
        Some(DialogAction::Safe) => state.ui.modal = state.ui.modal_under.take(),
        Some(DialogAction::Activate) => {
            let choice = QuitChoice::ALL[*focus];
            // Closing the quit question returns to the dialog it was opened from.
            state.ui.modal = state.ui.modal_under.take();
            return match choice {
                QuitChoice::Stay => vec![Effect::Redraw],
                QuitChoice::AfterStep => {
                    state.ui.stopping = Stopping::AfterStep;
                    state.push_log(
                        Level::Warning,
                        "quit: the run stops after the current step, then rollpilot quits".into(),
                    );
                    vec![Effect::Send(Command::Interrupt), Effect::Redraw]
                }
                QuitChoice::Now => {
                    state.ui.stopping = Stopping::Now;
                    state.ui.modal = None;
                    state.push_log(Level::Warning, "quit: stopping now; a running step goes on on its host".into());
                    vec![Effect::Send(Command::InterruptNow), Effect::Redraw]
                }
            };
        }
        Some(DialogAction::Proceed) | Some(DialogAction::Quit) | Some(DialogAction::Policy) | None => return vec![],
    }
    vec![Effect::Redraw]
}

/// Keys in a question dialog: the typed field first, else the dialog rule.
pub(super) fn question_key(state: &mut State, ev: KeyEvent) -> Vec<Effect> {
    let now = state.now;
    let in_progress = state.run_in_progress() && state.ui.stopping == Stopping::No;
    let Some(Modal::Question(d)) = state.ui.modal.as_mut() else { return vec![] };
    if now.as_millisecond() - d.shown_at.as_millisecond() < QUESTION_GUARD_MS {
        // Shown, never silently lost: the key may have been meant for what was there before.
        d.note = Some("key ignored: dialog just opened; press it again to answer this dialog".into());
        return vec![Effect::Redraw];
    }
    d.note = None;
    let n = d.question.choices.len();
    if n == 0 {
        return vec![];
    }
    if let Some(field) = d.typing.as_mut() {
        match ev.code {
            KeyCode::Esc => {
                d.typing = None;
                d.error = None;
            }
            KeyCode::Backspace => {
                field.backspace();
                d.error = None;
            }
            KeyCode::Enter => {
                let typed = field.text.trim().to_string();
                if typed != d.question.expected {
                    d.error = Some(if typed.is_empty() {
                        format!("type the cluster name `{}` to confirm", d.question.expected)
                    } else {
                        format!("`{typed}` is not the cluster name `{}`; nothing was sent", d.question.expected)
                    });
                } else {
                    let focus = d.focus;
                    return answer(state, focus, Some(typed));
                }
            }
            KeyCode::Char(c) if !ev.modifiers.contains(KeyModifiers::CONTROL) => {
                field.push(c);
                d.error = None;
            }
            _ => return vec![],
        }
        return vec![Effect::Redraw];
    }
    match keymap::lookup_dialog(&ev) {
        Some(DialogAction::Next) => d.focus = (d.focus + 1) % n,
        Some(DialogAction::Prev) => d.focus = (d.focus + n - 1) % n,
        Some(DialogAction::Activate) => {
            if d.question.choices[d.focus].typed {
                d.typing = Some(TextField::default());
                d.error = None;
            } else {
                let focus = d.focus;
                return answer(state, focus, None);
            }
        }
        Some(DialogAction::Proceed) => {
            // `y` proceeds in every dialog that has a Proceed choice ("Do it" in an optional
            // one); a typed Proceed still asks for the cluster name.
            let Some(i) = d.question.choices.iter().position(|c| c.answer == Answer::Proceed) else {
                d.note = Some("y: nothing here proceeds; choose with ←/→ and Enter".into());
                return vec![Effect::Redraw];
            };
            if d.question.choices[i].typed {
                d.focus = i;
                d.typing = Some(TextField::default());
                d.error = None;
            } else {
                return answer(state, i, None);
            }
        }
        Some(DialogAction::Safe) => {
            // Cheap questions: Esc/n is the safe answer. Where the safe answer ends the run
            // (failures, in-doubt steps), it only moves the focus to it.
            if matches!(d.question.kind, QuestionKind::Confirm | QuestionKind::Typed | QuestionKind::Optional) {
                return answer(state, 0, None);
            }
            d.focus = 0;
        }
        Some(DialogAction::Policy) => return next_pause_policy(state),
        Some(DialogAction::Quit) => {
            if !in_progress {
                return quit(state);
            }
            // The quit question opens on top; closing it comes back here.
            state.ui.modal_under = state.ui.modal.take();
            state.ui.modal = Some(Modal::Quit { focus: 0 });
        }
        None => return vec![],
    }
    vec![Effect::Redraw]
}

fn answer(state: &mut State, i: usize, typed: Option<String>) -> Vec<Effect> {
    let Some(Modal::Question(d)) = state.ui.modal.take() else { return vec![] };
    let q = d.question;
    let Some(c) = q.choices.get(i) else { return vec![] };
    state.ui.answered.insert(q.id);
    state.push_log(
        Level::Info,
        format!(
            "you chose “{}” for {}: {}{}",
            c.label,
            q.step,
            c.consequence,
            if typed.is_some() { " (typed)" } else { "" }
        ),
    );
    let cmd = Command::Answer { question: q.id, answer: c.answer, typed };
    next_question(state);
    refresh_derived(state);
    vec![Effect::Send(cmd), Effect::Redraw]
}
