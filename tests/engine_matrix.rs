//! Roll back and Skip at every step kind of an active/passive pair (stop, install, start,
//! switchover, failback), and every choice (Retry, Keep waiting, Roll back, Skip, Abort) at every
//! step of an Exchange-shaped cluster (cleanup after each stop, a scanner upgraded with the
//! service offline), on tokio's paused clock with the scripted fake cluster: each choice does
//! what its label says. (Retry and Abort on the pair: `engine.rs`; Keep waiting at timed-out
//! checks: `engine_waits.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod engine_support;

use engine_support::*;
use rollpilot::run::events::*;

/// The commands of a clean run, in order.
async fn baseline() -> Vec<String> {
    baseline_of(PAIR).await
}

/// The commands of a clean run over `config`, in order.
async fn baseline_of(config: &str) -> Vec<String> {
    let probe = Lab::new(config);
    let out = probe.run(false, proceed, no_hook).await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    let commands = probe.world.lock().unwrap().started.clone();
    for verb in ["stop", "install", "start", "switchover"] {
        assert!(commands.iter().any(|c| c.starts_with(verb)), "{verb} is part of the plan: {commands:?}");
    }
    commands
}

/// Fails `cmd` once and answers its failure with `choice`; everything else proceeds, and the
/// question after a rollback (or a failure the choice is not offered for) aborts.
async fn fail_and_choose(cmd: &str, choice: Answer) -> (Lab, Outcome, bool) {
    fail_and_choose_in(PAIR, cmd, choice).await
}

/// [`fail_and_choose`] over `config`.
async fn fail_and_choose_in(config: &str, cmd: &str, choice: Answer) -> (Lab, Outcome, bool) {
    let key: String = cmd.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let lab = Lab::new(config);
    lab.world.lock().unwrap().fail.insert(key, 1);
    let offered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = offered.clone();
    let out = lab
        .run(
            false,
            move |q| match q.kind {
                QuestionKind::Failure if q.choices.iter().any(|c| c.answer == choice) => {
                    seen.store(true, std::sync::atomic::Ordering::Relaxed);
                    (choice, Some(q.expected.clone()))
                }
                QuestionKind::Failure | QuestionKind::AfterRollback => (Answer::Abort, None),
                _ => proceed(q),
            },
            no_hook,
        )
        .await;
    let offered = offered.load(std::sync::atomic::Ordering::Relaxed);
    (lab, out, offered)
}

