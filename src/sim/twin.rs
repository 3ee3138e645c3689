//! A rehearsal twin: the operator's own cluster (its groups, member names, regions, roles and
//! versions) as simulated processes on loopback, so a maintenance window can be practised on
//! something shaped exactly like the real thing before it opens.
//!
//! Two halves: [`shape_for`] decides which simulated process stands in for each member (or says
//! exactly which group cannot be simulated and why), and [`twin_config`] rewrites the operator's
//! config so that every procedure setting stays theirs while every command becomes the
//! simulator's.

use super::kits;
use super::state::{HostRole, Topology};
use crate::model::{Cluster, GroupType, Kind, Matcher, NoReturn, Observed, ProbeKind, Profile, Role};
use semver::Version;

/// Why a cluster cannot be twinned, in words an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum TwinError {
    /// A group whose kind the simulator has no process for.
    #[error(
        "group `{group}` (type {gtype}, kind {kind}) cannot be simulated: {why}. The simulator runs Terracotta servers, clients and WAN orchestrators (profile terracotta), StreamBase nodes (profile any-order, kind node), Exchange 2003 nodes with their virus scanner (profile active-passive, kinds exchange and scanner) and a jsondb database alone in its cluster (profile active-passive, one server group of 1 to 3 members whose kind reads a JSON member list, gates on a numeric lag, lets the members elect the new leader with peer = \"auto\", reads no eligibility and ends in a finalize that is its point of no return, as config/jsondb.toml does); rehearse this cluster on a staging copy instead"
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

/// The kind of a simulated jsondb member in the simulator's own config.
pub const JSONDB_KIND: &str = "jsondb";

/// Why the simulated jsondb members would not behave like the members of a server group of this
/// kind (empty when they would). The twin replaces every command and parser by the simulator's,
/// so what must match is the behaviour the plan and the run rely on: a JSON member list, a lag
/// in bytes against a threshold, a switchover where the members (not rollpilot) elect the new
/// leader, no eligibility rule beyond being in sync, and a finalize as the point of no return.
pub fn jsondb_mismatches(kind: &Kind) -> Vec<String> {
    let mut why = Vec::new();
    let json_role =
        kind.parse.role.as_ref().is_some_and(|r| r.from == ProbeKind::Status && matches!(r.matcher, Matcher::Json(_)));
    if !json_role {
        why.push(
            "it does not read its role from a JSON member list (parse.role with a json path on status)".to_string(),
        );
    }
    if kind.parse.sync.as_ref().is_none_or(|s| s.max.is_none()) {
        why.push("it does not gate on a replication lag against a threshold (parse.sync with max)".to_string());
    }
    if kind.commands.switchover.is_none() {
        why.push("it has no switchover command".to_string());
    }
    if !kind.peer_auto {
        why.push(
            "rollpilot names the member that takes over (no peer = \"auto\"), while simulated jsondb members elect the new leader themselves, so the twin would rehearse another switchover"
                .to_string(),
        );
    }
    if kind.parse.eligible.is_some() {
        why.push(
            "it reads which replicas may take over (parse.eligible: failover tags, synchronous standbys), which simulated jsondb members do not model"
                .to_string(),
        );
    }
    if kind.commands.finalize.is_none()
        || kind.point_of_no_return != Some(NoReturn::Finalize)
        || kind.parse.finalized.is_none()
    {
        why.push(
            "it has no finalize step as its point of no return with a parse.finalized (a simulated jsondb cluster stays on the old series until it is finalized)"
                .to_string(),
        );
    }
    why
}

