//! `rollpilot status`: every node's role, version, sync state and health, probed live.

use super::common::say;
use super::common::{ConfigArg, load_config, print_out, probe_once, runtime};
use super::exit;
use clap::Args;

/// Arguments of `rollpilot status`.
#[derive(Debug, Args)]
pub(super) struct StatusArgs {
    #[command(flatten)]
    cfg: ConfigArg,
    /// Print a JSON array (keys: host, group, kind, role, state, version, target, sync, health, reachable, stale, last_seen, error).
    #[arg(long, conflicts_with = "watch")]
    json: bool,
    /// Refresh in place every timeouts.refresh until Ctrl-C.
    #[arg(long)]
    watch: bool,
}

/// Probes once (or every refresh with `--watch`) and prints the table; exit 4 if a host is down.
pub(super) fn run(a: &StatusArgs) -> u8 {
    let cluster = match load_config(&a.cfg.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(c) => return c,
    };
    rt.block_on(async {
        use crate::status_view;
        if a.watch {
            let transport = match crate::transport::for_cluster(&cluster) {
                Ok(t) => t,
                Err(e) => {
                    say!("{e}");
                    return exit::FAILED;
                }
            };
            let poller = crate::probe::Poller::new(std::sync::Arc::new(cluster.clone()), transport.clone());
            let mut tick = tokio::time::interval(cluster.timeouts.refresh);
            let code = loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let snap = poller.refresh().await;
                        let now = jiff::Timestamp::now();
                        let rows = status_view::rows(&cluster, &snap);
                        let screen = format!("\x1b[H\x1b[2J{} — {} (every {}; Ctrl-C to stop)\n\n{}", cluster.name, now.strftime("%H:%M:%S"), crate::config::duration::format_duration(cluster.timeouts.refresh), status_view::to_text(&rows, now));
                        if let Err(code) = print_out(&screen) {
                            break code;
                        }
                    }
                    _ = tokio::signal::ctrl_c() => break exit::INTERRUPTED,
                }
            };
            transport.close().await;
            return code;
        }
        let snap = match probe_once(&cluster).await {
            Ok(s) => s,
            Err(c) => return c,
        };
        let rows = status_view::rows(&cluster, &snap);
        if a.json {
            match serde_json::to_string_pretty(&rows) {
                Ok(s) => {
                    if let Err(code) = print_out(&format!("{s}\n")) {
                        return code;
                    }
                }
                Err(e) => {
                    say!("cannot encode JSON: {e}");
                    return exit::FAILED;
                }
            }
        } else if let Err(code) = print_out(&status_view::to_text(&rows, jiff::Timestamp::now())) {
            return code;
        }
        let down = snap.unreachable();
        if down.is_empty() {
            exit::OK
        } else {
            say!("{} of {} hosts unreachable: {}", down.len(), rows.len(), down.join(", "));
            exit::UNREACHABLE
        }
    })
}
