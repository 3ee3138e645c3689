//! `rollpilot plan`: the plan for a rollout, probed live or for an assumed state (`--assume`).

use super::common::{ConfigArg, load_config, parse_target, probe_once, report_refusal, runtime, typed_name_matches};
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
        Some(p) => match config::observed_file::load(p, &cluster) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("{}", e.render());
                return exit::USAGE;
            }
        },
        None => match runtime().map(|rt| rt.block_on(probe_once(&cluster))) {
            Ok(Ok(snap)) => {
                let down = snap.unreachable();
                if !down.is_empty() {
                    eprintln!("probed {} hosts; unreachable: {}", snap.nodes.len(), down.join(", "));
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
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("cannot encode the plan as JSON: {e}");
                        return exit::FAILED;
                    }
                }
            } else {
                print!("{}", plan::render::to_text(&p));
            }
            exit::OK
        }
        Err(r) => {
            if a.json
                && let Ok(s) = serde_json::to_string_pretty(&r)
            {
                println!("{s}");
            }
            report_refusal(&r)
        }
    }
}
