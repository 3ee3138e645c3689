//! Remote output is untrusted text: escape sequences in it could move the cursor, recolour or
//! retitle the operator's terminal, or hide lines. Everything shown (TUI and headless) passes
//! through here: ANSI/OSC sequences are dropped, other control characters made visible.

/// One line made safe to print: no escape sequences, no control characters.
pub fn clean_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\u{1b}' => match it.peek() {
                Some('[') => {
                    it.next();
                    // CSI: parameters and intermediates until a final byte @..~
                    for n in it.by_ref() {
                        if ('@'..='~').contains(&n) {
                            break;
                        }
                    }
                }
                Some(']') | Some('P') | Some('X') | Some('^') | Some('_') => {
                    it.next();
                    // OSC/DCS/...: until BEL or ESC \
                    while let Some(n) = it.next() {
                        if n == '\u{7}' {
                            break;
                        }
                        if n == '\u{1b}' && it.peek() == Some(&'\\') {
                            it.next();
                            break;
                        }
                    }
                }
                Some(_) => {
                    it.next();
                }
                None => {}
            },
            '\t' => out.push_str("    "),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Splits output into safe lines; a carriage return keeps only what was written after it, as a
/// terminal would show a progress bar.
pub fn lines(text: &str) -> Vec<String> {
    text.split('\n')
        .filter(|l| !l.is_empty())
        .map(|l| clean_line(l.rsplit('\r').find(|p| !p.is_empty()).unwrap_or("")))
        .filter(|l| !l.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_neutralised() {
        assert_eq!(clean_line("\u{1b}[31mred\u{1b}[0m ok"), "red ok");
        assert_eq!(clean_line("\u{1b}]0;pwned title\u{7}after"), "after");
        assert_eq!(clean_line("a\u{8}b\u{0}c"), "a\u{FFFD}b\u{FFFD}c");
        assert_eq!(clean_line("\u{1b}[2J\u{1b}[Hclear"), "clear");
        assert_eq!(lines("10%\r50%\r100%\ndone\n"), vec!["100%", "done"]);
        assert_eq!(lines("tab\there"), vec!["tab    here"]);
    }
}
