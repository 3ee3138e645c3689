//! Keys on the main screen and in overlays: the keymap's actions, quitting and Ctrl-C. Keys of
//! a dialog or of the filter are handed on to their own handlers.

use super::Effect;
use super::dialogs::{question_key, quit_dialog_key};
use super::selection::{filter_key, keep_visible, move_sel, page};
use crate::plan::Level;
use crate::run::events::Command;
use crate::tui::keymap::{self, KeyAction};
use crate::tui::screen::allowed::available;
use crate::tui::screen::help::help_wrapped;
use crate::tui::screen::layout::help_viewport;
use crate::tui::state::*;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

fn too_small(state: &State) -> bool {
    state.size.0 < MIN_WIDTH || state.size.1 < MIN_HEIGHT
}

/// Routes one key press: Ctrl-C first, then the open dialog, the filter, an overlay, the main screen.
pub(super) fn key(state: &mut State, ev: KeyEvent) -> Vec<Effect> {
    if ev.kind != KeyEventKind::Press {
        return vec![];
    }
    if ev.code == KeyCode::Char('c') && ev.modifiers.contains(KeyModifiers::CONTROL) {
        return interrupt(state);
    }
    if too_small(state) {
        return match keymap::lookup(&ev) {
            Some(KeyAction::Quit) => quit(state),
            _ => vec![],
        };
    }
    match &state.ui.modal {
        Some(Modal::Question(_)) => return question_key(state, ev),
        Some(Modal::Quit { .. }) => return quit_dialog_key(state, ev),
        None => {}
    }
    if state.ui.filter_editing {
        return filter_key(state, ev);
    }
    if state.ui.overlay.is_some() {
        return overlay_key(state, ev);
    }
    let Some(action) = keymap::lookup(&ev) else { return vec![] };
    main_action(state, action)
}

fn main_action(state: &mut State, action: KeyAction) -> Vec<Effect> {
    if !available(state, action) {
        let driver = keymap::binding(action).is_some_and(|b| b.scope == keymap::Scope::Driver);
        if driver && state.is_observer() {
            // Never refuse silently: the operator may believe the key acted.
            let what = keymap::binding(action).map(|b| b.short).unwrap_or("that");
            let why = state.readonly.clone().unwrap_or_else(|| "another operator drives this run".into());
            state.ui.refused = Some(format!("refused: {what} ({why}; this screen only watches)"));
            return vec![Effect::Redraw];
        }
        return vec![];
    }
    let redraw = vec![Effect::Redraw];
    match action {
        KeyAction::Help => {
            state.ui.overlay = Some(Overlay::Help);
            state.ui.help_scroll = 0;
        }
        KeyAction::Up => move_sel(state, -1),
        KeyAction::Down => move_sel(state, 1),
        KeyAction::PageUp => {
            let page = page(state) as i64;
            move_sel(state, -page)
        }
        KeyAction::PageDown => {
            let page = page(state) as i64;
            move_sel(state, page)
        }
        KeyAction::Top => move_sel(state, i64::MIN / 2),
        KeyAction::Bottom => {
            if state.ui.focus == Pane::Output {
                state.ui.output_scroll = None;
            } else {
                move_sel(state, i64::MAX / 2)
            }
        }
        KeyAction::NextPane | KeyAction::PrevPane => {
            let order = [Pane::Nodes, Pane::Plan, Pane::Output];
            let i = order.iter().position(|p| *p == state.ui.focus).unwrap_or(0);
            let n = if action == KeyAction::NextPane { (i + 1) % 3 } else { (i + 2) % 3 };
            state.ui.focus = order[n];
            if state.ui.focus != Pane::Plan {
                state.ui.plan_sel = None;
            }
        }
        KeyAction::Details => match state.ui.focus {
            Pane::Nodes => {
                if let Some(r) = state.selected_node() {
                    state.ui.overlay = Some(Overlay::Node(r.row.host.clone()));
                }
            }
            Pane::Plan | Pane::Output => {
                let id = if state.ui.focus == Pane::Plan {
                    state.selected_step_id().map(str::to_string)
                } else {
                    state.shown_output().map(|(id, _)| id.to_string())
                };
                if let Some(id) = id {
                    state.ui.overlay = Some(Overlay::Step(id));
                }
            }
        },
        KeyAction::Filter => {
            state.ui.focus = Pane::Nodes;
            state.ui.filter_editing = true;
        }
        KeyAction::Pause => {
            return match state.run.pause {
                PauseState::Running => {
                    state.run.pause = PauseState::Pausing;
                    state.push_log(Level::Info, "pause requested: the run pauses after the current step".into());
                    vec![Effect::Send(Command::Pause), Effect::Redraw]
                }
                _ => {
                    state.run.pause = PauseState::Running;
                    state.ui.ctrl_c = 0;
                    state.push_log(Level::Info, "resume requested".into());
                    vec![Effect::Send(Command::Resume), Effect::Redraw]
                }
            };
        }
        KeyAction::PausePolicy => return next_pause_policy(state),
        KeyAction::Shell => {
            if let Some(r) = state.selected_node() {
                return vec![Effect::OpenShell(r.row.host.clone())];
            }
        }
        KeyAction::Log => state.ui.overlay = Some(Overlay::Log { scroll: None }),
        // A rehearsal's fault key is taken by the loop that owns the twin (tui::app).
        KeyAction::Fault => {}
        KeyAction::Quit => return quit(state),
        KeyAction::Interrupt => return interrupt(state),
        KeyAction::Back => {
            if !state.ui.filter.text.is_empty() {
                state.ui.filter.clear();
                state.refilter();
            } else {
                state.ui.plan_sel = None;
            }
        }
    }
    keep_visible(state);
    redraw
}

