//! Passives of a server group with an active, in batches (`max_unavailable`), run by the engine
//! on tokio's paused clock against the scripted cluster of `engine_support`: a batch of passives
//! runs side by side while the active keeps serving, and a failure inside it stops the rollout
//! before the active (or another batch) is touched, with a question naming every node of it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod engine_support;

use engine_support::*;
use rollpilot::run::events::{Answer, QuestionKind, RunEnd};

/// PAIR's active/passive kind with five members (n1 active), passives two at a time.
fn five() -> Lab {
    Lab::new(
        &PAIR.replace("failback = \"always\"", "failback = \"never\"").replace(
            "hosts = [\"n1\", \"n2\"]",
            "max_unavailable = 2\nhosts = [\"n1\", \"n2\", \"n3\", \"n4\", \"n5\"]",
        ),
    )
}

#[tokio::test(start_paused = true)]
async fn passives_run_in_batches_and_the_active_is_switched_over_last_alone() {
    let lab = five();
    let out = lab.run(false, proceed, no_hook).await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    let w = lab.world.lock().unwrap();
    for n in ["n1", "n2", "n3", "n4", "n5"] {
        assert_eq!(w.version(n), "1.1.0", "{n}");
    }
    let confirms: Vec<_> = out.questions().into_iter().filter(|q| q.kind == QuestionKind::Confirm).collect();
    assert!(confirms[0].title.contains("batch 1/2 of db (n2, n3)"), "{}", confirms[0].title);
    assert!(confirms[1].title.contains("batch 2/2 of db (n4, n5)"), "{}", confirms[1].title);
    // The active is touched only after every passive is back.
    let sw = w.started.iter().position(|c| c.starts_with("switchover n1")).expect("a switchover");
    let last_passive = w.started.iter().rposition(|c| c == "start n5" || c == "start n4").unwrap();
    assert!(sw > last_passive, "{:?}", w.started);
}

#[tokio::test(start_paused = true)]
async fn a_failure_inside_a_passive_batch_names_every_node_of_it_and_touches_nothing_else() {
    let lab = five();
    lab.world.lock().unwrap().fail_install.insert("n3".into(), 1);
    let out = lab
        .run(
            false,
            |q| match q.kind {
                QuestionKind::Failure => (Answer::Abort, None),
                _ => proceed(q),
            },
            no_hook,
        )
        .await;
    assert_eq!(out.end, RunEnd::Aborted, "{}", out.finished_message());
    let failures: Vec<_> = out.questions().into_iter().filter(|q| q.kind == QuestionKind::Failure).collect();
    assert_eq!(failures.len(), 1);
    let text = failures[0].lines.join("\n");
    assert!(text.contains("db/n3/install failed on n3"), "{text}");
    assert!(text.contains("batch 1/2 of db (n2, n3)"), "{text}");
    assert!(text.contains("n2: install done; n3: install FAILED"), "{text}");
    let w = lab.world.lock().unwrap();
    // The active kept its role and was never touched; the next batch never began.
    assert!(w.started.iter().all(|c| !c.contains("n1") && !c.contains("n4") && !c.contains("n5")), "{:?}", w.started);
    assert!(w.started.iter().all(|c| !c.starts_with("start ")), "{:?}", w.started);
}
