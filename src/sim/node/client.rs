//! A simulated Terracotta client application and the simulator's own writers ("loaders").
//!
//! Both write continuously (`<name>-<n>` = `<n>@<version>`), find the server that accepts
//! writes, reconnect after a failover, and append every write a server acknowledged to
//! `acked.log` (flushed before the next write), so `sim verify` can check that none was lost.

use super::common::{NodeCtx, append_line, stop_host, write_status};
use crate::sim::conf::{self, ClientConf, LoaderConf, Target};
use crate::sim::error::SimError;
use crate::sim::kits::kit_version;
use crate::sim::procs;
use crate::sim::wire::{Conn, Request};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a writer publishes for its status script.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WriterStatus {
    /// CONNECTED, RECONNECTING or STOPPED.
    pub state: String,
    /// The server it writes to.
    pub server: String,
    /// Writes acknowledged so far (over all its runs).
    pub acknowledged: u64,
    /// Its version.
    pub version: String,
}

/// The acknowledged-writes log of a writer directory.
pub fn acked_log(dir: &Path) -> PathBuf {
    dir.join("data").join("acked.log")
}

fn status_file(dir: &Path) -> PathBuf {
    dir.join("run").join("status.json")
}

/// Keys acknowledged so far by the writer whose directory is `dir`.
pub fn acked_keys(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(acked_log(dir))
        .map(|t| t.lines().filter_map(|l| l.split('\t').next()).filter(|k| !k.is_empty()).map(str::to_string).collect())
        .unwrap_or_default()
}

/// The last status a writer published, with STOPPED when its process is gone.
pub fn read_status(dir: &Path, name: &str) -> WriterStatus {
    let running = procs::running_pid(&crate::sim::layout::pid_file(dir, name)).is_some();
    let mut st: WriterStatus =
        std::fs::read_to_string(status_file(dir)).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    if !running {
        st.state = "STOPPED".into();
        st.server.clear();
        st.acknowledged = acked_keys(dir).len() as u64;
    }
    st
}

/// How a writer finds where to write.
struct Writer {
    ctx: Arc<NodeCtx>,
    name: String,
    dir: PathBuf,
    version: String,
    targets: Vec<Target>,
    /// Terracotta clients introduce themselves (the server checks major.minor).
    hello: bool,
    /// Loaders spread writes over all targets in turn (StreamBase: any node accepts).
    spread: bool,
    interval: Duration,
    status: Mutex<WriterStatus>,
}

impl Writer {
    fn publish(&self, state: &str, server: &str, acked: u64) {
        let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let changed = st.state != state || st.server != server;
        st.state = state.to_string();
        st.server = server.to_string();
        st.acknowledged = acked;
        if changed {
            self.ctx.log(format!("{state}{}", if server.is_empty() { String::new() } else { format!(" to {server}") }));
        }
        write_status(&status_file(&self.dir), &*st);
    }

    fn connect(&self, start_at: usize, last_error: &mut String) -> Option<(Conn, usize)> {
        let n = self.targets.len();
        for k in 0..n {
            let i = (start_at + k) % n;
            let t = &self.targets[i];
            let Ok(mut c) = Conn::open(&t.address, t.port, Duration::from_secs(15)) else { continue };
            if !self.hello {
                return Some((c, i));
            }
            match c.call(&Request::Hello { name: self.name.clone(), version: self.version.clone() }) {
                Ok(r) if r.ok => return Some((c, i)),
                Ok(r) if r.redirect.is_none() => {
                    let e = r.error.unwrap_or_default();
                    if *last_error != e {
                        self.ctx.log(format!("refused by {}: {e}", t.name));
                        *last_error = e;
                    }
                }
                _ => {}
            }
        }
        None
    }

    fn run(&self) -> Result<(), SimError> {
        let log_path = acked_log(&self.dir);
        if let Some(d) = log_path.parent() {
            std::fs::create_dir_all(d).map_err(crate::sim::error::io_err(format!("cannot create {}", d.display())))?;
        }
        let mut acked = acked_keys(&self.dir).len() as u64;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(crate::sim::error::io_err(format!("cannot open {}", log_path.display())))?;
        let mut conn: Option<(Conn, usize)> = None;
        let mut next_target = 0usize;
        let mut last_error = String::new();
        let mut last_publish = Instant::now();
        self.publish("RECONNECTING", "", acked);
        loop {
            if conn.is_none() {
                conn = self.connect(next_target, &mut last_error);
                match &conn {
                    Some((_, i)) => self.publish("CONNECTED", &self.targets[*i].name, acked),
                    None => {
                        self.publish("RECONNECTING", "", acked);
                        std::thread::sleep(Duration::from_millis(300));
                        continue;
                    }
                }
            }
            let Some((c, i)) = conn.as_mut() else { continue };
            let idx = *i;
            let n = acked + 1;
            let key = format!("{}-{n:08}", self.name);
            let value = format!("{n}@{}", self.version);
            match c.call(&Request::Put { key: key.clone(), value: value.clone() }) {
                Ok(r) if r.ok => {
                    append_line(&mut file, &format!("{key}\t{value}")).map_err(crate::sim::error::io_err(format!(
                        "cannot record an acknowledged write in {}",
                        log_path.display()
                    )))?;
                    acked = n;
                    if self.spread {
                        // Next write through the next node: every node takes writes.
                        next_target = (idx + 1) % self.targets.len();
                        conn = None;
                    }
                    if last_publish.elapsed() > Duration::from_millis(300) {
                        self.publish("CONNECTED", &self.targets[idx].name, acked);
                        last_publish = Instant::now();
                    }
                }
                Ok(r) => {
                    self.ctx.log(format!(
                        "write {key} not acknowledged by {}: {}",
                        self.targets[idx].name,
                        r.error.unwrap_or_default()
                    ));
                    next_target = (idx + 1) % self.targets.len();
                    conn = None;
                    self.publish("RECONNECTING", "", acked);
                }
                Err(e) => {
                    self.ctx.log(format!("lost {}: {e}", self.targets[idx].name));
                    next_target = (idx + 1) % self.targets.len();
                    conn = None;
                    self.publish("RECONNECTING", "", acked);
                }
            }
            std::thread::sleep(self.interval);
        }
    }
}

