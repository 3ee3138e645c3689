//! R15 takeover-direction: with `takeover = "newer-or-equal"` (per kind, or per server group), the
//! member that takes the active role over must run the same or a newer version than the active it
//! replaces, at the moment of the handover. Products whose newer version writes data an older one
//! cannot read (PostgreSQL and MongoDB across majors, most databases after a format change) lose
//! the cluster when a newer primary fails over to, or feeds, an older one.
//!
//! The same products must not let a newer primary feed an older replica: during an upgrade, a
//! member left out of the run (skipped, or a tolerated failure) on the old version refuses the
//! switchover that would make an upgraded member its primary ([`older_replica`]).
//!
//! The planner consults this module in three places: once before planning, to refuse a plan whose
//! handover could only go from newer to older ([`refusals`]); when it picks the peer of a
//! switchover, to leave out the members the rule forbids ([`split`]); and before it plans a
//! group's handover, to refuse one that would feed an older replica ([`older_replica`]).

use super::Rule;
use crate::model::{Group, GroupType, Node, NodeObs, Profile, Role, Takeover};
use crate::plan::planner::PlanRequest;
use crate::plan::types::Finding;
use semver::Version;
use std::cmp::Ordering;

/// The version `n` runs when the active role is handed over: the plan upgrades (or, in a
/// downgrade, downgrades) the passives before the active, so a passive that moves runs the target.
fn at_handover(req: &PlanRequest, g: &Group, n: &Node, downgrade: bool) -> Version {
    let t = g.target.clone().unwrap_or_else(|| req.target.clone());
    let o = req.observed.get(&n.name);
    match o.version.clone().or_else(|| req.context.installed.get(&n.name).cloned()) {
        Some(v) if v.cmp_precedence(&t) == Ordering::Greater && !downgrade => v,
        _ => t,
    }
}

/// Why `peer` may not take over from `active` under the group's rule, if it may not.
fn violation(req: &PlanRequest, g: &Group, active: &Node, peer: &Node, downgrade: bool) -> Option<String> {
    if req.cluster.takeover_of(g) != Takeover::NewerOrEqual {
        return None;
    }
    let av = req.observed.get(&active.name).version?;
    let pv = at_handover(req, g, peer, downgrade);
    (pv.cmp_precedence(&av) == Ordering::Less)
        .then(|| format!("{} would run {pv}, older than {}'s {av}", peer.name, active.name))
}

