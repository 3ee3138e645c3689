//! `sim up`: lay out the directory, build the kits, write every node's configuration and
//! `cluster.toml`, install and start every node through the config's own templates, and return
//! once the cluster is ready.

use super::SimInfo;
use super::conf::{
    self, ClientConf, ExConf, ExNode, HttpApi, LoaderConf, Member, Orchestrator, SbConf, SbMember, StripeConf, Target,
    WanConf,
};
use super::config_gen::{self, ConfigSpec, GroupEntry, HostEntry, q};
use super::error::{SimError, io_err};
use super::kits::{self, Product};
use super::layout::{self, Layout};
use super::node::exchange::{Quorum, write_quorum};
use super::procs;
use super::render;
use super::state::{HostRecord, HostRole, LoaderRecord, STATE_FORMAT, SimState, Topology};
use super::wire;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// One `--ssh-hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshHost {
    /// Address or name ssh connects to (must be on this machine: loopback).
    pub host: String,
    /// ssh port, when not 22.
    pub port: Option<u16>,
}

impl SshHost {
    /// Parses `HOST[:PORT],...`.
    pub fn parse_list(s: &str) -> Result<Vec<SshHost>, SimError> {
        let mut out = Vec::new();
        for item in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            let (host, port) = match item.rsplit_once(':') {
                Some((h, p)) => {
                    let port = p.parse::<u16>().map_err(|_| {
                        SimError::Usage(format!(
                            "--ssh-hosts: `{p}` in `{item}` is not a port; write HOST or HOST:PORT"
                        ))
                    })?;
                    (h.to_string(), Some(port))
                }
                None => (item.to_string(), None),
            };
            if host.is_empty()
                || host.starts_with('-')
                || !host.chars().all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
            {
                return Err(SimError::Usage(format!("--ssh-hosts: `{item}` is not a host; write HOST or HOST:PORT")));
            }
            out.push(SshHost { host, port });
        }
        if out.is_empty() {
            return Err(SimError::Usage("--ssh-hosts is empty; give HOST[:PORT],... one per simulated host".into()));
        }
        Ok(out)
    }
}

/// What `sim up` should create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpOptions {
    /// The simulator directory (created if missing; must be empty or an old simulator dir).
    pub dir: PathBuf,
    /// Which system to simulate.
    pub topology: Topology,
    /// Initial version of the main product (default: 4.2.0, 10.6.0 or 6.5.7226).
    pub version: Option<String>,
    /// Servers per Terracotta stripe (default 2; 1 means no mirror).
    pub stripe_size: Option<usize>,
    /// StreamBase nodes (default 3), for rehearsing batches on a big peer group.
    pub nodes: Option<usize>,
    /// Terracotta stripes (default 2: east and west), for rehearsing `parallel_groups`.
    pub stripes: Option<usize>,
    /// Terracotta servers keep their data on disk (default true).
    pub persistent: bool,
    /// Reach each host through ssh at these addresses, in config order (empty: local transport).
    pub ssh_hosts: Vec<SshHost>,
    /// Written as `[ssh] config_file`.
    pub ssh_config: Option<PathBuf>,
    /// The rollpilot binary the kits exec (default: this executable).
    pub engine: Option<PathBuf>,
    /// How long to wait for the cluster to be ready.
    pub ready_timeout: Duration,
    /// A rehearsal twin: the operator's own groups, member names and versions instead of the
    /// topology's fixed shape (see [`super::twin`]).
    pub shape: Option<super::twin::TwinShape>,
}

impl UpOptions {
    /// Defaults for a topology in a directory.
    pub fn new(dir: impl Into<PathBuf>, topology: Topology) -> UpOptions {
        UpOptions {
            dir: dir.into(),
            topology,
            version: None,
            stripe_size: None,
            nodes: None,
            stripes: None,
            persistent: true,
            ssh_hosts: Vec::new(),
            ssh_config: None,
            engine: None,
            ready_timeout: Duration::from_secs(90),
            shape: None,
        }
    }
}

/// The main product of a topology and its default initial version.
pub fn main_product(t: Topology) -> (Product, &'static str) {
    match t {
        Topology::Terracotta => (kits::TERRACOTTA_KIT, "4.2.0"),
        Topology::Streambase => (kits::STREAMBASE_KIT, "10.6.0"),
        Topology::Exchange => (kits::EXCHANGE_KIT, "6.5.7226"),
        Topology::Jsondb => (kits::JSONDB_KIT, "3.1.4"),
    }
}

const STEP: Duration = Duration::from_secs(60);

/// A host as planned: its record, how the config reaches it, its template variables.
struct Planned {
    rec: HostRecord,
    entry: HostEntry,
}

struct Plan {
    groups: Vec<(GroupEntry, Vec<Planned>)>,
    vars: Vec<(String, String)>,
    name: String,
    loaders: Vec<(LoaderRecord, Vec<Target>)>,
    evs: Option<(String, String, u16)>,
}

