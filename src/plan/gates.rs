//! Deciding gates against the live state. Pure: the executor polls, this judges, and the
//! answer says which facts allowed the step or what blocks it (shown while the gate waits).

use super::types::Gate;
use crate::model::{Cluster, GroupType, Health, NodeObs, Observed, Profile, Role, SyncState};

/// A gate's verdict with the facts behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The gate holds; the facts are recorded in the audit trail.
    Open(String),
    /// The gate does not hold yet; the text says what blocks it.
    Blocked(String),
}

impl Verdict {
    /// Whether the gate holds.
    pub fn is_open(&self) -> bool {
        matches!(self, Verdict::Open(_))
    }

    /// The facts or the blocker.
    pub fn text(&self) -> &str {
        match self {
            Verdict::Open(s) | Verdict::Blocked(s) => s,
        }
    }
}

/// A short description of a node's live state for gate messages ("tc-east-2: passive, syncing").
pub fn brief(name: &str, o: &NodeObs) -> String {
    if !o.reachable {
        return format!("{name}: unreachable ({})", o.error.as_deref().unwrap_or("no answer"));
    }
    let mut s = format!("{name}: {}", o.state.clone().unwrap_or_else(|| o.role.as_str().to_string()));
    if o.role == Role::Passive {
        s.push_str(&format!(", {}", o.sync_shown()));
        if o.eligible == Some(false) {
            s.push_str(", not eligible");
        }
    }
    if let Some(v) = &o.version {
        s.push_str(&format!(", {v}"));
    }
    if o.health == Health::Failed {
        s.push_str(", health failed");
    }
    s
}

/// Why a node does not count as back in its group yet (R6), or `None` when it does: its role is
/// known (active or passive in a server group; no role, or a known one, elsewhere), its health
/// is ok (not failed when the kind has no health probe) and a passive of a server group is in
/// sync. A node still in an intermediate state (Terracotta START-STATE, a role the parser
/// cannot read) is not back, whatever its health says.
/// `role_based`: a server group under a profile with failover roles.
pub fn not_back(role_based: bool, has_health: bool, o: &NodeObs) -> Option<String> {
    if !o.reachable {
        return Some("unreachable".into());
    }
    match o.role {
        Role::Stopped => return Some("stopped".into()),
        Role::Unknown => {
            return Some(format!(
                "its role is not known yet (waiting for {})",
                if role_based { "active or passive" } else { "a known role" }
            ));
        }
        Role::None if role_based => {
            return Some("it reports no role (waiting for active or passive)".into());
        }
        _ => {}
    }
    match o.health {
        Health::Failed => return Some("its health check fails".into()),
        Health::Unknown if has_health => return Some("its health is not known yet (waiting for ok)".into()),
        _ => {}
    }
    if role_based && o.role == Role::Passive && o.sync != SyncState::InSync {
        return Some(format!("it is {} (waiting for in-sync)", o.sync_shown()));
    }
    None
}

/// Whether the kind of `group` probes health (a health command or parser).
fn has_health(cluster: &Cluster, group: &str) -> bool {
    cluster
        .group(group)
        .and_then(|g| cluster.kind_of(g))
        .is_some_and(|k| k.commands.health.is_some() || k.parse.health.is_some())
}

/// Whether a member in `role` is seen not serving its group's service: it reports stopped
/// (`stopped`, `down`, `offline`) or passive. An unknown role, or no role at all, is not: rollpilot
/// cannot tell such a member does not serve.
fn not_serving(role: Role) -> bool {
    matches!(role, Role::Stopped | Role::Passive)
}

fn member_up(role_based: bool, has_health: bool, o: &NodeObs) -> bool {
    not_back(role_based, has_health, o).is_none()
}

