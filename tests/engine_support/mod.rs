//! A scripted cluster behind a fake [`Transport`], for in-process tests of the run engine with
//! tokio's paused clock. It understands exactly the scripts rollpilot sends (the probe
//! conversation, detached jobs, the lock) and the kinds' commands of the test config
//! (`fake stop|cleanup|install|start|switchover|offline|online HOST …`), keeps a small world
//! (versions, roles, sync and replication lag, the lock, a service taken offline) and lets a
//! test inject faults: failing commands, effects that land late (a stop whose node stays up, a
//! handover that completes late), a lag that shrinks or stays still, a node that drops its
//! connection for a while, an unreachable lock host, a lock broken by someone else, a job start
//! that never returns (a crash mid-start).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod tui;

use rollpilot::model::{Cluster, Node};
use rollpilot::probe::Poller;
use rollpilot::run::events::{Answer, Command, Event, Question, QuestionKind, RunEnd};
use rollpilot::run::executor::{self, Mode, ResumeFrom, RunConfig};
use rollpilot::run::journal::{self, RunState};
use rollpilot::transport::{BoxFuture, CommandOutput, Conversation, RemoteCommand, Transport, TransportError};
use semver::Version;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// An active/passive pair (n1 active) with explicit switchover.
pub const PAIR: &str = r#"
[cluster]
name = "fake"
target = "1.1.0"
profile = "active-passive"
compat = "same-major"
failback = "always"
transport = "local"
job_dir = "/jobs"

[timeouts]
gate = "60s"
step = "120s"
refresh = "1s"
probe = "5s"

[lock]
lease = "30s"

[kinds.srv]
version = "fake version {host}"
status = "fake status {host}"
stop = "fake stop {host}"
install = "fake install {host} {version}"
start = "fake start {host}"
switchover = "fake switchover {host} {peer}"

[kinds.srv.parse]
version = { regex = 'version (\S+)' }
role = { regex = 'role=(\S+)' }
sync = { regex = 'sync=(\S+)' }

[[groups]]
name = "db"
type = "server"
kind = "srv"
hosts = ["n1", "n2"]
"#;

/// Three peers, upgraded one at a time in any order.
pub const PEERS: &str = r#"
[cluster]
name = "fake"
target = "1.1.0"
profile = "any-order"
compat = "any"
failback = "never"
transport = "local"
job_dir = "/jobs"

[timeouts]
gate = "60s"
step = "120s"
refresh = "1s"
probe = "5s"

[lock]
lease = "30s"

[kinds.node]
version = "fake version {host}"
status = "fake status {host}"
stop = "fake stop {host}"
install = "fake install {host} {version}"
start = "fake start {host}"

[kinds.node.parse]
version = { regex = 'version (\S+)' }
role = { regex = 'role=(\S+)', map = { "active" = "none", "passive" = "none", "stopped" = "stopped" } }

[[groups]]
name = "peers"
type = "peer"
kind = "node"
hosts = ["p1", "p2", "p3"]
"#;

/// Two independent active/passive pairs (n1, n3 active) upgraded side by side
/// (`parallel_groups = 2`).
pub const TWO_PAIRS: &str = r#"
[cluster]
name = "fake"
target = "1.1.0"
profile = "active-passive"
compat = "same-major"
failback = "never"
transport = "local"
job_dir = "/jobs"
parallel_groups = 2

[timeouts]
gate = "60s"
step = "120s"
refresh = "1s"
probe = "5s"

[lock]
lease = "30s"

[kinds.srv]
version = "fake version {host}"
status = "fake status {host}"
stop = "fake stop {host}"
install = "fake install {host} {version}"
start = "fake start {host}"
switchover = "fake switchover {host} {peer}"

[kinds.srv.parse]
version = { regex = 'version (\S+)' }
role = { regex = 'role=(\S+)' }
sync = { regex = 'sync=(\S+)' }

[[groups]]
name = "db"
type = "server"
kind = "srv"
hosts = ["n1", "n2"]

[[groups]]
name = "db2"
type = "server"
kind = "srv"
hosts = ["n3", "n4"]
"#;

/// Six peers upgraded three at a time (`max_unavailable = 3`); `{extra}` is replaced by more
/// group keys (`max_failures = 1`).
pub const BATCH: &str = r#"
[cluster]
name = "fake"
target = "1.1.0"
profile = "any-order"
compat = "any"
failback = "never"
transport = "local"
job_dir = "/jobs"

[timeouts]
gate = "60s"
step = "120s"
refresh = "1s"
probe = "5s"

[lock]
lease = "30s"

[kinds.node]
version = "fake version {host}"
status = "fake status {host}"
stop = "fake stop {host}"
install = "fake install {host} {version}"
start = "fake start {host}"

[kinds.node.parse]
version = { regex = 'version (\S+)' }
role = { regex = 'role=(\S+)', map = { "active" = "none", "passive" = "none", "stopped" = "stopped" } }

[[groups]]
name = "peers"
type = "peer"
kind = "node"
max_unavailable = 3
{extra}
hosts = ["p1", "p2", "p3", "p4", "p5", "p6"]
"#;

