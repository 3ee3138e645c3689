//! The state a plan is built in, and the few judgements every profile shares: what a node needs
//! ([`Work`]), which version a group ends on, which roles the plan expects at each point (R12),
//! and the node sequence after a stop (cleanup, install, start, verified by R6).

use super::planner::PlanRequest;
use super::rules::Rule;
use super::types::*;
use crate::model::*;
use semver::Version;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// What a node needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Work {
    /// At the target and running.
    Nothing,
    /// At the target but stopped: start it.
    StartOnly,
    /// Needs the target installed (and a stop/start around it).
    Full,
    /// Newer than the target in an upgrade: left alone (R10).
    LeaveNewer,
}

/// A plan being built: phases, notes and typed confirmations so far, and the roles expected at
/// the current point of the plan (recorded in each step so drift can be told, R12).
pub(super) struct Builder<'a> {
    pub(super) req: &'a PlanRequest<'a>,
    pub(super) cluster: &'a Cluster,
    pub(super) direction: Direction,
    pub(super) phases: Vec<Phase>,
    pub(super) notes: Vec<Note>,
    pub(super) typed: Vec<TypedConfirmation>,
    /// Roles expected at the current point of the plan.
    pub(super) exp: BTreeMap<String, Role>,
    /// Nodes whose steps run side by side (`max_unavailable`).
    pub(super) batches: Vec<Batch>,
}

/// What `n` of `g` needs to end on the group's target, judged from what is observed now (and,
/// for a node that cannot report a version while down, what this run installed on it).
pub(super) fn work_of(req: &PlanRequest, g: &Group, n: &Node, direction: Direction) -> Work {
    let o = req.observed.get(&n.name);
    let t = target_of(req, g);
    // A version that cannot be read now (the node is down) is the one this run installed, if any.
    let version = o.version.clone().or_else(|| req.context.installed.get(&n.name).cloned());
    match &version {
        None => Work::Full,
        Some(v) => match v.cmp_precedence(&t) {
            Ordering::Equal if o.role == Role::Stopped => Work::StartOnly,
            Ordering::Equal => Work::Nothing,
            Ordering::Less => Work::Full,
            Ordering::Greater if direction == Direction::Downgrade => Work::Full,
            Ordering::Greater => Work::LeaveNewer,
        },
    }
}

/// The version `g` ends on: its own `target` (a component with a version line of its own), else
/// the run's.
pub(super) fn target_of(req: &PlanRequest, g: &Group) -> Version {
    g.target.clone().unwrap_or_else(|| req.target.clone())
}

