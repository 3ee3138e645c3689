//! Writes `D/cluster.toml`: a normal rollpilot config for the simulated cluster.
//!
//! The `[kinds.*]` tables (command templates and parsers) are copied verbatim from the example
//! configs in `config/` (embedded at build time), so the simulator is held to the same contract
//! as the real products; `[cluster]` keeps the example's target, profile, compat and failback.
//! Only names, transport, ssh settings, variables, addresses, ports, lock and timeouts differ.

use super::error::SimError;
use super::state::Topology;
use std::fmt::Write as _;

/// The example config a topology's kinds come from.
pub fn example_config(t: Topology) -> &'static str {
    match t {
        Topology::Terracotta => include_str!("../../config/terracotta.toml"),
        Topology::Streambase => include_str!("../../config/streambase.toml"),
        Topology::Exchange => include_str!("../../config/exchange.toml"),
        Topology::Jsondb => include_str!("../../config/jsondb.toml"),
    }
}

/// The file name of that example, for messages and comments.
pub fn example_name(t: Topology) -> &'static str {
    match t {
        Topology::Terracotta => "config/terracotta.toml",
        Topology::Streambase => "config/streambase.toml",
        Topology::Exchange => "config/exchange.toml",
        Topology::Jsondb => "config/jsondb.toml",
    }
}

/// The `[kinds.*]` block of an example config, verbatim: from the first `[kinds.` table to the
/// first `[[groups]]`, without the comments that introduce the groups.
pub fn kinds_block(source: &str) -> Result<String, SimError> {
    let lines: Vec<&str> = source.lines().collect();
    let start = lines.iter().position(|l| l.trim_start().starts_with("[kinds."));
    let end = lines.iter().position(|l| l.trim_start().starts_with("[[groups]]"));
    let (Some(start), Some(end)) = (start, end) else {
        return Err(SimError::Failed(
            "the embedded example config has no [kinds.*] tables followed by [[groups]]; rebuild rollpilot".into(),
        ));
    };
    if end <= start {
        return Err(SimError::Failed("the embedded example config lists [[groups]] before its [kinds.*]".into()));
    }
    let mut block: Vec<&str> = lines[start..end].to_vec();
    while block.last().is_some_and(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        block.pop();
    }
    // Tables that are not kinds must not slip in.
    if let Some(bad) = block.iter().find(|l| {
        let t = l.trim_start();
        t.starts_with('[') && !t.starts_with("[kinds.")
    }) {
        return Err(SimError::Failed(format!("unexpected table `{bad}` among the example's kinds")));
    }
    Ok(block.join("\n"))
}

/// A `[cluster]` value of the example config, as TOML text.
pub fn example_cluster_value(t: Topology, key: &str) -> Option<String> {
    let table: toml::Table = toml::from_str(example_config(t)).ok()?;
    let v = table.get("cluster")?.get(key)?;
    Some(v.to_string())
}

/// A TOML string literal.
pub fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// One host line of the generated config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    /// Host name.
    pub name: String,
    /// What ssh connects to (or just a label for the local transport).
    pub address: String,
    /// ssh port, when not the default.
    pub port: Option<u16>,
    /// Orchestrators: "master" or "standby".
    pub role: Option<String>,
    /// Per-host template variables.
    pub vars: Vec<(String, String)>,
}

/// One group of the generated config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    /// Group name.
    pub name: String,
    /// Group keys other than name and hosts, already as TOML (`key = value`).
    pub keys: Vec<String>,
    /// Its hosts.
    pub hosts: Vec<HostEntry>,
}

/// Everything that differs from the example config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSpec {
    /// Which example.
    pub topology: Topology,
    /// Cluster name.
    pub name: String,
    /// `persistent` override (Terracotta `--not-persistent`).
    pub persistent: Option<bool>,
    /// ssh instead of the local transport.
    pub ssh: bool,
    /// `[ssh] config_file`.
    pub ssh_config: Option<String>,
    /// `[cluster] job_dir`.
    pub job_dir: Option<String>,
    /// `[lock]` host and path.
    pub lock: (String, String),
    /// `[vars]`.
    pub vars: Vec<(String, String)>,
    /// Groups in order.
    pub groups: Vec<GroupEntry>,
    /// The simulator directory, for the header.
    pub dir: String,
    /// A rehearsal twin's own `[kinds.*]` tables (one per operator kind, with the features of
    /// that kind), instead of the example's.
    pub kinds: Option<String>,
    /// A rehearsal twin's `[cluster]` procedure keys (target, profile, compat, persistent,
    /// failback) as TOML lines, instead of the example's, so its groups validate as the
    /// operator's do.
    pub cluster_keys: Vec<String>,
}