/// Three peers whose kind has every run-level step: preflight, before (`freeze`) and restore
/// (`thaw`), drain/undrain, a cluster health check and finalize as the point of no return.
pub const RUN_STEPS: &str = r#"
[cluster]
name = "fake"
target = "1.1.0"
profile = "any-order"
compat = "any"
failback = "never"
transport = "local"
job_dir = "/jobs"

[timeouts]
gate = "60s"
step = "120s"
refresh = "1s"
probe = "5s"

[lock]
lease = "30s"

[kinds.node]
workdir = "/srv/node"
version = "fake version {host}"
status = "fake status {host}"
stop = "fake stop {host}"
install = "fake install {host} {version}"
start = "fake start {host}"
preflight = "fake preflight {host} {version}"
before = "fake freeze {host}"
restore = "fake thaw {host}"
drain = "fake drain {host}"
undrain = "fake undrain {host}"
cluster_health = "fake health {host}"
finalize = "fake finalize {host} {version}"
point_of_no_return = "finalize"

[kinds.node.parse]
version = { regex = 'version (\S+)' }
role = { regex = 'role=(\S+)', map = { "active" = "none", "passive" = "none", "stopped" = "stopped" } }

[[groups]]
name = "peers"
type = "peer"
kind = "node"
hosts = ["p1", "p2", "p3"]
"#;

/// The Terracotta example's shape (two stripes, a client per region, the WAN orchestrators),
/// with the fake's commands: the TUI tests drive the real engine over it.
pub const TERRACOTTA: &str = r#"
[cluster]
name = "bigmemory-prod"
target = "4.2.1"
profile = "terracotta"
compat = "same-minor"
persistent = true
failback = "ask"
transport = "local"
job_dir = "/jobs"

[timeouts]
gate = "15m"
step = "10m"
refresh = "2s"
probe = "15s"

[lock]
host = "tc-east-1"
lease = "2m"

[kinds.server]
version = "fake version {host}"
status = "fake status {host}"
# The fake reads the verb and the host; the rest is there so the dialogs carry a command as long
# as the real one.
stop = "fake stop {host} via /opt/terracotta/terracotta/server/bin/stop-tc-server.sh -f /etc/terracotta/tc-config.xml -n {host}"
install = "fake install {host} {version}"
start = "fake start {host}"

[kinds.server.parse]
version = { regex = 'version (\S+)' }
role = { regex = 'role=(\S+)' }
sync = { regex = 'sync=(\S+)' }
health = { from = "status", regex = 'role=(\S+)', map = { "active" = "ok", "passive" = "ok", "stopped" = "failed" }, default = "failed" }

[kinds.client]
version = "fake version {host}"
status = "fake status {host}"
stop = "fake stop {host}"
install = "fake install {host} {version}"
start = "fake start {host}"

[kinds.client.parse]
version = { regex = 'version (\S+)' }
role = { regex = 'role=(\S+)', map = { "active" = "none", "passive" = "none", "stopped" = "stopped" } }
health = { from = "status", regex = 'role=(\S+)', map = { "active" = "ok", "passive" = "ok", "stopped" = "failed" }, default = "failed" }

[kinds.orchestrator]
version = "fake version {host}"
status = "fake status {host}"
stop = "fake stop {host}"
install = "fake install {host} {version}"
start = "fake start {host}"

[kinds.orchestrator.parse]
version = { regex = 'version (\S+)' }
role = { regex = 'role=(\S+)' }
health = { from = "status", regex = 'role=(\S+)', map = { "active" = "ok", "passive" = "ok", "stopped" = "failed" }, default = "failed" }

[[groups]]
name = "east"
type = "server"
region = "us-east"
hosts = ["tc-east-1", "tc-east-2"]

[[groups]]
name = "west"
type = "server"
region = "eu-west"
hosts = ["tc-west-1", "tc-west-2"]

[[groups]]
name = "app-east"
type = "client"
servers = "east"
batch = 1
hosts = ["app-east-1"]

[[groups]]
name = "app-west"
type = "client"
servers = "west"
batch = 1
hosts = ["app-west-1"]

[[groups]]
name = "wan"
type = "orchestrator"
reconnect_resync = true
hosts = [{ name = "wan-east", role = "master" }, { name = "wan-west", role = "standby" }]
"#;

/// The Exchange 2003 example's shape (config/exchange.toml) with the fake's commands: an
/// active/passive pair serving one virtual server, whose old data is cleaned up after each stop,
/// and a virus scanner on both nodes that can only be upgraded with the service offline.
pub const EXCHANGE: &str = r#"
[cluster]
name = "mail-cluster"
target = "1.1.0"
profile = "active-passive"
compat = "same-major"
failback = "always"
transport = "local"
job_dir = "/jobs"

[timeouts]
gate = "60s"
step = "120s"
refresh = "1s"
probe = "5s"

[lock]
lease = "30s"

[kinds.exchange]
version = "fake version {host}"
status = "fake status {host}"
stop = "fake stop {host}"
cleanup = "fake cleanup {host}"
install = "fake install {host} {version}"
start = "fake start {host}"
switchover = "fake switchover {host} {peer}"

