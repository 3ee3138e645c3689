//! Renders and runs the generated config's command templates exactly as rollpilot would on the
//! local transport (`sh -c`), so the simulator drives its nodes through the same contract.

use super::error::SimError;
use super::layout::Layout;
use super::procs::{self, ShellOutput};
use crate::model::Cluster;
use std::time::Duration;

/// Loads `D/cluster.toml` with rollpilot's own loader.
pub fn load_cluster(layout: &Layout) -> Result<Cluster, SimError> {
    crate::config::load(&layout.config_file())
        .map_err(|e| SimError::Failed(format!("the generated config does not load (a simulator bug):\n{}", e.render())))
}

/// The rendered command `which` (version, status, stop, install, start, switchover, offline,
/// online...) of a host, with extra built-ins such as `version` or `peer`.
pub fn command(cluster: &Cluster, host: &str, which: &str, extra: &[(&str, &str)]) -> Result<String, SimError> {
    let (group, node) =
        cluster.node(host).ok_or_else(|| SimError::Usage(format!("no host `{host}` in cluster {}", cluster.name)))?;
    let kind = cluster
        .kind_of(group)
        .ok_or_else(|| SimError::Failed(format!("group {} has no kind in the config", group.name)))?;
    let template = kind
        .commands
        .all()
        .into_iter()
        .find(|(k, _)| *k == which)
        .map(|(_, t)| t)
        .ok_or_else(|| SimError::Usage(format!("kinds.{} has no `{which}` command (host {host})", kind.name)))?;
    let mut vars = cluster.vars_for(group, node);
    for (k, v) in extra {
        vars.insert((*k).to_string(), (*v).to_string());
    }
    template.render(&vars).map_err(|missing| {
        SimError::Failed(format!("kinds.{}.{which} needs `{{{missing}}}`, which has no value for {host}", kind.name))
    })
}

/// Renders and runs a command; a non-zero exit becomes an error with its output.
pub fn run(
    cluster: &Cluster,
    host: &str,
    which: &str,
    extra: &[(&str, &str)],
    timeout: Duration,
) -> Result<ShellOutput, SimError> {
    let cmd = command(cluster, host, which, extra)?;
    let out = procs::run_shell(&cmd, timeout)?;
    if out.timed_out {
        return Err(SimError::Failed(format!(
            "`{cmd}` ({which} of {host}) did not finish within {}s",
            timeout.as_secs()
        )));
    }
    if !out.success() {
        return Err(SimError::Failed(format!(
            "`{cmd}` ({which} of {host}) failed with exit code {}:\n{}",
            out.code.map(|c| c.to_string()).unwrap_or_else(|| "none".into()),
            out.combined()
        )));
    }
    Ok(out)
}

/// Reads one fact out of a probe's output the way the config's parser says: the first capture
/// group that took part in the regex match (or the whole match, or a `key: value` line), then
/// translated through `map`, else `default`.
pub fn extract(ex: &crate::model::Extract, output: &str) -> Option<String> {
    extract_with(ex, output, &Default::default())
}

/// [`extract`] with the node's template variables (JSONPaths that select this node's member
/// use `{host}`); a numeric `sync` parser (`max`) gives `in-sync` or `syncing`, as the poller.
pub fn extract_with(
    ex: &crate::model::Extract,
    output: &str,
    vars: &std::collections::BTreeMap<String, String>,
) -> Option<String> {
    if let Some(max) = &ex.max {
        return crate::probe::parse::numeric_sync(ex, max, output, vars).ok().map(|(st, _)| st.as_str().to_string());
    }
    let raw = match &ex.matcher {
        crate::model::Matcher::Regex(rx) => rx.captures(output).and_then(|c| {
            if c.len() == 1 {
                c.get(0).map(|m| m.as_str().to_string())
            } else {
                (1..c.len()).find_map(|i| c.get(i)).map(|m| m.as_str().to_string())
            }
        }),
        crate::model::Matcher::Key(k) => output.lines().find_map(|l| {
            let (key, val) = l.split_once([':', '='])?;
            (key.trim() == k).then(|| val.trim().to_string())
        }),
        // The simulator's kits print text; a JSON parser reads it the way the poller does.
        crate::model::Matcher::Json(_) => crate::probe::parse::find_raw(&ex.matcher, output, vars).ok().flatten(),
    };
    match raw {
        Some(r) if ex.map.is_empty() => Some(r),
        Some(r) => ex.map.get(&r).cloned().or_else(|| ex.default.clone()),
        None => ex.default.clone(),
    }
}

/// Runs the probe a fact (`version`, `role`, `sync`, `health`) is read from and parses it with the
/// config's own parser, as rollpilot's poller would (the exit status is not judged: a stopped
/// server's status exits 1 and still says "stopped").
pub fn probe(cluster: &Cluster, host: &str, fact: &str, timeout: Duration) -> Result<Option<String>, SimError> {
    let (group, _) =
        cluster.node(host).ok_or_else(|| SimError::Usage(format!("no host `{host}` in cluster {}", cluster.name)))?;
    let kind = cluster
        .kind_of(group)
        .ok_or_else(|| SimError::Failed(format!("group {} has no kind in the config", group.name)))?;
    let ex = match fact {
        "version" => Some(&kind.parse.version),
        "role" => kind.parse.role.as_ref(),
        "sync" => kind.parse.sync.as_ref(),
        "health" => kind.parse.health.as_ref(),
        "running_version" => kind.parse.running_version.as_ref(),
        "finalized" => kind.parse.finalized.as_ref(),
        other => {
            return Err(SimError::Usage(format!(
                "unknown fact `{other}`; use version, role, sync, health, running_version or finalized"
            )));
        }
    };
    let Some(ex) = ex else { return Ok(None) };
    let cmd = command(cluster, host, ex.from.as_str(), &[])?;
    let out = procs::run_shell(&cmd, timeout)?;
    let vars = cluster.node(host).map(|(g, n)| cluster.vars_for(g, n)).unwrap_or_default();
    Ok(extract_with(ex, &out.stdout, &vars))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Extract, Matcher, ProbeKind};

    #[test]
    fn extract_follows_the_config_semantics() {
        let ex = Extract {
            from: ProbeKind::Status,
            matcher: Matcher::Regex(regex::Regex::new(r"\.state: (\S+)|\.error: (Connection refused)").unwrap()),
            map: [("Connection refused", "stopped"), ("PASSIVE-STANDBY", "passive")]
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            default: Some("unknown".into()),
            max: None,
        };
        assert_eq!(extract(&ex, "h.error: Connection refused\n").as_deref(), Some("stopped"));
        assert_eq!(extract(&ex, "h.state: PASSIVE-STANDBY\n").as_deref(), Some("passive"));
        assert_eq!(extract(&ex, "h.state: START-STATE\n").as_deref(), Some("unknown"));
        assert_eq!(extract(&ex, "").as_deref(), Some("unknown"));
    }
}
