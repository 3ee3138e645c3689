//! The terracotta profile (BigMemory / Terracotta 4.2, seeds 000 and 001): stripes with mirrors
//! before their actives in every region, then clients in batches, then the WAN orchestrators,
//! which must all end on one version (standbys stopped first, all upgraded, masters restarted
//! first).

use super::ServerWords;
use crate::model::*;
use crate::plan::builder::{Builder, Reinstall, Work, cap};
use crate::plan::rules::Rule;
use crate::plan::types::*;

/// A Terracotta stripe's words: mirrors, stripes, the upgrade procedure's steps.
pub(super) static WORDS: ServerWords = ServerWords {
    mirror: "mirror",
    stripe: "stripe",
    passives_first: " (Terracotta upgrade procedure, step 2.1)",
    active_last: " (Terracotta upgrade procedure, step 2.2)",
    failback: " (Terracotta upgrade procedure, step 2.2d)",
    phase_reason: "every TSA stripe in every region is upgraded before clients and orchestrators (Terracotta upgrade procedure, step 2)",
    title: |group, region, _| format!("Stripe {group}{region}: mirrors, then the active with failover"),
};

impl Builder<'_> {
    /// Clients after all server groups (R4), `batch` at a time: a whole batch is stopped, then
    /// each member reinstalled and verified.
    pub(super) fn client_group(&mut self, g: &Group) {
        let todo: Vec<&Node> =
            g.nodes.iter().filter(|n| matches!(self.work(g, n), Work::Full | Work::StartOnly)).collect();
        let servers = g.servers.clone().map(|s| format!(" of {s}")).unwrap_or_default();
        let reason = Reason::new(
            Rule::Order,
            format!(
                "clients{servers} after all server groups in all regions{}",
                if self.cluster.profile == Profile::Terracotta {
                    " (Terracotta upgrade procedure, step 2.3)"
                } else {
                    ""
                }
            ),
        );
        let batches: Vec<&[&Node]> = todo.chunks(g.batch.max(1)).collect();
        let nb = batches.len();
        let mut steps = Vec::new();
        for (bi, batch) in batches.into_iter().enumerate() {
            let names: Vec<&str> = batch.iter().map(|n| n.name.as_str()).collect();
            let mut confirm = Confirm::Yes;
            let batch_text = format!("batch {}/{nb}: {}", bi + 1, names.join(", "));
            // Stop the whole batch, then reinstall each: the batch is what is down at once.
            for n in batch {
                let o = self.req.observed.get(&n.name);
                if o.role != Role::Stopped
                    && self.work(g, n) == Work::Full
                    && let Some(mut s) = self
                        .step(g, n, Action::Stop)
                        .reason(&reason)
                        .rules(&[Rule::Order])
                        .summary(format!(
                            "Stopping client {} ({batch_text}); its application is down until it restarts",
                            n.name
                        ))
                        .confirm(confirm)
                        .build()
                {
                    self.observed_stop(g, n, &mut s);
                    steps.push(s);
                    confirm = Confirm::None;
                }
            }
            for n in batch {
                if self.work(g, n) == Work::Full {
                    self.reinstall_sequence(g, n, Reinstall::rejoin(&reason, n, confirm, false), &mut steps);
                    confirm = Confirm::None;
                } else if let Some(s) =
                    self.verified_start(g, n, &reason, &[Rule::Verify], format!("Starting client {}", n.name), confirm)
                {
                    steps.push(s);
                    confirm = Confirm::None;
                }
            }
        }
        self.phases.push(Phase {
            title: format!("Clients {}{servers} (batches of {})", g.name, g.batch),
            reason,
            steps,
        });
    }

    /// WAN orchestrators, last (R4): all stopped (standbys before masters when they
    /// reconnect-resync), all upgraded, all restarted masters first, ending on one version.
    pub(super) fn orchestrator_group(&mut self, g: &Group) {
        let t = self.target(g);
        let verb = self.verb();
        let todo: Vec<&Node> = g.nodes.iter().filter(|n| matches!(self.work(g, n), Work::Full)).collect();
        let start_only: Vec<&Node> = g.nodes.iter().filter(|n| self.work(g, n) == Work::StartOnly).collect();
        if todo.is_empty() && start_only.is_empty() {
            return;
        }
        let seed =
            if self.cluster.profile == Profile::Terracotta { " (Terracotta upgrade procedure, steps 3-5)" } else { "" };
        // Stop: standbys before masters (seed 001 recommends it with reconnectResync).
        let mut stop_order: Vec<&Node> = if todo.is_empty() {
            Vec::new()
        } else {
            g.nodes
                .iter()
                .filter(|n| self.req.observed.get(&n.name).role != Role::Stopped && !self.skipped(&n.name))
                .collect()
        };
        stop_order.sort_by_key(|n| if n.declared_role == Some(DeclaredRole::Standby) { 0 } else { 1 });
        let stop_reason = if g.reconnect_resync {
            Reason::new(
                Rule::Order,
                format!(
                    "orchestrators after every TSA in every region; standbys stopped before masters because they reconnect-resync{seed}"
                ),
            )
        } else {
            Reason::new(
                Rule::Order,
                format!("orchestrators after every TSA in every region; all are stopped before any is upgraded{seed}"),
            )
        };
        let mut stops = Vec::new();
        let mut confirm = Confirm::Yes;
        for n in &stop_order {
            let role = match n.declared_role {
                Some(DeclaredRole::Master) => "master",
                _ => "standby",
            };
            if let Some(mut s) = self
                .step(g, n, Action::Stop)
                .reason(&stop_reason)
                .rules(&[Rule::Order])
                .summary(format!("Stopping orchestrator {} ({role}). WAN replication pauses until all orchestrators restart on {t}; each region keeps serving locally.", n.name))
                .confirm(confirm)
                .build()
            {
                s.downtime = true;
                self.observed_stop(g, n, &mut s);
                stops.push(s);
                confirm = Confirm::None;
            }
        }
        if !stops.is_empty() {
            self.notes.push(Note {
                rule: Some(Rule::Order),
                level: Level::Warning,
                text: format!(
                    "WAN replication ({}) pauses while the orchestrators are stopped, upgraded and restarted",
                    g.name
                ),
            });
            self.phases.push(Phase {
                title: format!("Stop all orchestrators of {} (standbys first)", g.name),
                reason: stop_reason,
                steps: stops,
            });
        }
        let inst_reason = Reason::new(
            Rule::Order,
            format!("all orchestrators must run the same version, so every one is {verb}d before any restarts{seed}"),
        );
        let installs: Vec<Step> = todo
            .iter()
            .filter_map(|n| {
                self.step(g, n, Action::Install)
                    .reason(&inst_reason)
                    .rules(&[Rule::Order])
                    .summary(format!("Installing {t} on orchestrator {}", n.name))
                    .build()
            })
            .collect();
        if !installs.is_empty() {
            self.phases.push(Phase {
                title: format!("{} all orchestrators of {} to {t}", cap(verb), g.name),
                reason: inst_reason,
                steps: installs,
            });
        }
        let start_reason = Reason::new(
            Rule::Order,
            format!(
                "restart all orchestrators, masters first (the master region is available at once and resynchronizes the replicas){seed}"
            ),
        );
        let mut start_order: Vec<&Node> = g
            .nodes
            .iter()
            .filter(|n| !self.skipped(&n.name) && matches!(self.work(g, n), Work::Full | Work::StartOnly))
            .collect();
        start_order.sort_by_key(|n| if n.declared_role == Some(DeclaredRole::Master) { 0 } else { 1 });
        let mut starts = Vec::new();
        let mut confirm = if stop_order.is_empty() { Confirm::Yes } else { Confirm::None };
        for n in &start_order {
            if let Some(mut s) = self.verified_start(
                g,
                n,
                &start_reason,
                &[Rule::Order, Rule::Verify],
                format!("Starting orchestrator {} on {t}", n.name),
                confirm,
            ) {
                s.downtime = true;
                starts.push(s);
                confirm = Confirm::None;
            }
        }
        if let Some(last) = starts.last_mut() {
            last.after.push(Gate::SameVersion { group: g.name.clone(), version: t.clone() });
        }
        if !starts.is_empty() {
            self.phases.push(Phase {
                title: format!("Restart all orchestrators of {}", g.name),
                reason: start_reason,
                steps: starts,
            });
        }
    }
}
