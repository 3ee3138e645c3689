//! rollpilot: guided rolling upgrades of highly available clusters over SSH.
//!
//! The pure domain (`model`, `plan`, most of `config`) knows nothing of terminals or networks;
//! the executor owns the transport and the journal; the TUI renders from one state.

pub mod cli;
pub mod config;
pub mod logging;
pub mod model;
pub mod notify;
pub mod paths;
pub mod plan;
pub mod probe;
pub mod rehearse;
pub mod run;
pub mod sanitize;
pub mod session;
pub mod sim;
pub mod status_view;
pub mod transport;
pub mod tui;
