//! Why a simulator operation failed, as sentences an operator can act on.

use std::path::PathBuf;

/// A failed simulator operation. Every message names what failed and what to do next,
/// because the reader is usually in the middle of a rehearsal or a failing test.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The request itself is wrong (bad option, unknown node, fault that does not apply).
    #[error("{0}")]
    Usage(String),
    /// A file or directory operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, e.g. "cannot create /tmp/x/nodes".
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The directory already hosts a running simulated cluster.
    #[error(
        "{0} already has a running simulated cluster; stop it first with `rollpilot sim down --dir {0}`, or choose another directory"
    )]
    AlreadyRunning(PathBuf),
    /// The directory is not a simulator directory.
    #[error("{0} holds no simulated cluster (no sim.json); create one with `rollpilot sim up --dir {0}`")]
    NotASim(PathBuf),
    /// Something the simulator started or asked for did not happen.
    #[error("{0}")]
    Failed(String),
}

impl SimError {
    /// The process exit code for this error (DESIGN.md §7: 2 for usage, 1 for a failed run).
    pub fn exit_code(&self) -> u8 {
        match self {
            SimError::Usage(_) | SimError::NotASim(_) | SimError::AlreadyRunning(_) => 2,
            SimError::Io { .. } | SimError::Failed(_) => 1,
        }
    }
}

/// Builds a mapper from an I/O error to [`SimError::Io`] saying what was being done.
pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SimError {
    let what = what.into();
    move |source| SimError::Io { what, source }
}