[kinds.exchange.parse]
version = { regex = 'version (\S+)' }
role = { regex = 'role=(\S+)' }
sync = { regex = 'sync=(\S+)' }

[kinds.scanner]
version = "fake version {host}"
install = "fake install {host} {version}"
offline = "fake offline {host}"
online = "fake online {host}"

[kinds.scanner.parse]
version = { regex = 'version (\S+)' }

[[groups]]
name = "mail"
type = "server"
kind = "exchange"
hosts = ["node1", "node2"]

[[groups]]
name = "antivirus"
type = "component"
kind = "scanner"
service = "mail"
hosts = ["node1-av", "node2-av"]
"#;

/// `config` whose passives report their replication lag in bytes, in sync at 1 MiB or less:
/// a check waiting for a sync shows the lag ("syncing (lag 4.0 GiB)") and how it moves.
pub fn with_lag(config: &str) -> String {
    config.replace("sync = { regex = 'sync=(\\S+)' }", "sync = { regex = 'lag=(\\d+)', max = \"1MiB\" }")
}

/// One node of the world.
#[derive(Debug, Clone)]
pub struct NodeState {
    pub installed: Version,
    pub running: Option<Version>,
    pub active: bool,
    /// When a started passive reaches sync (paused-clock time).
    pub in_sync_at: Option<Instant>,
    /// Its group: failover and the active role stay within it.
    pub group: String,
}

/// A detached job.
#[derive(Debug, Clone)]
pub struct Job {
    pub node: String,
    pub command: String,
    pub done_at: Instant,
    pub rc: i32,
    pub output: String,
    pub applied: bool,
}

/// A change made to the world right when a job whose command starts with the key ends (someone
/// else acting on the cluster at a precise moment).
pub type OnDone = (String, Box<dyn FnMut(&mut World) + Send>);

/// Everything the fake cluster knows.
pub struct World {
    /// Changes made when matching jobs end.
    pub on_done: Vec<OnDone>,
    pub nodes: BTreeMap<String, NodeState>,
    pub jobs: HashMap<String, Job>,
    /// Every command started, in order ("install n2 1.1.0").
    pub started: Vec<String>,
    /// Installs of these nodes fail this many more times.
    pub fail_install: HashMap<String, u32>,
    /// A node started passive syncs after this long.
    pub sync_after: HashMap<String, Duration>,
    /// Lock: owner token and lease end (world seconds).
    pub lock_owner: Option<(String, i64)>,
    /// The owner file's other lines (operator, machine, pid, run), as the acquirer wrote them.
    pub lock_info: String,
    /// The lock host stops answering once this many jobs were started.
    pub lock_unreachable_after: Option<usize>,
    /// Stops of these nodes fail this many more times.
    pub fail_stop: HashMap<String, u32>,
    /// Any command "VERB HOST" fails this many more times (before it has any effect).
    pub fail: HashMap<String, u32>,
    /// How long a command "VERB HOST" takes on its host (default: a few seconds).
    pub takes: HashMap<String, Duration>,
    pub lock_unreachable: bool,
    /// Job starts whose command contains this never return (rollpilot "crashes" mid-start).
    pub hang_start: Option<String>,
    pub epoch: Instant,
    /// Commands ("preflight p2", "start p3") that fail this many more times, with exit 1.
    pub fail_verb: HashMap<String, u32>,
    /// A setting frozen by `freeze` and not yet thawed.
    pub frozen: bool,
    /// Nodes drained and not undrained.
    pub drained: std::collections::BTreeSet<String>,
    /// The version the cluster was finalized at.
    pub finalized: Option<String>,
    /// The working directory of every job started, by command ("install p1 1.1.0" → dir).
    pub job_workdirs: Vec<(String, String)>,
    /// Extra text a job "VERB HOST" prints before its own (a kit's noisy output, escapes).
    pub prints: HashMap<String, String>,
    /// Hosts whose probes fail with this text (the probe's ssh cannot connect).
    pub probes_fail: BTreeMap<String, String>,
    /// Hosts whose jobs cannot be looked at (ssh fails for the job scripts): a host rebooting.
    pub jobs_unreachable: std::collections::BTreeSet<String>,
    /// When each command started and when it ends (paused-clock time), in start order.
    pub spans: Vec<(String, Instant, Instant)>,
    /// The next command "VERB HOST" ends well, but its effect lands this long after it ended (a
    /// stop whose node stays up a while, a handover that completes late). Used once.
    pub late: HashMap<String, Duration>,
    /// Effects of commands that ended, landing at their time: (when, command).
    pub pending: Vec<(Instant, String)>,
    /// A syncing passive's lag shrinks at this many bytes a second and reaches 0 as it syncs;
    /// without an entry its lag stays at [`STILL_LAG`] until it syncs (a stuck replication).
    pub lag_per_sec: HashMap<String, u64>,
    /// Hosts whose probes cannot connect until then (a node that dropped off the network).
    pub unreachable_until: HashMap<String, Instant>,
    /// The nodes serving the service an `offline` command takes down (the Exchange virtual server).
    pub service_nodes: std::collections::BTreeSet<String>,
    /// The member that served before `offline`; `online` makes it serve again.
    pub offline_active: Option<String>,
    /// Every host whose old backups a `cleanup` deleted, in order.
    pub cleaned: Vec<String>,
}

