//! A simulated Terracotta server: one member of a stripe of a replicated key-value store.
//!
//! * At start it looks for its stripe's ACTIVE-COORDINATOR. If there is one it joins as a
//!   passive: PASSIVE-UNINITIALIZED while it receives a snapshot and the ordered stream of writes,
//!   PASSIVE-STANDBY once it has caught up. A server whose major.minor differs from the active's
//!   is refused and exits, saying why (seed 000).
//! * With no active, a PASSIVE-STANDBY takes over (never an unsynced passive): the standby with
//!   the most writes wins, ties go to the first in config order, the others rejoin the winner.
//!   With no standby either, the starting server with the most data on disk becomes active (ties:
//!   config order; a member that does not answer yet gets two seconds to show up), loading its
//!   data from disk when persistent (a non-persistent server starts empty: restarting it alone
//!   loses its data, seed 000).
//! * The active acknowledges a client's write only once every PASSIVE-STANDBY has applied it, so
//!   a failover never loses an acknowledged write.
//! * A persistent passive that rejoins moves its old data aside to
//!   `<data>/dirty-objectdb-backup/dirty-objectdb-<timestamp>` (seed 001 step 2.1c).

use super::common::{NodeCtx, minor_of, same_minor, stop_host};
use super::net;
use super::store::Store;
use crate::sim::conf::{self, Member, StripeConf};
use crate::sim::wire::{self, Ack, Conn, ReplMsg, Reply, Request, Stat};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

fn same_major(a: &str, b: &str) -> bool {
    match (crate::model::parse_loose(a), crate::model::parse_loose(b)) {
        (Some(x), Some(y)) => x.major == y.major,
        _ => a == b,
    }
}

/// How long the active waits for a standby to apply a write before dropping it from the stripe.
const SYNC_TIMEOUT: Duration = Duration::from_secs(5);
/// A passive that hears nothing from its active for this long considers it dead.
const SILENCE: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Starting,
    Uninit,
    Standby,
    Active,
}

impl Phase {
    fn state(self) -> &'static str {
        match self {
            Phase::Starting => "START-STATE",
            Phase::Uninit => "PASSIVE-UNINITIALIZED",
            Phase::Standby => "PASSIVE-STANDBY",
            Phase::Active => "ACTIVE-COORDINATOR",
        }
    }

    fn role(self) -> &'static str {
        match self {
            Phase::Starting => "STARTING",
            Phase::Uninit | Phase::Standby => "PASSIVE",
            Phase::Active => "ACTIVE",
        }
    }
}

struct Link {
    id: u64,
    name: String,
    tx: mpsc::Sender<ReplMsg>,
    standby: bool,
    acked: u64,
    snap_seq: u64,
    stream: TcpStream,
}

struct Inner {
    phase: Phase,
    /// A stop was requested: report STOPPING, refuse joins and writes, so a passive never
    /// rejoins an active that is going away (real Terracotta stops accepting members first).
    stopping: bool,
    electing: bool,
    lost_at: Option<Instant>,
    store: Store,
    seq: u64,
    active: Option<String>,
    links: Vec<Link>,
    next_id: u64,
}

struct Server {
    ctx: Arc<NodeCtx>,
    conf: StripeConf,
    me: Member,
    index: usize,
    version: String,
    inner: Mutex<Inner>,
    cv: Condvar,
}

enum FollowEnd {
    Lost,
    NotActive,
    Refused(String),
}

