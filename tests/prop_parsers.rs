//! Property tests: whatever a host prints (arbitrary text, arbitrary bytes decoded lossily,
//! fragments of rollpilot's own framing markers), the probe parsers, the answer splitter, the
//! job poll parser and the sanitizer never panic, and sanitized text holds no control character.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use rollpilot::model::{Cluster, ProbeKind};
use rollpilot::probe::{parse, script};
use std::collections::BTreeMap;
use std::path::Path;

/// The example configs' kinds, parsed once (compiling their regexes per case would dominate).
static CLUSTERS: std::sync::LazyLock<Vec<Cluster>> = std::sync::LazyLock::new(|| {
    [
        include_str!("../config/terracotta.toml"),
        include_str!("../config/streambase.toml"),
        include_str!("../config/exchange.toml"),
        include_str!("../config/redis-sentinel.toml"),
    ]
    .iter()
    .map(|s| rollpilot::config::parse_str(s, "example.toml", Path::new(".")).unwrap())
    .collect()
});

/// What a host might print: text near what parsers look for, markers, or raw bytes.
fn output() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        prop::sample::select(vec![
            "@@n:",
            "@@n:version:begin\n",
            "@@n:status:begin\n",
            "@@n:health:begin\n",
            "\n@@n:version:rc=",
            "\n@@n:status:rc=0\n",
            "@@n:done\n",
            "@@n:cut\n",
            "rc=99999999999999999999",
            "Product Version = ",
            "Terracotta 4.2.1",
            "Node State = Started",
            "x.state: PASSIVE-STANDBY",
            "role:master",
            "role=",
            "master_link_status:up",
            "10.6.1",
            "4.2.1-SNAPSHOT",
            "v",
            ":",
            "=",
            "\r",
            "\n",
            "\u{1b}]52;c;aGk=\u{7}",
            "\u{FFFD}",
            "é",
            "rp-state: done ",
            "rp-state: running\n",
            "rp-size: ",
            "rp-chunk: 18446744073709551616\n",
            "rp-out:\n",
            "-1",
        ])
        .prop_map(str::to_string),
        prop::collection::vec(any::<char>(), 0..16).prop_map(|v| v.into_iter().collect::<String>()),
        prop::collection::vec(any::<u8>(), 0..32).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn probe_parsers_never_panic(
        texts in prop::collection::vec(output(), 3),
        rcs in prop::collection::vec(prop::option::of(any::<i32>()), 3),
        present in prop::collection::vec(any::<bool>(), 3),
    ) {
        for cluster in CLUSTERS.iter() {
            for kind in cluster.kinds.values() {
                let mut outs = BTreeMap::new();
                for (i, k) in [ProbeKind::Version, ProbeKind::Status, ProbeKind::Health].into_iter().enumerate() {
                    if present[i] {
                        outs.insert(k, script::ProbeOutput { rc: rcs[i], stdout: texts[i].clone(), stderr: String::new() });
                    }
                }
                let _ = parse::observe(kind, &Default::default(), &outs);
                for ex in [&kind.parse.role, &kind.parse.sync, &kind.parse.health].into_iter().flatten() {
                    let _ = parse::extract(ex, &texts[0], "fact");
                    let _ = parse::find_raw(&ex.matcher, &texts[1], &Default::default());
                }
                let _ = parse::extract(&kind.parse.version, &texts[2], "version");
            }
        }
        let _ = rollpilot::model::parse_loose(&texts[0]);
    }

    #[test]
    fn framing_and_poll_parsers_never_panic(text in output(), max in 0usize..200) {
        let parts = script::split_output(&text, "n");
        prop_assert!(parts.len() <= text.matches(":begin\n").count());
        let _ = script::was_cut(&text, "n");
        let _ = rollpilot::run::job::parse_poll(&text);
        let t = rollpilot::transport::tail_bytes(&text, max);
        let h = rollpilot::transport::head_bytes(&text, max);
        prop_assert!(t.len() <= max && h.len() <= max && text.ends_with(t) && text.starts_with(h));
        let _ = rollpilot::transport::tail(&text, max);
        let _ = rollpilot::sanitize::binary_summary(&text);
    }

    #[test]
    fn sanitized_text_holds_no_control_character_and_is_stable(text in output()) {
        let line = rollpilot::sanitize::clean_line(&text);
        prop_assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
        let block = rollpilot::sanitize::clean_text(&text);
        prop_assert!(!block.chars().any(|c| c.is_control() && c != '\n'), "{block:?}");
        prop_assert_eq!(rollpilot::sanitize::clean_text(&block), block.clone());
        prop_assert_eq!(block.matches('\n').count(), text.matches('\n').count(), "line breaks are kept, no more");
        for l in rollpilot::sanitize::lines(&text) {
            prop_assert!(!l.chars().any(|c| c.is_control()), "{l:?}");
        }
    }
}