fn start_writer(w: Writer, what: &str) -> u8 {
    let ctx = Arc::clone(&w.ctx);
    if let Err(e) = ctx.claim(what) {
        ctx.shout(e.to_string());
        return 1;
    }
    ctx.slow_start();
    let w = Arc::new(w);
    let on_stop = Arc::clone(&w);
    ctx.watchdog(move || {
        let acked = on_stop.status.lock().map(|s| s.acknowledged).unwrap_or(0);
        on_stop.publish("STOPPED", "", acked);
    });
    match w.run() {
        Ok(()) => ctx.exit(0),
        Err(e) => {
            ctx.shout(e.to_string());
            ctx.exit(1)
        }
    }
}

fn client_conf(kit: &Path) -> Result<ClientConf, SimError> {
    let path = kit.parent().map(|p| p.join("conf").join("tc-client.conf")).unwrap_or_default();
    conf::read(&path)
}

fn check_name(conf_name: &str, name: &str) -> Result<(), String> {
    if conf_name == name { Ok(()) } else { Err(format!("this installation belongs to client {conf_name}, not {name}")) }
}

/// This installation's client conf, checked to belong to client `name`; exit code 2 (after
/// saying why) when it does not.
fn own_conf(kit: &Path, name: &str) -> Result<ClientConf, u8> {
    client_conf(kit).map_err(|e| e.to_string()).and_then(|c| check_name(&c.name, name).map(|_| c)).map_err(|e| {
        eprintln!("{e}");
        2
    })
}

/// start-client.sh: runs the client application in the foreground.
pub fn run_client(kit: &Path, name: &str) -> u8 {
    let conf = match own_conf(kit, name) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let version = match kit_version(kit) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let ctx = NodeCtx::new(name, &conf.sim_dir, &conf.node_dir);
    ctx.log(format!("Terracotta Enterprise {version} client of stripe {}", conf.group));
    let targets = conf
        .servers
        .iter()
        .map(|m| Target { name: m.name.clone(), address: m.address.clone(), port: m.port })
        .collect();
    let w = Writer {
        ctx,
        name: name.to_string(),
        dir: conf.node_dir.clone(),
        version,
        targets,
        hello: true,
        spread: false,
        interval: Duration::from_millis(conf.interval_ms),
        status: Mutex::new(WriterStatus::default()),
    };
    start_writer(w, "client")
}

/// client-status.sh: prints the client's state, server and acknowledged writes.
pub fn client_status(kit: &Path, name: &str) -> u8 {
    let conf = match own_conf(kit, name) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let st = read_status(&conf.node_dir, name);
    println!("state: {}", if st.state.is_empty() { "RECONNECTING" } else { &st.state });
    if !st.server.is_empty() {
        println!("server: {}", st.server);
    }
    println!("acknowledged: {}", st.acknowledged);
    0
}

/// stop-client.sh: stops the client application and waits until it is gone.
pub fn client_stop(kit: &Path, name: &str) -> u8 {
    let conf = match own_conf(kit, name) {
        Ok(c) => c,
        Err(code) => return code,
    };
    stop_host(&conf.sim_dir, &conf.node_dir, name, "client", Duration::from_secs(10))
}

/// A simulator writer (`loader.conf`): started by `sim up` for topologies without client hosts.
pub fn run_loader(conf_path: &Path) -> u8 {
    let conf: LoaderConf = match conf::read(conf_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    if conf.targets.is_empty() {
        eprintln!("{} lists no targets", conf_path.display());
        return 2;
    }
    let ctx = NodeCtx::new(&conf.name, &conf.sim_dir, &conf.dir);
    let spread = conf.targets.len() > 1 && !conf.follow_active;
    let w = Writer {
        ctx,
        name: conf.name.clone(),
        dir: conf.dir.clone(),
        version: "sim".into(),
        targets: conf.targets.clone(),
        hello: false,
        spread,
        interval: Duration::from_millis(conf.interval_ms),
        status: Mutex::new(WriterStatus::default()),
    };
    start_writer(w, "loader")
}
