//! Commands over SSH through the `openssh` crate, which drives the system `ssh`: the operator's
//! ~/.ssh/config (ProxyJump, User, IdentityFile), agent and known_hosts keep working.
//!
//! Per DESIGN.md §3 and the crate's documented pitfalls (operator-conventions.md §2.2):
//! one ControlMaster per host in a short control directory (sockets are limited to ~108 bytes),
//! a bounded `ControlPersist` so a crashed rollpilot leaves no master behind for long, explicit
//! stdio on every command (inherited stdio would paint over the TUI), at most `max_sessions`
//! commands in flight per master (sshd's MaxSessions defaults to 10), a cap on concurrent
//! handshakes (sshd's MaxStartups drops connections beyond 10 unauthenticated ones, which
//! matters most through a single bastion), and `close().await` instead of relying on Drop,
//! which runs a blocking `ssh -O exit`.

use super::{
    BoxFuture, CommandOutput, Conversation, RemoteCommand, Transport, TransportError, classify_ssh_failure,
    read_bounded,
};
use crate::model::{HostKeyPolicy, Node, SshSettings};
use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Semaphore};

/// Concurrent handshakes to one sshd; below sshd's default MaxStartups start of 10. Also the cap
/// for all hosts together when they may share a bastion (every handshake then passes its sshd).
const CONNECTS_AT_ONCE: usize = 8;
/// How long an idle master stays up after its last command (bounds orphaned masters).
const MASTER_IDLE_SECS: usize = 120;

struct Conn {
    session: Arc<Session>,
    slots: Arc<Semaphore>,
    /// The long-lived probe shell, when started.
    agent: Mutex<Option<Agent>>,
}

/// A shell kept running on the host for cheap repeated probes (one mux channel).
struct Agent {
    script: String,
    _child: openssh::Child<Arc<Session>>,
    stdin: openssh::ChildStdin,
    stdout: tokio::io::BufReader<openssh::ChildStdout>,
}

type Slot = Arc<Mutex<Option<Arc<Conn>>>>;

/// SSH transport: one master connection per host, opened on first use.
pub struct SshTransport {
    settings: SshSettings,
    control_dir: PathBuf,
    hosts: Mutex<HashMap<String, Slot>>,
    /// Handshakes in flight, all hosts together: `ssh.parallelism`, or [`CONNECTS_AT_ONCE`] when
    /// the hosts may share a bastion.
    connects: Arc<Semaphore>,
    /// Handshakes in flight per destination (address and port): nodes on one machine share its sshd.
    per_destination: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// Whether connections may pass one jump host: `ssh.jump_hosts`, or an ssh config that names a
/// proxy or includes other files (read as text; when unsure, assume a bastion).
fn may_share_a_bastion(s: &SshSettings) -> bool {
    if !s.jump_hosts.is_empty() {
        return true;
    }
    let files = match &s.config_file {
        Some(f) => vec![f.clone()],
        None => {
            let mut v = vec![PathBuf::from("/etc/ssh/ssh_config")];
            if let Some(home) = std::env::var_os("HOME") {
                v.push(PathBuf::from(home).join(".ssh/config"));
            }
            v
        }
    };
    files.iter().any(|f| match std::fs::read_to_string(f) {
        Ok(text) => text.lines().any(|l| {
            let l = l.trim_start().to_ascii_lowercase();
            ["proxyjump", "proxycommand", "include"].iter().any(|k| l.starts_with(k))
        }),
        // A config that cannot be read here makes ssh fail anyway; unreadable defaults are absent.
        Err(_) => false,
    })
}

/// A short, private directory for control sockets.
pub fn control_dir() -> Result<PathBuf, String> {
    let uid = rustix::process::getuid().as_raw();
    let base = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() && d.len() < 48 => PathBuf::from(d).join("rollpilot"),
        _ => PathBuf::from(format!("/tmp/rollpilot-{uid}")),
    };
    std::fs::create_dir_all(&base)
        .map_err(|e| format!("cannot create the ssh control directory {}: {e}", base.display()))?;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(&base).map_err(|e| format!("{}: {e}", base.display()))?;
    if meta.uid() != uid {
        return Err(format!(
            "the ssh control directory {} belongs to another user; remove it or set XDG_RUNTIME_DIR",
            base.display()
        ));
    }
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("{}: {e}", base.display()))?;
    Ok(base)
}

impl SshTransport {
    /// A transport using `settings`; connects lazily.
    pub fn new(settings: SshSettings) -> Result<Self, TransportError> {
        let control_dir = control_dir().map_err(|detail| TransportError::Local { host: "(local)".into(), detail })?;
        let at_once =
            if may_share_a_bastion(&settings) { CONNECTS_AT_ONCE } else { settings.parallelism.max(CONNECTS_AT_ONCE) };
        Ok(SshTransport {
            settings,
            control_dir,
            hosts: Mutex::new(HashMap::new()),
            connects: Arc::new(Semaphore::new(at_once)),
            per_destination: Mutex::new(HashMap::new()),
        })
    }

