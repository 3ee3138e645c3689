//! `rollpilot upgrade` and `rollpilot resume`: settle the run, refuse early what cannot run,
//! then hand over to the session (TUI or headless).

use super::common::say;
use super::common::{
    ConfigArg, WindowArgs, load_config, machine_name, operator_name, parse_target, report_refusal, runtime,
    typed_name_matches, usable_state_dir, wants_headless,
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
    /// Headless: what a failure leads to: `abort`, `rollback` (reinstall the version the node
    /// ran when the run began), `retry` or `retry:N` (N more attempts per step; a check that
    /// timed out is waited for again).
    #[arg(long, value_name = "POLICY", value_parser = crate::run::headless::OnFailure::parse, default_value = "abort")]
    on_failure: crate::run::headless::OnFailure,
    /// Which confirmations to give: `every` node sequence (default), the `first` of each group
    /// (a canary; the rest go on by themselves while every gate holds), or `none` (only typed
    /// and optional questions). Any failure, drift or gate timeout returns to `every`.
    #[arg(long, value_name = "POLICY", value_parser = crate::run::events::PausePolicy::parse)]
    pause: Option<crate::run::events::PausePolicy>,
    /// Start a new run although an unfinished one exists for this cluster: give the cluster
    /// name. The unfinished run is closed as abandoned in its journal (its report keeps it).
    #[arg(long, value_name = "CLUSTER")]
    abandon_previous: Option<String>,
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
    #[command(flatten)]
    window: WindowArgs,
}

/// What `upgrade`, `resume` and `demo` settle before anything runs.
pub(super) struct Prepared {
    pub(super) cfg: crate::run::executor::RunConfig,
}

/// What a run is asked to be, from the command line (or the demo).
pub(super) struct RunRequest<'a> {
    /// The cluster config file.
    pub config: &'a std::path::Path,
    /// `--state-dir` (or its environment variable), when given.
    pub state_dir: Option<&'a std::path::Path>,
    /// `--to`.
    pub to: Option<&'a str>,
    /// `--accept-data-loss=NAME`.
    pub accept_data_loss: Option<&'a str>,
    /// `--operator`.
    pub operator: Option<&'a str>,
    /// `resume` rather than `upgrade`.
    pub resume: bool,
    /// TUI or headless.
    pub mode: crate::run::executor::Mode,
    /// `--abandon-previous=NAME`.
    pub abandon_previous: Option<&'a str>,
    /// The flags a `resume` of this run needs to behave the same way (headless decisions).
    pub resume_flags: Vec<String>,
    /// `--pause`.
    pub pause: Option<crate::run::events::PausePolicy>,
    /// `--budget` / `--window-end` (a resume gets its own: the hint does not repeat them).
    pub deadline: Option<crate::run::executor::Deadline>,
}

/// The exact command that continues a run of `config`: the state directory when it is not the
/// default, and the flags the face needs. Every resume hint rollpilot prints is this one.
pub(super) fn resume_command(
    config: &std::path::Path,
    state_dir: Option<&std::path::Path>,
    flags: &[String],
) -> String {
    use crate::model::shell_quote;
    let mut c = format!("rollpilot resume -c {}", shell_quote(&config.display().to_string()));
    if let Some(d) = state_dir
        && d != crate::paths::state_dir(None)
    {
        c.push_str(&format!(" --state-dir {}", shell_quote(&d.display().to_string())));
    }
    for f in flags {
        c.push(' ');
        c.push_str(&shell_quote(f));
    }
    c
}

/// A state directory that cannot hold journals is a usage error, said before anything runs.
fn check_state_dir(state_dir: &std::path::Path) -> Result<(), u8> {
    let runs = state_dir.join("runs");
    for p in [state_dir, runs.as_path()] {
        if p.exists() && !p.is_dir() {
            say!(
                "the state directory {} is not usable: {} is a file, not a directory; pass --state-dir with a directory",
                state_dir.display(),
                p.display()
            );
            return Err(exit::USAGE);
        }
    }
    if runs.is_dir()
        && let Err(e) = std::fs::read_dir(&runs)
    {
        say!(
            "the state directory {} cannot be read ({e}); fix its permissions or pass another --state-dir",
            runs.display()
        );
        return Err(exit::USAGE);
    }
    Ok(())
}

