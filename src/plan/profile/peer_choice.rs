//! Which member takes the active role over in a handover, and how the plan says so: the first
//! eligible passive in config order that is in sync, else the first eligible one (R5 then waits
//! for it), never one the takeover rule forbids (R15).

use crate::model::{Group, Node, NodeObs, Role};
use crate::plan::builder::Builder;
use crate::plan::rules::r15_takeover;
use crate::plan::types::Direction;

/// The choice of a successor, with what the plan tells the operator about it.
pub(in crate::plan) struct PeerPick {
    /// Members that may take over (eligible, allowed by R15), config order.
    pub(in crate::plan) candidates: Vec<String>,
    /// The chosen one; empty when none may.
    pub(in crate::plan) chosen: String,
    /// Why it was chosen ("redis-2: in sync, eligible (sync_standby)"), or why none was.
    pub(in crate::plan) why: String,
    /// The choice needs no explanation: the only candidate, in sync, no eligibility said, none
    /// ruled out.
    pub(in crate::plan) plain: bool,
}

impl PeerPick {
    /// The successor as the handover step's summary names it.
    pub(in crate::plan) fn describe(&self, peer_auto: bool, mirror: &str) -> String {
        let (candidates, successor, why) = (&self.candidates, &self.chosen, &self.why);
        if peer_auto {
            format!(
                "the {mirror} the cluster manager picks (peer = \"auto\"; candidates: {})",
                if candidates.is_empty() { "none".to_string() } else { candidates.join(", ") }
            )
        } else if candidates.len() == 1 && self.plain {
            // The only member that could take over: nothing to explain.
            format!("{successor}, which becomes the active server")
        } else if candidates.len() == 1 {
            format!("{successor}, which becomes the active server ({why})")
        } else if candidates.is_empty() {
            format!("no {mirror} ({why})")
        } else {
            format!("{successor}, which becomes the active server ({why}; candidates: {})", candidates.join(", "))
        }
    }
}

impl Builder<'_> {
    /// The node that takes over from `active`: among the passives not ruled out (`eligible =
    /// no`, or R15), the first in config order that is in sync, else the first one.
    pub(in crate::plan) fn choose_peer(&self, g: &Group, active: &Node) -> PeerPick {
        let others: Vec<(&Node, NodeObs)> = g
            .nodes
            .iter()
            // A skipped node is still a member: it may take the active role (nothing runs on it;
            // R5 still waits until it is in sync). Leaving it out planned a switchover that
            // named no peer at all.
            .filter(|n| n.name != active.name)
            .map(|n| (n, self.req.observed.get(&n.name)))
            .collect();
        let (others, by_direction) =
            r15_takeover::split(self.req, g, active, self.direction == Direction::Downgrade, others);
        let ruled_out: Vec<&str> =
            others.iter().filter(|(_, o)| !o.is_eligible()).map(|(n, _)| n.name.as_str()).collect();
        let eligible: Vec<&(&Node, NodeObs)> = others.iter().filter(|(_, o)| o.is_eligible()).collect();
        let candidates: Vec<String> = eligible.iter().map(|(n, _)| n.name.clone()).collect();
        let pick = eligible.iter().find(|(_, o)| o.is_standby_in_sync()).or_else(|| eligible.first());
        let Some((n, o)) = pick else {
            let why = if ruled_out.is_empty() {
                "no other member".to_string()
            } else {
                format!("none may take over: {} not eligible; R5 waits until one is", ruled_out.join(", "))
            };
            let why = match &by_direction {
                Some(d) => format!("{why}; {d}"),
                None => why,
            };
            return PeerPick { candidates, chosen: String::new(), why, plain: false };
        };
        let mut why = if o.is_standby_in_sync() {
            format!("{}: in sync", n.name)
        } else if o.role == Role::Passive {
            format!("{}: not in sync yet ({}), R5 waits for it", n.name, o.sync_shown())
        } else {
            format!("{}: not in sync yet ({}), R5 waits for it", n.name, o.role)
        };
        match (o.eligible, &o.eligible_detail) {
            (Some(true), Some(d)) => why.push_str(&format!(", eligible ({d})")),
            (Some(true), None) => why.push_str(", eligible"),
            _ => {}
        }
        if !ruled_out.is_empty() {
            why.push_str(&format!("; not eligible: {}", ruled_out.join(", ")));
        }
        if let Some(d) = &by_direction {
            why.push_str(&format!("; {d}"));
        }
        let plain = o.is_standby_in_sync() && o.eligible != Some(true) && ruled_out.is_empty();
        PeerPick { candidates, chosen: n.name.clone(), why, plain }
    }
}
