//! A simulated StreamBase node (seed 002) and its `epadmin`.
//!
//! Nodes are peers with no failover roles: each accepts writes, stores them on disk and passes
//! them on to every running peer before acknowledging; a node that starts merges what its peers
//! hold, and a digest exchange every few seconds repairs anything missed. Nodes of different
//! versions negotiate and serve together. An epadmin older than the node it manages refuses with
//! a version-mismatch error (seed 002).

use super::common::{NodeCtx, stop_host, version_cmp};
use super::net;
use super::store::Store;
use crate::sim::conf::{self, SbConf, SbMember};
use crate::sim::kits::kit_version;
use crate::sim::layout;
use crate::sim::procs;
use crate::sim::wire::{self, Reply, Request, Stat};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

struct Node {
    ctx: Arc<NodeCtx>,
    conf: SbConf,
    me: SbMember,
    version: String,
    store: Mutex<Store>,
    started: Mutex<bool>,
    negotiated: Mutex<BTreeSet<String>>,
}

impl Node {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn peers(&self) -> impl Iterator<Item = &SbMember> {
        self.conf.nodes.iter().filter(move |n| n.name != self.me.name)
    }

    fn negotiate(&self, peer: &str, version: &str) {
        let mut seen = self.negotiated.lock().unwrap_or_else(|e| e.into_inner());
        if seen.insert(format!("{peer}@{version}")) {
            let how = if version == self.version { "same version" } else { "protocol negotiated" };
            self.ctx.log(format!("peer {peer} runs {version} (this node {}): {how}", self.version));
        }
    }

