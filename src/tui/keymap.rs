//! The keymap as data: which keys do what, in which context. The reducer looks keys up here,
//! and the help overlay and the status bar are generated from the same tables, so what the
//! screen says about keys can never drift from what the keys do.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key asks for on the main screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAction {
    /// Show or hide the help overlay.
    Help,
    /// Move the selection up one row.
    Up,
    /// Move the selection down one row.
    Down,
    /// Jump to the first row.
    Top,
    /// Jump to the last row (in the output: follow new lines again).
    Bottom,
    /// One page up.
    PageUp,
    /// One page down.
    PageDown,
    /// Next pane (nodes → plan → output).
    NextPane,
    /// Previous pane.
    PrevPane,
    /// Details of the selected node or step.
    Details,
    /// Filter the node table.
    Filter,
    /// Pause after the current step, or resume.
    Pause,
    /// Cycle the pause policy (every → first → none).
    PausePolicy,
    /// Open an interactive shell on the selected node.
    Shell,
    /// The full log.
    Log,
    /// Quit (asks first while a run is in progress or the cluster is mixed).
    Quit,
    /// Ctrl-C: once pauses after the current step, twice stops now.
    Interrupt,
    /// Close an overlay, clear the filter.
    Back,
    /// Rehearsals only: inject a fault on the selected node of the simulated twin.
    Fault,
}

/// One key, as the help shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The key code.
    pub code: KeyCode,
    /// Needs Ctrl.
    pub ctrl: bool,
}

const fn k(c: char) -> Key {
    Key { code: KeyCode::Char(c), ctrl: false }
}

const fn code(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

const fn ctrl(c: char) -> Key {
    Key { code: KeyCode::Char(c), ctrl: true }
}

impl Key {
    /// Whether a key event is this key. Shift is ignored for characters (crossterm reports `G`
    /// as `Char('G')` with SHIFT), Ctrl must match.
    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl != self.ctrl {
            return false;
        }
        match (self.code, ev.code) {
            (KeyCode::BackTab, KeyCode::BackTab) => true,
            (KeyCode::Tab, KeyCode::Tab) => !ev.modifiers.contains(KeyModifiers::SHIFT),
            (a, b) => a == b,
        }
    }

    /// The key's name in help and status bar.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "Shift-Tab".into(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Backspace => "Backspace".into(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        if self.ctrl { format!("Ctrl-{}", base.to_uppercase()) } else { base }
    }
}

/// Who may use a binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everyone, observers included.
    Always,
    /// Only the operator who drives the run (hidden in observer mode).
    Driver,
}

/// One row of the main keymap.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// The keys, first one shown in the status bar.
    pub keys: &'static [Key],
    /// What they do.
    pub action: KeyAction,
    /// A word or two for the status bar.
    pub short: &'static str,
    /// One sentence for the help overlay.
    pub help: &'static str,
    /// Who may use it.
    pub scope: Scope,
}

/// The main screen's keys, in the order the help lists them.
pub const MAIN: &[Binding] = &[
    Binding {
        keys: &[k('?'), code(KeyCode::F(1))],
        action: KeyAction::Help,
        short: "help",
        help: "show or hide this help",
        scope: Scope::Always,
    },
    Binding {
        keys: &[k('k'), code(KeyCode::Up)],
        action: KeyAction::Up,
        short: "up",
        help: "move up",
        scope: Scope::Always,
    },
    Binding {
        keys: &[k('j'), code(KeyCode::Down)],
        action: KeyAction::Down,
        short: "down",
        help: "move down",
        scope: Scope::Always,
    },
    Binding {
        keys: &[k('g'), code(KeyCode::Home)],
        action: KeyAction::Top,
        short: "top",
        help: "first row",
        scope: Scope::Always,
    },
    Binding {
        keys: &[k('G'), code(KeyCode::End)],
        action: KeyAction::Bottom,
        short: "bottom",
        help: "last row; in the output pane, follow new lines again",
        scope: Scope::Always,
    },
    Binding {
        keys: &[code(KeyCode::PageUp), ctrl('u')],
        action: KeyAction::PageUp,
        short: "page up",
        help: "one page up",
        scope: Scope::Always,
    },
    Binding {
        keys: &[code(KeyCode::PageDown), ctrl('d')],
        action: KeyAction::PageDown,
        short: "page down",
        help: "one page down",
        scope: Scope::Always,
    },
    Binding {
        keys: &[code(KeyCode::Tab)],
        action: KeyAction::NextPane,
        short: "pane",
        help: "next pane: nodes, plan, output",
        scope: Scope::Always,
    },
    Binding {
        keys: &[code(KeyCode::BackTab)],
        action: KeyAction::PrevPane,
        short: "prev pane",
        help: "previous pane",
        scope: Scope::Always,
    },
    Binding {
        keys: &[code(KeyCode::Enter)],
        action: KeyAction::Details,
        short: "details",
        help: "details of the selected node (why it is unreachable) or step (command, gates, rollback)",
        scope: Scope::Always,
    },
    Binding {
        keys: &[k('/')],
        action: KeyAction::Filter,
        short: "filter",
        help: "filter the node table (Enter keeps the filter, Esc clears it)",
        scope: Scope::Always,
    },
    Binding {
        keys: &[k('p')],
        action: KeyAction::Pause,
        short: "pause",
        help: "pause after the current step; press again to resume",
        scope: Scope::Driver,
    },
    Binding {
        keys: &[k('P')],
        action: KeyAction::PausePolicy,
        short: "policy",
        help: "cycle the pause policy: every node confirmed → the first of each group (canary) → none (only typed and optional questions); a failure returns to every",
        scope: Scope::Driver,
    },
    Binding {
        keys: &[k('s')],
        action: KeyAction::Shell,
        short: "shell",
        help: "interactive shell on the selected node; rollpilot comes back when it exits, the run goes on meanwhile",
        scope: Scope::Driver,
    },
    Binding {
        keys: &[k('l')],
        action: KeyAction::Log,
        short: "log",
        help: "the full log: notes, gates, decisions, step results",
        scope: Scope::Always,
    },
    Binding {
        keys: &[k('q')],
        action: KeyAction::Quit,
        short: "quit",
        help: "quit; asks first while a run is in progress or the cluster runs mixed versions",
        scope: Scope::Always,
    },
    Binding {
        keys: &[ctrl('c')],
        action: KeyAction::Interrupt,
        short: "stop",
        help: "once: pause after the current step; twice: stop now (the step goes on on its host, `resume` re-attaches)",
        scope: Scope::Always,
    },
    Binding {
        keys: &[k('x')],
        action: KeyAction::Fault,
        short: "fault",
        help: "rehearsal only: inject a fault on the selected node of the twin (then 1 fail-install, 2 stall-sync, 3 crash, 4 hang-stop)",
        scope: Scope::Driver,
    },
    Binding {
        keys: &[code(KeyCode::Esc)],
        action: KeyAction::Back,
        short: "back",
        help: "close an overlay, clear the filter",
        scope: Scope::Always,
    },
];

