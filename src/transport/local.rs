//! Commands on this machine through `sh -c`: the simulator and the demo use it, with exactly the
//! same scripts an ssh host would get.

use super::{BoxFuture, CommandOutput, Conversation, RemoteCommand, Transport, TransportError, read_bounded};
use crate::model::Node;
use std::process::Stdio;
use tokio::process::Command;

/// Runs every command locally; the node only names the host in errors.
#[derive(Debug, Default)]
pub struct LocalTransport;

impl LocalTransport {
    /// A local transport.
    pub fn new() -> Self {
        LocalTransport
    }
}

/// Runs a script with `sh -c` in its own process group, bounded in time and output. On timeout
/// the whole group is killed, so nothing the script started lingers.
pub async fn run_local(host: &str, cmd: &RemoteCommand) -> Result<CommandOutput, TransportError> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&cmd.script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| TransportError::Local { host: host.to_string(), detail: format!("cannot start sh: {e}") })?;
    let pid = child.id();
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(TransportError::Local { host: host.to_string(), detail: "sh started without pipes".into() });
    };
    let max = cmd.max_output;
    let work = async move {
        let (o, e) = tokio::join!(read_bounded(out, max), read_bounded(err, max));
        let status = child.wait().await;
        (o, e, status)
    };
    match tokio::time::timeout(cmd.timeout, work).await {
        Ok((o, e, status)) => {
            let (o, ot) = o.map_err(|e| TransportError::Local {
                host: host.to_string(),
                detail: format!("reading output: {e}"),
            })?;
            let (e, et) = e.map_err(|e| TransportError::Local {
                host: host.to_string(),
                detail: format!("reading output: {e}"),
            })?;
            let status = status.map_err(|e| TransportError::Local {
                host: host.to_string(),
                detail: format!("waiting for sh: {e}"),
            })?;
            Ok(CommandOutput {
                status: status.code(),
                stdout: String::from_utf8_lossy(&o).into_owned(),
                stderr: String::from_utf8_lossy(&e).into_owned(),
                truncated: ot || et,
            })
        }
        Err(_) => {
            if let Some(pid) = pid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            Err(TransportError::Timeout {
                host: host.to_string(),
                after: cmd.timeout,
                during: "waiting for the command".into(),
            })
        }
    }
}

impl Transport for LocalTransport {
    fn run<'a>(
        &'a self,
        node: &'a Node,
        cmd: &'a RemoteCommand,
    ) -> BoxFuture<'a, Result<CommandOutput, TransportError>> {
        Box::pin(run_local(&node.name, cmd))
    }

    fn converse<'a>(
        &'a self,
        node: &'a Node,
        talk: &'a Conversation<'a>,
    ) -> BoxFuture<'a, Result<String, TransportError>> {
        Box::pin(async move {
            let cmd = RemoteCommand { script: talk.oneshot.to_string(), timeout: talk.timeout, max_output: talk.max };
            let out = run_local(&node.name, &cmd).await?;
            Ok(match out.stdout.find(talk.end) {
                Some(i) => out.stdout[..i].to_string(),
                None => out.stdout,
            })
        })
    }

    fn forget<'a>(&'a self, _node: &'a Node) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn runs_and_bounds() {
        let c = RemoteCommand {
            script: "echo out; echo err >&2; exit 3".into(),
            timeout: Duration::from_secs(5),
            max_output: 100,
        };
        let o = run_local("h", &c).await.unwrap();
        assert_eq!((o.status, o.stdout.as_str(), o.stderr.as_str()), (Some(3), "out\n", "err\n"));
        let c =
            RemoteCommand { script: "yes | head -c 100000".into(), timeout: Duration::from_secs(5), max_output: 10 };
        let o = run_local("h", &c).await.unwrap();
        assert!(o.truncated && o.stdout.len() == 10);
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("bg.pid");
        let script = format!("sleep 30 & echo $! > {}; sleep 30", pidfile.display());
        let c = RemoteCommand { script, timeout: Duration::from_millis(500), max_output: 100 };
        let t = Instant::now();
        let e = run_local("h", &c).await.unwrap_err();
        assert!(matches!(e, TransportError::Timeout { .. }));
        assert!(t.elapsed() < Duration::from_secs(3));
        // The background child was in the group and is killed with it.
        let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::path::Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid) {
            assert!(Instant::now() < deadline, "process {pid} of the timed-out command survived");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn is_zombie(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.split_whitespace().nth(2) == Some("Z"))
            .unwrap_or(true)
    }
}
