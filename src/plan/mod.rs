//! Turning a cluster and what is observed of it into an ordered, explained plan. Pure: no I/O.

mod build;
pub mod gates;
pub mod render;
pub mod rules;
mod takeover;
pub mod types;

pub use build::{PLAN_FORMAT, PlanRequest, plan, restore_steps, rollback_steps};
pub use rules::Rule;
pub use types::*;
