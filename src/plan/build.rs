//! The planner: cluster + observed state + target → an ordered, explained plan, or a refusal.
//!
//! It reconciles toward the goal rather than replaying a script: every node's next steps follow
//! from what is observed now (version, role, running or not), so planning again mid-run (drift,
//! resume) naturally continues where the cluster is, and finished work is never planned twice.

use super::rules::Rule;
use super::types::*;
use crate::model::*;
use semver::Version;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

#[path = "batches.rs"]
pub(crate) mod batches;
#[path = "lanes.rs"]
pub(crate) mod lanes;

/// Everything the planner needs; nothing it does touches the network.
#[derive(Debug, Clone)]
pub struct PlanRequest<'a> {
    /// The cluster description.
    pub cluster: &'a Cluster,
    /// What is observed now.
    pub observed: &'a Observed,
    /// The version to end on (the config's target unless `--to` overrides it).
    pub target: Version,
    /// Decisions and progress of the run so far.
    pub context: &'a RunContext,
}

/// What a node needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    /// At the target and running.
    Nothing,
    /// At the target but stopped: start it.
    StartOnly,
    /// Needs the target installed (and a stop/start around it).
    Full,
    /// Newer than the target in an upgrade: left alone (R10).
    LeaveNewer,
}

/// The plan format written into plans and journals; bumped when their meaning changes.
pub const PLAN_FORMAT: u32 = 1;

struct Builder<'a> {
    req: &'a PlanRequest<'a>,
    cluster: &'a Cluster,
    direction: Direction,
    phases: Vec<Phase>,
    notes: Vec<Note>,
    typed: Vec<TypedConfirmation>,
    /// Roles expected at the current point of the plan.
    exp: BTreeMap<String, Role>,
    /// Nodes whose steps run side by side (`max_unavailable`).
    batches: Vec<Batch>,
}

