//! What a plan is made of. Serializable, so `plan --json`, the journal and the UI share it.

use super::rules::Rule;
use crate::model::{Profile, Role};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// What a step does to its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Stop the service.
    Stop,
    /// Delete data the old version left behind (irreversible).
    Cleanup,
    /// Install the step's version.
    Install,
    /// Start the service.
    Start,
    /// Move the active role to the peer.
    Switchover,
    /// Move the active role back to the original active (R8).
    Failback,
    /// Stop the current active so the original active takes over again (Terracotta failback).
    FailbackStop,
    /// Restart the node stopped for failback.
    FailbackStart,
    /// Take the service offline for an offline-only component (R9).
    Offline,
    /// Bring the service back online.
    Online,
    /// Reinstall the previous version after a failure (added by the operator's choice).
    Rollback,
    /// A read-only check on every node before anything is touched; one failure refuses the run.
    Preflight,
    /// Once per run before the first node: a backup, a snapshot, a frozen setting.
    Before,
    /// Undoes `before` (thaws the setting); guaranteed to run when `before` ran, even after an
    /// abort or a crash, because a frozen setting left behind is an outage waiting to happen.
    Restore,
    /// Takes a node out of service (leaders moved away, load balancer told) before its stop.
    Drain,
    /// Puts a node back into service once its start was verified.
    Undrain,
    /// A cluster-wide health check after the last node; it must exit 0.
    Health,
    /// Commits the cluster to the new version (no downgrade afterwards); may be deferred.
    Finalize,
}

impl Action {
    /// The verb shown in plans and journals.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Stop => "stop",
            Action::Cleanup => "cleanup",
            Action::Install => "install",
            Action::Start => "start",
            Action::Switchover => "switchover",
            Action::Failback => "failback",
            Action::FailbackStop => "failback-stop",
            Action::FailbackStart => "failback-start",
            Action::Offline => "offline",
            Action::Online => "online",
            Action::Rollback => "rollback",
            Action::Preflight => "preflight",
            Action::Before => "before",
            Action::Restore => "restore",
            Action::Drain => "drain",
            Action::Undrain => "undrain",
            Action::Health => "health",
            Action::Finalize => "finalize",
        }
    }

    /// Whether the step acts on the whole run rather than on one node's software (it runs on one
    /// host, but no node is rolled back because of it).
    pub fn is_run_level(self) -> bool {
        matches!(self, Action::Preflight | Action::Before | Action::Restore | Action::Health | Action::Finalize)
    }

    /// The config key of the command template this action runs.
    pub fn template_key(self) -> &'static str {
        match self {
            Action::Stop | Action::FailbackStop => "stop",
            Action::Start | Action::FailbackStart => "start",
            Action::Cleanup => "cleanup",
            Action::Install => "install",
            Action::Switchover => "switchover",
            Action::Failback => "failback",
            Action::Offline => "offline",
            Action::Online => "online",
            Action::Rollback => "rollback",
            Action::Preflight => "preflight",
            Action::Before => "before",
            Action::Restore => "restore",
            Action::Drain => "drain",
            Action::Undrain => "undrain",
            Action::Health => "cluster_health",
            Action::Finalize => "finalize",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rollback text of every step past the point of no return; the failure question offers no
/// "Roll back node" for such a step.
pub const PAST_NO_RETURN: &str = "none: past the point of no return";

/// How much the operator must do before a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Confirm {
    /// Runs as part of the node's sequence once its first step was confirmed.
    None,
    /// A yes/no confirmation (Cancel focused by default).
    Yes,
    /// The operator types the cluster name (R2, R3, downgrades, skips).
    Typed,
    /// The operator may decline it and the rollout goes on without it (failback under `ask`).
    Optional,
}

