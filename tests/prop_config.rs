//! Property test: the config loader, fed the example configs with random edits (characters,
//! TOML punctuation, template braces, huge numbers, truncation, duplicated lines), returns a
//! cluster or errors that each name `file:line:col` inside the file; it never panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use std::path::Path;

const EXAMPLES: [&str; 4] = [
    include_str!("../config/terracotta.toml"),
    include_str!("../config/streambase.toml"),
    include_str!("../config/exchange.toml"),
    include_str!("../config/redis-sentinel.toml"),
];

/// Text an edit inserts: TOML and template syntax, odd values, or arbitrary characters.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "\"",
            "'",
            "[",
            "]",
            "[[groups]]",
            "{",
            "}",
            "{version}",
            "{{",
            "}}",
            "=",
            "\n",
            "\"\"\"",
            "'''",
            "\\u",
            "\\",
            "#",
            ",",
            "-1",
            "0",
            "99999999999999999999999",
            "1e400",
            "\"0s\"",
            "\"999999h\"",
            "true",
            "\"\"",
            "x.y.z",
            "4.2",
            "4.2.0-",
            "\u{1b}[2J",
            "\u{0}",
            "é",
            "hosts = []",
            "type = \"peer\"",
        ])
        .prop_map(str::to_string),
        prop::collection::vec(any::<char>(), 0..12).prop_map(|v| v.into_iter().collect()),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, String),
    Delete(usize, usize),
    DuplicateLine(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), fragment()).prop_map(|(p, s)| Edit::Insert(p, s)),
        3 => (any::<usize>(), 1usize..40).prop_map(|(p, n)| Edit::Delete(p, n)),
        1 => any::<usize>().prop_map(Edit::DuplicateLine),
        1 => any::<usize>().prop_map(Edit::Truncate),
    ]
}

/// Applies an edit at positions taken modulo the text's length, on character boundaries.
fn apply(src: &str, e: &Edit) -> String {
    let chars: Vec<char> = src.chars().collect();
    let at = |p: usize| if chars.is_empty() { 0 } else { p % (chars.len() + 1) };
    match e {
        Edit::Insert(p, s) => {
            let i = at(*p);
            chars[..i].iter().copied().chain(s.chars()).chain(chars[i..].iter().copied()).collect()
        }
        Edit::Delete(p, n) => {
            let i = at(*p);
            let j = (i + n).min(chars.len());
            chars[..i].iter().chain(&chars[j..]).collect()
        }
        Edit::DuplicateLine(p) => {
            let lines: Vec<&str> = src.split_inclusive('\n').collect();
            if lines.is_empty() {
                return src.to_string();
            }
            let k = p % lines.len();
            let mut out = String::new();
            for (i, l) in lines.iter().enumerate() {
                out.push_str(l);
                if i == k {
                    out.push_str(l);
                }
            }
            out
        }
        Edit::Truncate(p) => chars[..at(*p)].iter().collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_examples_load_or_fail_with_located_errors(
        which in 0..EXAMPLES.len(),
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let mut src = EXAMPLES[which].to_string();
        for e in &edits {
            src = apply(&src, e);
        }
        match rollpilot::config::parse_str(&src, "edited.toml", Path::new(".")) {
            Ok(_) => {}
            Err(errs) => {
                prop_assert!(!errs.0.is_empty(), "an error without a problem");
                let lines = src.split('\n').count();
                for e in &errs.0 {
                    prop_assert!(e.line >= 1 && e.line <= lines, "line {} of {lines}: {e}", e.line);
                    prop_assert!(e.col >= 1, "column {}: {e}", e.col);
                    let prefix = format!("edited.toml:{}:{}: ", e.line, e.col);
                    prop_assert!(e.to_string().starts_with(&prefix), "{e}");
                    prop_assert!(!e.message.is_empty(), "{e}");
                }
            }
        }
    }
}

#[test]
fn the_examples_themselves_load() {
    for (i, src) in EXAMPLES.iter().enumerate() {
        assert!(rollpilot::config::parse_str(src, "example.toml", Path::new(".")).is_ok(), "example {i}");
    }
}