/// The lag a syncing passive reports when nothing says how it shrinks: 4 GiB.
pub const STILL_LAG: u64 = 4 << 30;

impl World {
    fn now_secs(&self) -> i64 {
        1_000_000 + (Instant::now() - self.epoch).as_secs() as i64
    }

    /// The version a node reports.
    pub fn version(&self, n: &str) -> String {
        self.nodes[n].installed.to_string()
    }

    fn apply(&mut self, command: &str) -> (i32, String) {
        let w: Vec<&str> = command.split_whitespace().collect();
        let (verb, host) = (w.get(1).copied().unwrap_or(""), w.get(2).copied().unwrap_or("").to_string());
        let now = Instant::now();
        if let Some(left) = self.fail.get_mut(&format!("{verb} {host}"))
            && *left > 0
        {
            *left -= 1;
            return (1, format!("{verb} on {host} failed: injected fault\n"));
        }
        let key = format!("{verb} {host}");
        if let Some(left) = self.fail_verb.get_mut(&key)
            && *left > 0
        {
            *left -= 1;
            return (1, format!("{key} failed: kit /opt/kits/x-{}.tar.gz missing\n", w.get(3).unwrap_or(&"")));
        }
        match verb {
            "preflight" => (0, format!("{host}: kit present, 12 GiB free\n")),
            "freeze" => {
                self.frozen = true;
                (0, "time_until_store_dead = 30m\n".into())
            }
            "thaw" => {
                self.frozen = false;
                (0, "time_until_store_dead reset\n".into())
            }
            "drain" => {
                self.drained.insert(host.clone());
                (0, format!("{host} drained\n"))
            }
            "undrain" => {
                self.drained.remove(&host);
                (0, format!("{host} ready\n"))
            }
            "health" => (0, "all nodes live\n".into()),
            "cleanup" => {
                self.cleaned.push(host.clone());
                (0, format!("deleted the old backups of {host}\n"))
            }
            "offline" => {
                // The service of `host`'s component goes offline: its active member stops
                // serving (it still runs), remembered to serve again when it comes back online.
                for (name, n) in self.nodes.iter_mut() {
                    if n.active && n.running.is_some() && self.service_nodes.contains(name) {
                        n.active = false;
                        self.offline_active = Some(name.clone());
                    }
                }
                (0, "the service is offline\n".into())
            }
            "online" => {
                if let Some(name) = self.offline_active.take()
                    && let Some(n) = self.nodes.get_mut(&name)
                {
                    n.active = true;
                }
                (0, "the service is online\n".into())
            }
            "finalize" => {
                self.finalized = Some(w.get(3).copied().unwrap_or("").to_string());
                (0, "finalized\n".into())
            }
            "stop" => {
                let left = self.fail_stop.entry(host.clone()).or_insert(0);
                if *left > 0 {
                    *left -= 1;
                    return (1, format!("stop of {host} failed: service refused to stop\n"));
                }
                let was_active = self.nodes[&host].active;
                let group = self.nodes[&host].group.clone();
                let n = self.nodes.get_mut(&host).unwrap();
                n.running = None;
                n.active = false;
                n.in_sync_at = None;
                if was_active
                    && let Some(other) = self.nodes.iter_mut().find(|(k, s)| {
                        **k != host && s.group == group && s.running.is_some() && s.in_sync_at.is_some_and(|t| t <= now)
                    })
                {
                    other.1.active = true;
                }
                (0, format!("stopped {host}\n"))
            }
            "install" => {
                let left = self.fail_install.entry(host.clone()).or_insert(0);
                if *left > 0 {
                    *left -= 1;
                    return (1, format!("install of {} on {host} failed: No space left on device\n", w[3]));
                }
                self.nodes.get_mut(&host).unwrap().installed = Version::parse(w[3]).unwrap();
                (0, format!("installed {} on {host}\n", w[3]))
            }
            "start" => {
                let group = self.nodes[&host].group.clone();
                let any_active =
                    self.nodes.iter().any(|(k, s)| *k != host && s.group == group && s.active && s.running.is_some());
                let delay = self.sync_after.get(&host).copied().unwrap_or(Duration::from_secs(2));
                let n = self.nodes.get_mut(&host).unwrap();
                n.running = Some(n.installed.clone());
                n.active = !any_active;
                n.in_sync_at = Some(now + delay);
                (0, format!("started {host}\n"))
            }
            "switchover" => {
                let peer = w.get(3).copied().unwrap_or("").to_string();
                self.nodes.get_mut(&host).unwrap().active = false;
                if let Some(p) = self.nodes.get_mut(&peer) {
                    p.active = true;
                }
                (0, format!("moved the active role from {host} to {peer}\n"))
            }
            _ => (127, format!("fake: unknown command {command}\n")),
        }
    }