    async fn slot(&self, node: &Node) -> Slot {
        let mut hosts = self.hosts.lock().await;
        hosts.entry(node.name.clone()).or_default().clone()
    }

    async fn conn(&self, node: &Node) -> Result<Arc<Conn>, TransportError> {
        let slot = self.slot(node).await;
        let mut guard = slot.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let c = Arc::new(self.connect(node).await?);
        *guard = Some(c.clone());
        Ok(c)
    }

    async fn connect(&self, node: &Node) -> Result<Conn, TransportError> {
        let s = &self.settings;
        let mut b = SessionBuilder::default();
        b.known_hosts_check(match s.host_key_policy {
            HostKeyPolicy::Strict => KnownHosts::Strict,
            HostKeyPolicy::AcceptNew => KnownHosts::Add,
        })
        .control_directory(&self.control_dir)
        .control_persist(ControlPersist::IdleFor(NonZeroUsize::new(MASTER_IDLE_SECS).unwrap_or(NonZeroUsize::MIN)))
        .connect_timeout(s.connect_timeout)
        .server_alive_interval(Duration::from_secs(15));
        if let Some(u) = node.user.as_ref().or(s.user.as_ref()) {
            b.user(u.clone());
        }
        if let Some(p) = node.port.or(s.port) {
            b.port(p);
        }
        if let Some(k) = &s.identity {
            b.keyfile(k);
        }
        if let Some(f) = &s.config_file {
            b.config_file(f);
        }
        if let Some(k) = &s.known_hosts {
            b.user_known_hosts_file(k);
        }
        if !s.jump_hosts.is_empty() {
            b.jump_hosts(&s.jump_hosts);
        }
        let closed = |_| TransportError::Local { host: node.name.clone(), detail: "transport closed".into() };
        let destination = {
            let key = format!("{}:{}", node.address, node.port.or(s.port).unwrap_or(22));
            self.per_destination
                .lock()
                .await
                .entry(key)
                .or_insert_with(|| Arc::new(Semaphore::new(CONNECTS_AT_ONCE)))
                .clone()
        };
        let _to_destination = destination.acquire_owned().await.map_err(closed)?;
        let _permit = self.connects.acquire().await.map_err(closed)?;
        // The handshake itself can hang past ConnectTimeout (a wedged sshd); bound it too.
        let limit = s.connect_timeout + Duration::from_secs(10);
        let session = match tokio::time::timeout(limit, b.connect_mux(&node.address)).await {
            Err(_) => {
                return Err(TransportError::Timeout {
                    host: node.name.clone(),
                    after: limit,
                    during: "connecting".into(),
                });
            }
            Ok(Err(openssh::Error::Connect(e))) => {
                return Err(with_timeout(classify_ssh_failure(&node.name, &e.to_string()), s.connect_timeout));
            }
            Ok(Err(e)) => {
                return Err(TransportError::Local {
                    host: node.name.clone(),
                    detail: format!("cannot start ssh: {e}"),
                });
            }
            Ok(Ok(sess)) => sess,
        };
        tracing::debug!(host = %node.name, address = %node.address, "ssh master connected");
        // One session slot stays with the long-lived probe shell.
        let slots = s.max_sessions.saturating_sub(1).max(1);
        Ok(Conn { session: Arc::new(session), slots: Arc::new(Semaphore::new(slots)), agent: Mutex::new(None) })
    }

    async fn exec(&self, node: &Node, conn: &Conn, cmd: &RemoteCommand) -> Result<CommandOutput, TransportError> {
        let _slot = conn
            .slots
            .acquire()
            .await
            .map_err(|_| TransportError::Local { host: node.name.clone(), detail: "transport closed".into() })?;
        let host = node.name.clone();
        let session = conn.session.clone();
        let max = cmd.max_output;
        let work = async move {
            let mut c = Session::to_command(session, "sh");
            c.arg("-c").arg(&cmd.script).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = c.spawn().await?;
            let (Some(out), Some(err)) = (child.stdout().take(), child.stderr().take()) else {
                return Err(openssh::Error::ChildIo(std::io::Error::other("no pipes")));
            };
            let (o, e) = tokio::join!(read_bounded(out, max), read_bounded(err, max));
            let status = child.wait().await?;
            let (o, ot) = o.map_err(openssh::Error::ChildIo)?;
            let (e, et) = e.map_err(openssh::Error::ChildIo)?;
            Ok(CommandOutput {
                status: status.code(),
                stdout: String::from_utf8_lossy(&o).into_owned(),
                stderr: String::from_utf8_lossy(&e).into_owned(),
                truncated: ot || et,
            })
        };
        match tokio::time::timeout(cmd.timeout, work).await {
            Err(_) => {
                Err(TransportError::Timeout { host, after: cmd.timeout, during: "waiting for the command".into() })
            }
            Ok(Ok(out)) => Ok(out),
            Ok(Err(e)) => Err(TransportError::Disconnected { host, detail: e.to_string() }),
        }
    }
}

fn with_timeout(e: TransportError, after: Duration) -> TransportError {
    match e {
        TransportError::Timeout { host, during, .. } => TransportError::Timeout { host, after, during },
        other => other,
    }
}

