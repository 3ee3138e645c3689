//! The jsondb member's HTTP status API: a minimal HTTP/1.1 server (one request per connection)
//! beside the replication port, shaped like Patroni's REST API so that rollpilot reads it the way
//! it reads a real one: `curl` in the `status` command, JSONPath parsers, a numeric lag.
//!
//! * `GET /cluster`: every member that answers, as `{"scope", "cluster_version", "members":
//!   [{"name", "host", "port", "role", "state", "lag", "version"}]}`. `role` is `leader` or
//!   `replica`; `lag` is how many bytes of the leader's writes a replica has not applied yet
//!   (each write counts [`BYTES_PER_WRITE`]), or `"unknown"` without a leader, as Patroni prints
//!   it. A member that does not answer is left out, as Patroni leaves out a member whose key
//!   expired.
//! * `GET /health`: 200 while this member runs.
//! * `POST /finalize`: commits the cluster to the series every member runs (refused, with the
//!   reason, while a member is down or the members run different series).

use super::common::{NodeCtx, minor_of};
use crate::sim::conf::{HttpApi, StripeConf};
use crate::sim::state::write_atomic;
use crate::sim::wire::{self, Stat};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// What one unapplied write counts as in `lag` (the simulator's writes are small and uniform).
pub const BYTES_PER_WRITE: u64 = 1024;
/// The longest request head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// The finalized cluster version (major.minor), if the file says one.
pub fn read_cluster_version(path: &Path) -> Option<String> {
    let t = std::fs::read_to_string(path).ok()?;
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// Whether `version` belongs to a series older than the finalized `cluster_version`.
pub fn below_cluster_version(version: &str, cluster_version: &str) -> bool {
    match (crate::model::parse_loose(version), crate::model::parse_loose(cluster_version)) {
        (Some(v), Some(c)) => (v.major, v.minor) < (c.major, c.minor),
        _ => false,
    }
}

/// Starts serving the API of member `me` on `address:port` in a background thread.
pub fn serve(ctx: Arc<NodeCtx>, conf: StripeConf, api: HttpApi, address: &str, port: u16) -> std::io::Result<()> {
    let listener = super::net::bind(address, port)?;
    ctx.log(format!("HTTP status API listening on {address}:{port}"));
    let shared = Arc::new((ctx, conf, api));
    std::thread::spawn(move || accept(listener, shared));
    Ok(())
}

type Shared = Arc<(Arc<NodeCtx>, StripeConf, HttpApi)>;

fn accept(listener: TcpListener, shared: Shared) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let s = Arc::clone(&shared);
        std::thread::spawn(move || handle(stream, &s));
    }
}

