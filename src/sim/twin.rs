//! A rehearsal twin: the operator's own cluster (its groups, member names, regions, roles and
//! versions) as simulated processes on loopback, so a maintenance window can be practised on
//! something shaped exactly like the real thing before it opens.
//!
//! Two halves: [`shape_for`] decides which simulated process stands in for each member (or says
//! exactly which group cannot be simulated and why), and [`twin_config`] rewrites the operator's
//! config so that every procedure setting stays theirs while every command becomes the
//! simulator's.
//!
//! Clusters of the simulated products' own kinds (Terracotta, StreamBase, Exchange) run as those
//! products. Any other cluster of server and peer groups runs as simulated replicated members,
//! one replicated group per operator group, whose kinds [`sim_kinds`] writes feature by feature
//! from the operator's: what shapes the plan (which commands exist, which facts are read, who
//! names the successor, the point of no return) is the operator's; how each is done is the
//! simulator's.

use super::kits;
use super::state::{HostRole, Topology};
use crate::model::{Cluster, CompatRule, GroupType, Kind, Observed, Profile, Role};
use semver::Version;

/// Why a cluster cannot be twinned, in words an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum TwinError {
    /// A group whose type or kind the simulator cannot play.
    #[error(
        "group `{group}` (type {gtype}, kind {kind}) cannot be simulated: {why}. The simulator runs Terracotta servers, clients and WAN orchestrators (profile terracotta), StreamBase nodes (profile any-order, kind node) and Exchange 2003 nodes with their virus scanner (profile active-passive, kinds exchange and scanner) as themselves; any other cluster of server and peer groups runs as simulated replicated members that play each kind's features (roles or none, a lag or a sync word, a named or an elected successor, eligibility, drain, preflight, before/restore, cluster health, finalize) with the simulator's own commands; rehearse this cluster on a staging copy instead"
    )]
    Unsupported {
        /// The group's name.
        group: String,
        /// Its type.
        gtype: &'static str,
        /// Its kind.
        kind: String,
        /// What is missing.
        why: String,
    },
    /// The member versions cannot be settled.
    #[error("{0}")]
    State(String),
    /// The operator's config text cannot be rewritten.
    #[error("cannot rewrite the cluster config for the twin: {0}")]
    Config(String),
}

/// One member of a twin group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwinHost {
    /// The operator's member name.
    pub name: String,
    /// The simulated machine it sits on (a scanner shares its Exchange node's).
    pub machine: String,
    /// "master" or "standby" for orchestrators.
    pub declared_role: Option<String>,
    /// The version its kit is installed at.
    pub version: String,
    /// It should be the active of its group when the twin starts.
    pub active: bool,
    /// It may take the active role over (false: a replica the state says is not eligible).
    pub eligible: bool,
}

/// One group of the twin, in the operator's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwinGroup {
    /// The operator's group name.
    pub name: String,
    /// Its keys other than name and hosts, as TOML lines (type, kind, region, servers...).
    pub keys: Vec<String>,
    /// Which simulated process each member is.
    pub role: HostRole,
    /// For clients: the server group they write to.
    pub servers: Option<String>,
    /// Members.
    pub hosts: Vec<TwinHost>,
}

/// The simulated product a twin runs for every group whose kind is not one of the simulated
/// products': replicated members (the jsondb engine) that play each kind's features.
pub const GENERIC_TOPOLOGY: Topology = Topology::Jsondb;

/// The shape `sim up` builds instead of a topology's fixed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwinShape {
    /// The operator's cluster name.
    pub name: String,
    /// Groups in config order.
    pub groups: Vec<TwinGroup>,
    /// The target version (its kit must exist on every simulated machine).
    pub target: String,
    /// Component targets (e.g. the scanner's), with the product directory they belong to.
    pub component_targets: Vec<(String, String)>,
    /// What was assumed where the operator said nothing, stated in the rehearsal report.
    pub assumptions: Vec<String>,
    /// The simulated system the twin runs.
    pub topology: Topology,
    /// jsondb: the series the twin's cluster starts committed to ("3.1"), as the state says or
    /// the oldest member's.
    pub finalized: Option<String>,
    /// Simulated replicated members: the `[kinds.*]` tables of the simulator's own config, one
    /// per operator kind with the features of that kind (see [`sim_kinds`]).
    pub sim_kinds: Option<String>,
    /// Simulated replicated members: the operator's `[cluster]` procedure keys, so the
    /// simulator's config validates the groups as the operator's does (see [`cluster_keys`]).
    pub cluster_keys: Vec<String>,
    /// Simulated replicated members: which versions replicate together, the operator's rule.
    pub compat: Option<CompatRule>,
}

impl TwinShape {
    /// Every (product dir, version) the twin's kits need: installed versions and targets.
    pub fn kit_versions(&self) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = Vec::new();
        for g in &self.groups {
            let dir = product_of(g.role, self.topology).dir;
            for h in &g.hosts {
                out.push((dir, h.version.clone()));
            }
            if g.role != HostRole::Scanner {
                out.push((dir, self.target.clone()));
            }
        }
        for (dir, v) in &self.component_targets {
            let d = if dir == kits::SCANNER_KIT.dir { kits::SCANNER_KIT.dir } else { "" };
            if !d.is_empty() {
                out.push((d, v.clone()));
            }
        }
        out.dedup();
        out
    }

    /// The version a member is installed at.
    pub fn version_of(&self, host: &str) -> Option<&str> {
        self.groups.iter().flat_map(|g| g.hosts.iter()).find(|h| h.name == host).map(|h| h.version.as_str())
    }

    /// Whether a member should start first in its group (and so become its active).
    pub fn starts_active(&self, host: &str) -> bool {
        self.groups.iter().flat_map(|g| g.hosts.iter()).any(|h| h.name == host && h.active)
    }
}