    fn status(&self, host: &str) -> String {
        let n = &self.nodes[host];
        if n.running.is_none() {
            return "role=stopped sync=n/a lag=0".into();
        }
        if n.active {
            return "role=active sync=n/a lag=0".into();
        }
        let sync = if n.in_sync_at.is_some_and(|t| t <= Instant::now()) { "in-sync" } else { "syncing" };
        format!("role=passive sync={sync} lag={}", self.lag(host))
    }

    /// The replication lag of a node in bytes: 0 once in sync; while syncing, shrinking at its
    /// `lag_per_sec` to reach 0 when it syncs, or [`STILL_LAG`] all along.
    pub fn lag(&self, host: &str) -> u64 {
        let n = &self.nodes[host];
        let now = Instant::now();
        match n.in_sync_at {
            Some(t) if t <= now => 0,
            Some(t) => match self.lag_per_sec.get(host) {
                Some(rate) => rate * (t - now).as_secs().max(1),
                None => STILL_LAG,
            },
            None => STILL_LAG,
        }
    }

    /// Finishes jobs whose time has come (their effect happens when they end).
    fn settle(&mut self) {
        let now = Instant::now();
        let landed: Vec<String> = self.pending.iter().filter(|(t, _)| *t <= now).map(|(_, c)| c.clone()).collect();
        self.pending.retain(|(t, _)| *t > now);
        for cmd in landed {
            self.apply(&cmd);
        }
        let due: Vec<String> =
            self.jobs.iter().filter(|(_, j)| !j.applied && j.done_at <= now).map(|(k, _)| k.clone()).collect();
        for k in due {
            let cmd = self.jobs[&k].command.clone();
            let short: String =
                cmd.trim_start_matches("fake ").split_whitespace().take(2).collect::<Vec<_>>().join(" ");
            let (rc, mut out) = match self.late.remove(&short) {
                Some(after) => {
                    let at = self.jobs[&k].done_at + after;
                    self.pending.push((at, cmd.clone()));
                    (0, format!("{short}: accepted; it takes effect in the background\n"))
                }
                None => self.apply(&cmd),
            };
            if let Some(extra) = self.prints.get(&short) {
                out = format!("{extra}{out}");
            }
            let j = self.jobs.get_mut(&k).unwrap();
            j.rc = rc;
            j.output.push_str(&out);
            j.applied = true;
            let short = cmd.trim_start_matches("fake ").to_string();
            let mut hooks = std::mem::take(&mut self.on_done);
            for (prefix, f) in hooks.iter_mut() {
                if short.starts_with(prefix.as_str()) {
                    f(self);
                }
            }
            self.on_done = hooks;
        }
    }
}

/// The fake transport over a shared [`World`].
pub struct Fake {
    pub world: Arc<Mutex<World>>,
}

/// Splits a shell line into words (single and double quotes, backslashes).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut any = false;
    let mut it = line.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\'' => {
                any = true;
                for d in it.by_ref() {
                    if d == '\'' {
                        break;
                    }
                    cur.push(d);
                }
            }
            '"' => {
                any = true;
                for d in it.by_ref() {
                    if d == '"' {
                        break;
                    }
                    cur.push(d);
                }
            }
            '\\' => {
                if let Some(d) = it.next() {
                    cur.push(d);
                    any = true;
                }
            }
            c if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn token_in(script: &str) -> String {
    let i = script.find("token=").unwrap() + "token=".len();
    script[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || "._@-".contains(*c)).collect()
}

fn ok(stdout: String) -> Result<CommandOutput, TransportError> {
    Ok(CommandOutput { status: Some(0), stdout, stderr: String::new(), truncated: false })
}

impl Fake {
    fn lock(&self, script: &str) -> Result<CommandOutput, TransportError> {
        let mut w = self.world.lock().unwrap();
        let now = w.now_secs();
        if script.contains(".broken.") {
            let t = token_in(script);
            if w.lock_owner.as_ref().is_some_and(|(o, _)| *o == t) {
                w.lock_owner = None;
            }
            return ok(String::new());
        }
        if script.contains("rp-lock: acquired") {
            if let Some((o, until)) = &w.lock_owner {
                let info = if w.lock_info.is_empty() {
                    "operator=someone\nmachine=elsewhere\npid=1\nrun=other-run\n".to_string()
                } else {
                    w.lock_info.clone()
                };
                return ok(format!(
                    "rp-lock: held\nnow={now}\ntoken={o}\n{info}since={}\nlease_until={until}\n",
                    now - 100
                ));
            }
            let line = script.lines().find(|l| l.contains("printf 'token=%s")).unwrap();
            let from = line.find("printf 'token=%s").unwrap();
            let ws = words(line[from..].split(" >").next().unwrap());
            let token = ws[2].clone();
            w.lock_info = format!("operator={}\nmachine={}\npid={}\nrun={}\n", ws[3], ws[4], ws[5], ws[6]);
            w.lock_owner = Some((token, now + 30));
            return ok("rp-lock: acquired\n".into());
        }
        if script.contains("rp-lock: renewed") {
            let t = token_in(script);
            return ok(match &mut w.lock_owner {
                Some((o, until)) if *o == t => {
                    *until = now + 30;
                    "rp-lock: renewed\n".into()
                }
                _ => "rp-lock: lost\n".into(),
            });
        }
        if script.contains("rm -rf") {
            let t = token_in(script);
            if w.lock_owner.as_ref().is_some_and(|(o, _)| *o == t) {
                w.lock_owner = None;
            }
            return ok(String::new());
        }
        ok(format!("now={now}\n"))
    }

