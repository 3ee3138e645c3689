//! How commands reach hosts. The executor and the poller speak to a [`Transport`]; which one
//! (ssh through the system `ssh`, or `sh -c` on this machine for the simulator) is a config choice.

mod bounded;
pub mod local;
pub mod ssh;

use crate::model::{Cluster, Node, TransportKind};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use bounded::read_bounded;

/// A boxed, sendable future (the trait is used as `Arc<dyn Transport>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A shell script to run on a host, with limits.
#[derive(Debug, Clone)]
pub struct RemoteCommand {
    /// POSIX `sh` script; values inside are already quoted.
    pub script: String,
    /// Give up waiting after this long (the remote side should also bound itself).
    pub timeout: Duration,
    /// Keep at most this many bytes of stdout (and of stderr).
    pub max_output: usize,
}

impl RemoteCommand {
    /// A command with the default 1 MiB output bound.
    pub fn new(script: impl Into<String>, timeout: Duration) -> Self {
        RemoteCommand { script: script.into(), timeout, max_output: 1 << 20 }
    }
}

/// What a command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandOutput {
    /// Exit status; `None` when killed by a signal.
    pub status: Option<i32>,
    /// Standard output (bounded, lossily decoded).
    pub stdout: String,
    /// Standard error (bounded, lossily decoded).
    pub stderr: String,
    /// Output was cut at the bound.
    pub truncated: bool,
}

impl CommandOutput {
    /// Whether the command exited 0.
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// The last `n` characters of stderr, for messages.
    pub fn stderr_tail(&self, n: usize) -> String {
        tail(&self.stderr, n)
    }
}

/// The last `n` characters of `s`, trimmed, on one line.
pub fn tail(s: &str, n: usize) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let chars: Vec<char> = flat.chars().collect();
    let start = chars.len().saturating_sub(n);
    chars[start..].iter().collect::<String>().trim().to_string()
}

/// The last `max` bytes of `s` at most, starting on a character boundary (so slicing never
/// panics inside a multi-byte character). For bounding buffers of remote output by size.
pub fn tail_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// The first `max` bytes of `s` at most, ending on a character boundary.
pub fn head_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// One request to a long-lived shell on a host: send `request` (one line) to the shell started
/// with `agent` and return what it prints up to the line `end` (excluded). Transports without
/// long-lived shells run `oneshot` instead, which must print the same answer. Output beyond `max`
/// bytes is dropped; a shell that misbehaves is discarded and restarted next time.
#[derive(Debug, Clone, Copy)]
pub struct Conversation<'a> {
    /// The script of the long-lived shell (a loop reading requests).
    pub agent: &'a str,
    /// The same work as one command, for transports without long-lived shells.
    pub oneshot: &'a str,
    /// The request line.
    pub request: &'a str,
    /// The line that ends the answer.
    pub end: &'a str,
    /// How long to wait for the answer.
    pub timeout: Duration,
    /// Bytes of answer kept.
    pub max: usize,
}

/// Why a command could not be run on a host, classified for an operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No route, DNS failure, connection closed during the handshake. `host` is the node's name,
    /// not what ssh connected to, so the message suggests no `ssh` command of its own: the plan's
    /// refusal gives the exact one (address, port, user and ssh config actually used).
    #[error("{host}: unreachable ({detail}); check that the host is up and reachable from here")]
    Unreachable {
        /// The node.
        host: String,
        /// What ssh said.
        detail: String,
    },
    /// Nothing listens on the ssh port.
    #[error("{host}: connection refused; is sshd running on it, and is the port right?")]
    ConnectionRefused {
        /// The node.
        host: String,
    },
    /// Connecting or the command took too long.
    #[error("{host}: timed out after {after:?} {during}")]
    Timeout {
        /// The node.
        host: String,
        /// The limit that was hit.
        after: Duration,
        /// "connecting" or "waiting for the command".
        during: String,
    },
    /// The key was refused.
    #[error(
        "{host}: authentication failed ({detail}); load your key into the agent (`ssh-add`) or set ssh.identity, and check the remote user"
    )]
    AuthFailed {
        /// The node.
        host: String,
        /// What ssh said.
        detail: String,
    },
    /// The host key is not in known_hosts and the policy is strict.
    #[error(
        "{host}: host key unknown and ssh.host_key_policy is strict; verify the fingerprint and add it (ssh to its address once, or ssh-keyscan into your known_hosts)"
    )]
    HostKeyUnknown {
        /// The node.
        host: String,
    },
    /// The host key differs from known_hosts: possible man-in-the-middle. Never bypassed.
    #[error(
        "{host}: HOST KEY CHANGED — the host presents a different key than known_hosts records; rollpilot will not connect. If the host was really reinstalled, verify the new fingerprint out of band and update known_hosts (ssh-keygen -R)"
    )]
    HostKeyChanged {
        /// The node.
        host: String,
    },
    /// The connection dropped while a command ran.
    #[error("{host}: connection lost ({detail}); rollpilot will reconnect")]
    Disconnected {
        /// The node.
        host: String,
        /// What was observed.
        detail: String,
    },
    /// Something local failed (spawning ssh or sh, the control directory).
    #[error("{host}: {detail}")]
    Local {
        /// The node.
        host: String,
        /// What failed.
        detail: String,
    },
}