/// Runs a server in the foreground (start-tc-server.sh). Returns only on a failure to start.
pub fn run(kit: &Path, conf_path: &Path, name: &str) -> u8 {
    let conf: StripeConf = match conf::read(conf_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let Some(index) = conf.servers.iter().position(|m| m.name == name) else {
        let names: Vec<&str> = conf.servers.iter().map(|m| m.name.as_str()).collect();
        eprintln!("{name} is not a server of {} (servers: {})", conf_path.display(), names.join(", "));
        return 2;
    };
    let me = conf.servers[index].clone();
    let (version, ctx) = match super::common::start_node(kit, &me.name, &conf.sim_dir, &me.node_dir, "server") {
        Ok(x) => x,
        Err(code) => return code,
    };
    if let Some(api) = &conf.http
        && let Some(cv) = super::rest::read_cluster_version(&api.cluster_version_file)
        && super::rest::below_cluster_version(&version, &cv)
    {
        ctx.shout(format!(
            "JsonDB {version} cannot start: the cluster is finalized at {cv}, and a finalized cluster never runs an older series again (install {cv}.x or newer)"
        ));
        ctx.exit(1);
    }
    let listener = super::common::listen_or_exit(&ctx, &me.address, me.port);
    if let (Some(api), Some(http_port)) = (conf.http.clone(), me.http_port)
        && let Err(e) = super::rest::serve(Arc::clone(&ctx), conf.clone(), api, &me.address, http_port)
    {
        ctx.shout(format!("cannot serve the HTTP status API on {}:{http_port}: {e}", me.address));
        ctx.exit(1);
    }
    ctx.log(format!(
        "Terracotta Enterprise {version} server {} of stripe {} listening on {}:{} ({})",
        me.name,
        conf.group,
        me.address,
        me.port,
        if conf.persistent { "persistent" } else { "not persistent: data lives in memory only" }
    ));
    let data_file = me.data_dir.join("objectdb").join("store.jsonl");
    let store = if conf.persistent {
        match Store::open(&data_file) {
            Ok(s) => s,
            Err(e) => {
                ctx.shout(format!("cannot read the data in {}: {e}", data_file.display()));
                ctx.exit(1);
            }
        }
    } else {
        Store::memory()
    };
    let seq = store.len();
    let srv = Arc::new(Server {
        ctx: Arc::clone(&ctx),
        conf,
        me,
        index,
        version,
        inner: Mutex::new(Inner {
            phase: Phase::Starting,
            stopping: false,
            electing: false,
            lost_at: None,
            store,
            seq,
            active: None,
            links: Vec::new(),
            next_id: 1,
        }),
        cv: Condvar::new(),
    });
    let on_stop = Arc::clone(&srv);
    ctx.watchdog(move || {
        let mut g = on_stop.lock();
        g.stopping = true;
        for l in &g.links {
            let _ = l.stream.shutdown(std::net::Shutdown::Both);
        }
    });
    let handler = Arc::clone(&srv);
    net::accept_forever(listener, Arc::new(move |c| handler.handle(c)));
    srv.lifecycle()
}

impl Server {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn others(&self) -> impl Iterator<Item = (usize, &Member)> {
        self.conf.servers.iter().enumerate().filter(move |(i, _)| *i != self.index)
    }

    fn stat(&self) -> Stat {
        let g = self.lock();
        Stat {
            name: self.me.name.clone(),
            version: self.version.clone(),
            state: if g.stopping { "STOPPING".to_string() } else { g.phase.state().to_string() },
            role: if g.stopping { "STOPPING".to_string() } else { g.phase.role().to_string() },
            group: self.conf.group.clone(),
            port: self.me.port,
            seq: g.seq,
            electing: g.electing,
            active: g.active.clone(),
            serving: g.phase == Phase::Active && !g.stopping,
        }
    }

    /// The main thread: find or become the active, follow it, elect a successor when it dies.
    fn lifecycle(self: &Arc<Self>) -> u8 {
        let mut waiting_since = Instant::now();
        let started_at = Instant::now();
        let mut last_note = String::new();
        loop {
            if self.lock().phase == Phase::Starting && self.ctx.fault("stuck-start") {
                let note = "stuck-start fault: staying in START-STATE until the fault is cleared".to_string();
                if note != last_note {
                    self.ctx.log(&note);
                    last_note = note;
                }
                std::thread::sleep(Duration::from_millis(150));
                continue;
            }
            if self.lock().phase == Phase::Active {
                // The active's work happens on its connections; it never demotes itself.
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
            let survey: Vec<(usize, Member, Option<Stat>)> =
                self.others().map(|(i, m)| (i, m.clone(), wire::stat(&m.address, m.port).ok())).collect();
            if let Some((_, active, _)) =
                survey.iter().find(|(_, _, s)| s.as_ref().is_some_and(|s| s.state == Phase::Active.state()))
            {
                match self.follow(active) {
                    FollowEnd::Refused(why) => {
                        self.ctx.shout(why);
                        self.ctx.exit(1);
                    }
                    FollowEnd::NotActive => std::thread::sleep(Duration::from_millis(200)),
                    FollowEnd::Lost => {}
                }
                waiting_since = Instant::now();
                continue;
            }
            let (phase, my_seq, lost_at) = {
                let g = self.lock();
                (g.phase, g.seq, g.lost_at)
            };
            if phase == Phase::Active {
                continue;
            }
            let standbys: Vec<(usize, u64, bool)> = survey
                .iter()
                .filter_map(|(i, _, s)| {
                    s.as_ref().filter(|s| s.state == Phase::Standby.state()).map(|s| (*i, s.seq, s.electing))
                })
                .collect();
            let note = if phase == Phase::Standby || !standbys.is_empty() {
                // An election among standbys; wait until every standby has noticed the loss
                // (its sequence number is final), or a few seconds.
                let settled = standbys.iter().all(|(_, _, e)| *e)
                    || lost_at.is_some_and(|t| t.elapsed() > Duration::from_secs(3))
                    || waiting_since.elapsed() > Duration::from_secs(3);
                let mut cands: Vec<(usize, u64)> = standbys.iter().map(|(i, s, _)| (*i, *s)).collect();
                if phase == Phase::Standby {
                    cands.push((self.index, my_seq));
                }
                // Only members that may take over stand (a named successor, else every member
                // without nofailover); when none may, any in-sync standby does rather than none.
                let may = self.may_take_over();
                let allowed: Vec<(usize, u64)> = cands.iter().copied().filter(|(i, _)| may(*i)).collect();
                if !allowed.is_empty() {
                    cands = allowed;
                }
                let winner = cands.iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0))).map(|c| c.0);
                if settled && winner == Some(self.index) {
                    self.become_active(false);
                    continue;
                }
                match winner {
                    Some(w) if w != self.index => {
                        format!("waiting for {} to take over as active", self.conf.servers[w].name)
                    }
                    _ => "electing a new active among the standbys".to_string(),
                }
            } else if phase == Phase::Starting {
                // The starting server with the most data on disk wins (the one that was active
                // last, when the whole stripe restarts), ties by config order.
                let winner = survey
                    .iter()
                    .filter_map(|(i, _, s)| {
                        s.as_ref().filter(|s| s.state == Phase::Starting.state()).map(|s| (*i, s.seq))
                    })
                    .chain([(self.index, my_seq)])
                    .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
                    .map(|c| c.0);
                // A member that is still coming up may hold more data: give it a moment, unless
                // every member already answered.
                let all_answered = survey.iter().all(|(_, _, s)| s.is_some());
                if winner == Some(self.index) && (all_answered || started_at.elapsed() > Duration::from_secs(2)) {
                    self.become_active(true);
                    continue;
                }
                "waiting for the starting server with the most data to become active".to_string()
            } else {
                "PASSIVE-UNINITIALIZED without an active: an unsynced passive never takes over; waiting for an active"
                    .to_string()
            };
            if note != last_note {
                self.ctx.log(&note);
                last_note = note;
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Which members may win an election now: the successor a switchover named, if it is
    /// still named, else every member not marked `nofailover`.
    fn may_take_over(&self) -> impl Fn(usize) -> bool + '_ {
        let named = read_successor(&self.conf.sim_dir, &self.conf.group);
        move |i: usize| {
            let m = &self.conf.servers[i];
            match &named {
                Some(n) => *n == m.name,
                None => !m.nofailover,
            }
        }
    }

    fn data_file(&self) -> PathBuf {
        self.me.data_dir.join("objectdb").join("store.jsonl")
    }

    fn become_active(&self, from_start: bool) {
        if read_successor(&self.conf.sim_dir, &self.conf.group).is_some_and(|n| n == self.me.name) {
            let _ = std::fs::remove_file(successor_file(&self.conf.sim_dir, &self.conf.group));
        }
        let mut g = self.lock();
        if from_start {
            // The data loaded at start (persistent) or nothing (memory only).
            g.seq = g.store.len();
        }
        g.phase = Phase::Active;
        g.electing = false;
        g.lost_at = None;
        g.active = None;
        let n = g.store.len();
        drop(g);
        self.ctx.log(format!(
            "ACTIVE-COORDINATOR of stripe {} ({n} entries{})",
            self.conf.group,
            if from_start {
                if self.conf.persistent { ", loaded from disk" } else { ", memory only: starts empty" }
            } else {
                ", took over as the in-sync standby"
            }
        ));
    }

    /// Moves a persistent passive's old data aside before it accepts a snapshot.
    fn fresh_store(&self) -> std::io::Result<Store> {
        if !self.conf.persistent {
            return Ok(Store::memory());
        }
        let db = self.me.data_dir.join("objectdb");
        let has_data = std::fs::metadata(self.data_file()).map(|m| m.len() > 0).unwrap_or(false);
        if has_data {
            let stamp = jiff::Timestamp::now().strftime("%Y%m%d%H%M%S%3f").to_string();
            let backup = self.me.data_dir.join("dirty-objectdb-backup").join(format!("dirty-objectdb-{stamp}"));
            if let Some(p) = backup.parent() {
                std::fs::create_dir_all(p)?;
            }
            std::fs::rename(&db, &backup)?;
            self.ctx.log(format!("moved the old data aside to {}", backup.display()));
        }
        Store::open(&self.data_file())
    }

    /// Joins `active` as a passive and applies its stream until the connection is lost.
    fn follow(&self, active: &Member) -> FollowEnd {
        let Ok(mut conn) = Conn::open(&active.address, active.port, Duration::from_secs(10)) else {
            return FollowEnd::NotActive;
        };
        let join = Request::Join { name: self.me.name.clone(), version: self.version.clone() };
        let reply = match conn.call(&join) {
            Ok(r) => r,
            Err(_) => return FollowEnd::NotActive,
        };
        if !reply.ok {
            if reply.redirect.is_some() {
                return FollowEnd::NotActive;
            }
            return FollowEnd::Refused(
                reply.error.unwrap_or_else(|| format!("{} refused to take this server", active.name)),
            );
        }
        {
            let mut g = self.lock();
            g.phase = Phase::Uninit;
            g.electing = false;
            g.lost_at = None;
            g.active = Some(active.name.clone());
        }
        self.ctx.log(format!("joined active {} as PASSIVE-UNINITIALIZED", active.name));
        if self.ctx.fault("stall-sync") {
            self.ctx.log("stall-sync fault: staying PASSIVE-UNINITIALIZED until the fault is cleared");
            while self.ctx.fault("stall-sync") {
                std::thread::sleep(Duration::from_millis(200));
            }
            self.ctx.log("stall-sync fault cleared: synchronising");
        }
        let _ = conn.set_read_timeout(Some(SILENCE));
        let why = loop {
            let msg = match conn.recv::<ReplMsg>() {
                Ok(Some(m)) => m,
                Ok(None) => break "the connection was closed".to_string(),
                Err(e) => break e.to_string(),
            };
            let ack = match msg {
                ReplMsg::Snapshot { seq, entries } => {
                    let n = entries.len();
                    let store = self.fresh_store().and_then(|mut s| s.replace_all(entries).map(|_| s));
                    match store {
                        Ok(s) => {
                            let mut g = self.lock();
                            g.store = s;
                            g.seq = seq;
                        }
                        Err(e) => break format!("cannot store the snapshot: {e}"),
                    }
                    self.ctx.log(format!("received a snapshot of {n} entries from {}", active.name));
                    Some(seq)
                }
                ReplMsg::Write { seq, key, value } => {
                    let mut g = self.lock();
                    if let Err(e) = g.store.put(&key, &value) {
                        drop(g);
                        break format!("cannot store a write: {e}");
                    }
                    g.seq = seq;
                    Some(seq)
                }
                ReplMsg::Synced => {
                    self.lock().phase = Phase::Standby;
                    self.ctx.log(format!("PASSIVE-STANDBY: in sync with {}", active.name));
                    None
                }
                ReplMsg::Ping => None,
            };
            if let Some(seq) = ack
                && let Err(e) = conn.send(&Ack { ack: seq })
            {
                break e.to_string();
            }
        };
        conn.shutdown();
        let mut g = self.lock();
        let was_standby = g.phase == Phase::Standby;
        g.electing = was_standby;
        g.lost_at = Some(Instant::now());
        g.active = None;
        drop(g);
        self.ctx.log(format!(
            "lost active {} ({why}); {}",
            active.name,
            if was_standby {
                "as an in-sync standby, taking part in the election"
            } else {
                "not in sync: will not take over"
            }
        ));
        FollowEnd::Lost
    }

    fn handle(self: &Arc<Self>, mut conn: Conn) {
        loop {
            let req = match conn.recv::<Request>() {
                Ok(Some(r)) => r,
                _ => return,
            };
            if self.lock().stopping && !matches!(req, Request::Stat) {
                let _ = conn.send(&Reply::err(format!("{} is stopping", self.me.name)));
                return;
            }
            let reply = match req {
                Request::Stat => Reply { ok: true, stat: Some(self.stat()), ..Default::default() },
                Request::Hello { name, version } => self.hello(&name, &version),
                Request::Put { key, value } => self.put(&key, &value),
                Request::Get { key } => Reply { ok: true, value: self.lock().store.get(&key), ..Default::default() },
                Request::Dump => Reply { ok: true, entries: Some(self.lock().store.entries()), ..Default::default() },
                Request::Digest => Reply { ok: true, digest: Some(self.lock().store.digest()), ..Default::default() },
                Request::Join { name, version } => return self.serve_passive(conn, name, version),
                Request::Demote => self.demote(),
                other => Reply::err(format!("a Terracotta server does not understand {other:?}")),
            };
            if conn.send(&reply).is_err() {
                return;
            }
        }
    }

    fn not_active(&self, g: &Inner) -> Reply {
        Reply {
            ok: false,
            error: Some(format!("{} is {}, not the active server", self.me.name, g.phase.state())),
            redirect: Some(g.active.clone().unwrap_or_default()),
            ..Default::default()
        }
    }

    fn hello(&self, name: &str, version: &str) -> Reply {
        let g = self.lock();
        if g.phase != Phase::Active {
            return self.not_active(&g);
        }
        drop(g);
        if !same_minor(version, &self.version) {
            let msg = format!(
                "client {name} ({version}) cannot connect to server {} ({}): clients and servers must share major.minor ({} vs {}); rolling upgrades never mix minor versions (Terracotta upgrade guide)",
                self.me.name,
                self.version,
                minor_of(version),
                minor_of(&self.version)
            );
            self.ctx.log(&msg);
            return Reply::err(msg);
        }
        self.ctx.log(format!("client {name} ({version}) connected"));
        Reply::ok()
    }

    fn put(&self, key: &str, value: &str) -> Reply {
        let mut g = self.lock();
        if g.phase != Phase::Active {
            return self.not_active(&g);
        }
        if let Err(e) = g.store.put(key, value) {
            return Reply::err(format!("{} cannot write its data: {e}", self.me.name));
        }
        g.seq += 1;
        let seq = g.seq;
        let mut waits = Vec::new();
        for l in &g.links {
            let _ = l.tx.send(ReplMsg::Write { seq, key: key.to_string(), value: value.to_string() });
            if l.standby {
                waits.push(l.id);
            }
        }
        // Synchronous replication: every standby applies the write before the client hears "ok".
        let deadline = Instant::now() + SYNC_TIMEOUT;
        loop {
            let pending: Vec<u64> =
                waits.iter().copied().filter(|id| g.links.iter().any(|l| l.id == *id && l.acked < seq)).collect();
            if pending.is_empty() {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                for id in pending {
                    self.drop_link(
                        &mut g,
                        id,
                        &format!("did not apply write {seq} within {}s", SYNC_TIMEOUT.as_secs()),
                    );
                }
                break;
            }
            g = self.cv.wait_timeout(g, deadline - now).map(|r| r.0).unwrap_or_else(|e| e.into_inner().0);
        }
        Reply::ok()
    }

    /// A planned switchover (jsondb): stop taking writes, wait until every in-sync replica has
    /// applied every acknowledged write, then let them go; the most up-to-date replica takes
    /// over and this server rejoins it as a replica. No acknowledged write is lost.
    fn demote(&self) -> Reply {
        let mut g = self.lock();
        if g.phase != Phase::Active {
            return self.not_active(&g);
        }
        if !g.links.iter().any(|l| l.standby) {
            return Reply::err(format!("{} has no replica in sync to hand over to", self.me.name));
        }
        g.phase = Phase::Starting;
        g.active = None;
        let seq = g.seq;
        let deadline = Instant::now() + SYNC_TIMEOUT;
        while g.links.iter().any(|l| l.standby && l.acked < seq) {
            let now = Instant::now();
            if now >= deadline {
                g.phase = Phase::Active;
                return Reply::err(format!(
                    "the replicas did not confirm write {seq} within {}s; {} stays the leader",
                    SYNC_TIMEOUT.as_secs(),
                    self.me.name
                ));
            }
            g = self.cv.wait_timeout(g, deadline - now).map(|r| r.0).unwrap_or_else(|e| e.into_inner().0);
        }
        for l in g.links.drain(..) {
            let _ = l.stream.shutdown(std::net::Shutdown::Both);
        }
        self.cv.notify_all();
        drop(g);
        self.ctx.log(format!("stepped down as leader at write {seq} (switchover); a replica takes over"));
        Reply::ok()
    }

    fn drop_link(&self, g: &mut Inner, id: u64, why: &str) {
        if let Some(pos) = g.links.iter().position(|l| l.id == id) {
            let l = g.links.remove(pos);
            let _ = l.stream.shutdown(std::net::Shutdown::Both);
            self.ctx.log(format!("passive {} left the stripe: {why}", l.name));
            self.cv.notify_all();
        }
    }

    fn serve_passive(self: &Arc<Self>, mut conn: Conn, name: String, version: String) {
        let (tx, rx) = mpsc::channel::<ReplMsg>();
        let id;
        {
            let mut g = self.lock();
            if g.phase != Phase::Active {
                let r = self.not_active(&g);
                drop(g);
                let _ = conn.send(&r);
                return;
            }
            let compat = self.conf.http.as_ref().and_then(|h| h.compat);
            let together = match (compat, crate::model::parse_loose(&version), crate::model::parse_loose(&self.version))
            {
                (Some(rule), Some(a), Some(b)) => rule.compatible(&a, &b),
                _ => same_major(&version, &self.version),
            };
            if self.conf.http.is_some() && !together {
                drop(g);
                let msg = format!(
                    "member {name} (JsonDB {version}) cannot replicate from leader {} ({}): {}",
                    self.me.name,
                    self.version,
                    match compat {
                        Some(rule) =>
                            format!("this cluster replicates {} only (compat = \"{}\")", rule.describe(), rule.as_str()),
                        None => "members of different major versions never replicate together".to_string(),
                    }
                );
                self.ctx.log(format!("refused {name}: {msg}"));
                let _ = conn.send(&Reply::err(msg));
                return;
            }
            if self.conf.http.is_none() && !same_minor(&version, &self.version) {
                drop(g);
                let msg = format!(
                    "server {name} (Terracotta {version}) cannot join stripe {}: its active {} runs {}, and servers of different major.minor versions ({} vs {}) cannot run together; only maintenance versions of one minor release roll (Terracotta upgrade guide), {} to {} needs a full-downtime upgrade",
                    self.conf.group,
                    self.me.name,
                    self.version,
                    minor_of(&version),
                    minor_of(&self.version),
                    minor_of(&self.version),
                    minor_of(&version)
                );
                self.ctx.log(format!("refused {name}: {msg}"));
                let _ = conn.send(&Reply::err(msg));
                return;
            }
            let (Ok(stream), Ok(mut writer)) = (conn.writer_clone(), conn.writer_clone()) else { return };
            if conn.send(&Reply::ok()).is_err() {
                return;
            }
            id = g.next_id;
            g.next_id += 1;
            let snap_seq = g.seq;
            let entries = g.store.entries();
            self.ctx.log(format!(
                "{name} ({version}) joins as PASSIVE-UNINITIALIZED; sending a snapshot of {} entries",
                entries.len()
            ));
            let _ = tx.send(ReplMsg::Snapshot { seq: snap_seq, entries });
            g.links.push(Link { id, name: name.clone(), tx, standby: false, acked: 0, snap_seq, stream });
            let me = Arc::clone(self);
            std::thread::spawn(move || {
                let _ = writer.set_write_timeout(Some(Duration::from_secs(30)));
                loop {
                    let msg = match rx.recv_timeout(Duration::from_millis(500)) {
                        Ok(m) => m,
                        Err(mpsc::RecvTimeoutError::Timeout) => ReplMsg::Ping,
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    };
                    if let Err(e) = wire::send_line(&mut writer, &msg) {
                        let mut g = me.lock();
                        me.drop_link(&mut g, id, &format!("replication stream broken ({e})"));
                        return;
                    }
                }
            });
        }
        let _ = conn.set_read_timeout(None);
        let why = loop {
            match conn.recv::<Ack>() {
                Ok(Some(a)) => self.on_ack(id, a.ack),
                Ok(None) => break "disconnected".to_string(),
                Err(e) => break e.to_string(),
            }
        };
        let mut g = self.lock();
        self.drop_link(&mut g, id, &why);
    }

    fn on_ack(&self, id: u64, n: u64) {
        let mut g = self.lock();
        let seq = g.seq;
        let Some(l) = g.links.iter_mut().find(|l| l.id == id) else { return };
        l.acked = l.acked.max(n);
        if !l.standby && l.acked >= l.snap_seq && l.acked == seq {
            l.standby = true;
            let _ = l.tx.send(ReplMsg::Synced);
            let name = l.name.clone();
            self.ctx.log(format!("{name} is PASSIVE-STANDBY (in sync at write {seq})"));
        }
        self.cv.notify_all();
    }
}

/// The file naming the member a switchover hands a group over to (`POST
/// /switchover?candidate=NAME`), so the members elect that one and no other.
pub fn successor_file(sim_dir: &Path, group: &str) -> PathBuf {
    sim_dir.join("shared").join(format!("{group}.successor"))
}

/// The member a pending switchover of `group` names, if any.
pub fn read_successor(sim_dir: &Path, group: &str) -> Option<String> {
    let t = std::fs::read_to_string(successor_file(sim_dir, group)).ok()?;
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// server-stat.sh: prints a server's state as `<host>.<key>: <value>` lines.
pub fn stat_tool(target: &str) -> u8 {
    let Some((host, port)) = target.rsplit_once(':') else {
        eprintln!("server-stat.sh: -s takes <host>:<port>, got `{target}`");
        return 2;
    };
    let Ok(port) = port.parse::<u16>() else {
        eprintln!("server-stat.sh: `{port}` is not a port number (in -s {target})");
        return 2;
    };
    match wire::stat(host, port) {
        Ok(s) => {
            let n = &s.name;
            println!("{n}.health: OK");
            println!("{n}.role: {}", s.role);
            println!("{n}.state: {}", s.state);
            println!("{n}.port: {}", s.port);
            println!("{n}.group name: {}", s.group);
            0
        }
        Err(wire::WireError::Refused) => {
            println!("{host}.error: Connection refused");
            1
        }
        Err(e) => {
            println!("{host}.error: {e}");
            1
        }
    }
}

/// stop-tc-server.sh: stops a server and waits until it is gone.
pub fn stop_tool(conf_path: &Path, name: &str) -> u8 {
    let conf: StripeConf = match conf::read(conf_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let Some(m) = conf.servers.iter().find(|m| m.name == name) else {
        eprintln!("{name} is not a server of {}", conf_path.display());
        return 2;
    };
    stop_host(&conf.sim_dir, &m.node_dir, name, "server", Duration::from_secs(20))
}