/// A condition on the live cluster, checked before or after a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "gate", rename_all = "kebab-case")]
pub enum Gate {
    /// R5: a passive of `group` other than `node` is in sync, so `node` may stop serving.
    SafeToStop {
        /// The group.
        group: String,
        /// The active about to stop or hand over.
        node: String,
    },
    /// The other members of `group` are up and (passives) in sync: no member is the last copy.
    PeersReady {
        /// The group.
        group: String,
        /// The member about to be touched.
        node: String,
    },
    /// At least `min` members other than `node` are up and healthy.
    Quorum {
        /// The group.
        group: String,
        /// The member about to stop.
        node: String,
        /// Members that must stay up.
        min: usize,
    },
    /// `node` has stopped.
    Stopped {
        /// The node.
        node: String,
    },
    /// Some member of `group` other than `not` is active.
    FailedOver {
        /// The group.
        group: String,
        /// The node that gave up the active role.
        not: String,
    },
    /// `node` is the active of its group.
    IsActive {
        /// The node.
        node: String,
    },
    /// `node` is running again: a passive in sync, or healthy when it has no role.
    Rejoined {
        /// The node.
        node: String,
    },
    /// R6: `node`'s version probe reports `version`.
    VersionIs {
        /// The node.
        node: String,
        /// The expected version.
        version: Version,
    },
    /// Some member of `group` is active and serving (after an offline window, R9).
    HasActive {
        /// The group.
        group: String,
    },
    /// No member of `group` is active: its service is offline (R9). Checked after `offline`, so
    /// an offline command that returns before its effect lands, or says it worked and did not,
    /// never lets a component be installed while the service still runs. Every member must be
    /// seen: an unreachable member or an unknown role is not offline.
    NoActive {
        /// The group whose service was taken offline.
        group: String,
    },
    /// A batch (`max_unavailable`) may go down: at least `min` members of `group` outside
    /// `nodes` are up and healthy, so the whole batch is judged before any of it stops.
    BatchQuorum {
        /// The group.
        group: String,
        /// The members of the batch.
        nodes: Vec<String>,
        /// Members outside the batch that must be up.
        min: usize,
    },
    /// Every member of `group` runs `version` (seed 001: orchestrators on one version).
    SameVersion {
        /// The group.
        group: String,
        /// The version they must share.
        version: Version,
    },
}

impl Gate {
    /// The rule this gate enforces.
    pub fn rule(&self) -> Rule {
        match self {
            Gate::SafeToStop { .. } => Rule::SafeToStop,
            Gate::PeersReady { .. } | Gate::Quorum { .. } | Gate::BatchQuorum { .. } => Rule::SafeToStop,
            Gate::Stopped { .. } | Gate::FailedOver { .. } | Gate::IsActive { .. } => Rule::Order,
            Gate::Rejoined { .. } | Gate::VersionIs { .. } => Rule::Verify,
            Gate::SameVersion { .. } => Rule::Order,
            Gate::HasActive { .. } | Gate::NoActive { .. } => Rule::OfflineStep,
        }
    }

    /// What must be true, in an operator's words.
    pub fn describe(&self) -> String {
        match self {
            Gate::SafeToStop { group, node } => format!("a passive of {group} other than {node} is in sync"),
            Gate::PeersReady { group, node } => {
                format!("the other members of {group} are up and in sync before {node} is touched")
            }
            Gate::Quorum { group, node, min } => format!("at least {min} members of {group} besides {node} stay up"),
            Gate::BatchQuorum { group, nodes, min } => format!(
                "at least {min} members of {group} outside the batch ({}) are up, so the whole batch may be down at once",
                nodes.join(", ")
            ),
            Gate::Stopped { node } => format!("{node} has stopped"),
            Gate::FailedOver { group, not } => format!("another member of {group} has taken over from {not} as active"),
            Gate::IsActive { node } => format!("{node} is active"),
            Gate::Rejoined { node } => format!("{node} is back: running and healthy, and in sync if it is a passive"),
            Gate::VersionIs { node, version } => format!("{node} reports version {version}"),
            Gate::SameVersion { group, version } => format!("every member of {group} runs {version}"),
            Gate::HasActive { group } => format!("{group} is served by an active member"),
            Gate::NoActive { group } => {
                format!("{group} is offline: no member of {group} reports the role active")
            }
        }
    }
}

/// Why a step or a phase is where it is: the rule that placed it and the explanation. Code asks
/// [`Reason::rule`] instead of reading the text; plans, journals and screens show one line,
/// "R4 order: mirrors of stripe east before its active, …", which is also how it is serialized, so
/// plans and journals read the same as before it was typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// The rule that placed it; `None` for steps no single rule places (a kind's `before`).
    pub rule: Option<Rule>,
    /// What qualifies the rule, shown in brackets after its name ("policy ask" in
    /// "R8 failback (policy ask): …").
    pub qualifier: Option<String>,
    /// The explanation after the rule.
    pub text: String,
}

