//! The simulator's network protocol: one JSON object per line over loopback TCP.
//!
//! Every node answers [`Request`]s with a [`Reply`]. A Terracotta passive that sends
//! [`Request::Join`] turns its connection into a replication stream: the active sends
//! [`ReplMsg`] lines (a snapshot, then every write in order, pings when idle) and the passive
//! answers each applied sequence number with an [`Ack`].

use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The longest line a peer may send (a snapshot of a large store is one line).
pub const MAX_LINE: u64 = 256 * 1024 * 1024;

/// A request to a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// What are you, what state are you in?
    Stat,
    /// A client introduces itself before writing (Terracotta checks major.minor).
    Hello {
        /// The client's name.
        name: String,
        /// The client's product version.
        version: String,
    },
    /// Store a value (acknowledged only once it is safe).
    Put {
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
    /// Read a value.
    Get {
        /// Key.
        key: String,
    },
    /// Every entry (used by `sim verify`).
    Dump,
    /// Entry count and order-independent digest (StreamBase anti-entropy).
    Digest,
    /// A Terracotta server asks to become a passive of this active.
    Join {
        /// The joining server.
        name: String,
        /// Its version.
        version: String,
    },
    /// A StreamBase node passes on a write it accepted.
    Forward {
        /// The node that accepted it.
        from: String,
        /// The sender's version (protocol negotiation is logged once per peer).
        version: String,
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
    /// Exchange: bring the virtual server online on this node.
    Take,
    /// Exchange: take the virtual server offline on this node (a planned move or offline).
    Release,
    /// jsondb: the leader steps down once every in-sync replica has every write; a replica
    /// then takes over (a planned switchover).
    Demote,
}

/// What a node says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stat {
    /// Host name.
    pub name: String,
    /// Product version it runs.
    pub version: String,
    /// Detailed state (ACTIVE-COORDINATOR, PASSIVE-STANDBY, Started, Up, RUNNING...).
    pub state: String,
    /// Role word (ACTIVE, PASSIVE, MASTER, STANDBY...).
    pub role: String,
    /// Its group or stripe.
    #[serde(default)]
    pub group: String,
    /// Port it listens on.
    #[serde(default)]
    pub port: u16,
    /// Last applied write sequence (Terracotta) or entry count.
    #[serde(default)]
    pub seq: u64,
    /// Lost its active and is choosing a successor (Terracotta standby).
    #[serde(default)]
    pub electing: bool,
    /// The active it follows, or the owner of the virtual server (Exchange).
    #[serde(default)]
    pub active: Option<String>,
    /// Exchange: whether this node serves the virtual server now.
    #[serde(default)]
    pub serving: bool,
}

/// A node's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Reply {
    /// The request succeeded.
    pub ok: bool,
    /// Why not, as a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The node that should be asked instead (a passive names its active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
    /// A read value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Dumped entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<(String, String)>>,
    /// The node's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<Stat>,
    /// Entry count and digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<(u64, u64)>,
}

impl Reply {
    /// A plain success.
    pub fn ok() -> Reply {
        Reply { ok: true, ..Default::default() }
    }

    /// A failure with its reason.
    pub fn err(msg: impl Into<String>) -> Reply {
        Reply { ok: false, error: Some(msg.into()), ..Default::default() }
    }
}

/// Active → passive replication stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "m", rename_all = "kebab-case")]
pub enum ReplMsg {
    /// The whole store as of `seq`.
    Snapshot {
        /// Sequence number of the last write included.
        seq: u64,
        /// Every entry.
        entries: Vec<(String, String)>,
    },
    /// One write, in order.
    Write {
        /// Its sequence number.
        seq: u64,
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
    /// The passive has caught up: it is PASSIVE-STANDBY from now on.
    Synced,
    /// Nothing to send; proves the active is alive.
    Ping,
}

/// Passive → active: everything up to `ack` is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The highest applied sequence number.
    pub ack: u64,
}

/// Why talking to a node failed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Nobody listens there (the node is down).
    #[error("connection refused")]
    Refused,
    /// Anything else on the way.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the connection.
    #[error("the connection was closed")]
    Closed,
    /// The peer sent something that is not the protocol.
    #[error("unreadable message: {0}")]
    Garbled(String),
}