/// Creates and starts a simulated cluster; see [`UpOptions`].
pub fn up(opts: &UpOptions) -> Result<SimInfo, SimError> {
    let (product, default_version) = main_product(opts.topology);
    let version = opts.version.clone().unwrap_or_else(|| default_version.to_string());
    if crate::model::parse_loose(&version).is_none() || version.contains(['/', ' ', '\'', '"']) {
        return Err(SimError::Usage(format!("--version {version}: not a version; write it like {default_version}")));
    }
    let stripe = opts.stripe_size.unwrap_or(2);
    if opts.topology != Topology::Terracotta && (opts.stripe_size.is_some() || !opts.persistent) {
        return Err(SimError::Usage(format!(
            "--stripe-size and --not-persistent apply to the terracotta topology only, not {}",
            opts.topology.as_str()
        )));
    }
    if let Some(n) = opts.stripes {
        if opts.topology != Topology::Terracotta {
            return Err(SimError::Usage(format!(
                "--stripes applies to the terracotta topology only, not {}",
                opts.topology.as_str()
            )));
        }
        if !(1..=8).contains(&n) {
            return Err(SimError::Usage(format!("--stripes {n}: choose 1 to 8 Terracotta stripes")));
        }
    }
    if let Some(n) = opts.nodes {
        if opts.topology != Topology::Streambase {
            return Err(SimError::Usage(format!(
                "--nodes applies to the streambase topology only, not {}",
                opts.topology.as_str()
            )));
        }
        if !(1..=40).contains(&n) {
            return Err(SimError::Usage(format!("--nodes {n}: choose 1 to 40 StreamBase nodes")));
        }
    }
    if !(1..=3).contains(&stripe) {
        return Err(SimError::Usage(format!(
            "--stripe-size {stripe}: choose 1 (no mirror), 2 or 3 servers per stripe"
        )));
    }
    let engine = engine_path(opts.engine.as_deref())?;
    let layout = prepare_dir(&opts.dir)?;
    let result = create_and_start(opts, &layout, &engine, product, &version, stripe);
    if result.is_err() {
        // Leave nothing running behind a failed start.
        let _ = super::down::down(&layout.root);
    }
    result
}

fn engine_path(given: Option<&Path>) -> Result<PathBuf, SimError> {
    let engine = match given {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe().map_err(io_err("cannot find the rollpilot executable"))?,
    };
    let engine = engine.canonicalize().map_err(io_err(format!("engine {}", engine.display())))?;
    let ok = Command::new(&engine)
        .args(["sim", "node", "--help"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        return Err(SimError::Usage(format!(
            "{} is not a rollpilot binary with the simulator engine (`sim node`); pass the rollpilot executable",
            engine.display()
        )));
    }
    Ok(engine)
}

/// Makes the directory absolute and usable: new, empty, or a stopped simulator's.
fn prepare_dir(dir: &Path) -> Result<Layout, SimError> {
    let abs = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir().map_err(io_err("cannot read the current directory"))?.join(dir)
    };
    std::fs::create_dir_all(&abs).map_err(io_err(format!("cannot create {}", abs.display())))?;
    let abs = abs.canonicalize().map_err(io_err(format!("cannot resolve {}", abs.display())))?;
    let layout = Layout::new(&abs);
    if layout.state_file().exists() {
        if !super::down::live_processes(&layout)?.is_empty() {
            return Err(SimError::AlreadyRunning(abs));
        }
        for d in [
            layout.nodes(),
            layout.kits(),
            layout.root.join("faults"),
            layout.shared(),
            layout.loaders(),
            layout.lock(),
            layout.jobs(),
        ] {
            if d.exists() {
                std::fs::remove_dir_all(&d).map_err(io_err(format!("cannot clear {}", d.display())))?;
            }
        }
        for f in [layout.state_file(), layout.config_file(), layout.pids_log()] {
            let _ = std::fs::remove_file(f);
        }
    } else {
        let mut entries = std::fs::read_dir(&abs).map_err(io_err(format!("cannot list {}", abs.display())))?;
        if entries.next().is_some() {
            return Err(SimError::Usage(format!(
                "{} is not empty and holds no simulated cluster; give a new or empty directory",
                abs.display()
            )));
        }
    }
    Ok(layout)
}

/// Free ports on loopback, from a per-process random start (parallel simulators rarely collide,
/// and each port is checked by binding it).
fn allocate_ports(binds: &[String]) -> Result<Vec<u16>, SimError> {
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
            ^ std::process::id().wrapping_mul(2_654_435_761);
    let mut port = 20_000 + (seed % 10_000) as u16;
    let mut out = Vec::new();
    let mut tries = 0;
    for b in binds {
        loop {
            tries += 1;
            if tries > 5_000 {
                return Err(SimError::Failed("cannot find free loopback ports between 20000 and 32000".into()));
            }
            port = if port >= 32_000 { 20_000 } else { port + 1 };
            if out.contains(&port) {
                continue;
            }
            if std::net::TcpListener::bind((b.as_str(), port)).is_ok()
                && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
            {
                out.push(port);
                break;
            }
        }
    }
    Ok(out)
}

/// The loopback address a host's process listens on: 127.0.0.1 for the local transport, the
/// ssh address itself (resolved) with --ssh-hosts, so `{address}:{stat_port}` reaches it.
fn bind_address(ssh: Option<&SshHost>) -> Result<String, SimError> {
    let Some(h) = ssh else { return Ok("127.0.0.1".into()) };
    let ip = match h.host.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => (h.host.as_str(), 0)
            .to_socket_addrs()
            .map_err(|e| SimError::Usage(format!("--ssh-hosts: cannot resolve {}: {e}", h.host)))?
            .map(|a| a.ip())
            .find(|ip| ip.is_loopback())
            .ok_or_else(|| {
                SimError::Usage(format!("--ssh-hosts: {} does not resolve to a loopback address", h.host))
            })?,
    };
    if !ip.is_loopback() {
        return Err(SimError::Usage(format!(
            "--ssh-hosts: {} is not a loopback address; the simulator runs every node on this machine (use 127.0.0.x)",
            h.host
        )));
    }
    Ok(ip.to_string())
}

