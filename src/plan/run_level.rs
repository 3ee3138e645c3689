//! The steps around the node phases that act on the run rather than on one node's software:
//! each kind's `before` (a backup, a frozen setting) and its guaranteed `restore`, drain/undrain
//! around each node's time out of service, the cluster health check after the last node, and
//! finalize (R14). Run-level steps run on the first host of the first group of their kind.
//! Progress that leaves no trace on the hosts (a drain, a frozen setting) comes from the run's
//! context.

use super::builder::Builder;
use super::planner::PlanRequest;
use super::rules::Rule;
use super::rules::r14_no_return::{reported_finalized, series_above};
use super::types::*;
use crate::model::*;
use semver::Version;

impl<'a> Builder<'a> {
    /// Kinds in use by groups that still have a node to look after, in config order.
    pub(super) fn kinds_in_use(&self) -> Vec<(String, &'a Group, &'a Node)> {
        let cluster: &'a Cluster = self.cluster;
        let mut out: Vec<(String, &'a Group, &'a Node)> = Vec::new();
        for g in &cluster.groups {
            if out.iter().any(|(k, _, _)| k == &g.kind) {
                continue;
            }
            if let Some(n) = g.nodes.iter().find(|n| !self.skipped(&n.name)) {
                out.push((g.kind.clone(), g, n));
            }
        }
        out
    }

    /// The run-level steps: drains around the nodes, preflight on every host first (R13), each
    /// kind's `before` next; the cluster health check, the pending restores and finalize after
    /// the last node.
    pub(super) fn run_level_steps(&mut self) {
        let ctx = self.req.context;
        let node_work = self.phases.iter().any(|p| !p.steps.is_empty());
        self.drain_around_nodes();
        // Something this run did is not finished until health, restore and finalize ran.
        let touched = node_work || !ctx.installed.is_empty() || !ctx.before_done.is_empty();
        let kinds = self.kinds_in_use();
        self.preflight_phase(node_work);
        let pending = ctx.restore_pending();
        let mut befores = Vec::new();
        let mut after = Vec::new();
        for (kname, g, n) in &kinds {
            if node_work
                && !pending.contains(kname)
                && let Some(s) = self
                    .step(g, n, Action::Before)
                    .reason(&Reason::plain("runs once before the first node is touched; its restore is guaranteed to follow"))
                    .rules(&[Rule::Order])
                    .summary(format!(
                        "Before the first node of kind {kname}: the kind's `before` command on {} (restored after the last node, after an abort, or on resume)",
                        n.name
                    ))
                    .confirm(Confirm::Yes)
                    .build()
            {
                befores.push(s);
            }
            if (node_work || (touched && !ctx.health_done.contains(kname)))
                && let Some(mut s) = self
                    .step(g, n, Action::Health)
                    .reason(&Reason::plain(
                        "the whole cluster must be healthy after the last node, before the run may end",
                    ))
                    .rules(&[Rule::Verify])
                    .summary(format!("Checking the health of the whole cluster (kind {kname}) on {}", n.name))
                    .build()
            {
                s.id = format!("{}/{}/cluster-health", g.name, n.name);
                after.push(s);
            }
            let before_planned = befores.iter().any(|b: &Step| b.group == g.name && b.action == Action::Before);
            if (before_planned || pending.contains(kname))
                && let Some(s) = self
                    .step(g, n, Action::Restore)
                    .reason(&Reason::plain(
                        "undoes the kind's `before` step; it runs whenever `before` ran, even after an abort",
                    ))
                    .rules(&[Rule::Order])
                    .summary(format!("Restoring what `before` changed for kind {kname}, on {}", n.name))
                    .build()
            {
                after.push(s);
            }
            if let Some(s) = self.finalize_step(kname, g, n, touched) {
                after.push(s);
            }
        }
        if !befores.is_empty() {
            let at =
                usize::from(self.phases.first().is_some_and(|p| p.steps.iter().any(|s| s.action == Action::Preflight)));
            self.phases.insert(
                at,
                Phase {
                    title: "Before the first node".into(),
                    reason: Reason::plain(
                        "a backup or a frozen setting first; its restore is guaranteed (end, abort, resume)",
                    ),
                    steps: befores,
                },
            );
        }
        if !after.is_empty() {
            self.phases.push(Phase {
                title: "After the last node".into(),
                reason: Reason::plain(
                    "the whole cluster is checked, what `before` changed is restored, then finalize (optional now)",
                ),
                steps: after,
            });
        }
    }

