//! The active-passive profile (Exchange virtual servers, seed 003; Redis with Sentinel; Patroni):
//! passives first, then a switchover and the old active, an optional failback; and components
//! that can only be upgraded with their service offline (R9).

use super::ServerWords;
use crate::model::*;
use crate::plan::builder::{Builder, Reinstall, Work};
use crate::plan::rules::Rule;
use crate::plan::types::*;

/// An active-passive group's words: passives, groups, the Exchange cluster procedure.
pub(super) static WORDS: ServerWords = ServerWords {
    mirror: "passive",
    stripe: "group",
    passives_first: "",
    active_last: "",
    failback: " (Exchange cluster procedure, step 3)",
    phase_reason: "server groups first, passives before the active (Exchange cluster procedure, steps 1-2)",
    title: |group, region, verb| format!("Group {group}{region}: passives, then switch over and {verb} the old active"),
};

impl Builder<'_> {
    /// A component that cannot be upgraded while its service is online (R9): the service goes
    /// offline, every part of the component is upgraded, the service comes back online.
    pub(super) fn component_group(&mut self, g: &Group) {
        let todo: Vec<&Node> = g.nodes.iter().filter(|n| self.work(g, n) == Work::Full).collect();
        let t = self.target(g);
        let service = g
            .service
            .clone()
            .or_else(|| self.cluster.groups.iter().find(|x| x.gtype == GroupType::Server).map(|x| x.name.clone()))
            .unwrap_or_default();
        let already_offline = self.req.context.offline_services.contains(&service);
        // Every part upgraded but the service still offline (the run stopped before `online`):
        // the only step left is bringing it back.
        let Some(first) = todo.first().copied().or_else(|| {
            // On a member the operator did not skip: a skipped node is left as it is.
            let skipped = &self.req.context.skipped_nodes;
            let host = g.nodes.iter().find(|n| !skipped.contains(&n.name)).or(g.nodes.first());
            already_offline.then_some(host).flatten()
        }) else {
            return;
        };
        let reason = Reason::new(
            Rule::OfflineStep,
            format!(
                "{} cannot be upgraded while {service} is online (Exchange cluster procedure: such components need the service offline)",
                g.name
            ),
        );
        let mut steps = Vec::new();
        if !already_offline
            && let Some(mut s) = self
                .step(g, first, Action::Offline)
                .reason(&reason)
                .rules(&[Rule::OfflineStep])
                .summary(format!("Taking {service} OFFLINE to upgrade {} to {t}: clients cannot reach it until it is brought back online (downtime)", g.name))
                .confirm(Confirm::Yes)
                .build()
        {
            s.downtime = true;
            // The offline command may return before its effect lands, or say it worked when it
            // did not: nothing of the component is touched until no member serves.
            s.after.push(Gate::NoActive { group: service.clone() });
            steps.push(s);
        }
        for n in &todo {
            let start = steps.len();
            let has_stop = self.kind(g).is_some_and(|k| k.commands.stop.is_some());
            if has_stop
                && let Some(s) = self
                    .step(g, n, Action::Stop)
                    .reason(&reason)
                    .rules(&[Rule::OfflineStep])
                    .summary(format!("Stopping {} on {}", g.name, n.name))
                    .build()
            {
                steps.push(s);
            }
            let reinstall = Reinstall {
                reason: &reason,
                rejoin: Gate::VersionIs { node: n.name.clone(), version: t.clone() },
                confirm: Confirm::None,
                cleanup: false,
            };
            self.reinstall_sequence(g, n, reinstall, &mut steps);
            for s in &mut steps[start..] {
                s.downtime = true;
                s.after.dedup();
            }
        }
        if let Some(mut s) = self
            .step(g, first, Action::Online)
            .reason(&reason)
            .rules(&[Rule::OfflineStep])
            .summary(format!("Bringing {service} back online"))
            .build()
        {
            s.downtime = true;
            s.after.push(Gate::HasActive { group: service.clone() });
            steps.push(s);
        }
        self.notes.push(Note {
            rule: Some(Rule::OfflineStep),
            level: Level::Warning,
            text: format!("{} needs {service} offline while it is upgraded: downtime, confirmation required", g.name),
        });
        self.phases.push(Phase { title: format!("Offline upgrade of {} ({service} offline)", g.name), reason, steps });
    }
}