    fn job(&self, node: &Node, script: &str) -> Option<Result<CommandOutput, TransportError>> {
        let dir = words(script.lines().next()?.strip_prefix("d=")?).first()?.clone();
        let mut w = self.world.lock().unwrap();
        w.settle();
        if script.contains("rp-job: started") {
            if w.jobs.contains_key(&dir) {
                return Some(ok("rp-job: exists\n".into()));
            }
            let line = script.lines().find(|l| l.starts_with("printf '%s\\n' "))?;
            let command = words(line.split(" >\"$d/cmd\"").next()?)[2].clone();
            let verb = command.split_whitespace().nth(1).unwrap_or("").to_string();
            let short = command.trim_start_matches("fake ").to_string();
            let key: String = short.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
            let took = match (w.takes.get(&key), verb.as_str()) {
                (Some(d), _) => *d,
                (None, "install") => Duration::from_secs(3),
                _ => Duration::from_secs(1),
            };
            let workdir = script
                .lines()
                .find(|l| l.contains("rp-job \"$d\" "))
                .and_then(|l| words(l.split("rp-job \"$d\" ").nth(1)?).first().cloned())
                .unwrap_or_default();
            w.job_workdirs.push((short.clone(), workdir));
            w.spans.push((short.clone(), Instant::now(), Instant::now() + took));
            w.started.push(short);
            w.jobs.insert(
                dir,
                Job {
                    node: node.name.clone(),
                    command,
                    done_at: Instant::now() + took,
                    rc: 0,
                    output: String::new(),
                    applied: false,
                },
            );
            return Some(ok("rp-job: started\n".into()));
        }
        if script.contains("rp-state:") {
            let from: usize = script
                .split("tail -c +")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .and_then(|s| s.parse::<usize>().ok())
                .map(|n| n - 1)
                .unwrap_or(0);
            return Some(ok(match w.jobs.get(&dir) {
                None => "rp-state: absent\nrp-size: 0\nrp-out:\n".into(),
                Some(j) => {
                    let state = if j.applied { format!("done {}", j.rc) } else { "running".into() };
                    let out = j.output.get(from..).unwrap_or("");
                    format!("rp-state: {state}\nrp-size: {}\nrp-out:\n{out}", j.output.len())
                }
            }));
        }
        None
    }
}

impl Transport for Fake {
    fn run<'a>(
        &'a self,
        node: &'a Node,
        cmd: &'a RemoteCommand,
    ) -> BoxFuture<'a, Result<CommandOutput, TransportError>> {
        Box::pin(async move {
            let script = cmd.script.as_str();
            if script.contains("rp-lock") || script.contains(".broken.") || script.contains("$d/owner") {
                let mut w = self.world.lock().unwrap();
                if w.lock_unreachable_after.is_some_and(|n| w.started.len() >= n) {
                    w.lock_unreachable_after = None;
                    w.lock_unreachable = true;
                }
                let unreachable = w.lock_unreachable;
                drop(w);
                if unreachable {
                    return Err(TransportError::Unreachable { host: node.name.clone(), detail: "no route".into() });
                }
                return self.lock(script);
            }
            if script.contains("rp-job: started") {
                let hang = self.world.lock().unwrap().hang_start.clone();
                if let Some(h) = hang
                    && script.contains(&h)
                {
                    self.world.lock().unwrap().hang_start = None;
                    std::future::pending::<()>().await;
                }
            }
            if script.contains("rp-state:") && self.world.lock().unwrap().jobs_unreachable.contains(&node.name) {
                return Err(TransportError::Unreachable { host: node.name.clone(), detail: "no route".into() });
            }
            if let Some(r) = self.job(node, script) {
                return r;
            }
            if script.contains("rp-job $n") {
                let w = self.world.lock().unwrap();
                let mut out = String::new();
                for (dir, j) in &w.jobs {
                    if j.node == node.name && !j.applied {
                        out.push_str(&format!("rp-job {} running\n", dir.rsplit('/').next().unwrap()));
                    }
                }
                return ok(out);
            }
            ok(String::new())
        })
    }

    fn converse<'a>(
        &'a self,
        node: &'a Node,
        talk: &'a Conversation<'a>,
    ) -> BoxFuture<'a, Result<String, TransportError>> {
        Box::pin(async move {
            let mut w = self.world.lock().unwrap();
            w.settle();
            if let Some(detail) = w.probes_fail.get(&node.name) {
                return Err(TransportError::Unreachable { host: node.name.clone(), detail: detail.clone() });
            }
            if w.unreachable_until.get(&node.name).is_some_and(|t| Instant::now() < *t) {
                return Err(TransportError::Unreachable { host: node.name.clone(), detail: "connection reset".into() });
            }
            let n = talk.request;
            let mut out = String::new();
            if talk.agent.contains(":version:begin") {
                out.push_str(&format!("@@{n}:version:begin\nversion {}\n@@{n}:version:rc=0\n", w.version(&node.name)));
            }
            if talk.agent.contains(":status:begin") {
                out.push_str(&format!("@@{n}:status:begin\n{}\n@@{n}:status:rc=0\n", w.status(&node.name)));
            }
            Ok(out)
        })
    }

    fn forget<'a>(&'a self, _node: &'a Node) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// A world where every node of `cluster` runs `version`, the first of each server group active.
