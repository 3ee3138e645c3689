//! Reading facts out of probe output with the config's parsers. Pure.

use super::script::ProbeOutput;
use crate::model::{
    Extract, Health, Kind, Matcher, NodeObs, ProbeKind, Quantity, Role, SyncState, eligible_from_word, parse_loose,
};
use crate::transport::tail;
use std::collections::BTreeMap;

/// Finds the raw value an extractor looks for in `text`. `Ok(None)`: nothing matched (the
/// default applies); `Err`: the output cannot be read at all (JSON that is not JSON).
pub fn find_raw(m: &Matcher, text: &str, vars: &BTreeMap<String, String>) -> Result<Option<String>, Unreadable> {
    Ok(match m {
        Matcher::Regex(rx) => rx.captures(text).and_then(|caps| {
            let v = (1..caps.len()).find_map(|i| caps.get(i)).or_else(|| caps.get(0))?;
            Some(v.as_str().trim().to_string())
        }),
        Matcher::Key(k) => text.lines().find_map(|l| {
            let l = l.trim();
            let (key, val) = l.split_once(':').or_else(|| l.split_once('='))?;
            (key.trim() == k).then(|| val.trim().to_string())
        }),
        Matcher::Json(p) => {
            if text.trim().is_empty() {
                return Ok(None);
            }
            let filled =
                crate::model::fill_json_path(p, vars).map_err(|e| Unreadable(format!("JSONPath `{p}`: {e}")))?;
            let path = serde_json_path::JsonPath::parse(&filled)
                .map_err(|e| Unreadable(format!("JSONPath `{filled}` is not valid: {e}")))?;
            let doc: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| Unreadable(format!("the output is not valid JSON ({e}): {}", shown(text))))?;
            match path.query(&doc).all().into_iter().find(|v| !v.is_null()) {
                None => None,
                Some(serde_json::Value::String(s)) => Some(s.trim().to_string()),
                Some(v) => Some(v.to_string()),
            }
        }
    })
}

/// Why a value could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

fn describe(m: &Matcher) -> String {
    match m {
        Matcher::Regex(r) => format!("the pattern `{}`", r.as_str()),
        Matcher::Key(k) => format!("a `{k}:` line"),
        Matcher::Json(p) => format!("a value at JSONPath `{p}`"),
    }
}

/// Applies an extractor: raw value, then the map, then the default.
pub fn extract(ex: &Extract, text: &str, fact: &str) -> Result<String, Unreadable> {
    extract_with(ex, text, fact, &BTreeMap::new())
}

/// [`extract`] with the node's template variables, for JSONPaths that name the node.
pub fn extract_with(
    ex: &Extract,
    text: &str,
    fact: &str,
    vars: &BTreeMap<String, String>,
) -> Result<String, Unreadable> {
    let raw = find_raw(&ex.matcher, text, vars).map_err(|Unreadable(m)| Unreadable(format!("{fact}: {m}")))?;
    match raw {
        Some(v) if ex.map.is_empty() => Ok(v),
        Some(v) => {
            if let Some(m) =
                ex.map.get(&v).or_else(|| ex.map.iter().find(|(k, _)| k.eq_ignore_ascii_case(&v)).map(|(_, m)| m))
            {
                Ok(m.clone())
            } else if let Some(d) = &ex.default {
                Ok(d.clone())
            } else {
                Err(Unreadable(format!(
                    "{fact}: `{v}` is not one of the mapped values ({})",
                    ex.map.keys().cloned().collect::<Vec<_>>().join(", ")
                )))
            }
        }
        None => match &ex.default {
            Some(d) => Ok(d.clone()),
            None => Err(Unreadable(format!(
                "{fact}: expected {} in the {} output, got: {}",
                describe(&ex.matcher),
                ex.from.as_str(),
                shown(text)
            ))),
        },
    }
}