/// Builds the run configuration: a new run, or the newest interrupted one (`resume`).
/// `Ok(None)` means there is nothing to resume. A new run is refused while an unfinished one
/// exists for the cluster (it points at `resume`), unless the operator abandons it by name.
pub(super) fn prepare(r: &RunRequest<'_>) -> Result<Option<Prepared>, u8> {
    use crate::run::{executor, journal, runs};
    let config = r.config;
    let cluster = load_config(config)?;
    let accept = typed_name_matches(r.accept_data_loss, &cluster, "--accept-data-loss")?;
    let abandon = typed_name_matches(r.abandon_previous, &cluster, "--abandon-previous")?;
    let (mut target, mut explicit) = parse_target(r.to, &cluster)?;
    let state_dir = crate::paths::state_dir(r.state_dir);
    check_state_dir(&state_dir)?;
    let hint = resume_command(config, Some(&state_dir), &r.resume_flags);
    let unfinished = match runs::resumable(&state_dir, &cluster.name) {
        Err(e @ journal::JournalError::Newer { .. }) => {
            say!("{e}");
            return Err(exit::REFUSED);
        }
        Err(e) => {
            say!("{e}; fix or move that journal, then try again");
            return Err(exit::USAGE);
        }
        Ok(u) => u,
    };
    let mut resume_from = None;
    if r.resume {
        match unfinished {
            None => {
                say!(
                    "nothing to resume for {}: no interrupted run in {}",
                    cluster.name,
                    state_dir.join("runs").join(&cluster.name).display()
                );
                return Ok(None);
            }
            Some((run, _entries, state)) => {
                if state.started_at.is_none() {
                    say!(
                        "run {} of {} cannot be resumed: its journal {} has no start record (rollpilot stopped before writing it), so nothing ran under it and the versions its nodes ran are unknown; start again with `{}` (it closes that run)",
                        run.run,
                        cluster.name,
                        run.journal.display(),
                        hint.replacen("rollpilot resume", "rollpilot upgrade", 1)
                    );
                    return Err(exit::USAGE);
                }
                if let Ok(t) = Version::parse(&state.target) {
                    if r.to.is_some() && t != target {
                        say!(
                            "run {} targets {}; --to {} does not apply to a resumed run",
                            run.run,
                            state.target,
                            target
                        );
                        return Err(exit::USAGE);
                    }
                    target = t;
                }
                explicit = state.context.downgrade_intended;
                resume_from = Some(executor::ResumeFrom { run: run.run.clone(), journal: run.journal.clone(), state });
            }
        }
    } else if let Some((run, _entries, state)) = unfinished {
        // Killed between taking the lock and its start record: nothing ran under it, and it
        // cannot be resumed (the versions its nodes ran are unknown). Close it and start anew.
        let never_started = state.started_at.is_none();
        if !abandon && !never_started {
            say!(
                "run {} of {} is unfinished ({} steps done, target {}): continue it with `{hint}`; to start over instead, pass --abandon-previous={}",
                run.run,
                cluster.name,
                state.done_steps.len(),
                state.target,
                cluster.name
            );
            return Err(exit::REFUSED);
        }
        let mut j = journal::Journal::reopen(&run.journal, state.seq).map_err(|e| {
            say!("{e}");
            exit::USAGE
        })?;
        let by = operator_name(r.operator);
        let message = if never_started {
            format!("never started (rollpilot stopped before its start record); closed by {by} to start a new run")
        } else {
            format!("abandoned by {by} (--abandon-previous) to start a new run")
        };
        let record = journal::Record::RunFinished { outcome: "abandoned".into(), message };
        if let Err(e) = j.append(record) {
            say!("{e}");
            return Err(exit::USAGE);
        }
        if never_started {
            say!("rollpilot: run {} stopped before it started (nothing ran); closed it, starting a new run", run.run);
        } else {
            say!("rollpilot: run {} closed as abandoned; starting a new run", run.run);
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
            operator: operator_name(r.operator),
            machine: machine_name(),
            mode: r.mode,
            resume: resume_from,
            resume_command: hint,
            pause: r.pause,
            deadline: r.deadline.clone(),
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
            say!(
                "this plan needs typed confirmation ({}); pass --confirm={name} to run it headless",
                plan.typed_confirmations.iter().map(|t| t.reason.clone()).collect::<Vec<_>>().join("; ")
            );
            return Err(exit::REFUSED);
        }
        if !plan.is_empty() && !opts.yes {
            say!(
                "a headless run confirms every step by flag: pass --yes (and --confirm={name} for typed confirmations); `rollpilot plan -c {}` shows what would run",
                config.display()
            );
            return Err(exit::USAGE);
        }
    }
    Ok(())
}