/// The members a starting state says are stopped (role `stopped`), in config order: the twin
/// starts them stopped, as the real cluster is, so the plan that begins by installing them is
/// the one rehearsed.
pub fn stopped_members(cluster: &Cluster, observed: Option<&Observed>) -> Vec<String> {
    let Some(o) = observed else { return Vec::new() };
    cluster
        .groups
        .iter()
        .flat_map(|g| g.nodes.iter())
        .filter(|n| o.nodes.get(&n.name).is_some_and(|x| x.role == Role::Stopped))
        .map(|n| n.name.clone())
        .collect()
}

/// Stops these members of a running twin (asked through their stop file, killed if they do not
/// go within 10s), so the twin starts in a state where they are down; waits until each process
/// is gone, so the twin's first probe already sees them stopped.
pub fn stop_members(dir: &std::path::Path, names: &[String]) -> Result<(), TwinError> {
    use super::{layout, procs};
    let root = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let st = super::state::SimState::load(&layout::Layout::new(&root)).map_err(|e| TwinError::State(e.to_string()))?;
    for name in names {
        let h = st.host(name).map_err(|e| TwinError::State(e.to_string()))?;
        if !h.role.has_process() {
            return Err(TwinError::State(format!(
                "the state says {name} is stopped, but on the twin it is a component without a process of its own"
            )));
        }
        let Some(pid) = procs::running_pid(&layout::pid_file(&h.node_dir, name)) else { continue };
        let stop = layout::stop_file(&h.node_dir, name);
        if let Some(d) = stop.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        if std::fs::write(&stop, b"stop\n").is_err() || !procs::wait_gone(pid, std::time::Duration::from_secs(10)) {
            procs::signal(pid, "KILL");
            if !procs::wait_gone(pid, std::time::Duration::from_secs(5)) {
                return Err(TwinError::State(format!("{name} (pid {pid}) did not stop on the twin")));
            }
        }
    }
    Ok(())
}

fn product_of(role: HostRole, topology: Topology) -> kits::Product {
    match role {
        HostRole::Server if topology == Topology::Jsondb => kits::JSONDB_KIT,
        HostRole::Server | HostRole::Client | HostRole::Orchestrator => kits::TERRACOTTA_KIT,
        HostRole::SbNode => kits::STREAMBASE_KIT,
        HostRole::Exchange => kits::EXCHANGE_KIT,
        HostRole::Scanner => kits::SCANNER_KIT,
    }
}

/// The simulated topology closest to a profile.
pub fn topology_for(profile: Profile) -> Topology {
    match profile {
        Profile::Terracotta => Topology::Terracotta,
        Profile::AnyOrder => Topology::Streambase,
        Profile::ActivePassive => Topology::Exchange,
    }
}

/// Which simulated product process stands in for a group as itself (Terracotta, StreamBase,
/// Exchange), or why none does.
fn role_for(profile: Profile, gtype: GroupType, kind: &str) -> Result<HostRole, String> {
    let supported: &[(GroupType, &str, HostRole)] = match profile {
        Profile::Terracotta => &[
            (GroupType::Server, "server", HostRole::Server),
            (GroupType::Client, "client", HostRole::Client),
            (GroupType::Orchestrator, "orchestrator", HostRole::Orchestrator),
        ],
        Profile::AnyOrder => {
            &[(GroupType::Server, "node", HostRole::SbNode), (GroupType::Peer, "node", HostRole::SbNode)]
        }
        Profile::ActivePassive => {
            &[(GroupType::Server, "exchange", HostRole::Exchange), (GroupType::Component, "scanner", HostRole::Scanner)]
        }
    };
    if let Some((_, _, r)) = supported.iter().find(|(t, k, _)| *t == gtype && *k == kind) {
        return Ok(*r);
    }
    let mut wanted: Vec<String> =
        supported.iter().map(|(t, k, _)| format!("{} groups of kind {k}", t.as_str())).collect();
    let last = wanted.pop().unwrap_or_default();
    let wanted = if wanted.is_empty() { last } else { format!("{} and {last}", wanted.join(", ")) };
    Err(format!(
        "under profile {} the simulated products are {}, and kind `{kind}` is none of them",
        profile.as_str(),
        wanted
    ))
}

/// The version a member is assumed to run when the operator gave no state: the newest kit
/// version below the target on the same major.minor (a plausible rolling upgrade), else the
/// newest below the target.
fn plausible_version(product: &kits::Product, target: &Version) -> Option<String> {
    let below: Vec<Version> =
        product.versions.iter().filter_map(|v| crate::model::parse_loose(v)).filter(|v| v < target).collect();
    let same = below.iter().filter(|v| v.major == target.major && v.minor == target.minor).max();
    same.or_else(|| below.iter().max()).map(|v| v.to_string())
}

/// The version a simulated replicated member is assumed to run when no state says: one release
/// below the target that the cluster's compat rule lets run beside it (the previous minor series
/// where the rule allows it, so a finalize has something to commit; else the previous patch).
fn generic_version(target: &Version, compat: CompatRule) -> Option<Version> {
    let prev_minor = (target.minor > 0).then(|| Version::new(target.major, target.minor - 1, target.patch));
    let prev_patch = (target.patch > 0).then(|| Version::new(target.major, target.minor, target.patch - 1));
    let candidates = [prev_minor, prev_patch];
    candidates.into_iter().flatten().find(|v| compat.compatible(v, target))
}

/// Every operator kind a group of the twin uses: the simulated replicated members' `[kinds.*]`
/// tables, one per kind, each with the features of that kind so the twin's plan is the real one:
/// the same commands exist (version, status, health, stop, install, start, switchover, failback,
/// rollback, cleanup, offline, online, preflight, before, restore, drain, undrain,
/// cluster_health, finalize: every one a simulator command, only those the operator's kind has
/// are used), the same facts are read (role or none, a numeric lag against a threshold or a
/// sync word, eligibility, running version, finalized series, health), a switchover names the
/// successor exactly when the operator's does (`{peer}`) or lets the members elect one (`peer =
/// "auto"`), and the point of no return and takeover rule are the operator's.
pub fn sim_kinds(cluster: &Cluster) -> Result<String, TwinError> {
    let mut kinds = toml::Table::new();
    for (name, kind) in &cluster.kinds {
        let groups: Vec<&crate::model::Group> =
            cluster.groups.iter().filter(|g| cluster.kind_of(g).is_some_and(|k| k.name == *name)).collect();
        let Some(first) = groups.first() else { continue };
        let role_based = groups.iter().any(|g| g.gtype == GroupType::Server);
        let t = sim_kind(kind, role_based).map_err(|why| TwinError::Unsupported {
            group: first.name.clone(),
            gtype: first.gtype.as_str(),
            kind: name.clone(),
            why,
        })?;
        kinds.insert(name.clone(), toml::Value::Table(t));
    }
    let mut top = toml::Table::new();
    top.insert("kinds".into(), toml::Value::Table(kinds));
    toml::to_string(&top).map_err(|e| TwinError::Config(e.to_string()))
}