/// A numeric sync fact: the number read, compared with `max`. Returns the state and the
/// detail shown beside it ("lag 4.2 MiB").
pub fn numeric_sync(
    ex: &Extract,
    max: &Quantity,
    text: &str,
    vars: &BTreeMap<String, String>,
) -> Result<(SyncState, String), Unreadable> {
    let raw = find_raw(&ex.matcher, text, vars).map_err(|Unreadable(m)| Unreadable(format!("sync: {m}")))?;
    let Some(raw) = raw else {
        if let Some(d) = &ex.default {
            return Ok((SyncState::from_word(d).unwrap_or(SyncState::Unknown), String::new()));
        }
        return Err(Unreadable(format!(
            "sync: expected {} in the {} output, got: {}",
            describe(&ex.matcher),
            ex.from.as_str(),
            shown(text)
        )));
    };
    let q = Quantity::parse(&raw).map_err(|e| Unreadable(format!("sync: lag {e}")))?;
    let shown = Quantity::with_units_of(q.value, max);
    let state = if q.value <= max.value { SyncState::InSync } else { SyncState::Syncing };
    Ok((state, format!("lag {shown}")))
}

fn shown(text: &str) -> String {
    let t = tail(text, 120);
    if t.is_empty() { "(nothing)".into() } else { format!("\"{t}\"") }
}

fn sudo_problem(stderr: &str) -> bool {
    stderr.contains("sudo: a password is required")
        || stderr.contains("sudo: a terminal is required")
        || stderr.contains("no tty present and no askpass")
}

