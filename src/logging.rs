//! Tracing goes to a file, never to the terminal (the TUI owns it). `ROLLPILOT_LOG` sets the
//! filter (default `info`).

use std::path::{Path, PathBuf};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Starts file logging under `<state>/logs`; keep the guard alive until exit so lines flush.
pub fn init(state: &Path) -> Option<(WorkerGuard, PathBuf)> {
    let dir = state.join("logs");
    std::fs::create_dir_all(&dir).ok()?;
    let appender = tracing_appender::rolling::daily(&dir, "rollpilot.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = EnvFilter::try_from_env("ROLLPILOT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(false).try_init().ok()?;
    Some((guard, dir))
}
