//! A run that was aborted, resumed, and then killed midway (a crash of the resumed run) is an
//! interrupted run again, not an ended one: its journal says it is unfinished, and a new run
//! does not take over its lock while its job may still be running; it says how to continue.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod engine_support;

use engine_support::*;
use rollpilot::run::events::*;

#[tokio::test(start_paused = true)]
async fn a_resumed_run_killed_midway_is_interrupted_and_its_lock_is_not_taken_over() {
    let lab = Lab::new(PEERS);
    lab.world.lock().unwrap().fail_install.insert("p1".into(), 1);
    let first = lab
        .run(
            false,
            |q| match q.kind {
                QuestionKind::Failure => (Answer::Abort, None),
                _ => proceed(q),
            },
            no_hook,
        )
        .await;
    assert_eq!(first.end, RunEnd::Aborted, "{}", first.finished_message());
    assert_eq!(lab.journal().1.finished.as_deref(), Some("aborted"));
    // Resumed, then killed while the install of p2 runs on its host.
    lab.world.lock().unwrap().takes.insert("install p2".into(), std::time::Duration::from_secs(100));
    let cfg = lab.cfg(true);
    let (task, events) = lab.spawn(cfg, proceed, no_hook);
    for i in 0.. {
        assert!(i < 6000, "the install of p2 never started");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if lab.world.lock().unwrap().started.iter().any(|c| c == "install p2 1.1.0") {
            break;
        }
    }
    task.abort();
    let _ = task.await;
    drop(events);
    holder_crashed(&lab.world);
    let (_, state) = lab.journal();
    assert_eq!(state.finished, None, "the resumed run did not end: it was killed");
    assert!(
        rollpilot::run::runs::resumable(&lab.state_dir(), &lab.cluster.name).unwrap().is_some(),
        "it can be resumed"
    );
    // A new run finds the lock of that interrupted run: it says how to continue, touches nothing.
    let before = lab.world.lock().unwrap().started.len();
    let out = lab.run(false, proceed, no_hook).await;
    assert_eq!(out.end, RunEnd::Locked, "{}", out.finished_message());
    assert!(out.finished_message().contains("your own interrupted run"), "{}", out.finished_message());
    assert!(out.finished_message().contains("rollpilot resume -c c.toml"), "{}", out.finished_message());
    assert_eq!(lab.world.lock().unwrap().started.len(), before, "nothing started while the job may still run");
    // Resuming it re-attaches to the install and finishes the upgrade, running nothing twice.
    let out = lab.run(true, proceed, no_hook).await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    let w = lab.world.lock().unwrap();
    assert_eq!(w.started.iter().filter(|c| c.as_str() == "install p2 1.1.0").count(), 1, "{:?}", w.started);
}
