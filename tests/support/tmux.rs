//! A private tmux server for end-to-end tests of the real binary's screen: start a command in a
//! session, read the pane, send keys. Each instance has its own socket (`-L`), so tests running
//! in parallel never see each other's sessions; the server is killed on drop.

use std::process::{Command, Output};

/// A tmux server of our own with one session named `demo`, killed on drop.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// A new private server (nothing started yet). tmux is required: `.ci/run` installs it.
    pub fn new() -> Tmux {
        let ok = Command::new("tmux").arg("-V").output().map(|o| o.status.success()).unwrap_or(false);
        assert!(ok, "tmux is required for the end-to-end test (.ci/run installs it)");
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Tmux { socket: format!("rp-e2e-{}-{n}", std::process::id()) }
    }

    /// Runs a tmux command against this server.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().unwrap()
    }

    /// Starts `shell` in the session `demo` on a `w`×`h` terminal.
    pub fn start(&self, w: u16, h: u16, shell: &str) {
        let (w, h) = (w.to_string(), h.to_string());
        let o = self.run(&["new-session", "-d", "-s", "demo", "-x", &w, "-y", &h, shell]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    /// What the pane shows now, as text.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "demo"]).stdout).into_owned()
    }

    /// What the pane shows once a redraw has finished: tmux may be read in the middle of one
    /// (the header already new, the rows below still the previous frame's), so it is read until
    /// two reads agree. Act on this screen, never on a half-drawn one.
    pub fn settled(&self) -> String {
        let mut last = self.screen();
        let mut now = String::new();
        super::wait_until(std::time::Duration::from_secs(10), "the screen to settle", || {
            now = self.screen();
            let same = now == last;
            last = now.clone();
            same
        })
        .unwrap();
        now
    }

    /// Types `k` (a tmux key name such as `y`, `Down` or `Enter`).
    pub fn keys(&self, k: &str) {
        self.run(&["send-keys", "-t", "demo", k]);
    }

    /// A tmux format evaluated for the pane, e.g. `#{alternate_on}`.
    pub fn display(&self, fmt: &str) -> String {
        String::from_utf8_lossy(&self.run(&["display-message", "-p", "-t", "demo", fmt]).stdout).trim().to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-L").arg(&self.socket).arg("kill-server").output();
    }
}
