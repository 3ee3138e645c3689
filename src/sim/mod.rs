//! The simulated cluster used by `demo`, the tests and rehearsals (see DESIGN.md §5).

pub mod cli;