fn s(v: &str) -> toml::Value {
    toml::Value::String(v.to_string())
}

/// One parser of a simulated member fact: a JSONPath into the member list.
fn json_fact(from: &str, path: &str, map: &[(&str, &str)], default: Option<&str>) -> toml::Value {
    let mut t = toml::Table::new();
    t.insert("from".into(), s(from));
    t.insert("json".into(), s(path));
    if !map.is_empty() {
        let m: toml::Table = map.iter().map(|(k, v)| (k.to_string(), s(v))).collect();
        t.insert("map".into(), toml::Value::Table(m));
    }
    if let Some(d) = default {
        t.insert("default".into(), s(d));
    }
    toml::Value::Table(t)
}

/// The simulator's kind for one operator kind, or why its features cannot be played.
fn sim_kind(kind: &Kind, role_based: bool) -> Result<toml::Table, String> {
    let api = "http://{address}:{http_port}";
    let post = |path: &str, secs: u32| format!("curl -s --fail-with-body --max-time {secs} -X POST {api}{path}");
    let install = "rm -rf {install_dir}/jsondb && tar zxf {kit_dir}/jsondb-{version}.tar.gz -C {install_dir}";
    let mut k = toml::Table::new();
    let commands: [(&str, String); 19] = [
        ("version", "{install_dir}/jsondb/bin/jsondb-version".into()),
        ("status", format!("curl -s --max-time 5 {api}/cluster")),
        // The member list, answered 200 only while the member leads or is in sync.
        ("health", format!("curl -s --fail-with-body --max-time 5 {api}/health/synced")),
        ("stop", "{install_dir}/jsondb/bin/jsondb-stop -f {db_config} -n {host}".into()),
        ("install", install.into()),
        (
            "start",
            "nohup {install_dir}/jsondb/bin/jsondb-server -f {db_config} -n {host} >>{log_dir}/jsondb.out 2>&1 </dev/null &"
                .into(),
        ),
        ("switchover", if kind.peer_auto { post("/switchover", 30) } else { post("/switchover/{peer}", 30) }),
        // Run on the member that becomes active again: hand the role over to it by name.
        ("failback", post("/switchover/{host}", 30)),
        ("rollback", install.into()),
        ("cleanup", "rm -rf {install_dir}/data/objectdb/dirty-objectdb-backup".into()),
        ("offline", "echo simulated member {host}: service offline for the step".into()),
        ("online", "echo simulated member {host}: service online again".into()),
        (
            "preflight",
            "if test -f {kit_dir}/jsondb-{version}.tar.gz; then echo kit {version} present on {host}; else echo missing: {kit_dir}/jsondb-{version}.tar.gz; exit 1; fi"
                .into(),
        ),
        ("before", post("/before", 10)),
        ("restore", post("/restore", 10)),
        ("drain", post("/drain", 10)),
        ("undrain", post("/undrain", 90)),
        ("cluster_health", format!("curl -s --fail-with-body --max-time 10 {api}/cluster-health")),
        ("finalize", post("/finalize", 10)),
    ];
    for (field, cmd) in commands {
        k.insert(field.into(), s(&cmd));
    }
    k.insert("switchover_refused".into(), toml::Value::Array(vec![s("not possible"), s("\"error\":")]));
    if kind.peer_auto {
        k.insert("peer".into(), s("auto"));
    }
    if let Some(p) = kind.point_of_no_return {
        k.insert("point_of_no_return".into(), s(p.as_str()));
    }
    if kind.takeover != crate::model::Takeover::Any {
        k.insert("takeover".into(), s(kind.takeover.as_str()));
    }
    // Facts come from the member list, read by the probe the operator's kind has.
    let from = if kind.commands.status.is_some() {
        Some("status")
    } else if kind.commands.health.is_some() {
        Some("health")
    } else {
        None
    };
    let pr = &kind.parse;
    let wants_list = pr.role.is_some()
        || pr.sync.is_some()
        || pr.eligible.is_some()
        || pr.running_version.is_some()
        || pr.finalized.is_some()
        || pr.health.is_some();
    let from = match from {
        Some(f) => f,
        None if wants_list => {
            return Err(format!(
                "kind `{}` reads its facts (role, sync, eligibility...) from its version probe alone, and the simulated members answer them from a status or health probe",
                kind.name
            ));
        }
        None => "status",
    };
    let member = |field: &str| format!("$.members[?@.name=='{{host}}'].{field}");
    let mut parse = toml::Table::new();
    let mut version = toml::Table::new();
    version.insert("regex".into(), s(r"JsonDB Server (\S+)"));
    parse.insert("version".into(), toml::Value::Table(version));
    if pr.role.is_some() {
        let (leader, replica) = if role_based { ("active", "passive") } else { ("none", "none") };
        parse.insert(
            "role".into(),
            json_fact(
                from,
                &member("role"),
                &[("leader", leader), ("replica", replica), ("stopping", "stopped")],
                Some("stopped"),
            ),
        );
    }
    if let Some(sync) = &pr.sync {
        let fact = if sync.max.is_some() {
            // A numeric lag against a threshold: every unapplied write counts 1 KiB.
            let mut t = match json_fact(from, &member("lag"), &[], None) {
                toml::Value::Table(t) => t,
                _ => toml::Table::new(),
            };
            t.insert("max".into(), s("2KiB"));
            toml::Value::Table(t)
        } else {
            json_fact(
                from,
                &member("state"),
                &[("streaming", "in-sync"), ("catching up", "syncing"), ("starting", "syncing")],
                Some("unknown"),
            )
        };
        parse.insert("sync".into(), fact);
    }
    if pr.eligible.is_some() {
        parse.insert("eligible".into(), json_fact(from, &member("eligible"), &[], Some("no")));
    }
    if pr.running_version.is_some() {
        parse.insert("running_version".into(), json_fact(from, &member("version"), &[], None));
    }
    if pr.finalized.is_some() {
        parse.insert("finalized".into(), json_fact(from, "$.cluster_version", &[], None));
    }
    if pr.health.is_some() {
        parse.insert(
            "health".into(),
            json_fact(from, &member("state"), &[("running", "ok"), ("streaming", "ok")], Some("failed")),
        );
    }
    k.insert("parse".into(), toml::Value::Table(parse));
    Ok(k)
}