/// Judges one gate.
pub fn evaluate(gate: &Gate, cluster: &Cluster, obs: &Observed) -> Verdict {
    let members = |group: &str| -> Vec<(String, NodeObs)> {
        cluster
            .group(group)
            .map(|g| g.nodes.iter().map(|n| (n.name.clone(), obs.get(&n.name))).collect())
            .unwrap_or_default()
    };
    let gtype = |group: &str| {
        cluster.group(group).map(|g| g.gtype).unwrap_or(GroupType::Server) == GroupType::Server
            && cluster.profile != Profile::AnyOrder
    };
    match gate {
        Gate::SafeToStop { group, node } => {
            let others: Vec<(String, NodeObs)> = members(group).into_iter().filter(|(n, _)| n != node).collect();
            match others.iter().find(|(_, o)| o.can_take_over()) {
                Some((n, o)) => Verdict::Open(format!("{} is in sync and can take over", brief(n, o))),
                None if others.is_empty() => {
                    Verdict::Blocked(format!("{group} has no passive member to take over from {node}"))
                }
                None => Verdict::Blocked(format!(
                    "no passive of {group} is in sync{} ({})",
                    if others.iter().any(|(_, o)| o.eligible.is_some()) { " and eligible" } else { "" },
                    others.iter().map(|(n, o)| brief(n, o)).collect::<Vec<_>>().join("; ")
                )),
            }
        }
        Gate::PeersReady { group, node } => {
            let gt = gtype(group);
            let hh = has_health(cluster, group);
            let not_ready: Vec<String> = members(group)
                .iter()
                .filter(|(n, o)| n != node && !member_up(gt, hh, o))
                .map(|(n, o)| brief(n, o))
                .collect();
            if not_ready.is_empty() {
                let facts = members(group)
                    .iter()
                    .filter(|(n, _)| n != node)
                    .map(|(n, o)| brief(n, o))
                    .collect::<Vec<_>>()
                    .join("; ");
                Verdict::Open(if facts.is_empty() { format!("{node} is the only member of {group}") } else { facts })
            } else {
                Verdict::Blocked(format!("waiting for other members of {group}: {}", not_ready.join("; ")))
            }
        }
        Gate::Quorum { group, node, min } => {
            let gt = gtype(group);
            let hh = has_health(cluster, group);
            let up: Vec<String> = members(group)
                .iter()
                .filter(|(n, o)| n != node && member_up(gt, hh, o))
                .map(|(n, _)| n.clone())
                .collect();
            if up.len() >= *min {
                Verdict::Open(format!("{} of {group} stay up ({}), quorum {min}", up.len(), up.join(", ")))
            } else {
                Verdict::Blocked(format!(
                    "only {} of {group} besides {node} are up ({}); quorum needs {min}",
                    up.len(),
                    if up.is_empty() { "none".into() } else { up.join(", ") }
                ))
            }
        }
        Gate::BatchQuorum { group, nodes, min } => {
            let gt = gtype(group);
            let hh = has_health(cluster, group);
            let outside: Vec<(String, NodeObs)> =
                members(group).into_iter().filter(|(n, _)| !nodes.contains(n)).collect();
            let up: Vec<&str> = outside.iter().filter(|(_, o)| member_up(gt, hh, o)).map(|(n, _)| n.as_str()).collect();
            // A group with an active (R5): the active stays outside the batch, serving, with a
            // passive in sync beside it, whatever the count says.
            if gt {
                let active = outside.iter().find(|(_, o)| o.role == Role::Active);
                let in_sync = outside.iter().find(|(_, o)| o.can_take_over());
                let facts = || outside.iter().map(|(n, o)| brief(n, o)).collect::<Vec<_>>().join("; ");
                if active.is_none() {
                    return Verdict::Blocked(format!(
                        "no member of {group} outside the batch ({}) is active; waiting for: {}",
                        nodes.join(", "),
                        facts()
                    ));
                }
                if in_sync.is_none() {
                    return Verdict::Blocked(format!(
                        "no passive of {group} outside the batch ({}) is in sync, so the active would be left without one; waiting for: {}",
                        nodes.join(", "),
                        facts()
                    ));
                }
            }
            if up.len() >= *min {
                Verdict::Open(format!(
                    "{} of {group} outside the batch are up ({}), {min} needed",
                    up.len(),
                    if up.is_empty() { "none".to_string() } else { up.join(", ") }
                ))
            } else {
                let down: Vec<String> =
                    outside.iter().filter(|(_, o)| !member_up(gt, hh, o)).map(|(n, o)| brief(n, o)).collect();
                Verdict::Blocked(format!(
                    "only {} of {group} outside the batch ({}) are up; {min} must stay up while the batch is down; waiting for: {}",
                    up.len(),
                    nodes.join(", "),
                    down.join("; ")
                ))
            }
        }
        Gate::Stopped { node } => {
            let o = obs.get(node);
            if o.reachable
                && (o.role == Role::Stopped
                    || (matches!(o.role, Role::Unknown | Role::None) && o.health == Health::Failed))
            {
                Verdict::Open(brief(node, &o))
            } else {
                Verdict::Blocked(format!("{node} is still running ({})", brief(node, &o)))
            }
        }
        Gate::FailedOver { group, not } => {
            let ms = members(group);
            let actives: Vec<&(String, NodeObs)> =
                ms.iter().filter(|(_, o)| o.reachable && o.role == Role::Active).collect();
            match actives.as_slice() {
                [(n, o)] if n != not => Verdict::Open(format!("{} took over", brief(n, o))),
                [] => Verdict::Blocked(format!(
                    "no member of {group} is active yet ({})",
                    ms.iter().map(|(n, o)| brief(n, o)).collect::<Vec<_>>().join("; ")
                )),
                [(n, _)] => Verdict::Blocked(format!("{n} is still the active of {group}")),
                many => Verdict::Blocked(format!(
                    "{} members of {group} claim to be active ({}); waiting for one",
                    many.len(),
                    many.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
                )),
            }
        }
        Gate::IsActive { node } => {
            let o = obs.get(node);
            if o.reachable && o.role == Role::Active {
                Verdict::Open(brief(node, &o))
            } else {
                Verdict::Blocked(format!("{node} is not active yet ({})", brief(node, &o)))
            }
        }
        Gate::Rejoined { node } => {
            let o = obs.get(node);
            let Some((g, _)) = cluster.node(node) else {
                return Verdict::Blocked(format!("{node} is not in the cluster"));
            };
            let role_based = g.gtype == GroupType::Server && cluster.profile != Profile::AnyOrder;
            match not_back(role_based, has_health(cluster, &g.name), &o) {
                None => Verdict::Open(brief(node, &o)),
                Some(why) => Verdict::Blocked(format!("waiting for {node} to rejoin: {why} ({})", brief(node, &o))),
            }
        }
        Gate::VersionIs { node, version } => {
            let o = obs.get(node);
            let reads_running = cluster
                .node(node)
                .and_then(|(g, _)| cluster.kind_of(g))
                .is_some_and(|k| k.parse.running_version.is_some());
            match &o.version {
                Some(v) if v == version && reads_running => match &o.running_version {
                    Some(r) if r == version => Verdict::Open(format!("{node} reports {v}, running {r}")),
                    Some(r) => Verdict::Blocked(format!(
                        "{node} has {v} installed but still runs {r} (running_version); waiting for it to run {version}"
                    )),
                    None => Verdict::Blocked(format!(
                        "{node} has {v} installed; its running version cannot be read yet ({})",
                        o.error.as_deref().unwrap_or("no running version in the probe output")
                    )),
                },
                Some(v) if v == version => Verdict::Open(format!("{node} reports {v}")),
                Some(v) => Verdict::Blocked(format!("{node} reports {v}, expected {version}")),
                None => Verdict::Blocked(format!(
                    "{node}'s version cannot be read ({})",
                    o.error.as_deref().unwrap_or("no version in the probe output")
                )),
            }
        }
        Gate::HasActive { group } => {
            let ms = members(group);
            match ms.iter().find(|(_, o)| o.reachable && o.role == Role::Active && o.health != Health::Failed) {
                Some((n, o)) => Verdict::Open(format!("{group} is served by {}", brief(n, o))),
                None => Verdict::Blocked(format!(
                    "{group} has no active member yet ({})",
                    ms.iter().map(|(n, o)| brief(n, o)).collect::<Vec<_>>().join("; ")
                )),
            }
        }
        Gate::NoActive { group } => {
            let ms = members(group);
            if ms.is_empty() {
                return Verdict::Blocked(format!("{group} has no members to look at"));
            }
            let facts = || ms.iter().map(|(n, o)| brief(n, o)).collect::<Vec<_>>().join("; ");
            let names = |keep: &dyn Fn(&NodeObs) -> bool| -> Vec<&str> {
                ms.iter().filter(|(_, o)| keep(o)).map(|(n, _)| n.as_str()).collect()
            };
            let serving = names(&|o| o.reachable && o.role == Role::Active);
            let unreachable = names(&|o| !o.reachable);
            let unknown = names(&|o| o.reachable && o.role != Role::Active && !not_serving(o.role));
            if !serving.is_empty() {
                Verdict::Blocked(format!(
                    "{group} is still online: {} still reports the role active ({})",
                    serving.join(", "),
                    facts()
                ))
            } else if !unreachable.is_empty() {
                Verdict::Blocked(format!(
                    "{group} is not known to be offline: {} cannot be reached, and unknown is not offline ({})",
                    unreachable.join(", "),
                    facts()
                ))
            } else if !unknown.is_empty() {
                Verdict::Blocked(format!(
                    "{group} is not known to be offline: {} reports no known role, and unknown is not offline ({})",
                    unknown.join(", "),
                    facts()
                ))
            } else {
                Verdict::Open(format!("{group} is offline: no member is active ({})", facts()))
            }
        }
        Gate::SameVersion { group, version } => {
            let ms = members(group);
            let off: Vec<String> = ms
                .iter()
                .filter(|(_, o)| o.version.as_ref() != Some(version) || !o.reachable || o.role == Role::Stopped)
                .map(|(n, o)| brief(n, o))
                .collect();
            if off.is_empty() {
                Verdict::Open(format!("all {} members of {group} run {version}", ms.len()))
            } else {
                Verdict::Blocked(format!("not all of {group} runs {version}: {}", off.join("; ")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn terracotta() -> Cluster {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/terracotta.toml");
        crate::config::load(&path).unwrap()
    }

    fn node(role: Role, sync: SyncState, state: &str) -> NodeObs {
        NodeObs {
            reachable: true,
            version: semver::Version::parse("4.2.1").ok(),
            role,
            sync,
            health: Health::Ok,
            state: Some(state.into()),
            ..Default::default()
        }
    }

    fn with(name: &str, o: NodeObs) -> Observed {
        let mut obs = Observed::default();
        obs.nodes.insert(name.into(), o);
        obs
    }

    #[test]
    fn a_server_still_starting_is_not_back_whatever_its_health() {
        let c = terracotta();
        let gate = Gate::Rejoined { node: "tc-east-2".into() };
        let v = evaluate(&gate, &c, &with("tc-east-2", node(Role::Unknown, SyncState::Unknown, "START-STATE")));
        match v {
            Verdict::Blocked(why) => assert!(
                why.contains(
                    "waiting for tc-east-2 to rejoin: its role is not known yet (waiting for active or passive)"
                ) && why.contains("START-STATE"),
                "{why}"
            ),
            v => panic!("START-STATE must keep R6 blocked: {v:?}"),
        }
    }

    #[test]
    fn a_passive_is_back_only_in_sync_and_says_what_it_waits_for() {
        let c = terracotta();
        let gate = Gate::Rejoined { node: "tc-east-2".into() };
        let mut o = node(Role::Passive, SyncState::Syncing, "PASSIVE-UNINITIALIZED");
        o.sync_detail = Some("lag 4.2 MiB".into());
        match evaluate(&gate, &c, &with("tc-east-2", o.clone())) {
            Verdict::Blocked(why) => {
                assert!(why.contains("it is syncing (lag 4.2 MiB) (waiting for in-sync)"), "{why}")
            }
            v => panic!("{v:?}"),
        }
        o.sync = SyncState::InSync;
        o.state = Some("PASSIVE-STANDBY".into());
        assert!(evaluate(&gate, &c, &with("tc-east-2", o.clone())).is_open());
        o.health = Health::Failed;
        assert!(evaluate(&gate, &c, &with("tc-east-2", o)).text().contains("its health check fails"));
    }

    #[test]
    fn peers_in_an_intermediate_state_keep_the_next_node_waiting() {
        let c = terracotta();
        let gate = Gate::PeersReady { group: "east".into(), node: "tc-east-1".into() };
        let obs = with("tc-east-2", node(Role::Unknown, SyncState::Unknown, "START-STATE"));
        match evaluate(&gate, &c, &obs) {
            Verdict::Blocked(why) => assert!(why.contains("tc-east-2: START-STATE"), "{why}"),
            v => panic!("a peer in START-STATE is not up: {v:?}"),
        }
    }

    #[test]
    fn a_client_with_no_role_parser_is_back_when_healthy() {
        let c = terracotta();
        let gate = Gate::Rejoined { node: "app-east-1".into() };
        assert!(
            evaluate(&gate, &c, &with("app-east-1", node(Role::None, SyncState::NotApplicable, "CONNECTED"))).is_open()
        );
    }

    fn exchange() -> Cluster {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/exchange.toml");
        crate::config::load(&path).unwrap()
    }

    #[test]
    fn a_service_is_offline_only_when_every_member_is_seen_not_serving() {
        let c = exchange();
        let gate = Gate::NoActive { group: "mail".into() };
        let mut obs = Observed::default();
        obs.nodes.insert("node1".into(), node(Role::Active, SyncState::NotApplicable, "active"));
        obs.nodes.insert("node2".into(), node(Role::Passive, SyncState::InSync, "passive"));
        let v = evaluate(&gate, &c, &obs);
        assert!(v.text().starts_with("mail is still online: node1 still reports the role active"), "{v:?}");
        assert!(!v.is_open());
        // The owner reads offline (or stopped): nobody serves.
        obs.nodes.insert("node1".into(), node(Role::Stopped, SyncState::NotApplicable, "offline"));
        assert!(evaluate(&gate, &c, &obs).is_open());
        // Unknown is not offline: a member that cannot be reached, or whose role cannot be read.
        let mut gone = node(Role::Unknown, SyncState::Unknown, "unknown");
        gone.reachable = false;
        gone.error = Some("connection refused".into());
        obs.nodes.insert("node2".into(), gone);
        let v = evaluate(&gate, &c, &obs);
        assert!(!v.is_open());
        assert!(v.text().contains("node2 cannot be reached, and unknown is not offline"), "{v:?}");
        assert!(v.text().contains("node2: unreachable (connection refused)"), "{v:?}");
        obs.nodes.insert("node2".into(), node(Role::Unknown, SyncState::Unknown, "JOINING"));
        let v = evaluate(&gate, &c, &obs);
        assert!(v.text().contains("node2 reports no known role, and unknown is not offline"), "{v:?}");
    }
}