fn host_entry(name: &str, ssh: Option<&SshHost>, role: Option<&str>, vars: Vec<(&str, String)>) -> HostEntry {
    HostEntry {
        name: name.to_string(),
        address: ssh.map(|h| h.host.clone()).unwrap_or_else(|| "127.0.0.1".into()),
        port: ssh.and_then(|h| h.port),
        role: role.map(str::to_string),
        vars: vars.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    }
}

fn p(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

struct HostSpec {
    name: String,
    group: usize,
    role: HostRole,
    machine: String,
    product: &'static str,
    listens: bool,
    decl: Option<&'static str>,
    servers: Option<String>,
    nofailover: bool,
}

fn plan(opts: &UpOptions, layout: &Layout, stripe: usize) -> Result<Plan, SimError> {
    let t = opts.topology;
    let mk = |name: &str, group: usize, role: HostRole, machine: &str, product: &'static str| HostSpec {
        name: name.into(),
        group,
        role,
        machine: machine.into(),
        product,
        listens: !matches!(role, HostRole::Client | HostRole::Scanner),
        decl: None,
        servers: None,
        nofailover: false,
    };
    // Groups: (name, keys) in config order.
    let (groups, specs): (Vec<(String, Vec<String>)>, Vec<HostSpec>) = match (t, opts.shape.as_ref()) {
        (Topology::Jsondb, Some(sh)) => {
            // A jsondb twin: the operator's members run the jsondb kit.
            let (groups, mut specs) = shaped_specs(sh);
            for s in &mut specs {
                s.product = "jsondb";
            }
            (groups, specs)
        }
        (_, Some(sh)) => shaped_specs(sh),
        (Topology::Terracotta, None) => {
            let names = stripe_names(opts.stripes.unwrap_or(2));
            let n = names.len();
            let mut specs = Vec::new();
            for (gi, g) in names.iter().enumerate() {
                for i in 1..=stripe {
                    let n = format!("tc-{g}-{i}");
                    specs.push(mk(&n, gi, HostRole::Server, &n, "terracotta"));
                }
            }
            for (gi, g) in names.iter().enumerate() {
                let name = format!("app-{g}-1");
                let mut c = mk(&name, n + gi, HostRole::Client, &name, "terracotta");
                c.servers = Some(g.clone());
                specs.push(c);
            }
            let mut w1 = mk("wan-east", 2 * n, HostRole::Orchestrator, "wan-east", "terracotta");
            w1.decl = Some("master");
            let mut w2 = mk("wan-west", 2 * n, HostRole::Orchestrator, "wan-west", "terracotta");
            w2.decl = Some("standby");
            specs.push(w1);
            specs.push(w2);
            let mut groups: Vec<(String, Vec<String>)> = Vec::new();
            for (gi, g) in names.iter().enumerate() {
                let region = ["us-east", "eu-west", "us-west", "ap-south"]
                    .get(gi)
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| g.clone());
                groups.push((g.clone(), vec!["type = \"server\"".into(), format!("region = {}", q(&region))]));
            }
            for g in &names {
                groups.push((
                    format!("app-{g}"),
                    vec!["type = \"client\"".into(), format!("servers = {}", q(g)), "batch = 1".into()],
                ));
            }
            groups.push(("wan".into(), vec!["type = \"orchestrator\"".into(), "reconnect_resync = true".into()]));
            (groups, specs)
        }
        (Topology::Streambase, None) => (
            vec![("trading".into(), vec!["type = \"server\"".into(), "kind = \"node\"".into()])],
            (1..=opts.nodes.unwrap_or(3))
                .map(|i| format!("sb-{i}"))
                .map(|n| mk(&n, 0, HostRole::SbNode, &n, "streambase"))
                .collect(),
        ),
        (Topology::Exchange, None) => (
            vec![
                ("mail".into(), vec!["type = \"server\"".into(), "kind = \"exchange\"".into()]),
                (
                    "antivirus".into(),
                    vec![
                        "type = \"component\"".into(),
                        "kind = \"scanner\"".into(),
                        "service = \"mail\"".into(),
                        format!("target = {}", q(kits::SCANNER_KIT.versions[1])),
                    ],
                ),
            ],
            vec![
                mk("node1", 0, HostRole::Exchange, "node1", "exchange"),
                mk("node2", 0, HostRole::Exchange, "node2", "exchange"),
                mk("node1-av", 1, HostRole::Scanner, "node1", "scanner"),
                mk("node2-av", 1, HostRole::Scanner, "node2", "scanner"),
            ],
        ),
        (Topology::Jsondb, None) => (
            vec![("db".into(), vec!["type = \"server\"".into(), "kind = \"jsondb\"".into()])],
            ["db-1", "db-2", "db-3"].iter().map(|n| mk(n, 0, HostRole::Server, n, "jsondb")).collect(),
        ),
    };
    // ssh addresses: one per host entry, except scanners, which sit on their node's machine.
    let machines: Vec<&HostSpec> = specs.iter().filter(|s| s.role != HostRole::Scanner).collect();
    let ssh_of = |s: &HostSpec| -> Option<&SshHost> {
        if opts.ssh_hosts.is_empty() {
            return None;
        }
        let i = machines.iter().position(|m| m.machine == s.machine)?;
        opts.ssh_hosts.get(i)
    };
    if !opts.ssh_hosts.is_empty() && opts.ssh_hosts.len() != machines.len() {
        let names: Vec<&str> = machines.iter().map(|m| m.name.as_str()).collect();
        return Err(SimError::Usage(format!(
            "--ssh-hosts gives {} address(es) but the {} topology has {} hosts ({}); give one HOST[:PORT] per host, in this order",
            opts.ssh_hosts.len(),
            t.as_str(),
            machines.len(),
            names.join(", ")
        )));
    }
    let mut binds = Vec::new();
    for s in &specs {
        if s.listens {
            binds.push(bind_address(ssh_of(s))?);
        }
    }
    let mut extra_binds = binds.clone();
    if t == Topology::Exchange {
        extra_binds.push("127.0.0.1".into());
    }
    if t == Topology::Jsondb {
        // Each member's HTTP status API, on its own address.
        extra_binds.extend(binds.clone());
    }
    let all_ports = allocate_ports(&extra_binds)?;
    let mut http_ports = all_ports.get(binds.len()..).unwrap_or_default().to_vec().into_iter();
    let mut ports = all_ports.into_iter();
    let mut planned: Vec<Vec<Planned>> = groups.iter().map(|_| Vec::new()).collect();
    let mut bind_iter = binds.into_iter();
    for s in &specs {
        let ssh = ssh_of(s);
        let node_dir = layout.machine(&s.machine);
        let (bind, port) = if s.listens {
            (bind_iter.next().unwrap_or_else(|| "127.0.0.1".into()), ports.next())
        } else {
            ("127.0.0.1".to_string(), None)
        };
        let kit_dir = node_dir.join("kits");
        let http_port = if t == Topology::Jsondb && s.listens { http_ports.next() } else { None };
        let vars: Vec<(&str, String)> = match s.role {
            HostRole::Server if t == Topology::Jsondb => vec![
                ("install_dir", p(&node_dir)),
                ("kit_dir", p(&kit_dir)),
                ("db_config", p(&node_dir.join("conf").join("db.conf"))),
                ("log_dir", p(&node_dir.join("logs"))),
                ("http_port", http_port.map(|x| x.to_string()).unwrap_or_default()),
            ],
            HostRole::Server => vec![
                ("install_dir", p(&node_dir)),
                ("kit_dir", p(&kit_dir)),
                ("tc_config", p(&node_dir.join("conf").join("tc-config.conf"))),
                ("data_dir", p(&node_dir.join("data"))),
                ("log_dir", p(&node_dir.join("logs"))),
                ("stat_port", port.map(|x| x.to_string()).unwrap_or_default()),
            ],
            HostRole::Client => {
                vec![("install_dir", p(&node_dir)), ("kit_dir", p(&kit_dir)), ("log_dir", p(&node_dir.join("logs")))]
            }
            HostRole::Orchestrator => vec![
                ("install_dir", p(&node_dir)),
                ("kit_dir", p(&kit_dir)),
                ("wan_config", p(&node_dir.join("conf").join("wan.conf"))),
                ("log_dir", p(&node_dir.join("logs"))),
            ],
            HostRole::SbNode => vec![("sb_home", p(&node_dir)), ("kit_dir", p(&kit_dir))],
            HostRole::Exchange | HostRole::Scanner => {
                vec![("exch_home", p(&node_dir)), ("av_home", p(&node_dir)), ("kit_dir", p(&kit_dir))]
            }
        };
        let rec = HostRecord {
            name: s.name.clone(),
            group: groups[s.group].0.to_string(),
            role: s.role,
            machine: s.machine.clone(),
            node_dir: node_dir.clone(),
            kit_dir,
            product: s.product.to_string(),
            bind,
            port,
            servers: s.servers.clone(),
            http_port,
            nofailover: s.nofailover,
        };
        planned[s.group].push(Planned { rec, entry: host_entry(&s.name, ssh, s.decl, vars) });
    }
    let evs = if t == Topology::Exchange {
        Some(("EVS1".to_string(), "127.0.0.1".to_string(), ports.next().unwrap_or(0)))
    } else {
        None
    };
    let mut loaders = Vec::new();
    match t {
        Topology::Streambase => {
            let targets = planned[0]
                .iter()
                .map(|h| Target {
                    name: h.rec.name.clone(),
                    address: h.rec.bind.clone(),
                    port: h.rec.port.unwrap_or(0),
                })
                .collect();
            loaders.push((
                LoaderRecord { name: "sb-writer".into(), dir: layout.loaders().join("sb-writer"), group: None },
                targets,
            ));
        }
        Topology::Exchange => {
            if let Some((n, a, port)) = &evs {
                let targets = vec![Target { name: n.clone(), address: a.clone(), port: *port }];
                loaders.push((
                    LoaderRecord { name: "mail-writer".into(), dir: layout.loaders().join("mail-writer"), group: None },
                    targets,
                ));
            }
        }
        Topology::Jsondb => {
            // One writer per group, following its leader: a replica refuses writes and the
            // writer tries the next.
            let several = planned.len() > 1;
            for (gi, hosts) in planned.iter().enumerate() {
                let targets = hosts
                    .iter()
                    .map(|h| Target {
                        name: h.rec.name.clone(),
                        address: h.rec.bind.clone(),
                        port: h.rec.port.unwrap_or(0),
                    })
                    .collect();
                let gname = &groups[gi].0;
                let name = if several || opts.shape.is_some() { format!("{gname}-writer") } else { "db-writer".into() };
                let dir = layout.loaders().join(&name);
                loaders.push((LoaderRecord { name, dir, group: Some(gname.clone()) }, targets));
            }
        }
        Topology::Terracotta => {}
    }
    let vars = match t {
        Topology::Terracotta => Vec::new(),
        Topology::Streambase => {
            let suffix = specs
                .iter()
                .find(|x| x.role == HostRole::SbNode)
                .map(|x| groups[x.group].0.as_str())
                .unwrap_or("trading");
            vec![("cluster_suffix".to_string(), suffix.to_string())]
        }
        Topology::Exchange => vec![("evs".to_string(), "EVS1".to_string())],
        Topology::Jsondb => Vec::new(),
    };
    let name = match t {
        _ if opts.shape.is_some() => opts.shape.as_ref().map(|sh| sh.name.as_str()).unwrap_or_default(),
        Topology::Terracotta => "sim-bigmemory",
        Topology::Streambase => "sim-sb-trading",
        Topology::Exchange => "sim-mail-cluster",
        Topology::Jsondb => "sim-jsondb",
    };
    let groups = groups
        .into_iter()
        .zip(planned)
        .map(|((gname, keys), hosts)| {
            let entry =
                GroupEntry { name: gname.to_string(), keys, hosts: hosts.iter().map(|h| h.entry.clone()).collect() };
            (entry, hosts)
        })
        .collect();
    Ok(Plan { groups, vars, name: name.to_string(), loaders, evs })
}