/// The operator's `[cluster]` keys a twin of simulated replicated members keeps in the
/// simulator's own config (all but name, transport and job directory, which are the
/// simulator's), as TOML lines.
pub fn cluster_keys(operator: &toml::Table) -> Vec<String> {
    let Some(c) = operator.get("cluster").and_then(|c| c.as_table()) else { return Vec::new() };
    c.iter()
        .filter(|(k, _)| !matches!(k.as_str(), "name" | "transport" | "job_dir"))
        .map(|(k, v)| format!("{k} = {v}"))
        .collect()
}

/// Builds the twin's shape from the operator's cluster and a starting state (assumed, probed,
/// or `None` for a plausible one: first member of each server group active, every member one
/// version below the target). Clusters made of the simulated products' own kinds run as those
/// products; any other cluster of server and peer groups runs as simulated replicated members.
pub fn shape_for(cluster: &Cluster, observed: Option<&Observed>) -> Result<(Topology, TwinShape), TwinError> {
    let e = match shape_products(cluster, observed) {
        Ok(x) => return Ok(x),
        Err(e) => e,
    };
    // The simulated replicated members play server and peer groups; a group of another type
    // is played only by the product it belongs to.
    let Some(g) = cluster.groups.iter().find(|g| !matches!(g.gtype, GroupType::Server | GroupType::Peer)) else {
        return shape_generic(cluster, observed);
    };
    let products_why = match &e {
        TwinError::Unsupported { group, why, .. } if *group == g.name => why.clone(),
        TwinError::Unsupported { group, kind, why, .. } => format!("group `{group}` of kind {kind}: {why}"),
        other => other.to_string(),
    };
    Err(TwinError::Unsupported {
        group: g.name.clone(),
        gtype: g.gtype.as_str(),
        kind: g.kind.clone(),
        why: format!(
            "a {} group is simulated only as part of the Terracotta or Exchange products, and the simulated replicated members that stand in for other kinds play server and peer groups only ({products_why})",
            g.gtype.as_str()
        ),
    })
}

/// Most members one group of simulated replicated members may have, and most groups: each is a
/// process on this machine.
const MAX_MEMBERS: usize = 9;
const MAX_GROUPS: usize = 8;

/// The twin as simulated replicated members: every group a replicated stripe of its own with a
/// writer, every kind played feature by feature by [`sim_kinds`].
fn shape_generic(cluster: &Cluster, observed: Option<&Observed>) -> Result<(Topology, TwinShape), TwinError> {
    let topology = GENERIC_TOPOLOGY;
    let unsupported = |g: &crate::model::Group, why: String| TwinError::Unsupported {
        group: g.name.clone(),
        gtype: g.gtype.as_str(),
        kind: g.kind.clone(),
        why,
    };
    if cluster.groups.len() > MAX_GROUPS
        && let Some(g) = cluster.groups.get(MAX_GROUPS)
    {
        return Err(unsupported(
            g,
            format!("the cluster has {} groups and a twin runs at most {MAX_GROUPS}", cluster.groups.len()),
        ));
    }
    let sim_kinds = sim_kinds(cluster)?;
    let mut assumptions = Vec::new();
    let mut groups = Vec::new();
    let plausible = generic_version(&cluster.target, cluster.compat);
    for g in &cluster.groups {
        if !(1..=MAX_MEMBERS).contains(&g.nodes.len()) {
            return Err(unsupported(
                g,
                format!("it has {} members and a simulated group has 1 to {MAX_MEMBERS}", g.nodes.len()),
            ));
        }
        let kind = cluster.kind_of(g);
        let reads_eligible = kind.is_some_and(|k| k.parse.eligible.is_some());
        let server = g.gtype == GroupType::Server;
        let mut hosts = Vec::new();
        for n in &g.nodes {
            let obs = observed.and_then(|o| o.nodes.get(&n.name));
            let version = match obs.and_then(|o| o.version.clone()) {
                Some(v) => v.to_string(),
                None => {
                    let v = plausible.clone().ok_or_else(|| {
                        TwinError::State(format!(
                            "no state says which version {} runs, and no release below the target {} is compatible with it under compat = \"{}\"; give the state with --assume or --probe",
                            n.name,
                            cluster.target,
                            cluster.compat.as_str()
                        ))
                    })?;
                    assumptions.push(format!(
                        "{} runs {v} (no state said which version; {v} is a release below the target that compat = \"{}\" lets run beside it)",
                        n.name,
                        cluster.compat.as_str()
                    ));
                    v.to_string()
                }
            };
            hosts.push(TwinHost {
                name: n.name.clone(),
                machine: n.name.clone(),
                declared_role: None,
                version,
                active: obs.is_some_and(|o| o.role == Role::Active),
                eligible: obs.and_then(|o| o.eligible) != Some(false),
            });
        }
        if !hosts.iter().any(|h| h.active)
            && let Some(first) = hosts.first_mut()
        {
            first.active = true;
            if server {
                assumptions.push(format!("{} is the active of group {} (first member)", first.name, g.name));
            }
        }
        if reads_eligible && observed.is_none() {
            assumptions.push(format!("every replica of group {} may take over (no state said otherwise)", g.name));
        }
        groups.push(TwinGroup { name: g.name.clone(), keys: Vec::new(), role: HostRole::Server, servers: None, hosts });
    }
    let finalized = starting_series(&groups, observed, &mut assumptions);
    let shape = TwinShape {
        name: cluster.name.clone(),
        groups,
        target: cluster.target.to_string(),
        component_targets: Vec::new(),
        assumptions,
        topology,
        finalized,
        sim_kinds: Some(sim_kinds),
        cluster_keys: Vec::new(),
        compat: Some(cluster.compat),
    };
    Ok((topology, shape))
}

