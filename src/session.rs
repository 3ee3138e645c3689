//! One rollout session: the executor with a face (the TUI, or the headless printer), the live
//! poller, and observer mode when another operator holds the lock. `upgrade`, `resume` and
//! `demo` all run through here, so the interactive and headless paths cannot drift apart.

use crate::model::{Cluster, Node, TransportKind, shell_quote};
use crate::notify::Notifier;
use crate::probe::Poller;
use crate::run::events::{Command, Event, RunEnd};
use crate::run::executor::{self, RunConfig};
use crate::run::{headless, lock};
use crate::transport::Transport;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

/// Which face drives the executor.
pub enum Face {
    /// The full-screen TUI.
    Tui(crate::tui::TuiOptions),
    /// Plain text or JSON, deciding from flags.
    Headless(headless::Options),
}

/// How a session ended, for the command line.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The process exit code.
    pub code: u8,
    /// How the run ended, when it ran.
    pub end: Option<RunEnd>,
    /// One sentence to print after the terminal is restored.
    pub message: Option<String>,
}

/// The interactive shell for `s` on a node: ssh with the cluster's settings, or a local shell in
/// the node's directory for the simulator.
pub fn shell_command(cluster: &Cluster) -> Arc<dyn Fn(&Node) -> std::process::Command + Send + Sync> {
    let c = cluster.clone();
    Arc::new(move |node: &Node| match c.transport {
        TransportKind::Ssh => {
            let s = &c.ssh;
            let mut cmd = std::process::Command::new("ssh");
            if let Some(f) = &s.config_file {
                cmd.arg("-F").arg(f);
            }
            if let Some(k) = &s.known_hosts {
                cmd.arg("-o").arg(format!("UserKnownHostsFile={}", k.display()));
            }
            cmd.arg("-o").arg(match s.host_key_policy {
                crate::model::HostKeyPolicy::Strict => "StrictHostKeyChecking=yes",
                crate::model::HostKeyPolicy::AcceptNew => "StrictHostKeyChecking=accept-new",
            });
            if let Some(i) = &s.identity {
                cmd.arg("-o").arg("IdentitiesOnly=yes").arg("-i").arg(i);
            }
            if let Some(p) = node.port.or(s.port) {
                cmd.arg("-p").arg(p.to_string());
            }
            if let Some(u) = node.user.as_ref().or(s.user.as_ref()) {
                cmd.arg("-l").arg(u);
            }
            if !s.jump_hosts.is_empty() {
                cmd.arg("-J").arg(s.jump_hosts.join(","));
            }
            cmd.arg("--").arg(&node.address);
            cmd
        }
        TransportKind::Local => {
            let dir = ["install_dir", "node_dir", "sb_home", "exch_home", "av_home"]
                .iter()
                .find_map(|k| c.node(&node.name).map(|(g, n)| c.vars_for(g, n)).and_then(|v| v.get(*k).cloned()))
                .unwrap_or_else(|| std::env::var("HOME").unwrap_or_else(|_| "/".into()));
            let script = format!(
                "cd {} 2>/dev/null; echo \"rollpilot: a local shell for {} (local transport) in $(pwd); exit to return\"; exec \"${{SHELL:-sh}}\" -i",
                shell_quote(&dir),
                node.name
            );
            let mut cmd = std::process::Command::new("sh");
            cmd.arg("-c").arg(script);
            cmd
        }
    })
}

/// The `[notify]` hook of the cluster, if it has one; its output goes to the log directory.
fn notifier(cfg: &RunConfig) -> Notifier {
    match &cfg.cluster.notify {
        Some(spec) => Notifier::start(spec.clone(), &cfg.cluster.name, cfg.state_dir.join("logs").join("notify.log")),
        None => Notifier::none(),
    }
}

/// Runs a rollout to its end with `face`, or watches another operator's (observer mode).
pub async fn run(cfg: RunConfig, transport: Arc<dyn Transport>, face: Face) -> Outcome {
    let cluster = cfg.cluster.clone();
    let poller = Poller::new(cluster.clone(), transport.clone());
    match face {
        Face::Headless(opts) => {
            let notify = notifier(&cfg);
            let (exec_tx, mut exec_rx) = mpsc::unbounded_channel::<Event>();
            let (ev_tx, ev_rx) = mpsc::unbounded_channel();
            // The hook hears every event the printer does, in the same order.
            let tee = tokio::spawn(async move {
                while let Some(e) = exec_rx.recv().await {
                    notify.event(&e);
                    if ev_tx.send(e).is_err() {
                        continue;
                    }
                }
                notify
            });
            let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
            let sig_tx = cmd_tx.clone();
            let signals = tokio::spawn(async move {
                // First Ctrl-C: finish the running step, then stop (resumable). Second: stop now.
                if tokio::signal::ctrl_c().await.is_ok() {
                    eprintln!(
                        "interrupt: finishing the current step, then stopping (Ctrl-C again to stop now; the step goes on on its host)"
                    );
                    let _ = sig_tx.send(Command::Interrupt);
                    if tokio::signal::ctrl_c().await.is_ok() {
                        let _ = sig_tx.send(Command::InterruptNow);
                    }
                }
            });
            let printer = tokio::spawn(headless::drive(ev_rx, cmd_tx, opts));
            let end = executor::run(cfg, transport.clone(), poller, exec_tx, cmd_rx).await;
            if let Ok(notify) = tee.await {
                notify.finish().await;
            }
            let _ = printer.await;
            signals.abort();
            Outcome { code: end.exit_code(), end: Some(end), message: None }
        }
        Face::Tui(options) => tui(cfg, transport, poller, options).await,
    }
}