/// Renders the config text.
pub fn render(spec: &ConfigSpec) -> Result<String, SimError> {
    let t = spec.topology;
    let kinds = match &spec.kinds {
        Some(k) => k.clone(),
        None => kinds_block(example_config(t))?,
    };
    let source = if spec.kinds.is_some() {
        "the rehearsal twin's generator (one kind per operator kind, same features)"
    } else {
        example_name(t)
    };
    let cv = |k: &str| example_cluster_value(t, k);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# rollpilot cluster config for a simulated {} cluster, written by `rollpilot sim up`.",
        t.as_str()
    );
    let _ = writeln!(s, "#");
    let _ = writeln!(s, "# The [kinds.*] command templates and parsers come from {source}:");
    let _ = writeln!(s, "# the simulator's kits satisfy the same contract as the real products. Only names,");
    let _ = writeln!(s, "# transport, variables (paths), addresses, ports, lock and timeouts differ.");
    let _ = writeln!(s, "#   rollpilot check -c {}/cluster.toml", spec.dir);
    let _ = writeln!(s, "#   rollpilot sim verify --dir {}      (were acknowledged writes lost?)", spec.dir);
    let _ = writeln!(s, "#   rollpilot sim down --dir {}        (stop every simulated process)", spec.dir);
    let _ = writeln!(s);
    let _ = writeln!(s, "[cluster]");
    let _ = writeln!(s, "name = {}", q(&spec.name));
    if spec.cluster_keys.is_empty() {
        for key in ["target", "profile", "compat"] {
            if let Some(v) = cv(key) {
                let _ = writeln!(s, "{key} = {v}");
            }
        }
        match (spec.persistent, cv("persistent")) {
            (Some(p), _) => {
                let _ = writeln!(s, "persistent = {p}");
            }
            (None, Some(v)) => {
                let _ = writeln!(s, "persistent = {v}");
            }
            (None, None) => {}
        }
        if let Some(v) = cv("failback") {
            let _ = writeln!(s, "failback = {v}");
        }
    } else {
        for line in &spec.cluster_keys {
            let _ = writeln!(s, "{line}");
        }
    }
    let _ = writeln!(s, "transport = {}", if spec.ssh { "\"ssh\"" } else { "\"local\"" });
    if let Some(j) = &spec.job_dir {
        let _ = writeln!(s, "job_dir = {}", q(j));
    }
    let _ = writeln!(s);
    if spec.ssh {
        let _ = writeln!(s, "# user, identity and host keys are left to the ssh config.");
        let _ = writeln!(s, "[ssh]");
        let _ = writeln!(s, "host_key_policy = \"strict\"");
        if let Some(c) = &spec.ssh_config {
            let _ = writeln!(s, "config_file = {}", q(c));
        }
        let _ = writeln!(s, "connect_timeout = \"5s\"");
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "[timeouts]");
    let _ = writeln!(s, "probe = \"10s\"");
    let _ = writeln!(s, "step = \"3m\"");
    let _ = writeln!(s, "gate = \"5m\"");
    let _ = writeln!(s, "refresh = \"1s\"");
    let _ = writeln!(s);
    let _ = writeln!(s, "[lock]");
    let _ = writeln!(s, "host = {}", q(&spec.lock.0));
    let _ = writeln!(s, "path = {}", q(&spec.lock.1));
    let _ = writeln!(s, "lease = \"2m\"");
    let _ = writeln!(s);
    let _ = writeln!(s, "# Paths are per host: every simulated machine has its own directory under nodes/.");
    let _ = writeln!(s, "[vars]");
    for (k, v) in &spec.vars {
        let _ = writeln!(s, "{k} = {}", q(v));
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "# ---- from {source} ----");
    let _ = writeln!(s, "{kinds}");
    let _ = writeln!(s, "# ---- end of the copy ----");
    for g in &spec.groups {
        let _ = writeln!(s);
        let _ = writeln!(s, "[[groups]]");
        let _ = writeln!(s, "name = {}", q(&g.name));
        for k in &g.keys {
            let _ = writeln!(s, "{k}");
        }
        for h in &g.hosts {
            let _ = writeln!(s);
            let _ = writeln!(s, "[[groups.hosts]]");
            let _ = writeln!(s, "name = {}", q(&h.name));
            let _ = writeln!(s, "address = {}", q(&h.address));
            if let Some(p) = h.port {
                let _ = writeln!(s, "port = {p}");
            }
            if let Some(r) = &h.role {
                let _ = writeln!(s, "role = {}", q(r));
            }
            if !h.vars.is_empty() {
                let _ = writeln!(s, "[groups.hosts.vars]");
                for (k, v) in &h.vars {
                    let _ = writeln!(s, "{k} = {}", q(v));
                }
            }
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_blocks_are_found_in_every_example() {
        for t in [Topology::Terracotta, Topology::Streambase, Topology::Exchange, Topology::Jsondb] {
            let b = kinds_block(example_config(t)).unwrap();
            assert!(b.starts_with("[kinds."), "{b}");
            assert!(!b.contains("[[groups]]"));
        }
    }
}