/// The series the twin's cluster starts committed to: the highest a member's state reports,
/// else the oldest member's.
fn starting_series(groups: &[TwinGroup], observed: Option<&Observed>, assumptions: &mut Vec<String>) -> Option<String> {
    let members: Vec<&TwinHost> = groups.iter().flat_map(|g| g.hosts.iter()).collect();
    let reported = members
        .iter()
        .filter_map(|h| observed.and_then(|o| o.nodes.get(&h.name)).and_then(|o| o.finalized.clone()))
        .max();
    match reported {
        Some(v) => Some(format!("{}.{}", v.major, v.minor)),
        None => {
            let oldest = members
                .iter()
                .filter_map(|h| crate::model::parse_loose(&h.version))
                .min()
                .map(|v| format!("{}.{}", v.major, v.minor));
            if let Some(s) = &oldest {
                assumptions.push(format!(
                    "the cluster is committed to the {s} series, its oldest member's (no state said where it was finalized)"
                ));
            }
            oldest
        }
    }
}

/// The twin as the simulated products themselves (Terracotta, StreamBase, Exchange).
fn shape_products(cluster: &Cluster, observed: Option<&Observed>) -> Result<(Topology, TwinShape), TwinError> {
    let profile = cluster.profile;
    let topology = topology_for(profile);
    let mut assumptions = Vec::new();
    let mut groups = Vec::new();
    let mut component_targets = Vec::new();
    // Machines of the server nodes, by address, for components that sit on them.
    let mut machine_by_address: Vec<(String, String)> = Vec::new();
    for g in &cluster.groups {
        let role = role_for(profile, g.gtype, &g.kind).map_err(|why| TwinError::Unsupported {
            group: g.name.clone(),
            gtype: g.gtype.as_str(),
            kind: g.kind.clone(),
            why,
        })?;
        if role == HostRole::SbNode && groups.iter().any(|x: &TwinGroup| x.role == HostRole::SbNode) {
            return Err(TwinError::Unsupported {
                group: g.name.clone(),
                gtype: g.gtype.as_str(),
                kind: g.kind.clone(),
                why: "the simulator runs one StreamBase cluster per twin, and this is a second group of nodes".into(),
            });
        }
        let product = product_of(role, topology);
        let target = if role == HostRole::Scanner { g.target.clone() } else { Some(cluster.target.clone()) };
        if let (HostRole::Scanner, Some(t)) = (role, &target) {
            component_targets.push((kits::SCANNER_KIT.dir.to_string(), t.to_string()));
        }
        let mut hosts = Vec::new();
        for n in &g.nodes {
            let obs = observed.and_then(|o| o.nodes.get(&n.name));
            let version = match obs.and_then(|o| o.version.clone()) {
                Some(v) => v.to_string(),
                None => {
                    let base = target.clone().unwrap_or_else(|| Version::new(u64::MAX, 0, 0));
                    let v = plausible_version(&product, &base)
                        .or_else(|| product.versions.first().map(|s| s.to_string()))
                        .ok_or_else(|| TwinError::State(format!("no simulated version for {}", n.name)))?;
                    assumptions.push(format!(
                        "{} runs {v} (no state said which version; {} is the newest simulated {} release below the target)",
                        n.name, v, product.display
                    ));
                    v
                }
            };
            let active = match observed.and_then(|o| o.nodes.get(&n.name)) {
                Some(o) => o.role == Role::Active,
                None => false,
            };
            let machine = if role == HostRole::Scanner {
                machine_by_address
                    .iter()
                    .find(|(a, _)| *a == n.address)
                    .map(|(_, m)| m.clone())
                    .ok_or_else(|| TwinError::Unsupported {
                        group: g.name.clone(),
                        gtype: g.gtype.as_str(),
                        kind: g.kind.clone(),
                        why: format!(
                            "member {} has address {}, which is no Exchange node's: a scanner is simulated on the node it is installed on",
                            n.name, n.address
                        ),
                    })?
            } else {
                n.name.clone()
            };
            if role == HostRole::Exchange {
                machine_by_address.push((n.address.clone(), n.name.clone()));
            }
            hosts.push(TwinHost {
                name: n.name.clone(),
                machine,
                declared_role: n.declared_role.map(|r| match r {
                    crate::model::DeclaredRole::Master => "master".to_string(),
                    crate::model::DeclaredRole::Standby => "standby".to_string(),
                }),
                version,
                active,
                eligible: true,
            });
        }
        if matches!(role, HostRole::Server | HostRole::Exchange)
            && !hosts.iter().any(|h| h.active)
            && let Some(first) = hosts.first_mut()
        {
            first.active = true;
            assumptions.push(format!("{} is the active of group {} (first member)", first.name, g.name));
        }
        if role == HostRole::Server && !(1..=3).contains(&hosts.len()) {
            return Err(TwinError::Unsupported {
                group: g.name.clone(),
                gtype: g.gtype.as_str(),
                kind: g.kind.clone(),
                why: format!("it has {} members and a simulated stripe has 1 to 3 servers", hosts.len()),
            });
        }
        groups.push(TwinGroup { name: g.name.clone(), keys: Vec::new(), role, servers: g.servers.clone(), hosts });
    }
    let shape = TwinShape {
        name: cluster.name.clone(),
        groups,
        target: cluster.target.to_string(),
        component_targets,
        assumptions,
        topology,
        finalized: None,
        sim_kinds: None,
        cluster_keys: Vec::new(),
        compat: None,
    };
    Ok((topology, shape))
}