impl TransportError {
    /// Whether retrying later may help (as opposed to a refusal that needs the operator).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            TransportError::Unreachable { .. }
                | TransportError::ConnectionRefused { .. }
                | TransportError::Timeout { .. }
                | TransportError::Disconnected { .. }
        )
    }
}

/// Classifies what `ssh` printed when it could not connect.
pub fn classify_ssh_failure(host: &str, text: &str) -> TransportError {
    let t = text.trim();
    let last = t.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(t).trim().to_string();
    let host = host.to_string();
    if t.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") || t.contains("Host key for") && t.contains("has changed") {
        TransportError::HostKeyChanged { host }
    } else if t.contains("No ") && t.contains("host key is known") || t.contains("Host key verification failed") {
        TransportError::HostKeyUnknown { host }
    } else if t.contains("Permission denied") || t.contains("Too many authentication failures") {
        TransportError::AuthFailed { host, detail: last }
    } else if t.contains("Connection refused") {
        TransportError::ConnectionRefused { host }
    } else if t.contains("timed out") {
        TransportError::Timeout { host, after: Duration::ZERO, during: "connecting".into() }
    } else {
        TransportError::Unreachable { host, detail: if last.is_empty() { "ssh gave no reason".into() } else { last } }
    }
}

/// Runs scripts on the cluster's hosts.
pub trait Transport: Send + Sync {
    /// Runs `cmd` on `node`'s host; errors only when it could not be run or waited for.
    fn run<'a>(
        &'a self,
        node: &'a Node,
        cmd: &'a RemoteCommand,
    ) -> BoxFuture<'a, Result<CommandOutput, TransportError>>;

    /// Holds `talk` with a long-lived shell on `node` (see [`Conversation`]).
    fn converse<'a>(
        &'a self,
        node: &'a Node,
        talk: &'a Conversation<'a>,
    ) -> BoxFuture<'a, Result<String, TransportError>>;

    /// Drops any cached connection to `node` (after a disconnect), so the next run reconnects.
    fn forget<'a>(&'a self, node: &'a Node) -> BoxFuture<'a, ()>;

    /// Closes every connection cleanly (ssh masters with `-O exit`).
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// The transport the cluster's config asks for.
pub fn for_cluster(cluster: &Cluster) -> Result<Arc<dyn Transport>, TransportError> {
    Ok(match cluster.transport {
        TransportKind::Local => Arc::new(local::LocalTransport::new()),
        TransportKind::Ssh => Arc::new(ssh::SshTransport::new(cluster.ssh.clone())?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_failures_are_classified() {
        let changed = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.";
        assert!(matches!(classify_ssh_failure("a", changed), TransportError::HostKeyChanged { .. }));
        assert!(matches!(
            classify_ssh_failure(
                "a",
                "No ED25519 host key is known for [127.0.0.5]:2222 and you have requested strict checking.\r\nHost key verification failed."
            ),
            TransportError::HostKeyUnknown { .. }
        ));
        assert!(matches!(
            classify_ssh_failure("a", "root@127.0.0.5: Permission denied (publickey)."),
            TransportError::AuthFailed { .. }
        ));
        assert!(matches!(
            classify_ssh_failure("a", "ssh: connect to host 127.0.0.5 port 2222: Connection refused"),
            TransportError::ConnectionRefused { .. }
        ));
        assert!(matches!(
            classify_ssh_failure("a", "ssh: connect to host 10.0.0.1 port 22: Connection timed out"),
            TransportError::Timeout { .. }
        ));
        assert!(matches!(
            classify_ssh_failure("a", "ssh: Could not resolve hostname nope: Name or service not known"),
            TransportError::Unreachable { .. }
        ));
        let e = classify_ssh_failure("tc-1", "ssh: Could not resolve hostname nope: Name or service not known");
        assert!(!e.to_string().contains("ssh tc-1"), "no ssh command with the node's name: {e}");
        let e = classify_ssh_failure("tc-1", "REMOTE HOST IDENTIFICATION HAS CHANGED");
        assert!(e.to_string().contains("HOST KEY CHANGED"));
        assert!(!e.is_transient());
    }

    #[test]
    fn tail_is_one_line() {
        assert_eq!(tail("a\nb\n  c  \n", 3), "b c");
        assert_eq!(tail("", 10), "");
    }

    #[test]
    fn byte_bounds_never_split_a_character() {
        let s = "é".repeat(5000);
        for max in [0, 1, 2, 3, 4095, 4096, 9999, 10_000, 20_000] {
            let t = tail_bytes(&s, max);
            assert!(t.len() <= max && t.len() + 1 >= max.min(s.len()), "{max}: {}", t.len());
            assert!(t.chars().all(|c| c == 'é'));
            let h = head_bytes(&s, max);
            assert!(h.len() <= max && h.len() + 1 >= max.min(s.len()));
        }
        assert_eq!(tail_bytes("abc", 2), "bc");
        assert_eq!(head_bytes("abc", 2), "ab");
    }
}