/// The groups and hosts of a rehearsal twin, in the operator's order and names.
fn shaped_specs(sh: &super::twin::TwinShape) -> (Vec<(String, Vec<String>)>, Vec<HostSpec>) {
    let mut groups = Vec::new();
    let mut specs = Vec::new();
    for (gi, g) in sh.groups.iter().enumerate() {
        groups.push((g.name.clone(), g.keys.clone()));
        for h in &g.hosts {
            specs.push(HostSpec {
                name: h.name.clone(),
                group: gi,
                role: g.role,
                machine: h.machine.clone(),
                product: match g.role {
                    HostRole::Server | HostRole::Client | HostRole::Orchestrator => "terracotta",
                    HostRole::SbNode => "streambase",
                    HostRole::Exchange => "exchange",
                    HostRole::Scanner => "scanner",
                },
                listens: !matches!(g.role, HostRole::Client | HostRole::Scanner),
                decl: match h.declared_role.as_deref() {
                    Some("master") => Some("master"),
                    Some("standby") => Some("standby"),
                    _ => None,
                },
                servers: g.servers.clone(),
                nofailover: !h.eligible,
            });
        }
    }
    (groups, specs)
}

/// The Terracotta stripes (server groups) of a simulated cluster, in config order.
fn server_groups(st: &SimState) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for h in st.hosts.iter().filter(|h| h.role == HostRole::Server) {
        if !out.contains(&h.group) {
            out.push(h.group.clone());
        }
    }
    out
}