/// Group keys for the simulator's own config, copied from the operator's group table (all
/// but name, hosts and vars).
pub fn group_keys(operator: &toml::Table, group: &str) -> Vec<String> {
    let Some(toml::Value::Array(groups)) = operator.get("groups") else { return Vec::new() };
    let Some(g) =
        groups.iter().filter_map(|g| g.as_table()).find(|g| g.get("name").and_then(|n| n.as_str()) == Some(group))
    else {
        return Vec::new();
    };
    g.iter()
        .filter(|(k, _)| !matches!(k.as_str(), "name" | "hosts" | "vars"))
        .map(|(k, v)| format!("{k} = {v}"))
        .collect()
}

/// The group keys a twin group is declared with in the simulator's config: the operator's (the
/// simulator's kinds carry the operator's kind names, so every key means the same).
pub fn twin_group_keys(operator: &toml::Table, _shape: &TwinShape, group: &str) -> Vec<String> {
    group_keys(operator, group)
}

/// A command that stands in for an operator hook the simulator has no counterpart for: it
/// keeps the step in the plan and says, in the step's output, that it was not run.
fn stand_in(kind: &str, field: &str) -> toml::Value {
    toml::Value::String(format!(
        "echo {}",
        crate::model::shell_quote(&format!(
            "rehearsal: the {field} command of kind {kind} is not run on the twin (the simulator has none)"
        ))
    ))
}

