//! One place that turns "this action on this node, for this reason" into a [`Step`]: the
//! command rendered with the node's values, the rollback an operator is offered, the kind's
//! working directory. Every step of a plan comes through here, so a step's shape is decided once.

use super::builder::Builder;
use super::rules::Rule;
use super::types::*;
use crate::model::{Group, Node, shell_quote};
use semver::Version;

/// A step under construction: what it does, to which node, and why. Options not given keep the
/// plain defaults (no peer, no rules, empty summary, no confirmation), so a call names only what
/// matters for that step.
pub(super) struct StepBuilder<'b, 'a> {
    b: &'b Builder<'a>,
    g: &'b Group,
    n: &'b Node,
    action: Action,
    peer: Option<&'b str>,
    reason: Reason,
    rules: Vec<Rule>,
    summary: String,
    confirm: Confirm,
}

impl<'b, 'a> StepBuilder<'b, 'a> {
    /// Starts a step of `action` on `n` of group `g`.
    pub(super) fn new(b: &'b Builder<'a>, g: &'b Group, n: &'b Node, action: Action) -> Self {
        StepBuilder {
            b,
            g,
            n,
            action,
            peer: None,
            reason: Reason::plain(""),
            rules: Vec::new(),
            summary: String::new(),
            confirm: Confirm::None,
        }
    }

    /// The member named as `{peer}` in the command (the node a switchover hands over to).
    pub(super) fn peer(mut self, peer: Option<&'b str>) -> Self {
        self.peer = peer;
        self
    }

    /// Why the step is here, in this order (shown as "why" in the plan).
    pub(super) fn reason(mut self, reason: &Reason) -> Self {
        self.reason = reason.clone();
        self
    }

    /// The rules that placed or guard the step.
    pub(super) fn rules(mut self, rules: &[Rule]) -> Self {
        self.rules = rules.to_vec();
        self
    }

    /// What happens, in the product's terms (shown in the confirmation dialog).
    pub(super) fn summary(mut self, summary: String) -> Self {
        self.summary = summary;
        self
    }

    /// What the operator must do before it runs (a cleanup always asks, whatever is given here).
    pub(super) fn confirm(mut self, confirm: Confirm) -> Self {
        self.confirm = confirm;
        self
    }

    /// The step, or `None` when the kind has no command for the action (an install is always
    /// planned: a missing install command is reported by the config check, not hidden here).
    pub(super) fn build(self) -> Option<Step> {
        let StepBuilder { b, g, n, action, peer, reason, rules, summary, confirm } = self;
        let version = matches!(action, Action::Install).then(|| b.target(g));
        let command = b.command(g, n, action, version.as_ref(), peer);
        if command.is_none() && !matches!(action, Action::Install) {
            return None;
        }
        let from = b.req.observed.get(&n.name).version;
        // A rollback returns the node to what it ran when the run first saw it, not to what it
        // reports now (after an install it already reports the new version).
        let rollback_to = b.req.context.original_versions.get(&n.name).cloned().or_else(|| from.clone());
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
            reason,
            rules,
            summary,
            downtime: false,
            irreversible: matches!(action, Action::Cleanup),
            data_loss: false,
            confirm: if matches!(action, Action::Cleanup) { Confirm::Yes } else { confirm },
            rollback: rollback_text(action, &n.name, rollback_to.as_ref()),
            assumes: Vec::new(),
            workdir: b.kind(g).map(|k| k.workdir.clone()).unwrap_or_else(|| "/".into()),
        })
    }
}

/// What the operator can do when a step of `action` on `node` fails, in an operator's words.
fn rollback_text(action: Action, node: &str, rollback_to: Option<&Version>) -> String {
    match action {
        Action::Stop | Action::FailbackStop => {
            format!("start {node} again on the version it runs; nothing has been changed yet")
        }
        Action::Cleanup => "none: the deleted data cannot be restored".to_string(),
        Action::Install | Action::Start => format!(
            "reinstall {} on {node} (rollback) and start it",
            rollback_to.map(|v| v.to_string()).unwrap_or_else(|| "the previous version".into()),
        ),
        Action::Switchover => format!("move the active role back to {node}"),
        Action::Failback | Action::FailbackStart => FULLY_UPGRADED.to_string(),
        Action::Offline => "bring the service back online without the new component".to_string(),
        Action::Online => "none needed: this step ends the offline window".to_string(),
        Action::Rollback => "none".to_string(),
        Action::Preflight => "none needed: a preflight check changes nothing".to_string(),
        Action::Before => format!("run the kind's restore on {node} (it undoes this step)"),
        Action::Restore => format!("run the restore command on {node} again by hand"),
        Action::Drain => format!("undrain {node} (put it back into service); nothing else has changed"),
        Action::Undrain => format!("undrain {node} again by hand; it runs the new version"),
        Action::Health => "investigate the cluster; every node already runs the target".to_string(),
        Action::Finalize => PAST_NO_RETURN.to_string(),
    }
}

/// The rollback of a failback: nothing to undo, the roles simply stay where they are.
pub(super) const FULLY_UPGRADED: &str = "leave the roles as they are; the cluster is fully upgraded";

impl<'a> Builder<'a> {
    /// Starts a step of `action` on `n`; see [`StepBuilder`].
    pub(super) fn step<'b>(&'b self, g: &'b Group, n: &'b Node, action: Action) -> StepBuilder<'b, 'a> {
        StepBuilder::new(self, g, n, action)
    }

    /// Renders the command of `action` for `node`, with `version` and `peer` filled in.
    pub(super) fn command(
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
}
