//! Run-level steps in the engine, on tokio's paused clock against the scripted cluster: a
//! preflight failure refuses the run naming every host; a `before` is always restored (after an
//! abort, after a crash and resume); finalize can be deferred and done later by the run that
//! `rollpilot finalize` starts; past the point of no return no rollback is offered.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod engine_support;

use engine_support::*;
use rollpilot::run::events::{Answer, Event, QuestionKind, RunEnd};

fn labels(q: &rollpilot::run::events::Question) -> Vec<String> {
    q.choices.iter().map(|c| c.label.clone()).collect()
}

/// Proceeds with everything (typing the name), defers nothing.
fn finalize_now(q: &rollpilot::run::events::Question) -> (Answer, Option<String>) {
    proceed(q)
}

#[tokio::test(start_paused = true)]
async fn a_failed_preflight_refuses_the_run_naming_each_host_and_touches_nothing() {
    let lab = Lab::new(RUN_STEPS);
    {
        let mut w = lab.world.lock().unwrap();
        w.fail_verb.insert("preflight p2".into(), 1);
        w.fail_verb.insert("preflight p3".into(), 1);
    }
    let out = lab.run(false, proceed, no_hook).await;
    assert_eq!(out.end, RunEnd::Refused, "{}", out.finished_message());
    assert_eq!(out.end.exit_code(), 3);
    let msg = out.finished_message();
    assert!(msg.contains("R13 preflight refused the run: 2 of 3 hosts failed"), "{msg}");
    assert!(msg.contains("p2 (exit 1): preflight p2 failed: kit /opt/kits/x-1.1.0.tar.gz missing"), "{msg}");
    assert!(msg.contains("p3 (exit 1)"), "{msg}");
    assert!(!msg.contains("p1 ("), "p1 passed: {msg}");
    assert!(out.questions().is_empty(), "nothing was asked: {:?}", out.questions());
    let w = lab.world.lock().unwrap();
    assert_eq!(w.started, vec!["preflight p1 1.1.0", "preflight p2 1.1.0", "preflight p3 1.1.0"]);
    assert!(!w.frozen && w.drained.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_full_run_freezes_drains_checks_health_restores_and_finalizes_in_order() {
    let lab = Lab::new(RUN_STEPS);
    let out = lab.run(false, finalize_now, no_hook).await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    let w = lab.world.lock().unwrap();
    let mut want: Vec<String> = ["p1", "p2", "p3"].iter().map(|h| format!("preflight {h} 1.1.0")).collect();
    want.push("freeze p1".into());
    for h in ["p1", "p2", "p3"] {
        want.extend([
            format!("drain {h}"),
            format!("stop {h}"),
            format!("install {h} 1.1.0"),
            format!("start {h}"),
            format!("undrain {h}"),
        ]);
    }
    want.extend(["health p1".to_string(), "thaw p1".into(), "finalize p1 1.1.0".into()]);
    assert_eq!(w.started, want);
    assert!(!w.frozen && w.drained.is_empty());
    assert_eq!(w.finalized.as_deref(), Some("1.1.0"));
    // Every job ran in the kind's workdir.
    assert!(w.job_workdirs.iter().all(|(_, d)| d == "/srv/node"), "{:?}", w.job_workdirs);
    // Finalize was asked as "now or later", typed.
    let q = out.questions().into_iter().find(|q| q.step.ends_with("/finalize")).expect("finalize asked");
    assert_eq!(q.kind, QuestionKind::Typed);
    assert_eq!(labels(q), vec!["Later", "Finalize now", "Pause"]);
    let (_, st) = lab.journal();
    assert_eq!(st.context.finalized.get("node").map(|v| v.to_string()).as_deref(), Some("1.1.0"));
}

#[tokio::test(start_paused = true)]
async fn restore_runs_when_the_operator_aborts_after_a_failure() {
    let lab = Lab::new(RUN_STEPS);
    lab.world.lock().unwrap().fail_install.insert("p2".into(), 5);
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
    assert_eq!(out.end, RunEnd::Aborted);
    // Before the point of no return, the failure offers a rollback.
    let q = out.questions().into_iter().find(|q| q.kind == QuestionKind::Failure).unwrap();
    assert!(labels(q).contains(&"Roll back node".to_string()), "{:?}", labels(q));
    let w = lab.world.lock().unwrap();
    assert!(!w.frozen, "the frozen setting was restored: {:?}", w.started);
    let failed = w.started.iter().position(|c| c == "install p2 1.1.0").unwrap();
    assert_eq!(w.started.last().map(String::as_str), Some("thaw p1"), "{:?}", w.started);
    assert!(failed < w.started.len() - 1);
    assert!(out.finished_message().contains("peers/p1/restore ran"), "{}", out.finished_message());
    let (entries, st) = lab.journal();
    assert!(st.context.restore_pending().is_empty(), "{:?}", st.context);
    assert!(records(&entries, "step-done").iter().any(|r| r["step"] == "peers/p1/restore"));
}

#[tokio::test(start_paused = true)]
async fn restore_runs_on_resume_after_a_crash() {
    let lab = Lab::new(RUN_STEPS);
    let cfg = lab.cfg(false);
    let (task, events) = lab.spawn(cfg, proceed, no_hook);
    // Crash while p2's install runs: the setting is frozen and nothing restores it yet.
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
    assert!(lab.world.lock().unwrap().frozen, "a crash cannot restore");
    holder_crashed(&lab.world);
    let out = lab.run(true, proceed, no_hook).await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    // The resumed plan had the restore in it; freeze and preflight were not run again.
    let resumed = out
        .events
        .iter()
        .find_map(|e| if let Event::Planned { plan, .. } = e { Some(plan.clone()) } else { None })
        .unwrap();
    assert!(
        resumed.steps().any(|s| s.id == "peers/p1/restore"),
        "{:#?}",
        resumed.steps().map(|s| &s.id).collect::<Vec<_>>()
    );
    let w = lab.world.lock().unwrap();
    assert!(!w.frozen);
    for once in ["freeze p1", "preflight p1 1.1.0", "thaw p1", "drain p2", "undrain p2"] {
        assert_eq!(w.started.iter().filter(|c| c.as_str() == once).count(), 1, "{once}: {:?}", w.started);
    }
}

#[tokio::test(start_paused = true)]
async fn finalize_deferred_in_the_run_is_done_later_by_the_finalize_run() {
    let lab = Lab::new(RUN_STEPS);
    let out = lab
        .run(
            false,
            |q| {
                if q.step.ends_with("/finalize") { (Answer::Decline, None) } else { proceed(q) }
            },
            no_hook,
        )
        .await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    {
        let w = lab.world.lock().unwrap();
        assert_eq!(w.finalized, None);
        assert!(!w.frozen, "restore ran before the finalize question");
    }
    let (_, st) = lab.journal();
    assert!(st.context.finalize_deferred.contains("node"));
    assert!(
        out.events.iter().any(
            |e| matches!(e, Event::Note { text, .. } if text.contains("finalize later with `rollpilot finalize -c"))
        ),
        "the way to finalize later is said"
    );

    // Later: `rollpilot finalize` starts a run that exists to finalize, with a typed confirmation.
    let mut cfg = lab.cfg(false);
    cfg.context.finalize_requested = true;
    let (task, events) = lab.spawn(cfg, proceed, no_hook);
    assert_eq!(task.await.unwrap(), RunEnd::Done);
    let events = events.await.unwrap();
    let asked: Vec<_> =
        events.iter().filter_map(|e| if let Event::Ask(q) = e { Some(q.clone()) } else { None }).collect();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].kind, QuestionKind::Typed);
    let w = lab.world.lock().unwrap();
    assert_eq!(w.finalized.as_deref(), Some("1.1.0"));
    let after_first = w.started.iter().rposition(|c| c == "thaw p1").unwrap();
    assert_eq!(&w.started[after_first + 1..], &["finalize p1 1.1.0".to_string()], "only finalize ran");
    let (_, st) = lab.journal();
    assert!(st.context.finalized.contains_key("node"));
}

