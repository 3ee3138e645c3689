//! The profiles: how each kind of cluster is rolled, group by group, in the order R4 asks for
//! (server groups in every region, then peer groups, offline components, clients, and
//! orchestrators last). The terracotta and active-passive profiles share the mirrored server
//! group ([`mirrored`]) and differ in words and in the groups only they have; any-order goes node
//! by node with no roles at all.

mod active_passive;
mod any_order;
mod mirrored;
mod passive_batches;
mod peer_choice;
mod terracotta;

use super::batches;
use super::builder::Builder;
use crate::model::{Group, GroupType, Profile};
use crate::plan::types::Refusal;

/// The words and procedure references a mirrored server group is described with, so one
/// algorithm serves Terracotta stripes and Exchange/Redis/Patroni groups in each one's terms.
pub(super) struct ServerWords {
    /// What a standby member is called ("mirror", "passive").
    pub(super) mirror: &'static str,
    /// What the group is called ("stripe", "group").
    pub(super) stripe: &'static str,
    /// The procedure reference after "passives before the active".
    pub(super) passives_first: &'static str,
    /// The procedure reference after "the active goes last".
    pub(super) active_last: &'static str,
    /// The procedure reference of the failback.
    pub(super) failback: &'static str,
    /// Why the group's phase comes where it does.
    pub(super) phase_reason: &'static str,
    /// The phase title from the group's name, its region (" (east)" or "") and the verb.
    pub(super) title: fn(&str, &str, &str) -> String,
}

/// The words of a profile's mirrored server groups.
fn server_words(profile: Profile) -> &'static ServerWords {
    match profile {
        Profile::Terracotta => &terracotta::WORDS,
        _ => &active_passive::WORDS,
    }
}

/// The order groups are planned in (R4): server groups, peers, offline components, clients,
/// orchestrators; config order within each type.
fn rank(g: &Group) -> u8 {
    match g.gtype {
        GroupType::Server => 0,
        GroupType::Peer => 1,
        GroupType::Component => 2,
        GroupType::Client => 3,
        GroupType::Orchestrator => 4,
    }
}

impl Builder<'_> {
    /// Plans every group of the cluster in R4 order, each in its profile's way; refuses when a
    /// server group's roles make a handover unsafe.
    pub(super) fn groups(&mut self) -> Result<(), Refusal> {
        let cluster = self.cluster;
        let mut order: Vec<&Group> = cluster.groups.iter().collect();
        order.sort_by_key(|g| rank(g));
        for g in order {
            match (g.gtype, cluster.profile) {
                (GroupType::Server, Profile::AnyOrder) | (GroupType::Peer, _) => match batches::width(g) {
                    Some(w) => self.peer_group_batched(g, w),
                    None => self.peer_group(g),
                },
                (GroupType::Server, p) => self.server_group(g, server_words(p))?,
                (GroupType::Client, _) => self.client_group(g),
                (GroupType::Orchestrator, _) => self.orchestrator_group(g),
                (GroupType::Component, _) => self.component_group(g),
            }
        }
        Ok(())
    }
}