pub fn world(cluster: &Cluster, version: &str) -> Arc<Mutex<World>> {
    let mut nodes = BTreeMap::new();
    for g in &cluster.groups {
        for (i, n) in g.nodes.iter().enumerate() {
            let v = Version::parse(version).unwrap();
            nodes.insert(
                n.name.clone(),
                NodeState {
                    installed: v.clone(),
                    running: Some(v),
                    active: i == 0,
                    in_sync_at: Some(Instant::now()),
                    group: g.name.clone(),
                },
            );
        }
    }
    let service_nodes = cluster
        .groups
        .iter()
        .filter(|g| g.gtype == rollpilot::model::GroupType::Server)
        .flat_map(|g| g.nodes.iter().map(|n| n.name.clone()))
        .collect();
    Arc::new(Mutex::new(World {
        on_done: Vec::new(),
        nodes,
        jobs: HashMap::new(),
        started: Vec::new(),
        fail_install: HashMap::new(),
        sync_after: HashMap::new(),
        lock_owner: None,
        lock_info: String::new(),
        lock_unreachable_after: None,
        fail_stop: HashMap::new(),
        fail: HashMap::new(),
        takes: HashMap::new(),
        lock_unreachable: false,
        hang_start: None,
        epoch: Instant::now(),
        fail_verb: HashMap::new(),
        frozen: false,
        drained: Default::default(),
        finalized: None,
        job_workdirs: Vec::new(),
        jobs_unreachable: Default::default(),
        prints: HashMap::new(),
        probes_fail: BTreeMap::new(),
        spans: Vec::new(),
        late: HashMap::new(),
        pending: Vec::new(),
        lag_per_sec: HashMap::new(),
        unreachable_until: HashMap::new(),
        service_nodes,
        offline_active: None,
        cleaned: Vec::new(),
    }))
}

/// A test cluster from one of the configs above, its state directory, and the world.
pub struct Lab {
    /// `--pause` for the runs started from now on.
    pub pause: std::cell::Cell<Option<rollpilot::run::events::PausePolicy>>,
    /// The target of the runs (1.1.0 unless [`Lab::with_versions`] says otherwise).
    pub target: std::cell::RefCell<Option<Version>>,
    pub cluster: Arc<Cluster>,
    pub world: Arc<Mutex<World>>,
    pub dir: tempfile::TempDir,
}

