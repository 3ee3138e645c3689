//! `rollpilot finalize`: the deferred finalize of a finished upgrade, as a run of its own —
//! journaled, under the operator lock, with a typed confirmation — after showing how long the
//! cluster has run the new version, so the operator decides with the monitoring time in view
//! (CockroachDB: keep the downgrade option "generally at least a day").

use super::common::say;
use super::common::{
    ConfigArg, load_config, machine_name, operator_name, probe_once, report_refusal, runtime, usable_state_dir,
    wants_headless,
};
use super::exit;
use crate::model::Cluster;
use crate::plan::{self, Action, PlanRequest, RunContext};
use crate::run::{executor, headless, journal, runs};
use clap::Args;
use std::path::{Path, PathBuf};

/// Arguments of `rollpilot finalize`.
#[derive(Debug, Args)]
pub(super) struct FinalizeArgs {
    #[command(flatten)]
    cfg: ConfigArg,
    /// No TUI: print progress; finalize only with --confirm=CLUSTER (implied without a terminal).
    #[arg(long)]
    headless: bool,
    /// The cluster name: the typed confirmation of finalize (headless).
    #[arg(long, value_name = "CLUSTER")]
    confirm: Option<String>,
    /// Headless: print JSON events, one per line.
    #[arg(long)]
    json: bool,
    /// Where journals and reports live (default: $XDG_STATE_HOME/rollpilot).
    #[arg(long, value_name = "DIR", env = "ROLLPILOT_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Operator name recorded in the lock, the journal and the report (default: $USER).
    #[arg(long, value_name = "NAME")]
    operator: Option<String>,
}

/// What earlier runs say about the target: when a finished run reached it, and whether one
/// already finalized it.
struct History {
    reached: Option<(String, jiff::Timestamp)>,
    finalized: Option<(String, jiff::Timestamp)>,
}

fn history(state_dir: &Path, cluster: &Cluster) -> History {
    let mut h = History { reached: None, finalized: None };
    for r in runs::list(state_dir, Some(&cluster.name)) {
        let Ok((entries, state)) = runs::load(&r) else { continue };
        let Some(last) = entries.last().map(|e| e.ts) else { continue };
        if state.target == cluster.target.to_string() && state.finished.as_deref() == Some("done") {
            h.reached.get_or_insert((r.run.clone(), last));
        }
        if state.context.finalized.values().any(|v| *v == cluster.target) {
            h.finalized = Some((r.run.clone(), last));
        }
    }
    h
}

