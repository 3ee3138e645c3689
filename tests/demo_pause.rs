//! `rollpilot demo --pause first` in tmux, driven by keys and read from the screen: the operator
//! confirms each group's first node (the canary) and the later nodes go on by themselves; a
//! failure on a later node (a real `sim fault` on the simulated cluster) returns to asking for
//! every node, and the run still finishes with nothing lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::tmux::Tmux;

/// The demo's simulator directory under `tmp` (the demo makes `$TMPDIR/rollpilot-demo-*`).
fn demo_dir(tmp: &Path) -> Option<PathBuf> {
    std::fs::read_dir(tmp)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("rollpilot-demo-")))
}

fn sim_fault(dir: &Path, args: &[&str]) -> bool {
    Command::new(env!("CARGO_BIN_EXE_rollpilot"))
        .args(["sim", "fault", "--dir"])
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The title of the dialog on screen ("Confirm: stop tc-east-2"), if one is open.
fn dialog_title(screen: &str) -> Option<String> {
    let line = screen.lines().find(|l| l.contains("╔ "))?;
    let t = line.split_once("╔ ")?.1;
    Some(t.split(" ═").next().unwrap_or(t).trim().to_string())
}

#[test]
fn pause_first_asks_each_groups_first_node_and_a_failure_returns_to_asking() {
    let tmux = Tmux::new();
    let tmp = tempfile::Builder::new().prefix("rp-pause").tempdir_in("/tmp").unwrap();
    let exit_file = tmp.path().join("exit");
    let shell = format!(
        "TERM=xterm-256color TMPDIR={tmp} {bin} demo --pause first; echo \"EXIT=$?\" > {f}; echo rollpilot-exited; sleep 600",
        tmp = tmp.path().display(),
        bin = env!("CARGO_BIN_EXE_rollpilot"),
        f = exit_file.display()
    );
    tmux.start(160, 48, &shell);

    // Once the cluster is up and the first question waits (a fault set earlier would break the
    // simulator's own first install): a failing install for tc-east-1, east's second node.
    if let Err(e) =
        support::wait_until(Duration::from_secs(180), "the first question", || dialog_title(&tmux.screen()).is_some())
    {
        panic!("{e}; screen:\n{}", tmux.screen());
    }
    let dir = demo_dir(tmp.path()).expect("the demo's directory under TMPDIR");
    assert!(sim_fault(&dir, &["tc-east-1", "fail-install"]), "set the fault");
    let first = tmux.screen();
    assert!(first.lines().take(2).any(|l| l.contains("pause: first")), "the header names the policy:\n{first}");

    let deadline = Instant::now() + Duration::from_secs(400);
    let mut asked: Vec<String> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut cleared = false;
    let mut policy_after_failure = None;
    let mut last = String::new();
    let fin = loop {
        assert!(Instant::now() < deadline, "the demo did not finish; asked {asked:?}; screen:\n{last}");
        // A settled screen: a key chosen from a half-drawn frame (a dialog already gone) would
        // land on the main screen instead (Enter there opens the node details).
        let s = tmux.settled();
        if s.lines().next().unwrap_or("").contains("FINISHED") {
            break s;
        }
        match dialog_title(&s) {
            Some(t) if t.starts_with("FAILURE") => {
                if !failures.contains(&t) {
                    failures.push(t.clone());
                }
                if !cleared {
                    assert!(sim_fault(&dir, &["--clear", "tc-east-1", "fail-install"]), "clear the fault");
                    cleared = true;
                }
                policy_after_failure.get_or_insert_with(|| s.lines().take(2).any(|l| l.contains("pause: first")));
                // Move the focus to Retry and only then press Enter: Enter on Abort would end the run.
                let retry_focused = s.lines().any(|l| l.contains("▶ [ Retry"));
                tmux.keys(if retry_focused { "Enter" } else { "Down" });
                support::wait_until(Duration::from_secs(30), "the screen to react", || tmux.screen() != s).unwrap();
            }
            Some(t) if t.starts_with("Confirm:") || t.starts_with("Optional:") => {
                if s != last {
                    if asked.last() != Some(&t) {
                        asked.push(t.clone());
                    }
                    tmux.keys(if t.starts_with("Optional:") { "n" } else { "y" });
                    support::wait_until(Duration::from_secs(30), "the dialog to change", || tmux.screen() != s)
                        .unwrap();
                }
            }
            Some(t) => panic!("unexpected dialog {t}:\n{s}"),
            None => std::thread::sleep(Duration::from_millis(200)),
        }
        last = s;
    };

    // The canary of east was confirmed; its second node went on by itself.
    assert!(asked.iter().any(|t| t == "Confirm: stop tc-east-2"), "{asked:?}");
    assert!(!asked.iter().any(|t| t == "Confirm: stop tc-east-1"), "east's second node is not asked: {asked:?}");
    // The failure was shown, and from then on every node is asked again.
    assert!(failures.iter().any(|t| t.contains("east/tc-east-1/install")), "{failures:?}");
    assert_eq!(policy_after_failure, Some(false), "the header no longer says `pause: first` after the failure");
    assert!(asked.iter().any(|t| t == "Confirm: stop tc-west-1"), "back to asking for west's second node: {asked:?}");
    assert!(fin.lines().next().unwrap().contains("FINISHED: DONE"), "{fin}");

    tmux.keys("q");
    support::wait_until(Duration::from_secs(60), "rollpilot to exit", || exit_file.exists()).unwrap();
    assert_eq!(std::fs::read_to_string(&exit_file).unwrap().trim(), "EXIT=0");
    support::wait_until(Duration::from_secs(10), "the shell to print after rollpilot", || {
        tmux.screen().contains("rollpilot-exited")
    })
    .unwrap();
    let after = tmux.screen();
    assert!(after.contains("data check: acknowledged") && after.contains(", lost 0"), "{after}");
    assert!(after.contains("cleaned up (every simulated process stopped"), "{after}");
}
