//! Executing a rollout: the executor actor, its journal, detached remote jobs, the operator
//! lock, the headless face and the maintenance report.

pub mod events;
pub mod executor;
pub mod headless;
pub mod job;
pub mod journal;
pub mod lock;
pub mod machine;
pub mod report;
pub mod runs;