fn handle(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > MAX_HEAD {
            respond(&mut stream, 431, &serde_json::json!({"error": "request head too large"}));
            return;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut words = text.lines().next().unwrap_or_default().split_whitespace();
    let (method, path) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
    let (ctx, conf, api) = (&shared.0, &shared.1, &shared.2);
    let (code, body) = match (method, path.split('?').next().unwrap_or_default()) {
        ("GET", "/cluster") => (200, cluster(conf, api)),
        ("GET", "/health") => (200, serde_json::json!({"state": "running"})),
        ("POST", "/finalize") => finalize(ctx, conf, api),
        ("POST", "/switchover") => switchover(ctx, conf),
        (_, "/cluster" | "/health" | "/finalize" | "/switchover") => {
            (405, serde_json::json!({"error": format!("{method} is not allowed on {path}")}))
        }
        _ => (404, serde_json::json!({"error": format!("no such resource: {path}")})),
    };
    respond(&mut stream, code, &body);
}

fn respond(stream: &mut TcpStream, code: u16, body: &serde_json::Value) {
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        412 => "Precondition Failed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let body = format!("{body}\n");
    let msg = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(msg.as_bytes());
    let _ = stream.flush();
}

fn survey(conf: &StripeConf) -> Vec<(String, Option<Stat>)> {
    conf.servers.iter().map(|m| (m.name.clone(), wire::stat(&m.address, m.port).ok())).collect()
}

/// The member list, as `GET /cluster` answers it.
fn cluster(conf: &StripeConf, api: &HttpApi) -> serde_json::Value {
    let stats = survey(conf);
    let leader_seq =
        stats.iter().filter_map(|(_, s)| s.as_ref()).find(|s| s.state == "ACTIVE-COORDINATOR").map(|s| s.seq);
    let members: Vec<serde_json::Value> = stats
        .iter()
        .filter_map(|(_, s)| s.as_ref())
        .map(|s| {
            let (role, state) = match s.state.as_str() {
                "ACTIVE-COORDINATOR" => ("leader", "running"),
                "PASSIVE-STANDBY" => ("replica", "streaming"),
                "PASSIVE-UNINITIALIZED" => ("replica", "catching up"),
                "STOPPING" => ("stopping", "stopping"),
                _ => ("replica", "starting"),
            };
            let lag = match (role, leader_seq) {
                ("leader", _) => serde_json::json!(0),
                ("replica", Some(l)) if state != "starting" => {
                    serde_json::json!(l.saturating_sub(s.seq) * BYTES_PER_WRITE)
                }
                _ => serde_json::json!("unknown"),
            };
            serde_json::json!({
                "name": s.name,
                "host": conf.servers.iter().find(|m| m.name == s.name).map(|m| m.address.clone()).unwrap_or_default(),
                "port": s.port,
                "role": role,
                "state": state,
                "lag": lag,
                "version": s.version,
            })
        })
        .collect();
    serde_json::json!({
        "scope": api.scope,
        "cluster_version": read_cluster_version(&api.cluster_version_file),
        "members": members,
    })
}

/// `POST /switchover`: the leader steps down and a replica in sync takes over (the members
/// elect it: the one with the most data, ties by config order). Answers once a new leader runs.
fn switchover(ctx: &NodeCtx, conf: &StripeConf) -> (u16, serde_json::Value) {
    let refused = |why: String| (412, serde_json::json!({"error": format!("switchover not possible: {why}")}));
    if ctx.fault("refuse-switchover") {
        return refused(format!("{} refuses switchovers (simulator fault refuse-switchover)", ctx.host));
    }
    let stats = survey(conf);
    let Some(leader) = stats.iter().filter_map(|(_, s)| s.as_ref()).find(|s| s.state == "ACTIVE-COORDINATOR") else {
        return refused("the cluster has no leader".into());
    };
    let Some(m) = conf.servers.iter().find(|m| m.name == leader.name) else {
        return refused(format!("{} is not a member of this cluster", leader.name));
    };
    match wire::call(&m.address, m.port, &wire::Request::Demote, Duration::from_secs(15)) {
        Ok(r) if r.ok => {}
        Ok(r) => return refused(r.error.unwrap_or_else(|| format!("{} did not step down", m.name))),
        Err(e) => return refused(format!("cannot reach the leader {}: {e}", m.name)),
    }
    let old = m.name.clone();
    let end = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < end {
        let now = survey(conf);
        if let Some(new) =
            now.iter().filter_map(|(_, s)| s.as_ref()).find(|s| s.state == "ACTIVE-COORDINATOR" && s.name != old)
        {
            ctx.log(format!("switchover: {old} stepped down, {} leads", new.name));
            return (200, serde_json::json!({"previous": old, "leader": new.name}));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (503, serde_json::json!({"error": format!("{old} stepped down but no replica took over within 20s")}))
}

/// `POST /finalize`.
fn finalize(ctx: &NodeCtx, conf: &StripeConf, api: &HttpApi) -> (u16, serde_json::Value) {
    let stats = survey(conf);
    let down: Vec<&str> = stats.iter().filter(|(_, s)| s.is_none()).map(|(n, _)| n.as_str()).collect();
    if !down.is_empty() {
        return (
            503,
            serde_json::json!({"error": format!("cannot finalize: not every member runs ({} down)", down.join(", "))}),
        );
    }
    let mut series: Vec<(String, String)> =
        stats.iter().filter_map(|(n, s)| s.as_ref().map(|s| (n.clone(), minor_of(&s.version)))).collect();
    series.sort_by(|a, b| a.1.cmp(&b.1));
    let (Some(first), Some(last)) = (series.first(), series.last()) else {
        return (503, serde_json::json!({"error": "cannot finalize: the cluster has no member"}));
    };
    if first.1 != last.1 {
        let each: Vec<String> = series.iter().map(|(n, v)| format!("{n} {v}")).collect();
        return (
            409,
            serde_json::json!({"error": format!("cannot finalize: the members run different series ({})", each.join(", "))}),
        );
    }
    let target = first.1.clone();
    let previous = read_cluster_version(&api.cluster_version_file);
    if let Err(e) = write_atomic(&api.cluster_version_file, format!("{target}\n").as_bytes()) {
        return (503, serde_json::json!({"error": format!("cannot record the cluster version: {e}")}));
    }
    ctx.log(format!(
        "cluster finalized at {target} (was {}): older series can no longer start",
        previous.as_deref().unwrap_or("none")
    ));
    (200, serde_json::json!({"cluster_version": target, "previous": previous}))
}
