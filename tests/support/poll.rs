//! Deadline-bounded polling: the only way tests wait for something to happen.
//!
//! A fixed sleep either wastes time or flakes on a loaded CI machine; polling a condition with a
//! generous deadline is both fast and robust, and the timeout message says what never happened.

use std::process::{Child, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

/// Polls `cond` (every 10 ms, backing off to 100 ms) until it returns true or `timeout` passes.
/// The error names `what` so a failing test says what it was waiting for.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) -> Result<(), String> {
    let start = Instant::now();
    let mut interval = Duration::from_millis(10);
    loop {
        if cond() {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        thread::sleep(interval.min(timeout.saturating_sub(start.elapsed())));
        interval = (interval * 2).min(Duration::from_millis(100));
    }
}

/// Waits up to `timeout` for `child` to exit; `None` if it is still running at the deadline.
pub fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let mut status = None;
    let _ = wait_until(timeout, "child process to exit", || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    status
}

/// A child process that is SIGKILLed and reaped when dropped, so a failing test never leaves a
/// background client (e.g. an `ssh host sleep 30`) running.
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// Waits up to `timeout` for the child to exit; `None` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_child(&mut self.0, timeout)
    }

    /// Its pid.
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}