/// Plans the rollout, or refuses with every rule that forbids it.
pub fn plan(req: &PlanRequest) -> Result<Plan, Refusal> {
    let cluster = req.cluster;
    let ctx = req.context;
    let mut findings: Vec<Finding> = Vec::new();

    // Facts first: without a version for every node nothing can be judged.
    for (g, n) in cluster.nodes() {
        if ctx.skipped_nodes.contains(&n.name) {
            continue;
        }
        let o = req.observed.get(&n.name);
        if !o.reachable {
            findings.push(Finding {
                rule: None,
                message: format!(
                    "{} (group {}) is unreachable: {}",
                    n.name,
                    g.name,
                    o.error.as_deref().map(|e| e.strip_prefix(&format!("{}: ", n.name)).unwrap_or(e)).unwrap_or("no answer")
                ),
                advice: format!(
                    "fix the connection to {} (try `{}`), then plan again; rollpilot does not plan around a node it cannot see",
                    n.name,
                    ssh_hint(cluster, n)
                ),
            });
        } else if o.role == Role::Unknown && g.gtype == GroupType::Server && cluster.profile != Profile::AnyOrder {
            findings.push(Finding {
                rule: Some(Rule::SafeToStop),
                message: format!(
                    "the role of {} (group {}) cannot be read{}: rollpilot cannot tell whether stopping it is safe",
                    n.name,
                    g.name,
                    o.error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
                ),
                advice: format!(
                    "run the status command of kind `{}` on {} by hand and fix it or its role parser, then plan again",
                    g.kind, n.name
                ),
            });
        } else if o.version.is_none() && o.role != Role::Stopped {
            findings.push(Finding {
                rule: None,
                message: format!(
                    "the version of {} cannot be read: {}",
                    n.name,
                    o.error.as_deref().unwrap_or("the version probe printed no version")
                ),
                advice: format!(
                    "run the kind's version command on {} by hand and fix the command or its parser in the config",
                    n.name
                ),
            });
        }
    }
    if !findings.is_empty() {
        return Err(Refusal { cluster: cluster.name.clone(), findings });
    }

    let tgt = |g: &Group| g.target.clone().unwrap_or_else(|| req.target.clone());
    let mut older = 0;
    let mut newer: Vec<(String, Version, Version)> = Vec::new();
    let mut from_versions: BTreeSet<Version> = BTreeSet::new();
    for (g, n) in cluster.nodes() {
        if ctx.skipped_nodes.contains(&n.name) {
            continue;
        }
        if let Some(v) = req.observed.get(&n.name).version {
            // Components with a version line of their own are not "the cluster's" versions.
            if g.target.is_none() {
                from_versions.insert(v.clone());
            }
            match v.cmp_precedence(&tgt(g)) {
                Ordering::Less => older += 1,
                Ordering::Greater => newer.push((n.name.clone(), v, tgt(g))),
                Ordering::Equal => {}
            }
        }
    }
    let direction = if older > 0 {
        Direction::Upgrade
    } else if !newer.is_empty() {
        if !ctx.downgrade_intended {
            return Err(Refusal {
                cluster: cluster.name.clone(),
                findings: vec![Finding {
                    rule: Some(Rule::NewerNode),
                    message: format!(
                        "every node that differs from the target runs a newer version ({}); rollpilot never downgrades without being asked",
                        newer.iter().map(|(n, v, t)| format!("{n} runs {v} > {t}")).collect::<Vec<_>>().join(", ")
                    ),
                    advice: format!(
                        "to roll the cluster back, ask for it explicitly: `rollpilot upgrade --to {}`; otherwise set cluster.target to the version you want",
                        req.target
                    ),
                }],
            });
        }
        Direction::Downgrade
    } else {
        Direction::Nothing
    };

    // R14: a downgrade past a kind's point of no return is refused, whatever the versions say.
    if direction == Direction::Downgrade {
        findings.extend(no_return_refusals(req));
    }
    // R15: a takeover never goes from a newer member to an older one, when the kind says so.
    findings.extend(super::takeover::refusals(req, direction == Direction::Downgrade));

    // R1: every node that will run alongside the target must be compatible with it. An offline
    // component never runs mixed (all of it is upgraded inside one offline window, R9).
    for (g, n) in cluster.nodes() {
        if ctx.skipped_nodes.contains(&n.name) || (g.gtype == GroupType::Component && g.offline) {
            continue;
        }
        let Some(v) = req.observed.get(&n.name).version else { continue };
        let t = tgt(g);
        if !cluster.compat.compatible(&v, &t) {
            findings.push(Finding {
                rule: Some(Rule::VersionCompat),
                message: format!(
                    "{} runs {v} and the target is {t}: compat = \"{}\" refuses {v} → {t} (only {} may run side by side), so these versions cannot be mixed during a rolling upgrade{}; compat = \"{}\" would allow it if the product supports it",
                    n.name,
                    cluster.compat.as_str(),
                    cluster.compat.describe(),
                    if cluster.compat == CompatRule::SameMinor {
                        " (the Terracotta upgrade guide: no rolling upgrade across minor versions, e.g. 4.1.x to 4.2.0)"
                    } else {
                        ""
                    },
                    CompatRule::weakest_needed(&v, &t).as_str()
                ),
                advice: "a full-downtime upgrade is needed: stop the whole cluster, upgrade every node, start it again (rollpilot does not drive that); or choose a target compatible with the running versions".into(),
            });
        }
    }

    // R3: a non-persistent server group without a mirror loses everything on restart.
    if cluster.profile != Profile::AnyOrder {
        for g in cluster.groups.iter().filter(|g| g.gtype == GroupType::Server && g.nodes.len() == 1) {
            let n = &g.nodes[0];
            let w = work_of(req, g, n, direction);
            if !g.persistent
                && w != Work::Nothing
                && w != Work::LeaveNewer
                && !ctx.accept_data_loss
                && !ctx.skipped_nodes.contains(&n.name)
            {
                findings.push(Finding {
                    rule: Some(Rule::NoMirrorDataLoss),
                    message: format!(
                        "server group {} has no mirror and is not persistent: restarting {} to upgrade it loses all of its data (the Terracotta upgrade guide: \"servers cannot be upgraded without losing all the data\")",
                        g.name, n.name
                    ),
                    advice: format!(
                        "add a mirror to {} and let it reach sync, or make the group persistent; to go ahead and lose the data, confirm by typing the cluster name (headless: --accept-data-loss={})",
                        g.name, cluster.name
                    ),
                });
            }
        }
    }
    if !findings.is_empty() {
        return Err(Refusal { cluster: cluster.name.clone(), findings });
    }

    let mut b = Builder {
        req,
        cluster,
        direction,
        phases: Vec::new(),
        notes: Vec::new(),
        typed: Vec::new(),
        exp: cluster.nodes().map(|(_, n)| (n.name.clone(), req.observed.get(&n.name).role)).collect(),
        batches: Vec::new(),
    };

    for (n, v, t) in &newer {
        if direction == Direction::Upgrade {
            b.notes.push(Note {
                rule: Some(Rule::NewerNode),
                level: Level::Warning,
                text: format!("{n} already runs {v}, newer than the target {t}: it is left as it is and not touched (to bring it down, run an explicit rolling downgrade with --to {t})"),
            });
        }
    }
    if direction == Direction::Downgrade {
        let from: Vec<String> = from_versions.iter().map(|v| v.to_string()).collect();
        b.notes.push(Note {
            rule: Some(Rule::NewerNode),
            level: Level::Warning,
            text: format!(
                "this is a rolling DOWNGRADE from {} to {}: every node is moved down, one at a time, by the same rules",
                from.join(", "),
                req.target
            ),
        });
    }
    for (g, n) in cluster.nodes() {
        let o = req.observed.get(&n.name);
        if o.version.is_none() && o.role == Role::Stopped && !ctx.skipped_nodes.contains(&n.name) {
            b.notes.push(Note {
                rule: Some(Rule::Verify),
                level: Level::Warning,
                text: format!("{} (group {}) is stopped and its version cannot be read while it is down; the plan reinstalls {} and starts it", n.name, g.name, tgt(g)),
            });
        }
        if ctx.skipped_nodes.contains(&n.name) {
            b.notes.push(Note {
                rule: Some(Rule::DoNoHarm),
                level: Level::Warning,
                text: format!("{} was skipped by the operator and is not touched", n.name),
            });
        }
    }

    let mut order: Vec<&Group> = cluster.groups.iter().collect();
    let rank = |g: &Group| match g.gtype {
        GroupType::Server => 0,
        GroupType::Peer => 1,
        GroupType::Component => 2,
        GroupType::Client => 3,
        GroupType::Orchestrator => 4,
    };
    order.sort_by_key(|g| rank(g));
    for g in order {
        match (g.gtype, cluster.profile) {
            (GroupType::Server, Profile::AnyOrder) | (GroupType::Peer, _) => match batches::width(g) {
                Some(w) => b.peer_group_batched(g, w),
                None => b.peer_group(g),
            },
            (GroupType::Server, _) => b.server_group(g)?,
            (GroupType::Client, _) => b.client_group(g),
            (GroupType::Orchestrator, _) => b.orchestrator_group(g),
            (GroupType::Component, _) => b.component_group(g),
        }
    }

    b.run_level_steps();
    let point_of_no_return = b.mark_no_return();
    let lanes = b.note_lanes();

    let changing = b.phases.iter().flat_map(|p| p.steps.iter()).filter(|s| matches!(s.action, Action::Install)).count();
    if changing > 1 || (changing == 1 && from_versions.len() > 1) {
        let vs: Vec<String> = from_versions
            .iter()
            .chain(std::iter::once(&req.target))
            .map(|v| v.to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let text = if cluster.profile == Profile::AnyOrder {
            format!(
                "while the rollout runs, nodes run mixed versions ({}); this profile supports that (StreamBase upgrade notes), but the rollout should still be finished",
                vs.join(" and ")
            )
        } else {
            format!(
                "from the first install to the last, the cluster runs mixed versions ({}); a partly upgraded cluster is only a temporary state, so finish the rollout",
                vs.join(" and ")
            )
        };
        b.notes.push(Note { rule: Some(Rule::MixedVersion), level: Level::Info, text });
    }

    let nodes = cluster
        .nodes()
        .map(|(g, n)| {
            let o = req.observed.get(&n.name);
            let disposition = if ctx.skipped_nodes.contains(&n.name) {
                "skipped"
            } else {
                match work_of(req, g, n, direction) {
                    Work::Nothing => "at-target",
                    Work::StartOnly => "start",
                    Work::LeaveNewer => "newer-left-alone",
                    Work::Full if direction == Direction::Downgrade => "downgrade",
                    Work::Full => "upgrade",
                }
            };
            NodePlan {
                node: n.name.clone(),
                group: g.name.clone(),
                from: o.version,
                to: tgt(g),
                disposition: disposition.into(),
            }
        })
        .collect();

    // A rolling downgrade is deliberate and typed (R10: newer nodes are never touched silently);
    // the read-only preflight checks run before that question, the first change after it.
    if direction == Direction::Downgrade
        && let Some(first) =
            b.phases.iter_mut().flat_map(|p| p.steps.iter_mut()).find(|s| s.action != Action::Preflight)
    {
        first.confirm = Confirm::Typed;
        b.typed.insert(
            0,
            TypedConfirmation {
                rule: Some(Rule::NewerNode),
                reason: format!("a rolling DOWNGRADE of every node to {}", req.target),
                step: first.id.clone(),
            },
        );
    }

    Ok(Plan {
        format: PLAN_FORMAT,
        rollpilot: env!("CARGO_PKG_VERSION").to_string(),
        cluster: cluster.name.clone(),
        profile: cluster.profile,
        target: req.target.clone(),
        direction: if b.phases.iter().all(|p| p.steps.is_empty()) { Direction::Nothing } else { direction },
        from_versions: from_versions.into_iter().collect(),
        nodes,
        phases: b.phases.into_iter().filter(|p| !p.steps.is_empty()).collect(),
        notes: b.notes,
        typed_confirmations: b.typed,
        point_of_no_return,
        batches: b.batches,
        lanes,
    })
}

/// The highest series a node of kind `kname` reports the cluster finalized at (`parse.finalized`).
fn reported_finalized(req: &PlanRequest, kname: &str) -> Option<Version> {
    req.cluster
        .groups
        .iter()
        .filter(|g| g.kind == kname)
        .flat_map(|g| g.nodes.iter())
        .filter_map(|n| req.observed.get(&n.name).finalized)
        .max()
}

/// Whether `finalized` commits the cluster to a series above `version`'s (major.minor): patch
/// releases of one series stay interchangeable.
fn series_above(finalized: &Version, version: &Version) -> bool {
    (finalized.major, finalized.minor) > (version.major, version.minor)
}

/// R14 findings for a rolling downgrade: a kind finalized in this run (or reported finalized),
/// or a kind whose point of no return is "all-upgraded" and whose nodes all run one version
/// above the target.
fn no_return_refusals(req: &PlanRequest) -> Vec<Finding> {
    let cluster = req.cluster;
    let mut out = Vec::new();
    for (kname, k) in &cluster.kinds {
        let groups: Vec<&Group> = cluster.groups.iter().filter(|g| &g.kind == kname).collect();
        if groups.is_empty() {
            continue;
        }
        match k.point_of_no_return {
            Some(NoReturn::Finalize) => {
                if let Some(f) = reported_finalized(req, kname)
                    && series_above(&f, &req.target)
                {
                    out.push(Finding {
                        rule: Some(Rule::NoReturn),
                        message: format!(
                            "kind {kname} reports the cluster finalized at {}.{} (parse.finalized): its point of no return (point_of_no_return = \"finalize\") is behind it, so a rolling downgrade to {} is no longer possible",
                            f.major, f.minor, req.target
                        ),
                        advice: "restore from a backup taken before the upgrade, or stay on the finalized series; rollpilot does not roll back past a point of no return".into(),
                    });
                } else if let Some(v) = req.context.finalized.get(kname) {
                    out.push(Finding {
                        rule: Some(Rule::NoReturn),
                        message: format!(
                            "kind {kname} was finalized at {v}: its point of no return (point_of_no_return = \"finalize\") is behind it, so a rolling downgrade to {} is no longer possible",
                            req.target
                        ),
                        advice: "restore from a backup taken before the upgrade, or stay on the finalized version; rollpilot does not roll back past a point of no return".into(),
                    });
                }
            }
            Some(NoReturn::AllUpgraded) => {
                let versions: BTreeSet<Version> = groups
                    .iter()
                    .flat_map(|g| g.nodes.iter())
                    .filter(|n| !req.context.skipped_nodes.contains(&n.name))
                    .filter_map(|n| req.observed.get(&n.name).version)
                    .collect();
                if versions.len() == 1
                    && let Some(v) = versions.first()
                    && v.cmp_precedence(&req.target) == Ordering::Greater
                {
                    out.push(Finding {
                        rule: Some(Rule::NoReturn),
                        message: format!(
                            "every node of kind {kname} runs {v}: its point of no return (point_of_no_return = \"all-upgraded\") was crossed when the last node was upgraded, so a rolling downgrade to {} is not possible",
                            req.target
                        ),
                        advice: "restore from a backup taken before the upgrade, or stay on the running version; rollpilot does not roll back past a point of no return".into(),
                    });
                }
            }
            None => {}
        }
    }
    out
}

fn work_of(req: &PlanRequest, g: &Group, n: &Node, direction: Direction) -> Work {
    let o = req.observed.get(&n.name);
    let t = g.target.clone().unwrap_or_else(|| req.target.clone());
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

impl Builder<'_> {
    fn kind(&self, g: &Group) -> Option<&Kind> {
        self.cluster.kind_of(g)
    }

    fn target(&self, g: &Group) -> Version {
        g.target.clone().unwrap_or_else(|| self.req.target.clone())
    }

    fn work(&self, g: &Group, n: &Node) -> Work {
        if self.req.context.skipped_nodes.contains(&n.name) {
            return Work::Nothing;
        }
        work_of(self.req, g, n, self.direction)
    }

    fn verb(&self) -> &'static str {
        if self.direction == Direction::Downgrade { "downgrade" } else { "upgrade" }
    }

    /// Whether the kind can observe a stop (a role parser or a health probe).
    fn observes_stop(&self, g: &Group) -> bool {
        self.kind(g).is_some_and(|k| k.parse.role.is_some() || k.commands.health.is_some())
    }

    /// Renders the command of `action` for `node`, with `version` and `peer` filled in.
    fn command(
        &self,
        g: &Group,
        n: &Node,
        action: Action,
        version: Option<&Version>,
        peer: Option<&str>,
    ) -> Option<String> {
        let k = self.kind(g)?;
        let t = match action.template_key() {
            "stop" => k.commands.stop.as_ref(),
            "start" => k.commands.start.as_ref(),
            "cleanup" => k.commands.cleanup.as_ref(),
            "install" => k.commands.install.as_ref(),
            "switchover" => k.commands.switchover.as_ref(),
            "failback" => k.commands.failback.as_ref(),
            "offline" => k.commands.offline.as_ref(),
            "online" => k.commands.online.as_ref(),
            "rollback" => k.commands.rollback.as_ref().or(k.commands.install.as_ref()),
            "preflight" => k.commands.preflight.as_ref(),
            "before" => k.commands.before.as_ref(),
            "restore" => k.commands.restore.as_ref(),
            "drain" => k.commands.drain.as_ref(),
            "undrain" => k.commands.undrain.as_ref(),
            "cluster_health" => k.commands.cluster_health.as_ref(),
            "finalize" => k.commands.finalize.as_ref(),
            _ => None,
        }?;
        let mut vars = self.cluster.vars_for(g, n);
        let o = self.req.observed.get(&n.name);
        vars.insert("version".into(), version.cloned().unwrap_or_else(|| self.target(g)).to_string());
        vars.insert("from_version".into(), o.version.map(|v| v.to_string()).unwrap_or_default());
        vars.insert("peer".into(), peer.unwrap_or_default().to_string());
        let rendered = t.render(&vars).ok()?;
        Some(if k.sudo { format!("sudo -n sh -c {}", shell_quote(&rendered)) } else { rendered })
    }

    fn assumes(&self, nodes: &[&str]) -> Vec<Assumption> {
        nodes
            .iter()
            .filter_map(|n| self.exp.get(*n).map(|r| Assumption { node: n.to_string(), role: *r }))
            .filter(|a| a.role != Role::Unknown)
            .collect()
    }

    /// A start of a node that already has the target installed, checked afterwards by its
    /// rejoin and by the version it runs (R6): one shape for every "start it again" step.
    fn verified_start(
        &self,
        g: &Group,
        n: &Node,
        reason: &str,
        rules: &[Rule],
        summary: String,
        confirm: Confirm,
    ) -> Option<Step> {
        let mut s = self.step(g, n, Action::Start, None, reason, rules, summary, confirm)?;
        s.after = vec![
            Gate::Rejoined { node: n.name.clone() },
            Gate::VersionIs { node: n.name.clone(), version: self.target(g) },
        ];
        Some(s)
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        g: &Group,
        n: &Node,
        action: Action,
        peer: Option<&str>,
        reason: &str,
        rules: &[Rule],
        summary: String,
        confirm: Confirm,
    ) -> Option<Step> {
        let version = matches!(action, Action::Install).then(|| self.target(g));
        let command = self.command(g, n, action, version.as_ref(), peer);
        if command.is_none() && !matches!(action, Action::Install) {
            return None;
        }
        let from = self.req.observed.get(&n.name).version;
        // A rollback returns the node to what it ran when the run first saw it, not to what it
        // reports now (after an install it already reports the new version).
        let rollback_to = self.req.context.original_versions.get(&n.name).cloned().or_else(|| from.clone());
        let rollback = match action {
            Action::Stop | Action::FailbackStop => {
                format!("start {} again on the version it runs; nothing has been changed yet", n.name)
            }
            Action::Cleanup => "none: the deleted data cannot be restored".to_string(),
            Action::Install | Action::Start => format!(
                "reinstall {} on {} (rollback) and start it",
                rollback_to.as_ref().map(|v| v.to_string()).unwrap_or_else(|| "the previous version".into()),
                n.name
            ),
            Action::Switchover => format!("move the active role back to {}", n.name),
            Action::Failback | Action::FailbackStart => {
                "leave the roles as they are; the cluster is fully upgraded".to_string()
            }
            Action::Offline => "bring the service back online without the new component".to_string(),
            Action::Online => "none needed: this step ends the offline window".to_string(),
            Action::Rollback => "none".to_string(),
            Action::Preflight => "none needed: a preflight check changes nothing".to_string(),
            Action::Before => format!("run the kind's restore on {} (it undoes this step)", n.name),
            Action::Restore => format!("run the restore command on {} again by hand", n.name),
            Action::Drain => format!("undrain {} (put it back into service); nothing else has changed", n.name),
            Action::Undrain => format!("undrain {} again by hand; it runs the new version", n.name),
            Action::Health => "investigate the cluster; every node already runs the target".to_string(),
            Action::Finalize => PAST_NO_RETURN.to_string(),
        };
        Some(Step {
            id: format!("{}/{}/{}", g.name, n.name, action.as_str()),
            action,
            node: n.name.clone(),
            group: g.name.clone(),
            command,
            version,
            from_version: from,
            before: Vec::new(),
            after: Vec::new(),
            reason: reason.to_string(),
            rules: rules.to_vec(),
            summary,
            downtime: false,
            irreversible: matches!(action, Action::Cleanup),
            data_loss: false,
            confirm: if matches!(action, Action::Cleanup) { Confirm::Yes } else { confirm },
            rollback,
            assumes: Vec::new(),
            workdir: self.kind(g).map(|k| k.workdir.clone()).unwrap_or_else(|| "/".into()),
        })
    }

    #[allow(clippy::too_many_arguments)]
    /// The node's sequence after it stopped: optional cleanup, install, start, with R6 gates last.
    fn reinstall_sequence(
        &mut self,
        g: &Group,
        n: &Node,
        reason: &str,
        rejoin: Gate,
        mut first_confirm: Confirm,
        steps: &mut Vec<Step>,
        include_cleanup: bool,
    ) {
        let t = self.target(g);
        let from = self.req.observed.get(&n.name).version.map(|v| v.to_string()).unwrap_or_else(|| "unknown".into());
        if include_cleanup
            && let Some(s) = self.step(
                g,
                n,
                Action::Cleanup,
                None,
                reason,
                &[Rule::Order],
                format!(
                    "Deleting the old data backups of {} (dirty-objectdb): this cannot be undone (Terracotta upgrade procedure, step 2.1c)",
                    n.name
                ),
                Confirm::Yes,
            )
        {
            steps.push(s);
        }
        if let Some(mut s) = self.step(
            g,
            n,
            Action::Install,
            None,
            reason,
            &[Rule::Order, Rule::Verify],
            format!("Installing {t} on {} (removes {from}, unpacks {t})", n.name),
            first_confirm,
        ) {
            s.assumes = self.assumes(&[&n.name]);
            first_confirm = Confirm::None;
            steps.push(s);
        }
        let has_start = self.kind(g).is_some_and(|k| k.commands.start.is_some());
        if has_start
            && let Some(mut s) = self.step(
                g,
                n,
                Action::Start,
                None,
                reason,
                &[Rule::Verify],
                format!("Starting {} on {t} and waiting until it has rejoined and synced", n.name),
                first_confirm,
            )
        {
            s.after = vec![rejoin, Gate::VersionIs { node: n.name.clone(), version: t.clone() }];
            steps.push(s);
        } else if let Some(last) = steps.last_mut() {
            last.after.push(rejoin);
            last.after.push(Gate::VersionIs { node: n.name.clone(), version: t.clone() });
        }
    }

    fn server_group(&mut self, g: &Group) -> Result<(), Refusal> {
        let terracotta = self.cluster.profile == Profile::Terracotta;
        let (mirror, stripe) = if terracotta { ("mirror", "stripe") } else { ("passive", "group") };
        let region = g.region.as_ref().map(|r| format!(" ({r})")).unwrap_or_default();
        let Some(kind) = self.kind(g).cloned() else { return Ok(()) };
        let obs: Vec<(&Node, NodeObs, Work)> =
            g.nodes.iter().map(|n| (n, self.req.observed.get(&n.name), self.work(g, n))).collect();
        if obs.iter().all(|(n, _, w)| {
            *w == Work::Nothing || *w == Work::LeaveNewer || self.req.context.skipped_nodes.contains(&n.name)
        }) && self.failback_target(g).is_none()
        {
            return Ok(());
        }
        let actives: Vec<&Node> = obs.iter().filter(|(_, o, _)| o.role == Role::Active).map(|(n, _, _)| *n).collect();
        if g.nodes.len() > 1 {
            if actives.len() > 1 {
                return Err(Refusal {
                    cluster: self.cluster.name.clone(),
                    findings: vec![Finding {
                        rule: Some(Rule::SafeToStop),
                        message: format!("{stripe} {} has {} active members ({}): a split brain", g.name, actives.len(), actives.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", ")),
                        advice: "resolve the split brain first (keep the member with the newest data active, restart the other); rollpilot will not stop an active it cannot tell apart".into(),
                    }],
                });
            }
            if actives.is_empty() && self.req.context.offline_services.contains(&g.name) {
                // Taken offline by this run for a component (R9); it comes back with `online`.
                return Ok(());
            }
            if actives.is_empty() {
                return Err(Refusal {
                    cluster: self.cluster.name.clone(),
                    findings: vec![Finding {
                        rule: Some(Rule::SafeToStop),
                        message: format!(
                            "{stripe} {} has no active member ({})",
                            g.name,
                            obs.iter().map(|(n, o, _)| super::gates::brief(&n.name, o)).collect::<Vec<_>>().join("; ")
                        ),
                        advice: format!(
                            "bring the {stripe} back to one active before upgrading it (start its servers, or wait for the failover to finish), then plan again"
                        ),
                    }],
                });
            }
        }
        let mut steps: Vec<Step> = Vec::new();
        let cleanup = kind.commands.cleanup.is_some();
        let verb = self.verb();

        // A group without a mirror: downtime (R2), possibly data loss (R3, already accepted if here).
        if g.nodes.len() == 1 {
            let (n, o, w) = (obs[0].0, &obs[0].1, obs[0].2);
            if w == Work::Nothing || w == Work::LeaveNewer {
                return Ok(());
            }
            let data_loss = !g.persistent;
            let reason = format!(
                "R2 no-mirror-downtime: {stripe} {} has no {mirror}, so its service is down while {} is {verb}d (Terracotta upgrade guide)",
                g.name, n.name
            );
            let mut first = true;
            if o.role != Role::Stopped
                && let Some(mut s) = self.step(
                    g,
                    n,
                    Action::Stop,
                    None,
                    &reason,
                    &[Rule::NoMirrorDowntime],
                    format!(
                        "Stopping {} ({}), the only server of {}: the service is DOWN until it restarts{}",
                        n.name,
                        o.state.clone().unwrap_or_else(|| o.role.to_string().to_uppercase()),
                        g.name,
                        if data_loss { ", and ALL ITS DATA IS LOST (not persistent)" } else { "" }
                    ),
                    Confirm::Typed,
                )
            {
                s.downtime = true;
                s.data_loss = data_loss;
                s.assumes = self.assumes(&[&n.name]);
                if data_loss {
                    s.rules.push(Rule::NoMirrorDataLoss);
                }
                if self.observes_stop(g) {
                    s.after.push(Gate::Stopped { node: n.name.clone() });
                }
                self.typed.push(TypedConfirmation {
                    rule: Some(if data_loss { Rule::NoMirrorDataLoss } else { Rule::NoMirrorDowntime }),
                    reason: if data_loss {
                        format!("{} has no mirror and is not persistent: its data is lost when it restarts", g.name)
                    } else {
                        format!("{} has no mirror: its service is down while {} restarts", g.name, n.name)
                    },
                    step: s.id.clone(),
                });
                self.notes.push(Note {
                    rule: Some(if data_loss { Rule::NoMirrorDataLoss } else { Rule::NoMirrorDowntime }),
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
            let rejoin = Gate::Rejoined { node: n.name.clone() };
            let start = steps.len();
            if w == Work::Full {
                self.reinstall_sequence(
                    g,
                    n,
                    &reason,
                    rejoin,
                    if first { Confirm::Typed } else { Confirm::None },
                    &mut steps,
                    cleanup,
                );
            } else if let Some(mut s) = self.step(
                g,
                n,
                Action::Start,
                None,
                &reason,
                &[Rule::Verify],
                format!("Starting {}", n.name),
                Confirm::Yes,
            ) {
                s.after = vec![rejoin, Gate::VersionIs { node: n.name.clone(), version: self.target(g) }];
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
            return Ok(());
        }

        let active = actives[0];
        let original = self.req.context.original_active.get(&g.name).cloned().unwrap_or_else(|| active.name.clone());
        let step_word = if terracotta { " (Terracotta upgrade procedure, step 2.1)" } else { "" };
        let passive_reason = format!(
            "R4 order: {mirror}s of {stripe} {} before its active, so the active keeps serving{step_word}",
            g.name
        );

        // A failback is under way when its first half (stopping the current active) is done and
        // its second half (restarting that node as the mirror) is not.
        let failback_in_progress =
            self.req.context.failback_started.contains(&g.name) && !self.req.context.failback_done.contains(&g.name);

        // Passives (stopped ones first: they are down already, finish them before touching more).
        let mut passives: Vec<&(&Node, NodeObs, Work)> = obs
            .iter()
            .filter(|(n, o, w)| {
                n.name != active.name && matches!(w, Work::Full | Work::StartOnly) && o.role != Role::Active
            })
            .collect();
        passives.sort_by_key(|(_, o, _)| if o.role == Role::Stopped { 0 } else { 1 });
        for (n, o, w) in passives {
            let others: Vec<&str> = g.nodes.iter().map(|x| x.name.as_str()).collect();
            if o.role != Role::Stopped {
                let Some(mut s) = self.step(
                    g,
                    n,
                    Action::Stop,
                    None,
                    &passive_reason,
                    &[Rule::Order],
                    format!(
                        "Stopping {} ({}, {mirror} of {}). {} stays active and keeps serving.",
                        n.name,
                        o.state.clone().unwrap_or_else(|| "PASSIVE".into()),
                        g.name,
                        active.name
                    ),
                    Confirm::Yes,
                ) else {
                    // No stop command (Exchange): the install runs on the running passive.
                    self.reinstall_sequence(
                        g,
                        n,
                        &passive_reason,
                        Gate::Rejoined { node: n.name.clone() },
                        Confirm::Yes,
                        &mut steps,
                        false,
                    );
                    if let Some(first) =
                        steps.iter_mut().rev().find(|s| s.node == n.name && s.action == Action::Install)
                    {
                        first.before.push(Gate::PeersReady { group: g.name.clone(), node: n.name.clone() });
                        first.assumes = self.assumes(&others);
                    }
                    continue;
                };
                s.before.push(Gate::PeersReady { group: g.name.clone(), node: n.name.clone() });
                s.assumes = self.assumes(&others);
                if self.observes_stop(g) {
                    s.after.push(Gate::Stopped { node: n.name.clone() });
                }
                steps.push(s);
                self.exp.insert(n.name.clone(), Role::Stopped);
                self.reinstall_sequence(
                    g,
                    n,
                    &passive_reason,
                    Gate::Rejoined { node: n.name.clone() },
                    Confirm::None,
                    &mut steps,
                    cleanup,
                );
            } else if *w == Work::Full {
                self.reinstall_sequence(
                    g,
                    n,
                    &passive_reason,
                    Gate::Rejoined { node: n.name.clone() },
                    Confirm::Yes,
                    &mut steps,
                    cleanup,
                );
            } else if failback_in_progress {
                // Stopped for the failback (the original active took over again): restart it as
                // the mirror, the second half of the failback (R8).
                if let Some(mut s) = self.step(
                    g,
                    n,
                    Action::FailbackStart,
                    None,
                    &format!("R8 failback: {} is active again; {} restarts as its {mirror}", active.name, n.name),
                    &[Rule::Failback, Rule::Verify],
                    format!("Failback: restarting {} as the {mirror} and waiting for it to sync", n.name),
                    Confirm::None,
                ) {
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

        // The active: hand over (switchover or failover by stopping), then reinstall it.
        let a_obs = self.req.observed.get(&active.name);
        let a_work = self.work(g, active);
        let (candidates, successor, why) = self.choose_peer(g, active);
        let successor = successor.as_str();
        let successor_text = if kind.peer_auto {
            format!(
                "the {mirror} the cluster manager picks (peer = \"auto\"; candidates: {})",
                if candidates.is_empty() { "none".to_string() } else { candidates.join(", ") }
            )
        } else if candidates.len() == 1 && !why.contains("eligible") && !why.contains("R5 waits") {
            // The only member that could take over: nothing to explain.
            format!("{successor}, which becomes the active server")
        } else if candidates.len() == 1 {
            format!("{successor}, which becomes the active server ({why})")
        } else if candidates.is_empty() {
            format!("no {mirror} ({why})")
        } else {
            format!("{successor}, which becomes the active server ({why}; candidates: {})", candidates.join(", "))
        };
        let named_peer = if kind.peer_auto { None } else { Some(successor) };
        let mut new_active = active.name.clone();
        if a_work == Work::Full {
            let reason = format!(
                "R4 order: the active of {stripe} {} goes last, after its {mirror}s are {verb}d and in sync; R5 safe-to-stop guards the handover{}",
                g.name,
                if terracotta { " (Terracotta upgrade procedure, step 2.2)" } else { "" }
            );
            let state = a_obs.state.clone().unwrap_or_else(|| "ACTIVE".into());
            if kind.commands.switchover.is_some() {
                if let Some(mut s) = self.step(
                    g,
                    active,
                    Action::Switchover,
                    named_peer,
                    &reason,
                    &[Rule::Order, Rule::SafeToStop],
                    format!("Moving the active role from {} ({state}) to {successor_text}; {} becomes passive so it can be {verb}d.", active.name, active.name),
                    Confirm::Yes,
                ) {
                    self.guard_handover(&mut s, g, active);
                    steps.push(s);
                }
                new_active = self.expect_handover(active, Role::Passive, successor, candidates.len());
                if let Some(mut s) = self.step(
                    g,
                    active,
                    Action::Stop,
                    None,
                    &reason,
                    &[Rule::Order],
                    format!("Stopping {} (now passive) to {verb} it", active.name),
                    Confirm::None,
                ) {
                    s.before.push(Gate::PeersReady { group: g.name.clone(), node: active.name.clone() });
                    if self.observes_stop(g) {
                        s.after.push(Gate::Stopped { node: active.name.clone() });
                    }
                    steps.push(s);
                    self.exp.insert(active.name.clone(), Role::Stopped);
                }
                self.reinstall_sequence(
                    g,
                    active,
                    &reason,
                    Gate::Rejoined { node: active.name.clone() },
                    Confirm::None,
                    &mut steps,
                    cleanup,
                );
            } else if let Some(mut s) = self.step(
                g,
                active,
                Action::Stop,
                None,
                &reason,
                &[Rule::Order, Rule::SafeToStop],
                format!("Stopping {} ({state}). The cluster fails over to {successor_text}.", active.name),
                Confirm::Yes,
            ) {
                self.guard_handover(&mut s, g, active);
                steps.push(s);
                new_active = self.expect_handover(active, Role::Stopped, successor, candidates.len());
                self.reinstall_sequence(
                    g,
                    active,
                    &reason,
                    Gate::Rejoined { node: active.name.clone() },
                    Confirm::None,
                    &mut steps,
                    cleanup,
                );
                if let Some(s) = steps.iter_mut().rev().find(|s| s.node == active.name && s.action == Action::Start) {
                    s.summary = format!(
                        "Starting {} on {}: the formerly active server now becomes the {mirror}",
                        active.name,
                        self.target(g)
                    );
                }
            }
            self.exp.insert(active.name.clone(), Role::Passive);
        }

        // R8 failback: return the active role to the original active.
        let current_active = if a_work == Work::Full { new_active.clone() } else { active.name.clone() };
        let pol = self.cluster.failback;
        let ctx = self.req.context;
        let wants = pol != FailbackPolicy::Never
            && !ctx.failback_declined.contains(&g.name)
            && !ctx.failback_done.contains(&g.name);
        let orig_node = g.nodes.iter().find(|n| n.name == original);
        if wants
            && current_active != original
            && !current_active.is_empty()
            && let Some(orig) = orig_node
            && !ctx.skipped_nodes.contains(&orig.name)
            // Skipping a failback (or the node it would run on) leaves that node as it is.
            && !ctx.skipped_nodes.contains(&current_active)
        {
            let confirm = if pol == FailbackPolicy::Ask { Confirm::Optional } else { Confirm::Yes };
            let reason = format!(
                "R8 failback ({}): optional, moves the active role back to {} and proves failover works on the new version{}",
                match pol {
                    FailbackPolicy::Ask => "policy ask",
                    FailbackPolicy::Always => "policy always",
                    FailbackPolicy::Never => "policy never",
                },
                orig.name,
                if terracotta {
                    " (Terracotta upgrade procedure, step 2.2d)"
                } else {
                    " (Exchange cluster procedure, step 3)"
                }
            );
            let cur = g.nodes.iter().find(|n| n.name == current_active);
            if kind.commands.failback.is_some() {
                if let Some(mut s) = self.step(
                    g,
                    orig,
                    Action::Failback,
                    Some(&current_active),
                    &reason,
                    &[Rule::Failback],
                    format!("Failback: moving the active role from {current_active} back to {}", orig.name),
                    confirm,
                ) {
                    s.before.push(Gate::SafeToStop { group: g.name.clone(), node: current_active.clone() });
                    s.after.push(Gate::IsActive { node: orig.name.clone() });
                    s.assumes = self.assumes(&[current_active.as_str(), orig.name.as_str()]);
                    steps.push(s);
                }
            } else if let Some(cur) = cur {
                if kind.commands.switchover.is_some() {
                    // No failback command: the switchover command, run where the role is now.
                    if let Some(mut s) = self.step(
                        g,
                        cur,
                        Action::Switchover,
                        Some(&orig.name),
                        &reason,
                        &[Rule::Failback],
                        format!("Failback: moving the active role from {} back to {}", cur.name, orig.name),
                        confirm,
                    ) {
                        s.action = Action::Failback;
                        s.id = format!("{}/{}/failback", g.name, orig.name);
                        s.rollback = "leave the roles as they are; the cluster is fully upgraded".into();
                        s.before.push(Gate::SafeToStop { group: g.name.clone(), node: cur.name.clone() });
                        s.after.push(Gate::IsActive { node: orig.name.clone() });
                        s.assumes = self.assumes(&[cur.name.as_str(), orig.name.as_str()]);
                        steps.push(s);
                    }
                } else if let Some(mut s) = self.step(
                    g,
                    cur,
                    Action::FailbackStop,
                    None,
                    &reason,
                    &[Rule::Failback, Rule::SafeToStop],
                    format!("Failback: stopping {} (the current active). {} becomes the active server again; {} then restarts as the {mirror}.", cur.name, orig.name, cur.name),
                    confirm,
                ) {
                    s.before.push(Gate::SafeToStop { group: g.name.clone(), node: cur.name.clone() });
                    s.after.push(Gate::IsActive { node: orig.name.clone() });
                    s.assumes = self.assumes(&[cur.name.as_str(), orig.name.as_str()]);
                    steps.push(s);
                    if let Some(mut s2) = self.step(g, cur, Action::FailbackStart, None, &reason, &[Rule::Failback, Rule::Verify], format!("Failback: restarting {} as the {mirror} and waiting for it to sync", cur.name), Confirm::None) {
                        s2.after.push(Gate::Rejoined { node: cur.name.clone() });
                        steps.push(s2);
                    }
                }
            }
        }

        let title = if terracotta {
            format!("Stripe {}{region}: mirrors, then the active with failover", g.name)
        } else {
            format!("Group {}{region}: passives, then switch over and {verb} the old active", g.name)
        };
        let reason = if terracotta {
            "R4 order: every TSA stripe in every region is upgraded before clients and orchestrators (Terracotta upgrade procedure, step 2)"
                .to_string()
        } else {
            "R4 order: server groups first, passives before the active (Exchange cluster procedure, steps 1-2)"
                .to_string()
        };
        self.phases.push(Phase { title, reason, steps });
        Ok(())
    }

    /// The node that takes over from `active`: among the passives not skipped and not ruled out
    /// (`eligible = no`), the first in config order that is in sync, else the first one. Returns
    /// the candidates, the choice and why it was chosen ("redis-2: in sync, eligible
    /// (sync_standby)"), so the plan says why that one.
    fn choose_peer(&self, g: &Group, active: &Node) -> (Vec<String>, String, String) {
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
            super::takeover::split(self.req, g, active, self.direction == Direction::Downgrade, others);
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
            return (candidates, String::new(), why);
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
        (candidates, n.name.clone(), why)
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

    fn failback_target(&self, g: &Group) -> Option<String> {
        let orig = self.req.context.original_active.get(&g.name)?;
        let o = self.req.observed.get(orig);
        (o.role != Role::Active).then(|| orig.clone())
    }

    fn peer_group(&mut self, g: &Group) {
        let mut steps = Vec::new();
        let any_order = self.cluster.profile == Profile::AnyOrder;
        let verb = self.verb();
        let reason = if any_order {
            format!(
                "R4 order: any order is allowed (StreamBase upgrade notes: nodes of different versions coexist); {} one node at a time, config order",
                g.name
            )
        } else {
            format!(
                "R4 order: members of {} one at a time{}",
                g.name,
                g.quorum.map(|q| format!(", keeping a quorum of {q}")).unwrap_or_default()
            )
        };
        for n in &g.nodes {
            let w = self.work(g, n);
            if !matches!(w, Work::Full | Work::StartOnly) {
                continue;
            }
            let o = self.req.observed.get(&n.name);
            let mut confirm = Confirm::Yes;
            if o.role != Role::Stopped
                && w == Work::Full
                && let Some(mut s) = self.step(
                    g,
                    n,
                    Action::Stop,
                    None,
                    &reason,
                    &[Rule::Order],
                    format!("Stopping {} to {verb} it; the other members keep serving", n.name),
                    Confirm::Yes,
                )
            {
                s.before.push(Gate::PeersReady { group: g.name.clone(), node: n.name.clone() });
                if let Some(q) = g.quorum {
                    s.before.push(Gate::Quorum { group: g.name.clone(), node: n.name.clone(), min: q });
                }
                if self.observes_stop(g) {
                    s.after.push(Gate::Stopped { node: n.name.clone() });
                }
                steps.push(s);
                confirm = Confirm::None;
            }
            if w == Work::Full {
                let before_len = steps.len();
                self.reinstall_sequence(
                    g,
                    n,
                    &reason,
                    Gate::Rejoined { node: n.name.clone() },
                    confirm,
                    &mut steps,
                    self.kind(g).is_some_and(|k| k.commands.cleanup.is_some()),
                );
                if confirm == Confirm::Yes
                    && let Some(first) = steps.get_mut(before_len)
                {
                    first.before.push(Gate::PeersReady { group: g.name.clone(), node: n.name.clone() });
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

    fn client_group(&mut self, g: &Group) {
        let verb = self.verb();
        let todo: Vec<&Node> =
            g.nodes.iter().filter(|n| matches!(self.work(g, n), Work::Full | Work::StartOnly)).collect();
        let servers = g.servers.clone().map(|s| format!(" of {s}")).unwrap_or_default();
        let reason = format!(
            "R4 order: clients{servers} after all server groups in all regions{}",
            if self.cluster.profile == Profile::Terracotta { " (Terracotta upgrade procedure, step 2.3)" } else { "" }
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
                    && let Some(mut s) = self.step(
                        g,
                        n,
                        Action::Stop,
                        None,
                        &reason,
                        &[Rule::Order],
                        format!("Stopping client {} ({batch_text}); its application is down until it restarts", n.name),
                        confirm,
                    )
                {
                    if self.observes_stop(g) {
                        s.after.push(Gate::Stopped { node: n.name.clone() });
                    }
                    steps.push(s);
                    confirm = Confirm::None;
                }
            }
            for n in batch {
                if self.work(g, n) == Work::Full {
                    self.reinstall_sequence(
                        g,
                        n,
                        &reason,
                        Gate::Rejoined { node: n.name.clone() },
                        confirm,
                        &mut steps,
                        false,
                    );
                    confirm = Confirm::None;
                } else if let Some(mut s) = self.step(
                    g,
                    n,
                    Action::Start,
                    None,
                    &reason,
                    &[Rule::Verify],
                    format!("Starting client {}", n.name),
                    confirm,
                ) {
                    s.after = vec![
                        Gate::Rejoined { node: n.name.clone() },
                        Gate::VersionIs { node: n.name.clone(), version: self.target(g) },
                    ];
                    steps.push(s);
                    confirm = Confirm::None;
                }
            }
        }
        let _ = verb;
        self.phases.push(Phase {
            title: format!("Clients {}{servers} (batches of {})", g.name, g.batch),
            reason,
            steps,
        });
    }

    fn orchestrator_group(&mut self, g: &Group) {
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
                .filter(|n| {
                    self.req.observed.get(&n.name).role != Role::Stopped
                        && !self.req.context.skipped_nodes.contains(&n.name)
                })
                .collect()
        };
        stop_order.sort_by_key(|n| if n.declared_role == Some(DeclaredRole::Standby) { 0 } else { 1 });
        let stop_reason = if g.reconnect_resync {
            format!(
                "R4 order: orchestrators after every TSA in every region; standbys stopped before masters because they reconnect-resync{seed}"
            )
        } else {
            format!(
                "R4 order: orchestrators after every TSA in every region; all are stopped before any is upgraded{seed}"
            )
        };
        let mut stops = Vec::new();
        let mut confirm = Confirm::Yes;
        for n in &stop_order {
            let role = match n.declared_role {
                Some(DeclaredRole::Master) => "master",
                _ => "standby",
            };
            if let Some(mut s) = self.step(
                g,
                n,
                Action::Stop,
                None,
                &stop_reason,
                &[Rule::Order],
                format!("Stopping orchestrator {} ({role}). WAN replication pauses until all orchestrators restart on {t}; each region keeps serving locally.", n.name),
                confirm,
            ) {
                s.downtime = true;
                if self.observes_stop(g) {
                    s.after.push(Gate::Stopped { node: n.name.clone() });
                }
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
        let inst_reason = format!(
            "R4 order: all orchestrators must run the same version, so every one is {verb}d before any restarts{seed}"
        );
        let mut installs = Vec::new();
        for n in &todo {
            if let Some(s) = self.step(
                g,
                n,
                Action::Install,
                None,
                &inst_reason,
                &[Rule::Order],
                format!("Installing {t} on orchestrator {}", n.name),
                Confirm::None,
            ) {
                installs.push(s);
            }
        }
        if !installs.is_empty() {
            self.phases.push(Phase {
                title: format!("{} all orchestrators of {} to {t}", cap(verb), g.name),
                reason: inst_reason,
                steps: installs,
            });
        }
        let start_reason = format!(
            "R4 order: restart all orchestrators, masters first (the master region is available at once and resynchronizes the replicas){seed}"
        );
        let mut start_order: Vec<&Node> = g
            .nodes
            .iter()
            .filter(|n| {
                !self.req.context.skipped_nodes.contains(&n.name)
                    && matches!(self.work(g, n), Work::Full | Work::StartOnly)
            })
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

    fn component_group(&mut self, g: &Group) {
        let todo: Vec<&Node> = g.nodes.iter().filter(|n| self.work(g, n) == Work::Full).collect();
        let t = self.target(g);
        let service = g
            .service
            .clone()
            .or_else(|| self.cluster.groups.iter().find(|x| x.gtype == GroupType::Server).map(|x| x.name.clone()))
            .unwrap_or_default();
        // Every part upgraded but the service still offline (the run stopped before `online`):
        // the only step left is bringing it back.
        let Some(first) = todo.first().copied().or_else(|| {
            // On a member the operator did not skip: a skipped node is left as it is.
            let skipped = &self.req.context.skipped_nodes;
            let host = g.nodes.iter().find(|n| !skipped.contains(&n.name)).or(g.nodes.first());
            self.req.context.offline_services.contains(&service).then_some(host).flatten()
        }) else {
            return;
        };
        let reason = format!(
            "R9 offline-step: {} cannot be upgraded while {service} is online (Exchange cluster procedure: such components need the service offline)",
            g.name
        );
        let mut steps = Vec::new();
        let already_offline = self.req.context.offline_services.contains(&service);
        if !already_offline
            && let Some(mut s) = self.step(
            g,
            first,
            Action::Offline,
            None,
            &reason,
            &[Rule::OfflineStep],
            format!("Taking {service} OFFLINE to upgrade {} to {t}: clients cannot reach it until it is brought back online (downtime)", g.name),
            Confirm::Yes,
        ) {
            s.downtime = true;
            steps.push(s);
        }
        for n in &todo {
            let start = steps.len();
            let has_stop = self.kind(g).is_some_and(|k| k.commands.stop.is_some());
            if has_stop
                && let Some(s) = self.step(
                    g,
                    n,
                    Action::Stop,
                    None,
                    &reason,
                    &[Rule::OfflineStep],
                    format!("Stopping {} on {}", g.name, n.name),
                    Confirm::None,
                )
            {
                steps.push(s);
            }
            self.reinstall_sequence(
                g,
                n,
                &reason,
                Gate::VersionIs { node: n.name.clone(), version: t.clone() },
                Confirm::None,
                &mut steps,
                false,
            );
            for s in &mut steps[start..] {
                s.downtime = true;
                s.after.dedup();
            }
        }
        if let Some(mut s) = self.step(
            g,
            first,
            Action::Online,
            None,
            &reason,
            &[Rule::OfflineStep],
            format!("Bringing {service} back online"),
            Confirm::None,
        ) {
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

impl<'a> Builder<'a> {
    /// Kinds in use by groups that still have a node to look after, in config order.
    fn kinds_in_use(&self) -> Vec<(String, &'a Group, &'a Node)> {
        let cluster: &'a Cluster = self.cluster;
        let mut out: Vec<(String, &'a Group, &'a Node)> = Vec::new();
        for g in &cluster.groups {
            if out.iter().any(|(k, _, _)| k == &g.kind) {
                continue;
            }
            if let Some(n) = g.nodes.iter().find(|n| !self.req.context.skipped_nodes.contains(&n.name)) {
                out.push((g.kind.clone(), g, n));
            }
        }
        out
    }

    /// The run-level steps around the node phases: preflight on every host first, each kind's
    /// `before` next; drain/undrain around each node's stop and start; the cluster health
    /// check, the pending restores and finalize after the last node. Run-level steps run on
    /// the first host of the first group of their kind. Progress that leaves no trace on the
    /// hosts (a drain, a frozen setting) comes from the run's context.
    fn run_level_steps(&mut self) {
        let ctx = self.req.context;
        let node_work = self.phases.iter().any(|p| !p.steps.is_empty());
        self.drain_around_nodes();
        // Something this run did is not finished until health, restore and finalize ran.
        let touched = node_work || !ctx.installed.is_empty() || !ctx.before_done.is_empty();
        let kinds = self.kinds_in_use();
        let mut first: Vec<Step> = Vec::new();
        if node_work && !ctx.preflight_done {
            for (g, n) in self.cluster.nodes() {
                if ctx.skipped_nodes.contains(&n.name) {
                    continue;
                }
                if let Some(s) = self.step(
                    g,
                    n,
                    Action::Preflight,
                    None,
                    "R13 preflight: every host is checked before anything is touched; one failure refuses the run",
                    &[Rule::Preflight],
                    format!("Checking {} before anything is touched (kind {})", n.name, g.kind),
                    Confirm::None,
                ) {
                    first.push(s);
                }
            }
        }
        if !first.is_empty() {
            self.phases.insert(
                0,
                Phase {
                    title: "Preflight: every host, before anything is touched".into(),
                    reason: "R13 preflight: a failure on any host refuses the run with nothing changed".into(),
                    steps: std::mem::take(&mut first),
                },
            );
        }
        let pending = ctx.restore_pending();
        let mut befores = Vec::new();
        let mut after = Vec::new();
        for (kname, g, n) in &kinds {
            if node_work
                && !pending.contains(kname)
                && let Some(s) = self.step(
                    g,
                    n,
                    Action::Before,
                    None,
                    "runs once before the first node is touched; its restore is guaranteed to follow",
                    &[Rule::Order],
                    format!(
                        "Before the first node of kind {kname}: the kind's `before` command on {} (restored after the last node, after an abort, or on resume)",
                        n.name
                    ),
                    Confirm::Yes,
                )
            {
                befores.push(s);
            }
            if (node_work || (touched && !ctx.health_done.contains(kname)))
                && let Some(mut s) = self.step(
                    g,
                    n,
                    Action::Health,
                    None,
                    "the whole cluster must be healthy after the last node, before the run may end",
                    &[Rule::Verify],
                    format!("Checking the health of the whole cluster (kind {kname}) on {}", n.name),
                    Confirm::None,
                )
            {
                s.id = format!("{}/{}/cluster-health", g.name, n.name);
                after.push(s);
            }
            let before_planned = befores.iter().any(|b: &Step| b.group == g.name && b.action == Action::Before);
            if (before_planned || pending.contains(kname))
                && let Some(s) = self.step(
                    g,
                    n,
                    Action::Restore,
                    None,
                    "undoes the kind's `before` step; it runs whenever `before` ran, even after an abort",
                    &[Rule::Order],
                    format!("Restoring what `before` changed for kind {kname}, on {}", n.name),
                    Confirm::None,
                )
            {
                after.push(s);
            }
            // A cluster that reports the target's series as finalized has nothing to finalize.
            let reported = reported_finalized(self.req, kname).is_some_and(|f| !series_above(&self.target(g), &f));
            let wants_finalize = !ctx.finalized.contains_key(kname)
                && !reported
                && !ctx.downgrade_intended
                && self.direction != Direction::Downgrade
                && (ctx.finalize_requested || (touched && !ctx.finalize_deferred.contains(kname)));
            if wants_finalize
                && let Some(mut s) = self.step(
                    g,
                    n,
                    Action::Finalize,
                    None,
                    "commits the cluster to the new version; once done, no rollback or downgrade is possible",
                    &[Rule::NoReturn],
                    format!(
                        "Finalizing kind {kname} at {} on {}: after this the cluster cannot be downgraded",
                        self.target(g),
                        n.name
                    ),
                    if ctx.finalize_requested { Confirm::Typed } else { Confirm::Optional },
                )
            {
                s.irreversible = true;
                s.version = Some(self.target(g));
                s.before = self
                    .cluster
                    .groups
                    .iter()
                    .filter(|x| &x.kind == kname)
                    .map(|x| Gate::SameVersion { group: x.name.clone(), version: self.target(x) })
                    .collect();
                if s.confirm == Confirm::Typed {
                    self.typed.push(TypedConfirmation {
                        rule: Some(Rule::NoReturn),
                        reason: format!("finalize kind {kname}: the point of no return, no downgrade afterwards"),
                        step: s.id.clone(),
                    });
                }
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
                    reason: "a backup or a frozen setting first; its restore is guaranteed (end, abort, resume)".into(),
                    steps: befores,
                },
            );
        }
        if !after.is_empty() {
            self.phases.push(Phase {
                title: "After the last node".into(),
                reason: "the whole cluster is checked, what `before` changed is restored, then finalize (optional now)"
                    .into(),
                steps: after,
            });
        }
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
            if ctx.skipped_nodes.contains(&n.name) {
                if ctx.drained.contains(&n.name) {
                    leftovers.extend(self.step(
                        g,
                        n,
                        Action::Undrain,
                        None,
                        "skipped by the operator while drained: it is put back into service as it is",
                        &[Rule::DoNoHarm],
                        format!("Putting {} back into service (skipped, not upgraded)", n.name),
                        Confirm::None,
                    ));
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
            let undrain = self.step(
                g,
                n,
                Action::Undrain,
                None,
                "the node is back and verified: it takes load again",
                &[Rule::Order],
                format!("Putting {} back into service", n.name),
                Confirm::None,
            );
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
            let first = &mut self.phases[fp].steps[fs];
            let (confirm, before, assumes, first_id) =
                (first.confirm, first.before.clone(), first.assumes.clone(), first.id.clone());
            if let Some(mut d) = self.step(
                g,
                n,
                Action::Drain,
                None,
                "the node stops taking load before it is stopped",
                &[Rule::Order],
                format!("Draining {} (moving its load away) before it is stopped", n.name),
                confirm,
            ) {
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
                    reason: "drained earlier in this run; their upgrade is done".into(),
                    steps: leftovers,
                },
            );
        }
    }

    /// Marks where rollback stops being possible and gives every step past it no rollback.
    fn mark_no_return(&mut self) -> Option<NoReturnMarker> {
        let ctx = self.req.context;
        let (kname, k) = self.kinds_in_use().into_iter().find_map(|(kn, _, _)| {
            self.cluster.kinds.get(&kn).filter(|k| k.point_of_no_return.is_some()).map(|k| (kn, k))
        })?;
        let declared = k.point_of_no_return?;
        let steps: Vec<&Step> = self.phases.iter().flat_map(|p| p.steps.iter()).collect();
        let kind_nodes: Vec<String> = self
            .cluster
            .groups
            .iter()
            .filter(|g| g.kind == kname)
            .flat_map(|g| g.nodes.iter().map(|n| n.name.clone()))
            .collect();
        let crossing = match declared {
            NoReturn::Finalize => steps.iter().position(|s| s.action == Action::Finalize),
            NoReturn::AllUpgraded => {
                steps.iter().rposition(|s| s.action == Action::Install && kind_nodes.contains(&s.node))
            }
        };
        let already_past = match declared {
            NoReturn::Finalize => {
                ctx.finalized.contains_key(&kname)
                    || reported_finalized(self.req, &kname).is_some_and(|f| {
                        self.cluster
                            .groups
                            .iter()
                            .filter(|g| g.kind == kname)
                            .flat_map(|g| g.nodes.iter())
                            .filter_map(|n| {
                                ctx.original_versions.get(&n.name).cloned().or(self.req.observed.get(&n.name).version)
                            })
                            .any(|v| series_above(&f, &v))
                    })
            }
            NoReturn::AllUpgraded => {
                crossing.is_none()
                    && self.direction != Direction::Downgrade
                    && kind_nodes.iter().filter(|n| !ctx.skipped_nodes.contains(*n)).all(|n| {
                        let t = self.cluster.node(n).map(|(g, _)| self.target(g));
                        let v = self.req.observed.get(n).version.or_else(|| ctx.installed.get(n).cloned());
                        v.is_some() && v == t
                    })
            }
        };
        let marker = if already_past {
            NoReturnMarker {
                declared: declared.as_str().into(),
                rollback_possible_until: None,
                crossed_by: None,
                text: format!(
                    "point of no return ({}) already crossed for kind {kname}: no step of this plan can be rolled back",
                    declared.as_str()
                ),
            }
        } else if let Some(i) = crossing {
            let until = i.checked_sub(1).map(|j| steps[j].id.clone());
            NoReturnMarker {
                declared: declared.as_str().into(),
                rollback_possible_until: until.clone(),
                crossed_by: Some(steps[i].id.clone()),
                text: format!(
                    "rollback possible until {}: {} crosses the point of no return ({}) of kind {kname}; after it no rollback is offered and no downgrade is planned",
                    until.map(|u| format!("{u} (marked in the plan)")).unwrap_or_else(|| "here".into()),
                    steps[i].id,
                    declared.as_str()
                ),
            }
        } else {
            NoReturnMarker {
                declared: declared.as_str().into(),
                rollback_possible_until: None,
                crossed_by: None,
                text: match declared {
                    NoReturn::Finalize if ctx.finalize_deferred.contains(&kname) => format!(
                        "rollback possible until finalize, which was deferred: finalize kind {kname} later with `rollpilot finalize`"
                    ),
                    _ => format!(
                        "rollback possible: this plan does not reach the point of no return ({})",
                        declared.as_str()
                    ),
                },
            }
        };
        // Finalize is itself the irreversible step; with "all-upgraded" the last install still
        // leaves a node that can be rolled back if it fails, everything after it cannot.
        let past_from = if already_past {
            Some(0)
        } else {
            match declared {
                NoReturn::Finalize => crossing,
                NoReturn::AllUpgraded => crossing.map(|i| i + 1),
            }
        };
        if let Some(from) = past_from {
            let mut i = 0;
            for p in &mut self.phases {
                for s in &mut p.steps {
                    if i >= from && !matches!(s.action, Action::Preflight) {
                        s.rollback = PAST_NO_RETURN.to_string();
                    }
                    i += 1;
                }
            }
        }
        self.notes.push(Note { rule: Some(Rule::NoReturn), level: Level::Warning, text: marker.text.clone() });
        Some(marker)
    }
}

fn cap(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// The steps that return one node to `previous` after a failure (R11 "rollback this node"):
/// stop it if it runs, reinstall `previous` (the kind's `rollback` command, else `install`),
/// start it, and wait until it has rejoined in sync on that version. `round` keeps the ids of
/// repeated rollbacks distinct in the journal.
pub fn rollback_steps(cluster: &Cluster, observed: &Observed, node: &str, previous: &Version, round: u32) -> Vec<Step> {
    let Some((g, n)) = cluster.node(node) else { return Vec::new() };
    let Some(kind) = cluster.kind_of(g) else { return Vec::new() };
    let o = observed.get(node);
    let render = |t: &Option<Template>| -> Option<String> {
        let t = t.as_ref()?;
        let mut vars = cluster.vars_for(g, n);
        vars.insert("version".into(), previous.to_string());
        vars.insert("from_version".into(), o.version.as_ref().map(|v| v.to_string()).unwrap_or_default());
        vars.insert("peer".into(), String::new());
        let r = t.render(&vars).ok()?;
        Some(if kind.sudo { format!("sudo -n sh -c {}", shell_quote(&r)) } else { r })
    };
    let reason = format!("R11 do-no-harm: the operator chose to roll {node} back to {previous} after a failure");
    let mk = |action: Action, command: Option<String>, summary: String, after: Vec<Gate>| Step {
        id: format!("{}/{}/rollback-{}#{round}", g.name, n.name, action.as_str()),
        action,
        node: n.name.clone(),
        group: g.name.clone(),
        command,
        version: matches!(action, Action::Rollback).then(|| previous.clone()),
        from_version: o.version.clone(),
        before: Vec::new(),
        after,
        reason: reason.clone(),
        rules: vec![Rule::DoNoHarm],
        summary,
        downtime: false,
        irreversible: false,
        data_loss: false,
        confirm: Confirm::None,
        rollback: "none: this is the rollback; if it fails, the node needs hands-on repair".into(),
        assumes: Vec::new(),
        workdir: kind.workdir.clone(),
    };
    let mut steps = Vec::new();
    // Stop it only when it is seen running: after a failed install its kit (and its stop
    // script) may be gone, and there is nothing to stop.
    if o.role.is_running() && kind.commands.stop.is_some() {
        let observable = kind.parse.role.is_some() || kind.commands.health.is_some();
        steps.push(mk(
            Action::Stop,
            render(&kind.commands.stop),
            format!("Rollback: stopping {node}"),
            if observable { vec![Gate::Stopped { node: node.into() }] } else { Vec::new() },
        ));
    }
    let reinstall = render(&kind.commands.rollback).or_else(|| render(&kind.commands.install));
    steps.push(mk(Action::Rollback, reinstall, format!("Rollback: reinstalling {previous} on {node}"), Vec::new()));
    let verify =
        vec![Gate::Rejoined { node: node.into() }, Gate::VersionIs { node: node.into(), version: previous.clone() }];
    if kind.commands.start.is_some() {
        steps.push(mk(
            Action::Start,
            render(&kind.commands.start),
            format!("Rollback: starting {node} on {previous} and waiting for it to rejoin"),
            verify,
        ));
    } else if let Some(last) = steps.last_mut() {
        last.after = verify;
    }
    steps
}

/// The restore steps a run owes (its `before` ran, its `restore` did not), built without probing:
/// what the end of an aborted or failed run executes so a frozen setting is never left behind.
pub fn restore_steps(cluster: &Cluster, context: &RunContext, target: &Version) -> Vec<Step> {
    let observed = Observed::default();
    let req = PlanRequest { cluster, observed: &observed, target: target.clone(), context };
    let b = Builder {
        req: &req,
        cluster,
        direction: Direction::Nothing,
        phases: Vec::new(),
        notes: Vec::new(),
        typed: Vec::new(),
        exp: BTreeMap::new(),
        batches: Vec::new(),
    };
    let pending = context.restore_pending();
    b.kinds_in_use()
        .into_iter()
        .filter(|(k, _, _)| pending.contains(k))
        .filter_map(|(k, g, n)| {
            b.step(
                g,
                n,
                Action::Restore,
                None,
                "the run ended before its restore: what `before` changed is restored now",
                &[Rule::Order],
                format!("Restoring what `before` changed for kind {k}, on {}", n.name),
                Confirm::None,
            )
        })
        .collect()
}

/// The ssh command an operator can type to test the connection rollpilot tried: the same
/// address, port and user (from the host or `[ssh]`), so the hint reproduces the failure.
fn ssh_hint(cluster: &Cluster, n: &crate::model::Node) -> String {
    let mut cmd = String::from("ssh");
    if let Some(f) = &cluster.ssh.config_file {
        cmd.push_str(&format!(" -F {}", f.display()));
    }
    if let Some(p) = n.port.or(cluster.ssh.port) {
        cmd.push_str(&format!(" -p {p}"));
    }
    cmd.push(' ');
    if let Some(u) = n.user.as_ref().or(cluster.ssh.user.as_ref()) {
        cmd.push_str(&format!("{u}@"));
    }
    cmd.push_str(&n.address);
    cmd
}
