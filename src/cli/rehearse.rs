//! `rollpilot rehearse`: practise the maintenance window on a simulated twin of the operator's
//! own cluster (same groups, members, roles and versions; same plan), with faults on cue, a
//! projected duration and a rehearsal report. Nothing is run on real hosts; `--probe` only reads
//! their status.

use super::common::say;
use super::common::{load_config, probe_once, runtime, wants_headless};
use super::exit;
use super::upgrade::{RunRequest, prepare, run_prepared};
use crate::model::Observed;
use crate::plan::{self, PlanRequest, RunContext};
use crate::rehearse::{self, compare, faults, report, timings};
use clap::Args;
use std::path::{Path, PathBuf};

/// Arguments of `rollpilot rehearse`.
#[derive(Debug, Args)]
pub(super) struct RehearseArgs {
    /// The operator's cluster config (the real one; nothing in it is contacted without --probe).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: PathBuf,
    /// Start the twin in an assumed state (TOML [nodes.NAME] tables, or saved `status --json`).
    #[arg(long, value_name = "STATE_FILE", conflicts_with = "probe")]
    assume: Option<PathBuf>,
    /// Read the real cluster's status over ssh (read-only probes, nothing else) to start the twin in it.
    #[arg(long)]
    probe: bool,
    /// Inject a fault on cue: fail-install@NODE, stall-sync@NODE, crash@NODE, hang-stop@NODE (repeatable).
    #[arg(long, value_name = "KIND@NODE")]
    fault: Vec<String>,
    /// Run without the TUI (needs --yes).
    #[arg(long)]
    headless: bool,
    /// Headless: confirm ordinary steps.
    #[arg(long)]
    yes: bool,
    /// Headless: the cluster name, for steps that need a typed confirmation.
    #[arg(long, value_name = "CLUSTER")]
    confirm: Option<String>,
    /// Headless: what a failure leads to: abort, rollback, retry or retry:N.
    #[arg(long, value_name = "POLICY", value_parser = crate::run::headless::OnFailure::parse, default_value = "abort")]
    on_failure: crate::run::headless::OnFailure,
    /// Project step durations from this real run of the same cluster (its id, see `rollpilot report`).
    #[arg(long, value_name = "RUN_ID")]
    timings: Option<String>,
    /// Where real runs live (read for --timings; default: $XDG_STATE_HOME/rollpilot).
    #[arg(long, value_name = "DIR", env = "ROLLPILOT_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Where rehearsal journals and reports go (default: <state dir>/rehearsals, never among real runs).
    #[arg(long, value_name = "DIR")]
    rehearsal_dir: Option<PathBuf>,
    /// Keep the twin running afterwards (stop it with `rollpilot sim down --dir DIR`).
    #[arg(long)]
    keep: bool,
}

