//! `rollpilot rehearse` in the full-screen TUI, run in tmux and driven by keys: every screen the
//! operator sees (the main screen, each confirmation dialog, the help, the quit dialog) says
//! REHEARSAL, the fault key offers its menu on the selected node and injects the fault chosen
//! there (the report lists it), and the rehearsal ends with
//! nothing lost and nothing left running.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A tmux server of our own (`-L`), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Tmux {
        let ok = Command::new("tmux").arg("-V").output().map(|o| o.status.success()).unwrap_or(false);
        assert!(ok, "tmux is required for the rehearsal TUI test (.ci/run installs it)");
        Tmux { socket: format!("rp-rehearse-{}", std::process::id()) }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().unwrap()
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "r"]).stdout).into_owned()
    }

    fn keys(&self, k: &str) {
        self.run(&["send-keys", "-t", "r", k]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-L").arg(&self.socket).arg("kill-server").output();
    }
}

/// The screen's first line carries the rehearsal mark.
fn marked(s: &str) -> bool {
    s.lines().next().is_some_and(|l| l.contains("REHEARSAL"))
}

/// A dialog on screen, and whether its frame says REHEARSAL.
fn dialog(s: &str) -> Option<(String, bool)> {
    let title = s.lines().find(|l| l.contains('╔'))?.to_string();
    let bottom = s.lines().find(|l| l.contains('╚'))?;
    Some((title, bottom.contains("REHEARSAL")))
}

fn processes_under(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else { continue };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(&needle) && !cmd.contains("tmux") {
            out.push(cmd);
        }
    }
    out
}

