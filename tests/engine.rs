//! The run engine in-process, on tokio's paused clock, against a scripted cluster (see
//! `engine_support`): each recovery choice does exactly what its label says, the lock fences
//! every remote action, an interrupted run is resumed without running anything twice, and the
//! progress count is one number that only moves with a reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod engine_support;

use engine_support::*;
use rollpilot::run::events::{Answer, Event, QuestionKind, RunEnd};

fn choice_labels(q: &rollpilot::run::events::Question) -> Vec<String> {
    q.choices.iter().map(|c| c.label.clone()).collect()
}

#[tokio::test(start_paused = true)]
async fn a_pair_is_upgraded_passive_first_with_one_progress_count() {
    let lab = Lab::new(PAIR);
    let out = lab.run(false, proceed, no_hook).await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    let w = lab.world.lock().unwrap();
    assert_eq!(w.version("n1"), "1.1.0");
    assert_eq!(w.version("n2"), "1.1.0");
    // The passive first, then the switchover, then the old active.
    assert_eq!(w.started.first().map(String::as_str), Some("stop n2"), "{:?}", w.started);
    let sw = w.started.iter().position(|c| c.starts_with("switchover n1")).expect("a switchover");
    assert!(w.started.iter().position(|c| c == "stop n1").unwrap() > sw, "{:?}", w.started);
    // One count: the total never moves without a re-plan, and ends at done == total.
    let p = out.progress();
    let total = p[0].1;
    assert!(p.iter().all(|(_, t)| *t == total), "{p:?}");
    assert_eq!(p.last().copied(), Some((total, total)));
    // The journal replays to what the live run reported.
    let (entries, state) = lab.journal();
    let done_events = out.events.iter().filter(|e| matches!(e, Event::StepDone { .. })).count();
    assert_eq!(state.done_steps.len(), done_events);
    assert_eq!(state.finished.as_deref(), Some("done"));
    assert_eq!(records(&entries, "step-started").len(), done_events, "every step ran exactly once");
}

#[tokio::test(start_paused = true)]
async fn retry_runs_the_failed_command_again_as_a_new_attempt() {
    let lab = Lab::new(PEERS);
    lab.world.lock().unwrap().fail_install.insert("p1".into(), 1);
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
    let failure = out.questions().into_iter().find(|q| q.kind == QuestionKind::Failure).expect("a failure question");
    assert!(choice_labels(failure).contains(&"Retry".to_string()));
    assert!(failure.lines.iter().any(|l| l.contains("No space left on device")), "{:?}", failure.lines);
    let w = lab.world.lock().unwrap();
    assert_eq!(w.started.iter().filter(|c| c.as_str() == "install p1 1.1.0").count(), 2, "{:?}", w.started);
    let (entries, _) = lab.journal();
    let attempts: Vec<(String, u64)> = records(&entries, "step-finished")
        .iter()
        .filter(|r| r["step"] == "peers/p1/install")
        .map(|r| (r["outcome"].as_str().unwrap().to_string(), r["attempt"].as_u64().unwrap()))
        .collect();
    assert_eq!(attempts, vec![("failed".to_string(), 1), ("ok".to_string(), 2)]);
}

#[tokio::test(start_paused = true)]
async fn keep_waiting_waits_again_for_the_same_check_and_says_how_it_moved() {
    let lab = Lab::new(PAIR);
    // n2 needs 100 s to sync after its restart; a gate waits 60 s.
    lab.world.lock().unwrap().sync_after.insert("n2".into(), std::time::Duration::from_secs(100));
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
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    let q = out.questions().into_iter().find(|q| q.kind == QuestionKind::Failure).expect("a timed-out check");
    assert!(choice_labels(q).contains(&"Keep waiting".to_string()), "{:?}", choice_labels(q));
    assert!(q.title.contains("did not hold in time"), "{}", q.title);
    assert!(q.lines.iter().any(|l| l.contains("The check last saw") && l.contains("Trend:")), "{:?}", q.lines);
    // Nothing was run again: one start of n2.
    let w = lab.world.lock().unwrap();
    assert_eq!(w.started.iter().filter(|c| c.as_str() == "start n2").count(), 1, "{:?}", w.started);
}