/// What a key does in a dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogAction {
    /// Focus the next choice.
    Next,
    /// Focus the previous choice.
    Prev,
    /// Activate the focused choice.
    Activate,
    /// Proceed (only in plain confirmation dialogs).
    Proceed,
    /// The safe choice.
    Safe,
    /// Ask to quit, on top of the dialog (closing that question comes back to it).
    Quit,
    /// Cycle the pause policy; the dialog stays open.
    Policy,
}

/// One row of the dialog keymap.
#[derive(Debug, Clone, Copy)]
pub struct DialogBinding {
    /// The keys.
    pub keys: &'static [Key],
    /// What they do.
    pub action: DialogAction,
    /// A word or two for the dialog's key line.
    pub short: &'static str,
    /// One sentence for the help overlay.
    pub help: &'static str,
}

/// Keys in a dialog (the executor's questions and the quit dialog).
pub const DIALOG: &[DialogBinding] = &[
    DialogBinding {
        keys: &[code(KeyCode::Tab), code(KeyCode::Down), code(KeyCode::Right), k('j')],
        action: DialogAction::Next,
        short: "next",
        help: "focus the next choice",
    },
    DialogBinding {
        keys: &[code(KeyCode::BackTab), code(KeyCode::Up), code(KeyCode::Left), k('k')],
        action: DialogAction::Prev,
        short: "previous",
        help: "focus the previous choice",
    },
    DialogBinding {
        keys: &[code(KeyCode::Enter)],
        action: DialogAction::Activate,
        short: "select",
        help: "do what the focused choice says (a typed choice asks for the cluster name first)",
    },
    DialogBinding {
        keys: &[k('y')],
        action: DialogAction::Proceed,
        short: "proceed",
        help: "proceed, in any dialog that has Proceed (\"Do it\" in an optional step); a typed one asks for the name",
    },
    DialogBinding {
        keys: &[code(KeyCode::Esc), k('n')],
        action: DialogAction::Safe,
        short: "safe choice",
        help: "the safe choice (Cancel); in a failure dialog it only moves the focus to it",
    },
    DialogBinding {
        keys: &[k('P')],
        action: DialogAction::Policy,
        short: "policy",
        help: "cycle the pause policy (every → first → none); this dialog stays open",
    },
    DialogBinding {
        keys: &[k('q')],
        action: DialogAction::Quit,
        short: "quit",
        help: "ask to quit, on top of the dialog; closing that question comes back to the dialog",
    },
];

/// Keys while typing (the filter and typed confirmations).
pub const TEXT: &[(&str, &str)] = &[
    ("characters", "type"),
    ("Backspace", "delete the last character"),
    ("Enter", "confirm (filter: keep it)"),
    ("Esc", "back (filter: clear it)"),
];

/// The main-screen action for a key event, if any.
pub fn lookup(ev: &KeyEvent) -> Option<KeyAction> {
    MAIN.iter().find(|b| b.keys.iter().any(|key| key.matches(ev))).map(|b| b.action)
}

/// The dialog action for a key event, if any.
pub fn lookup_dialog(ev: &KeyEvent) -> Option<DialogAction> {
    DIALOG.iter().find(|b| b.keys.iter().any(|key| key.matches(ev))).map(|b| b.action)
}

/// The binding of an action (for the status bar).
pub fn binding(action: KeyAction) -> Option<&'static Binding> {
    MAIN.iter().find(|b| b.action == action)
}

/// "k/↑" for help lines.
pub fn keys_label(keys: &[Key]) -> String {
    keys.iter().map(Key::label).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifted_letters_and_ctrl_are_told_apart() {
        let g = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(lookup(&g), Some(KeyAction::Bottom));
        let c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(lookup(&c), Some(KeyAction::Interrupt));
        let plain_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::NONE);
        assert_eq!(lookup(&plain_c), None);
        let backtab = KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT);
        assert_eq!(lookup(&backtab), Some(KeyAction::PrevPane));
    }

    #[test]
    fn every_key_is_bound_once() {
        let mut seen = Vec::new();
        for b in MAIN {
            for key in b.keys {
                assert!(!seen.contains(key), "{} bound twice", key.label());
                seen.push(*key);
            }
        }
    }
}
