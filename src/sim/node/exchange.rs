//! A simulated two-node Exchange 2003 cluster (seed 003): each node runs the cluster service;
//! the virtual server EVS1 runs on one of them at a time, reached by clients at its own address
//! wherever it runs, with its data on shared storage. The quorum file says who owns it and
//! whether it should be online.
//!
//! * `cluster-move.sh` is a planned move: the owner stops serving (no write is lost: each is on
//!   the shared disk before it is acknowledged), the peer loads the store and serves.
//! * Stopping the owner's cluster service moves the virtual server first; a crashed owner is
//!   detected by its peer, which takes over.
//! * The virus scanner does not support rolling upgrades: if the scanner on the machine serving
//!   EVS1 changes while it is online, EVS1 fails and goes offline until brought back online.

use super::common::{NodeCtx, stop_host};
use super::net;
use super::store::Store;
use crate::sim::conf::{self, ExConf, ExNode};
use crate::sim::kits::kit_version;
use crate::sim::layout;
use crate::sim::procs;
use crate::sim::state::write_atomic;
use crate::sim::wire::{self, Conn, Reply, Request, Stat};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Who owns the virtual server and whether it should be online (the cluster's quorum resource).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quorum {
    /// The owning node.
    pub owner: String,
    /// Whether the virtual server should be online.
    pub online: bool,
    /// Why it went offline, when it failed.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Reads the quorum file.
pub fn read_quorum(path: &Path) -> Result<Quorum, String> {
    let t = std::fs::read_to_string(path).map_err(|e| format!("cannot read the quorum {}: {e}", path.display()))?;
    serde_json::from_str(&t).map_err(|e| format!("the quorum {} is damaged: {e}", path.display()))
}

/// Writes the quorum file atomically.
pub fn write_quorum(path: &Path, q: &Quorum) -> Result<(), String> {
    let t = serde_json::to_string(q).map_err(|e| e.to_string())?;
    write_atomic(path, t.as_bytes()).map_err(|e| e.to_string())
}

fn scanner_version(node_dir: &Path) -> Option<String> {
    kit_version(&node_dir.join("scanner")).ok()
}

struct Evs {
    serving: bool,
    store: Option<Store>,
    scanner: Option<String>,
    stop_accept: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

struct ExNodeProc {
    ctx: Arc<NodeCtx>,
    conf: ExConf,
    me: ExNode,
    version: String,
    evs: Mutex<Evs>,
    transition: Mutex<()>,
}

impl ExNodeProc {
    fn evs(&self) -> MutexGuard<'_, Evs> {
        self.evs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stat(&self) -> Stat {
        let serving = self.evs().serving;
        let owner = read_quorum(&self.conf.quorum).ok().map(|q| q.owner);
        Stat {
            name: self.me.name.clone(),
            version: self.version.clone(),
            state: "Up".into(),
            role: if owner.as_deref() == Some(self.me.name.as_str()) { "ACTIVE".into() } else { "PASSIVE".into() },
            port: self.me.port,
            active: owner,
            serving,
            ..Default::default()
        }
    }

    /// Brings the virtual server online here: claim its address, load the shared store.
    fn take(self: &Arc<Self>) -> Result<(), String> {
        let _t = self.transition.lock().unwrap_or_else(|e| e.into_inner());
        if self.evs().serving {
            return Ok(());
        }
        let listener =
            std::net::TcpListener::bind((self.conf.evs_address.as_str(), self.conf.evs_port)).map_err(|e| {
                format!(
                    "cannot claim {}'s address {}:{}: {e}",
                    self.conf.evs, self.conf.evs_address, self.conf.evs_port
                )
            })?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let store = Store::open(&self.conf.storage.join("store.jsonl"))
            .map_err(|e| format!("cannot open {}'s shared storage: {e}", self.conf.evs))?;
        let n = store.len();
        let stop = Arc::new(AtomicBool::new(false));
        let me = Arc::clone(self);
        let stop2 = Arc::clone(&stop);
        let acceptor = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let Ok(conn) = Conn::from_stream(s, Duration::from_secs(120)) else { continue };
                        let h = Arc::clone(&me);
                        std::thread::spawn(move || net::request_loop(conn, |r| h.serve_evs(r)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        let mut e = self.evs();
        e.serving = true;
        e.store = Some(store);
        e.scanner = scanner_version(&self.me.node_dir);
        e.stop_accept = stop;
        e.acceptor = Some(acceptor);
        drop(e);
        self.ctx.log(format!("{} online on {} ({n} entries on the shared disk)", self.conf.evs, self.me.name));
        Ok(())
    }

    /// Takes the virtual server offline here; no write is accepted after this returns.
    fn release(&self, why: &str) {
        let _t = self.transition.lock().unwrap_or_else(|e| e.into_inner());
        let acceptor = {
            let mut e = self.evs();
            if !e.serving {
                return;
            }
            e.serving = false;
            e.store = None;
            e.stop_accept.store(true, Ordering::SeqCst);
            e.acceptor.take()
        };
        if let Some(a) = acceptor {
            let _ = a.join();
        }
        self.ctx.log(format!("{} offline on {} ({why})", self.conf.evs, self.me.name));
    }

    fn serve_evs(&self, req: Request) -> Reply {
        let mut e = self.evs();
        let offline = Reply::err(format!("{} is not online on {}", self.conf.evs, self.me.name));
        if !e.serving {
            return offline;
        }
        let Some(store) = e.store.as_mut() else { return offline };
        match req {
            Request::Put { key, value } => match store.put(&key, &value) {
                Ok(()) => Reply::ok(),
                Err(err) => Reply::err(format!("{} cannot write to its shared disk: {err}", self.conf.evs)),
            },
            Request::Get { key } => Reply { ok: true, value: store.get(&key), ..Default::default() },
            Request::Dump => Reply { ok: true, entries: Some(store.entries()), ..Default::default() },
            Request::Digest => Reply { ok: true, digest: Some(store.digest()), ..Default::default() },
            Request::Stat => {
                drop(e);
                Reply { ok: true, stat: Some(self.stat()), ..Default::default() }
            }
            other => Reply::err(format!("{} does not understand {other:?}", self.conf.evs)),
        }
    }

    fn answer_admin(self: &Arc<Self>, req: Request) -> Reply {
        match req {
            Request::Stat => Reply { ok: true, stat: Some(self.stat()), ..Default::default() },
            Request::Take => match self.take() {
                Ok(()) => Reply::ok(),
                Err(e) => Reply::err(e),
            },
            Request::Release => {
                self.release("requested by the cluster administrator");
                Reply::ok()
            }
            other => Reply::err(format!("the cluster service does not understand {other:?}")),
        }
    }

    /// Keeps the node's part of the quorum: serve when owner and online, fail over when the
    /// owner is gone, stop serving when moved away, fail on a scanner change.
    fn monitor(self: &Arc<Self>) {
        let mut owner_missing = 0u32;
        loop {
            std::thread::sleep(Duration::from_millis(300));
            let Ok(q) = read_quorum(&self.conf.quorum) else { continue };
            let serving = self.evs().serving;
            if !q.online {
                if serving {
                    self.release("the group was taken offline");
                }
                owner_missing = 0;
                continue;
            }
            if q.owner == self.me.name {
                owner_missing = 0;
                if !serving {
                    if let Err(e) = self.take() {
                        self.ctx.log(format!("cannot bring {} online yet: {e}", self.conf.evs));
                    }
                    continue;
                }
                let (before, now) = (self.evs().scanner.clone(), scanner_version(&self.me.node_dir));
                if before != now {
                    let why = format!(
                        "the virus scanner on {} changed from {} to {} while {} was online; scanners do not support rolling upgrades (Exchange cluster procedure): take {} offline before upgrading them, then bring it online",
                        self.me.name,
                        before.as_deref().unwrap_or("none"),
                        now.as_deref().unwrap_or("none"),
                        self.conf.evs,
                        self.conf.evs
                    );
                    // The reason is recorded before the group goes offline, so whoever sees it
                    // offline also sees why.
                    let _ = write_quorum(
                        &self.conf.quorum,
                        &Quorum { owner: q.owner.clone(), online: false, reason: Some(why.clone()) },
                    );
                    self.release("failed: the virus scanner changed under it");
                    self.ctx.shout(&why);
                }
                continue;
            }
            if serving {
                self.release(&format!("moved to {}", q.owner));
                continue;
            }
            let Some(owner) = self.conf.nodes.iter().find(|n| n.name == q.owner) else { continue };
            if wire::stat(&owner.address, owner.port).is_ok() {
                owner_missing = 0;
                continue;
            }
            owner_missing += 1;
            if owner_missing >= 4 {
                self.ctx.log(format!("{} is down: failing {} over to {}", owner.name, self.conf.evs, self.me.name));
                let nq = Quorum { owner: self.me.name.clone(), online: true, reason: None };
                if write_quorum(&self.conf.quorum, &nq).is_ok()
                    && let Err(e) = self.take()
                {
                    self.ctx.log(format!("failover of {} failed: {e}", self.conf.evs));
                }
                owner_missing = 0;
            }
        }
    }
}

fn conf_of(kit: &Path) -> Result<ExConf, String> {
    let path = kit.parent().map(|p| p.join("conf").join("cluster.conf")).unwrap_or_default();
    conf::read(&path).map_err(|e| e.to_string())
}

fn node_of<'a>(conf: &'a ExConf, name: &str) -> Result<&'a ExNode, String> {
    conf.nodes.iter().find(|n| n.name == name).ok_or_else(|| {
        let names: Vec<&str> = conf.nodes.iter().map(|n| n.name.as_str()).collect();
        format!("{name} is not a node of this cluster (nodes: {})", names.join(", "))
    })
}

fn check_group(conf: &ExConf, g: &str) -> Result<(), String> {
    if g == conf.evs { Ok(()) } else { Err(format!("no cluster group `{g}`; this cluster has {}", conf.evs)) }
}

/// The cluster service daemon of one node (started by `cluster-node.sh start`).
pub fn run_node(kit: &Path, name: &str) -> u8 {
    let (conf, me) = match conf_of(kit).and_then(|c| node_of(&c, name).cloned().map(|n| (c, n))) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let (version, ctx) = match super::common::start_node(kit, &me.name, &conf.sim_dir, &me.node_dir, "exchange-node") {
        Ok(x) => x,
        Err(code) => return code,
    };
    let listener = super::common::listen_or_exit(&ctx, &me.address, me.port);
    ctx.log(format!("Microsoft Exchange Server 2003 Version {version}: cluster service up on {}", me.name));
    let node = Arc::new(ExNodeProc {
        ctx: Arc::clone(&ctx),
        conf,
        me,
        version,
        evs: Mutex::new(Evs {
            serving: false,
            store: None,
            scanner: None,
            stop_accept: Arc::new(AtomicBool::new(false)),
            acceptor: None,
        }),
        transition: Mutex::new(()),
    });
    let on_stop = Arc::clone(&node);
    ctx.watchdog(move || on_stop.release("the cluster service is stopping"));
    let h = Arc::clone(&node);
    net::accept_forever(listener, Arc::new(move |c| net::request_loop(c, |r| h.answer_admin(r))));
    node.monitor();
    0
}

fn node_up(n: &ExNode) -> Option<Stat> {
    wire::stat(&n.address, n.port).ok()
}

fn admin(n: &ExNode, req: Request) -> Result<(), String> {
    match wire::call(&n.address, n.port, &req, Duration::from_secs(30)) {
        Ok(r) if r.ok => Ok(()),
        Ok(r) => Err(r.error.unwrap_or_else(|| format!("{} refused", n.name))),
        Err(e) => Err(format!("{} cannot be reached: {e}", n.name)),
    }
}

fn wait_serving(n: &ExNode, within: Duration) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if node_up(n).is_some_and(|s| s.serving) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// The group line: online only when the owner actually serves it.
fn group_line(conf: &ExConf, q: &Quorum) -> String {
    let serving = conf.nodes.iter().find(|n| n.name == q.owner).and_then(node_up).is_some_and(|s| s.serving);
    format!("Group {}: {} on {}", conf.evs, if serving { "Online" } else { "Offline" }, q.owner)
}

/// cluster-status.sh -n NODE -g GROUP.
pub fn status(kit: &Path, node: &str, group: &str) -> u8 {
    let conf = match conf_of(kit) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let n = match node_of(&conf, node).and_then(|n| check_group(&conf, group).map(|_| n)) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let q = match read_quorum(&conf.quorum) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let up = node_up(n).is_some();
    println!("Node {node}: {}", if up { "Up" } else { "Down" });
    println!("{}", group_line(&conf, &q));
    let role = if !up {
        "DOWN"
    } else if q.owner == node {
        "ACTIVE"
    } else {
        "PASSIVE"
    };
    println!("Role {node}: {role}");
    // Read again: a failure records its reason before the group goes offline, so a fresh read
    // explains the state printed above.
    let q = read_quorum(&conf.quorum).unwrap_or(q);
    if let Some(r) = &q.reason {
        println!("Reason: {r}");
    }
    0
}

/// A planned move of the virtual server to `to`; returns once it is online there (if it was
/// online) and no acknowledged write is lost.
fn do_move(conf: &ExConf, to: &ExNode) -> Result<String, String> {
    let q = read_quorum(&conf.quorum)?;
    if node_up(to).is_none() {
        return Err(format!("cannot move {} to {}: its cluster service is down; start it first", conf.evs, to.name));
    }
    if q.owner == to.name {
        if q.online && !wait_serving(to, Duration::from_secs(20)) {
            return Err(format!("{} is owned by {} but does not come online there", conf.evs, to.name));
        }
        return Ok(format!("{} is already on {}", conf.evs, to.name));
    }
    let nq = Quorum { owner: to.name.clone(), online: q.online, reason: None };
    write_quorum(&conf.quorum, &nq)?;
    if let Some(from) = conf.nodes.iter().find(|n| n.name == q.owner)
        && node_up(from).is_some()
    {
        admin(from, Request::Release)?;
    }
    if q.online {
        admin(to, Request::Take)?;
        if !wait_serving(to, Duration::from_secs(20)) {
            return Err(format!("{} did not come online on {}", conf.evs, to.name));
        }
    }
    Ok(format!("moved {} from {} to {}", conf.evs, q.owner, to.name))
}

/// cluster-move.sh -g GROUP -n NODE.
pub fn move_group(kit: &Path, group: &str, to: &str) -> u8 {
    let conf = match conf_of(kit) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let n = match check_group(&conf, group).and_then(|_| node_of(&conf, to)) {
        Ok(n) => n.clone(),
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    match do_move(&conf, &n) {
        Ok(msg) => {
            println!("{msg}");
            if let Ok(q) = read_quorum(&conf.quorum) {
                println!("{}", group_line(&conf, &q));
            }
            0
        }
        Err(e) => {
            eprintln!("cluster-move: {e}");
            1
        }
    }
}

/// cluster-node.sh stop|start NODE.
pub fn node_cmd(kit: &Path, action: &str, node: &str) -> u8 {
    let conf = match conf_of(kit) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let n = match node_of(&conf, node) {
        Ok(n) => n.clone(),
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    match action {
        "stop" => stop_node(&conf, &n),
        "start" => start_node(&conf, &n),
        other => {
            eprintln!("cluster-node.sh: unknown action `{other}`; use stop or start");
            2
        }
    }
}

fn stop_node(conf: &ExConf, n: &ExNode) -> u8 {
    if procs::running_pid(&layout::pid_file(&n.node_dir, &n.name)).is_none() {
        println!("cluster service of {} is not running", n.name);
        return 0;
    }
    if let Ok(q) = read_quorum(&conf.quorum)
        && q.owner == n.name
    {
        match conf.nodes.iter().find(|p| p.name != n.name) {
            Some(peer) if node_up(peer).is_some() => match do_move(conf, peer) {
                Ok(msg) => println!("{msg} before stopping {}", n.name),
                Err(e) => {
                    eprintln!("cluster-node: cannot move {} away from {}: {e}", conf.evs, n.name);
                    return 1;
                }
            },
            _ => println!("warning: no other node is up: {} goes offline with {}", conf.evs, n.name),
        }
    }
    stop_host(&conf.sim_dir, &n.node_dir, &n.name, "cluster service of", Duration::from_secs(15))
}

fn start_node(conf: &ExConf, n: &ExNode) -> u8 {
    if node_up(n).is_some() {
        println!("cluster service of {} is already running", n.name);
        return 0;
    }
    let kit = n.node_dir.join("exchange");
    let engine = match std::fs::read_to_string(kit.join("lib").join("engine")) {
        Ok(e) => PathBuf::from(e.trim()),
        Err(e) => {
            eprintln!("cluster-node: {} has no Exchange installed ({e}); install a kit first", n.name);
            return 1;
        }
    };
    let pid = match procs::running_pid(&layout::pid_file(&n.node_dir, &n.name)) {
        Some(p) => p,
        None => {
            let mut cmd = Command::new(engine);
            cmd.args(["sim", "node", "exchange-node", "--kit"]).arg(&kit).args(["-n", &n.name]);
            match procs::spawn_detached(&mut cmd, &n.node_dir.join("logs").join("cluster.out")) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("cluster-node: cannot start {}: {e}", n.name);
                    return 1;
                }
            }
        }
    };
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end {
        if node_up(n).is_some() {
            // If it owns the virtual server, return once it serves it.
            if let Ok(q) = read_quorum(&conf.quorum)
                && q.online
                && q.owner == n.name
                && !wait_serving(n, Duration::from_secs(20))
            {
                eprintln!("cluster-node: {} is up but {} does not come online on it", n.name, conf.evs);
                return 1;
            }
            println!("cluster service of {} started", n.name);
            return 0;
        }
        if !procs::alive(pid) {
            eprintln!(
                "cluster-node: {} exited while starting; see {}",
                n.name,
                layout::log_file(&n.node_dir, &n.name).display()
            );
            return 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("cluster-node: {} did not start within 60s", n.name);
    1
}

/// cluster-offline.sh / cluster-online.sh -g GROUP.
pub fn set_online(kit: &Path, group: &str, online: bool) -> u8 {
    let conf = match conf_of(kit).and_then(|c| check_group(&c, group).map(|_| c)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let q = match read_quorum(&conf.quorum) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let owner_up = conf.nodes.iter().find(|n| n.name == q.owner).is_some_and(|n| node_up(n).is_some());
    let owner = if online && !owner_up {
        // Bring it up where a cluster service runs.
        conf.nodes.iter().find(|n| node_up(n).is_some()).map(|n| n.name.clone()).unwrap_or(q.owner.clone())
    } else {
        q.owner.clone()
    };
    let nq = Quorum {
        owner: owner.clone(),
        online,
        reason: if online { None } else { Some("taken offline by the administrator".into()) },
    };
    if let Err(e) = write_quorum(&conf.quorum, &nq) {
        eprintln!("{e}");
        return 1;
    }
    let Some(n) = conf.nodes.iter().find(|n| n.name == owner) else {
        eprintln!("the quorum names an unknown owner {owner}");
        return 1;
    };
    if node_up(n).is_none() {
        println!("Group {}: Offline on {owner} (its cluster service is down)", conf.evs);
        return if online { 1 } else { 0 };
    }
    let r = admin(n, if online { Request::Take } else { Request::Release });
    if let Err(e) = r {
        eprintln!("cannot bring {} {} on {owner}: {e}", conf.evs, if online { "online" } else { "offline" });
        return 1;
    }
    if online && !wait_serving(n, Duration::from_secs(20)) {
        eprintln!("{} did not come online on {owner}", conf.evs);
        return 1;
    }
    println!("Group {}: {} on {owner}", conf.evs, if online { "Online" } else { "Offline" });
    0
}
