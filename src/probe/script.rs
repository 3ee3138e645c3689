//! One remote conversation per host per refresh: all probes of a node (version, status, health)
//! run inside one `timeout … sh`, each in its own subshell and framed by markers carrying a
//! per-request nonce, with the whole output bounded by one `head -c`. Few processes per refresh
//! (timeout, sh, a subshell per probe, the probe commands, head) keeps a 100-host refresh cheap;
//! whether the bound cut the output is decided by rollpilot ([`bound_output`]), not by a counting
//! pipeline on the host. Over ssh the script runs in a long-lived shell per host (see
//! `Transport::converse`), so sshd's per-command session and login-shell start-up (100+ ms with
//! a heavy ~/.bashrc) are paid once, not per refresh.

use crate::model::{Cluster, Group, Node, ProbeKind, shell_quote};
use std::time::Duration;

/// Bytes of probe output kept per node per refresh.
pub const PROBE_OUTPUT_MAX: usize = 64 * 1024;

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
            // Each probe runs in its own subshell, so `exit` leaves only this probe.
            out.push((k, format!("cd {} || exit 97\n{cmd}", shell_quote(&kind.workdir))));
        }
    }
    out
}

/// Defines `rp_all NONCE`: runs every probe (bounded by `timeout` together) and prints the
/// framed result followed by `@@NONCE:done`. The host keeps one byte more than
/// [`PROBE_OUTPUT_MAX`]; [`bound_output`] then cuts the answer to the bound and announces the cut
/// with `@@NONCE:cut`, so a runaway probe is reported as such, not as a timeout.
pub fn probe_function(probes: &[(ProbeKind, String)], timeout: Duration) -> String {
    let mut inner = String::new();
    for (k, cmd) in probes {
        let name = k.as_str();
        inner.push_str(&format!("printf '@@%s:{name}:begin\\n' \"$0\"; ( {cmd}\n) 2>&1 </dev/null; printf '\\n@@%s:{name}:rc=%s\\n' \"$0\" \"$?\"\n"));
    }
    format!(
        "rp_all() {{ timeout -k 1 {secs} sh -c {inner} \"$1\" </dev/null 2>&1 | head -c {over}; printf '\\n@@%s:done\\n' \"$1\"; }}\n",
        secs = timeout.as_secs().max(1),
        inner = shell_quote(&inner),
        over = PROBE_OUTPUT_MAX + 1
    )
}

/// The long-lived shell: reads one nonce per line and answers with `rp_all NONCE`.
pub fn agent_script(function: &str) -> String {
    format!("{function}while IFS= read -r rp_nonce; do rp_all \"$rp_nonce\"; done\n")
}

/// The one-shot form, for transports without a persistent shell.
pub fn oneshot_script(function: &str, nonce: &str) -> String {
    format!("{function}rp_all {}\n", shell_quote(nonce))
}

/// The line that ends the answer to `nonce`.
pub fn done_marker(nonce: &str) -> String {
    format!("@@{nonce}:done")
}

/// The answer to `nonce` (what preceded its done marker) bounded to [`PROBE_OUTPUT_MAX`] bytes,
/// with `@@NONCE:cut` after it when the probes printed more: the host sends at most one byte
/// over the bound, so an answer longer than the bound was cut there. The answer is decoded
/// lossily (a byte that is not UTF-8 becomes the 3-byte U+FFFD), so when it holds replacement
/// characters its length only bounds the host's bytes from above; then it was cut exactly when
/// the probe running at the end has no exit status although the answer reached the bound.
pub fn bound_output(out: String, nonce: &str) -> String {
    let text = out.strip_suffix('\n').unwrap_or(&out);
    if text.len() <= PROBE_OUTPUT_MAX {
        return out;
    }
    let cut = !text.contains('\u{FFFD}') || split_output(text, nonce).last().is_some_and(|(_, o)| o.rc.is_none());
    if !cut {
        return out;
    }
    format!("{}\n@@{nonce}:cut\n\n", crate::transport::head_bytes(text, PROBE_OUTPUT_MAX))
}

/// Whether the answer to `nonce` was cut at [`PROBE_OUTPUT_MAX`] (the probe that was running
/// then has no exit status: it did not time out, it printed too much).
pub fn was_cut(out: &str, nonce: &str) -> bool {
    out.contains(&format!("@@{nonce}:cut\n"))
}

/// What one probe printed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProbeOutput {
    /// Exit status; `None` when it did not finish (timed out or cut by the output bound).
    pub rc: Option<i32>,
    /// What it printed (stdout and stderr together).
    pub stdout: String,
    /// Kept for callers that look at errors separately; stdout and stderr are merged.
    pub stderr: String,
}

impl ProbeOutput {
    /// The probe did not finish.
    pub fn timed_out(&self) -> bool {
        self.rc.is_none()
    }
}