fn mkdirs(dir: &Path) -> Result<(), SimError> {
    for d in layout::node_subdirs(dir) {
        std::fs::create_dir_all(&d).map_err(io_err(format!("cannot create {}", d.display())))?;
    }
    Ok(())
}

fn write_node_confs(st: &SimState, layout: &Layout, compat: Option<crate::model::CompatRule>) -> Result<(), SimError> {
    let member = |h: &HostRecord| Member {
        name: h.name.clone(),
        address: h.bind.clone(),
        port: h.port.unwrap_or(0),
        node_dir: h.node_dir.clone(),
        data_dir: h.node_dir.join("data"),
        http_port: h.http_port,
        nofailover: h.nofailover,
    };
    let sim_dir = layout.root.clone();
    match st.topology {
        Topology::Terracotta => {
            for g in server_groups(st) {
                let g = g.as_str();
                let servers: Vec<Member> =
                    st.hosts.iter().filter(|h| h.role == HostRole::Server && h.group == g).map(member).collect();
                let sc = StripeConf {
                    sim_dir: sim_dir.clone(),
                    group: g.into(),
                    persistent: st.persistent,
                    servers: servers.clone(),
                    http: None,
                };
                for h in st.hosts.iter().filter(|h| h.role == HostRole::Server && h.group == g) {
                    conf::write(&h.node_dir.join("conf").join("tc-config.conf"), &sc)?;
                }
                for h in st.hosts.iter().filter(|h| h.role == HostRole::Client && h.servers.as_deref() == Some(g)) {
                    let cc = ClientConf {
                        sim_dir: sim_dir.clone(),
                        name: h.name.clone(),
                        node_dir: h.node_dir.clone(),
                        group: g.into(),
                        servers: servers.clone(),
                        interval_ms: 100,
                    };
                    conf::write(&h.node_dir.join("conf").join("tc-client.conf"), &cc)?;
                }
            }
            let orch: Vec<&HostRecord> = st.hosts.iter().filter(|h| h.role == HostRole::Orchestrator).collect();
            let wc = WanConf {
                sim_dir: sim_dir.clone(),
                orchestrators: orch
                    .iter()
                    .enumerate()
                    .map(|(i, h)| Orchestrator {
                        name: h.name.clone(),
                        address: h.bind.clone(),
                        port: h.port.unwrap_or(0),
                        role: if i == 0 { "MASTER".into() } else { "STANDBY".into() },
                        node_dir: h.node_dir.clone(),
                    })
                    .collect(),
            };
            for h in orch {
                conf::write(&h.node_dir.join("conf").join("wan.conf"), &wc)?;
            }
        }
        Topology::Streambase => {
            let sc = SbConf {
                sim_dir: sim_dir.clone(),
                nodes: st
                    .hosts
                    .iter()
                    .map(|h| SbMember {
                        name: h.name.clone(),
                        service: format!("{}.{}", h.name, h.group),
                        address: h.bind.clone(),
                        port: h.port.unwrap_or(0),
                        node_dir: h.node_dir.clone(),
                    })
                    .collect(),
            };
            for h in &st.hosts {
                conf::write(&h.node_dir.join("conf").join("node.conf"), &sc)?;
            }
        }
        Topology::Exchange => {
            let (evs, addr, port) = st.evs.clone().unwrap_or_default();
            let storage = layout.shared().join(&evs);
            std::fs::create_dir_all(&storage).map_err(io_err(format!("cannot create {}", storage.display())))?;
            let ec = ExConf {
                sim_dir: sim_dir.clone(),
                evs,
                evs_address: addr,
                evs_port: port,
                storage,
                quorum: layout.shared().join("quorum.json"),
                nodes: st
                    .hosts
                    .iter()
                    .filter(|h| h.role == HostRole::Exchange)
                    .map(|h| ExNode {
                        name: h.name.clone(),
                        address: h.bind.clone(),
                        port: h.port.unwrap_or(0),
                        node_dir: h.node_dir.clone(),
                    })
                    .collect(),
            };
            for h in st.hosts.iter().filter(|h| h.role == HostRole::Exchange) {
                conf::write(&h.node_dir.join("conf").join("cluster.conf"), &ec)?;
            }
            let owner = ec.nodes.first().map(|n| n.name.clone()).unwrap_or_default();
            write_quorum(&ec.quorum, &Quorum { owner, online: true, reason: None }).map_err(SimError::Failed)?;
        }
        Topology::Jsondb => {
            let cluster_version_file = layout.shared().join("cluster_version");
            std::fs::create_dir_all(layout.shared())
                .map_err(io_err(format!("cannot create {}", layout.shared().display())))?;
            // A fresh cluster is finalized at the series it starts with.
            crate::sim::state::write_atomic(
                &cluster_version_file,
                format!("{}\n", super::node::common::minor_of(&st.version)).as_bytes(),
            )?;
            // Each group is a replicated stripe of its own; finalize and cluster health see them all.
            let groups = server_groups(st);
            let whole: Vec<Member> = if groups.len() > 1 {
                st.hosts.iter().filter(|h| h.role == HostRole::Server).map(member).collect()
            } else {
                Vec::new()
            };
            for g in groups {
                let sc = StripeConf {
                    sim_dir: sim_dir.clone(),
                    group: g.clone(),
                    persistent: true,
                    servers: st
                        .hosts
                        .iter()
                        .filter(|h| h.role == HostRole::Server && h.group == g)
                        .map(member)
                        .collect(),
                    http: Some(HttpApi {
                        scope: if g == "db" { "sim-jsondb".into() } else { g.clone() },
                        cluster_version_file: cluster_version_file.clone(),
                        cluster: whole.clone(),
                        compat,
                    }),
                };
                for h in st.hosts.iter().filter(|h| h.role == HostRole::Server && h.group == g) {
                    conf::write(&h.node_dir.join("conf").join("db.conf"), &sc)?;
                }
            }
        }
    }
    Ok(())
}

