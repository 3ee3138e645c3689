//! `rollpilot top`: the live node table of a cluster, full screen, without starting a run (no
//! lock is taken, nothing is changed), for whoever wants to watch a cluster during a window.

use super::common::ConfigArg;
use clap::Args;

/// Arguments of `rollpilot top`.
#[derive(Debug, Args)]
pub(super) struct TopArgs {
    #[command(flatten)]
    cfg: ConfigArg,
}

/// Opens the live view until the operator quits: `/` filters, Enter shows a node, `s` opens a
/// shell on it (a shell is the operator's own doing, so watching does not forbid it).
pub(super) fn run(a: &TopArgs) -> u8 {
    let options = crate::tui::TuiOptions {
        rehearsal: None,
        quiet: true,
        readonly: Some("rollpilot top: a live view, no run is started from here".into()),
        shell_allowed: true,
        window_end: None,
    };
    super::upgrade::watch_only(&a.cfg.config, options)
}
