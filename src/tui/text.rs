//! Small text helpers: a one-line text field (the filter, typed confirmations), word wrapping and
//! truncation by display width, and the clock words the screen shows. Written here rather than
//! taken from a crate so that no second crossterm version enters the build.

use jiff::Timestamp;
use std::time::Duration;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// A one-line text field: characters, Backspace; Enter and Esc are the caller's business.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextField {
    /// What was typed.
    pub text: String,
}

/// The longest text a field accepts (a cluster name or a filter, never an essay).
pub const FIELD_MAX: usize = 128;

impl TextField {
    /// Adds a typed character (control characters are refused).
    pub fn push(&mut self, c: char) -> bool {
        if c.is_control() || self.text.chars().count() >= FIELD_MAX {
            return false;
        }
        self.text.push(c);
        true
    }

    /// Deletes the last character.
    pub fn backspace(&mut self) -> bool {
        self.text.pop().is_some()
    }

    /// Empties the field.
    pub fn clear(&mut self) {
        self.text.clear();
    }
}

/// Display width of a string.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// Cuts `s` to at most `max` columns, ending with `…` when something was cut.
pub fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw > max - 1 {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

/// Cuts `s` to `max` columns by taking out its middle (`bigmem…east-1a-1`): host names of one
/// fleet share their beginning and differ at the end, so both ends stay readable.
pub fn truncate_middle(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max < 4 {
        return truncate(s, max);
    }
    let tail_w = max / 2;
    let head = truncate(s, max - tail_w);
    let mut tail: Vec<char> = Vec::new();
    let mut w = 0;
    for c in s.chars().rev() {
        let cw = c.width().unwrap_or(0);
        if w + cw > tail_w {
            break;
        }
        tail.push(c);
        w += cw;
    }
    format!("{head}{}", tail.iter().rev().collect::<String>())
}

/// Wraps text into lines of at most `max` columns (by display width), breaking at spaces where
/// possible and inside words that are longer than a line.
pub fn wrap(s: &str, max: usize) -> Vec<String> {
    let opts = textwrap::Options::new(max.max(1))
        .word_separator(textwrap::WordSeparator::AsciiSpace)
        .word_splitter(textwrap::WordSplitter::NoHyphenation)
        .break_words(true);
    textwrap::wrap(s, opts).into_iter().map(|l| l.into_owned()).collect()
}

/// `01:02:03` (or `1d 02:03:04`) for an elapsed time in seconds.
pub fn hms(secs: i64) -> String {
    let s = secs.max(0);
    let (d, h, m, sec) = (s / 86_400, (s / 3600) % 24, (s / 60) % 60, s % 60);
    if d > 0 { format!("{d}d {h:02}:{m:02}:{sec:02}") } else { format!("{h:02}:{m:02}:{sec:02}") }
}

/// A coarse duration: seconds under a minute, then minutes, then hours and minutes. Changes at
/// most once a minute after the first minute, so an idle screen is not redrawn every second.
pub fn coarse(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s => format!("{}h {:02}m", s / 3600, (s / 60) % 60),
    }
}

/// `14:32` for a countdown in seconds.
pub fn mmss(secs: i64) -> String {
    let s = secs.max(0);
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// When a node last answered: "now" while it answers every refresh (within two refresh
/// intervals), else how long ago; "never" when it never did.
pub fn seen_word(last: Option<Timestamp>, now: Timestamp, refresh: Duration) -> String {
    let Some(t) = last else { return "never".into() };
    let age = now.as_millisecond() - t.as_millisecond();
    let fresh = 2 * refresh.as_millis() as i64 + 500;
    if age <= fresh {
        return "now".into();
    }
    crate::status_view::ago(Some(&t.to_string()), now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_and_truncate_respect_width() {
        assert_eq!(wrap("aaa bbb ccc", 7), vec!["aaa bbb", "ccc"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), vec![""]);
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(truncate("abc", 0), "");
        assert_eq!(truncate_middle("bigmemory-prod-tc-east-1a-1", 12), "bigme…t-1a-1");
        assert_eq!(truncate_middle("tc-east-1", 12), "tc-east-1");
        assert_eq!(truncate_middle("abcdef", 3), "ab…");
    }

    #[test]
    fn clocks() {
        assert_eq!(hms(3723), "01:02:03");
        assert_eq!(coarse(59), "59s");
        assert_eq!(coarse(61), "1m");
        assert_eq!(coarse(3661), "1h 01m");
        assert_eq!(mmss(872), "14:32");
    }

    #[test]
    fn field_refuses_control_characters() {
        let mut f = TextField::default();
        assert!(f.push('a'));
        assert!(!f.push('\u{1b}'));
        assert!(f.backspace());
        assert!(!f.backspace());
    }
}
