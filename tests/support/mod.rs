//! Shared integration-test support. Include it from a test crate with `mod support;`.
//!
//! Every test crate compiles its own copy and uses only part of it, hence `dead_code` and
//! `unused_imports` (of the re-exports) are allowed.
//! This is test code: a failed setup step should stop the test with a clear message, so `expect`
//! and `unwrap` are allowed here too.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

pub mod poll;
pub mod procs;
pub mod redis;
pub mod simlab;
pub mod sshd;
pub mod tmux;

pub use poll::{KillOnDrop, wait_child, wait_until};
pub use sshd::{HostInfo, HostOptions, SSHD, SshLab, ensure_unprivileged_user};
