//! `rollpilot plan`: the plan for a rollout, probed live or for an assumed state (`--assume`).

use super::common::say;
use super::common::{
    ConfigArg, load_config, parse_target, print_out, probe_once, report_refusal, runtime, typed_name_matches,
};
use super::exit;
use crate::config;
use crate::model::Observed;
use crate::plan::{self, PlanRequest, RunContext};
use clap::Args;
use std::path::PathBuf;

/// Arguments of `rollpilot plan`.
#[derive(Debug, Args)]
pub(super) struct PlanArgs {
    #[command(flatten)]
    cfg: ConfigArg,
    /// Plan for an assumed state (TOML [nodes.NAME] tables, or saved `status --json`) instead of probing the hosts.
    #[arg(long, value_name = "STATE_FILE")]
    assume: Option<PathBuf>,
    /// Target version instead of the config's (a lower version plans a rolling downgrade).
    #[arg(long, value_name = "VERSION")]
    to: Option<String>,
    /// Accept R3 data loss for a non-persistent group without a mirror: give the cluster name.
    #[arg(long, value_name = "CLUSTER")]
    accept_data_loss: Option<String>,
    /// Print the plan as JSON.
    #[arg(long)]
    json: bool,
}

/// Prints the plan (text or JSON), or the refusal with its exit code.
pub(super) fn run(a: &PlanArgs) -> u8 {
    let cluster = match load_config(&a.cfg.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (target, explicit) = match parse_target(a.to.as_deref(), &cluster) {
        Ok(t) => t,
        Err(c) => return c,
    };
    let accept = match typed_name_matches(a.accept_data_loss.as_deref(), &cluster, "--accept-data-loss") {
        Ok(b) => b,
        Err(c) => return c,
    };
    let observed: Observed = match &a.assume {
        Some(p) => match load_assumed(p, &cluster) {
            Ok(o) => o,
            Err(code) => return code,
        },
        None => match runtime().map(|rt| rt.block_on(probe_once(&cluster))) {
            Ok(Ok(snap)) => {
                let down = snap.unreachable();
                if !down.is_empty() {
                    say!("probed {} hosts; unreachable: {}", snap.nodes.len(), down.join(", "));
                }
                snap.observed()
            }
            Ok(Err(code)) | Err(code) => return code,
        },
    };
    let ctx = RunContext { accept_data_loss: accept, downgrade_intended: explicit, ..Default::default() };
    let req = PlanRequest { cluster: &cluster, observed: &observed, target, context: &ctx };
    match plan::plan(&req) {
        Ok(p) => {
            if a.json {
                match serde_json::to_string_pretty(&p) {
                    Ok(s) => print_out(&format!("{s}\n")).err().unwrap_or(exit::OK),
                    Err(e) => {
                        say!("cannot encode the plan as JSON: {e}");
                        exit::FAILED
                    }
                }
            } else {
                print_out(&plan::render::to_text(&p)).err().unwrap_or(exit::OK)
            }
        }
        Err(r) => {
            if a.json
                && let Ok(s) = serde_json::to_string_pretty(&r)
                && let Err(code) = print_out(&format!("{s}\n"))
                && code != exit::OK
            {
                return code;
            }
            report_refusal(&r)
        }
    }
}

/// Reads the `--assume` state file. Its errors name `--assume` (not `-c`), and a file that
/// describes no node is refused: planning for it would call every node unreachable (exit 4),
/// which is not what the operator's file says.
fn load_assumed(path: &std::path::Path, cluster: &crate::model::Cluster) -> Result<Observed, u8> {
    match config::observed_file::load(path, cluster) {
        Ok(o) if o.nodes.is_empty() => {
            say!(
                "--assume: {} describes no nodes; give `[nodes.NAME]` tables or a saved `rollpilot status --json`",
                path.display()
            );
            Err(exit::USAGE)
        }
        Ok(o) => Ok(o),
        Err(config::LoadError::Read { source, .. }) => {
            say!(
                "--assume: cannot read the state file {} ({source}); check the path given with --assume",
                path.display()
            );
            Err(exit::USAGE)
        }
        Err(e) => {
            say!("{}", e.render());
            Err(exit::USAGE)
        }
    }
}
