//! The any-order profile (StreamBase, seed 002: nodes of different versions coexist, no
//! failover roles), and peer groups of every profile: members one at a time, config order, each
//! stopped only while the others are up (and the quorum holds). With `max_unavailable` the same
//! groups go in batches instead (see the batches module).

use crate::model::*;
use crate::plan::builder::{Builder, Reinstall, Work};
use crate::plan::rules::Rule;
use crate::plan::types::*;

impl Builder<'_> {
    /// A peer group (or an any-order server group), one member at a time.
    pub(super) fn peer_group(&mut self, g: &Group) {
        let mut steps = Vec::new();
        let any_order = self.cluster.profile == Profile::AnyOrder;
        let verb = self.verb();
        let reason = if any_order {
            Reason::new(
                Rule::Order,
                format!(
                    "any order is allowed (StreamBase upgrade notes: nodes of different versions coexist); {} one node at a time, config order",
                    g.name
                ),
            )
        } else {
            Reason::new(
                Rule::Order,
                format!(
                    "members of {} one at a time{}",
                    g.name,
                    g.quorum.map(|q| format!(", keeping a quorum of {q}")).unwrap_or_default()
                ),
            )
        };
        for n in &g.nodes {
            let w = self.work(g, n);
            if !matches!(w, Work::Full | Work::StartOnly) {
                continue;
            }
            let o = self.req.observed.get(&n.name);
            let peers_ready = Gate::PeersReady { group: g.name.clone(), node: n.name.clone() };
            let mut confirm = Confirm::Yes;
            if o.role != Role::Stopped
                && w == Work::Full
                && let Some(mut s) = self
                    .step(g, n, Action::Stop)
                    .reason(&reason)
                    .rules(&[Rule::Order])
                    .summary(format!("Stopping {} to {verb} it; the other members keep serving", n.name))
                    .confirm(Confirm::Yes)
                    .build()
            {
                s.before.push(peers_ready.clone());
                if let Some(q) = g.quorum {
                    s.before.push(Gate::Quorum { group: g.name.clone(), node: n.name.clone(), min: q });
                }
                self.observed_stop(g, n, &mut s);
                steps.push(s);
                confirm = Confirm::None;
            }
            if w == Work::Full {
                let before_len = steps.len();
                self.reinstall_sequence(g, n, Reinstall::rejoin(&reason, n, confirm, self.has_cleanup(g)), &mut steps);
                if confirm == Confirm::Yes
                    && let Some(first) = steps.get_mut(before_len)
                {
                    first.before.push(peers_ready);
                }
            } else if let Some(s) =
                self.verified_start(g, n, &reason, &[Rule::Verify], format!("Starting {}", n.name), Confirm::Yes)
            {
                steps.push(s);
            }
        }
        let title = if any_order {
            format!("Nodes of {}: one at a time, any order", g.name)
        } else {
            format!("Members of {}: one at a time", g.name)
        };
        self.phases.push(Phase { title, reason, steps });
    }
}
