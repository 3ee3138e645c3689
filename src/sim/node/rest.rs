//! The jsondb member's HTTP status API: a minimal HTTP/1.1 server (one request per connection)
//! beside the replication port, shaped like Patroni's REST API so that rollpilot reads it the way
//! it reads a real one: `curl` in the `status` command, JSONPath parsers, a numeric lag.
//!
//! * `GET /cluster`: every member that answers, as `{"scope", "cluster_version", "members":
//!   [{"name", "host", "port", "role", "state", "lag", "version", "eligible", "drained"}]}`.
//!   `eligible` is false for a member tagged `nofailover`. `role` is `leader` or
//!   `replica`; `lag` is how many bytes of the leader's writes a replica has not applied yet
//!   (each write counts [`BYTES_PER_WRITE`]), or `"unknown"` without a leader, as Patroni prints
//!   it. A member that does not answer is left out, as Patroni leaves out a member whose key
//!   expired.
//! * `GET /health`: 200 while this member runs; `GET /health/synced`: the member list, 200 only
//!   while this member leads or is an in-sync replica.
//! * `GET /cluster-health`: 200 when every member of every group runs in sync under one leader
//!   per group.
//! * `POST /finalize`: commits the cluster to the series every member runs (refused, with the
//!   reason, while a member is down or the members run different series).
//! * `POST /switchover[/NAME]`: a planned handover, to the named in-sync member or to
//!   the one the members elect.
//! * `POST /drain`, `POST /undrain`: take the member out of service and back (undrain answers
//!   once it is in sync); `POST /before`, `POST /restore`: hold and release a cluster-wide
//!   rollout setting.

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
    let route = path.split('?').next().unwrap_or_default();
    let candidate = route.strip_prefix("/switchover/").filter(|c| !c.is_empty() && !c.contains('/'));
    let (code, body) = match (method, route) {
        ("GET", "/cluster") => (200, cluster(ctx, conf, api)),
        ("GET", "/health/synced") => synced(ctx, conf, api),
        ("GET", "/health") => (200, serde_json::json!({"state": "running"})),
        ("GET", "/cluster-health") => cluster_health(conf, api),
        ("POST", "/finalize") => finalize(ctx, conf, api),
        ("POST", "/switchover") => switchover(ctx, conf, None),
        ("POST", _) if candidate.is_some() => switchover(ctx, conf, candidate),
        ("POST", "/drain") => drain(ctx, conf, true),
        ("POST", "/undrain") => drain(ctx, conf, false),
        ("POST", "/before") => hook(ctx, api, true),
        ("POST", "/restore") => hook(ctx, api, false),
        (
            _,
            "/cluster" | "/health" | "/health/synced" | "/cluster-health" | "/finalize" | "/switchover" | "/drain"
            | "/undrain" | "/before" | "/restore",
        ) => (405, serde_json::json!({"error": format!("{method} is not allowed on {path}")})),
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

/// The member list, as `GET /cluster` answers it. A replica whose synchronisation is stalled
/// (the stall-sync fault) applies nothing and receives nothing: its lag is the one it had when
/// the stall was first seen, and stays so until the fault is cleared (a stalled replica reports
/// no progress, so a check waiting for it sees a fact that does not move).
fn cluster(ctx: &NodeCtx, conf: &StripeConf, api: &HttpApi) -> serde_json::Value {
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
            let m = conf.servers.iter().find(|m| m.name == s.name);
            let stalled =
                state == "catching up" && super::common::fault_flag(&ctx.sim_dir, &s.name, "stall-sync").exists();
            let lag = match (role, leader_seq) {
                ("leader", _) => serde_json::json!(0),
                ("replica", Some(l)) if state != "starting" => {
                    let now = l.saturating_sub(s.seq) * BYTES_PER_WRITE;
                    match m.map(stalled_lag_file) {
                        Some(f) if stalled => serde_json::json!(frozen_lag(&f, now)),
                        Some(f) => {
                            let _ = std::fs::remove_file(f);
                            serde_json::json!(now)
                        }
                        None => serde_json::json!(now),
                    }
                }
                _ => serde_json::json!("unknown"),
            };
            serde_json::json!({
                "name": s.name,
                "host": m.map(|m| m.address.clone()).unwrap_or_default(),
                "port": s.port,
                "role": role,
                "state": state,
                "lag": lag,
                "version": s.version,
                "eligible": m.is_none_or(|m| !m.nofailover),
                "drained": m.is_some_and(|m| drained_file(m).exists()),
            })
        })
        .collect();
    serde_json::json!({
        "scope": api.scope,
        "cluster_version": read_cluster_version(&api.cluster_version_file),
        "members": members,
    })
}

