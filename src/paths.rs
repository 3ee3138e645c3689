//! Where rollpilot keeps its own files: XDG state for journals, logs and reports.

use std::path::PathBuf;

/// `$XDG_STATE_HOME/rollpilot` (default `~/.local/state/rollpilot`), unless overridden.
pub fn state_dir(overridden: Option<&std::path::Path>) -> PathBuf {
    if let Some(p) = overridden {
        return p.to_path_buf();
    }
    use etcetera::BaseStrategy;
    match etcetera::choose_base_strategy() {
        Ok(s) => s.state_dir().unwrap_or_else(|| s.data_dir()).join("rollpilot"),
        Err(_) => PathBuf::from(".rollpilot-state"),
    }
}