/// Watches a cluster without driving it (`--readonly`, `top`): the live node table and the
/// plan estimated from it, no executor, no lock; every key that would act is refused.
pub async fn watch(
    cluster: Arc<Cluster>,
    config_path: std::path::PathBuf,
    transport: Arc<dyn Transport>,
    options: crate::tui::TuiOptions,
) -> Outcome {
    let poller = Poller::new(cluster.clone(), transport);
    let (stop_tx, stop_rx) = watch::channel(false);
    let live = tokio::spawn(poller.clone().run(stop_rx));
    let ctx = crate::tui::TuiContext {
        cluster: cluster.clone(),
        config_path,
        snapshots: poller.subscribe(),
        events: None,
        commands: None,
        observer_of: Some(options.readonly.clone().unwrap_or_else(|| "read-only".into())),
        shell: shell_command(&cluster),
        options,
    };
    let r = crate::tui::run_tui(ctx).await;
    let _ = stop_tx.send(true);
    let _ = live.await;
    match r {
        Ok(_) => Outcome { code: 0, end: None, message: None },
        Err(e) => Outcome { code: 1, end: None, message: Some(format!("the terminal failed: {e}")) },
    }
}

async fn tui(
    cfg: RunConfig,
    transport: Arc<dyn Transport>,
    poller: Arc<Poller>,
    options: crate::tui::TuiOptions,
) -> Outcome {
    let cluster = cfg.cluster.clone();
    let (stop_tx, stop_rx) = watch::channel(false);
    let live = tokio::spawn(poller.clone().run(stop_rx));
    let snapshots = poller.subscribe();
    let shell = shell_command(&cluster);

    // Someone else drives: the same live screen, read-only, saying who.
    let ours = cfg.resume.as_ref().map(|r| r.run.clone());
    if let Ok((Some(holder), now)) = lock::peek_with_time(transport.as_ref(), &cluster).await
        && holder.lease_until >= now
        && ours.as_deref() != Some(holder.run.as_str())
    {
        let who = holder.describe();
        let ctx = crate::tui::TuiContext {
            cluster: cluster.clone(),
            config_path: cfg.config_path.clone(),
            snapshots,
            events: None,
            commands: None,
            observer_of: Some(who.clone()),
            shell,
            options,
        };
        let r = crate::tui::run_tui(ctx).await;
        let _ = stop_tx.send(true);
        let _ = live.await;
        let message = match r {
            Ok(_) => format!("observer mode: {who} drives {}; nothing was run from here", cluster.name),
            Err(e) => format!("the terminal failed: {e}"),
        };
        return Outcome { code: RunEnd::Locked.exit_code(), end: Some(RunEnd::Locked), message: Some(message) };
    }

    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<Event>();
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    // Forward events to the TUI, keeping the final sentence to print once the terminal is back.
    let (tui_tx, tui_rx) = mpsc::unbounded_channel();
    let last: Arc<Mutex<Option<String>>> = Arc::default();
    let keep = last.clone();
    let notify = notifier(&cfg);
    let forward = tokio::spawn(async move {
        while let Some(e) = ev_rx.recv().await {
            notify.event(&e);
            if let Event::Finished { end, message } = &e
                && let Ok(mut l) = keep.lock()
            {
                // Messages often begin with the end's own word ("interrupted; …"): say it once.
                *l = Some(if message.starts_with(end.as_str()) {
                    message.clone()
                } else {
                    format!("{}: {message}", end.as_str())
                });
            }
            if tui_tx.send(e).is_err() {
                // The TUI is gone (the operator quit): keep draining so the executor never blocks.
                continue;
            }
        }
        notify
    });
    let exec = tokio::spawn(executor::run(cfg.clone(), transport.clone(), poller.clone(), ev_tx, cmd_rx));
    let ctx = crate::tui::TuiContext {
        cluster: cluster.clone(),
        config_path: cfg.config_path.clone(),
        snapshots,
        events: Some(tui_rx),
        commands: Some(cmd_tx.clone()),
        observer_of: None,
        shell,
        options,
    };
    let tui_result = crate::tui::run_tui(ctx).await;
    if tui_result.is_err() {
        // The terminal failed: stop the run safely rather than leave it driving blind.
        let _ = cmd_tx.send(Command::InterruptNow);
    }
    let end = match exec.await {
        Ok(e) => e,
        Err(_) => RunEnd::Failed,
    };
    if let Ok(notify) = forward.await {
        notify.finish().await;
    }
    let _ = stop_tx.send(true);
    let _ = live.await;
    let mut message = last.lock().ok().and_then(|l| l.clone());
    if let Err(e) = tui_result {
        message =
            Some(format!("the terminal failed ({e}); the run was stopped safely. {}", message.unwrap_or_default()));
    }
    Outcome { code: end.exit_code(), end: Some(end), message }
}