#[test]
fn every_rehearsal_screen_and_dialog_says_rehearsal() {
    let tmux = Tmux::new();
    let tmp = tempfile::tempdir().unwrap();
    let twins = tmp.path().join("twins");
    std::fs::create_dir_all(&twins).unwrap();
    let exit_file = tmp.path().join("exit");
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/streambase.toml");
    let shell = format!(
        "TERM=xterm-256color TMPDIR={twins} ROLLPILOT_STATE_DIR={state} {bin} rehearse -c {cfg}; echo \"EXIT=$?\" > {f}; echo rollpilot-exited; sleep 600",
        twins = twins.display(),
        state = tmp.path().join("state").display(),
        bin = env!("CARGO_BIN_EXE_rollpilot"),
        cfg = cfg.display(),
        f = exit_file.display()
    );
    let o = tmux.run(&["new-session", "-d", "-s", "r", "-x", "160", "-y", "48", shell.as_str()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // The main screen, before any question.
    let mut s = String::new();
    support::wait_until(Duration::from_secs(120), "the rehearsal's main screen", || {
        s = tmux.screen();
        s.contains("Nodes (3)")
    })
    .unwrap_or_else(|e| panic!("{e}\n{s}"));
    assert!(marked(&s), "no REHEARSAL mark on the main screen:\n{s}");
    assert!(s.contains("REHEARSAL · simulated twin, nothing runs on real hosts"), "{s}");

    // Quit asked on top of the first question: that dialog says REHEARSAL too, and does not
    // promise a resume of a twin that quitting tears down. Esc stays.
    support::wait_until(Duration::from_secs(60), "the first question", || dialog(&tmux.screen()).is_some()).unwrap();
    // A key within 0.4 s of a dialog opening is ignored on purpose: wait until it is accepted.
    support::wait_until(Duration::from_secs(20), "the quit dialog", || {
        s = tmux.screen();
        if s.contains("Quit rollpilot?") {
            return true;
        }
        tmux.keys("q");
        false
    })
    .unwrap_or_else(|e| panic!("{e}\n{s}"));
    assert!(marked(&s), "{s}");
    assert!(s.contains("A rehearsal is not resumed"), "{s}");
    assert!(s.contains("tears the simulated twin down") && !s.contains("re-attaches"), "{s}");
    let (_, framed) = dialog(&s).unwrap();
    assert!(framed, "the quit dialog does not say REHEARSAL:\n{s}");
    tmux.keys("Escape");
    support::wait_until(Duration::from_secs(10), "the quit dialog to close", || {
        !tmux.screen().contains("Quit rollpilot?")
    })
    .unwrap();

    // Answer every question; each dialog's frame says REHEARSAL.
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut answered = 0;
    let fin = loop {
        assert!(Instant::now() < deadline, "the rehearsal did not finish:\n{s}");
        s = tmux.screen();
        assert!(marked(&s), "a screen without the REHEARSAL mark:\n{s}");
        if s.lines().any(|l| l.contains("Run finished")) {
            break s.clone();
        }
        match dialog(&s) {
            Some((title, framed)) => {
                assert!(framed, "dialog {title} does not say REHEARSAL:\n{s}");
                tmux.keys(if title.contains("Optional") { "n" } else { "y" });
                answered += 1;
                let before = s.clone();
                support::wait_until(Duration::from_secs(30), "the dialog to close", || tmux.screen() != before)
                    .unwrap();
            }
            None => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    assert!(answered >= 3, "one confirmation per node: {answered}\n{fin}");
    assert!(fin.contains("FINISHED: DONE"), "{fin}");

    // The help overlay says REHEARSAL too, and lists the fault key.
    tmux.keys("?");
    support::wait_until(Duration::from_secs(10), "the help overlay", || {
        s = tmux.screen();
        s.contains("rehearsal only: inject a fault")
    })
    .unwrap_or_else(|e| panic!("{e}\n{s}"));
    assert!(marked(&s), "no REHEARSAL mark over the help:\n{s}");
    tmux.keys("Escape");
    support::wait_until(Duration::from_secs(10), "the help to close", || !tmux.screen().contains("rehearsal only:"))
        .unwrap();

    // The fault key: its menu names the selected node; another key cancels it.
    tmux.keys("x");
    support::wait_until(Duration::from_secs(10), "the fault menu", || {
        s = tmux.screen();
        s.contains("REHEARSAL fault on sb-1")
    })
    .unwrap_or_else(|e| panic!("{e}\n{s}"));
    tmux.keys("z");
    support::wait_until(Duration::from_secs(10), "the fault menu to be cancelled", || {
        s = tmux.screen();
        s.contains("no fault injected on sb-1")
    })
    .unwrap_or_else(|e| panic!("{e}\n{s}"));
    // A digit injects that fault on the twin's node (4: hang-stop, harmless once the run is
    // done), and the rehearsal report lists it as injected from the TUI.
    tmux.keys("x");
    support::wait_until(Duration::from_secs(10), "the fault menu again", || {
        s = tmux.screen();
        s.contains("REHEARSAL fault on sb-1")
    })
    .unwrap_or_else(|e| panic!("{e}\n{s}"));
    tmux.keys("4");
    support::wait_until(Duration::from_secs(10), "the fault to be injected", || {
        s = tmux.screen();
        s.contains("REHEARSAL fault injected: hang-stop set on sb-1")
    })
    .unwrap_or_else(|e| panic!("{e}\n{s}"));

    // Quit: the report's lines after the TUI, nothing lost, nothing left running.
    tmux.keys("q");
    support::wait_until(Duration::from_secs(60), "rollpilot to exit", || exit_file.exists()).unwrap();
    assert_eq!(std::fs::read_to_string(&exit_file).unwrap().trim(), "EXIT=0");
    support::wait_until(Duration::from_secs(10), "the shell to print after rollpilot", || {
        s = tmux.screen();
        s.contains("rollpilot-exited")
    })
    .unwrap();
    assert!(s.contains("ended done") && s.contains("lost 0"), "{s}");
    assert!(processes_under(&twins).is_empty(), "{:?}", processes_under(&twins));
    let runs = tmp.path().join("state").join("rehearsals").join("runs");
    let cluster = std::fs::read_dir(&runs).unwrap().flatten().next().unwrap().path();
    let run = std::fs::read_dir(&cluster).unwrap().flatten().next().unwrap().path();
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("rehearsal.json")).unwrap()).unwrap();
    assert_eq!(
        rep["faults"],
        serde_json::json!([{"fault": "hang-stop@sb-1", "result": "hang-stop set on sb-1, from the TUI"}]),
        "{rep}"
    );
}