/// Turns the outputs of a node's probes into what is observed of it. `vars` are the node's
/// template variables (`{host}`...), used by JSONPaths that select this node's member.
pub fn observe(kind: &Kind, vars: &BTreeMap<String, String>, outputs: &BTreeMap<ProbeKind, ProbeOutput>) -> NodeObs {
    let mut obs = NodeObs { reachable: true, ..Default::default() };
    let mut errors: Vec<String> = Vec::new();
    let text_of = |p: ProbeKind| outputs.get(&p).map(|o| o.stdout.as_str()).unwrap_or("");

    for (p, o) in outputs {
        if sudo_problem(&o.stdout) {
            errors.push(format!("{} probe: sudo needs a password (`sudo -n` refused); allow the command with NOPASSWD in sudoers for this user", p.as_str()));
        } else if o.timed_out() {
            errors.push(format!("{} probe timed out", p.as_str()));
        }
    }

    // Role first: a stopped node's version may be unreadable, which is then no error.
    if let Some(ex) = &kind.parse.role {
        match extract_with(ex, text_of(ex.from), "role", vars) {
            Ok(w) => {
                obs.state = find_raw(&ex.matcher, text_of(ex.from), vars).ok().flatten();
                obs.role = Role::from_word(&w).unwrap_or(Role::Unknown);
            }
            Err(Unreadable(m)) => {
                obs.role = Role::Unknown;
                errors.push(probe_failure(outputs.get(&ex.from), &m));
            }
        }
    } else {
        obs.role = Role::None;
    }

    let vex = &kind.parse.version;
    match outputs.get(&vex.from) {
        Some(o) => match extract_with(vex, &o.stdout, "version", vars) {
            Ok(v) => match parse_loose(&v) {
                Some(ver) => obs.version = Some(ver),
                None => errors.push(format!("version: `{v}` is not a version (expected major.minor.patch)")),
            },
            Err(Unreadable(m)) if obs.role != Role::Stopped => errors.push(probe_failure(Some(o), &m)),
            Err(_) => {}
        },
        None => errors.push("version probe did not run".into()),
    }

    if let Some(ex) = &kind.parse.sync {
        let read = match &ex.max {
            Some(max) => numeric_sync(ex, max, text_of(ex.from), vars).map(|(s, d)| {
                obs.sync_detail = (!d.is_empty()).then_some(d);
                s
            }),
            None => extract_with(ex, text_of(ex.from), "sync", vars)
                .map(|w| SyncState::from_word(&w).unwrap_or(SyncState::Unknown)),
        };
        obs.sync = match read {
            Ok(s) => s,
            Err(Unreadable(m)) => {
                if obs.role == Role::Passive {
                    errors.push(probe_failure(outputs.get(&ex.from), &m));
                }
                SyncState::Unknown
            }
        };
    } else {
        obs.sync = SyncState::NotApplicable;
    }
    if obs.role != Role::Passive {
        obs.sync = SyncState::NotApplicable;
        obs.sync_detail = None;
    }

    if let Some(ex) = &kind.parse.eligible
        && obs.role == Role::Passive
    {
        match extract_with(ex, text_of(ex.from), "eligible", vars) {
            Ok(w) => {
                obs.eligible = eligible_from_word(&w).flatten();
                obs.eligible_detail = find_raw(&ex.matcher, text_of(ex.from), vars).ok().flatten().or(Some(w));
            }
            // Unknown eligibility counts as eligible; the reason is kept for the operator.
            Err(Unreadable(m)) => errors.push(m),
        }
    }

    if let Some(ex) = &kind.parse.running_version
        && obs.role.is_running()
    {
        match extract_with(ex, text_of(ex.from), "running version", vars) {
            Ok(v) => match parse_loose(&v) {
                Some(ver) => obs.running_version = Some(ver),
                None => errors.push(format!("running version: `{v}` is not a version (expected major.minor.patch)")),
            },
            Err(Unreadable(m)) => errors.push(m),
        }
    }

    // The finalized series (R14): only a running node can say it.
    if let Some(ex) = &kind.parse.finalized
        && obs.role.is_running()
    {
        match extract_with(ex, text_of(ex.from), "finalized version", vars) {
            Ok(v) => match parse_loose(&v) {
                Some(ver) => obs.finalized = Some(ver),
                None => errors.push(format!("finalized version: `{v}` is not a version (expected major.minor)")),
            },
            Err(Unreadable(m)) => errors.push(m),
        }
    }

    obs.health = if let Some(ex) = &kind.parse.health {
        match extract_with(ex, text_of(ex.from), "health", vars) {
            Ok(w) => Health::from_word(&w).unwrap_or(Health::Unknown),
            Err(_) => Health::Unknown,
        }
    } else if let Some(o) = outputs.get(&ProbeKind::Health) {
        if o.rc == Some(0) { Health::Ok } else { Health::Failed }
    } else {
        Health::Unknown
    };
    // Without a role parser, a failed health probe is the only sign the service is down.
    if kind.parse.role.is_none() && obs.health == Health::Failed {
        obs.role = Role::Stopped;
    }

    if !errors.is_empty() {
        errors.dedup();
        obs.error = Some(errors.join("; "));
    }
    obs
}

