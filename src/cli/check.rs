//! `rollpilot check`: validate a cluster config file without touching any host.

use super::common::{ConfigArg, load_config, print_out};
use super::exit;
use clap::Args;

/// Arguments of `rollpilot check`.
#[derive(Debug, Args)]
pub(super) struct CheckArgs {
    #[command(flatten)]
    cfg: ConfigArg,
}

/// Loads the file and prints a one-line summary, or every problem with its location (exit 2).
pub(super) fn run(a: &CheckArgs) -> u8 {
    match load_config(&a.cfg.config) {
        Ok(c) => {
            let nodes = c.nodes().count();
            let line = format!(
                "{}: ok — cluster {} ({} profile, target {}), {} groups, {} hosts\n",
                a.cfg.config.display(),
                c.name,
                c.profile.as_str(),
                c.target,
                c.groups.len(),
                nodes
            );
            print_out(&line).err().unwrap_or(exit::OK)
        }
        Err(code) => code,
    }
}