impl Reason {
    /// A reason placed by `rule`: shown as "R4 order: {text}".
    pub fn new(rule: Rule, text: impl Into<String>) -> Self {
        Reason { rule: Some(rule), qualifier: None, text: text.into() }
    }

    /// A reason placed by `rule` under a qualifier: shown as "R8 failback (policy ask): {text}".
    pub fn qualified(rule: Rule, qualifier: impl Into<String>, text: impl Into<String>) -> Self {
        Reason { rule: Some(rule), qualifier: Some(qualifier.into()), text: text.into() }
    }

    /// A reason no single rule gives: shown as the text alone.
    pub fn plain(text: impl Into<String>) -> Self {
        Reason { rule: None, qualifier: None, text: text.into() }
    }

    /// Reads a reason back from its one-line form (a journal, an event): a line that starts with
    /// a rule's code and name is that rule's, anything else is plain. `parse(r.to_string()) == r`
    /// for every reason the planner makes.
    pub fn parse(line: &str) -> Self {
        for rule in Rule::ALL {
            let Some(rest) = line.strip_prefix(&rule.to_string()) else { continue };
            if let Some(text) = rest.strip_prefix(": ") {
                return Reason::new(rule, text);
            }
            if let Some(inner) = rest.strip_prefix(" (")
                && let Some((q, text)) = inner.split_once("): ")
            {
                return Reason::qualified(rule, q, text);
            }
        }
        Reason::plain(line)
    }

    /// Whether the rule `rule` gave this reason.
    pub fn is(&self, rule: Rule) -> bool {
        self.rule == Some(rule)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.rule, &self.qualifier) {
            (Some(r), Some(q)) => write!(f, "{r} ({q}): {}", self.text),
            (Some(r), None) => write!(f, "{r}: {}", self.text),
            (None, _) => f.write_str(&self.text),
        }
    }
}

impl From<&str> for Reason {
    fn from(line: &str) -> Self {
        Reason::parse(line)
    }
}

impl From<String> for Reason {
    fn from(line: String) -> Self {
        Reason::parse(&line)
    }
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let line = String::deserialize(d)?;
        Ok(Reason::parse(&line))
    }
}

/// A fact the plan assumed when it placed a step; re-checked before the step runs (R12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assumption {
    /// The node.
    pub node: String,
    /// The role it was expected to have when the step starts.
    pub role: Role,
}

/// One action on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Stable identifier: `group/node/action`. The journal and confirmations refer to it.
    pub id: String,
    /// What it does.
    pub action: Action,
    /// The node it acts on (whose host runs the command).
    pub node: String,
    /// The node's group.
    pub group: String,
    /// The exact command that will run, values quoted; `None` when the kind has no such command.
    pub command: Option<String>,
    /// The version this step moves the node to, for install/rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Version>,
    /// The version the node ran before this run touched it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<Version>,
    /// Conditions that must hold before it runs (waited for, with a deadline).
    pub before: Vec<Gate>,
    /// Conditions that must hold after it ran before anything else is touched.
    pub after: Vec<Gate>,
    /// Why the step is here, in this order.
    pub reason: Reason,
    /// Rules that placed or guard it.
    pub rules: Vec<Rule>,
    /// What happens, in the seed's terms (shown in the confirmation dialog).
    pub summary: String,
    /// The service (or part of it) is unavailable while it runs.
    pub downtime: bool,
    /// It cannot be undone.
    pub irreversible: bool,
    /// Data is lost by it (R3, accepted by the operator).
    pub data_loss: bool,
    /// What the operator must do before it runs.
    pub confirm: Confirm,
    /// What can be done if it fails.
    pub rollback: String,
    /// Roles the plan expected when it placed this step (R12).
    pub assumes: Vec<Assumption>,
    /// The remote directory the step's job runs in (the kind's `workdir`), so relative paths in
    /// step commands mean what they mean in the probes.
    #[serde(default = "root_dir", skip_serializing_if = "is_root")]
    pub workdir: String,
}

fn root_dir() -> String {
    "/".to_string()
}

fn is_root(s: &str) -> bool {
    s == "/"
}