/// The twin's config: the operator's file with every procedure setting kept (cluster name,
/// target, profile, compat, persistence, failback, timeouts, groups, regions, roles, batches,
/// which hooks exist) and everything that reaches a machine replaced by the simulator's (its
/// command templates and parsers, variables, addresses, lock, job directory; local transport,
/// no ssh, no notifications). Returns the text and the hooks that were stood in for.
pub fn twin_config(operator_text: &str, sim_text: &str) -> Result<(String, Vec<String>), TwinError> {
    let op: toml::Table = toml::from_str(operator_text).map_err(|e| TwinError::Config(e.to_string()))?;
    let sim: toml::Table = toml::from_str(sim_text).map_err(|e| TwinError::Config(e.to_string()))?;
    let mut out = op.clone();
    let mut stood_in = Vec::new();
    // [cluster]
    let mut cluster = op.get("cluster").and_then(|c| c.as_table()).cloned().unwrap_or_default();
    let sim_cluster = sim.get("cluster").and_then(|c| c.as_table()).cloned().unwrap_or_default();
    cluster.insert("transport".into(), toml::Value::String("local".into()));
    match sim_cluster.get("job_dir") {
        Some(j) => {
            cluster.insert("job_dir".into(), j.clone());
        }
        None => {
            cluster.remove("job_dir");
        }
    }
    out.insert("cluster".into(), toml::Value::Table(cluster));
    out.remove("ssh");
    out.remove("notify");
    for key in ["lock", "vars"] {
        match sim.get(key) {
            Some(v) => {
                out.insert(key.into(), v.clone());
            }
            None => {
                out.remove(key);
            }
        }
    }
    // The operator's kind of each group -> the simulator's kind of the same group (they differ
    // when the operator's kind runs as simulated jsondb members under another name).
    let kind_of = |t: &toml::Table, g: &str| -> Option<String> {
        t.get("groups")?
            .as_array()?
            .iter()
            .filter_map(|x| x.as_table())
            .find(|x| x.get("name").and_then(|n| n.as_str()) == Some(g))
            // A group without a kind is of the kind named like its type.
            .and_then(|x| x.get("kind").or_else(|| x.get("type")))?
            .as_str()
            .map(str::to_string)
    };
    let mut sim_kind_of: Vec<(String, String)> = Vec::new();
    for og in op.get("groups").and_then(|g| g.as_array()).into_iter().flatten() {
        let Some(gname) = og.get("name").and_then(|n| n.as_str()) else { continue };
        if let (Some(ok), Some(sk)) = (kind_of(&op, gname), kind_of(&sim, gname))
            && ok != sk
        {
            sim_kind_of.push((ok, sk));
        }
    }
    // [kinds.*]
    let sim_kinds = sim.get("kinds").and_then(|k| k.as_table()).cloned().unwrap_or_default();
    let mut kinds = toml::Table::new();
    if let Some(op_kinds) = op.get("kinds").and_then(|k| k.as_table()) {
        for (name, okind) in op_kinds {
            let Some(okind) = okind.as_table() else { continue };
            let sname = sim_kind_of.iter().find(|(o, _)| o == name).map(|(_, s)| s.as_str()).unwrap_or(name);
            let skind = sim_kinds.get(sname).and_then(|k| k.as_table()).cloned().unwrap_or_default();
            let mut k = toml::Table::new();
            for (field, v) in okind {
                match field.as_str() {
                    "parse" | "sudo" | "workdir" => {}
                    // The operator's procedure, not a command: who elects the new active, which
                    // step cannot be undone, which way a takeover may go.
                    "peer" | "point_of_no_return" | "takeover" => {
                        k.insert(field.clone(), v.clone());
                    }
                    _ => match skind.get(field) {
                        Some(sv) => {
                            k.insert(field.clone(), sv.clone());
                        }
                        None => {
                            stood_in.push(format!("{name}.{field}"));
                            k.insert(field.clone(), stand_in(name, field));
                        }
                    },
                }
            }
            if let Some(p) = skind.get("parse") {
                k.insert("parse".into(), p.clone());
            }
            if let Some(w) = skind.get("workdir") {
                k.insert("workdir".into(), w.clone());
            }
            kinds.insert(name.clone(), toml::Value::Table(k));
        }
    }
    out.insert("kinds".into(), toml::Value::Table(kinds));
    // [[groups]]
    let sim_groups: Vec<toml::Table> = sim
        .get("groups")
        .and_then(|g| g.as_array())
        .map(|a| a.iter().filter_map(|g| g.as_table().cloned()).collect())
        .unwrap_or_default();
    let mut groups = Vec::new();
    if let Some(op_groups) = op.get("groups").and_then(|g| g.as_array()) {
        for og in op_groups {
            let Some(og) = og.as_table() else { continue };
            let gname = og.get("name").and_then(|n| n.as_str()).unwrap_or_default();
            let sg = sim_groups
                .iter()
                .find(|g| g.get("name").and_then(|n| n.as_str()) == Some(gname))
                .ok_or_else(|| TwinError::Config(format!("the twin has no group {gname}")))?;
            let mut g = og.clone();
            g.remove("vars");
            if let Some(v) = sg.get("vars") {
                g.insert("vars".into(), v.clone());
            }
            let sim_hosts: Vec<toml::Table> = sg
                .get("hosts")
                .and_then(|h| h.as_array())
                .map(|a| a.iter().filter_map(|h| h.as_table().cloned()).collect())
                .unwrap_or_default();
            let mut hosts = Vec::new();
            for oh in og.get("hosts").and_then(|h| h.as_array()).cloned().unwrap_or_default() {
                let (hname, role) = match &oh {
                    toml::Value::String(s) => (s.clone(), None),
                    toml::Value::Table(t) => {
                        (t.get("name").and_then(|n| n.as_str()).unwrap_or_default().to_string(), t.get("role").cloned())
                    }
                    _ => continue,
                };
                let sh = sim_hosts
                    .iter()
                    .find(|h| h.get("name").and_then(|n| n.as_str()) == Some(hname.as_str()))
                    .ok_or_else(|| TwinError::Config(format!("the twin has no member {hname}")))?;
                let mut h = toml::Table::new();
                h.insert("name".into(), toml::Value::String(hname.clone()));
                if let Some(a) = sh.get("address") {
                    h.insert("address".into(), a.clone());
                }
                if let Some(r) = role {
                    h.insert("role".into(), r);
                }
                if let Some(v) = sh.get("vars") {
                    h.insert("vars".into(), v.clone());
                }
                hosts.push(toml::Value::Table(h));
            }
            g.insert("hosts".into(), toml::Value::Array(hosts));
            groups.push(toml::Value::Table(g));
        }
    }
    out.insert("groups".into(), toml::Value::Array(groups));
    let text = toml::to_string(&out).map_err(|e| TwinError::Config(e.to_string()))?;
    let header = "# A rehearsal twin of the operator's cluster, written by `rollpilot rehearse`.\n# Procedure settings are the operator's; commands, paths and addresses are the simulator's.\n\n";
    Ok((format!("{header}{text}"), stood_in))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPERATOR: &str = r#"
[cluster]
name = "prod"
target = "4.2.1"
profile = "terracotta"
failback = "never"
transport = "ssh"

[ssh]
user = "ops"

[notify]
command = "page-someone"

[timeouts]
step = "7m"

[vars]
install_dir = "/opt/tc"

[kinds.server]
version = "real-version"
before = "real-backup --now"
sudo = true

[[groups]]
name = "east"
type = "server"
region = "us-east"
vars = { secret = "x" }
hosts = [{ name = "a", address = "10.0.0.1", user = "root", port = 2222 }, "b"]
"#;

    const SIM: &str = r#"
[cluster]
name = "prod"
job_dir = "/tmp/sim/jobs"
[lock]
host = "a"
path = "/tmp/sim/lock/rollpilot"
[vars]
[kinds.server]
version = "/tmp/sim/version.sh"
stop = "/tmp/sim/stop.sh"
[kinds.server.parse]
version = { regex = 'v(\S+)' }
[[groups]]
name = "east"
type = "server"
[[groups.hosts]]
name = "a"
address = "127.0.0.1"
[groups.hosts.vars]
install_dir = "/tmp/sim/nodes/a"
[[groups.hosts]]
name = "b"
address = "127.0.0.1"
"#;

    #[test]
    fn the_twin_keeps_the_procedure_and_replaces_everything_that_reaches_a_machine() {
        let (text, stood_in) = twin_config(OPERATOR, SIM).unwrap();
        let t: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(t["cluster"]["failback"].as_str(), Some("never"));
        assert_eq!(t["cluster"]["transport"].as_str(), Some("local"));
        assert_eq!(t["timeouts"]["step"].as_str(), Some("7m"));
        assert!(t.get("ssh").is_none() && t.get("notify").is_none());
        assert_eq!(t["lock"]["path"].as_str(), Some("/tmp/sim/lock/rollpilot"));
        let k = &t["kinds"]["server"];
        assert_eq!(k["version"].as_str(), Some("/tmp/sim/version.sh"));
        // The operator's backup hook is kept as a step, but never runs the real command.
        assert_eq!(stood_in, vec!["server.before".to_string()]);
        assert!(k["before"].as_str().unwrap().starts_with("echo "));
        assert!(!text.contains("real-backup") && !text.contains("10.0.0.1") && !text.contains("page-someone"));
        assert!(k.get("sudo").is_none() && k.get("stop").is_none());
        let g = &t["groups"][0];
        assert_eq!(g["region"].as_str(), Some("us-east"));
        assert!(g.get("vars").is_none());
        assert_eq!(g["hosts"][0]["address"].as_str(), Some("127.0.0.1"));
        assert!(g["hosts"][0].get("user").is_none() && g["hosts"][0].get("port").is_none());
        assert_eq!(g["hosts"][1]["name"].as_str(), Some("b"));
    }

    fn load(f: &str) -> Cluster {
        crate::config::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config").join(f)).unwrap()
    }

    #[test]
    fn kinds_outside_the_simulated_products_run_as_replicated_members_with_their_features() {
        let jsondb = load("jsondb.toml");
        let (topology, shape) = shape_for(&jsondb, None).unwrap();
        assert_eq!(topology, GENERIC_TOPOLOGY);
        assert_eq!(shape.finalized.as_deref(), Some("3.1"));
        assert!(shape.kit_versions().iter().all(|(d, _)| *d == kits::JSONDB_KIT.dir));
        // Patroni: a named successor and an eligibility fact, no finalize.
        let patroni = load("patroni.toml");
        let (_, shape) = shape_for(&patroni, None).unwrap();
        let kinds: toml::Table = toml::from_str(shape.sim_kinds.as_deref().unwrap()).unwrap();
        let pg = &kinds["kinds"]["postgres"];
        assert!(pg["switchover"].as_str().unwrap().ends_with("/switchover/{peer}"), "{pg}");
        assert!(pg.get("peer").is_none() && pg.get("point_of_no_return").is_none(), "{pg}");
        let parse = pg["parse"].as_table().unwrap();
        assert!(parse.contains_key("eligible") && parse.contains_key("running_version"), "{parse:?}");
        assert!(!parse.contains_key("finalized") && parse["sync"].get("max").is_some(), "{parse:?}");
        // Every member starts one minor release below 16.4 (same major, as compat says).
        assert!(shape.groups[0].hosts.iter().all(|h| h.version == "16.3.0"), "{:?}", shape.groups);
        // Redis with Sentinel: a sync word, an elected successor, a peer group without roles.
        let sentinel = load("redis-sentinel.toml");
        let (_, shape) = shape_for(&sentinel, None).unwrap();
        let kinds: toml::Table = toml::from_str(shape.sim_kinds.as_deref().unwrap()).unwrap();
        assert!(kinds["kinds"]["redis"]["parse"]["sync"].get("max").is_none());
        assert_eq!(kinds["kinds"]["sentinel"]["parse"]["role"]["map"]["leader"].as_str(), Some("none"));
        assert!(shape.assumptions.iter().any(|a| a.contains("redis-1 is the active of group cache")));
        assert!(!shape.assumptions.iter().any(|a| a.contains("active of group sentinels")));
        // CockroachDB: a peer group without a role parser, finalize, drain and hooks.
        let crdb = load("cockroachdb.toml");
        let (_, shape) = shape_for(&crdb, None).unwrap();
        assert_eq!(shape.finalized.as_deref(), Some("24.0"));
        let kinds: toml::Table = toml::from_str(shape.sim_kinds.as_deref().unwrap()).unwrap();
        assert_eq!(kinds["kinds"]["crdb"]["point_of_no_return"].as_str(), Some("finalize"));
        assert!(kinds["kinds"]["crdb"]["parse"].get("role").is_none());
    }

    #[test]
    fn an_ineligible_replica_in_the_state_is_played_as_one() {
        let patroni = load("patroni.toml");
        let text = "[nodes.pg-1]\nversion = \"16.3.0\"\nrole = \"active\"\n[nodes.pg-2]\nversion = \"16.3.0\"\nrole = \"passive\"\nsync = \"in-sync\"\neligible = false\n[nodes.pg-3]\nversion = \"16.3.0\"\nrole = \"passive\"\nsync = \"in-sync\"\neligible = true\n";
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("state.toml");
        std::fs::write(&f, text).unwrap();
        let obs = crate::config::observed_file::load(&f, &patroni).unwrap();
        let (_, shape) = shape_for(&patroni, Some(&obs)).unwrap();
        let eligible: Vec<(&str, bool, bool)> =
            shape.groups[0].hosts.iter().map(|h| (h.name.as_str(), h.active, h.eligible)).collect();
        assert_eq!(eligible, vec![("pg-1", true, true), ("pg-2", false, false), ("pg-3", false, true)]);
    }

    #[test]
    fn a_kind_that_reads_facts_from_its_version_probe_alone_is_refused_by_feature() {
        let example = include_str!("../../config/cockroachdb.toml");
        let operator: String = example
            .lines()
            .filter(|l| !l.starts_with("status = ") && !l.starts_with("health = "))
            .map(|l| {
                if l.starts_with("finalized = ") {
                    "finalized = { from = \"version\", regex = 'v(\\d+\\.\\d+)' }"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert_ne!(operator, example);
        let cluster = crate::config::parse_str(&operator, "op.toml", std::path::Path::new(".")).unwrap();
        let e = shape_for(&cluster, None).unwrap_err().to_string();
        assert!(e.contains("group `crdb`") && e.contains("version probe alone"), "{e}");
    }

    #[test]
    fn a_group_type_outside_the_simulated_products_is_refused_by_name() {
        let example = include_str!("../../config/exchange.toml");
        let operator =
            example.replace("[kinds.scanner", "[kinds.antivirus").replace("kind = \"scanner\"", "kind = \"antivirus\"");
        assert_ne!(operator, example);
        let cluster = crate::config::parse_str(&operator, "op.toml", std::path::Path::new(".")).unwrap();
        let e = shape_for(&cluster, None).unwrap_err().to_string();
        assert!(e.contains("type component") && e.contains("kind antivirus"), "{e}");
    }

    #[test]
    fn the_twin_keeps_the_operators_cluster_keys_but_not_its_transport() {
        let op: toml::Table = toml::from_str(include_str!("../../config/patroni.toml")).unwrap();
        let keys = cluster_keys(&op);
        assert!(keys.contains(&"profile = \"active-passive\"".to_string()), "{keys:?}");
        assert!(!keys.iter().any(|k| k.starts_with("transport") || k.starts_with("name")), "{keys:?}");
    }

    #[test]
    fn plausible_versions_stay_on_the_targets_line() {
        let v = |s: &str| semver::Version::parse(s).unwrap();
        assert_eq!(plausible_version(&kits::TERRACOTTA_KIT, &v("4.2.1")).as_deref(), Some("4.2.0"));
        assert_eq!(plausible_version(&kits::TERRACOTTA_KIT, &v("4.3.0")).as_deref(), Some("4.2.1"));
        assert_eq!(plausible_version(&kits::STREAMBASE_KIT, &v("10.6.1")).as_deref(), Some("10.6.0"));
        assert_eq!(plausible_version(&kits::STREAMBASE_KIT, &v("1.0.0")), None);
    }
}
