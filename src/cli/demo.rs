//! `rollpilot demo`: start a simulated cluster on this machine, upgrade it, check the data, clean up.

use super::common::say;
use super::common::wants_headless;
use super::exit;
use super::upgrade::{RunRequest, prepare, resume_command, run_prepared};
use clap::Args;

/// Arguments of `rollpilot demo`.
#[derive(Debug, Args)]
pub(super) struct DemoArgs {
    /// Which seed system to simulate: terracotta, streambase or exchange.
    #[arg(long, default_value = "terracotta")]
    topology: String,
    /// Run without the TUI (needs --yes).
    #[arg(long)]
    headless: bool,
    /// Headless: confirm every step.
    #[arg(long)]
    yes: bool,
    /// Which confirmations to give: every, first (a canary per group) or none.
    #[arg(long, value_name = "POLICY", value_parser = crate::run::events::PausePolicy::parse)]
    pause: Option<crate::run::events::PausePolicy>,
    /// Keep the simulated cluster and its journal afterwards (stop it with `rollpilot sim down`).
    #[arg(long)]
    keep: bool,
    #[command(flatten)]
    window: super::common::WindowArgs,
}

/// Runs the demo end to end; exit 1 if the run failed or an acknowledged write was lost.
pub(super) fn run(a: &DemoArgs) -> u8 {
    use crate::run::{executor, headless};
    use crate::sim::{self, Topology, UpOptions};
    let topology = match a.topology.as_str() {
        "terracotta" => Topology::Terracotta,
        "streambase" => Topology::Streambase,
        "exchange" => Topology::Exchange,
        "jsondb" => Topology::Jsondb,
        other => {
            say!("unknown topology {other}; choose terracotta, streambase, exchange or jsondb");
            return exit::USAGE;
        }
    };
    let headless_mode = wants_headless(a.headless, false);
    if a.window.readonly && a.headless {
        say!("--readonly opens the full-screen observer; it has no headless form");
        return exit::USAGE;
    }
    let deadline = match a.window.deadline() {
        Ok(d) => d,
        Err(code) => return code,
    };
    if headless_mode && !a.yes && !a.window.readonly {
        say!(
            "`rollpilot demo --headless` confirms every step by flag: add --yes (or run it in a terminal to drive it yourself)"
        );
        return exit::USAGE;
    }
    let dir = std::env::temp_dir().join(format!("rollpilot-demo-{}", crate::probe::nonce()));
    say!(
        "rollpilot demo: starting a simulated {} cluster in {} (real processes on 127.0.0.1)...",
        a.topology,
        dir.display()
    );
    let info = match sim::up(&UpOptions::new(&dir, topology)) {
        Ok(i) => i,
        Err(e) => {
            say!("rollpilot demo: the simulated cluster did not start: {e}");
            let _ = sim::down(&dir);
            let _ = std::fs::remove_dir_all(&dir);
            return exit::FAILED;
        }
    };
    let guard = sim::SimGuard::new(&dir);
    if a.window.readonly {
        let options = crate::tui::TuiOptions {
            rehearsal: None,
            quiet: true,
            readonly: Some("--readonly: you watch the simulated cluster, nothing is run from here".into()),
            shell_allowed: false,
            window_end: None,
        };
        let code = super::upgrade::watch_only(&info.config, options);
        drop(guard);
        let _ = sim::down(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        return code;
    }
    let mode = if headless_mode { executor::Mode::Headless } else { executor::Mode::Tui };
    let state_dir = dir.join("state");
    let resume_flags: Vec<String> = if headless_mode { vec!["--headless".into(), "--yes".into()] } else { Vec::new() };
    let code = match prepare(&RunRequest {
        config: &info.config,
        state_dir: Some(&state_dir),
        to: None,
        accept_data_loss: None,
        operator: None,
        resume: false,
        mode,
        abandon_previous: None,
        resume_flags: resume_flags.clone(),
        pause: a.pause,
        deadline: deadline.clone(),
    }) {
        Ok(Some(p)) => {
            let opts = headless_mode.then_some(headless::Options {
                yes: true,
                confirm: None,
                json: false,
                on_failure: headless::OnFailure::Abort,
                break_lock: false,
            });
            run_prepared(p, opts, a.window.tui_options(deadline.as_ref()))
        }
        Ok(None) => exit::OK,
        Err(code) => code,
    };
    // A run that stopped unfinished can be resumed: keep the cluster running and say how.
    let unfinished = crate::run::runs::list(&state_dir, None)
        .last()
        .and_then(|r| crate::run::runs::load(r).ok())
        .is_some_and(|(_, st)| !matches!(st.finished.as_deref(), Some("done" | "refused" | "locked")));
    if unfinished {
        std::mem::forget(guard);
        say!(
            "rollpilot demo: the run stopped unfinished; the simulated cluster keeps running in {}.\n  continue:  {}\n  clean up:  rollpilot sim down --dir {} && rm -rf {}",
            dir.display(),
            resume_command(&info.config, Some(&state_dir), &resume_flags),
            crate::model::shell_quote(&dir.display().to_string()),
            crate::model::shell_quote(&dir.display().to_string())
        );
        return code;
    }
    let verdict = match sim::verify(&dir) {
        Ok(v) => {
            say!("rollpilot demo: data check: {}", v.summary());
            if v.lost > 0 { exit::FAILED } else { exit::OK }
        }
        Err(e) => {
            say!("rollpilot demo: could not check the data: {e}");
            exit::FAILED
        }
    };
    drop(guard);
    if a.keep {
        say!(
            "rollpilot demo: kept {} (journal and report in {}/state; `rollpilot sim down --dir {}` when done)",
            dir.display(),
            dir.display(),
            dir.display()
        );
    } else {
        let _ = sim::down(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        say!("rollpilot demo: cleaned up (every simulated process stopped, {} removed)", dir.display());
    }
    if code != exit::OK { code } else { verdict }
}