/// Builds the twin, checks its plan is the real one, runs it, reports, tears it down.
pub(super) fn run(a: &RehearseArgs) -> u8 {
    let headless = wants_headless(a.headless, false);
    if headless && !a.yes {
        say!(
            "`rollpilot rehearse --headless` confirms steps by flag: add --yes (or run it in a terminal to drive it yourself)"
        );
        return exit::USAGE;
    }
    let cluster = match load_config(&a.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let text = match std::fs::read_to_string(&a.config) {
        Ok(t) => t,
        Err(e) => {
            say!("cannot read {}: {e}", a.config.display());
            return exit::USAGE;
        }
    };
    let members: Vec<String> = cluster.groups.iter().flat_map(|g| g.nodes.iter().map(|n| n.name.clone())).collect();
    let mut cues = Vec::new();
    for f in &a.fault {
        match faults::FaultCue::parse(f, &members) {
            Ok(c) => cues.push(c),
            Err(e) => {
                say!("{e}");
                return exit::USAGE;
            }
        }
    }
    let real_state_dir = crate::paths::state_dir(a.state_dir.as_deref());
    let measured = match &a.timings {
        Some(id) => match load_timings(&real_state_dir, &cluster.name, id) {
            Ok(m) => Some(m),
            Err(code) => return code,
        },
        None => None,
    };
    // The starting state: assumed, probed (read-only), or plausible.
    let (given, starting): (Option<Observed>, String) = if let Some(p) = &a.assume {
        match crate::config::observed_file::load(p, &cluster) {
            Ok(o) if !o.nodes.is_empty() => (Some(o), format!("assumed from {}", p.display())),
            Ok(_) => {
                say!(
                    "--assume: {} describes no nodes; give `[nodes.NAME]` tables or a saved `rollpilot status --json`",
                    p.display()
                );
                return exit::USAGE;
            }
            Err(e) => {
                say!("--assume: {}", e.render());
                return exit::USAGE;
            }
        }
    } else if a.probe {
        match runtime().map(|rt| rt.block_on(probe_once(&cluster))) {
            Ok(Ok(snap)) => (Some(snap.observed()), "probed from the real hosts (read-only status probes)".into()),
            Ok(Err(code)) | Err(code) => return code,
        }
    } else {
        (None, "plausible: no --assume or --probe given".into())
    };
    let (topology, mut shape) = match crate::sim::twin::shape_for(&cluster, given.as_ref()) {
        Ok(x) => x,
        Err(e) => {
            say!("rollpilot rehearse: {e}");
            return exit::USAGE;
        }
    };
    let op_table: toml::Table = toml::from_str(&text).unwrap_or_default();
    let keys: Vec<Vec<String>> =
        shape.groups.iter().map(|g| crate::sim::twin::twin_group_keys(&op_table, &shape, &g.name)).collect();
    for (g, k) in shape.groups.iter_mut().zip(keys) {
        g.keys = k;
    }
    if shape.sim_kinds.is_some() {
        // Simulated replicated members validate their groups under the operator's own settings.
        shape.cluster_keys = crate::sim::twin::cluster_keys(&op_table);
    }
    let dir = std::env::temp_dir().join(format!("rollpilot-rehearse-{}", crate::probe::nonce()));
    say!(
        "REHEARSAL: building a simulated twin of {} in {} (local processes on 127.0.0.1; nothing runs on real hosts)...",
        cluster.name,
        dir.display()
    );
    let mut opts = crate::sim::UpOptions::new(&dir, topology);
    opts.shape = Some(shape.clone());
    // Persistence is a Terracotta setting of the simulator; other twins keep their product's.
    opts.persistent = cluster.persistent || topology != crate::sim::Topology::Terracotta;
    let outcome = match crate::sim::up(&opts) {
        Ok(info) => {
            let guard = crate::sim::SimGuard::new(&dir);
            // Members the state says are stopped are stopped on the twin before its first probe.
            let down = crate::sim::twin::stopped_members(&cluster, given.as_ref());
            if !down.is_empty() {
                if let Err(e) = crate::sim::twin::stop_members(&dir, &down) {
                    say!("REHEARSAL: the twin cannot start as the state says: {e}");
                    drop(guard);
                    let _ = crate::sim::down(&dir);
                    let _ = std::fs::remove_dir_all(&dir);
                    return exit::FAILED;
                }
                say!("REHEARSAL: {} stopped on the twin, as the starting state says", down.join(", "));
            }
            let code = rehearse_on(a, &cluster, &text, &info, &shape, given, starting, measured, &cues, headless);
            if a.keep {
                std::mem::forget(guard);
                say!(
                    "REHEARSAL: the twin keeps running in {}; `rollpilot sim down --dir {}` when done",
                    dir.display(),
                    dir.display()
                );
                return code;
            }
            drop(guard);
            code
        }
        Err(e) => {
            say!("REHEARSAL: the twin did not start: {e}");
            exit::FAILED
        }
    };
    let _ = crate::sim::down(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// Step durations of a real run of this cluster.
fn load_timings(
    state_dir: &Path,
    cluster: &str,
    id: &str,
) -> Result<(String, std::collections::BTreeMap<String, u64>), u8> {
    use crate::run::runs;
    let Some(r) = runs::list(state_dir, Some(cluster)).into_iter().find(|r| r.run == id) else {
        say!(
            "--timings {id}: no run {id} of {cluster} in {}; `rollpilot report -c FILE` names the runs",
            state_dir.join("runs").display()
        );
        return Err(exit::USAGE);
    };
    match runs::load(&r) {
        Ok((entries, _)) => Ok((id.to_string(), timings::step_durations(&entries))),
        Err(e) => {
            say!("--timings {id}: {e}");
            Err(exit::USAGE)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn rehearse_on(
    a: &RehearseArgs,
    cluster: &crate::model::Cluster,
    text: &str,
    info: &crate::sim::SimInfo,
    shape: &crate::sim::twin::TwinShape,
    given: Option<Observed>,
    starting: String,
    measured: Option<(String, std::collections::BTreeMap<String, u64>)>,
    cues: &[faults::FaultCue],
    headless: bool,
) -> u8 {
    use crate::run::{executor, headless as hl, runs};
    let sim_text = match std::fs::read_to_string(&info.config) {
        Ok(t) => t,
        Err(e) => {
            say!("REHEARSAL: cannot read the twin's config: {e}");
            return exit::FAILED;
        }
    };
    let (twin_text, stood_in) = match crate::sim::twin::twin_config(text, &sim_text) {
        Ok(x) => x,
        Err(e) => {
            say!("REHEARSAL: {e}");
            return exit::FAILED;
        }
    };
    let twin_path = info.dir.join("twin.toml");
    if let Err(e) = std::fs::write(&twin_path, twin_text) {
        say!("REHEARSAL: cannot write {}: {e}", twin_path.display());
        return exit::FAILED;
    }
    let twin = match load_config(&twin_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // The twin as it is now; it stands for the real cluster's state when none was given.
    let twin_obs = match runtime().map(|rt| rt.block_on(probe_once(&twin))) {
        Ok(Ok(snap)) => snap.observed(),
        Ok(Err(code)) | Err(code) => return code,
    };
    let stopped = crate::sim::twin::stopped_members(cluster, given.as_ref());
    let real_obs = given.unwrap_or_else(|| twin_obs.clone());
    let ctx = RunContext::default();
    let real_plan = match plan::plan(&PlanRequest {
        cluster,
        observed: &real_obs,
        target: cluster.target.clone(),
        context: &ctx,
    }) {
        Ok(p) => p,
        Err(r) => {
            say!("REHEARSAL: the real cluster's plan is refused, so there is nothing to rehearse:");
            return super::common::report_refusal(&r);
        }
    };
    let twin_plan = match plan::plan(&PlanRequest {
        cluster: &twin,
        observed: &twin_obs,
        target: twin.target.clone(),
        context: &ctx,
    }) {
        Ok(p) => p,
        Err(r) => {
            say!(
                "REHEARSAL: the twin's plan is refused although the real one is not; the twin does not match the cluster:"
            );
            return super::common::report_refusal(&r);
        }
    };
    if let Some(d) = compare::difference(&real_plan, &twin_plan) {
        if !stopped.is_empty() {
            // The twin cannot play this state the way the real cluster would be upgraded from it.
            say!(
                "REHEARSAL: the plan from this state (with {} stopped) cannot be rehearsed: the twin started in it would not run the real plan ({d}); rehearse from a state where every member runs, or upgrade the stopped member first",
                stopped.join(", ")
            );
            return exit::USAGE;
        }
        say!("REHEARSAL: the twin would not run the real plan ({d}); not rehearsing something else");
        return exit::FAILED;
    }
    say!("REHEARSAL: the twin's plan is the real plan, {} steps, step by step", twin_plan.steps().count());
    let rehearsal_dir =
        a.rehearsal_dir.clone().unwrap_or_else(|| crate::paths::state_dir(a.state_dir.as_deref()).join("rehearsals"));
    let runs_dir = rehearsal_dir.join("runs").join(&cluster.name);
    let mut injected = faults::set_lasting(&info.dir, cues);
    for i in &injected {
        say!("REHEARSAL: fault {}: {}", i.fault, i.result);
    }
    let crash = faults::CrashCue::start(&info.dir, runs_dir.clone(), cues);
    let mode = if headless { executor::Mode::Headless } else { executor::Mode::Tui };
    // Rehearsals are disposable: an unfinished earlier rehearsal is closed, never resumed.
    let again = format!("rollpilot rehearse -c {}", crate::model::shell_quote(&a.config.display().to_string()));
    let code = match prepare(&RunRequest {
        config: &twin_path,
        state_dir: Some(&rehearsal_dir),
        to: None,
        accept_data_loss: None,
        operator: None,
        resume: false,
        mode,
        abandon_previous: Some(&cluster.name),
        resume_flags: Vec::new(),
        pause: None,
        deadline: None,
    }) {
        Ok(Some(mut p)) => {
            // A rehearsal is never resumed (its twin is torn down): every "continue with"
            // hint names the command that practises again on a new twin.
            p.cfg.resume_command = again.clone();
            let opts = headless.then(|| hl::Options {
                yes: a.yes,
                confirm: a.confirm.clone(),
                json: false,
                on_failure: a.on_failure,
                break_lock: false,
            });
            let tui = crate::tui::TuiOptions {
                quiet: false,
                readonly: None,
                shell_allowed: false,
                window_end: None,
                rehearsal: Some(info.dir.clone()),
            };
            run_prepared(p, opts, tui)
        }
        Ok(None) => exit::OK,
        Err(code) => code,
    };
    injected.extend(crash.finish());
    injected.extend(faults::from_tui(&info.dir));
    let verdict = crate::sim::verify(&info.dir);
    let (ack, present, lost) = match &verdict {
        Ok(v) => (v.acknowledged, v.present, v.lost),
        Err(_) => (0, 0, 0),
    };
    let Some(run) = runs::list(&rehearsal_dir, Some(&cluster.name)).pop() else {
        say!("REHEARSAL: the run left no journal in {}", rehearsal_dir.display());
        return if code == exit::OK { exit::FAILED } else { code };
    };
    let (entries, state) = match runs::load(&run) {
        Ok(x) => x,
        Err(e) => {
            say!("REHEARSAL: {e}");
            return exit::FAILED;
        }
    };
    let projection = timings::project(&real_plan, cluster, measured.as_ref().map(|(id, m)| (id.as_str(), m)));
    let rep = report::RehearsalReport {
        cluster: cluster.name.clone(),
        config: a.config.display().to_string(),
        starting_state: starting,
        assumptions: shape.assumptions.clone(),
        stood_in,
        plan: compare::step_keys(&real_plan),
        same_plan_as_real: true,
        point_of_no_return: real_plan.point_of_no_return.as_ref().map(|m| m.text.clone()),
        projection,
        faults: injected,
        events: report::events(&entries),
        outcome: state.finished.clone().unwrap_or_else(|| "unfinished".into()),
        acknowledged: ack,
        present,
        lost,
    };
    let run_dir = run.journal.parent().map(Path::to_path_buf).unwrap_or_else(|| rehearsal_dir.clone());
    if let Ok(j) = serde_json::to_string_pretty(&real_obs) {
        let _ = std::fs::write(run_dir.join(rehearse::STARTING_STATE), j);
    }
    let md = report::markdown(&rep);
    let _ = std::fs::write(run_dir.join(rehearse::REPORT_MD), &md);
    if let Ok(j) = serde_json::to_string_pretty(&rep) {
        let _ = std::fs::write(run_dir.join(rehearse::REPORT_JSON), j);
    }
    say!("REHEARSAL: run {} of {} ended {}", run.run, cluster.name, rep.outcome);
    if rep.outcome != "done" {
        say!("REHEARSAL: a rehearsal is not resumed (its twin is torn down); `{again}` practises again from the start");
    }
    match &verdict {
        Ok(v) => say!("REHEARSAL: data check on the twin: {}", v.summary()),
        Err(e) => say!("REHEARSAL: could not check the twin's data: {e}"),
    }
    say!(
        "REHEARSAL: projected duration of the real window: {} ({})",
        timings::human(rep.projection.total_secs),
        rep.projection.assumption
    );
    say!(
        "REHEARSAL: report: rollpilot report {} --state-dir {}",
        run.run,
        crate::model::shell_quote(&rehearsal_dir.display().to_string())
    );
    if verdict.is_err() || lost > 0 {
        return exit::FAILED;
    }
    code
}
