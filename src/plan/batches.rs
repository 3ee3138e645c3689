//! Quorum-aware batches (`max_unavailable`, `batch_by`): a big peer group is upgraded several
//! members at a time, never more than its quorum allows and never across two failure domains.
//! The whole batch is judged by one gate before any of it stops; its members' steps are laid out
//! node by node, and the executor runs the same step of every member side by side.

use super::builder::{Builder, Reinstall, Work};
use crate::model::{Group, Node, Role};
use crate::plan::gates::not_back;
use crate::plan::rules::Rule;
use crate::plan::types::*;

/// Splits `todo` (config order) into batches of at most `size` members that never span two
/// values of `label`: label values come in the order their first member is listed, and within a
/// value members keep config order. Members without a label form their own value.
pub fn form<'n, F>(todo: &[&'n Node], size: usize, label: F) -> Vec<(Option<String>, Vec<&'n Node>)>
where
    F: Fn(&Node) -> Option<String>,
{
    let size = size.max(1);
    let mut order: Vec<Option<String>> = Vec::new();
    for n in todo {
        let l = label(n);
        if !order.contains(&l) {
            order.push(l);
        }
    }
    let mut out = Vec::new();
    for l in order {
        let members: Vec<&Node> = todo.iter().copied().filter(|n| label(n) == l).collect();
        for chunk in members.chunks(size) {
            out.push((l.clone(), chunk.to_vec()));
        }
    }
    out
}

/// How many members of `g` may be down at once: `max_unavailable` resolved against the group's
/// size, capped so the quorum (or, without one, at least one member) stays up. `None` when the
/// group goes one at a time.
pub fn width(g: &Group) -> Option<usize> {
    let n = g.nodes.len();
    let k = g.max_unavailable?.resolve(n);
    let cap = match g.quorum {
        Some(q) => n.saturating_sub(q),
        None => n.saturating_sub(1),
    };
    let k = k.min(cap).max(1);
    (k > 1).then_some(k)
}

/// How many passives of a server group with an active (terracotta, active-passive) may be down
/// at once: `max_unavailable` resolved against the group's size, capped so that the active and
/// at least one passive stay outside every batch (R5: the active is never without an in-sync
/// passive), and so that the quorum stays up. `None` when the passives go one at a time.
pub fn passive_width(g: &Group) -> Option<usize> {
    let n = g.nodes.len();
    let k = g.max_unavailable?.resolve(n);
    let passives = n.saturating_sub(1);
    let mut cap = passives.saturating_sub(1);
    if let Some(q) = g.quorum {
        cap = cap.min(n.saturating_sub(q));
    }
    let k = k.min(cap).max(1);
    (k > 1).then_some(k)
}

impl Builder<'_> {
    /// Records batch `number` of `of` of `g` (its members `names`, why it is safe) and returns
    /// the gate that judges the whole batch before any of it stops, and the "batch 2/4: a, b"
    /// text its steps name.
    pub(crate) fn open_batch(
        &mut self,
        g: &Group,
        label: Option<String>,
        names: Vec<String>,
        (number, of): (usize, usize),
        why_safe: String,
        min_up: usize,
    ) -> (Gate, String) {
        let gate = Gate::BatchQuorum { group: g.name.clone(), nodes: names.clone(), min: min_up };
        let text = format!("batch {number}/{of}: {}", names.join(", "));
        self.batches.push(Batch { group: g.name.clone(), nodes: names, label, number, of, why_safe });
        (gate, text)
    }

    /// A peer group (or an any-order server group) upgraded in batches of up to `width`.
    pub(super) fn peer_group_batched(&mut self, g: &Group, width: usize) {
        let n_all = g.nodes.len();
        let any_order = self.cluster.profile == crate::model::Profile::AnyOrder;
        let verb = self.verb();
        let has_health = self.kind(g).is_some_and(|k| k.commands.health.is_some() || k.parse.health.is_some());
        let todo: Vec<&Node> =
            g.nodes.iter().filter(|n| matches!(self.work(g, n), Work::Full | Work::StartOnly)).collect();
        // Members that are down and are not part of any batch (skipped, failed and tolerated)
        // use up the allowance: the batches shrink so the total down never exceeds it.
        let down_outside = g
            .nodes
            .iter()
            .filter(|n| !todo.iter().any(|t| t.name == n.name))
            .filter(|n| not_back(false, has_health, &self.req.observed.get(&n.name)).is_some())
            .count();
        let size = width.saturating_sub(down_outside).max(1);
        let min_up = n_all - width;
        let setting = g.max_unavailable.map(|m| m.as_config()).unwrap_or_default();
        let label_of = |n: &Node| g.batch_by.as_ref().and_then(|v| self.cluster.vars_for(g, n).get(v).cloned());
        let formed = form(&todo, size, label_of);
        // Batches are numbered across the run: members already at the target were earlier ones.
        let done = g
            .nodes
            .iter()
            .filter(|n| !self.req.context.skipped_nodes.contains(&n.name) && self.work(g, n) == Work::Nothing)
            .count();
        let earlier = done.div_ceil(size);
        let of = earlier + formed.len();
        let quorum_text = g.quorum.map(|q| format!(", quorum {q}")).unwrap_or_default();
        let reason = Reason::new(
            Rule::Order,
            format!(
                "{}members of {} in batches of up to {size} (max_unavailable = {setting}{quorum_text}){}; at least {min_up} of {n_all} stay up",
                if any_order {
                    "any order is allowed (StreamBase upgrade notes: nodes of different versions coexist); "
                } else {
                    ""
                },
                g.name,
                g.batch_by.as_ref().map(|b| format!(", never across two values of `{b}`")).unwrap_or_default(),
            ),
        );
        let mut steps = Vec::new();
        for (bi, (label, members)) in formed.into_iter().enumerate() {
            let names: Vec<String> = members.iter().map(|n| n.name.clone()).collect();
            let why_safe = format!(
                "{} of {n_all} members of {} down at once (max_unavailable = {setting}{quorum_text}{}); the gate before the batch needs {min_up} others up{}",
                names.len(),
                g.name,
                if down_outside > 0 {
                    format!(", {down_outside} already down outside the batch")
                } else {
                    String::new()
                },
                label.as_ref().zip(g.batch_by.as_ref()).map(|(l, b)| format!("; all in {b} {l}")).unwrap_or_default()
            );
            let (gate, batch_text) = self.open_batch(g, label, names, (earlier + bi + 1, of), why_safe, min_up);
            for n in members {
                let w = self.work(g, n);
                let o = self.req.observed.get(&n.name);
                let first = steps.len();
                if o.role != Role::Stopped
                    && w == Work::Full
                    && let Some(mut s) = self
                        .step(g, n, Action::Stop)
                        .reason(&reason)
                        .rules(&[Rule::Order, Rule::SafeToStop])
                        .summary(format!(
                            "Stopping {} to {verb} it ({batch_text}); the other members keep serving",
                            n.name
                        ))
                        .confirm(Confirm::Yes)
                        .build()
                {
                    self.observed_stop(g, n, &mut s);
                    steps.push(s);
                }
                let confirm = if steps.len() > first { Confirm::None } else { Confirm::Yes };
                if w == Work::Full {
                    self.reinstall_sequence(
                        g,
                        n,
                        Reinstall::rejoin(&reason, n, confirm, self.has_cleanup(g)),
                        &mut steps,
                    );
                } else if let Some(s) = self.verified_start(
                    g,
                    n,
                    &reason,
                    &[Rule::Verify],
                    format!("Starting {} ({batch_text})", n.name),
                    Confirm::Yes,
                ) {
                    steps.push(s);
                }
                if let Some(s) = steps.get_mut(first) {
                    s.before.insert(0, gate.clone());
                }
            }
        }
        let title = format!(
            "{} of {}: batches of up to {size} side by side{}",
            if any_order { "Nodes" } else { "Members" },
            g.name,
            if any_order { ", any order" } else { "" }
        );
        self.phases.push(Phase { title, reason, steps });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn node(name: &str, rack: &str) -> Node {
        Node {
            name: name.into(),
            address: name.into(),
            user: None,
            port: None,
            declared_role: None,
            vars: BTreeMap::from([("rack".to_string(), rack.to_string())]),
        }
    }

    #[test]
    fn batches_never_span_two_labels_and_keep_config_order() {
        let ns = [node("a", "r1"), node("b", "r2"), node("c", "r1"), node("d", "r1"), node("e", "r2")];
        let todo: Vec<&Node> = ns.iter().collect();
        let b = form(&todo, 2, |n| n.vars.get("rack").cloned());
        let names: Vec<(Option<String>, Vec<&str>)> =
            b.iter().map(|(l, v)| (l.clone(), v.iter().map(|n| n.name.as_str()).collect())).collect();
        assert_eq!(
            names,
            vec![
                (Some("r1".into()), vec!["a", "c"]),
                (Some("r1".into()), vec!["d"]),
                (Some("r2".into()), vec!["b", "e"]),
            ]
        );
        let plain = form(&todo, 3, |_| None);
        assert_eq!(plain.iter().map(|(_, v)| v.len()).collect::<Vec<_>>(), vec![3, 2]);
    }
}