#[tokio::test(start_paused = true)]
async fn roll_back_installs_the_version_the_node_ran_when_the_run_began() {
    let lab = Lab::new(PEERS);
    lab.world.lock().unwrap().fail_install.insert("p1".into(), 1);
    let out = lab
        .run(
            false,
            |q| match q.kind {
                QuestionKind::Failure => (Answer::Rollback, None),
                QuestionKind::AfterRollback => (Answer::Abort, None),
                _ => proceed(q),
            },
            no_hook,
        )
        .await;
    assert_eq!(out.end, RunEnd::Aborted);
    let q = out.questions().into_iter().find(|q| q.kind == QuestionKind::Failure).unwrap();
    let roll = q.choices.iter().find(|c| c.answer == Answer::Rollback).expect("roll back offered");
    assert!(roll.consequence.contains("reinstall 1.0.0 on p1"), "{}", roll.consequence);
    assert!(!q.lines.iter().any(|l| l.contains("1.1.0") && l.contains("reinstall")), "{:?}", q.lines);
    let w = lab.world.lock().unwrap();
    assert!(w.started.contains(&"install p1 1.0.0".to_string()), "{:?}", w.started);
    assert_eq!(w.version("p1"), "1.0.0");
    assert!(w.nodes["p1"].running.is_some(), "the rolled-back node runs again");
    // Nothing else was touched.
    assert!(w.started.iter().all(|c| c.contains("p1")), "{:?}", w.started);
    assert!(out.finished_message().contains("rollpilot resume -c c.toml"), "{}", out.finished_message());
}

#[tokio::test(start_paused = true)]
async fn skip_leaves_the_node_and_goes_on_with_the_others() {
    let lab = Lab::new(PEERS);
    // p1 refuses to stop: it keeps serving on its old version.
    lab.world.lock().unwrap().fail_stop.insert("p1".into(), 5);
    let out = lab
        .run(
            false,
            |q| match q.kind {
                QuestionKind::Failure if q.choices.iter().any(|c| c.answer == Answer::Skip) => {
                    (Answer::Skip, Some(q.expected.clone()))
                }
                _ => proceed(q),
            },
            no_hook,
        )
        .await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    let w = lab.world.lock().unwrap();
    assert_eq!((w.version("p2"), w.version("p3")), ("1.1.0".into(), "1.1.0".into()));
    assert_eq!(w.version("p1"), "1.0.0");
    assert_eq!(w.started.iter().filter(|c| c.contains("p1")).count(), 1, "skipped, not retried: {:?}", w.started);
    // The re-plan was explained as the operator's decision, not drift.
    assert!(
        out.events.iter().any(|e| matches!(e, Event::Planned { reason, .. } if reason.contains("p1 was skipped"))),
        "no re-plan naming the skip"
    );
}

#[tokio::test(start_paused = true)]
async fn abort_stops_with_the_cluster_as_it_is_and_the_exact_resume_command() {
    let lab = Lab::new(PEERS);
    lab.world.lock().unwrap().fail_install.insert("p1".into(), 1);
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
    assert!(out.finished_message().contains("`rollpilot resume -c c.toml`"), "{}", out.finished_message());
    let w = lab.world.lock().unwrap();
    assert_eq!(w.started, vec!["stop p1", "install p1 1.1.0"], "nothing after the failure");
    let (_, state) = lab.journal();
    assert_eq!(state.finished.as_deref(), Some("aborted"));
}