impl Transport for SshTransport {
    fn run<'a>(
        &'a self,
        node: &'a Node,
        cmd: &'a RemoteCommand,
    ) -> BoxFuture<'a, Result<CommandOutput, TransportError>> {
        Box::pin(async move {
            let conn = self.conn(node).await?;
            let r = self.exec(node, &conn, cmd).await;
            if let Err(TransportError::Disconnected { .. }) = &r {
                // The master may be gone (host rebooted, sshd killed): reconnect next time.
                if conn.session.check().await.is_err() {
                    self.forget(node).await;
                }
            }
            r
        })
    }

    fn converse<'a>(
        &'a self,
        node: &'a Node,
        talk: &'a Conversation<'a>,
    ) -> BoxFuture<'a, Result<String, TransportError>> {
        let Conversation { agent, request, end, timeout, max, .. } = *talk;
        Box::pin(async move {
            let conn = self.conn(node).await?;
            let mut guard = conn.agent.lock().await;
            if guard.as_ref().is_some_and(|a| a.script != agent) {
                *guard = None;
            }
            if guard.is_none() {
                let mut c = Session::to_command(conn.session.clone(), "sh");
                c.arg("-c").arg(agent).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
                let started = tokio::time::timeout(timeout, c.spawn()).await;
                let mut child = match started {
                    Ok(Ok(ch)) => ch,
                    Ok(Err(e)) => {
                        drop(guard);
                        if conn.session.check().await.is_err() {
                            self.forget(node).await;
                        }
                        return Err(TransportError::Disconnected { host: node.name.clone(), detail: e.to_string() });
                    }
                    Err(_) => {
                        return Err(TransportError::Timeout {
                            host: node.name.clone(),
                            after: timeout,
                            during: "starting the probe shell".into(),
                        });
                    }
                };
                let (Some(stdin), Some(stdout)) = (child.stdin().take(), child.stdout().take()) else {
                    return Err(TransportError::Local {
                        host: node.name.clone(),
                        detail: "probe shell started without pipes".into(),
                    });
                };
                *guard = Some(Agent {
                    script: agent.to_string(),
                    _child: child,
                    stdin,
                    stdout: tokio::io::BufReader::new(stdout),
                });
            }
            let Some(a) = guard.as_mut() else {
                return Err(TransportError::Local { host: node.name.clone(), detail: "probe shell vanished".into() });
            };
            let exchange = async {
                use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
                a.stdin.write_all(format!("{request}\n").as_bytes()).await?;
                a.stdin.flush().await?;
                let mut out = String::new();
                let mut line = Vec::new();
                loop {
                    line.clear();
                    let n = a.stdout.read_until(b'\n', &mut line).await?;
                    if n == 0 {
                        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the probe shell exited"));
                    }
                    let text = String::from_utf8_lossy(&line);
                    if text.trim_end_matches(['\n', '\r']) == end {
                        return Ok(out);
                    }
                    if out.len() < max {
                        out.push_str(&text);
                    }
                }
            };
            match tokio::time::timeout(timeout, exchange).await {
                Ok(Ok(out)) => Ok(out),
                Ok(Err(e)) => {
                    *guard = None;
                    drop(guard);
                    if conn.session.check().await.is_err() {
                        self.forget(node).await;
                    }
                    Err(TransportError::Disconnected { host: node.name.clone(), detail: e.to_string() })
                }
                Err(_) => {
                    // A hung answer leaves the shell in an unknown state: start a fresh one next time.
                    *guard = None;
                    Err(TransportError::Timeout {
                        host: node.name.clone(),
                        after: timeout,
                        during: "waiting for the probes".into(),
                    })
                }
            }
        })
    }

    fn forget<'a>(&'a self, node: &'a Node) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let slot = self.slot(node).await;
            let old = slot.lock().await.take();
            if let Some(c) = &old {
                c.agent.lock().await.take();
            }
            if let Some(c) = old
                && let Ok(c) = Arc::try_unwrap(c)
                && let Ok(s) = Arc::try_unwrap(c.session)
            {
                let _ = s.close().await;
            }
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let slots: Vec<Slot> = self.hosts.lock().await.drain().map(|(_, s)| s).collect();
            // All masters at once: one by one, closing 100 hosts added a mux round trip each to
            // every `status`.
            futures_util::future::join_all(slots.into_iter().map(|slot| async move {
                let Some(c) = slot.lock().await.take() else { return };
                c.agent.lock().await.take();
                match Arc::try_unwrap(c) {
                    Ok(c) => match Arc::try_unwrap(c.session) {
                        Ok(s) => {
                            if let Err(e) = s.close().await {
                                tracing::warn!("closing ssh master: {e}");
                            }
                        }
                        Err(_) => tracing::warn!(
                            "an ssh session is still in use at shutdown; its master exits after {MASTER_IDLE_SECS}s idle"
                        ),
                    },
                    Err(_) => tracing::warn!(
                        "an ssh connection is still in use at shutdown; its master exits after {MASTER_IDLE_SECS}s idle"
                    ),
                }
            }))
            .await;
        })
    }
}