/// Where a stalled replica's lag is kept from the moment the stall was first seen.
fn stalled_lag_file(m: &crate::sim::conf::Member) -> std::path::PathBuf {
    m.node_dir.join("run").join(format!("{}.stalled-lag", m.name))
}

/// The least lag a stalled replica reports: more than any sync threshold a config sets, so a
/// replica the fault cut off never reads as in sync because it was first seen only a few writes
/// behind (a restart seen late on a busy machine).
const STALLED_LAG_FLOOR: u64 = 1 << 30;

/// The lag kept in `file`, or `now` (at least [`STALLED_LAG_FLOOR`], kept there) when the stall
/// is new.
fn frozen_lag(file: &Path, now: u64) -> u64 {
    if let Some(kept) = std::fs::read_to_string(file).ok().and_then(|t| t.trim().parse().ok()) {
        return kept;
    }
    let lag = now.max(STALLED_LAG_FLOOR);
    let _ = write_atomic(file, format!("{lag}\n").as_bytes());
    lag
}

/// The flag file of a drained member (taken out of service by `POST /drain`).
fn drained_file(m: &crate::sim::conf::Member) -> std::path::PathBuf {
    m.node_dir.join("run").join(format!("{}.drained", m.name))
}

/// Whether this member is the leader or an in-sync replica, and its state word.
fn my_state(ctx: &NodeCtx, conf: &StripeConf) -> (bool, String) {
    let me = conf.servers.iter().find(|m| m.name == ctx.host);
    match me.map(|m| wire::stat(&m.address, m.port)) {
        Some(Ok(s)) => (matches!(s.state.as_str(), "ACTIVE-COORDINATOR" | "PASSIVE-STANDBY"), s.state),
        _ => (false, "unreachable".into()),
    }
}

/// `GET /health/synced`: the member list (as `GET /cluster`), answered 200 only while this
/// member leads or is an in-sync replica, so a member still catching up after a restart is not
/// yet "back".
fn synced(ctx: &NodeCtx, conf: &StripeConf, api: &HttpApi) -> (u16, serde_json::Value) {
    let (ready, _) = my_state(ctx, conf);
    (if ready { 200 } else { 503 }, cluster(ctx, conf, api))
}