/// Resolves `host:port` (an address or a name) to a socket address.
pub fn resolve(host: &str, port: u16) -> Result<SocketAddr, WireError> {
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| WireError::Io(std::io::Error::other(format!("{host} does not resolve to an address"))))
}

/// A line-oriented connection to a node.
pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    /// Connects with a short timeout (everything is on loopback).
    pub fn open(host: &str, port: u16, timeout: Duration) -> Result<Conn, WireError> {
        let addr = resolve(host, port)?;
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map_err(|e| {
            if e.kind() == std::io::ErrorKind::ConnectionRefused { WireError::Refused } else { WireError::Io(e) }
        })?;
        Conn::from_stream(stream, timeout)
    }

    /// Wraps an accepted or connected stream.
    pub fn from_stream(stream: TcpStream, timeout: Duration) -> Result<Conn, WireError> {
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let _ = stream.set_nodelay(true);
        let writer = stream.try_clone()?;
        Ok(Conn { reader: BufReader::new(stream), writer })
    }

    /// Changes the read timeout (a replication stream waits longer than a request).
    pub fn set_read_timeout(&self, t: Option<Duration>) -> Result<(), WireError> {
        self.writer.set_read_timeout(t)?;
        Ok(())
    }

    /// A second handle on the socket, for a writer thread.
    pub fn writer_clone(&self) -> Result<TcpStream, WireError> {
        Ok(self.writer.try_clone()?)
    }

    /// Sends one message.
    pub fn send<T: Serialize>(&mut self, msg: &T) -> Result<(), WireError> {
        send_line(&mut self.writer, msg)
    }

    /// Receives one message (None at a clean end of stream).
    pub fn recv<T: for<'de> Deserialize<'de>>(&mut self) -> Result<Option<T>, WireError> {
        let mut line = String::new();
        let n = std::io::Read::take(&mut self.reader, MAX_LINE).read_line(&mut line)?;
        if n == 0 {
            return Ok(None);
        }
        serde_json::from_str(line.trim_end()).map(Some).map_err(|e| WireError::Garbled(e.to_string()))
    }

    /// Sends a request and waits for its reply.
    pub fn call(&mut self, req: &Request) -> Result<Reply, WireError> {
        self.send(req)?;
        self.recv::<Reply>()?.ok_or(WireError::Closed)
    }

    /// Closes both directions now.
    pub fn shutdown(&self) {
        let _ = self.writer.shutdown(std::net::Shutdown::Both);
    }
}

/// Writes one JSON line.
pub fn send_line<T: Serialize>(w: &mut TcpStream, msg: &T) -> Result<(), WireError> {
    let mut s = serde_json::to_string(msg).map_err(|e| WireError::Garbled(e.to_string()))?;
    s.push('\n');
    w.write_all(s.as_bytes())?;
    Ok(())
}

/// One request on a fresh connection.
pub fn call(host: &str, port: u16, req: &Request, timeout: Duration) -> Result<Reply, WireError> {
    Conn::open(host, port, timeout)?.call(req)
}

/// A node's [`Stat`], or the reason it cannot be had.
pub fn stat(host: &str, port: u16) -> Result<Stat, WireError> {
    let r = call(host, port, &Request::Stat, Duration::from_secs(3))?;
    r.stat.ok_or_else(|| WireError::Garbled("a stat reply without a state".into()))
}

/// Every entry a node holds.
pub fn dump(host: &str, port: u16) -> Result<Vec<(String, String)>, WireError> {
    let r = call(host, port, &Request::Dump, Duration::from_secs(30))?;
    if !r.ok {
        return Err(WireError::Garbled(r.error.unwrap_or_else(|| "dump refused".into())));
    }
    Ok(r.entries.unwrap_or_default())
}

/// Writes one value through a node (StreamBase and Exchange accept writes from anyone;
/// a Terracotta passive refuses and names its active).
pub fn put(host: &str, port: u16, key: &str, value: &str) -> Result<Reply, WireError> {
    call(host, port, &Request::Put { key: key.into(), value: value.into() }, Duration::from_secs(10))
}

/// Reads one value through a node.
pub fn get(host: &str, port: u16, key: &str) -> Result<Option<String>, WireError> {
    let r = call(host, port, &Request::Get { key: key.into() }, Duration::from_secs(5))?;
    if !r.ok {
        return Err(WireError::Garbled(r.error.unwrap_or_else(|| "read refused".into())));
    }
    Ok(r.value)
}