/// Watches the cluster of `config` without driving it (`--readonly`, `top`); exit 0 on quit.
pub(super) fn watch_only(config: &std::path::Path, options: crate::tui::TuiOptions) -> u8 {
    let cluster = match load_config(config) {
        Ok(c) => std::sync::Arc::new(c),
        Err(code) => return code,
    };
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        say!(
            "watching needs a terminal (it is full-screen); `rollpilot status -c {}` prints the table once",
            config.display()
        );
        return exit::USAGE;
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(c) => return c,
    };
    rt.block_on(async move {
        let transport = match crate::transport::for_cluster(&cluster) {
            Ok(t) => t,
            Err(e) => {
                say!("{e}");
                return exit::FAILED;
            }
        };
        let out = crate::session::watch(cluster, config.to_path_buf(), transport.clone(), options).await;
        transport.close().await;
        if let Some(m) = &out.message {
            say!("rollpilot: {m}");
        }
        out.code
    })
}

/// Runs a prepared session with the right face and returns the exit code.
pub(super) fn run_prepared(
    p: Prepared,
    headless: Option<crate::run::headless::Options>,
    tui: crate::tui::TuiOptions,
) -> u8 {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(c) => return c,
    };
    let config = p.cfg.config_path.clone();
    rt.block_on(async move {
        let transport = match crate::transport::for_cluster(&p.cfg.cluster) {
            Ok(t) => t,
            Err(e) => {
                say!("{e}");
                return exit::FAILED;
            }
        };
        if let Err(code) = preflight(&p, &transport, headless.as_ref().map(|o| (o, config.as_path()))).await {
            transport.close().await;
            return code;
        }
        let face = match headless {
            Some(o) => crate::session::Face::Headless(o),
            None => crate::session::Face::Tui(tui),
        };
        let out = crate::session::run(p.cfg, transport.clone(), face).await;
        transport.close().await;
        if let Some(m) = &out.message {
            say!("rollpilot: {m}");
        }
        out.code
    })
}

/// `upgrade` (a new run) or `resume` (the newest interrupted run of this cluster).
pub(super) fn upgrade(a: &UpgradeArgs, resume: bool) -> u8 {
    use crate::run::{executor, headless};
    let headless_mode = wants_headless(a.headless, a.json);
    if a.window.readonly {
        if a.headless || a.json {
            say!(
                "--readonly opens the full-screen observer; it has no headless form (`rollpilot status` prints the table)"
            );
            return exit::USAGE;
        }
        let options = crate::tui::TuiOptions {
            rehearsal: None,
            quiet: true,
            readonly: Some("--readonly: you watch this cluster, nothing is run from here".into()),
            shell_allowed: false,
            window_end: None,
        };
        return watch_only(&a.cfg.config, options);
    }
    let deadline = match a.window.deadline() {
        Ok(d) => d,
        Err(code) => return code,
    };
    let mode = if headless_mode { executor::Mode::Headless } else { executor::Mode::Tui };
    if let Some(d) = &a.state_dir
        && let Err(code) = usable_state_dir(d)
    {
        return code;
    }
    let mut resume_flags = Vec::new();
    if headless_mode {
        resume_flags.push("--headless".to_string());
        if a.yes {
            resume_flags.push("--yes".into());
        }
        if let Some(c) = &a.confirm {
            resume_flags.push(format!("--confirm={c}"));
        }
        if a.on_failure != headless::OnFailure::Abort {
            resume_flags.push(format!("--on-failure={}", a.on_failure.as_flag()));
        }
        if a.json {
            resume_flags.push("--json".into());
        }
    }
    if let Some(o) = &a.operator {
        resume_flags.push(format!("--operator={o}"));
    }
    let p = match prepare(&RunRequest {
        config: &a.cfg.config,
        state_dir: a.state_dir.as_deref(),
        to: a.to.as_deref(),
        accept_data_loss: a.accept_data_loss.as_deref(),
        operator: a.operator.as_deref(),
        resume,
        mode,
        abandon_previous: a.abandon_previous.as_deref(),
        resume_flags,
        pause: a.pause,
        deadline: deadline.clone(),
    }) {
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
    run_prepared(p, opts, a.window.tui_options(deadline.as_ref()))
}