fn probe_failure(o: Option<&ProbeOutput>, unreadable: &str) -> String {
    match o {
        Some(ProbeOutput { rc: Some(rc), stdout, .. }) if *rc != 0 => {
            let t = tail(stdout, 160);
            format!(
                "{unreadable} (the probe exited {rc}{})",
                if t.is_empty() { String::new() } else { format!(": {t}") }
            )
        }
        _ => unreadable.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn ex(from: ProbeKind, rx: &str, map: &[(&str, &str)], default: Option<&str>) -> Extract {
        Extract {
            from,
            matcher: Matcher::Regex(Regex::new(rx).unwrap()),
            map: map.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
            default: default.map(str::to_string),
            max: None,
        }
    }

    #[test]
    fn first_participating_group_and_keys() {
        let rx = Matcher::Regex(Regex::new(r"\.state: (\S+)|\.error: (Connection refused)").unwrap());
        assert_eq!(
            find_raw(&rx, "tc-1.error: Connection refused", &BTreeMap::new()).unwrap().as_deref(),
            Some("Connection refused")
        );
        assert_eq!(
            find_raw(&rx, "tc-1.state: ACTIVE-COORDINATOR", &BTreeMap::new()).unwrap().as_deref(),
            Some("ACTIVE-COORDINATOR")
        );
        let key = Matcher::Key("master_link_status".into());
        assert_eq!(
            find_raw(&key, "# Replication\r\nrole:slave\r\nmaster_link_status:up\r\n", &BTreeMap::new())
                .unwrap()
                .as_deref(),
            Some("up")
        );
    }

    #[test]
    fn unreadable_says_what_was_expected_and_what_came() {
        let e = ex(ProbeKind::Version, r"Terracotta \S+ (\S+)", &[], None);
        let err = extract(&e, "segfault at 0x0\n", "version").unwrap_err();
        assert!(
            err.0.contains(
                "expected the pattern `Terracotta \\S+ (\\S+)` in the version output, got: \"segfault at 0x0\""
            ),
            "{}",
            err.0
        );
    }

    fn kind() -> Kind {
        Kind {
            name: "server".into(),
            commands: Default::default(),
            parse: crate::model::Parsers {
                version: ex(ProbeKind::Version, r"Terracotta \S+ (\S+)", &[], None),
                role: Some(ex(
                    ProbeKind::Status,
                    r"\.state: (\S+)|\.error: (Connection refused)",
                    &[
                        ("ACTIVE-COORDINATOR", "active"),
                        ("PASSIVE-STANDBY", "passive"),
                        ("PASSIVE-UNINITIALIZED", "passive"),
                        ("Connection refused", "stopped"),
                    ],
                    None,
                )),
                sync: Some(ex(
                    ProbeKind::Status,
                    r"\.state: (\S+)",
                    &[("PASSIVE-STANDBY", "in-sync"), ("PASSIVE-UNINITIALIZED", "syncing")],
                    Some("unknown"),
                )),
                health: None,
                eligible: None,
                running_version: None,
                finalized: None,
            },
            sudo: false,
            peer_auto: false,
            takeover: Default::default(),
            switchover_refused: Vec::new(),
            workdir: "/".into(),
            point_of_no_return: None,
        }
    }

    fn outs(v: &str, s: &str, src: i32) -> BTreeMap<ProbeKind, ProbeOutput> {
        let mut m = BTreeMap::new();
        m.insert(ProbeKind::Version, ProbeOutput { rc: Some(0), stdout: v.into(), stderr: String::new() });
        m.insert(ProbeKind::Status, ProbeOutput { rc: Some(src), stdout: s.into(), stderr: String::new() });
        m
    }

    #[test]
    fn observes_a_syncing_passive_and_a_stopped_server() {
        let o = observe(
            &kind(),
            &BTreeMap::new(),
            &outs("Terracotta Enterprise 4.2.1\n", "tc.state: PASSIVE-UNINITIALIZED\n", 0),
        );
        assert_eq!(
            (o.role, o.sync, o.version.unwrap().to_string()),
            (Role::Passive, SyncState::Syncing, "4.2.1".to_string())
        );
        assert_eq!(o.state.as_deref(), Some("PASSIVE-UNINITIALIZED"));
        assert!(o.error.is_none());
        let o = observe(
            &kind(),
            &BTreeMap::new(),
            &outs("Terracotta Enterprise 4.2.0\n", "tc.error: Connection refused\n", 1),
        );
        assert_eq!((o.role, o.sync), (Role::Stopped, SyncState::NotApplicable));
        assert!(o.error.is_none(), "{:?}", o.error);
    }

    #[test]
    fn garbage_and_sudo_are_reported() {
        let o = observe(&kind(), &BTreeMap::new(), &outs("\u{1b}[31m@@@ garbage", "tc.state: ACTIVE-COORDINATOR", 0));
        assert!(o.version.is_none());
        assert!(o.error.as_deref().unwrap().contains("expected the pattern"), "{:?}", o.error);
        let mut m = outs("", "", 1);
        m.get_mut(&ProbeKind::Status).unwrap().stdout = "sudo: a password is required\n".into();
        let o = observe(&kind(), &BTreeMap::new(), &m);
        assert!(o.error.as_deref().unwrap().contains("sudo needs a password"), "{:?}", o.error);
    }
}