fn create_and_start(
    opts: &UpOptions,
    layout: &Layout,
    engine: &Path,
    product: Product,
    version: &str,
    stripe: usize,
) -> Result<SimInfo, SimError> {
    let plan = plan(opts, layout, stripe)?;
    // Kits: every known version plus the requested one.
    let mut products = vec![(product, version.to_string())];
    if opts.topology == Topology::Exchange {
        products.push((kits::SCANNER_KIT, kits::SCANNER_KIT.versions[0].to_string()));
    }
    if let Some(sh) = &opts.shape {
        for (prod, v) in sh.kit_versions() {
            let prod = if prod == kits::SCANNER_KIT.dir { kits::SCANNER_KIT } else { product };
            products.push((prod, v));
        }
    }
    std::fs::create_dir_all(layout.kits()).map_err(io_err(format!("cannot create {}", layout.kits().display())))?;
    let mut tarballs = Vec::new();
    let mut built: Vec<(&str, Vec<String>)> = Vec::new();
    for (prod, v) in &products {
        let i = match built.iter().position(|(d, _)| *d == prod.dir) {
            Some(i) => i,
            None => {
                built.push((prod.dir, prod.versions.iter().map(|s| s.to_string()).collect()));
                built.len() - 1
            }
        };
        if !built[i].1.contains(v) {
            built[i].1.push(v.clone());
        }
    }
    for (dir, versions) in &built {
        let Some((prod, _)) = products.iter().find(|(p, _)| p.dir == *dir) else { continue };
        tarballs.extend(kits::build(prod, versions, engine, &layout.kits())?);
    }
    let hosts: Vec<HostRecord> = plan.groups.iter().flat_map(|(_, hs)| hs.iter().map(|h| h.rec.clone())).collect();
    for h in &hosts {
        mkdirs(&h.node_dir)?;
        kits::link_into(&tarballs, &h.kit_dir)?;
    }
    for (l, _) in &plan.loaders {
        mkdirs(&l.dir)?;
    }
    for d in [layout.lock(), layout.jobs()] {
        std::fs::create_dir_all(&d).map_err(io_err(format!("cannot create {}", d.display())))?;
    }
    let st = SimState {
        format: STATE_FORMAT,
        topology: opts.topology,
        engine: engine.to_path_buf(),
        version: version.to_string(),
        persistent: opts.persistent,
        ssh: !opts.ssh_hosts.is_empty(),
        hosts,
        loaders: plan.loaders.iter().map(|(l, _)| l.clone()).collect(),
        evs: plan.evs.clone(),
    };
    write_node_confs(&st, layout, opts.shape.as_ref().and_then(|sh| sh.compat))?;
    if let (Topology::Jsondb, Some(series)) = (opts.topology, opts.shape.as_ref().and_then(|sh| sh.finalized.as_ref()))
    {
        // A jsondb twin starts committed to the series its state says, not its default kit's.
        crate::sim::state::write_atomic(&layout.shared().join("cluster_version"), format!("{series}\n").as_bytes())?;
    }
    for (l, targets) in &plan.loaders {
        let lc = LoaderConf {
            sim_dir: layout.root.clone(),
            name: l.name.clone(),
            dir: l.dir.clone(),
            targets: targets.clone(),
            interval_ms: 100,
            follow_active: opts.topology == Topology::Jsondb,
        };
        conf::write(&l.dir.join("conf").join("loader.conf"), &lc)?;
    }
    let spec = ConfigSpec {
        topology: opts.topology,
        name: plan.name.clone(),
        persistent: if opts.topology == Topology::Terracotta { Some(opts.persistent) } else { None },
        ssh: !opts.ssh_hosts.is_empty(),
        ssh_config: opts.ssh_config.as_ref().map(|c| absolute(c)).transpose()?.map(|c| p(&c)),
        job_dir: Some(p(&layout.jobs())).filter(|j| crate::config::plain_remote_path(j)),
        lock: (st.hosts.first().map(|h| h.name.clone()).unwrap_or_default(), lock_path(layout, &plan.name)),
        vars: plan.vars.clone(),
        groups: plan.groups.iter().map(|(g, _)| g.clone()).collect(),
        dir: p(&layout.root),
        kinds: opts.shape.as_ref().and_then(|sh| sh.sim_kinds.clone()),
        cluster_keys: opts.shape.as_ref().map(|sh| sh.cluster_keys.clone()).unwrap_or_default(),
    };
    let text = config_gen::render(&spec)?;
    std::fs::write(layout.config_file(), text)
        .map_err(io_err(format!("cannot write {}", layout.config_file().display())))?;
    st.save(layout)?;
    let cluster = render::load_cluster(layout)?;

    // Install: the seed's own step, through the config's template.
    let shaped_version = |h: &HostRecord| opts.shape.as_ref().and_then(|sh| sh.version_of(&h.name));
    for h in &st.hosts {
        let v = if h.role == HostRole::Scanner { kits::SCANNER_KIT.versions[0] } else { version };
        let v = shaped_version(h).unwrap_or(v);
        render::run(&cluster, &h.name, "install", &[("version", v)], STEP)?;
    }
    // Start, through the config's templates.
    let deadline = Instant::now() + opts.ready_timeout;
    match opts.topology {
        Topology::Terracotta => {
            // A twin's assumed actives start first, so they win their stripe's election.
            let active = |h: &HostRecord| {
                h.role == HostRole::Server && opts.shape.as_ref().is_some_and(|sh| sh.starts_active(&h.name))
            };
            let first: Vec<&HostRecord> = st.hosts.iter().filter(|h| active(h)).collect();
            for h in &first {
                render::run(&cluster, &h.name, "start", &[("version", version)], STEP)?;
            }
            for h in &first {
                wait_active(h, deadline)?;
            }
            for h in st.hosts.iter().filter(|h| !active(h)) {
                render::run(&cluster, &h.name, "start", &[("version", version)], STEP)?;
            }
        }
        Topology::Jsondb if opts.shape.is_some() => {
            // A twin's assumed leader starts first and is elected before its replicas start.
            let leader = |h: &HostRecord| opts.shape.as_ref().is_some_and(|sh| sh.starts_active(&h.name));
            for h in st.hosts.iter().filter(|h| leader(h)) {
                render::run(&cluster, &h.name, "start", &[("version", version)], STEP)?;
                wait_active(h, deadline)?;
            }
            for h in st.hosts.iter().filter(|h| !leader(h)) {
                render::run(&cluster, &h.name, "start", &[("version", version)], STEP)?;
            }
        }
        Topology::Streambase | Topology::Jsondb => {
            for h in &st.hosts {
                render::run(&cluster, &h.name, "start", &[("version", version)], STEP)?;
            }
        }
        Topology::Exchange => {
            for h in st.hosts.iter().filter(|h| h.role == HostRole::Exchange) {
                render::run(&cluster, &h.name, "start", &[("version", version)], STEP)?;
            }
        }
    }
    for (l, _) in &plan.loaders {
        let mut cmd = Command::new(engine);
        cmd.args(["sim", "node", "loader", "--conf"]).arg(l.dir.join("conf").join("loader.conf"));
        procs::spawn_detached(&mut cmd, &l.dir.join("logs").join("loader.out"))?;
    }
    wait_ready(&st, layout, deadline)?;
    Ok(super::info(&st, layout))
}

