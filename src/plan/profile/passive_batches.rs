//! Passives in batches (`max_unavailable` on a server group with an active): a group with many
//! passives upgrades several of them at once. R5 is judged for the whole batch before any of it
//! stops: the active and at least one in-sync passive stay outside every batch, and the active
//! is never in a batch (it goes last, alone, with its switchover).

use super::ServerWords;
use super::mirrored::passive_stop_summary;
use crate::model::*;
use crate::plan::batches::form;
use crate::plan::builder::{Builder, Reinstall, Work};
use crate::plan::rules::Rule;
use crate::plan::types::*;

impl Builder<'_> {
    /// The passives of `g` other than `active` that need work, in batches of up to `width`
    /// (never across two values of `batch_by`), each batch guarded by one gate: at least
    /// `members − width` others up, the active and an in-sync passive among them.
    pub(super) fn passives_batched(
        &mut self,
        g: &Group,
        active: &Node,
        width: usize,
        reason: &Reason,
        words: &ServerWords,
        steps: &mut Vec<Step>,
    ) {
        let mirror = words.mirror;
        let n_all = g.nodes.len();
        let cleanup = self.has_cleanup(g);
        let todo: Vec<&Node> = g
            .nodes
            .iter()
            .filter(|n| n.name != active.name && matches!(self.work(g, n), Work::Full | Work::StartOnly))
            .filter(|n| self.req.observed.get(&n.name).role != Role::Active)
            .collect();
        let min_up = n_all - width;
        let setting = g.max_unavailable.map(|m| m.as_config()).unwrap_or_default();
        let label_of = |n: &Node| g.batch_by.as_ref().and_then(|v| self.cluster.vars_for(g, n).get(v).cloned());
        let formed = form(&todo, width, label_of);
        let done = g
            .nodes
            .iter()
            .filter(|n| n.name != active.name && !self.skipped(&n.name) && self.work(g, n) == Work::Nothing)
            .count();
        let earlier = done.div_ceil(width);
        let of = earlier + formed.len();
        let others: Vec<&str> = g.nodes.iter().map(|x| x.name.as_str()).collect();
        for (bi, (label, members)) in formed.into_iter().enumerate() {
            let names: Vec<String> = members.iter().map(|n| n.name.clone()).collect();
            let why_safe = format!(
                "{} of {} {mirror}s of {} down at once (max_unavailable = {setting}); {} stays active and at least one {mirror} in sync stays outside the batch (R5), so the gate before the batch needs {min_up} others up, {} among them{}",
                names.len(),
                n_all - 1,
                g.name,
                active.name,
                active.name,
                label.as_ref().zip(g.batch_by.as_ref()).map(|(l, b)| format!("; all in {b} {l}")).unwrap_or_default()
            );
            let (gate, batch_text) = self.open_batch(g, label, names, (earlier + bi + 1, of), why_safe, min_up);
            for n in members {
                let o = self.req.observed.get(&n.name);
                let w = self.work(g, n);
                let first = steps.len();
                if o.role != Role::Stopped
                    && w == Work::Full
                    && let Some(mut s) = self
                        .step(g, n, Action::Stop)
                        .reason(reason)
                        .rules(&[Rule::Order, Rule::SafeToStop])
                        .summary(passive_stop_summary(n, &o, mirror, g, active, Some(&batch_text)))
                        .confirm(Confirm::Yes)
                        .build()
                {
                    s.assumes = self.assumes(&others);
                    self.observed_stop(g, n, &mut s);
                    steps.push(s);
                    self.exp.insert(n.name.clone(), Role::Stopped);
                }
                let confirm = if steps.len() > first { Confirm::None } else { Confirm::Yes };
                if w == Work::Full {
                    self.reinstall_sequence(g, n, Reinstall::rejoin(reason, n, confirm, cleanup), steps);
                } else if let Some(s) = self.verified_start(
                    g,
                    n,
                    reason,
                    &[Rule::Verify],
                    format!("Starting {} (already on {}; {batch_text})", n.name, self.target(g)),
                    Confirm::Yes,
                ) {
                    steps.push(s);
                }
                if let Some(s) = steps.get_mut(first) {
                    s.before.insert(0, gate.clone());
                }
                self.exp.insert(n.name.clone(), Role::Passive);
            }
        }
    }
}
