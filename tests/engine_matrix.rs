//! Roll back and Skip at every step kind of an active/passive pair (stop, install, start,
//! switchover, failback), on tokio's paused clock with the scripted fake cluster: each choice
//! does what its label says. (Retry and Abort at every kind: `engine.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod engine_support;

use engine_support::*;
use rollpilot::run::events::*;

/// The commands of a clean run, in order.
async fn baseline() -> Vec<String> {
    let probe = Lab::new(PAIR);
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
    let key: String = cmd.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let lab = Lab::new(PAIR);
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
