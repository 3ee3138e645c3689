//! One remote command per host per refresh: every probe of a node (version, status, health) is
//! run by one shell script, each bounded in time (`timeout`) and in output (`head -c`), with its
//! exit status and stderr tail framed by markers that carry a per-run nonce.

use crate::model::{Cluster, Group, Node, ProbeKind, shell_quote};
use std::time::Duration;

/// Bytes of stdout kept per probe.
pub const PROBE_STDOUT_MAX: usize = 64 * 1024;
/// Bytes of stderr kept per probe (its tail).
pub const PROBE_STDERR_MAX: usize = 4 * 1024;

/// The rendered probe commands of a node, in run order.
pub fn probe_commands(cluster: &Cluster, group: &Group, node: &Node) -> Vec<(ProbeKind, String)> {
    let Some(kind) = cluster.kind_of(group) else { return Vec::new() };
    let mut vars = cluster.vars_for(group, node);
    vars.insert("version".into(), cluster.target_of(group).to_string());
    vars.insert("from_version".into(), String::new());
    vars.insert("peer".into(), String::new());
    let mut out = Vec::new();
    for (k, t) in [
        (ProbeKind::Version, &kind.commands.version),
        (ProbeKind::Status, &kind.commands.status),
        (ProbeKind::Health, &kind.commands.health),
    ] {
        if let Some(t) = t
            && let Ok(cmd) = t.render(&vars)
        {
            let cmd = if kind.sudo { format!("sudo -n sh -c {}", shell_quote(&cmd)) } else { cmd };
            out.push((k, cmd));
        }
    }
    out
}

/// The script running `probes` with a per-probe `timeout`; `nonce` makes the markers unforgeable
/// by a probe's own output.
pub fn probe_script(probes: &[(ProbeKind, String)], timeout: Duration, nonce: &str) -> String {
    let secs = timeout.as_secs().max(1);
    let mut s = String::new();
    s.push_str("t=$(mktemp -d 2>/dev/null || { mkdir -p /tmp/rp.$$ && echo /tmp/rp.$$; }) || exit 97\n");
    s.push_str("trap 'rm -rf \"$t\"' EXIT\n");
    s.push_str(&format!(
        "rp() {{ {{ timeout -k 2 {secs} sh -c \"$2\" </dev/null 2>\"$t/e\"; echo $? >\"$t/rc\"; }} | head -c {PROBE_STDOUT_MAX} >\"$t/o\"; \
         printf '\\n@@{nonce}:%s:rc=%s\\n' \"$1\" \"$(cat \"$t/rc\" 2>/dev/null || echo 141)\"; cat \"$t/o\"; \
         printf '\\n@@{nonce}:%s:stderr\\n' \"$1\"; tail -c {PROBE_STDERR_MAX} \"$t/e\"; printf '\\n@@{nonce}:%s:end\\n' \"$1\"; }}\n"
    ));
    for (k, cmd) in probes {
        s.push_str(&format!("rp {} {}\n", k.as_str(), shell_quote(cmd)));
    }
    s
}

/// What one probe printed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProbeOutput {
    /// Exit status (124 when `timeout` killed it, 141 when the output bound cut it).
    pub rc: i32,
    /// Its standard output.
    pub stdout: String,
    /// The tail of its standard error.
    pub stderr: String,
}

impl ProbeOutput {
    /// The probe ran out of time.
    pub fn timed_out(&self) -> bool {
        self.rc == 124 || self.rc == 137
    }
}

/// Splits the combined output back into per-probe outputs.
pub fn split_output(out: &str, nonce: &str) -> Vec<(ProbeKind, ProbeOutput)> {
    let mut res = Vec::new();
    let marker = format!("@@{nonce}:");
    let mut rest = out;
    while let Some(i) = rest.find(&marker) {
        let after = &rest[i + marker.len()..];
        let Some((head, body)) = after.split_once('\n') else { break };
        let Some((name, rc)) = head.split_once(":rc=") else {
            rest = after;
            continue;
        };
        let kind = match name {
            "version" => ProbeKind::Version,
            "status" => ProbeKind::Status,
            "health" => ProbeKind::Health,
            _ => {
                rest = after;
                continue;
            }
        };
        let err_marker = format!("\n{marker}{name}:stderr\n");
        let end_marker = format!("\n{marker}{name}:end");
        let (stdout, tail) = body.split_once(&err_marker).unwrap_or((body, ""));
        let (stderr, remaining) = tail.split_once(&end_marker).unwrap_or((tail, ""));
        res.push((
            kind,
            ProbeOutput { rc: rc.trim().parse().unwrap_or(-1), stdout: stdout.to_string(), stderr: stderr.to_string() },
        ));
        rest = remaining;
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn script_round_trips_through_sh() {
        let probes = vec![
            (ProbeKind::Version, "echo 'Terracotta Enterprise 4.2.1'".to_string()),
            (ProbeKind::Status, "echo 'x.state: PASSIVE-STANDBY'; echo oops >&2; exit 3".to_string()),
            (ProbeKind::Health, "sleep 5".to_string()),
        ];
        let script = probe_script(&probes, Duration::from_secs(1), "n0nce");
        let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
        let parts = split_output(&String::from_utf8_lossy(&out.stdout), "n0nce");
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert_eq!(parts[0].1.stdout.trim(), "Terracotta Enterprise 4.2.1");
        assert_eq!(parts[0].1.rc, 0);
        assert_eq!((parts[1].1.rc, parts[1].1.stderr.trim()), (3, "oops"));
        assert!(parts[2].1.timed_out(), "{:?}", parts[2]);
    }

    #[tokio::test]
    async fn chatty_probe_is_cut() {
        let probes = vec![(ProbeKind::Status, "yes garbage".to_string())];
        let script = probe_script(&probes, Duration::from_secs(5), "n");
        let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
        let parts = split_output(&String::from_utf8_lossy(&out.stdout), "n");
        assert_eq!(parts[0].1.stdout.len(), PROBE_STDOUT_MAX);
    }
}
