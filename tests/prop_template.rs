//! Property test: a value substituted into a command template reaches the shell as ONE literal
//! argument, whatever it holds (quotes, `$(...)`, backquotes, `;`, newlines, globs, escapes),
//! in every position a template may put a placeholder. Checked by running the rendered command
//! with the real `sh` and reading back exactly the arguments it received.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use rollpilot::model::Template;
use std::collections::BTreeMap;
use std::process::Command;

/// Values rich in what a shell would interpret.
fn value() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        3 => prop::sample::select(vec![
            '\'', '"', '`', '$', '(', ')', '{', '}', ';', '&', '|', '<', '>', '*', '?', '[', ']', '~', '#', '!',
            '\\', ' ', '\t', '\n', '\r', '=', '%', '-', '\u{1b}', 'é', '\u{7}',
        ]),
        2 => any::<char>().prop_filter("no NUL in arguments", |c| *c != '\0'),
        1 => prop::sample::select(vec!['a', 'b', '1', '.', '/']),
    ];
    prop_oneof![
        4 => prop::collection::vec(c, 0..24).prop_map(|v| v.into_iter().collect::<String>()),
        1 => prop::sample::select(vec![
            "$(touch pwned)", "`touch pwned`", "'; touch pwned; '", "a\ntouch pwned", "--help", "-n", "",
            "*", "$HOME", "${IFS}", "\\", "'", "x' 'y",
        ])
        .prop_map(str::to_string),
    ]
}

/// Renders `template` with `v` and returns what the shell printed.
fn run(template: &str, v: &str) -> Vec<u8> {
    let t = Template::parse(template).unwrap();
    let vars = BTreeMap::from([("v".to_string(), v.to_string())]);
    let cmd = t.render(&vars).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("sh").arg("-c").arg(&cmd).current_dir(dir.path()).output().unwrap();
    assert!(out.status.success(), "`{cmd}` failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir.path().join("pwned").exists(), "`{cmd}` ran part of the value as a command");
    out.stdout
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_value_is_one_literal_argument_wherever_the_placeholder_stands(v in value()) {
        let one = |s: &str| format!("[{s}]").into_bytes();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("printf '[%s]' {v}", one(&v)),
            ("printf '[%s]' pre{v}post", one(&format!("pre{v}post"))),
            ("printf '[%s]' {v} {v}", [one(&v), one(&v)].concat()),
            ("x={v}; printf '[%s]' \"$x\"", one(&v)),
            ("for x in {v}; do printf '[%s]' \"$x\"; done", one(&v)),
            ("printf '[%s]' {v} | cat", one(&v)),
            ("printf '[%s]' {v} # and a comment", one(&v)),
        ];
        for (template, want) in cases {
            let got = run(template, &v);
            prop_assert_eq!(
                &got, &want,
                "{} with {:?}: got {:?}", template, v, String::from_utf8_lossy(&got)
            );
        }
    }
}
