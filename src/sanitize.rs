//! Remote output, config values and arguments are untrusted text: escape sequences in them could
//! move the cursor, recolour or retitle the operator's terminal, write to the clipboard (OSC 52)
//! or hide lines. Everything shown (TUI, headless, `status`, `plan`, `report`, messages) passes
//! through here. Nothing is dropped silently: every control character is replaced by a visible
//! escape (`\x1b]52;c;aGk=\x07` stays readable as that text), so the operator sees that a node
//! printed something odd instead of the terminal obeying it. JSON outputs need none of this
//! (serde escapes control characters).

use std::fmt::Write;

/// The visible form of one character that must not reach a terminal as is, or `None` when the
/// character is safe to print. C0 controls, DEL, C1 controls (which some terminals obey as
/// escape introducers) and the bidirectional overrides (which reorder what is shown) qualify.
fn visible(c: char) -> Option<String> {
    match c {
        '\u{0}'..='\u{1f}' | '\u{7f}' => Some(format!("\\x{:02x}", c as u32)),
        '\u{80}'..='\u{9f}'
        | '\u{061c}'
        | '\u{200e}'
        | '\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}' => Some(format!("\\u{{{:x}}}", c as u32)),
        _ => None,
    }
}

/// One line made safe to print: every control character (newlines included) and escape sequence
/// shown as visible text (`\x1b[2J`), tabs as four spaces. Use it for a table cell, a message or
/// anything else that must stay on one line.
pub fn clean_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' => out.push_str("    "),
            c => match visible(c) {
                Some(v) => out.push_str(&v),
                None => out.push(c),
            },
        }
    }
    out
}

/// Multi-line text made safe to print: like [`clean_line`] but line breaks are kept (a trailing
/// `\r` of a CRLF line ending is dropped, other carriage returns are shown). For whole messages,
/// plans and reports written in one piece.
pub fn clean_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, l) in s.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&clean_line(l.strip_suffix('\r').unwrap_or(l)));
    }
    out
}

/// Splits output into safe lines; a carriage return keeps only what was written after it, as a
/// terminal would show a progress bar. Empty lines are left out.
pub fn lines(text: &str) -> Vec<String> {
    text.split('\n')
        .filter(|l| !l.is_empty())
        .map(|l| clean_line(l.rsplit('\r').find(|p| !p.is_empty()).unwrap_or("")))
        .filter(|l| !l.is_empty())
        .collect()
}

/// Characters, odd ones (U+FFFD from undecodable bytes, control characters other than line
/// breaks and tabs) and U+FFFD alone, in `s`.
fn counts(s: &str) -> (usize, usize, usize) {
    let (mut total, mut odd, mut bad) = (0, 0, 0);
    for c in s.chars() {
        total += 1;
        if c == '\u{FFFD}' {
            bad += 1;
            odd += 1;
        } else if c.is_control() && !matches!(c, '\n' | '\r' | '\t') {
            odd += 1;
        }
    }
    (total, odd, bad)
}

/// Whether lossily decoded output is binary rather than text: more than one character in five
/// is odd (random bytes decode to more than one in two; a stray Latin-1 byte in a line of text
/// does not qualify, a short line needs at least four).
pub fn looks_binary(s: &str) -> bool {
    let (total, odd, _) = counts(s);
    odd * 5 > total.max(16)
}

/// How many bytes lossily decoded output had on the host (each U+FFFD counted as the one
/// undecodable byte it usually replaced).
pub fn host_bytes(s: &str) -> u64 {
    let (_, _, bad) = counts(s);
    s.len().saturating_sub(2 * bad) as u64
}

/// The one line shown for binary output instead of pages of replacement characters.
pub fn binary_note(bytes: u64) -> String {
    format!("output not text: {} of binary", size(bytes))
}

/// For output that [`looks_binary`], its [`binary_note`] (`output not text: 200 KB of
/// binary`); `None` for text.
pub fn binary_summary(text: &str) -> Option<String> {
    looks_binary(text).then(|| binary_note(host_bytes(text)))
}

/// A byte count as an operator reads it: `512 bytes`, `200 KB`, `10 MB`.
pub fn size(bytes: u64) -> String {
    let mut s = String::new();
    let _ = match bytes {
        b if b < 1024 => write!(s, "{b} bytes"),
        b if b < 1024 * 1024 => write!(s, "{} KB", ((b + 512) / 1024).max(1)),
        b => write!(s, "{} MB", (b + 512 * 1024) / (1024 * 1024)),
    };
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_shown_never_obeyed() {
        assert_eq!(clean_line("\u{1b}[31mred\u{1b}[0m ok"), "\\x1b[31mred\\x1b[0m ok");
        assert_eq!(clean_line("\u{1b}]0;pwned\u{7}after"), "\\x1b]0;pwned\\x07after");
        assert_eq!(clean_line("\u{1b}]52;c;aGk=\u{7}"), "\\x1b]52;c;aGk=\\x07");
        assert_eq!(clean_line("a\u{8}b\u{0}c\u{7f}"), "a\\x08b\\x00c\\x7f");
        assert_eq!(clean_line("\u{9b}2J \u{202e}evil"), "\\u{9b}2J \\u{202e}evil");
        assert_eq!(clean_line("one\ntwo\r"), "one\\x0atwo\\x0d");
        assert_eq!(clean_line("tab\there é ✓"), "tab    here é ✓");
        assert_eq!(lines("10%\r50%\r100%\ndone\n"), vec!["100%", "done"]);
        assert_eq!(lines("tab\there"), vec!["tab    here"]);
        assert_eq!(clean_text("a\u{1b}[2J\r\nb\rc\n"), "a\\x1b[2J\nb\\x0dc\n");
    }

    #[test]
    fn cleaning_is_idempotent_and_leaves_no_control_character() {
        let nasty = "\u{1b}]52;c;aGk=\u{7}\u{1b}[2J\u{0}\u{9b}x";
        let once = clean_text(nasty);
        assert_eq!(clean_text(&once), once);
        assert!(!once.chars().any(|c| c.is_control() && c != '\n'));
    }

    #[test]
    fn binary_is_described_text_is_not() {
        let junk: String = (0..200 * 1024).map(|i| if i % 2 == 0 { '\u{FFFD}' } else { 'a' }).collect();
        assert_eq!(binary_summary(&junk).as_deref(), Some("output not text: 200 KB of binary"));
        let random = String::from_utf8_lossy(
            &(0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<_>>(),
        )
        .into_owned();
        assert!(binary_summary(&random).is_some_and(|s| s.ends_with(" KB of binary")), "{:?}", binary_summary(&random));
        assert_eq!(binary_summary(&"é".repeat(5000)), None);
        assert_eq!(binary_summary("short \u{FFFD}"), None);
        assert_eq!(size(10 * 1024 * 1024), "10 MB");
        assert_eq!(size(100), "100 bytes");
    }
}