/// Steps that belong together, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase {
    /// Short title ("Upgrade stripe east: mirrors first").
    pub title: String,
    /// Why this phase comes here.
    pub reason: Reason,
    /// Its steps.
    pub steps: Vec<Step>,
}

/// Nodes of one group that go down and come back together (`max_unavailable`): their steps run
/// side by side, one confirmation covers them all, and a failure in one stops new batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// The group.
    pub group: String,
    /// Its members, in config order.
    pub nodes: Vec<String>,
    /// The `batch_by` value all its members share, when the group has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Its number in the group (from 1) and how many batches the group has in this plan.
    pub number: usize,
    /// How many batches the group has in this plan.
    pub of: usize,
    /// Why taking these nodes down together is safe, in an operator's words.
    pub why_safe: String,
}

/// Server groups whose steps run side by side (`parallel_groups`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lanes {
    /// How many groups at once.
    pub width: usize,
    /// The server groups, in plan order.
    pub groups: Vec<String>,
    /// Why running them side by side is safe, in an operator's words.
    pub why_safe: String,
}

/// Whether a note is informative or a warning the operator must read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// Good to know.
    Info,
    /// Read before confirming.
    Warning,
}

/// A remark attached to the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// The rule behind it, if any.
    pub rule: Option<Rule>,
    /// Info or warning.
    pub level: Level,
    /// The remark.
    pub text: String,
}

/// A typed confirmation the plan needs before it may run; headless runs pass `--confirm=NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypedConfirmation {
    /// The rule that demands it.
    pub rule: Option<Rule>,
    /// What the operator accepts by typing the cluster name.
    pub reason: String,
    /// The step it belongs to.
    pub step: String,
}

/// Up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Every node moves up to the target (nodes newer than it are left alone, R10).
    Upgrade,
    /// Every node moves down to the target: an explicit rolling downgrade.
    Downgrade,
    /// Nothing to change.
    Nothing,
}

/// What the plan intends for one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePlan {
    /// The node.
    pub node: String,
    /// Its group.
    pub group: String,
    /// Current version.
    pub from: Option<Version>,
    /// Version at the end.
    pub to: Version,
    /// upgrade, downgrade, at-target, newer-left-alone, skipped.
    pub disposition: String,
}

/// The ordered, explained rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Journal/plan format version (R10: a newer rollpilot's plan is refused).
    pub format: u32,
    /// The rollpilot version that made it.
    pub rollpilot: String,
    /// Cluster name.
    pub cluster: String,
    /// Profile used.
    pub profile: Profile,
    /// Target version.
    pub target: Version,
    /// Up, down or nothing.
    pub direction: Direction,
    /// Versions found before the run.
    pub from_versions: Vec<Version>,
    /// Per-node intentions.
    pub nodes: Vec<NodePlan>,
    /// Phases in order.
    pub phases: Vec<Phase>,
    /// Warnings and remarks.
    pub notes: Vec<Note>,
    /// Typed confirmations this plan needs.
    pub typed_confirmations: Vec<TypedConfirmation>,
    /// Where rollback stops being possible, when a kind declares a point of no return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_of_no_return: Option<NoReturnMarker>,
    /// Nodes whose steps run side by side (`max_unavailable`); absent: one node at a time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batches: Vec<Batch>,
    /// Server groups that run side by side (`parallel_groups`); absent: one group at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lanes: Option<Lanes>,
}

/// "Rollback possible until here": the step after which nothing can be rolled back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoReturnMarker {
    /// The config's declaration (`finalize` or `all-upgraded`).
    pub declared: String,
    /// The last step that can still be rolled back; `None` when the plan is already past it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_possible_until: Option<String>,
    /// The step that crosses it (finalize, or the last node's start); `None` when already past.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crossed_by: Option<String>,
    /// In an operator's words.
    pub text: String,
}

impl Plan {
    /// All steps in order.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.phases.iter().flat_map(|p| p.steps.iter())
    }

    /// Finds a step by id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps().find(|s| s.id == id)
    }

    /// The batch of more than one node that `node` belongs to in this plan, if any.
    pub fn batch_of(&self, node: &str) -> Option<&Batch> {
        self.batches.iter().find(|b| b.nodes.len() > 1 && b.nodes.iter().any(|n| n == node))
    }

    /// Whether anything needs doing.
    pub fn is_empty(&self) -> bool {
        self.phases.iter().all(|p| p.steps.is_empty())
    }
}