/// The node a fake command acts on (`stop n2`, `switchover n1 n2` → n1).
fn node_of(cmd: &str) -> &str {
    cmd.split_whitespace().nth(1).unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn roll_back_at_every_step_kind_returns_the_node_to_its_version_and_touches_nothing_else() {
    let commands = baseline().await;
    for (i, cmd) in commands.iter().enumerate() {
        let (lab, out, offered) = fail_and_choose(cmd, Answer::Rollback).await;
        let w = lab.world.lock().unwrap();
        assert!(!w.started.iter().any(|c| c.contains("''")), "a command named an empty peer: {:?}", w.started);
        if !offered {
            // A switchover changes no installation: nothing to roll back, and it is not offered.
            assert!(cmd.starts_with("switchover"), "roll back not offered after {cmd}");
            continue;
        }
        let node = node_of(cmd);
        let after = &w.started[i + 1..];
        assert!(after.contains(&format!("install {node} 1.0.0")), "{cmd}: rollback reinstalls 1.0.0: {after:?}");
        assert!(after.iter().all(|c| node_of(c) == node), "{cmd}: the rollback touched another node: {after:?}");
        assert_eq!(w.version(node), "1.0.0", "{cmd}");
        assert!(w.nodes[node].running.is_some(), "{cmd}: the rolled-back node runs again");
        assert_eq!(out.end, RunEnd::Aborted, "{cmd}: aborted after the rollback as answered");
    }
}

#[tokio::test(start_paused = true)]
async fn skip_at_every_step_kind_leaves_the_node_as_it_is_and_never_reruns_its_step() {
    let commands = baseline().await;
    for (i, cmd) in commands.iter().enumerate() {
        let (lab, out, offered) = fail_and_choose(cmd, Answer::Skip).await;
        assert!(offered, "skip offered after {cmd}");
        let w = lab.world.lock().unwrap();
        assert!(!w.started.iter().any(|c| c.contains("''")), "a command named an empty peer: {:?}", w.started);
        let node = node_of(cmd);
        let after = &w.started[i + 1..];
        // Left as it is: nothing more runs on the skipped node, and its step never runs again.
        assert!(after.iter().all(|c| node_of(c) != node), "{cmd}: the skipped node was touched: {after:?}");
        assert_eq!(w.started.iter().filter(|c| *c == cmd).count(), 1, "{cmd}: re-run after skip: {:?}", w.started);
        // And the run goes on: to the end, or at least to the other node's next question.
        let went_on = out.end == RunEnd::Done
            || out.events.iter().skip_while(|e| !matches!(e, Event::Decided { .. })).any(|e| match e {
                Event::Ask(q) => !q.step.contains(&format!("/{node}/")),
                _ => false,
            });
        assert!(went_on, "{cmd}: the run stopped at the skip ({:?}): {after:?}", out.end);
    }
}

/// The Exchange-shaped run's commands, checked to hold every step kind of that shape.
async fn exchange_baseline() -> Vec<String> {
    let commands = baseline_of(EXCHANGE).await;
    for verb in ["stop", "cleanup", "install", "start", "switchover", "offline", "online"] {
        assert!(commands.iter().any(|c| c.starts_with(verb)), "{verb} is part of the plan: {commands:?}");
    }
    // The scanner is upgraded inside the offline window, which the online closes.
    let at = |c: &str| commands.iter().position(|x| x.starts_with(c)).unwrap();
    assert!(at("offline") < at("install node1-av") && at("install node2-av") < at("online"), "{commands:?}");
    commands
}

/// The step of a failure question, by its first question.
fn failure(out: &Outcome) -> &Question {
    out.questions().into_iter().find(|q| q.kind == QuestionKind::Failure).expect("a failure question")
}

#[tokio::test(start_paused = true)]
async fn exchange_retry_at_every_step_runs_the_failed_command_again_and_the_run_ends_done() {
    let commands = exchange_baseline().await;
    for cmd in &commands {
        let (lab, out, offered) = fail_and_choose_in(EXCHANGE, cmd, Answer::Retry).await;
        assert!(offered, "retry offered after {cmd}");
        assert_eq!(out.end, RunEnd::Done, "{cmd}: {}", out.finished_message());
        let w = lab.world.lock().unwrap();
        assert_eq!(w.started.iter().filter(|c| *c == cmd).count(), 2, "{cmd}: run again once: {:?}", w.started);
        // Nothing else ran twice: the retry is the failed command, then the rest of the plan.
        let mut rest = w.started.clone();
        let second = rest.iter().rposition(|c| c == cmd).unwrap();
        rest.remove(second);
        assert_eq!(&rest, &commands, "{cmd}: the plan otherwise as in a clean run");
        if cmd.starts_with("cleanup") {
            assert_eq!(w.cleaned, vec!["node2", "node1"], "{cmd}: the failed cleanup deleted nothing");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn exchange_keep_waiting_at_every_step_follows_the_same_command_to_its_end() {
    let commands = exchange_baseline().await;
    for cmd in &commands {
        // The command outlives timeouts.step (120 s): only waiting longer or stopping is safe.
        let key: String = cmd.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        let lab = Lab::new(EXCHANGE);
        lab.world.lock().unwrap().takes.insert(key, std::time::Duration::from_secs(200));
        let out = lab
            .run(
                false,
                |q| match q.kind {
                    QuestionKind::Failure => (Answer::KeepWaiting, None),
                    _ => proceed(q),
                },
                no_hook,
            )
            .await;
        assert_eq!(out.end, RunEnd::Done, "{cmd}: {}", out.finished_message());
        let q = failure(&out);
        assert!(q.choices.iter().any(|c| c.label == "Keep waiting"), "{cmd}: {:?}", q.choices);
        assert!(!q.choices.iter().any(|c| c.answer == Answer::Retry), "{cmd}: no second copy offered");
        assert_eq!(out.questions().iter().filter(|q| q.kind == QuestionKind::Failure).count(), 1, "{cmd}");
        let w = lab.world.lock().unwrap();
        assert_eq!(&w.started, &commands, "{cmd}: followed, never started twice");
    }
}

#[tokio::test(start_paused = true)]
async fn exchange_roll_back_where_offered_returns_the_node_to_its_version_and_touches_nothing_else() {
    let commands = exchange_baseline().await;
    let mut rolled = Vec::new();
    for (i, cmd) in commands.iter().enumerate() {
        let (lab, out, offered) = fail_and_choose_in(EXCHANGE, cmd, Answer::Rollback).await;
        let q = failure(&out);
        if !offered {
            // Offline, online and the handovers change no installation: nothing to roll back.
            assert!(
                ["offline", "online", "switchover"].iter().any(|v| cmd.starts_with(v)),
                "roll back not offered after {cmd}"
            );
            continue;
        }
        rolled.push(cmd.split_whitespace().next().unwrap().to_string());
        let node = node_of(cmd);
        // The question names the version a rollback installs, never the target.
        let planned = q.lines.iter().find(|l| l.starts_with("Planned rollback")).unwrap();
        assert!(!planned.contains("1.1.0"), "{cmd}: {planned}");
        if !cmd.starts_with("stop") {
            assert!(planned.contains("reinstall 1.0.0"), "{cmd}: {planned}");
        }
        if cmd.starts_with("cleanup") {
            assert!(planned.contains("cannot be restored"), "{cmd}: says what a rollback cannot undo: {planned}");
        }
        // The scanner has no start command: its rollback reinstalls and checks, and says so.
        let roll = q.choices.iter().find(|c| c.answer == Answer::Rollback).unwrap();
        let scanner = node.ends_with("-av");
        assert_eq!(roll.consequence.contains("start it"), !scanner, "{cmd}: {}", roll.consequence);
        assert_eq!(planned.contains("start it"), !scanner && !cmd.starts_with("stop"), "{cmd}: {planned}");
        let w = lab.world.lock().unwrap();
        let after = &w.started[i + 1..];
        assert!(after.contains(&format!("install {node} 1.0.0")), "{cmd}: rollback reinstalls 1.0.0: {after:?}");
        assert!(after.iter().all(|c| node_of(c) == node), "{cmd}: the rollback touched another node: {after:?}");
        assert_eq!(w.version(node), "1.0.0", "{cmd}");
        if scanner {
            assert!(!after.iter().any(|c| c.starts_with("start")), "{cmd}: nothing to start: {after:?}");
        }
        assert_eq!(out.end, RunEnd::Aborted, "{cmd}: aborted after the rollback as answered");
    }
    for kind in ["stop", "cleanup", "install", "start"] {
        assert!(rolled.iter().any(|k| k == kind), "rolled back at {kind}: {rolled:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn exchange_skip_at_every_step_leaves_the_node_as_it_is_and_never_reruns_its_step() {
    let commands = exchange_baseline().await;
    for (i, cmd) in commands.iter().enumerate() {
        let (lab, out, offered) = fail_and_choose_in(EXCHANGE, cmd, Answer::Skip).await;
        assert!(offered, "skip offered after {cmd}");
        let w = lab.world.lock().unwrap();
        let node = node_of(cmd);
        let after = &w.started[i + 1..];
        assert!(after.iter().all(|c| node_of(c) != node), "{cmd}: the skipped node was touched: {after:?}");
        assert_eq!(w.started.iter().filter(|c| *c == cmd).count(), 1, "{cmd}: re-run after skip: {:?}", w.started);
        // The offline window always closes: the service comes back online (on another member).
        if w.started[..=i].iter().any(|c| c.starts_with("offline")) && !cmd.starts_with("offline") {
            assert!(w.started.iter().any(|c| c.starts_with("online")), "{cmd}: the service stays offline: {after:?}");
        }
        let went_on = out.end == RunEnd::Done
            || out.events.iter().skip_while(|e| !matches!(e, Event::Decided { .. })).any(|e| match e {
                Event::Ask(q) => !q.step.contains(&format!("/{node}/")),
                _ => false,
            });
        assert!(went_on, "{cmd}: the run stopped at the skip ({:?}): {after:?}", out.end);
    }
}

#[tokio::test(start_paused = true)]
async fn exchange_abort_at_every_step_stops_there_and_resume_finishes_the_upgrade() {
    let commands = exchange_baseline().await;
    for (i, cmd) in commands.iter().enumerate() {
        let (lab, out, offered) = fail_and_choose_in(EXCHANGE, cmd, Answer::Abort).await;
        assert!(offered, "abort offered after {cmd}");
        assert_eq!(out.end, RunEnd::Aborted, "{cmd}");
        assert!(out.finished_message().contains("rollpilot resume -c c.toml"), "{cmd}: {}", out.finished_message());
        assert_eq!(lab.world.lock().unwrap().started.len(), i + 1, "{cmd}: nothing ran after the abort");
        // Aborting inside the offline window says the service is still offline.
        let in_window = commands[..i].iter().any(|c| c.starts_with("offline"));
        assert_eq!(
            out.finished_message().contains("mail is still OFFLINE"),
            in_window,
            "{cmd}: {}",
            out.finished_message()
        );
        let out = lab.run(true, proceed, no_hook).await;
        assert_eq!(out.end, RunEnd::Done, "{cmd}: resumed: {}", out.finished_message());
        let w = lab.world.lock().unwrap();
        for n in ["node1", "node2", "node1-av", "node2-av"] {
            assert_eq!(w.version(n), "1.1.0", "{cmd}: {n}");
        }
        // The irreversible cleanup ran once per node that was stopped for its upgrade.
        assert_eq!(w.cleaned, vec!["node2", "node1"], "{cmd}: {:?}", w.started);
        assert!(w.nodes["node1"].active && w.offline_active.is_none(), "{cmd}: served by node1, online");
    }
}
