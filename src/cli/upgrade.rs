//! `rollpilot upgrade` and `rollpilot resume`: settle the run, refuse early what cannot run,
//! then hand over to the session (TUI or headless).

use super::common::{
    ConfigArg, load_config, machine_name, operator_name, parse_target, report_refusal, runtime, typed_name_matches,
    usable_state_dir, wants_headless,
};
use super::exit;
use crate::plan::{self, PlanRequest, RunContext};
use clap::Args;
use semver::Version;
use std::path::PathBuf;

/// Arguments of `rollpilot upgrade` and `rollpilot resume`.
#[derive(Debug, Args)]
pub(super) struct UpgradeArgs {
    #[command(flatten)]
    cfg: ConfigArg,
    /// Target version instead of the config's (lower than the running version: a rolling downgrade).
    #[arg(long, value_name = "VERSION")]
    to: Option<String>,
    /// No TUI: print progress and decide from --yes/--confirm/--on-failure (implied without a terminal).
    #[arg(long)]
    headless: bool,
    /// Headless: confirm ordinary steps (and optional ones such as failback under `ask`).
    #[arg(long)]
    yes: bool,
    /// Headless: the cluster name, for steps that need a typed confirmation (R2, downgrade, skip).
    #[arg(long, value_name = "CLUSTER")]
    confirm: Option<String>,
    /// Accept R3 data loss for a non-persistent group without a mirror: give the cluster name.
    #[arg(long, value_name = "CLUSTER")]
    accept_data_loss: Option<String>,
    /// Headless: what a failure leads to.
    #[arg(long, value_enum, default_value = "abort")]
    on_failure: crate::run::headless::OnFailure,
    /// Headless: break another operator's EXPIRED lock (with --confirm=CLUSTER).
    #[arg(long)]
    break_lock: bool,
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

/// What `upgrade`, `resume` and `demo` settle before anything runs.
pub(super) struct Prepared {
    cfg: crate::run::executor::RunConfig,
}

/// Builds the run configuration: a new run, or the newest interrupted one (`resume`).
/// `Ok(None)` means there is nothing to resume.
pub(super) fn prepare(
    config: &std::path::Path,
    state_dir: PathBuf,
    to: Option<&str>,
    accept_data_loss: Option<&str>,
    operator: Option<&str>,
    resume: bool,
    mode: crate::run::executor::Mode,
) -> Result<Option<Prepared>, u8> {
    use crate::run::{executor, journal, runs};
    let cluster = load_config(config)?;
    let accept = typed_name_matches(accept_data_loss, &cluster, "--accept-data-loss")?;
    let (mut target, mut explicit) = parse_target(to, &cluster)?;
    let mut resume_from = None;
    if resume {
        match runs::resumable(&state_dir, &cluster.name) {
            Err(e @ journal::JournalError::Newer { .. }) => {
                eprintln!("{e}");
                return Err(exit::REFUSED);
            }
            Err(e) => {
                eprintln!("{e}");
                return Err(exit::FAILED);
            }
            Ok(None) => {
                eprintln!(
                    "nothing to resume for {}: no interrupted run in {}",
                    cluster.name,
                    state_dir.join("runs").join(&cluster.name).display()
                );
                return Ok(None);
            }
            Ok(Some((r, _entries, state))) => {
                if let Ok(t) = Version::parse(&state.target) {
                    if to.is_some() && t != target {
                        eprintln!(
                            "run {} targets {}; --to {} does not apply to a resumed run",
                            r.run, state.target, target
                        );
                        return Err(exit::USAGE);
                    }
                    target = t;
                }
                explicit = state.context.downgrade_intended;
                resume_from = Some(executor::ResumeFrom { run: r.run.clone(), journal: r.journal.clone(), state });
            }
        }
    }
    let config_text = std::fs::read_to_string(config).unwrap_or_default();
    Ok(Some(Prepared {
        cfg: executor::RunConfig {
            cluster: std::sync::Arc::new(cluster),
            config_path: config.to_path_buf(),
            config_hash: journal::fingerprint(&config_text),
            target,
            context: RunContext { accept_data_loss: accept, downgrade_intended: explicit, ..Default::default() },
            state_dir,
            operator: operator_name(operator),
            machine: machine_name(),
            mode,
            resume: resume_from,
        },
    }))
}

/// Refuses before the lock is taken when a new run's plan is refused, or cannot run headless
/// as the flags ask (a typed confirmation or `--yes` missing).
async fn preflight(
    p: &Prepared,
    transport: &std::sync::Arc<dyn crate::transport::Transport>,
    headless: Option<(&crate::run::headless::Options, &std::path::Path)>,
) -> Result<(), u8> {
    let cfg = &p.cfg;
    if cfg.resume.is_some() {
        return Ok(());
    }
    let poller = crate::probe::Poller::new(cfg.cluster.clone(), transport.clone());
    let snap = poller.refresh().await;
    let observed = snap.observed();
    let plan = plan::plan(&PlanRequest {
        cluster: &cfg.cluster,
        observed: &observed,
        target: cfg.target.clone(),
        context: &cfg.context,
    })
    .map_err(|r| report_refusal(&r))?;
    if let Some((opts, config)) = headless {
        let name = cfg.cluster.name.as_str();
        if !plan.typed_confirmations.is_empty() && opts.confirm.as_deref() != Some(name) {
            eprintln!(
                "this plan needs typed confirmation ({}); pass --confirm={name} to run it headless",
                plan.typed_confirmations.iter().map(|t| t.reason.clone()).collect::<Vec<_>>().join("; ")
            );
            return Err(exit::REFUSED);
        }
        if !plan.is_empty() && !opts.yes {
            eprintln!(
                "a headless run confirms every step by flag: pass --yes (and --confirm={name} for typed confirmations); `rollpilot plan -c {}` shows what would run",
                config.display()
            );
            return Err(exit::USAGE);
        }
    }
    Ok(())
}

/// Runs a prepared session with the right face and returns the exit code.
pub(super) fn run_prepared(p: Prepared, headless: Option<crate::run::headless::Options>) -> u8 {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(c) => return c,
    };
    let config = p.cfg.config_path.clone();
    rt.block_on(async move {
        let transport = match crate::transport::for_cluster(&p.cfg.cluster) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{e}");
                return exit::FAILED;
            }
        };
        if let Err(code) = preflight(&p, &transport, headless.as_ref().map(|o| (o, config.as_path()))).await {
            transport.close().await;
            return code;
        }
        let face = match headless {
            Some(o) => crate::session::Face::Headless(o),
            None => crate::session::Face::Tui,
        };
        let out = crate::session::run(p.cfg, transport.clone(), face).await;
        transport.close().await;
        if let Some(m) = &out.message {
            eprintln!("rollpilot: {m}");
        }
        out.code
    })
}

/// `upgrade` (a new run) or `resume` (the newest interrupted run of this cluster).
pub(super) fn upgrade(a: &UpgradeArgs, resume: bool) -> u8 {
    use crate::run::{executor, headless};
    let headless_mode = wants_headless(a.headless, a.json);
    let mode = if headless_mode { executor::Mode::Headless } else { executor::Mode::Tui };
    if let Some(d) = &a.state_dir
        && let Err(code) = usable_state_dir(d)
    {
        return code;
    }
    let state_dir = crate::paths::state_dir(a.state_dir.as_deref());
    let p = match prepare(
        &a.cfg.config,
        state_dir,
        a.to.as_deref(),
        a.accept_data_loss.as_deref(),
        a.operator.as_deref(),
        resume,
        mode,
    ) {
        Ok(Some(p)) => p,
        Ok(None) => return exit::OK,
        Err(code) => return code,
    };
    let opts = headless_mode.then(|| headless::Options {
        yes: a.yes,
        confirm: a.confirm.clone(),
        json: a.json,
        on_failure: a.on_failure,
        break_lock: a.break_lock,
    });
    run_prepared(p, opts)
}