#[tokio::test(start_paused = true)]
async fn a_lock_broken_by_someone_else_stops_the_run_before_its_next_action() {
    let lab = Lab::new(PEERS);
    let out = lab
        .run(false, proceed, |e, w| {
            // Another driver breaks the lock while p1 is being installed.
            if let Event::StepStarted { step, .. } = e
                && step.id == "peers/p1/install"
            {
                w.lock().unwrap().lock_owner = Some(("someone-else".into(), i64::MAX));
            }
        })
        .await;
    assert_eq!(out.end, RunEnd::Aborted, "{}", out.finished_message());
    assert!(out.finished_message().contains("no longer ours"), "{}", out.finished_message());
    let w = lab.world.lock().unwrap();
    // The install that was running finishes; nothing starts after it.
    assert_eq!(w.started, vec!["stop p1", "install p1 1.1.0"]);
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_lock_host_pauses_actions_until_the_lock_is_confirmed() {
    let lab = Lab::new(PEERS);
    // The lock host stops answering once the first job has started.
    lab.world.lock().unwrap().lock_unreachable_after = Some(1);
    let out = lab
        .run(false, proceed, |e, w| match e {
            Event::Waiting { what, .. } if what.contains("lock host confirms") => {
                let mut w = w.lock().unwrap();
                // While it waits, nothing was started after the stop.
                assert_eq!(w.started, vec!["stop p1"]);
                w.lock_unreachable = false;
            }
            _ => {}
        })
        .await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, Event::Note { text, .. } if text.contains("cannot confirm the operator lock"))),
        "the wait was said"
    );
}