    /// The finalize of kind `kname` (R14), when this run should offer it: not finalized yet (in
    /// this run or as reported by the cluster), not a downgrade, and either asked for or owed by
    /// a run that changed something and did not defer it.
    fn finalize_step(&mut self, kname: &str, g: &Group, n: &Node, touched: bool) -> Option<Step> {
        let ctx = self.req.context;
        // A cluster that reports the target's series as finalized has nothing to finalize.
        let reported = reported_finalized(self.req, kname).is_some_and(|f| !series_above(&self.target(g), &f));
        let wants_finalize = !ctx.finalized.contains_key(kname)
            && !reported
            && !ctx.downgrade_intended
            && self.direction != Direction::Downgrade
            && (ctx.finalize_requested || (touched && !ctx.finalize_deferred.contains(kname)));
        if !wants_finalize {
            return None;
        }
        let mut s = self
            .step(g, n, Action::Finalize)
            .reason(&Reason::plain(
                "commits the cluster to the new version; once done, no rollback or downgrade is possible",
            ))
            .rules(&[Rule::NoReturn])
            .summary(format!(
                "Finalizing kind {kname} at {} on {}: after this the cluster cannot be downgraded",
                self.target(g),
                n.name
            ))
            .confirm(if ctx.finalize_requested { Confirm::Typed } else { Confirm::Optional })
            .build()?;
        s.irreversible = true;
        s.version = Some(self.target(g));
        s.before = self
            .cluster
            .groups
            .iter()
            .filter(|x| x.kind == kname)
            .map(|x| Gate::SameVersion { group: x.name.clone(), version: self.target(x) })
            .collect();
        if s.confirm == Confirm::Typed {
            self.typed.push(TypedConfirmation {
                rule: Some(Rule::NoReturn),
                reason: format!("finalize kind {kname}: the point of no return, no downgrade afterwards"),
                step: s.id.clone(),
            });
        }
        Some(s)
    }

    /// Drains each node before the first step that takes it out of service and undrains it
    /// after the step that verifies it is back; a node drained earlier in the run (nothing the
    /// probes can see) is undrained first when nothing else is left for it.
    fn drain_around_nodes(&mut self) {
        let ctx = self.req.context;
        let mut leftovers: Vec<Step> = Vec::new();
        for (g, n) in self.cluster.nodes() {
            if self.kind(g).is_none_or(|k| k.commands.drain.is_none()) {
                continue;
            }
            // A node skipped while drained is left on its version, but not out of service.
            if self.skipped(&n.name) {
                if ctx.drained.contains(&n.name) {
                    leftovers.extend(
                        self.step(g, n, Action::Undrain)
                            .reason(&Reason::plain(
                                "skipped by the operator while drained: it is put back into service as it is",
                            ))
                            .rules(&[Rule::DoNoHarm])
                            .summary(format!("Putting {} back into service (skipped, not upgraded)", n.name))
                            .build(),
                    );
                }
                continue;
            }
            let of_node = |s: &Step| {
                s.node == n.name && matches!(s.action, Action::Stop | Action::Cleanup | Action::Install | Action::Start)
            };
            let positions: Vec<(usize, usize)> = self
                .phases
                .iter()
                .enumerate()
                .flat_map(|(pi, p)| p.steps.iter().enumerate().filter(|(_, s)| of_node(s)).map(move |(si, _)| (pi, si)))
                .collect();
            let undrain = self
                .step(g, n, Action::Undrain)
                .reason(&Reason::plain("the node is back and verified: it takes load again"))
                .rules(&[Rule::Order])
                .summary(format!("Putting {} back into service", n.name))
                .build();
            let (Some(&(fp, fs)), Some(&(lp, ls))) = (positions.first(), positions.last()) else {
                if ctx.drained.contains(&n.name) {
                    leftovers.extend(undrain);
                }
                continue;
            };
            if let Some(u) = undrain {
                self.phases[lp].steps.insert(ls + 1, u);
            }
            if ctx.drained.contains(&n.name) {
                continue;
            }
            let first = &self.phases[fp].steps[fs];
            let (confirm, before, assumes, first_id) =
                (first.confirm, first.before.clone(), first.assumes.clone(), first.id.clone());
            if let Some(mut d) = self
                .step(g, n, Action::Drain)
                .reason(&Reason::plain("the node stops taking load before it is stopped"))
                .rules(&[Rule::Order])
                .summary(format!("Draining {} (moving its load away) before it is stopped", n.name))
                .confirm(confirm)
                .build()
            {
                d.before = before;
                d.assumes = assumes;
                // The node's sequence is confirmed once, at its first step: now the drain.
                self.phases[fp].steps[fs].confirm = Confirm::None;
                for t in &mut self.typed {
                    if t.step == first_id {
                        t.step = d.id.clone();
                    }
                }
                self.phases[fp].steps.insert(fs, d);
            }
        }
        if !leftovers.is_empty() {
            self.phases.insert(
                0,
                Phase {
                    title: "Put drained nodes back into service".into(),
                    reason: Reason::plain("drained earlier in this run; their upgrade is done"),
                    steps: leftovers,
                },
            );
        }
    }
}

/// The restore steps a run owes (its `before` ran, its `restore` did not), built without probing:
/// what the end of an aborted or failed run executes so a frozen setting is never left behind.
pub fn restore_steps(cluster: &Cluster, context: &RunContext, target: &Version) -> Vec<Step> {
    let observed = Observed::default();
    let req = PlanRequest { cluster, observed: &observed, target: target.clone(), context };
    let mut b = Builder::new(&req, Direction::Nothing);
    b.exp.clear();
    let pending = context.restore_pending();
    b.kinds_in_use()
        .into_iter()
        .filter(|(k, _, _)| pending.contains(k))
        .filter_map(|(k, g, n)| {
            b.step(g, n, Action::Restore)
                .reason(&Reason::plain("the run ended before its restore: what `before` changed is restored now"))
                .rules(&[Rule::Order])
                .summary(format!("Restoring what `before` changed for kind {k}, on {}", n.name))
                .build()
        })
        .collect()
}
