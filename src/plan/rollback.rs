//! The steps of "roll this node back" (R11), the operator's choice after a failure: built from
//! the config alone, outside any plan, since the node is in whatever state the failure left.

use super::rules::Rule;
use super::types::*;
use crate::model::*;
use semver::Version;

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
    let reason =
        Reason::new(Rule::DoNoHarm, format!("the operator chose to roll {node} back to {previous} after a failure"));
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