#[tokio::test(start_paused = true)]
async fn resume_starts_a_step_whose_job_never_started_and_runs_nothing_twice() {
    let lab = Lab::new(PEERS);
    // "Crash" while the install of p1 is being started: its job never appears on the host.
    lab.world.lock().unwrap().hang_start = Some("install p1".into());
    let cfg = lab.cfg(false);
    let (task, events) = lab.spawn(cfg, proceed, |e, _| {
        let _ = e;
    });
    for i in 0.. {
        assert!(i < 3000, "the install of p1 never started");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let (_, st) = lab.journal();
        if st.in_flight.as_ref().is_some_and(|(s, _, _)| s.id == "peers/p1/install") {
            break;
        }
    }
    task.abort();
    let _ = task.await;
    drop(events);
    holder_crashed(&lab.world);
    let out = lab.run(true, proceed, no_hook).await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    assert!(
        !out.questions().iter().any(|q| q.kind == QuestionKind::InDoubt),
        "a job that provably never started needs no question"
    );
    let w = lab.world.lock().unwrap();
    for cmd in ["stop p1", "install p1 1.1.0", "start p1"] {
        assert_eq!(w.started.iter().filter(|c| c.as_str() == cmd).count(), 1, "{cmd}: {:?}", w.started);
    }
    let (entries, _) = lab.journal();
    assert!(records(&entries, "step-finished").iter().any(|r| r["outcome"] == "not-started"));
    assert_eq!(records(&entries, "resumed").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn resume_reattaches_to_a_job_that_is_still_running() {
    let lab = Lab::new(PEERS);
    let cfg = lab.cfg(false);
    let (task, events) = lab.spawn(cfg, proceed, no_hook);
    // Kill the engine while the install of p1 runs on its host.
    for i in 0.. {
        assert!(i < 6000, "the install of p1 never started");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if lab.world.lock().unwrap().started.iter().any(|c| c == "install p1 1.1.0") {
            break;
        }
    }
    task.abort();
    let _ = task.await;
    drop(events);
    holder_crashed(&lab.world);
    let out = lab.run(true, proceed, no_hook).await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    let w = lab.world.lock().unwrap();
    assert_eq!(w.started.iter().filter(|c| c.as_str() == "install p1 1.1.0").count(), 1, "{:?}", w.started);
    let (entries, _) = lab.journal();
    assert_eq!(records(&entries, "reattached").len(), 1);
    // The report tells the interruption and the resume.
    let md = rollpilot::run::report::markdown("r", &entries);
    assert!(md.contains("**interruption**"), "{md}");
    assert!(md.contains("**resumed** by tester"), "{md}");
}

/// Every step kind of the pair (stop, install, start, switchover, failback) fails once: Retry
/// runs that command again and the run ends done; Abort stops right there.
#[tokio::test(start_paused = true)]
async fn each_step_kind_failing_once_retry_finishes_and_abort_stops_there() {
    let probe = Lab::new(PAIR);
    let baseline = probe.run(false, proceed, no_hook).await;
    assert_eq!(baseline.end, RunEnd::Done, "{}", baseline.finished_message());
    let commands = probe.world.lock().unwrap().started.clone();
    for verb in ["stop", "install", "start", "switchover"] {
        assert!(commands.iter().any(|c| c.starts_with(verb)), "{verb} is part of the plan: {commands:?}");
    }
    // The failback is the last switchover, back to n1.
    assert!(commands.iter().filter(|c| c.starts_with("switchover")).count() >= 2, "{commands:?}");
    for (i, cmd) in commands.iter().enumerate() {
        let key: String = cmd.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        // Retry.
        let lab = Lab::new(PAIR);
        lab.world.lock().unwrap().fail.insert(key.clone(), 1);
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
        assert_eq!(out.end, RunEnd::Done, "retry after {key}: {}", out.finished_message());
        let started = lab.world.lock().unwrap().started.clone();
        assert_eq!(started.iter().filter(|c| *c == cmd).count(), 2, "{key} ran twice: {started:?}");
        // Abort.
        let lab = Lab::new(PAIR);
        lab.world.lock().unwrap().fail.insert(key.clone(), 1);
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
        assert_eq!(out.end, RunEnd::Aborted, "abort after {key}");
        let w = lab.world.lock().unwrap();
        assert_eq!(w.started, commands[..=i].to_vec(), "nothing after the failed {key}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_role_moved_by_someone_else_is_drift_and_the_plan_says_why() {
    let lab = Lab::new(PAIR);
    // Right when n2 is back, someone moves the active role to it by hand.
    lab.world.lock().unwrap().on_done.push((
        "start n2".into(),
        Box::new(|w: &mut World| {
            w.nodes.get_mut("n1").unwrap().active = false;
            w.nodes.get_mut("n2").unwrap().active = true;
        }),
    ));
    let out = lab.run(false, proceed, no_hook).await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    assert!(
        out.events.iter().any(|e| matches!(e, Event::Planned { reason, .. } if reason.starts_with("R12 drift"))),
        "the re-plan is called drift: {:?}",
        out.events
            .iter()
            .filter_map(|e| match e {
                Event::Planned { reason, .. } => Some(reason.clone()),
                Event::Note { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    );
    let w = lab.world.lock().unwrap();
    assert!(
        !w.started.iter().any(|c| c == "switchover n1 n2"),
        "no switchover to a node already active: {:?}",
        w.started
    );
    assert_eq!((w.version("n1"), w.version("n2")), ("1.1.0".into(), "1.1.0".into()));
}

fn confirms(out: &Outcome) -> Vec<String> {
    out.questions().iter().filter(|q| q.kind == QuestionKind::Confirm).map(|q| q.step.clone()).collect()
}

#[tokio::test(start_paused = true)]
async fn pause_first_asks_for_each_groups_canary_only_and_journals_the_rest_as_the_policys() {
    let lab = Lab::new(PEERS);
    lab.pause.set(Some(rollpilot::run::events::PausePolicy::First));
    let out = lab.run(false, proceed, no_hook).await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    assert_eq!(confirms(&out), vec!["peers/p1/stop"], "only the canary is asked");
    let (entries, _) = lab.journal();
    let auto = records(&entries, "decided")
        .into_iter()
        .filter(|r| r["by"].as_str().is_some_and(|b| b.starts_with("auto (--pause first)")))
        .count();
    assert_eq!(auto, 2, "p2 and p3 went on by the policy, journaled as such");
    assert!(lab.world.lock().unwrap().started.len() == 9);
}

#[tokio::test(start_paused = true)]
async fn a_failure_under_pause_first_returns_to_asking() {
    let lab = Lab::new(PEERS);
    lab.pause.set(Some(rollpilot::run::events::PausePolicy::First));
    lab.world.lock().unwrap().fail_install.insert("p2".into(), 1);
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
    assert_eq!(confirms(&out), vec!["peers/p1/stop", "peers/p3/stop"], "asked again after the failure");
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::Policy { pause: rollpilot::run::events::PausePolicy::Every, why } if why.contains("p2/install failed")
    )));
}

#[tokio::test(start_paused = true)]
async fn pause_none_asks_nothing_ordinary() {
    let lab = Lab::new(PEERS);
    lab.pause.set(Some(rollpilot::run::events::PausePolicy::None));
    let out = lab.run(false, proceed, no_hook).await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    assert!(out.questions().is_empty(), "{:?}", out.questions());
}

#[tokio::test(start_paused = true)]
async fn a_lock_host_that_stays_away_is_a_question_not_an_endless_wait() {
    let lab = Lab::new(PEERS);
    lab.world.lock().unwrap().lock_unreachable_after = Some(1);
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
    let q = out.questions().into_iter().find(|q| q.kind == QuestionKind::Failure).expect("a question");
    assert!(q.title.contains("does not answer"), "{}", q.title);
    assert!(choice_labels(q).contains(&"Keep waiting".to_string()));
    assert_eq!(lab.world.lock().unwrap().started, vec!["stop p1"], "nothing started without the lock");
}

#[tokio::test(start_paused = true)]
async fn abort_from_a_face_that_cannot_confirm_stops_the_run_instead_of_asking_forever() {
    let lab = Lab::new(PEERS);
    // A headless face without --yes answers Abort to a confirmation that offers Cancel/Proceed.
    let out = lab.run(false, |_| (Answer::Abort, None), no_hook).await;
    assert_eq!(out.end, RunEnd::Aborted, "{}", out.finished_message());
    assert_eq!(out.questions().len(), 1, "asked once, not again and again");
    assert!(lab.world.lock().unwrap().started.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_step_that_outlives_its_timeout_is_followed_longer_never_started_twice() {
    let lab = Lab::new(PEERS);
    // The install of p1 takes 200 s; timeouts.step is 120 s.
    lab.world.lock().unwrap().takes.insert("install p1".into(), std::time::Duration::from_secs(200));
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
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    let q = out.questions().into_iter().find(|q| q.kind == QuestionKind::Failure).expect("asked");
    assert!(q.title.contains("longer than timeouts.step"), "{}", q.title);
    assert!(!choice_labels(q).contains(&"Retry".to_string()), "no second copy offered: {:?}", choice_labels(q));
    let w = lab.world.lock().unwrap();
    assert_eq!(w.started.iter().filter(|c| c.as_str() == "install p1 1.1.0").count(), 1, "{:?}", w.started);
}

#[tokio::test(start_paused = true)]
async fn stopping_at_an_overrun_leaves_the_job_in_flight_and_resume_reattaches() {
    let lab = Lab::new(PEERS);
    lab.world.lock().unwrap().takes.insert("install p1".into(), std::time::Duration::from_secs(200));
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
    assert_eq!(out.end, RunEnd::Interrupted, "{}", out.finished_message());
    assert!(out.finished_message().contains("re-attaches"), "{}", out.finished_message());
    let (_, st) = lab.journal();
    assert!(st.in_flight.is_some(), "still in flight for resume");
    let out = lab.run(true, proceed, no_hook).await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    let w = lab.world.lock().unwrap();
    assert_eq!(w.started.iter().filter(|c| c.as_str() == "install p1 1.1.0").count(), 1, "{:?}", w.started);
}

#[tokio::test(start_paused = true)]
async fn resume_after_an_aborted_failure_says_it_runs_the_step_again_as_a_new_attempt() {
    let lab = Lab::new(PEERS);
    lab.world.lock().unwrap().fail_install.insert("p1".into(), 1);
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
    let out = lab.run(true, proceed, no_hook).await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    assert!(
        out.events.iter().any(|e| matches!(e, Event::Note { text, .. }
            if text.contains("peers/p1/install had failed (failed)") && text.contains("attempt 2"))),
        "the re-run is announced"
    );
    let (entries, _) = lab.journal();
    let attempts: Vec<u64> = records(&entries, "step-started")
        .iter()
        .filter(|r| r["step"]["id"] == "peers/p1/install")
        .map(|r| r["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, vec![1, 2]);
}

fn batch_lab(extra: &str) -> Lab {
    Lab::new(&BATCH.replace("{extra}", extra))
}

/// Whether the commands overlapped in time on their hosts (each started before the others ended).
fn overlapped(w: &[(String, tokio::time::Instant, tokio::time::Instant)], cmds: &[&str]) -> bool {
    let spans: Vec<_> =
        cmds.iter().map(|c| w.iter().find(|s| s.0 == *c).unwrap_or_else(|| panic!("{c} never ran"))).collect();
    spans.iter().all(|a| spans.iter().all(|b| a.1 < b.2 && b.1 < a.2))
}

#[tokio::test(start_paused = true)]
async fn a_batch_runs_its_nodes_side_by_side_with_one_confirmation_naming_them_all() {
    let lab = batch_lab("");
    let began = tokio::time::Instant::now();
    let out = lab.run(false, proceed, no_hook).await;
    let took = began.elapsed();
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    let w = lab.world.lock().unwrap().spans.clone();
    for n in ["p1", "p2", "p3", "p4", "p5", "p6"] {
        assert_eq!(lab.world.lock().unwrap().version(n), "1.1.0");
    }
    // Same step of every node of the batch at once; the second batch only after the first.
    assert!(overlapped(&w, &["install p1 1.1.0", "install p2 1.1.0", "install p3 1.1.0"]), "{w:?}");
    assert!(overlapped(&w, &["stop p4", "stop p5", "stop p6"]));
    let end_first =
        w.iter().filter(|s| ["start p1", "start p2", "start p3"].contains(&s.0.as_str())).map(|s| s.2).max().unwrap();
    let stop4 = w.iter().find(|s| s.0 == "stop p4").unwrap().1;
    assert!(stop4 >= end_first, "batch 2 began before batch 1 was back");
    // One confirmation per batch, naming all its nodes.
    let confirms: Vec<_> = out.questions().into_iter().filter(|q| q.kind == QuestionKind::Confirm).collect();
    assert_eq!(confirms.len(), 2, "{:?}", confirms.iter().map(|q| &q.title).collect::<Vec<_>>());
    assert!(confirms[0].title.contains("batch 1/2 of peers (p1, p2, p3)"), "{}", confirms[0].title);
    assert!(confirms[1].title.contains("batch 2/2 of peers (p4, p5, p6)"), "{}", confirms[1].title);
    assert!(
        confirms[0].lines.iter().any(|l| l.starts_with("Why this is safe: 3 of 6 members")),
        "{:?}",
        confirms[0].lines
    );
    // Every step ran exactly once and the journal saw each node's steps.
    let (entries, state) = lab.journal();
    assert_eq!(records(&entries, "step-started").len(), 18);
    assert_eq!(state.done_steps.len(), 18);
    assert!(state.in_flight_all.is_empty());
    // About two node-sequences long, not six.
    let one_at_a_time = {
        let lab = Lab::new(&BATCH.replace("max_unavailable = 3", "").replace("{extra}", ""));
        let began = tokio::time::Instant::now();
        assert_eq!(lab.run(false, proceed, no_hook).await.end, RunEnd::Done);
        began.elapsed()
    };
    eprintln!("6 peers, paused clock: max_unavailable = 3 took {took:?}, one at a time {one_at_a_time:?}");
    assert!(took * 2 < one_at_a_time, "batched {took:?} vs one at a time {one_at_a_time:?}");
}

#[tokio::test(start_paused = true)]
async fn pause_first_confirms_the_first_batch_only() {
    let lab = batch_lab("");
    lab.pause.set(Some(rollpilot::run::events::PausePolicy::First));
    let out = lab.run(false, proceed, no_hook).await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    let confirms: Vec<_> = out.questions().into_iter().filter(|q| q.kind == QuestionKind::Confirm).collect();
    assert_eq!(confirms.len(), 1);
    assert!(confirms[0].title.contains("(p1, p2, p3)"));
}

#[tokio::test(start_paused = true)]
async fn a_failure_in_a_batch_stops_new_batches_and_the_question_names_every_node_of_it() {
    let lab = batch_lab("");
    lab.world.lock().unwrap().fail_install.insert("p2".into(), 1);
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
    assert!(text.contains("peers/p2/install failed on p2"), "{text}");
    assert!(text.contains("batch 1/2 of peers (p1, p2, p3)"), "{text}");
    assert!(text.contains("p1: install done; p2: install FAILED; p3: install done"), "{text}");
    assert!(text.contains("Nothing new starts until you decide"), "{text}");
    let w = lab.world.lock().unwrap();
    // The other nodes of the batch finished the step they were running; nothing else started.
    assert!(w.started.iter().all(|c| !c.contains("p4") && !c.contains("p5") && !c.contains("p6")), "{:?}", w.started);
    assert!(w.started.iter().all(|c| !c.starts_with("start ")), "{:?}", w.started);
}

#[tokio::test(start_paused = true)]
async fn max_failures_tolerates_that_many_failed_nodes_then_stops() {
    // One failure tolerated: p2 is reported and left out, the rollout goes on.
    let lab = batch_lab("max_failures = 1");
    lab.world.lock().unwrap().fail_install.insert("p2".into(), 9);
    let out = lab.run(false, proceed, no_hook).await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    assert!(!out.questions().iter().any(|q| q.kind == QuestionKind::Failure));
    let notes: Vec<String> = out
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Note { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert!(
        notes.iter().any(|n| n.contains("tolerated under max_failures = 1 (1 of 1 used): p2 is left as it is")),
        "{notes:#?}"
    );
    assert!(out.finished_message().contains("p2"), "{}", out.finished_message());
    {
        let w = lab.world.lock().unwrap();
        assert_eq!(w.version("p2"), "1.0.0");
        for n in ["p1", "p3", "p4", "p5", "p6"] {
            assert_eq!(w.version(n), "1.1.0", "{n}");
        }
    }
    // A second failure exceeds it: the run stops and asks, naming the batch.
    let lab = batch_lab("max_failures = 1");
    {
        let mut w = lab.world.lock().unwrap();
        w.fail_install.insert("p2".into(), 9);
        w.fail_install.insert("p5".into(), 9);
    }
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
    let failures: Vec<_> = out.questions().into_iter().filter(|q| q.kind == QuestionKind::Failure).collect();
    assert_eq!(failures.len(), 1);
    let text = failures[0].lines.join("\n");
    assert!(text.contains("peers/p5/install failed"), "{text}");
    // p2 is down and counts against max_unavailable = 3: the next batch has two nodes.
    assert!(text.contains("(p4, p5)"), "{text}");
    assert!(text.contains("1 of max_failures = 1 already used"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn resume_after_a_crash_mid_batch_reattaches_every_running_job_and_runs_none_twice() {
    let lab = batch_lab("");
    lab.world.lock().unwrap().takes.insert("install p3".into(), std::time::Duration::from_secs(30));
    let cfg = lab.cfg(false);
    let (task, events) = lab.spawn(cfg, proceed, no_hook);
    for i in 0.. {
        assert!(i < 6000, "the installs never started");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let (_, st) = lab.journal();
        if st.in_flight_all.len() == 3 && st.in_flight_all.keys().all(|k| k.ends_with("/install")) {
            break;
        }
    }
    task.abort();
    let _ = task.await;
    drop(events);
    holder_crashed(&lab.world);
    let (_, st) = lab.journal();
    assert_eq!(
        st.in_flight_all.keys().cloned().collect::<Vec<_>>(),
        vec!["peers/p1/install", "peers/p2/install", "peers/p3/install"]
    );
    let out = lab.run(true, proceed, no_hook).await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    let w = lab.world.lock().unwrap();
    for n in ["p1", "p2", "p3"] {
        let cmd = format!("install {n} 1.1.0");
        assert_eq!(w.started.iter().filter(|c| **c == cmd).count(), 1, "{cmd}: {:?}", w.started);
    }
    let (entries, _) = lab.journal();
    assert_eq!(records(&entries, "reattached").len(), 3);
}

#[tokio::test(start_paused = true)]
async fn parallel_groups_run_two_pairs_side_by_side_each_passive_first_never_both_members_down() {
    let lab = Lab::new(TWO_PAIRS);
    let began = tokio::time::Instant::now();
    let out = lab.run(false, proceed, no_hook).await;
    let took = began.elapsed();
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    let spans = lab.world.lock().unwrap().spans.clone();
    for n in ["n1", "n2", "n3", "n4"] {
        assert_eq!(lab.world.lock().unwrap().version(n), "1.1.0", "{n}");
    }
    // Both groups' passives first, side by side; each group's own order is kept.
    assert!(overlapped(&spans, &["stop n2", "stop n4"]), "{spans:?}");
    assert!(overlapped(&spans, &["install n2 1.1.0", "install n4 1.1.0"]), "{spans:?}");
    let at = |c: &str| spans.iter().position(|s| s.0 == c).unwrap_or_else(|| panic!("{c} never ran: {spans:?}"));
    for (active, passive) in [("n1", "n2"), ("n3", "n4")] {
        assert!(at(&format!("start {passive}")) < at(&format!("switchover {active} {passive}")));
        assert!(at(&format!("switchover {active} {passive}")) < at(&format!("stop {active}")));
        // Never both members of one group down: the active stops after its passive is back.
        let passive_back = spans.iter().find(|s| s.0 == format!("start {passive}")).unwrap().2;
        let active_down = spans.iter().find(|s| s.0 == format!("stop {active}")).unwrap().1;
        assert!(active_down >= passive_back);
    }
    // One confirmation per wave, naming both groups' steps.
    let confirms: Vec<_> = out.questions().into_iter().filter(|q| q.kind == QuestionKind::Confirm).collect();
    assert!(confirms[0].title.contains("db: stop n2; db2: stop n4"), "{}", confirms[0].title);
    assert!(confirms[0].lines.iter().any(|l| l.contains("share no member")), "{:?}", confirms[0].lines);
    // About one pair's time, not two.
    let one_at_a_time = {
        let lab = Lab::new(&TWO_PAIRS.replace("parallel_groups = 2", ""));
        let began = tokio::time::Instant::now();
        assert_eq!(lab.run(false, proceed, no_hook).await.end, RunEnd::Done);
        began.elapsed()
    };
    eprintln!("2 pairs, paused clock: parallel_groups = 2 took {took:?}, one group at a time {one_at_a_time:?}");
    assert!(took * 3 < one_at_a_time * 2, "side by side {took:?} vs one group at a time {one_at_a_time:?}");
}

#[tokio::test(start_paused = true)]
async fn a_failure_in_one_lane_stops_every_lane_and_names_both() {
    let lab = Lab::new(TWO_PAIRS);
    lab.world.lock().unwrap().fail_install.insert("n4".into(), 1);
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
    let f = out.questions().into_iter().find(|q| q.kind == QuestionKind::Failure).unwrap();
    let text = f.lines.join("\n");
    assert!(text.contains("n2: install done; n4: install FAILED"), "{text}");
    let w = lab.world.lock().unwrap();
    assert!(!w.started.iter().any(|c| c.starts_with("start ")), "nothing new started: {:?}", w.started);
}
