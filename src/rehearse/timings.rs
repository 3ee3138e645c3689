//! The projected duration of the real window: each step's duration from a previous real run of
//! the same cluster (`--timings RUN_ID`), else the config's timeouts as an upper bound.

use crate::model::Cluster;
use crate::plan::Plan;
use crate::run::journal::{Entry, Record};
use std::collections::BTreeMap;
use std::time::Duration;

/// Where a projection's numbers come from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Projection {
    /// One line per phase: title, projected seconds.
    pub phases: Vec<(String, u64)>,
    /// The whole window, in seconds.
    pub total_secs: u64,
    /// How the numbers were made, in words.
    pub assumption: String,
}

/// How long each step took in a journal: from its first start to its `done` record (gates
/// after it included), in seconds.
pub fn step_durations(entries: &[Entry]) -> BTreeMap<String, u64> {
    let mut started: BTreeMap<String, jiff::Timestamp> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for e in entries {
        match &e.record {
            Record::StepStarted { step, .. } => {
                started.entry(step.id.clone()).or_insert(e.ts);
            }
            Record::StepDone { step, .. } => {
                if let Some(s) = started.get(step) {
                    let secs = e.ts.duration_since(*s).as_secs().max(0) as u64;
                    out.insert(step.clone(), secs);
                }
            }
            _ => {}
        }
    }
    out
}

/// The projection for a plan: measured durations where `measured` has the step, the config's
/// timeouts (step, plus gate for a gated step) elsewhere.
pub fn project(plan: &Plan, cluster: &Cluster, measured: Option<(&str, &BTreeMap<String, u64>)>) -> Projection {
    let step_to = cluster.timeouts.step;
    let gate_to = cluster.timeouts.gate;
    let bound = |gated: bool| -> u64 { (step_to + if gated { gate_to } else { Duration::ZERO }).as_secs() };
    let mut phases = Vec::new();
    let mut missing = 0usize;
    let mut total = 0u64;
    for p in &plan.phases {
        let mut secs = 0u64;
        for s in &p.steps {
            let gated = !s.before.is_empty() || !s.after.is_empty();
            match measured.and_then(|(_, m)| m.get(&s.id)) {
                Some(d) => secs += d,
                None => {
                    missing += 1;
                    secs += bound(gated);
                }
            }
        }
        total += secs;
        phases.push((p.title.clone(), secs));
    }
    let upper = format!(
        "each step counted at the config's step timeout ({}s), plus its gate timeout ({}s) when it waits for a gate: an upper bound, not an estimate",
        step_to.as_secs(),
        gate_to.as_secs()
    );
    let assumption = match measured {
        Some((run, _)) if missing == 0 => format!("step durations measured in the real run {run}"),
        Some((run, _)) => {
            format!("step durations measured in the real run {run}; {missing} step(s) it did not complete: {upper}")
        }
        None => format!("no real run given with --timings RUN_ID: {upper}"),
    };
    Projection { phases, total_secs: total, assumption }
}

/// `1h 02m 03s`.
pub fn human(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 { format!("{h}h {m:02}m {s:02}s") } else { format!("{m}m {s:02}s") }
}
