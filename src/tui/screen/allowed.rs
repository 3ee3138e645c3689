//! Which keys act now and which questions are dangerous: the reducer obeys these rules, and
//! the key bar, the help and the dialogs show the same ones.

use crate::run::events::{Question, QuestionKind};
use crate::tui::keymap::{self, KeyAction};
use crate::tui::state::{State, Stopping};

/// Whether a question is about something dangerous: a typed confirmation, a failure or
/// in-doubt decision, or a step that is irreversible, loses data or takes the service down.
pub fn dangerous(state: &State, q: &Question) -> bool {
    let kind = !matches!(q.kind, QuestionKind::Confirm | QuestionKind::Optional);
    let step = state.step(&q.step).is_some_and(|s| s.step.irreversible || s.step.data_loss || s.step.downtime);
    let said = q
        .lines
        .iter()
        .any(|l| l.starts_with("IRREVERSIBLE") || l.starts_with("DATA LOSS") || l.starts_with("DOWNTIME"));
    kind || step || said
}

/// Whether a key action is available now (the status bar and help use the same rule).
pub fn available(state: &State, action: KeyAction) -> bool {
    let driver = keymap::binding(action).is_none_or(|b| b.scope == keymap::Scope::Always);
    if !driver && state.is_observer() && !(action == KeyAction::Shell && state.shell_allowed) {
        return false;
    }
    match action {
        KeyAction::Pause | KeyAction::PausePolicy => state.run_in_progress() && state.ui.stopping == Stopping::No,
        KeyAction::Shell => state.selected_node().is_some(),
        KeyAction::Fault => state.rehearsal && state.selected_node().is_some(),
        KeyAction::Back => !state.ui.filter.text.is_empty() || state.ui.plan_sel.is_some(),
        _ => true,
    }
}
