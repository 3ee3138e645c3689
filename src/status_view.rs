//! The node table as `status` prints it (text and JSON). Pure: rows come from a snapshot.

use crate::model::{Cluster, GroupType, Role};
use crate::probe::Snapshot;
use jiff::Timestamp;
use serde::Serialize;

/// One line of the table; also the JSON shape of `status --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Node name.
    pub host: String,
    /// Group name.
    pub group: String,
    /// The node's kind, as the config names it (`terracotta-server`, `redis`, ...).
    pub kind: String,
    /// active, passive, stopped, unknown or "-".
    pub role: String,
    /// The raw state word the node printed.
    pub state: Option<String>,
    /// Installed version.
    pub version: Option<String>,
    /// The version it should end on.
    pub target: String,
    /// in-sync, syncing, out-of-sync, unknown or "-".
    pub sync: String,
    /// What the node said about its sync beyond the word ("lag 4.2 MiB"); the text table shows
    /// it next to the word, as `NodeObs::sync_shown` does.
    pub sync_detail: Option<String>,
    /// ok, failed or unknown.
    pub health: String,
    /// The latest probe reached the host.
    pub reachable: bool,
    /// The values shown are from an earlier probe.
    pub stale: bool,
    /// When the node last answered (RFC 3339).
    pub last_seen: Option<String>,
    /// What went wrong, in an operator's words.
    pub error: Option<String>,
}

/// Role words as operators of each group type say them.
pub fn role_word(gtype: GroupType, role: Role) -> &'static str {
    match (gtype, role) {
        (GroupType::Orchestrator, Role::Active) => "master",
        (GroupType::Orchestrator, Role::Passive) => "standby",
        (_, r) => r.as_str(),
    }
}

/// Rows in config order; an unreachable node shows its last good values (stale).
pub fn rows(cluster: &Cluster, snap: &Snapshot) -> Vec<Row> {
    cluster
        .nodes()
        .map(|(g, n)| {
            let view = snap.nodes.get(&n.name).cloned().unwrap_or_default();
            let shown = if view.obs.reachable {
                view.obs.clone()
            } else {
                view.last_good.clone().unwrap_or_else(|| view.obs.clone())
            };
            Row {
                host: n.name.clone(),
                group: g.name.clone(),
                kind: g.kind.clone(),
                role: role_word(g.gtype, shown.role).to_string(),
                state: shown.state.clone(),
                version: shown.version.as_ref().map(|v| v.to_string()),
                target: cluster.target_of(g).to_string(),
                sync: shown.sync.as_str().to_string(),
                sync_detail: shown.sync_detail.clone(),
                health: shown.health.as_str().to_string(),
                reachable: view.obs.reachable,
                stale: view.stale,
                last_seen: view.last_seen.map(|t| t.to_string()),
                error: view.obs.error.as_deref().map(|e| without_host(&n.name, e)),
            }
        })
        .collect()
}

/// An error as shown under its node's row: the row already names the host, so a leading
/// "HOST: " (as transport errors say it) is not repeated.
fn without_host(host: &str, error: &str) -> String {
    error.strip_prefix(host).and_then(|r| r.strip_prefix(": ")).unwrap_or(error).to_string()
}

/// "3s ago" from an RFC 3339 time.
pub fn ago(ts: Option<&str>, now: Timestamp) -> String {
    let Some(t) = ts.and_then(|s| s.parse::<Timestamp>().ok()) else { return "never".into() };
    let secs = now.as_second() - t.as_second();
    match secs {
        s if s < 1 => "now".into(),
        s if s < 120 => format!("{s}s ago"),
        s if s < 7200 => format!("{}m ago", s / 60),
        s => format!("{}h ago", s / 3600),
    }
}

/// The table as plain text, every cell sanitized (JSON output needs no cleaning: serde escapes).
pub fn to_text(rows: &[Row], now: Timestamp) -> String {
    let header = ["HOST", "GROUP", "KIND", "ROLE", "STATE", "VERSION", "TARGET", "SYNC", "HEALTH", "LAST SEEN"];
    let cells: Vec<[String; 10]> = rows
        .iter()
        .map(|r| {
            let stale = if r.stale { "*" } else { "" };
            [
                r.host.clone(),
                r.group.clone(),
                r.kind.clone(),
                format!("{}{stale}", r.role),
                r.state.clone().unwrap_or_else(|| "-".into()),
                format!("{}{stale}", r.version.clone().unwrap_or_else(|| "?".into())),
                r.target.clone(),
                match &r.sync_detail {
                    Some(d) => format!("{} ({d})", r.sync),
                    None => r.sync.clone(),
                },
                if r.reachable { r.health.clone() } else { "UNREACHABLE".into() },
                ago(r.last_seen.as_deref(), now),
            ]
            // Probe output (the state word) and config values reach the terminal: made visible.
            .map(|c| crate::sanitize::clean_line(&c))
        })
        .collect();
    let mut w = header.map(|h| h.len());
    for c in &cells {
        for (i, v) in c.iter().enumerate() {
            w[i] = w[i].max(v.chars().count());
        }
    }
    let line = |c: &[String]| {
        c.iter()
            .enumerate()
            .map(|(i, v)| format!("{:w$}", v, w = w[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(&header.map(String::from));
    out.push('\n');
    for (r, c) in rows.iter().zip(&cells) {
        out.push_str(&line(c));
        out.push('\n');
        if let Some(e) = &r.error {
            out.push_str(&format!(
                "  ! {}: {}\n",
                crate::sanitize::clean_line(&r.host),
                crate::sanitize::clean_line(e)
            ));
        }
    }
    if rows.iter().any(|r| r.stale) {
        out.push_str("  * last known value: the host did not answer the latest probe\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        Row {
            host: "pg3".into(),
            group: "db".into(),
            kind: "postgres".into(),
            role: "passive".into(),
            state: None,
            version: Some("16.2.0".into()),
            target: "16.3.0".into(),
            sync: "syncing".into(),
            sync_detail: Some("lag 4.2 MiB".into()),
            health: "ok".into(),
            reachable: false,
            stale: false,
            last_seen: None,
            error: Some(without_host("pg3", "pg3: connection refused; is sshd running on it?")),
        }
    }

    #[test]
    fn text_shows_kind_sync_detail_and_the_host_once() {
        let t = to_text(&[row()], Timestamp::UNIX_EPOCH);
        assert!(t.contains("postgres"), "{t}");
        assert!(t.contains("syncing (lag 4.2 MiB)"), "{t}");
        assert!(t.contains("  ! pg3: connection refused"), "{t}");
        assert!(!t.contains("pg3: pg3:"), "{t}");
        assert_eq!(without_host("pg3", "pg30: x"), "pg30: x");
    }
}