/// `POST /drain` and `POST /undrain`: take this member out of service and put it back. Undrain
/// answers once the member is in sync again (or says why not within a minute).
fn drain(ctx: &NodeCtx, conf: &StripeConf, on: bool) -> (u16, serde_json::Value) {
    let Some(me) = conf.servers.iter().find(|m| m.name == ctx.host) else {
        return (404, serde_json::json!({"error": format!("{} is not a member of {}", ctx.host, conf.group)}));
    };
    let flag = drained_file(me);
    if on {
        if let Err(e) = write_atomic(&flag, b"drained\n") {
            return (503, serde_json::json!({"error": format!("cannot drain {}: {e}", ctx.host)}));
        }
        ctx.log("drained: taken out of service (POST /drain)");
        return (200, serde_json::json!({"drained": true}));
    }
    let end = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (ready, state) = my_state(ctx, conf);
        if ready {
            break;
        }
        if std::time::Instant::now() >= end {
            return (503, serde_json::json!({"error": format!("{} is not ready to serve ({state})", ctx.host)}));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_file(&flag);
    ctx.log("undrained: back in service (POST /undrain)");
    (200, serde_json::json!({"drained": false}))
}

/// `POST /before` and `POST /restore`: a cluster-wide setting held for the rollout (the
/// simulator's stand-in for "no automatic failover while mixed"), kept beside the cluster
/// version.
fn hook(ctx: &NodeCtx, api: &HttpApi, on: bool) -> (u16, serde_json::Value) {
    let flag = api.cluster_version_file.with_file_name("rollout-setting");
    let r = if on { write_atomic(&flag, b"held\n").map_err(|e| e.to_string()) } else { remove_if_there(&flag) };
    match r {
        Ok(()) => {
            ctx.log(if on {
                "rollout setting held (POST /before)"
            } else {
                "rollout setting restored (POST /restore)"
            });
            (200, serde_json::json!({"rollout_setting": if on { "held" } else { "restored" }}))
        }
        Err(e) => (503, serde_json::json!({"error": format!("cannot change the rollout setting: {e}")})),
    }
}

fn remove_if_there(p: &Path) -> Result<(), String> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// Every member of the whole simulated cluster (all groups), for cluster-wide answers.
fn whole(conf: &StripeConf, api: &HttpApi) -> Vec<crate::sim::conf::Member> {
    if api.cluster.is_empty() { conf.servers.clone() } else { api.cluster.clone() }
}

/// `GET /cluster-health`: 200 when every member of every group runs, each group has one
/// leader, and every replica is in sync; otherwise 503 naming what is not.
fn cluster_health(conf: &StripeConf, api: &HttpApi) -> (u16, serde_json::Value) {
    let mut bad = Vec::new();
    let mut leaders: Vec<(String, usize)> = Vec::new();
    for m in whole(conf, api) {
        match wire::stat(&m.address, m.port) {
            Ok(s) => {
                match leaders.iter_mut().find(|(g, _)| *g == s.group) {
                    Some(x) => x.1 += usize::from(s.state == "ACTIVE-COORDINATOR"),
                    None => leaders.push((s.group.clone(), usize::from(s.state == "ACTIVE-COORDINATOR"))),
                }
                if !matches!(s.state.as_str(), "ACTIVE-COORDINATOR" | "PASSIVE-STANDBY") {
                    bad.push(format!("{} is {}", m.name, s.state));
                }
            }
            Err(_) => bad.push(format!("{} is down", m.name)),
        }
    }
    for (g, n) in &leaders {
        if *n != 1 {
            bad.push(format!("group {g} has {n} leaders"));
        }
    }
    if bad.is_empty() {
        (200, serde_json::json!({"cluster": "healthy"}))
    } else {
        (503, serde_json::json!({"error": format!("cluster unhealthy: {}", bad.join(", "))}))
    }
}

/// `POST /switchover[/NAME]`: the leader steps down and a replica in sync takes over:
/// the named one, or the one the members elect (the most data among those that may take over,
/// ties by config order). Answers once a new leader runs.
fn switchover(ctx: &NodeCtx, conf: &StripeConf, candidate: Option<&str>) -> (u16, serde_json::Value) {
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
    let successor = crate::sim::node::server::successor_file(&conf.sim_dir, &conf.group);
    if let Some(c) = candidate.filter(|c| !c.is_empty()) {
        let Some(cm) = conf.servers.iter().find(|x| x.name == c) else {
            return refused(format!("candidate {c} is not a member of {}", conf.group));
        };
        if c == m.name {
            return refused(format!("candidate {c} is the leader already"));
        }
        if cm.nofailover {
            return refused(format!("candidate {c} is tagged nofailover"));
        }
        let in_sync = stats.iter().any(|(n, s)| n == c && s.as_ref().is_some_and(|s| s.state == "PASSIVE-STANDBY"));
        if !in_sync {
            return refused(format!("candidate {c} is not a replica in sync"));
        }
        if let Err(e) = write_atomic(&successor, format!("{c}\n").as_bytes()) {
            return refused(format!("cannot name the successor: {e}"));
        }
    }
    match wire::call(&m.address, m.port, &wire::Request::Demote, Duration::from_secs(15)) {
        Ok(r) if r.ok => {}
        Ok(r) => {
            let _ = std::fs::remove_file(&successor);
            return refused(r.error.unwrap_or_else(|| format!("{} did not step down", m.name)));
        }
        Err(e) => {
            let _ = std::fs::remove_file(&successor);
            return refused(format!("cannot reach the leader {}: {e}", m.name));
        }
    }
    let old = m.name.clone();
    let end = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < end {
        let now = survey(conf);
        if let Some(new) =
            now.iter().filter_map(|(_, s)| s.as_ref()).find(|s| s.state == "ACTIVE-COORDINATOR" && s.name != old)
        {
            ctx.log(format!("switchover: {old} stepped down, {} leads", new.name));
            let _ = std::fs::remove_file(&successor);
            return (200, serde_json::json!({"previous": old, "leader": new.name}));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_file(&successor);
    (503, serde_json::json!({"error": format!("{old} stepped down but no replica took over within 20s")}))
}

/// `POST /finalize`.
fn finalize(ctx: &NodeCtx, conf: &StripeConf, api: &HttpApi) -> (u16, serde_json::Value) {
    let stats: Vec<(String, Option<Stat>)> =
        whole(conf, api).iter().map(|m| (m.name.clone(), wire::stat(&m.address, m.port).ok())).collect();
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