/// rollpilot takes its lock by creating a directory: D/lock/rollpilot (D/lock is the sim's own
/// directory), or a /tmp path named after D when D's path is not plain.
fn lock_path(layout: &Layout, name: &str) -> String {
    let l = p(&layout.lock().join("rollpilot"));
    if crate::config::plain_remote_path(&l) {
        return l;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in p(&layout.root).bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("/tmp/rollpilot-lock-{name}-{h:016x}")
}

/// Stripe names: east and west as always, then more for `--stripes`.
fn stripe_names(n: usize) -> Vec<String> {
    let known = ["east", "west", "north", "south"];
    (0..n).map(|i| known.get(i).map(|s| s.to_string()).unwrap_or_else(|| format!("stripe-{}", i + 1))).collect()
}

fn absolute(path: &Path) -> Result<PathBuf, SimError> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir().map_err(io_err("cannot read the current directory"))?.join(path))
}

/// Why a cluster is not ready yet, or None when it is.
pub fn not_ready(st: &SimState) -> Option<String> {
    match st.topology {
        Topology::Terracotta => {
            for g in server_groups(st) {
                let g = g.as_str();
                let servers: Vec<&HostRecord> =
                    st.hosts.iter().filter(|h| h.role == HostRole::Server && h.group == g).collect();
                let states: Vec<(String, String)> = servers
                    .iter()
                    .map(|h| {
                        let s =
                            wire::stat(&h.bind, h.port.unwrap_or(0)).map(|s| s.state).unwrap_or_else(|_| "down".into());
                        (h.name.clone(), s)
                    })
                    .collect();
                let actives = states.iter().filter(|(_, s)| s == "ACTIVE-COORDINATOR").count();
                let standbys = states.iter().filter(|(_, s)| s == "PASSIVE-STANDBY").count();
                if actives != 1 || standbys + 1 != servers.len() {
                    let desc: Vec<String> = states.iter().map(|(n, s)| format!("{n} {s}")).collect();
                    return Some(format!("stripe {g}: {}", desc.join(", ")));
                }
            }
            for h in st.hosts.iter().filter(|h| h.role == HostRole::Client) {
                let s = super::node::client::read_status(&h.node_dir, &h.name);
                if s.state != "CONNECTED" || s.acknowledged == 0 {
                    return Some(format!(
                        "client {} is {} with {} acknowledged writes",
                        h.name, s.state, s.acknowledged
                    ));
                }
            }
            for h in st.hosts.iter().filter(|h| h.role == HostRole::Orchestrator) {
                if wire::stat(&h.bind, h.port.unwrap_or(0)).is_err() {
                    return Some(format!("orchestrator {} is not running", h.name));
                }
            }
        }
        Topology::Jsondb => {
            for g in server_groups(st) {
                let states: Vec<(String, String)> = st
                    .hosts
                    .iter()
                    .filter(|h| h.group == g)
                    .map(|h| {
                        let s =
                            wire::stat(&h.bind, h.port.unwrap_or(0)).map(|s| s.state).unwrap_or_else(|_| "down".into());
                        (h.name.clone(), s)
                    })
                    .collect();
                let leaders = states.iter().filter(|(_, s)| s == "ACTIVE-COORDINATOR").count();
                let streaming = states.iter().filter(|(_, s)| s == "PASSIVE-STANDBY").count();
                if leaders != 1 || streaming + 1 != states.len() {
                    let desc: Vec<String> = states.iter().map(|(n, s)| format!("{n} {s}")).collect();
                    return Some(format!("group {g}: {}", desc.join(", ")));
                }
            }
        }
        Topology::Streambase => {
            for h in &st.hosts {
                match wire::stat(&h.bind, h.port.unwrap_or(0)) {
                    Ok(s) if s.state == "Started" => {}
                    Ok(s) => return Some(format!("node {} is {}", h.name, s.state)),
                    Err(_) => return Some(format!("node {} is down", h.name)),
                }
            }
        }
        Topology::Exchange => {
            let owner = st.hosts.iter().find(|h| h.role == HostRole::Exchange)?;
            match wire::stat(&owner.bind, owner.port.unwrap_or(0)) {
                Ok(s) if s.serving => {}
                _ => return Some(format!("EVS1 is not online on {} yet", owner.name)),
            }
            for h in st.hosts.iter().filter(|h| h.role == HostRole::Exchange) {
                if wire::stat(&h.bind, h.port.unwrap_or(0)).is_err() {
                    return Some(format!("cluster service of {} is down", h.name));
                }
            }
        }
    }
    for l in &st.loaders {
        let s = super::node::client::read_status(&l.dir, &l.name);
        if s.acknowledged == 0 {
            return Some(format!("writer {} has no acknowledged write yet ({})", l.name, s.state));
        }
    }
    None
}

