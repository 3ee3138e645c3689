//! The real binary, as a newcomer runs it: `rollpilot demo` in tmux, driven with keystrokes
//! only, read from the captured screen. Every node must end on 4.2.1 with the active roles
//! moved (the failbacks are declined), the process must exit 0 and leave the terminal restored
//! (out of the alternate screen, cursor visible), and the demo must report no lost data. An
//! operator who presses nothing but `y` also gets to the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::tmux::Tmux;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Starts `rollpilot demo` in tmux; after it exits the shell writes its exit code to the
/// returned file and waits, so the screen can still be read.
fn start_demo(tmux: &Tmux, tmp: &tempfile::TempDir) -> PathBuf {
    let exit_file: PathBuf = tmp.path().join("exit");
    let shell = format!(
        "TERM=xterm-256color {bin} demo; echo \"EXIT=$?\" > {f}; echo rollpilot-exited; sleep 600",
        bin = env!("CARGO_BIN_EXE_rollpilot"),
        f = exit_file.display()
    );
    tmux.start(160, 48, &shell);
    exit_file
}

/// Answers every dialog with the key `key_for` gives for its title line until the header says
/// FINISHED; returns the final screen and how many dialogs were answered.
fn drive_to_the_end(tmux: &Tmux, key_for: impl Fn(&str) -> &'static str) -> (String, usize) {
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut answered = 0;
    let mut last = String::new();
    loop {
        assert!(Instant::now() < deadline, "the demo did not finish; screen:\n{last}");
        let s = tmux.settled();
        let header = s.lines().next().unwrap_or("").to_string();
        if header.contains("FINISHED") {
            return (tmux.settled(), answered);
        }
        let dialog = s.lines().find(|l| l.contains("╔ ")).map(str::to_string);
        match dialog {
            Some(d) if s != last => {
                tmux.keys(key_for(&d));
                answered += 1;
                // Wait for the dialog to go before looking again.
                support::wait_until(Duration::from_secs(30), "the dialog to close", || tmux.screen() != s).unwrap();
            }
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
        last = s;
    }
}

/// Presses `q`, waits for rollpilot to exit and the shell to print after it; returns the
/// `EXIT=n` line and the screen then.
fn quit_and_read_after(tmux: &Tmux, exit_file: &std::path::Path) -> (String, String) {
    tmux.keys("q");
    support::wait_until(Duration::from_secs(60), "rollpilot to exit", || exit_file.exists()).unwrap();
    let exit = std::fs::read_to_string(exit_file).unwrap().trim().to_string();
    support::wait_until(Duration::from_secs(10), "the shell to print after rollpilot", || {
        tmux.screen().contains("rollpilot-exited")
    })
    .unwrap();
    (exit, tmux.screen())
}

/// A simulated cluster left running by a test, stopped (and its directory removed) on drop.
struct SimDown(String);

impl Drop for SimDown {
    fn drop(&mut self) {
        let _ = Command::new(env!("CARGO_BIN_EXE_rollpilot")).args(["sim", "down", "--dir", &self.0]).output();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The row of `host` in the node table.
fn row(screen: &str, host: &str) -> String {
    screen
        .lines()
        .find(|l| l.split_whitespace().next().map(|w| w.trim_start_matches(['›', '▌'])) == Some(host))
        .unwrap_or_else(|| panic!("no row for {host}:\n{screen}"))
        .to_string()
}

const HOSTS: [&str; 8] =
    ["tc-east-1", "tc-east-2", "tc-west-1", "tc-west-2", "app-east-1", "app-west-1", "wan-east", "wan-west"];

/// An operator who only ever presses `y` gets to the end: every dialog of the demo proceeds
/// with it (the optional failbacks included). While a decision waits, the pane receives the
/// bell and the desktop notification escapes (OSC 9 and OSC 777), read from the pane's raw output.
#[test]
fn demo_driven_with_y_only_reaches_finished_and_a_waiting_decision_rings() {
    let tmux = Tmux::new();
    let tmp = tempfile::tempdir().unwrap();
    let exit_file = start_demo(&tmux, &tmp);
    let raw = tmp.path().join("pane.raw");
    let pipe = format!("cat >> {}", raw.display());
    assert!(tmux.run(&["pipe-pane", "-o", "-t", "demo", pipe.as_str()]).status.success());
    support::wait_until(Duration::from_secs(120), "the first dialog", || tmux.screen().contains("╔ ")).unwrap();
    support::wait_until(Duration::from_secs(30), "the bell and the notification in the pane", || {
        let b = std::fs::read(&raw).unwrap_or_default();
        let b = String::from_utf8_lossy(&b);
        b.contains("\x07\x1b]9;sim-bigmemory: decision needed: ")
            && b.contains("\x1b]777;notify;rollpilot;sim-bigmemory: decision needed: ")
    })
    .unwrap();
    let (fin, answered) = drive_to_the_end(&tmux, |_| "y");
    assert!(fin.lines().next().unwrap().contains("FINISHED: DONE"), "{fin}");
    assert!(answered >= 11, "one confirmation per node sequence and per failback: {answered}\n{fin}");
    for h in HOSTS {
        assert!(row(&fin, h).contains("4.2.1"), "{h} not on 4.2.1:\n{fin}");
    }
    let back = |a: &str, p: &str| row(&fin, a).contains("active") && row(&fin, p).contains("passive");
    assert!(back("tc-east-1", "tc-east-2") && back("tc-west-1", "tc-west-2"), "the failbacks ran:\n{fin}");
    let (exit, after) = quit_and_read_after(&tmux, &exit_file);
    assert_eq!(exit, "EXIT=0");
    assert!(after.contains("rollpilot: done: sim-bigmemory runs 4.2.1"), "{after}");
    assert!(after.contains(", lost 0"), "{after}");
}

#[test]
fn demo_in_tmux_driven_by_keys_to_the_end() {
    let tmux = Tmux::new();
    let tmp = tempfile::tempdir().unwrap();
    let exit_file = start_demo(&tmux, &tmp);
    // Drive: `y` on a confirmation, `n` (the safe "Skip it") on an optional failback.
    let (fin, answered) = drive_to_the_end(&tmux, |d| if d.contains("╔ Optional:") { "n" } else { "y" });
    assert!(fin.lines().next().unwrap().contains("FINISHED: DONE"), "{fin}");
    assert!(answered >= 9, "one confirmation per node sequence and per failback: {answered}\n{fin}");

    // Every node shows 4.2.1; the roles moved (the failbacks were declined).
    for h in HOSTS {
        assert!(row(&fin, h).contains("4.2.1"), "{h} not on 4.2.1:\n{fin}");
    }
    let moved = |a: &str, p: &str| row(&fin, a).contains("active") && row(&fin, p).contains("passive");
    assert!(moved("tc-east-2", "tc-east-1"), "roles did not move:\n{fin}");
    assert!(moved("tc-west-2", "tc-west-1"), "roles did not move:\n{fin}");
    assert!(fin.contains("(declined)"), "the declined failback is shown: {fin}");

    // Quit: exit 0, the terminal restored, the data checked and the simulator gone.
    let (exit, after) = quit_and_read_after(&tmux, &exit_file);
    assert_eq!(exit, "EXIT=0");
    assert_eq!(tmux.display("#{alternate_on}"), "0", "left the alternate screen");
    assert_eq!(tmux.display("#{cursor_flag}"), "1", "cursor visible again");
    assert!(after.contains("rollpilot: done: sim-bigmemory runs 4.2.1"), "{after}");
    assert!(after.contains("data check: acknowledged") && after.contains(", lost 0"), "{after}");
    assert!(after.contains("cleaned up (every simulated process stopped"), "{after}");
}

#[test]
fn a_second_operator_gets_the_read_only_observer_screen() {
    let tmux = Tmux::new();
    let tmp = tempfile::Builder::new().prefix("rp-obs").tempdir_in("/tmp").unwrap();
    let dir = tmp.path();
    let bin = env!("CARGO_BIN_EXE_rollpilot");
    let run = |args: &[&str]| Command::new(bin).args(args).stdin(std::process::Stdio::null()).output().unwrap();
    let d = dir.to_string_lossy().into_owned();
    assert!(run(&["sim", "up", "--dir", d.as_str()]).status.success());
    let _down = SimDown(d.clone());
    let cfg = dir.join("cluster.toml");
    let src = std::fs::read_to_string(&cfg).unwrap().replace("gate = \"5m\"", "gate = \"2m\"");
    std::fs::write(&cfg, src).unwrap();
    // Operator one drives headless and is held at a gate (the mirror never re-syncs).
    assert!(run(&["sim", "fault", "--dir", d.as_str(), "tc-east-2", "stall-sync"]).status.success());
    let log = dir.join("first.log");
    let f = std::fs::File::create(&log).unwrap();
    let mut first = support::KillOnDrop(
        Command::new(bin)
            .args(["upgrade", "-c"])
            .arg(&cfg)
            .args(["--headless", "--yes", "--operator", "alice"])
            .env("ROLLPILOT_STATE_DIR", dir.join("alice"))
            .stdin(std::process::Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap(),
    );
    support::wait_until(Duration::from_secs(60), "alice's run to hold the lock at a gate", || {
        std::fs::read_to_string(&log).unwrap_or_default().contains("waiting until")
    })
    .unwrap();

    // Operator two opens the TUI: read-only, told who drives.
    let exit_file = dir.join("exit");
    let shell = format!(
        "TERM=xterm-256color ROLLPILOT_STATE_DIR={}/bob {bin} upgrade -c {} --operator bob; echo \"EXIT=$?\" > {}; sleep 600",
        dir.display(),
        cfg.display(),
        exit_file.display()
    );
    tmux.start(160, 48, &shell);
    support::wait_until(Duration::from_secs(60), "the observer screen", || {
        tmux.screen().contains("READ-ONLY: alice on")
    })
    .unwrap();
    let s = tmux.screen();
    assert!(s.lines().next().unwrap().contains("OBSERVER"), "{s}");
    assert!(!s.contains("p pause"), "no mutating keys in observer mode:\n{s}");
    tmux.keys("q");
    support::wait_until(Duration::from_secs(30), "the observer to exit", || exit_file.exists()).unwrap();
    assert_eq!(std::fs::read_to_string(&exit_file).unwrap().trim(), "EXIT=3");
    assert!(tmux.screen().contains("observer mode: alice on"), "{}", tmux.screen());
    let _ = first.0.kill();
}

/// A `--budget` smaller than the plan, on the full screen: the run stops at a safe point before
/// a node's sequence, the banner says why with the resume command, rollpilot exits 5, and the
/// resume command it prints then finishes the run.
#[test]
fn demo_with_a_small_budget_stops_at_a_safe_point_and_the_resume_finishes() {
    let tmux = Tmux::new();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let exit_file = tmp.path().join("exit");
    let bin = env!("CARGO_BIN_EXE_rollpilot");
    let shell = format!(
        "TERM=xterm-256color ROLLPILOT_STATE_DIR={s} {bin} demo --budget 1s; echo \"EXIT=$?\" > {f}; echo rollpilot-exited; sleep 600",
        s = state.display(),
        f = exit_file.display()
    );
    tmux.start(160, 48, &shell);
    support::wait_until(Duration::from_secs(120), "the stop at the end of the budget", || {
        tmux.screen().lines().next().is_some_and(|l| l.contains("FINISHED: WINDOW"))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", tmux.screen()));
    let screen = tmux.screen();
    let flat = screen.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("the time budget") && flat.contains("stopped here, safely"), "{screen}");
    assert!(flat.contains("continue with `rollpilot resume -c "), "the resume command is on screen:\n{screen}");

    let (exit, after) = quit_and_read_after(&tmux, &exit_file);
    assert_eq!(exit, "EXIT=5");
    let field = |name: &str| {
        after
            .lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|c| c.trim().to_string()))
            .unwrap_or_else(|| panic!("no `{name}` line:\n{after}"))
    };
    let resume = field("continue:");
    let dir = field("clean up:");
    let dir = dir.strip_prefix("rollpilot sim down --dir ").and_then(|d| d.split_whitespace().next()).unwrap();
    let _down = SimDown(dir.trim_matches('\'').to_string());

    // The resume, as printed (headless here, so it answers without a screen).
    let args = resume.strip_prefix("rollpilot ").unwrap_or_else(|| panic!("{resume}")).replace('\'', "");
    let mut args: Vec<&str> = args.split_whitespace().collect();
    for flag in ["--headless", "--yes"] {
        if !args.contains(&flag) {
            args.push(flag);
        }
    }
    let o = Command::new(bin)
        .args(&args)
        .env("ROLLPILOT_STATE_DIR", &state)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("done: sim-bigmemory runs 4.2.1"), "{out}");
}
