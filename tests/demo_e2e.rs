//! The real binary, as a newcomer runs it: `rollpilot demo` in tmux, driven with keystrokes
//! only, read from the captured screen. Every node must end on 4.2.1 with the active roles
//! moved (the failbacks are declined), the process must exit 0 and leave the terminal restored
//! (out of the alternate screen, cursor visible), and the demo must report no lost data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::tmux::Tmux;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn demo_in_tmux_driven_by_keys_to_the_end() {
    let tmux = Tmux::new();
    let tmp = tempfile::tempdir().unwrap();
    let exit_file: PathBuf = tmp.path().join("exit");
    // After rollpilot exits, the shell prints its exit code, then waits so the screen can be read.
    let shell = format!(
        "TERM=xterm-256color {bin} demo; echo \"EXIT=$?\" > {f}; echo rollpilot-exited; sleep 600",
        bin = env!("CARGO_BIN_EXE_rollpilot"),
        f = exit_file.display()
    );
    tmux.start(160, 48, &shell);

    // Drive: `y` on a confirmation, `n` (the safe "Skip it") on an optional failback.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut answered = 0;
    let mut last = String::new();
    let fin = loop {
        assert!(Instant::now() < deadline, "the demo did not finish; screen:\n{last}");
        let s = tmux.screen();
        let header = s.lines().next().unwrap_or("").to_string();
        if header.contains("FINISHED") {
            break s;
        }
        let dialog = s.lines().find(|l| l.contains("╔ Confirm:") || l.contains("╔ Optional:")).map(str::to_string);
        match dialog {
            Some(d) if s != last => {
                tmux.keys(if d.contains("╔ Optional:") { "n" } else { "y" });
                answered += 1;
                // Wait for the dialog to go before looking again.
                support::wait_until(Duration::from_secs(30), "the dialog to close", || tmux.screen() != s).unwrap();
            }
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
        last = s;
    };
    assert!(fin.lines().next().unwrap().contains("FINISHED: DONE"), "{fin}");
    assert!(answered >= 9, "one confirmation per node sequence and per failback: {answered}\n{fin}");

    // Every node shows 4.2.1; the roles moved (the failbacks were declined).
    let row = |host: &str| {
        fin.lines()
            .find(|l| l.split_whitespace().next().map(|w| w.trim_start_matches(['›', '▌'])) == Some(host))
            .unwrap_or_else(|| panic!("no row for {host}:\n{fin}"))
            .to_string()
    };
    for h in ["tc-east-1", "tc-east-2", "tc-west-1", "tc-west-2", "app-east-1", "app-west-1", "wan-east", "wan-west"] {
        assert!(row(h).contains("4.2.1"), "{h} not on 4.2.1:\n{fin}");
    }
    assert!(row("tc-east-2").contains("active") && row("tc-east-1").contains("passive"), "roles did not move:\n{fin}");
    assert!(row("tc-west-2").contains("active") && row("tc-west-1").contains("passive"), "roles did not move:\n{fin}");
    assert!(fin.contains("(declined)"), "the declined failback is shown: {fin}");

    // Quit: exit 0, the terminal restored, the data checked and the simulator gone.
    tmux.keys("q");
    support::wait_until(Duration::from_secs(60), "rollpilot to exit", || exit_file.exists()).unwrap();
    assert_eq!(std::fs::read_to_string(&exit_file).unwrap().trim(), "EXIT=0");
    support::wait_until(Duration::from_secs(10), "the shell to print after rollpilot", || {
        tmux.screen().contains("rollpilot-exited")
    })
    .unwrap();
    assert_eq!(tmux.display("#{alternate_on}"), "0", "left the alternate screen");
    assert_eq!(tmux.display("#{cursor_flag}"), "1", "cursor visible again");
    let after = tmux.screen();
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
    struct Down(String);
    impl Drop for Down {
        fn drop(&mut self) {
            let _ =
                Command::new(env!("CARGO_BIN_EXE_rollpilot")).args(["sim", "down", "--dir", self.0.as_str()]).output();
        }
    }
    let _down = Down(d.clone());
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
