//! Deciding gates against the live state. Pure: the executor polls, this judges, and the
//! answer says which facts allowed the step or what blocks it (shown while the gate waits).

use super::types::Gate;
use crate::model::{Cluster, GroupType, Health, NodeObs, Observed, Role, SyncState};

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
        s.push_str(&format!(", {}", o.sync));
    }
    if let Some(v) = &o.version {
        s.push_str(&format!(", {v}"));
    }
    if o.health == Health::Failed {
        s.push_str(", health failed");
    }
    s
}

fn member_up(gtype: GroupType, o: &NodeObs) -> bool {
    if !o.reachable || o.health == Health::Failed {
        return false;
    }
    match o.role {
        Role::Active => true,
        Role::Passive => gtype != GroupType::Server || o.sync == SyncState::InSync,
        Role::None => true,
        Role::Unknown => o.health == Health::Ok,
        Role::Stopped => false,
    }
}

/// Judges one gate.
pub fn evaluate(gate: &Gate, cluster: &Cluster, obs: &Observed) -> Verdict {
    let members = |group: &str| -> Vec<(String, NodeObs)> {
        cluster
            .group(group)
            .map(|g| g.nodes.iter().map(|n| (n.name.clone(), obs.get(&n.name))).collect())
            .unwrap_or_default()
    };
    let gtype = |group: &str| cluster.group(group).map(|g| g.gtype).unwrap_or(GroupType::Server);
    match gate {
        Gate::SafeToStop { group, node } => {
            let others: Vec<(String, NodeObs)> = members(group).into_iter().filter(|(n, _)| n != node).collect();
            match others.iter().find(|(_, o)| o.is_standby_in_sync()) {
                Some((n, o)) => Verdict::Open(format!("{} is in sync and can take over", brief(n, o))),
                None if others.is_empty() => {
                    Verdict::Blocked(format!("{group} has no passive member to take over from {node}"))
                }
                None => Verdict::Blocked(format!(
                    "no passive of {group} is in sync ({})",
                    others.iter().map(|(n, o)| brief(n, o)).collect::<Vec<_>>().join("; ")
                )),
            }
        }
        Gate::PeersReady { group, node } => {
            let gt = gtype(group);
            let not_ready: Vec<String> = members(group)
                .iter()
                .filter(|(n, o)| n != node && !member_up(gt, o))
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
            let up: Vec<String> =
                members(group).iter().filter(|(n, o)| n != node && member_up(gt, o)).map(|(n, _)| n.clone()).collect();
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
            let ok = match (g.gtype, o.role) {
                _ if !o.reachable => false,
                (_, Role::Stopped) => false,
                (_, _) if o.health == Health::Failed => false,
                (GroupType::Server, Role::Passive) => o.sync == SyncState::InSync,
                (GroupType::Server, Role::Active) => true,
                (_, Role::Unknown) => o.health == Health::Ok,
                _ => true,
            };
            if ok {
                Verdict::Open(brief(node, &o))
            } else {
                Verdict::Blocked(format!("waiting for {node} to rejoin ({})", brief(node, &o)))
            }
        }
        Gate::VersionIs { node, version } => {
            let o = obs.get(node);
            match &o.version {
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