/// Splits the members that could take over from `active` into those the rule allows and a note
/// naming those it rules out (None when it rules out none).
pub(in crate::plan) fn split<'a>(
    req: &PlanRequest,
    g: &Group,
    active: &Node,
    downgrade: bool,
    others: Vec<(&'a Node, NodeObs)>,
) -> (Vec<(&'a Node, NodeObs)>, Option<String>) {
    let mut kept = Vec::new();
    let mut out = Vec::new();
    for (n, o) in others {
        match violation(req, g, active, n, downgrade) {
            Some(why) => out.push(why),
            None => kept.push((n, o)),
        }
    }
    let note = (!out.is_empty())
        .then(|| format!("R15 takeover-direction (takeover = \"newer-or-equal\") rules out {}", out.join(", ")));
    (kept, note)
}

/// The findings that refuse a plan: a server group whose active must be handed over while every
/// member that could take it would run an older version, or, with `peer = "auto"`, while the
/// cluster manager could pick such a member.
pub(in crate::plan) fn refusals(req: &PlanRequest, downgrade: bool) -> Vec<Finding> {
    let cluster = req.cluster;
    if cluster.profile == Profile::AnyOrder {
        return Vec::new();
    }
    let skipped = &req.context.skipped_nodes;
    let mut findings = Vec::new();
    for g in cluster.groups.iter().filter(|g| g.gtype == GroupType::Server) {
        if cluster.takeover_of(g) != Takeover::NewerOrEqual {
            continue;
        }
        let t = g.target.clone().unwrap_or_else(|| req.target.clone());
        let Some(active) =
            g.nodes.iter().find(|n| !skipped.contains(&n.name) && req.observed.get(&n.name).role == Role::Active)
        else {
            continue;
        };
        let Some(av) = req.observed.get(&active.name).version else { continue };
        let moves = match av.cmp_precedence(&t) {
            Ordering::Less => true,
            Ordering::Greater => downgrade,
            Ordering::Equal => false,
        };
        if !moves {
            continue;
        }
        let peers: Vec<&Node> = g
            .nodes
            .iter()
            .filter(|n| n.name != active.name && !skipped.contains(&n.name))
            .filter(|n| req.observed.get(&n.name).is_eligible())
            .collect();
        let bad: Vec<String> = peers.iter().filter_map(|p| violation(req, g, active, p, downgrade)).collect();
        if peers.is_empty() || bad.is_empty() {
            continue;
        }
        let peer_auto = cluster.kind_of(g).is_some_and(|k| k.peer_auto);
        if peer_auto {
            findings.push(Finding {
                rule: Some(Rule::TakeoverDirection),
                message: format!(
                    "group {} hands the active role over from {} ({av}), and with peer = \"auto\" the cluster manager may pick a member that would run an older version ({}); takeover = \"newer-or-equal\" forbids failing over from newer to older",
                    g.name,
                    active.name,
                    bad.join(", ")
                ),
                advice: "make those members ineligible for the handover (their `eligible` parser), or leave `peer` unset so rollpilot picks an allowed member; if the product reads the newer data with the older version, set takeover = \"any\"".into(),
            });
        } else if bad.len() == peers.len() {
            findings.push(Finding {
                rule: Some(Rule::TakeoverDirection),
                message: format!(
                    "no member of group {} may take the active role over from {} ({av}): {}; takeover = \"newer-or-equal\" forbids failing over from newer to older",
                    g.name,
                    active.name,
                    bad.join(", ")
                ),
                advice: if downgrade {
                    "a rolling downgrade would hand the active role to an older member: downgrade with the service stopped (rollpilot does not drive that), or, if the product allows it, set takeover = \"any\"".into()
                } else {
                    "upgrade a member that can take over to the target first (or stop skipping it), then plan again; if the product allows it, set takeover = \"any\"".into()
                },
            });
        }
    }
    findings
}

/// The version `n` runs once the active role is handed over: a member left out of the run
/// (skipped by the operator, or a failure tolerated under `max_failures`) keeps what it runs now
/// (or ran when the run began, when it cannot be read); any other member counts as
/// [`at_handover`]. `None` when nothing is known of a left-out member.
fn version_then(req: &PlanRequest, g: &Group, n: &Node, downgrade: bool) -> Option<Version> {
    if !req.context.skipped_nodes.contains(&n.name) {
        return Some(at_handover(req, g, n, downgrade));
    }
    req.observed
        .get(&n.name)
        .version
        .or_else(|| req.context.installed.get(&n.name).cloned())
        .or_else(|| req.context.original_versions.get(&n.name).cloned())
}

/// R15 during the upgrade: once the active role moves from `active` to a member the plan has
/// upgraded, every other member replicates from that newer primary. A member left out of the
/// run that still runs an older version would then be fed by a newer one, which
/// `takeover = "newer-or-equal"` forbids as much as a takeover by an older member. `primaries`
/// are the members that may become the active (the chosen peer, or every candidate when the
/// cluster manager picks); the finding names each older member and what to do.
pub(in crate::plan) fn older_replica(
    req: &PlanRequest,
    g: &Group,
    active: &Node,
    primaries: &[&Node],
    downgrade: bool,
) -> Option<Finding> {
    if req.cluster.takeover_of(g) != Takeover::NewerOrEqual || primaries.is_empty() {
        return None;
    }
    let (primary, pv) = primaries
        .iter()
        .filter_map(|p| version_then(req, g, p, downgrade).map(|v| (*p, v)))
        .max_by(|a, b| a.1.cmp_precedence(&b.1))?;
    let skipped = &req.context.skipped_nodes;
    let older: Vec<(&Node, Option<Version>)> = g
        .nodes
        .iter()
        .filter(|n| n.name != active.name && n.name != primary.name && skipped.contains(&n.name))
        .map(|n| (n, version_then(req, g, n, downgrade)))
        .filter(|(_, v)| v.as_ref().is_none_or(|v| v.cmp_precedence(&pv) == Ordering::Less))
        .collect();
    if older.is_empty() {
        return None;
    }
    let said: Vec<String> = older
        .iter()
        .map(|(n, v)| match v {
            Some(v) => format!("{} runs {v}", n.name),
            None => format!("{}'s version cannot be read", n.name),
        })
        .collect();
    let names: Vec<&str> = older.iter().map(|(n, _)| n.name.as_str()).collect();
    let who = if primaries.len() > 1 {
        format!("the member the cluster manager picks (up to {pv}, e.g. {})", primary.name)
    } else {
        format!("{} ({pv})", primary.name)
    };
    Some(Finding {
        rule: Some(Rule::TakeoverDirection),
        message: format!(
            "group {} hands the active role over from {} to {who}, but {} {} left out of the run and would then replicate from a newer primary ({}); takeover = \"newer-or-equal\" forbids a newer member feeding an older one",
            g.name,
            active.name,
            names.join(", "),
            if names.len() == 1 { "is" } else { "are" },
            said.join(", ")
        ),
        advice: format!(
            "upgrade {} to {pv} first (plan again without skipping {}, or upgrade {} by hand), or take {} out of group {} in the config, and out of replication, until {} {pv}; if the product lets an older replica follow a newer primary, set takeover = \"any\"",
            names.join(", "),
            if names.len() == 1 { "it" } else { "them" },
            if names.len() == 1 { "it" } else { "them" },
            if names.len() == 1 { "it" } else { "them" },
            g.name,
            if names.len() == 1 { "it runs" } else { "they run" },
        ),
    })
}