/// "stripe" → "Stripe", for titles.
pub(super) fn cap(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

impl<'a> Builder<'a> {
    /// An empty plan for `req`, expecting every node in the role it is observed in.
    pub(super) fn new(req: &'a PlanRequest<'a>, direction: Direction) -> Self {
        let cluster = req.cluster;
        Builder {
            req,
            cluster,
            direction,
            phases: Vec::new(),
            notes: Vec::new(),
            typed: Vec::new(),
            exp: cluster.nodes().map(|(_, n)| (n.name.clone(), req.observed.get(&n.name).role)).collect(),
            batches: Vec::new(),
        }
    }

    /// The kind of `g` (its commands and parsers).
    pub(super) fn kind(&self, g: &Group) -> Option<&'a Kind> {
        self.cluster.kind_of(g)
    }

    /// The version `g` ends on.
    pub(super) fn target(&self, g: &Group) -> Version {
        target_of(self.req, g)
    }

    /// What `n` needs; a node the operator skipped needs nothing.
    pub(super) fn work(&self, g: &Group, n: &Node) -> Work {
        if self.skipped(&n.name) {
            return Work::Nothing;
        }
        work_of(self.req, g, n, self.direction)
    }

    /// Whether the operator chose to skip `node` (typed): nothing runs on it.
    pub(super) fn skipped(&self, node: &str) -> bool {
        self.req.context.skipped_nodes.contains(node)
    }

    /// "upgrade" or "downgrade", for the plan's sentences.
    pub(super) fn verb(&self) -> &'static str {
        if self.direction == Direction::Downgrade { "downgrade" } else { "upgrade" }
    }

    /// Whether the kind can observe a stop (a role parser or a health probe).
    pub(super) fn observes_stop(&self, g: &Group) -> bool {
        self.kind(g).is_some_and(|k| k.parse.role.is_some() || k.commands.health.is_some())
    }

    /// Whether the kind of `g` has a cleanup command (Terracotta's old data backups).
    pub(super) fn has_cleanup(&self, g: &Group) -> bool {
        self.kind(g).is_some_and(|k| k.commands.cleanup.is_some())
    }

    /// The roles the plan expects `nodes` to have when the step starts (R12); unknown ones are
    /// left out, since nothing can be re-checked against them.
    pub(super) fn assumes(&self, nodes: &[&str]) -> Vec<Assumption> {
        nodes
            .iter()
            .filter_map(|n| self.exp.get(*n).map(|r| Assumption { node: n.to_string(), role: *r }))
            .filter(|a| a.role != Role::Unknown)
            .collect()
    }

    /// The R6 checks after a node is started on the target: it is back, and reports the version.
    pub(super) fn verify_gates(&self, g: &Group, n: &Node, rejoin: Gate) -> Vec<Gate> {
        vec![rejoin, Gate::VersionIs { node: n.name.clone(), version: self.target(g) }]
    }

    /// A start of a node that already has the target installed, checked afterwards by its
    /// rejoin and by the version it runs (R6): one shape for every "start it again" step.
    pub(super) fn verified_start(
        &self,
        g: &Group,
        n: &Node,
        reason: &Reason,
        rules: &[Rule],
        summary: String,
        confirm: Confirm,
    ) -> Option<Step> {
        let mut s =
            self.step(g, n, Action::Start).reason(reason).rules(rules).summary(summary).confirm(confirm).build()?;
        s.after = self.verify_gates(g, n, Gate::Rejoined { node: n.name.clone() });
        Some(s)
    }

    /// A stop of `n` with the check that it has stopped, when the kind can observe one.
    pub(super) fn observed_stop(&self, g: &Group, n: &Node, s: &mut Step) {
        if self.observes_stop(g) {
            s.after.push(Gate::Stopped { node: n.name.clone() });
        }
    }

    /// The node's sequence after it stopped: optional cleanup, install, start, with R6 gates last.
    pub(super) fn reinstall_sequence(&self, g: &Group, n: &Node, reinstall: Reinstall<'_>, steps: &mut Vec<Step>) {
        let Reinstall { reason, rejoin, confirm: mut first_confirm, cleanup } = reinstall;
        let t = self.target(g);
        let from = self.req.observed.get(&n.name).version.map(|v| v.to_string()).unwrap_or_else(|| "unknown".into());
        if cleanup
            && let Some(s) = self
                .step(g, n, Action::Cleanup)
                .reason(reason)
                .rules(&[Rule::Order])
                .summary(format!(
                    "Deleting the old data backups of {} (dirty-objectdb): this cannot be undone (Terracotta upgrade procedure, step 2.1c)",
                    n.name
                ))
                .confirm(Confirm::Yes)
                .build()
        {
            steps.push(s);
        }
        if let Some(mut s) = self
            .step(g, n, Action::Install)
            .reason(reason)
            .rules(&[Rule::Order, Rule::Verify])
            .summary(format!("Installing {t} on {} (removes {from}, unpacks {t})", n.name))
            .confirm(first_confirm)
            .build()
        {
            s.assumes = self.assumes(&[&n.name]);
            first_confirm = Confirm::None;
            steps.push(s);
        }
        let has_start = self.kind(g).is_some_and(|k| k.commands.start.is_some());
        if has_start
            && let Some(mut s) = self
                .step(g, n, Action::Start)
                .reason(reason)
                .rules(&[Rule::Verify])
                .summary(format!("Starting {} on {t} and waiting until it has rejoined and synced", n.name))
                .confirm(first_confirm)
                .build()
        {
            s.after = self.verify_gates(g, n, rejoin);
            steps.push(s);
        } else if let Some(last) = steps.last_mut() {
            last.after.extend(self.verify_gates(g, n, rejoin));
        }
    }
}

/// How a node is reinstalled after its stop: why, the rejoin check that ends it, the
/// confirmation of its first step, and whether the kind's cleanup runs first.
pub(super) struct Reinstall<'r> {
    /// The step's reason (its phase's).
    pub(super) reason: &'r Reason,
    /// The check that the node is back (R6), before its version is checked.
    pub(super) rejoin: Gate,
    /// The confirmation of the first step of the sequence (the node's first, when not stopped
    /// by a step of its own).
    pub(super) confirm: Confirm,
    /// Whether the kind's cleanup deletes old data first.
    pub(super) cleanup: bool,
}

impl<'r> Reinstall<'r> {
    /// The common case: the node is back when it has rejoined.
    pub(super) fn rejoin(reason: &'r Reason, n: &Node, confirm: Confirm, cleanup: bool) -> Self {
        Reinstall { reason, rejoin: Gate::Rejoined { node: n.name.clone() }, confirm, cleanup }
    }
}