/// One reason a plan was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule, when a safety rule refused (exit 3); `None` for missing facts (exit 4).
    pub rule: Option<Rule>,
    /// What is wrong.
    pub message: String,
    /// What the operator can do.
    pub advice: String,
}

/// The planner's "no", with every reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// Cluster name.
    pub cluster: String,
    /// Why.
    pub findings: Vec<Finding>,
}

impl Refusal {
    /// True when the refusal comes from missing facts (unreachable hosts), not from a rule.
    pub fn is_unreachable(&self) -> bool {
        self.findings.iter().all(|f| f.rule.is_none())
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "rollpilot refuses to plan a rolling upgrade of {}:", self.cluster)?;
        for x in &self.findings {
            match x.rule {
                Some(r) => writeln!(f, "  - {r}: {}", x.message)?,
                None => writeln!(f, "  - {}", x.message)?,
            }
            writeln!(f, "    what to do: {}", x.advice)?;
        }
        Ok(())
    }
}

/// What a run has decided or done so far; the planner uses it when it plans again mid-run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RunContext {
    /// Group → the node that was active when the run began (failback returns the role to it).
    pub original_active: BTreeMap<String, String>,
    /// Groups whose failback the operator declined.
    pub failback_declined: BTreeSet<String>,
    /// Groups whose failback has stopped the current active (its restart is still due).
    #[serde(default)]
    pub failback_started: BTreeSet<String>,
    /// Groups whose failback is done.
    pub failback_done: BTreeSet<String>,
    /// Server groups this run took offline for an offline-only component (R9) and has not
    /// brought back yet: having no active there is expected, not a reason to refuse.
    #[serde(default)]
    pub offline_services: BTreeSet<String>,
    /// Nodes the operator chose to skip (typed).
    pub skipped_nodes: BTreeSet<String>,
    /// The operator accepted R3 data loss for this cluster (typed its name).
    pub accept_data_loss: bool,
    /// The target is explicitly below the running versions (a rolling downgrade).
    pub downgrade_intended: bool,
    /// Node → the version it ran when the run began (what a rollback returns it to).
    #[serde(default)]
    pub original_versions: BTreeMap<String, Version>,
    /// Node → the version this run installed on it: what the node runs when its version cannot
    /// be read (a Redis that is stopped cannot report one).
    #[serde(default)]
    pub installed: BTreeMap<String, Version>,
    /// The preflight checks passed: they are not run again when the run plans again.
    #[serde(default)]
    pub preflight_done: bool,
    /// Kinds whose `before` step ran (a frozen setting, a snapshot).
    #[serde(default)]
    pub before_done: BTreeSet<String>,
    /// Kinds whose `restore` step ran after their `before`; a kind in `before_done` and not here
    /// has a restore pending, which the plan and the end of every run take care of.
    #[serde(default)]
    pub restore_done: BTreeSet<String>,
    /// Nodes drained and not yet undrained: a drain leaves nothing the probes can see.
    #[serde(default)]
    pub drained: BTreeSet<String>,
    /// Kinds whose cluster health check after the last node passed.
    #[serde(default)]
    pub health_done: BTreeSet<String>,
    /// Kinds whose finalize the operator deferred ("later, with `rollpilot finalize`").
    #[serde(default)]
    pub finalize_deferred: BTreeSet<String>,
    /// Kind → the version it was finalized at: past the point of no return.
    #[serde(default)]
    pub finalized: BTreeMap<String, Version>,
    /// This run exists to finalize (`rollpilot finalize`): finalize is asked typed, not optional.
    #[serde(default)]
    pub finalize_requested: bool,
    /// Group → nodes whose failure was tolerated under `max_failures`: reported, left out of the
    /// rest of the run (like a skip), and counted against the group's allowance.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tolerated_failures: BTreeMap<String, BTreeSet<String>>,
}

impl RunContext {
    /// Kinds whose `before` ran and whose `restore` has not: what must be restored.
    pub fn restore_pending(&self) -> Vec<String> {
        self.before_done.iter().filter(|k| !self.restore_done.contains(*k)).cloned().collect()
    }
}
