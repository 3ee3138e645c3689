//! Live snapshots from the poller: the node table, the mixed-version window, the step column
//! of each node, and an observer's plan estimated from the live cluster.

use super::{Effect, refresh_derived};
use crate::plan::{self, PlanRequest, RunContext};
use crate::probe::Snapshot;
use crate::run::machine::{Input, RunMachine};
use crate::tui::screen::clock::clock_signature;
use crate::tui::state::{NodeRow, State, StepState};
use std::collections::HashMap;

fn same_display(a: &[NodeRow], b: &[NodeRow]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            let (mut rx, mut ry) = (x.row.clone(), y.row.clone());
            rx.last_seen = None;
            ry.last_seen = None;
            rx == ry && x.role_changed_at == y.role_changed_at && x.at_target == y.at_target
        })
}

/// Takes a snapshot; redraws only when something shown changed.
pub(super) fn snapshot(state: &mut State, snap: Snapshot) -> Vec<Effect> {
    let before = clock_signature(state);
    let old_rows = std::mem::take(&mut state.live.rows);
    let old_observed = state.live.snapshot.observed();
    let (old_versions, old_mixed) = (state.live.versions.clone(), state.live.mixed_since);
    state.live.rows = old_rows.clone();
    state.live.snapshot = snap;
    state.rebuild_rows();
    let mut changed = !same_display(&old_rows, &state.live.rows)
        || old_versions != state.live.versions
        || old_mixed != state.live.mixed_since
        || clock_signature(state) != before;
    if state.is_observer() {
        let observed = state.live.snapshot.observed();
        if observed != old_observed || state.run.machine.phases.is_empty() && state.run.plan_problem.is_none() {
            estimate_plan(state);
            changed = true;
        }
    }
    if changed {
        refresh_derived(state);
        vec![Effect::Redraw]
    } else {
        vec![]
    }
}

/// Observer mode has no executor: show what remains as the planner sees the live cluster.
fn estimate_plan(state: &mut State) {
    if state.live.snapshot.nodes.is_empty() {
        return;
    }
    // An estimate: a node that missed the latest probe counts with its last known values.
    let mut observed = state.live.snapshot.observed();
    for (name, v) in &state.live.snapshot.nodes {
        if let (false, Some(good)) = (v.obs.reachable, &v.last_good) {
            observed.nodes.insert(name.clone(), good.clone());
        }
    }
    let ctx = RunContext::default();
    let req = PlanRequest {
        cluster: &state.cluster,
        observed: &observed,
        target: state.cluster.target.clone(),
        context: &ctx,
    };
    match plan::plan(&req) {
        Ok(p) => {
            state.run.plan_problem = None;
            // The estimate is a plan nothing happened to: the machine shows it as pending.
            state.run.machine = RunMachine::new();
            state.run.machine.apply(Input::Planned(&p));
            state.run.plan = Some(p);
        }
        Err(r) => {
            state.run.plan_problem = Some(r.to_string().trim().to_string());
            state.run.machine = RunMachine::new();
            state.run.plan = None;
        }
    }
}

/// The step column of each node: its current step, else what is left or how it ended.
pub(super) fn node_steps(state: &mut State) {
    #[derive(Default)]
    struct Agg {
        touched: Option<(StepState, &'static str)>,
        pending: usize,
        current: Option<(StepState, &'static str)>,
        skipped: bool,
    }
    let mut agg: HashMap<&str, Agg> = HashMap::new();
    for s in state.steps() {
        let a = agg.entry(s.step.node.as_str()).or_default();
        if state.current() == Some(s.step.id.as_str()) {
            a.current = Some((s.state, s.step.action.as_str()));
        }
        match s.state {
            StepState::Pending => a.pending += 1,
            StepState::Skipped => a.skipped = true,
            st => a.touched = Some((st, s.step.action.as_str())),
        }
    }
    let mut out = HashMap::with_capacity(agg.len());
    for (node, a) in agg {
        let v = if let Some((st, action)) = a.current.or(if a.pending == 0 { None } else { a.touched }) {
            (st, format!("{} {action}", st.symbol()))
        } else if a.skipped {
            (StepState::Skipped, "- skipped".to_string())
        } else if a.pending == 0 {
            match a.touched {
                Some((st @ StepState::Failed { .. }, action)) => (st, format!("{} {action}", st.symbol())),
                _ => (StepState::Done, format!("{} done", StepState::Done.symbol())),
            }
        } else {
            let n = a.pending;
            (StepState::Pending, format!("· {n} step{}", if n == 1 { "" } else { "s" }))
        };
        out.insert(node.to_string(), v);
    }
    state.live.node_steps = out;
}