#[tokio::test(start_paused = true)]
async fn no_rollback_is_offered_past_the_point_of_no_return() {
    let lab =
        Lab::new(&RUN_STEPS.replace("point_of_no_return = \"finalize\"", "point_of_no_return = \"all-upgraded\""));
    {
        let mut w = lab.world.lock().unwrap();
        // p1's start fails once (before the point), p3's start once (after the last install).
        w.fail_verb.insert("start p1".into(), 1);
        w.fail_verb.insert("start p3".into(), 1);
    }
    let out = lab
        .run(
            false,
            |q| match q.kind {
                QuestionKind::Failure => (Answer::Retry, None),
                _ => proceed(q),
            },
            no_hook,
        )
        .await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    let failures: Vec<_> = out.questions().into_iter().filter(|q| q.kind == QuestionKind::Failure).collect();
    assert_eq!(failures.len(), 2);
    assert_eq!(failures[0].step, "peers/p1/start");
    assert!(labels(failures[0]).contains(&"Roll back node".to_string()), "{:?}", labels(failures[0]));
    assert_eq!(failures[1].step, "peers/p3/start");
    assert!(!labels(failures[1]).contains(&"Roll back node".to_string()), "{:?}", labels(failures[1]));
    assert!(
        failures[1].lines.iter().any(|l| l.contains("none: past the point of no return")),
        "{:?}",
        failures[1].lines
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_finalize_skipped_by_the_operator_is_deferred_not_recorded_as_done() {
    let lab = Lab::new(RUN_STEPS);
    lab.world.lock().unwrap().fail_verb.insert("finalize p1".into(), 1);
    let out = lab
        .run(
            false,
            |q| match q.kind {
                QuestionKind::Failure => (Answer::Skip, Some(q.expected.clone())),
                _ => proceed(q),
            },
            no_hook,
        )
        .await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    let q = out.questions().into_iter().find(|q| q.kind == QuestionKind::Failure).unwrap();
    assert_eq!(q.step, "peers/p1/finalize");
    assert_eq!(labels(q), vec!["Abort", "Retry", "Skip step"], "no rollback past the point, no node skipped");
    assert_eq!(lab.world.lock().unwrap().finalized, None);
    let (_, st) = lab.journal();
    assert!(st.context.finalized.is_empty());
    assert!(st.context.finalize_deferred.contains("node"));
    assert!(st.context.skipped_nodes.is_empty());
}