/// Waits until a twin's assumed active server is its stripe's active, before its peers start.
fn wait_active(h: &HostRecord, deadline: Instant) -> Result<(), SimError> {
    loop {
        let state = wire::stat(&h.bind, h.port.unwrap_or(0)).map(|s| s.state).unwrap_or_else(|_| "down".into());
        if state == "ACTIVE-COORDINATOR" {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(SimError::Failed(format!(
                "{} did not become the active of its stripe in time (it is {state})",
                h.name
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_ready(st: &SimState, layout: &Layout, deadline: Instant) -> Result<(), SimError> {
    loop {
        let why = match not_ready(st) {
            None => return Ok(()),
            Some(w) => w,
        };
        if Instant::now() >= deadline {
            return Err(SimError::Failed(format!(
                "the simulated cluster did not become ready in time: {why}. Logs are under {}/nodes/*/logs; everything started was stopped",
                layout.root.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_hosts_parse_and_refuse_garbage() {
        let v = SshHost::parse_list("127.0.0.2, 127.0.0.3:2222").unwrap();
        assert_eq!(
            v,
            vec![
                SshHost { host: "127.0.0.2".into(), port: None },
                SshHost { host: "127.0.0.3".into(), port: Some(2222) }
            ]
        );
        assert!(SshHost::parse_list("").is_err());
        assert!(SshHost::parse_list("a:b").is_err());
        assert!(SshHost::parse_list("-oProxyCommand=x").is_err());
        assert!(bind_address(Some(&SshHost { host: "10.0.0.1".into(), port: None })).is_err());
        assert_eq!(bind_address(Some(&SshHost { host: "127.0.0.9".into(), port: None })).unwrap(), "127.0.0.9");
    }
}