/// `P` (on the main screen and in a dialog): asks the executor for the next pause policy; the
/// header changes when the executor confirms it.
pub(super) fn next_pause_policy(state: &mut State) -> Vec<Effect> {
    let next = state.run.pause_policy.next();
    state.push_log(Level::Info, format!("pause policy {} requested", next.as_str()));
    vec![Effect::Send(Command::SetPolicy(next)), Effect::Redraw]
}

/// `q`: quits at once when nothing runs, else asks first.
pub(super) fn quit(state: &mut State) -> Vec<Effect> {
    if !state.run_in_progress() {
        return vec![Effect::Quit];
    }
    if state.ui.stopping != Stopping::No {
        state.push_log(Level::Info, "already stopping: waiting for the executor to stop".into());
        return vec![Effect::Redraw];
    }
    state.ui.modal = Some(Modal::Quit { focus: 0 });
    vec![Effect::Redraw]
}

fn interrupt(state: &mut State) -> Vec<Effect> {
    if !state.run_in_progress() {
        return vec![Effect::Quit];
    }
    state.ui.ctrl_c = state.ui.ctrl_c.saturating_add(1);
    match state.ui.ctrl_c {
        1 => {
            state.push_log(
                Level::Warning,
                "Ctrl-C: the run pauses after the current step; Ctrl-C again stops now (the step goes on on its host, `resume` re-attaches)".into(),
            );
            if state.run.pause == PauseState::Running {
                state.run.pause = PauseState::Pausing;
                vec![Effect::Send(Command::Pause), Effect::Redraw]
            } else {
                vec![Effect::Redraw]
            }
        }
        2 => {
            state.push_log(
                Level::Warning,
                "Ctrl-C twice: stopping now; rollpilot quits when the executor has stopped".into(),
            );
            state.ui.stopping = Stopping::Now;
            state.ui.modal = None;
            state.ui.modal_under = None;
            vec![Effect::Send(Command::InterruptNow), Effect::Redraw]
        }
        _ => vec![Effect::Quit],
    }
}

fn overlay_key(state: &mut State, ev: KeyEvent) -> Vec<Effect> {
    let action = keymap::lookup(&ev);
    let close = matches!(action, Some(KeyAction::Back | KeyAction::Quit | KeyAction::Details))
        || matches!((&state.ui.overlay, action), (Some(Overlay::Help), Some(KeyAction::Help)))
        || matches!((&state.ui.overlay, action), (Some(Overlay::Log { .. }), Some(KeyAction::Log)));
    if close {
        state.ui.overlay = None;
        return vec![Effect::Redraw];
    }
    let page = state.size.1.saturating_sub(4) as usize;
    if matches!(state.ui.overlay, Some(Overlay::Help)) {
        let (w, h) = help_viewport(state.size);
        let max_top = help_wrapped(state, w).len().saturating_sub(h);
        let top = state.ui.help_scroll.min(max_top);
        state.ui.help_scroll = match action {
            Some(KeyAction::Up) => top.saturating_sub(1),
            Some(KeyAction::Down) => (top + 1).min(max_top),
            Some(KeyAction::PageUp) => top.saturating_sub(h),
            Some(KeyAction::PageDown) => (top + h).min(max_top),
            Some(KeyAction::Top) => 0,
            Some(KeyAction::Bottom) => max_top,
            _ => return vec![],
        };
        return vec![Effect::Redraw];
    }
    let total = state.run.log.len();
    if let Some(Overlay::Log { scroll }) = state.ui.overlay.as_mut() {
        let max_top = total.saturating_sub(page);
        let top = scroll.unwrap_or(max_top);
        let moved = match action {
            Some(KeyAction::Up) => Some(top.saturating_sub(1)),
            Some(KeyAction::Down) => Some(top + 1),
            Some(KeyAction::PageUp) => Some(top.saturating_sub(page)),
            Some(KeyAction::PageDown) => Some(top + page),
            Some(KeyAction::Top) => Some(0),
            Some(KeyAction::Bottom) => Some(usize::MAX),
            _ => return vec![],
        };
        *scroll = moved.and_then(|t| if t >= max_top { None } else { Some(t) });
        return vec![Effect::Redraw];
    }
    if let (Some(Overlay::Node(node)), Some(KeyAction::Shell)) = (&state.ui.overlay, action)
        && !state.is_observer()
    {
        return vec![Effect::OpenShell(node.clone())];
    }
    if action == Some(KeyAction::Help) {
        state.ui.overlay = Some(Overlay::Help);
        state.ui.help_scroll = 0;
        return vec![Effect::Redraw];
    }
    if action == Some(KeyAction::Log) {
        state.ui.overlay = Some(Overlay::Log { scroll: None });
        return vec![Effect::Redraw];
    }
    vec![]
}
