//! Named styles for every part of the screen, in two built-in themes.
//!
//! The monochrome theme exists because crossterm 0.29 honours `NO_COLOR` by writing a bare SGR
//! reset for colour changes, which also erases REVERSED/BOLD: a selection bar would vanish. Under
//! `NO_COLOR` (or `TERM=dumb`) every style here uses only `Color::Reset` and modifiers, so no
//! colour command is ever emitted. State is always shown as text or symbols too, never by colour
//! alone, so both themes carry the same information.

use ratatui::style::{Color, Modifier, Style};

/// Which built-in theme is in use (shown in the help overlay).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThemeKind {
    /// Colours for state (green ok, yellow waiting, red failures).
    Default,
    /// Modifiers only: for `NO_COLOR`, `TERM=dumb` and monochrome terminals.
    Monochrome,
}

/// The styles the views use; one place to change the look, and the monochrome guarantee.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Theme {
    /// Which theme this is.
    pub kind: ThemeKind,
    /// Ordinary text.
    pub base: Style,
    /// Secondary text (reasons, hints).
    pub dim: Style,
    /// Pane titles.
    pub title: Style,
    /// The title of the pane that has the keyboard.
    pub title_focused: Style,
    /// Pane separators.
    pub border: Style,
    /// The selected row of the focused pane.
    pub selected: Style,
    /// The selected row of a pane without focus.
    pub selected_unfocused: Style,
    /// The step being worked on now.
    pub current: Style,
    /// Good: done, healthy, in sync, at target.
    pub ok: Style,
    /// Needs attention soon: waiting, syncing, warnings.
    pub warn: Style,
    /// Failed, unreachable, dangerous.
    pub fail: Style,
    /// A step running right now.
    pub running: Style,
    /// A value from an earlier probe.
    pub stale: Style,
    /// A value that changed recently (a role after failover).
    pub changed: Style,
    /// Key names in the status bar and help.
    pub key: Style,
    /// The header lines.
    pub header: Style,
    /// The run-state word in the header.
    pub run_state: Style,
    /// Dialog frame for ordinary questions.
    pub dialog: Style,
    /// Dialog frame for failures and typed confirmations.
    pub danger: Style,
    /// A button without focus.
    pub button: Style,
    /// The focused button.
    pub button_focused: Style,
    /// The progress bar's filled part.
    pub gauge: Style,
}

impl Theme {
    /// The colour theme.
    pub fn default_colors() -> Theme {
        let b = Style::default();
        Theme {
            kind: ThemeKind::Default,
            base: b,
            dim: b.fg(Color::DarkGray),
            title: b.add_modifier(Modifier::BOLD),
            title_focused: b.fg(Color::Cyan).add_modifier(Modifier::BOLD),
            border: b.fg(Color::DarkGray),
            // One uniform bar (k9s-style): reversing each cell's own colours made a patchwork.
            selected: b.fg(Color::Black).bg(Color::Cyan),
            selected_unfocused: b.add_modifier(Modifier::UNDERLINED),
            current: b.add_modifier(Modifier::BOLD),
            ok: b.fg(Color::Green),
            warn: b.fg(Color::Yellow),
            fail: b.fg(Color::Red).add_modifier(Modifier::BOLD),
            running: b.fg(Color::Cyan).add_modifier(Modifier::BOLD),
            stale: b.fg(Color::DarkGray).add_modifier(Modifier::DIM),
            changed: b.fg(Color::Magenta).add_modifier(Modifier::BOLD),
            key: b.fg(Color::Cyan).add_modifier(Modifier::BOLD),
            header: b.add_modifier(Modifier::BOLD),
            run_state: b.add_modifier(Modifier::REVERSED | Modifier::BOLD),
            dialog: b.fg(Color::Cyan),
            danger: b.fg(Color::Red).add_modifier(Modifier::BOLD),
            button: b,
            button_focused: b.add_modifier(Modifier::REVERSED | Modifier::BOLD),
            gauge: b.fg(Color::Green),
        }
    }

    /// Modifiers only, every colour `Reset`: safe under `NO_COLOR` with crossterm 0.29.
    pub fn monochrome() -> Theme {
        let b = Style::default().fg(Color::Reset).bg(Color::Reset);
        Theme {
            kind: ThemeKind::Monochrome,
            base: b,
            dim: b.add_modifier(Modifier::DIM),
            title: b.add_modifier(Modifier::BOLD),
            title_focused: b.add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            border: b,
            selected: b.add_modifier(Modifier::REVERSED),
            selected_unfocused: b.add_modifier(Modifier::UNDERLINED),
            current: b.add_modifier(Modifier::BOLD),
            ok: b,
            warn: b.add_modifier(Modifier::BOLD),
            fail: b.add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            running: b.add_modifier(Modifier::BOLD),
            stale: b.add_modifier(Modifier::DIM),
            changed: b.add_modifier(Modifier::BOLD | Modifier::ITALIC),
            key: b.add_modifier(Modifier::BOLD),
            header: b.add_modifier(Modifier::BOLD),
            run_state: b.add_modifier(Modifier::REVERSED | Modifier::BOLD),
            dialog: b,
            danger: b.add_modifier(Modifier::BOLD),
            button: b,
            button_focused: b.add_modifier(Modifier::REVERSED | Modifier::BOLD),
            gauge: b.add_modifier(Modifier::REVERSED),
        }
    }

    /// Picks the theme from the environment: monochrome under `NO_COLOR` (set and not empty, as
    /// no-color.org says) or `TERM=dumb`.
    pub fn from_env() -> Theme {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        if no_color || dumb { Theme::monochrome() } else { Theme::default_colors() }
    }
}

impl Default for Theme {
    fn default() -> Self {
        Theme::default_colors()
    }
}
