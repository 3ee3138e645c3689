//! The rehearsal report: what an operator takes into the real window. Every step and
//! confirmation in order, the point of no return, the projected duration, each injected fault
//! and the choice made, and the twin's data check.

use super::compare::StepKey;
use super::faults::Injected;
use super::timings::{Projection, human};
use crate::run::journal::{Entry, Record};
use std::fmt::Write as _;

/// What a rehearsal found, saved next to its journal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RehearsalReport {
    /// The operator's cluster.
    pub cluster: String,
    /// The operator's config file.
    pub config: String,
    /// Where the starting state came from (assumed file, probe, or plausible).
    pub starting_state: String,
    /// What was assumed where nothing was said.
    pub assumptions: Vec<String>,
    /// Operator hooks the simulator has no counterpart for (kept as steps, not run).
    pub stood_in: Vec<String>,
    /// The plan's steps in order (equal to `plan --assume` on the same state).
    pub plan: Vec<StepKey>,
    /// Whether the twin's plan equalled the real plan, step by step.
    pub same_plan_as_real: bool,
    /// The point of no return, in the plan's words.
    pub point_of_no_return: Option<String>,
    /// The projected duration of the real window.
    pub projection: Projection,
    /// Faults injected.
    pub faults: Vec<Injected>,
    /// What happened in the run, in order: steps, confirmations and choices.
    pub events: Vec<String>,
    /// How the run ended.
    pub outcome: String,
    /// Writes acknowledged by the twin's clients.
    pub acknowledged: usize,
    /// Of those, still present at the end.
    pub present: usize,
    /// Lost.
    pub lost: usize,
}

/// The run's events in order, one line each, from its journal.
pub fn events(entries: &[Entry]) -> Vec<String> {
    let mut out = Vec::new();
    for e in entries {
        let line = match &e.record {
            Record::StepStarted { step, attempt, .. } => format!("started {} (attempt {attempt})", step.id),
            Record::StepFinished { step, outcome, exit, .. } => {
                format!("finished {step}: {outcome:?}{}", exit.map(|c| format!(" (exit {c})")).unwrap_or_default())
            }
            Record::StepDone { step } => format!("done {step}"),
            Record::Decided { step, decision, by, .. } => format!("{by} chose {decision:?} for {step}"),
            Record::RunFinished { outcome, message } => format!("run {outcome}: {message}"),
            Record::Planned { reason, plan } => format!("planned ({reason}): {} steps", plan.steps().count()),
            _ => continue,
        };
        out.push(line);
    }
    out
}

/// The report as Markdown.
pub fn markdown(r: &RehearsalReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# REHEARSAL of {} (simulated twin; nothing was run on real hosts)\n", r.cluster);
    let _ = writeln!(s, "- config: `{}`", r.config);
    let _ = writeln!(s, "- starting state: {}", r.starting_state);
    let _ = writeln!(
        s,
        "- plan: {}",
        if r.same_plan_as_real {
            "the same as `rollpilot plan --assume` on the same state (saved beside this report as `starting-state.json`), step by step and gate by gate"
        } else {
            "DIFFERENT from the real plan (see above); the rehearsal did not run"
        }
    );
    let _ = writeln!(s, "- outcome: {}", r.outcome);
    let _ = writeln!(s, "- data check: acknowledged {}, present {}, lost {}", r.acknowledged, r.present, r.lost);
    for a in &r.assumptions {
        let _ = writeln!(s, "- assumed: {a}");
    }
    for h in &r.stood_in {
        let _ = writeln!(
            s,
            "- hook `{h}` is a step of the plan but was not run on the twin (the simulator has no counterpart)"
        );
    }
    let _ = writeln!(s, "\n## Steps and confirmations, in order\n");
    let _ = writeln!(s, "| # | step | action | confirm | phase |");
    let _ = writeln!(s, "|---|---|---|---|---|");
    for (i, k) in r.plan.iter().enumerate() {
        let _ = writeln!(s, "| {} | {} | {} | {} | {} |", i + 1, k.id, k.action, k.confirm, k.phase);
    }
    let _ = writeln!(s, "\n## Point of no return\n");
    let _ =
        writeln!(s, "{}", r.point_of_no_return.as_deref().unwrap_or("none declared: every step can be rolled back"));
    let _ = writeln!(s, "\n## Projected duration of the real window: {}\n", human(r.projection.total_secs));
    for (p, secs) in &r.projection.phases {
        let _ = writeln!(s, "- {p}: {}", human(*secs));
    }
    let _ = writeln!(s, "\nAssumption: {}", r.projection.assumption);
    let _ = writeln!(s, "\n## Injected faults\n");
    if r.faults.is_empty() {
        let _ = writeln!(s, "none");
    }
    for f in &r.faults {
        let _ = writeln!(s, "- {}: {}", f.fault, f.result);
    }
    let _ = writeln!(s, "\n## What happened\n");
    for e in &r.events {
        let _ = writeln!(s, "- {e}");
    }
    s
}