/// Splits an answer back into per-probe outputs; probes that never began are absent.
pub fn split_output(out: &str, nonce: &str) -> Vec<(ProbeKind, ProbeOutput)> {
    let mut res = Vec::new();
    let marker = format!("@@{nonce}:");
    let mut rest = out;
    while let Some(i) = rest.find(&marker) {
        let after = &rest[i + marker.len()..];
        let Some((head, body)) = after.split_once('\n') else { break };
        let Some(name) = head.strip_suffix(":begin") else {
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
        let rc_marker = format!("\n{marker}{name}:rc=");
        let (text, remaining, rc) = match body.split_once(&rc_marker) {
            Some((text, tail)) => {
                let (rc, remaining) = tail.split_once('\n').unwrap_or((tail, ""));
                (text, remaining, rc.trim().parse().ok())
            }
            // No exit status: cut off here (timeout or output bound); stop at the next marker.
            None => {
                let end = body.find(&format!("\n{marker}")).unwrap_or(body.len());
                (&body[..end], &body[end..], None)
            }
        };
        res.push((kind, ProbeOutput { rc, stdout: text.to_string(), stderr: String::new() }));
        rest = remaining;
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the probes as the local transport does and bounds the answer as `probe_node` does,
    /// then puts the done marker back.
    fn run(probes: &[(ProbeKind, String)], timeout: Duration, nonce: &str) -> String {
        let script = oneshot_script(&probe_function(probes, timeout), nonce);
        let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
        let all = String::from_utf8_lossy(&out.stdout).into_owned();
        let done = done_marker(nonce);
        let answer = all.find(&done).map_or(all.clone(), |i| all[..i].to_string());
        format!("{}{done}\n", bound_output(answer, nonce))
    }

    #[test]
    fn script_round_trips_through_sh() {
        let probes = vec![
            (ProbeKind::Version, "echo 'Terracotta Enterprise 4.2.1'".to_string()),
            (ProbeKind::Status, "echo 'x.state: PASSIVE-STANDBY'; echo oops >&2; exit 3".to_string()),
            (ProbeKind::Health, "test -d /".to_string()),
        ];
        let out = run(&probes, Duration::from_secs(5), "n0nce");
        assert!(out.trim_end().ends_with("@@n0nce:done"), "{out}");
        let parts = split_output(&out, "n0nce");
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert_eq!(parts[0].1.stdout.trim(), "Terracotta Enterprise 4.2.1");
        assert_eq!(parts[0].1.rc, Some(0));
        assert_eq!(parts[1].1.rc, Some(3));
        assert!(parts[1].1.stdout.contains("oops"));
        assert_eq!(parts[2].1.rc, Some(0));
    }

    #[test]
    fn a_hanging_probe_is_cut_and_earlier_ones_count() {
        let probes = vec![
            (ProbeKind::Version, "echo v 1.2.3".to_string()),
            (ProbeKind::Status, "sleep 30".to_string()),
            (ProbeKind::Health, "true".to_string()),
        ];
        let t = std::time::Instant::now();
        let out = run(&probes, Duration::from_secs(1), "n");
        assert!(t.elapsed() < Duration::from_secs(5));
        let parts = split_output(&out, "n");
        assert_eq!(parts.len(), 2, "health never began: {parts:?}");
        assert_eq!(parts[0].1.rc, Some(0));
        assert!(parts[1].1.timed_out());
    }

    #[test]
    fn chatty_probe_is_bounded() {
        let out = run(&[(ProbeKind::Status, "yes garbage".to_string())], Duration::from_secs(5), "n");
        assert!(out.len() <= PROBE_OUTPUT_MAX + 100, "{}", out.len());
        let parts = split_output(&out, "n");
        assert!(parts[0].1.timed_out());
        assert!(was_cut(&out, "n"), "the cut is announced");
        assert!(parts[0].1.stdout.len() <= PROBE_OUTPUT_MAX && parts[0].1.stdout.len() > PROBE_OUTPUT_MAX - 100);
        // Within the bound (with its framing) is not a cut; one byte over is.
        let exact = format!("head -c {} /dev/zero | tr '\\0' x", PROBE_OUTPUT_MAX - 200);
        let out = run(&[(ProbeKind::Status, exact)], Duration::from_secs(5), "e");
        assert!(!was_cut(&out, "e") && split_output(&out, "e")[0].1.rc == Some(0), "{}", &out[out.len() - 60..]);
        let over = format!("head -c {} /dev/zero | tr '\\0' x", PROBE_OUTPUT_MAX + 1);
        assert!(was_cut(&run(&[(ProbeKind::Status, over)], Duration::from_secs(5), "o"), "o"));
        // Bytes that are not UTF-8 decode longer than they were: within the bound on the host,
        // not a cut; endless, a cut.
        let bin = format!("head -c {} /dev/zero | tr '\\0' '\\377'", PROBE_OUTPUT_MAX / 2);
        let out = run(&[(ProbeKind::Status, bin)], Duration::from_secs(5), "b");
        assert!(!was_cut(&out, "b") && split_output(&out, "b")[0].1.rc == Some(0));
        let endless = "tr '\\0' '\\377' </dev/zero".to_string();
        let out = run(&[(ProbeKind::Status, endless)], Duration::from_secs(5), "z");
        assert!(was_cut(&out, "z") && split_output(&out, "z")[0].1.timed_out());
    }

    #[test]
    fn quotes_in_commands_survive() {
        let out =
            run(&[(ProbeKind::Version, r#"printf '%s\n' "it's 4.2.0""#.to_string())], Duration::from_secs(5), "q");
        assert_eq!(split_output(&out, "q")[0].1.stdout.trim(), "it's 4.2.0");
    }
}