    fn answer(&self, req: Request) -> Reply {
        match req {
            Request::Stat => {
                let started = *self.started.lock().unwrap_or_else(|e| e.into_inner());
                Reply {
                    ok: true,
                    stat: Some(Stat {
                        name: self.me.name.clone(),
                        version: self.version.clone(),
                        state: if started { "Started".into() } else { "Starting".into() },
                        role: "PEER".into(),
                        port: self.me.port,
                        seq: self.store().len(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }
            }
            Request::Put { key, value } => {
                if let Err(e) = self.store().put(&key, &value) {
                    return Reply::err(format!("{} cannot store the write: {e}", self.me.name));
                }
                for p in self.peers() {
                    let fwd = Request::Forward {
                        from: self.me.name.clone(),
                        version: self.version.clone(),
                        key: key.clone(),
                        value: value.clone(),
                    };
                    match wire::call(&p.address, p.port, &fwd, Duration::from_secs(5)) {
                        Ok(r) if r.ok => {
                            if let Some(v) = r.value {
                                self.negotiate(&p.name, &v);
                            }
                        }
                        // A stopped peer catches up when it starts; a failing one is repaired by
                        // the digest exchange.
                        _ => {}
                    }
                }
                Reply::ok()
            }
            Request::Forward { from, version, key, value } => {
                self.negotiate(&from, &version);
                match self.store().put(&key, &value) {
                    Ok(()) => Reply { ok: true, value: Some(self.version.clone()), ..Default::default() },
                    Err(e) => Reply::err(format!("{} cannot store the write: {e}", self.me.name)),
                }
            }
            Request::Get { key } => Reply { ok: true, value: self.store().get(&key), ..Default::default() },
            Request::Dump => Reply { ok: true, entries: Some(self.store().entries()), ..Default::default() },
            Request::Digest => Reply { ok: true, digest: Some(self.store().digest()), ..Default::default() },
            other => Reply::err(format!("a StreamBase node does not understand {other:?}")),
        }
    }

    /// Pulls what a peer holds and adds what is missing here.
    fn merge_from(&self, p: &SbMember) {
        let Ok(entries) = wire::dump(&p.address, p.port) else { return };
        match self.store().merge(entries) {
            Ok(0) => {}
            Ok(n) => self.ctx.log(format!("merged {n} entries from {}", p.name)),
            Err(e) => self.ctx.log(format!("cannot merge entries from {}: {e}", p.name)),
        }
    }
}

fn data_file(node_dir: &Path) -> PathBuf {
    node_dir.join("data").join("store.jsonl")
}

fn conf_of(kit: &Path) -> Result<SbConf, String> {
    let path = kit.parent().map(|p| p.join("conf").join("node.conf")).unwrap_or_default();
    conf::read(&path).map_err(|e| e.to_string())
}

/// The node daemon (started by `epadmin start node`).
pub fn run_node(kit: &Path, name: &str) -> u8 {
    let conf = match conf_of(kit) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let Some(me) = conf.nodes.iter().find(|n| n.name == name).cloned() else {
        eprintln!("{name} is not a node of this StreamBase cluster");
        return 2;
    };
    let (version, ctx) = match super::common::start_node(kit, &me.name, &conf.sim_dir, &me.node_dir, "streambase-node")
    {
        Ok(x) => x,
        Err(code) => return code,
    };
    let store = match Store::open(&data_file(&me.node_dir)) {
        Ok(s) => s,
        Err(e) => {
            ctx.shout(format!("cannot open the node's data: {e}"));
            ctx.exit(1);
        }
    };
    let listener = super::common::listen_or_exit(&ctx, &me.address, me.port);
    ctx.log(format!("TIBCO StreamBase Runtime {version}: node {} starting on {}:{}", me.service, me.address, me.port));
    let node = Arc::new(Node {
        ctx: Arc::clone(&ctx),
        conf,
        me,
        version,
        store: Mutex::new(store),
        started: Mutex::new(false),
        negotiated: Mutex::new(BTreeSet::new()),
    });
    ctx.watchdog(|| {});
    let h = Arc::clone(&node);
    net::accept_forever(listener, Arc::new(move |c| net::request_loop(c, |r| h.answer(r))));
    // Join: take in what the running peers hold (writes made while this node was down).
    let peers: Vec<SbMember> = node.peers().cloned().collect();
    for p in &peers {
        if let Ok(s) = wire::stat(&p.address, p.port) {
            node.negotiate(&p.name, &s.version);
            node.merge_from(p);
        }
    }
    *node.started.lock().unwrap_or_else(|e| e.into_inner()) = true;
    ctx.log(format!("node started ({} entries)", node.store().len()));
    // Anti-entropy: compare digests with each peer now and then, pull when they differ.
    loop {
        std::thread::sleep(Duration::from_secs(3));
        for p in &peers {
            let mine = node.store().digest();
            if let Ok(r) = wire::call(&p.address, p.port, &Request::Digest, Duration::from_secs(5))
                && let Some(theirs) = r.digest
                && theirs != mine
            {
                node.merge_from(p);
            }
        }
    }
}

/// `epadmin --servicename=S display|start|stop node`.
pub fn epadmin(kit: &Path, service: &str, verb: &str, object: &str) -> u8 {
    let conf = match conf_of(kit) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let my_version = match kit_version(kit) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    if object != "node" {
        eprintln!("epadmin: unknown target `{object}`; this kit supports: display node, start node, stop node");
        return 2;
    }
    let Some(m) = conf.nodes.iter().find(|n| n.service == service) else {
        let names: Vec<&str> = conf.nodes.iter().map(|n| n.service.as_str()).collect();
        eprintln!("epadmin: no node with service name {service} was discovered; known: {}", names.join(", "));
        return 1;
    };
    let running = wire::stat(&m.address, m.port).ok();
    if let Some(s) = &running
        && version_cmp(&my_version, &s.version) == std::cmp::Ordering::Less
    {
        eprintln!(
            "epadmin: version mismatch: this epadmin is {my_version} and node {service} runs {}; management tools from an earlier release cannot manage nodes of a more current release (StreamBase upgrade notes): use the epadmin of the newest kit",
            s.version
        );
        return 1;
    }
    match verb {
        "display" => {
            println!("Node Name = {service}");
            match &running {
                Some(s) => {
                    println!("Product Version = TIBCO StreamBase Runtime {} (build sim)", s.version);
                    println!("Node State = {}", s.state);
                }
                None => {
                    match kit_version(&m.node_dir.join("streambase")) {
                        Ok(v) => println!("Product Version = TIBCO StreamBase Runtime {v} (build sim)"),
                        Err(_) => println!("Product Version = (no product installed)"),
                    }
                    println!("Node State = Stopped");
                }
            }
            0
        }
        "stop" => {
            if running.is_none() && procs::running_pid(&layout::pid_file(&m.node_dir, &m.name)).is_none() {
                println!("Node {service} is already stopped");
                return 0;
            }
            let code = stop_host(&conf.sim_dir, &m.node_dir, &m.name, "node", Duration::from_secs(15));
            if code == 0 {
                println!("Node {service} stopped");
            }
            code
        }
        "start" => start_node(m, service),
        other => {
            eprintln!("epadmin: unknown command `{other} node`; use display, start or stop");
            2
        }
    }
}

fn start_node(m: &SbMember, service: &str) -> u8 {
    if let Ok(s) = wire::stat(&m.address, m.port)
        && s.state == "Started"
    {
        println!("Node {service} is already started");
        return 0;
    }
    let kit = m.node_dir.join("streambase");
    let engine = match std::fs::read_to_string(kit.join("lib").join("engine")) {
        Ok(e) => PathBuf::from(e.trim()),
        Err(e) => {
            eprintln!("epadmin: node {service} has no product installed ({e}); install a kit first");
            return 1;
        }
    };
    let pid = if let Some(pid) = procs::running_pid(&layout::pid_file(&m.node_dir, &m.name)) {
        pid
    } else {
        let mut cmd = Command::new(engine);
        cmd.args(["sim", "node", "sb-node", "--kit"]).arg(&kit).args(["-n", &m.name]);
        match procs::spawn_detached(&mut cmd, &m.node_dir.join("logs").join("node.out")) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("epadmin: cannot start node {service}: {e}");
                return 1;
            }
        }
    };
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end {
        if let Ok(s) = wire::stat(&m.address, m.port)
            && s.state == "Started"
        {
            println!("Node {service} started (TIBCO StreamBase Runtime {})", s.version);
            return 0;
        }
        if !procs::alive(pid) {
            eprintln!(
                "epadmin: node {service} exited while starting; see {}",
                layout::log_file(&m.node_dir, &m.name).display()
            );
            return 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "epadmin: node {service} did not start within 60s; see {}",
        layout::log_file(&m.node_dir, &m.name).display()
    );
    1
}