/// Which simulated process stands in for a group, or why none can.
fn role_for(profile: Profile, gtype: GroupType, kind: &str, def: Option<&Kind>) -> Result<HostRole, String> {
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
    let mut why = format!(
        "under profile {} the simulator only has {}, and it has no process that answers kind `{kind}`'s commands and probes",
        profile.as_str(),
        wanted
    );
    if profile == Profile::ActivePassive && gtype == GroupType::Server {
        let mismatches = def.map(jsondb_mismatches).unwrap_or_default();
        if !mismatches.is_empty() {
            why.push_str(&format!("; nor can its simulated jsondb members stand in for it: {}", mismatches.join("; ")));
        }
    }
    Err(why)
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

/// Builds the twin's shape from the operator's cluster and a starting state (assumed, probed,
/// or `None` for a plausible one: first member of each server group active, every member one
/// version below the target).
pub fn shape_for(cluster: &Cluster, observed: Option<&Observed>) -> Result<(Topology, TwinShape), TwinError> {
    let profile = cluster.profile;
    // An active-passive server group whose kind behaves like the simulated jsondb members.
    let jsondb_group = cluster
        .groups
        .iter()
        .find(|g| {
            profile == Profile::ActivePassive
                && g.gtype == GroupType::Server
                && cluster.kind_of(g).is_some_and(|k| jsondb_mismatches(k).is_empty())
        })
        .map(|g| g.name.clone());
    let topology = if jsondb_group.is_some() { Topology::Jsondb } else { topology_for(profile) };
    let mut assumptions = Vec::new();
    let mut groups = Vec::new();
    let mut component_targets = Vec::new();
    // Machines of the server nodes, by address, for components that sit on them.
    let mut machine_by_address: Vec<(String, String)> = Vec::new();
    for g in &cluster.groups {
        let role = match &jsondb_group {
            Some(j) if *j == g.name => Ok(HostRole::Server),
            Some(j) => Err(format!(
                "a simulated jsondb cluster runs alone (its members, its writer, one cluster version), and this group sits beside group `{j}`, which the twin runs as jsondb"
            )),
            None => role_for(profile, g.gtype, &g.kind, cluster.kind_of(g)),
        }
        .map_err(|why| TwinError::Unsupported { group: g.name.clone(), gtype: g.gtype.as_str(), kind: g.kind.clone(), why })?;
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
    let finalized = if topology == Topology::Jsondb {
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
    } else {
        None
    };
    let shape = TwinShape {
        name: cluster.name.clone(),
        groups,
        target: cluster.target.to_string(),
        component_targets,
        assumptions,
        topology,
        finalized,
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

/// The group keys a twin group is declared with in the simulator's config: the operator's, but
/// a group run as simulated jsondb members names the simulator's kind, whatever the operator
/// calls theirs ([`twin_config`] gives the operator's name back).
pub fn twin_group_keys(operator: &toml::Table, shape: &TwinShape, group: &str) -> Vec<String> {
    let keys = group_keys(operator, group);
    if shape.topology != Topology::Jsondb {
        return keys;
    }
    let mut out: Vec<String> = keys.into_iter().filter(|k| !k.trim_start().starts_with("kind ")).collect();
    out.push(format!("kind = \"{JSONDB_KIND}\""));
    out
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

    #[test]
    fn the_jsondb_example_behaves_like_the_simulated_members_and_patroni_does_not() {
        let load = |f: &str| {
            crate::config::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config").join(f)).unwrap()
        };
        let jsondb = load("jsondb.toml");
        assert_eq!(jsondb_mismatches(&jsondb.kinds["jsondb"]), Vec::<String>::new());
        let (topology, shape) = shape_for(&jsondb, None).unwrap();
        assert_eq!(topology, Topology::Jsondb);
        assert_eq!(shape.finalized.as_deref(), Some("3.1"));
        assert!(shape.kit_versions().iter().all(|(d, _)| *d == kits::JSONDB_KIT.dir));
        let patroni = load("patroni.toml");
        let why = jsondb_mismatches(&patroni.kinds["postgres"]).join("; ");
        assert!(why.contains("peer") && why.contains("eligible") && why.contains("finalize"), "{why}");
        assert!(shape_for(&patroni, None).is_err());
    }

    #[test]
    fn a_kind_run_as_jsondb_under_another_name_gets_the_simulators_commands() {
        let example = include_str!("../../config/jsondb.toml");
        // The operator's kind is the group's default one (named like its type).
        let operator = example.replace("[kinds.jsondb", "[kinds.server").replace("kind = \"jsondb\"\n", "");
        let cluster = crate::config::parse_str(&operator, "op.toml", std::path::Path::new(".")).unwrap();
        let (topology, shape) = shape_for(&cluster, None).unwrap();
        assert_eq!(topology, Topology::Jsondb);
        let op: toml::Table = toml::from_str(&operator).unwrap();
        let keys = twin_group_keys(&op, &shape, "db");
        assert!(keys.contains(&"kind = \"jsondb\"".to_string()), "{keys:?}");
        let sim = r#"
[cluster]
name = "jsondb-prod"
[kinds.jsondb]
version = "sim-version"
status = "sim-status"
health = "sim-health"
stop = "sim-stop"
install = "sim-install"
start = "sim-start"
switchover = "sim-switchover"
switchover_refused = ["no"]
finalize = "sim-finalize"
point_of_no_return = "finalize"
[[groups]]
name = "db"
type = "server"
kind = "jsondb"
hosts = [{ name = "db-1", address = "127.0.0.1" }, { name = "db-2", address = "127.0.0.1" }, { name = "db-3", address = "127.0.0.1" }]
"#;
        let (text, stood_in) = twin_config(&operator, sim).unwrap();
        assert_eq!(stood_in, Vec::<String>::new());
        let t: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(t["kinds"]["server"]["finalize"].as_str(), Some("sim-finalize"));
        assert_eq!(t["kinds"]["server"]["peer"].as_str(), Some("auto"));
        assert!(t["groups"][0].get("kind").is_none(), "{text}");
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