/// "3d 4h", "2h 10m", "12m": how long, for a person.
fn how_long(since: jiff::Timestamp) -> String {
    let secs = jiff::Timestamp::now().as_second().saturating_sub(since.as_second()).max(0);
    let (d, h, m) = (secs / 86_400, (secs % 86_400) / 3600, (secs % 3600) / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else {
        format!("{m}m")
    }
}

/// Shows how long the cluster has run the target, refuses while an upgrade is unfinished or a
/// node is not on the target, then runs the finalize step as a run of its own.
pub(super) fn run(a: &FinalizeArgs) -> u8 {
    let cluster = match load_config(&a.cfg.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let kinds: Vec<&str> =
        cluster.kinds.values().filter(|k| k.commands.finalize.is_some()).map(|k| k.name.as_str()).collect();
    if kinds.is_empty() {
        say!(
            "{}: no kind has a `finalize` command, so there is nothing to finalize (add `finalize = \"...\"` to the kind)",
            a.cfg.config.display()
        );
        return exit::USAGE;
    }
    if let Some(d) = &a.state_dir
        && let Err(code) = usable_state_dir(d)
    {
        return code;
    }
    let state_dir = crate::paths::state_dir(a.state_dir.as_deref());
    match runs::resumable(&state_dir, &cluster.name) {
        Ok(Some((r, _, st))) => {
            say!(
                "run {} of {} is unfinished ({} steps done): finish it first with `rollpilot resume -c {}`; it offers finalize at its end",
                r.run,
                cluster.name,
                st.done_steps.len(),
                a.cfg.config.display()
            );
            return exit::REFUSED;
        }
        Err(e) => {
            say!("{e}; fix or move that journal, then try again");
            return exit::USAGE;
        }
        Ok(None) => {}
    }
    let h = history(&state_dir, &cluster);
    if let Some((run, at)) = &h.finalized {
        println!("{} was already finalized at {} by run {run} ({} ago)", cluster.name, cluster.target, how_long(*at));
        return exit::OK;
    }
    match &h.reached {
        Some((run, at)) => println!(
            "{} has run {} for {} (run {run} finished {at}); finalizing ends the possibility to roll back or downgrade",
            cluster.name,
            cluster.target,
            how_long(*at)
        ),
        None => println!(
            "no finished rollpilot run of {} to {} is recorded in {}: how long it has run {} is not known",
            cluster.name,
            cluster.target,
            state_dir.display(),
            cluster.target
        ),
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(c) => return c,
    };
    let cluster = std::sync::Arc::new(cluster);
    let context = RunContext { finalize_requested: true, ..Default::default() };
    let headless_mode = wants_headless(a.headless, a.json);
    let config_text = std::fs::read_to_string(&a.cfg.config).unwrap_or_default();
    let cfg = executor::RunConfig {
        cluster: cluster.clone(),
        config_path: a.cfg.config.clone(),
        config_hash: journal::fingerprint(&config_text),
        target: cluster.target.clone(),
        context,
        state_dir,
        operator: operator_name(a.operator.as_deref()),
        machine: machine_name(),
        mode: if headless_mode { executor::Mode::Headless } else { executor::Mode::Tui },
        resume: None,
        resume_command: format!(
            "rollpilot finalize -c {}",
            crate::model::shell_quote(&a.cfg.config.display().to_string())
        ),
        pause: None,
        deadline: None,
    };
    rt.block_on(async move {
        // Only a cluster that runs the target everywhere is finalized: refuse anything else
        // before the lock, with the plan's reasons.
        let snap = match probe_once(&cluster).await {
            Ok(s) => s,
            Err(code) => return code,
        };
        let observed = snap.observed();
        let p = match plan::plan(&PlanRequest {
            cluster: &cluster,
            observed: &observed,
            target: cluster.target.clone(),
            context: &cfg.context,
        }) {
            Ok(p) => p,
            Err(r) => return report_refusal(&r),
        };
        if p.is_empty() {
            println!(
                "nothing to finalize: {} reports it is already committed to the series of {} (parse.finalized)",
                cluster.name, cluster.target
            );
            return exit::OK;
        }
        let other: Vec<String> = p.steps().filter(|s| s.action != Action::Finalize).map(|s| s.id.clone()).collect();
        if !other.is_empty() {
            say!(
                "R14 point-of-no-return: not every node runs {} yet ({} still to do, e.g. {}): finish the upgrade with `rollpilot upgrade -c {}` first",
                cluster.target,
                other.len(),
                other[0],
                a.cfg.config.display()
            );
            return exit::REFUSED;
        }
        if headless_mode && a.confirm.as_deref() != Some(cluster.name.as_str()) {
            say!("finalize is irreversible: pass --confirm={} to finalize headless", cluster.name);
            return exit::REFUSED;
        }
        let transport = match crate::transport::for_cluster(&cluster) {
            Ok(t) => t,
            Err(e) => {
                say!("{e}");
                return exit::FAILED;
            }
        };
        let face = if headless_mode {
            crate::session::Face::Headless(headless::Options {
                yes: true,
                confirm: a.confirm.clone(),
                json: a.json,
                on_failure: headless::OnFailure::Abort,
                break_lock: false,
            })
        } else {
            crate::session::Face::Tui(Default::default())
        };
        let out = crate::session::run(cfg, transport.clone(), face).await;
        transport.close().await;
        if let Some(m) = &out.message {
            say!("rollpilot: {m}");
        }
        out.code
    })
}
