//! Reading an assumed observed state (`plan --assume FILE`): TOML `[nodes.NAME]` tables, or the
//! JSON that `rollpilot status --json` prints, so a saved status can be planned offline.

use super::{ConfigError, ConfigErrors, error_at, position};
use crate::model::{Cluster, Health, NodeObs, Observed, Role, SyncState};
use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize)]
struct StatusRow {
    host: String,
    #[serde(default = "yes")]
    reachable: bool,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    sync: Option<SyncState>,
    #[serde(default)]
    health: Option<Health>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

fn yes() -> bool {
    true
}

/// Loads an observed-state file and checks that it names only hosts of `cluster`.
pub fn load(path: &Path, cluster: &Cluster) -> Result<Observed, super::LoadError> {
    let source =
        std::fs::read_to_string(path).map_err(|source| super::LoadError::Read { path: path.to_path_buf(), source })?;
    parse(&source, &path.display().to_string(), cluster).map_err(super::LoadError::Invalid)
}

/// Parses observed-state text (TOML, or JSON when it starts with `{` or `[`).
pub fn parse(source: &str, origin: &str, cluster: &Cluster) -> Result<Observed, ConfigErrors> {
    let trimmed = source.trim_start();
    let observed = if trimmed.starts_with('[') && serde_json::from_str::<serde_json::Value>(source).is_ok() {
        let rows: Vec<StatusRow> = serde_json::from_str(source).map_err(|e| json_err(source, origin, &e))?;
        let mut obs = Observed::default();
        for r in rows {
            let version = match &r.version {
                Some(v) => Some(semver::Version::parse(v).map_err(|e| {
                    ConfigErrors(vec![error_at(
                        source,
                        origin,
                        source.find(v.as_str()).unwrap_or(0),
                        format!("{}.version", r.host),
                        format!("`{v}` is not a version: {e}"),
                    )])
                })?),
                None => None,
            };
            obs.nodes.insert(
                r.host,
                NodeObs {
                    reachable: r.reachable,
                    version,
                    role: r.role.unwrap_or_default(),
                    sync: r.sync.unwrap_or_default(),
                    health: r.health.unwrap_or_default(),
                    state: r.state,
                    error: r.error,
                    ..Default::default()
                },
            );
        }
        obs
    } else if trimmed.starts_with('{') {
        serde_json::from_str::<Observed>(source).map_err(|e| json_err(source, origin, &e))?
    } else {
        toml::from_str::<Observed>(source).map_err(|e| {
            let off = e.span().map(|s| s.start).unwrap_or(0);
            let field = position::key_path_at(source, off).unwrap_or_else(|| "(file)".into());
            ConfigErrors(vec![error_at(source, origin, off, field, e.message().trim().replace('\n', " "))])
        })?
    };
    let mut errors: Vec<ConfigError> = Vec::new();
    for name in observed.nodes.keys() {
        if cluster.node(name).is_none() {
            let off = source.find(name.as_str()).unwrap_or(0);
            let known: Vec<&str> = cluster.nodes().map(|(_, n)| n.name.as_str()).collect();
            errors.push(error_at(
                source,
                origin,
                off,
                format!("nodes.{name}"),
                format!("`{name}` is not a host of cluster {}; hosts: {}", cluster.name, known.join(", ")),
            ));
        }
    }
    if errors.is_empty() { Ok(observed) } else { Err(ConfigErrors(errors)) }
}

fn json_err(source: &str, origin: &str, e: &serde_json::Error) -> ConfigErrors {
    let line = e.line().max(1);
    let off = source.lines().take(line - 1).map(|l| l.len() + 1).sum::<usize>() + e.column().saturating_sub(1);
    ConfigErrors(vec![error_at(source, origin, off, "(file)", e.to_string())])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn terracotta() -> Cluster {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/terracotta.toml");
        crate::config::load(&path).unwrap()
    }

    #[test]
    fn status_json_saved_from_the_simulator_is_read_verbatim() {
        // `rollpilot status --json` on `rollpilot sim up`: roles `-`, `master`, `standby`, sync `-`.
        let saved = include_str!("../../tests/fixtures/status-json-sim.json");
        let o = parse(saved, "status.json", &terracotta()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.nodes["tc-east-1"].role, Role::Active);
        assert_eq!((o.nodes["tc-east-2"].role, o.nodes["tc-east-2"].sync), (Role::Passive, SyncState::InSync));
        assert_eq!((o.nodes["app-east-1"].role, o.nodes["app-east-1"].sync), (Role::None, SyncState::NotApplicable));
        assert_eq!(o.nodes["wan-east"].role, Role::Active);
        assert_eq!(o.nodes["wan-west"].role, Role::Passive);
        assert_eq!(o.nodes["tc-west-1"].version.as_ref().map(|v| v.to_string()).as_deref(), Some("4.2.0"));
    }

    #[test]
    fn toml_state_accepts_the_readme_words() {
        let src = "[nodes.tc-east-1]\nversion = \"4.2.0\"\nrole = \"active\"\nsync = \"n/a\"\nhealth = \"ok\"\n\n[nodes.tc-east-2]\nrole = \"mirror\"\nsync = \"in-sync\"\n\n[nodes.app-east-1]\nrole = \"-\"\nsync = \"-\"\n";
        let o = parse(src, "state.toml", &terracotta()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.nodes["tc-east-1"].sync, SyncState::NotApplicable);
        assert_eq!(o.nodes["tc-east-2"].role, Role::Passive);
        assert_eq!(o.nodes["app-east-1"].role, Role::None);
    }

    #[test]
    fn a_bad_word_is_located_and_lists_what_is_allowed() {
        let src = "[nodes.tc-east-1]\nrole = \"boss\"\n";
        let e = parse(src, "state.toml", &terracotta()).unwrap_err().to_string();
        assert!(e.contains("state.toml:2:"), "{e}");
        assert!(e.contains("`boss` is not a role; allowed: active (master, primary, leader, online)"), "{e}");
        let e = parse("[{\"host\": \"tc-east-1\", \"sync\": \"sideways\"}]", "s.json", &terracotta()).unwrap_err();
        assert!(e.to_string().contains("`sideways` is not a sync state; allowed: in-sync"), "{e}");
    }
}
