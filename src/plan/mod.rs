//! Turning a cluster and what is observed of it into an ordered, explained plan. Pure: no I/O.
//!
//! `planner` orders the work; `rules` holds the named checks that refuse or warn (R1, R3, R10,
//! R13–R15); `profile` plans each group the way its profile rolls it; `step_builder` gives every
//! step its one shape; `run_level` adds the steps around the nodes; `batches` and `lanes` say
//! what runs side by side.

mod batches;
mod builder;
pub mod gates;
mod lanes;
mod planner;
mod profile;
pub mod render;
mod rollback;
pub mod rules;
mod run_level;
mod step_builder;
pub mod types;

pub use planner::{PLAN_FORMAT, PlanRequest, plan};
pub use rollback::rollback_steps;
pub use rules::Rule;
pub use run_level::restore_steps;
pub use types::*;
