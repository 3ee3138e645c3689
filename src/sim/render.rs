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
