//! A server group with an active and its mirrors/passives, as the terracotta and active-passive
//! profiles upgrade it (R4, R5): the passives first while the active keeps serving, then the
//! active hands its role over (switchover, or a stop the cluster fails over from) and is
//! upgraded itself, then the optional failback (R8). A group with a single server has no one to
//! hand over to: downtime (R2), maybe data loss (R3), typed. The two profiles differ only in
//! words and procedure references ([`ServerWords`]).

use super::ServerWords;
use crate::model::*;
use crate::plan::builder::{Builder, Reinstall, Work, cap};
use crate::plan::rules::{Rule, r15_takeover};
use crate::plan::step_builder::FULLY_UPGRADED;
use crate::plan::types::*;

/// A member of the group as the plan sees it now: what is observed and what it needs.
type Member<'g> = (&'g Node, NodeObs, Work);

impl Builder<'_> {
    /// Plans one mirrored server group, or refuses when its roles make a handover unsafe (a
    /// split brain, or no active).
    pub(in crate::plan) fn server_group(&mut self, g: &Group, words: &ServerWords) -> Result<(), Refusal> {
        let Some(kind) = self.kind(g) else { return Ok(()) };
        let obs: Vec<Member> = g.nodes.iter().map(|n| (n, self.req.observed.get(&n.name), self.work(g, n))).collect();
        if obs.iter().all(|(n, _, w)| *w == Work::Nothing || *w == Work::LeaveNewer || self.skipped(&n.name))
            && self.failback_target(g).is_none()
        {
            return Ok(());
        }
        let actives: Vec<&Node> = obs.iter().filter(|(_, o, _)| o.role == Role::Active).map(|(n, _, _)| *n).collect();
        if g.nodes.len() == 1 {
            let (n, o, w) = (obs[0].0, &obs[0].1, obs[0].2);
            if w != Work::Nothing && w != Work::LeaveNewer {
                self.only_server(g, n, o, w, words);
            }
            return Ok(());
        }
        let stripe = words.stripe;
        if actives.len() > 1 {
            return Err(self.refuse(Finding {
                rule: Some(Rule::SafeToStop),
                message: format!("{stripe} {} has {} active members ({}): a split brain", g.name, actives.len(), actives.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", ")),
                advice: "resolve the split brain first (keep the member with the newest data active, restart the other); rollpilot will not stop an active it cannot tell apart".into(),
            }));
        }
        let Some(&active) = actives.first() else {
            if self.req.context.offline_services.contains(&g.name) {
                // Taken offline by this run for a component (R9); it comes back with `online`.
                return Ok(());
            }
            return Err(self.refuse(Finding {
                rule: Some(Rule::SafeToStop),
                message: format!(
                    "{stripe} {} has no active member ({})",
                    g.name,
                    obs.iter().map(|(n, o, _)| crate::plan::gates::brief(&n.name, o)).collect::<Vec<_>>().join("; ")
                ),
                advice: format!(
                    "bring the {stripe} back to one active before upgrading it (start its servers, or wait for the failover to finish), then plan again"
                ),
            }));
        };
        if self.work(g, active) == Work::Full
            && let Some(finding) = self.feeds_an_older_replica(g, kind, active)
        {
            return Err(self.refuse(finding));
        }
        let mut steps: Vec<Step> = Vec::new();
        self.passives(g, active, &obs, words, &mut steps);
        let current_active = self.hand_over(g, kind, active, words, &mut steps);
        self.failback(g, kind, active, &current_active, words, &mut steps);
        let region = region_of(g);
        let title = (words.title)(&g.name, &region, self.verb());
        self.phases.push(Phase { title, reason: Reason::new(Rule::Order, words.phase_reason), steps });
        Ok(())
    }

    /// R15 during the upgrade: the handover of `active` would make an upgraded member the
    /// primary of a member left out of the run on an older version.
    fn feeds_an_older_replica(&self, g: &Group, kind: &Kind, active: &Node) -> Option<Finding> {
        let pick = self.choose_peer(g, active);
        let named: Vec<&str> = if kind.peer_auto {
            pick.candidates.iter().map(String::as_str).collect()
        } else {
            vec![pick.chosen.as_str()]
        };
        let primaries: Vec<&Node> = g.nodes.iter().filter(|n| named.contains(&n.name.as_str())).collect();
        r15_takeover::older_replica(self.req, g, active, &primaries, self.direction == Direction::Downgrade)
    }

    /// A refusal of this cluster with one finding.
    fn refuse(&self, finding: Finding) -> Refusal {
        Refusal { cluster: self.cluster.name.clone(), findings: vec![finding] }
    }

    /// The only server of a group: its service is down while it is upgraded (R2) and, when the
    /// group is not persistent, its data is lost (R3, accepted before planning got here). The
    /// first step asks for the cluster name.
    fn only_server(&mut self, g: &Group, n: &Node, o: &NodeObs, w: Work, words: &ServerWords) {
        let (mirror, stripe, verb) = (words.mirror, words.stripe, self.verb());
        let region = region_of(g);
        let mut steps = Vec::new();
        let data_loss = !g.persistent;
        let reason = Reason::new(
            Rule::NoMirrorDowntime,
            format!(
                "{stripe} {} has no {mirror}, so its service is down while {} is {verb}d (Terracotta upgrade guide)",
                g.name, n.name
            ),
        );
        let mut first = true;
        if o.role != Role::Stopped
            && let Some(mut s) = self
                .step(g, n, Action::Stop)
                .reason(&reason)
                .rules(&[Rule::NoMirrorDowntime])
                .summary(format!(
                    "Stopping {} ({}), the only server of {}: the service is DOWN until it restarts{}",
                    n.name,
                    o.state.clone().unwrap_or_else(|| o.role.to_string().to_uppercase()),
                    g.name,
                    if data_loss { ", and ALL ITS DATA IS LOST (not persistent)" } else { "" }
                ))
                .confirm(Confirm::Typed)
                .build()
        {
            s.downtime = true;
            s.data_loss = data_loss;
            s.assumes = self.assumes(&[&n.name]);
            if data_loss {
                s.rules.push(Rule::NoMirrorDataLoss);
            }
            self.observed_stop(g, n, &mut s);
            let rule = Some(if data_loss { Rule::NoMirrorDataLoss } else { Rule::NoMirrorDowntime });
            self.typed.push(TypedConfirmation {
                rule,
                reason: if data_loss {
                    format!("{} has no mirror and is not persistent: its data is lost when it restarts", g.name)
                } else {
                    format!("{} has no mirror: its service is down while {} restarts", g.name, n.name)
                },
                step: s.id.clone(),
            });
            self.notes.push(Note {
                rule,
                level: Level::Warning,
                text: format!(
                    "{stripe} {} has no {mirror}: downtime is unavoidable while {} is {verb}d{}; typed confirmation required",
                    g.name,
                    n.name,
                    if data_loss { ", and because it is not persistent ALL ITS DATA IS LOST" } else { "" }
                ),
            });
            steps.push(s);
            first = false;
        }
        self.exp.insert(n.name.clone(), Role::Stopped);
        let start = steps.len();
        if w == Work::Full {
            let confirm = if first { Confirm::Typed } else { Confirm::None };
            self.reinstall_sequence(g, n, Reinstall::rejoin(&reason, n, confirm, self.has_cleanup(g)), &mut steps);
        } else if let Some(s) =
            self.verified_start(g, n, &reason, &[Rule::Verify], format!("Starting {}", n.name), Confirm::Yes)
        {
            steps.push(s);
        }
        for s in &mut steps[start..] {
            s.downtime = true;
        }
        self.exp.insert(n.name.clone(), Role::Active);
        self.phases.push(Phase {
            title: format!("{} {}{region}: the only server", cap(stripe), g.name),
            reason,
            steps,
        });
    }

    /// The passives, stopped ones first (they are down already: finish them before touching
    /// more), each stopped, reinstalled and verified while `active` keeps serving.
    fn passives(&mut self, g: &Group, active: &Node, obs: &[Member], words: &ServerWords, steps: &mut Vec<Step>) {
        let (mirror, stripe) = (words.mirror, words.stripe);
        let cleanup = self.has_cleanup(g);
        let passive_reason = Reason::new(
            Rule::Order,
            format!(
                "{mirror}s of {stripe} {} before its active, so the active keeps serving{}",
                g.name, words.passives_first
            ),
        );
        // A failback is under way when its first half (stopping the current active) is done and
        // its second half (restarting that node as the mirror) is not.
        let ctx = self.req.context;
        let failback_in_progress = ctx.failback_started.contains(&g.name) && !ctx.failback_done.contains(&g.name);
        if !failback_in_progress && let Some(width) = crate::plan::batches::passive_width(g) {
            self.passives_batched(g, active, width, &passive_reason, words, steps);
            return;
        }
        let mut passives: Vec<&Member> = obs
            .iter()
            .filter(|(n, o, w)| {
                n.name != active.name && matches!(w, Work::Full | Work::StartOnly) && o.role != Role::Active
            })
            .collect();
        passives.sort_by_key(|(_, o, _)| if o.role == Role::Stopped { 0 } else { 1 });
        let others: Vec<&str> = g.nodes.iter().map(|x| x.name.as_str()).collect();
        for (n, o, w) in passives {
            let peers_ready = Gate::PeersReady { group: g.name.clone(), node: n.name.clone() };
            if o.role != Role::Stopped {
                let Some(mut s) = self
                    .step(g, n, Action::Stop)
                    .reason(&passive_reason)
                    .rules(&[Rule::Order])
                    .summary(passive_stop_summary(n, o, mirror, g, active, None))
                    .confirm(Confirm::Yes)
                    .build()
                else {
                    // No stop command (Exchange): the install runs on the running passive.
                    self.reinstall_sequence(g, n, Reinstall::rejoin(&passive_reason, n, Confirm::Yes, false), steps);
                    if let Some(first) =
                        steps.iter_mut().rev().find(|s| s.node == n.name && s.action == Action::Install)
                    {
                        first.before.push(peers_ready);
                        first.assumes = self.assumes(&others);
                    }
                    continue;
                };
                s.before.push(peers_ready);
                s.assumes = self.assumes(&others);
                self.observed_stop(g, n, &mut s);
                steps.push(s);
                self.exp.insert(n.name.clone(), Role::Stopped);
                self.reinstall_sequence(g, n, Reinstall::rejoin(&passive_reason, n, Confirm::None, cleanup), steps);
            } else if *w == Work::Full {
                self.reinstall_sequence(g, n, Reinstall::rejoin(&passive_reason, n, Confirm::Yes, cleanup), steps);
            } else if failback_in_progress {
                // Stopped for the failback (the original active took over again): restart it as
                // the mirror, the second half of the failback (R8).
                if let Some(mut s) = self
                    .step(g, n, Action::FailbackStart)
                    .reason(&Reason::new(
                        Rule::Failback,
                        format!("{} is active again; {} restarts as its {mirror}", active.name, n.name),
                    ))
                    .rules(&[Rule::Failback, Rule::Verify])
                    .summary(format!("Failback: restarting {} as the {mirror} and waiting for it to sync", n.name))
                    .build()
                {
                    s.after = vec![Gate::Rejoined { node: n.name.clone() }];
                    steps.push(s);
                }
            } else if let Some(s) = self.verified_start(
                g,
                n,
                &passive_reason,
                &[Rule::Verify],
                format!(
                    "Starting {} (already on {}) and waiting until it has rejoined and synced",
                    n.name,
                    self.target(g)
                ),
                Confirm::Yes,
            ) {
                steps.push(s);
            }
            self.exp.insert(n.name.clone(), Role::Passive);
        }
    }

    /// The active: hands its role over (switchover, or a stop the cluster fails over from) and
    /// is reinstalled. Returns the member expected to be active afterwards.
    fn hand_over(
        &mut self,
        g: &Group,
        kind: &Kind,
        active: &Node,
        words: &ServerWords,
        steps: &mut Vec<Step>,
    ) -> String {
        let (mirror, stripe, verb) = (words.mirror, words.stripe, self.verb());
        if self.work(g, active) != Work::Full {
            return active.name.clone();
        }
        let cleanup = self.has_cleanup(g);
        let a_obs = self.req.observed.get(&active.name);
        let pick = self.choose_peer(g, active);
        let successor = pick.chosen.as_str();
        let successor_text = pick.describe(kind.peer_auto, mirror);
        let named_peer = if kind.peer_auto { None } else { Some(successor) };
        let reason = Reason::new(
            Rule::Order,
            format!(
                "the active of {stripe} {} goes last, after its {mirror}s are {verb}d and in sync; R5 safe-to-stop guards the handover{}",
                g.name, words.active_last
            ),
        );
        let state = a_obs.state.clone().unwrap_or_else(|| "ACTIVE".into());
        let mut new_active = active.name.clone();
        let rejoin = Reinstall::rejoin(&reason, active, Confirm::None, cleanup);
        if kind.commands.switchover.is_some() {
            if let Some(mut s) = self
                .step(g, active, Action::Switchover)
                .peer(named_peer)
                .reason(&reason)
                .rules(&[Rule::Order, Rule::SafeToStop])
                .summary(format!("Moving the active role from {} ({state}) to {successor_text}; {} becomes passive so it can be {verb}d.", active.name, active.name))
                .confirm(Confirm::Yes)
                .build()
            {
                self.guard_handover(&mut s, g, active);
                steps.push(s);
            }
            new_active = self.expect_handover(active, Role::Passive, successor, pick.candidates.len());
            if let Some(mut s) = self
                .step(g, active, Action::Stop)
                .reason(&reason)
                .rules(&[Rule::Order])
                .summary(format!("Stopping {} (now passive) to {verb} it", active.name))
                .build()
            {
                s.before.push(Gate::PeersReady { group: g.name.clone(), node: active.name.clone() });
                self.observed_stop(g, active, &mut s);
                steps.push(s);
                self.exp.insert(active.name.clone(), Role::Stopped);
            }
            self.reinstall_sequence(g, active, rejoin, steps);
        } else if let Some(mut s) = self
            .step(g, active, Action::Stop)
            .reason(&reason)
            .rules(&[Rule::Order, Rule::SafeToStop])
            .summary(format!("Stopping {} ({state}). The cluster fails over to {successor_text}.", active.name))
            .confirm(Confirm::Yes)
            .build()
        {
            self.guard_handover(&mut s, g, active);
            steps.push(s);
            new_active = self.expect_handover(active, Role::Stopped, successor, pick.candidates.len());
            self.reinstall_sequence(g, active, rejoin, steps);
            if let Some(s) = steps.iter_mut().rev().find(|s| s.node == active.name && s.action == Action::Start) {
                s.summary = format!(
                    "Starting {} on {}: the formerly active server now becomes the {mirror}",
                    active.name,
                    self.target(g)
                );
            }
        }
        self.exp.insert(active.name.clone(), Role::Passive);
        new_active
    }

    /// R8 failback: returns the active role to the member that was active when the run began,
    /// with the kind's failback command, else its switchover, else by stopping the current
    /// active and restarting it as the mirror.
    fn failback(
        &mut self,
        g: &Group,
        kind: &Kind,
        active: &Node,
        current_active: &str,
        words: &ServerWords,
        steps: &mut Vec<Step>,
    ) {
        let ctx = self.req.context;
        let pol = self.cluster.failback;
        let original = ctx.original_active.get(&g.name).cloned().unwrap_or_else(|| active.name.clone());
        let wants = pol != FailbackPolicy::Never
            && !ctx.failback_declined.contains(&g.name)
            && !ctx.failback_done.contains(&g.name);
        let Some(orig) = g.nodes.iter().find(|n| n.name == original) else { return };
        if !wants
            || current_active == original
            || current_active.is_empty()
            || self.skipped(&orig.name)
            // Skipping a failback (or the node it would run on) leaves that node as it is.
            || self.skipped(current_active)
        {
            return;
        }
        let confirm = if pol == FailbackPolicy::Ask { Confirm::Optional } else { Confirm::Yes };
        let reason = Reason::qualified(
            Rule::Failback,
            match pol {
                FailbackPolicy::Ask => "policy ask",
                FailbackPolicy::Always => "policy always",
                FailbackPolicy::Never => "policy never",
            },
            format!(
                "optional, moves the active role back to {} and proves failover works on the new version{}",
                orig.name, words.failback
            ),
        );
        let back_to = |s: &mut Step, from: &str, this: &Self| {
            s.before.push(Gate::SafeToStop { group: g.name.clone(), node: from.to_string() });
            s.after.push(Gate::IsActive { node: orig.name.clone() });
            s.assumes = this.assumes(&[from, orig.name.as_str()]);
        };
        if kind.commands.failback.is_some() {
            if let Some(mut s) = self
                .step(g, orig, Action::Failback)
                .peer(Some(current_active))
                .reason(&reason)
                .rules(&[Rule::Failback])
                .summary(format!("Failback: moving the active role from {current_active} back to {}", orig.name))
                .confirm(confirm)
                .build()
            {
                back_to(&mut s, current_active, self);
                steps.push(s);
            }
            return;
        }
        let Some(cur) = g.nodes.iter().find(|n| n.name == current_active) else { return };
        if kind.commands.switchover.is_some() {
            // No failback command: the switchover command, run where the role is now.
            if let Some(mut s) = self
                .step(g, cur, Action::Switchover)
                .peer(Some(&orig.name))
                .reason(&reason)
                .rules(&[Rule::Failback])
                .summary(format!("Failback: moving the active role from {} back to {}", cur.name, orig.name))
                .confirm(confirm)
                .build()
            {
                s.action = Action::Failback;
                s.id = format!("{}/{}/failback", g.name, orig.name);
                s.rollback = FULLY_UPGRADED.into();
                back_to(&mut s, &cur.name, self);
                steps.push(s);
            }
        } else if let Some(mut s) = self
            .step(g, cur, Action::FailbackStop)
            .reason(&reason)
            .rules(&[Rule::Failback, Rule::SafeToStop])
            .summary(format!("Failback: stopping {} (the current active). {} becomes the active server again; {} then restarts as the {}.", cur.name, orig.name, cur.name, words.mirror))
            .confirm(confirm)
            .build()
        {
            back_to(&mut s, &cur.name, self);
            steps.push(s);
            if let Some(mut s2) = self
                .step(g, cur, Action::FailbackStart)
                .reason(&reason)
                .rules(&[Rule::Failback, Rule::Verify])
                .summary(format!("Failback: restarting {} as the {} and waiting for it to sync", cur.name, words.mirror))
                .build()
            {
                s2.after.push(Gate::Rejoined { node: cur.name.clone() });
                steps.push(s2);
            }
        }
    }

    /// The gates of a step that hands the active role over (switchover, or a stop that fails
    /// over): a passive must be in sync before (R5), another member active after.
    fn guard_handover(&self, s: &mut Step, g: &Group, active: &Node) {
        s.before.push(Gate::SafeToStop { group: g.name.clone(), node: active.name.clone() });
        s.after.push(Gate::FailedOver { group: g.name.clone(), not: active.name.clone() });
        s.assumes = self.assumes(&[active.name.as_str()]);
    }

    /// Roles expected after a handover: the old active in `becomes`, the successor active when
    /// there is only one candidate. Returns the expected new active.
    fn expect_handover(&mut self, active: &Node, becomes: Role, successor: &str, candidates: usize) -> String {
        self.exp.insert(active.name.clone(), becomes);
        if candidates == 1 {
            self.exp.insert(successor.to_string(), Role::Active);
        }
        successor.to_string()
    }

    /// The member the role returns to when the run's original active is not active now.
    fn failback_target(&self, g: &Group) -> Option<String> {
        let orig = self.req.context.original_active.get(&g.name)?;
        let o = self.req.observed.get(orig);
        (o.role != Role::Active).then(|| orig.clone())
    }
}

/// "Stopping pg-2 (PASSIVE, passive of pg; batch 1/2: pg-2, pg-3). pg-1 stays active and keeps
/// serving.": what stopping a passive means, in the group's words.
pub(super) fn passive_stop_summary(
    n: &Node,
    o: &NodeObs,
    mirror: &str,
    g: &Group,
    active: &Node,
    batch: Option<&str>,
) -> String {
    format!(
        "Stopping {} ({}, {mirror} of {}{}). {} stays active and keeps serving.",
        n.name,
        o.state.clone().unwrap_or_else(|| "PASSIVE".into()),
        g.name,
        batch.map(|b| format!("; {b}")).unwrap_or_default(),
        active.name
    )
}

/// " (east)" for a group in a region, "" otherwise, for titles.
fn region_of(g: &Group) -> String {
    g.region.as_ref().map(|r| format!(" ({r})")).unwrap_or_default()
}