impl Lab {
    pub fn new(config: &str) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.toml"), config).unwrap();
        let cluster = Arc::new(rollpilot::config::parse_str(config, "c.toml", dir.path()).unwrap());
        let world = world(&cluster, "1.0.0");
        Lab { pause: Default::default(), target: Default::default(), cluster, world, dir }
    }

    /// A lab over `config` whose nodes run `from`, upgraded to `to` (the target the run is told).
    pub fn with_versions(config: &str, from: &str, to: &str) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.toml"), config).unwrap();
        let cluster = Arc::new(rollpilot::config::parse_str(config, "c.toml", dir.path()).unwrap());
        let world = world(&cluster, from);
        let lab = Lab { pause: Default::default(), target: Default::default(), cluster, world, dir };
        lab.target.replace(Some(Version::parse(to).unwrap()));
        lab
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn config(&self, resume: Option<ResumeFrom>) -> RunConfig {
        RunConfig {
            cluster: self.cluster.clone(),
            config_path: self.dir.path().join("c.toml"),
            config_hash: "x".into(),
            target: self.target.borrow().clone().unwrap_or_else(|| Version::parse("1.1.0").unwrap()),
            context: Default::default(),
            state_dir: self.state_dir(),
            operator: "tester".into(),
            machine: "lab".into(),
            mode: Mode::Headless,
            resume,
            resume_command: "rollpilot resume -c c.toml".into(),
            pause: self.pause.get(),
            deadline: None,
        }
    }

    /// The newest run's journal, replayed.
    pub fn journal(&self) -> (Vec<journal::Entry>, RunState) {
        // Run ids order by the second they began: two runs of one test can share it, so the
        // newest is the one written last.
        let r = rollpilot::run::runs::list(&self.state_dir(), None)
            .into_iter()
            .max_by_key(|r| std::fs::metadata(&r.journal).and_then(|m| m.modified()).ok())
            .expect("a run");
        rollpilot::run::runs::load(&r).unwrap()
    }

    /// Runs the engine to its end, answering each question with `decide`, calling `hook` on
    /// every event (to change the world at a precise moment).
    pub async fn run(
        &self,
        resume: bool,
        decide: impl FnMut(&Question) -> (Answer, Option<String>) + Send + 'static,
        hook: impl FnMut(&Event, &Arc<Mutex<World>>) + Send + 'static,
    ) -> Outcome {
        let resume = resume.then(|| {
            let r = rollpilot::run::runs::resumable(&self.state_dir(), &self.cluster.name).unwrap().unwrap();
            ResumeFrom { run: r.0.run.clone(), journal: r.0.journal.clone(), state: r.2 }
        });
        let (task, events) = self.spawn(self.config(resume), decide, hook);
        let end = task.await.unwrap();
        let events = events.await.unwrap();
        Outcome { end, events }
    }

    /// Starts the engine and returns its task and the collector of its events (for tests
    /// that kill it midway, as a crash would).
    pub fn spawn(
        &self,
        cfg: RunConfig,
        mut decide: impl FnMut(&Question) -> (Answer, Option<String>) + Send + 'static,
        mut hook: impl FnMut(&Event, &Arc<Mutex<World>>) + Send + 'static,
    ) -> (tokio::task::JoinHandle<RunEnd>, tokio::task::JoinHandle<Vec<Event>>) {
        let transport: Arc<dyn Transport> = Arc::new(Fake { world: self.world.clone() });
        let poller = Poller::new(self.cluster.clone(), transport.clone());
        let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let world = self.world.clone();
        let collector = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(e) = ev_rx.recv().await {
                hook(&e, &world);
                if let Event::Ask(q) = &e {
                    let (answer, typed) = decide(q);
                    let _ = cmd_tx.send(Command::Answer { question: q.id, answer, typed });
                }
                seen.push(e);
            }
            seen
        });
        let task = tokio::spawn(executor::run(cfg, transport, poller, ev_tx, cmd_rx));
        (task, collector)
    }

    /// Starts the engine with nobody answering: the caller drives it through the returned
    /// channels (as the TUI does), and sees the poller's snapshots.
    pub fn spawn_raw(
        &self,
        cfg: RunConfig,
    ) -> (tokio::task::JoinHandle<RunEnd>, mpsc::UnboundedReceiver<Event>, mpsc::UnboundedSender<Command>, Arc<Poller>)
    {
        let transport: Arc<dyn Transport> = Arc::new(Fake { world: self.world.clone() });
        let poller = Poller::new(self.cluster.clone(), transport.clone());
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(executor::run(cfg, transport, poller.clone(), ev_tx, cmd_rx));
        (task, ev_rx, cmd_tx, poller)
    }

    pub fn cfg(&self, resume: bool) -> RunConfig {
        let resume = resume.then(|| {
            let r = rollpilot::run::runs::resumable(&self.state_dir(), &self.cluster.name).unwrap().unwrap();
            ResumeFrom { run: r.0.run.clone(), journal: r.0.journal.clone(), state: r.2 }
        });
        self.config(resume)
    }
}

/// How a run went.
pub struct Outcome {
    pub end: RunEnd,
    pub events: Vec<Event>,
}

impl Outcome {
    pub fn questions(&self) -> Vec<&Question> {
        self.events.iter().filter_map(|e| if let Event::Ask(q) = e { Some(q) } else { None }).collect()
    }

    pub fn finished_message(&self) -> String {
        self.events
            .iter()
            .find_map(|e| if let Event::Finished { message, .. } = e { Some(message.clone()) } else { None })
            .unwrap_or_default()
    }

    /// Every Progress event's (done, total).
    pub fn progress(&self) -> Vec<(usize, usize)> {
        self.events
            .iter()
            .filter_map(|e| if let Event::Progress { done, total, .. } = e { Some((*done, *total)) } else { None })
            .collect()
    }
}

/// Marks the lock's holder process as gone, as after a crash of the rollpilot that held it.
pub fn holder_crashed(world: &Arc<Mutex<World>>) {
    let mut w = world.lock().unwrap();
    let info: Vec<String> = w
        .lock_info
        .lines()
        .map(|l| if l.starts_with("pid=") { "pid=999999999".to_string() } else { l.to_string() })
        .collect();
    w.lock_info = info.join("\n") + "\n";
}

/// Proceeds with every confirmation, typing the name where needed; aborts anything else.
pub fn proceed(q: &Question) -> (Answer, Option<String>) {
    match q.kind {
        QuestionKind::Confirm | QuestionKind::Optional | QuestionKind::Typed => {
            (Answer::Proceed, Some(q.expected.clone()))
        }
        _ => (Answer::Abort, None),
    }
}

/// Nothing to hook.
pub fn no_hook(_: &Event, _: &Arc<Mutex<World>>) {}

/// The journal's records of one type, by their serialized `type`.
pub fn records(entries: &[journal::Entry], kind: &str) -> Vec<serde_json::Value> {
    entries.iter().map(|e| serde_json::to_value(e).unwrap()).filter(|v| v["type"] == kind).collect()
}

pub fn path_exists(p: &Path) -> bool {
    p.exists()
}
