//! R13 preflight: every host passes its kind's read-only preflight check before anything is
//! touched, so one failing host refuses the run with nothing changed rather than half-way in.

use super::Rule;
use crate::plan::builder::Builder;
use crate::plan::types::*;

impl Builder<'_> {
    /// Puts the preflight phase first: one check per host that is not skipped, when the plan
    /// has node work and the run has not passed its preflight yet (planning again mid-run does
    /// not check again).
    pub(in crate::plan) fn preflight_phase(&mut self, node_work: bool) {
        let ctx = self.req.context;
        if !node_work || ctx.preflight_done {
            return;
        }
        let mut steps = Vec::new();
        for (g, n) in self.cluster.nodes() {
            if self.skipped(&n.name) {
                continue;
            }
            if let Some(s) = self
                .step(g, n, Action::Preflight)
                .reason(&Reason::new(
                    Rule::Preflight,
                    "every host is checked before anything is touched; one failure refuses the run",
                ))
                .rules(&[Rule::Preflight])
                .summary(format!("Checking {} before anything is touched (kind {})", n.name, g.kind))
                .build()
            {
                steps.push(s);
            }
        }
        if !steps.is_empty() {
            self.phases.insert(
                0,
                Phase {
                    title: "Preflight: every host, before anything is touched".into(),
                    reason: Reason::new(Rule::Preflight, "a failure on any host refuses the run with nothing changed"),
                    steps,
                },
            );
        }
    }
}
