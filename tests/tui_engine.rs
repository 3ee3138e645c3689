//! The TUI driven by keys over the real run engine (the scripted cluster of `engine_support`,
//! tokio's paused clock): what the screen shows comes from what the engine says, and the keys an
//! operator presses reach the engine as the answers they mean.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod engine_support;

use engine_support::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use rollpilot::run::events::{Answer, Event, Question, QuestionKind, RunEnd};
use rollpilot::run::machine::{Failure, Input, RunMachine, RunPhase, StepState};
use rollpilot::tui::state::{Modal, State};
use rollpilot::tui::{Action, Effect, Theme, update};
use std::time::Duration;

fn key(c: KeyCode) -> Action {
    Action::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn screen(state: &State) -> String {
    let mut t = Terminal::new(TestBackend::new(200, 60)).unwrap();
    t.draw(|f| rollpilot::tui::view::render(state, f)).unwrap();
    let b = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..b.area.height {
        for x in 0..b.area.width {
            out.push_str(b[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

/// Drives the engine with the TUI until the run ends; `choose` picks the answer for each failure
/// dialog (confirmations are answered with `y`). Returns the final state and every screen that
/// showed a dialog.
async fn drive(
    lab: &Lab,
    choose: impl Fn(&rollpilot::run::events::Question) -> Answer,
) -> (State, Vec<String>, RunEnd) {
    drive_with(lab, choose, 0).await
}

/// As [`drive`], pressing `P` (cycle the pause policy) `policy_presses` times at the first dialog.
async fn drive_with(
    lab: &Lab,
    choose: impl Fn(&rollpilot::run::events::Question) -> Answer,
    mut policy_presses: usize,
) -> (State, Vec<String>, RunEnd) {
    let (task, mut events, commands, poller) = lab.spawn_raw(lab.cfg(false));
    let t0: jiff::Timestamp = "2026-12-02T02:00:00Z".parse().unwrap();
    let start = tokio::time::Instant::now();
    let now = || t0.checked_add(jiff::SignedDuration::try_from(start.elapsed()).unwrap()).unwrap();
    let mut state = State::new(lab.cluster.clone(), lab.dir.path().join("c.toml"), None, Theme::monochrome(), t0);
    state.tz = jiff::tz::TimeZone::UTC;
    let send = |fx: Vec<Effect>| {
        for e in fx {
            if let Effect::Send(c) = e {
                commands.send(c).unwrap();
            }
        }
    };
    update(&mut state, Action::Resize(200, 60));
    let mut dialogs = Vec::new();
    while let Some(e) = events.recv().await {
        send(update(&mut state, Action::Tick(now())));
        send(update(&mut state, Action::Snapshot(poller.current())));
        let finished = matches!(e, Event::Finished { .. });
        send(update(&mut state, Action::Exec(e)));
        if finished {
            break;
        }
        if let Some(Modal::Question(d)) = &state.ui.modal {
            let q = d.question.clone();
            dialogs.push(screen(&state));
            // An operator reads before pressing a key (the dialog ignores keys in its first moment).
            tokio::time::sleep(Duration::from_secs(2)).await;
            send(update(&mut state, Action::Tick(now())));
            while policy_presses > 0 {
                send(update(&mut state, Action::Key(KeyEvent::new(KeyCode::Char('P'), KeyModifiers::SHIFT))));
                policy_presses -= 1;
            }
            if q.choices.iter().any(|c| c.answer == Answer::Proceed) && !q.choices.iter().any(|c| c.typed) {
                send(update(&mut state, key(KeyCode::Char('y'))));
            } else {
                let want = choose(&q);
                let target = q.choices.iter().position(|c| c.answer == want).expect("the choice is offered");
                for _ in 0..q.choices.len() {
                    match &state.ui.modal {
                        Some(Modal::Question(d)) if d.focus != target => {
                            send(update(&mut state, key(KeyCode::Tab)));
                        }
                        _ => break,
                    }
                }
                send(update(&mut state, key(KeyCode::Enter)));
            }
        }
    }
    send(update(&mut state, Action::Snapshot(poller.refresh().await)));
    let end = task.await.unwrap();
    (state, dialogs, end)
}

#[tokio::test(start_paused = true)]
async fn y_confirms_each_step_and_the_screen_counts_what_the_engine_counts() {
    let lab = Lab::new(PAIR);
    let (state, dialogs, end) = drive(&lab, |_| Answer::Abort).await;
    assert_eq!(end, RunEnd::Done);
    assert!(!dialogs.is_empty(), "the steps were confirmed in dialogs");
    let s = screen(&state);
    assert!(s.contains("FINISHED: DONE"), "{s}");
    let counts = regex::Regex::new(r"(\d+)/(\d+) steps").unwrap();
    let c = counts.captures(&s).expect("a step count on screen");
    assert_eq!(c[1].to_string(), c[2].to_string(), "every step done at the end: {s}");
    let (_, st) = lab.journal();
    assert_eq!(c[1].parse::<usize>().unwrap(), st.done_steps.len(), "the screen counts what the journal has");
    let w = lab.world.lock().unwrap();
    assert_eq!((w.version("n1"), w.version("n2")), ("1.1.0".into(), "1.1.0".into()));
}

#[tokio::test(start_paused = true)]
async fn retry_chosen_in_the_failure_dialog_runs_the_install_again() {
    let lab = Lab::new(PEERS);
    lab.world.lock().unwrap().fail_install.insert("p2".into(), 1);
    let (state, dialogs, end) = drive(&lab, |_| Answer::Retry).await;
    assert_eq!(end, RunEnd::Done, "{}", screen(&state));
    let failure = dialogs.iter().find(|d| d.contains("peers/p2/install failed")).expect("a failure dialog");
    assert!(failure.contains("Retry") && failure.contains("Roll back node"), "{failure}");
    assert!(failure.contains("reinstall 1.0.0 on p2"), "the rollback names the original version:\n{failure}");
    let w = lab.world.lock().unwrap();
    assert_eq!(w.started.iter().filter(|c| c.as_str() == "install p2 1.1.0").count(), 2, "{:?}", w.started);
}

#[tokio::test(start_paused = true)]
async fn shift_p_at_the_first_question_makes_it_the_groups_canary() {
    let lab = Lab::new(PEERS);
    let (state, dialogs, end) = drive_with(&lab, |_| Answer::Abort, 1).await;
    assert_eq!(end, RunEnd::Done, "{}", screen(&state));
    assert_eq!(dialogs.len(), 1, "only the canary is asked once the policy is `first`");
    assert!(screen(&state).contains("pause: first"), "{}", screen(&state));
    let (entries, _) = lab.journal();
    assert!(records(&entries, "policy").iter().any(|r| r["pause"] == "first"));
}

/// The run state machine fed with a finished run's live events.
fn live_machine(events: &[Event]) -> RunMachine {
    let mut m = RunMachine::new();
    for e in events {
        if let Some(i) = Input::from_event(e) {
            m.apply(i);
        }
    }
    m
}

/// Replaying the journal a run wrote gives the step states (and attempts) its live events gave.
async fn replay_equals_live(lab: &Lab, decide: impl FnMut(&Question) -> (Answer, Option<String>) + Send + 'static) {
    let out = lab.run(false, decide, no_hook).await;
    let live = live_machine(&out.events);
    let (entries, st) = lab.journal();
    let replayed = RunMachine::replay(&entries);
    assert!(!live.states().is_empty());
    assert_eq!(live.states(), replayed.states(), "live events and journal replay disagree");
    assert_eq!(replayed.states(), st.machine.states(), "RunState replays through the same machine");
    assert_eq!(live.phase, replayed.phase);
    assert_eq!(live.phase, RunPhase::Finished(out.end));
    assert_eq!(live.done, replayed.done);
}

#[tokio::test(start_paused = true)]
async fn a_replayed_journal_gives_the_states_of_the_live_run() {
    let lab = Lab::new(PAIR);
    replay_equals_live(&lab, proceed).await;
    let (entries, _) = lab.journal();
    let m = RunMachine::replay(&entries);
    assert!(m.steps().all(|s| s.state == StepState::Done), "{:?}", m.states());
}

#[tokio::test(start_paused = true)]
async fn a_retried_step_replays_as_done_on_its_second_attempt() {
    let lab = Lab::new(PEERS);
    lab.world.lock().unwrap().fail_install.insert("p2".into(), 1);
    replay_equals_live(&lab, |q| match q.kind {
        QuestionKind::Failure => (Answer::Retry, None),
        _ => proceed(q),
    })
    .await;
    let (entries, _) = lab.journal();
    let m = RunMachine::replay(&entries);
    let s = m.step("peers/p2/install").expect("the install of p2");
    assert_eq!((s.state, s.attempts), (StepState::Done, 2));
    assert!(s.job.as_deref().is_some_and(|j| j.contains("peers")), "{:?}", s.job);
}

#[tokio::test(start_paused = true)]
async fn a_skipped_node_and_an_abort_replay_alike() {
    let lab = Lab::new(PEERS);
    // p2 refuses to stop: the operator leaves it out.
    lab.world.lock().unwrap().fail_stop.insert("p2".into(), 5);
    replay_equals_live(&lab, |q| match q.kind {
        QuestionKind::Failure if q.choices.iter().any(|c| c.answer == Answer::Skip) => {
            (Answer::Skip, Some(q.expected.clone()))
        }
        _ => proceed(q),
    })
    .await;
    let (entries, _) = lab.journal();
    let m = RunMachine::replay(&entries);
    assert_eq!(m.step("peers/p2/stop").map(|s| s.state), Some(StepState::Skipped), "{:?}", m.states());
    assert!(m.step("peers/p3/install").is_some_and(|s| s.state == StepState::Done), "{:?}", m.states());

    let lab = Lab::new(PEERS);
    lab.world.lock().unwrap().fail_install.insert("p1".into(), 9);
    replay_equals_live(&lab, proceed).await;
    let (entries, _) = lab.journal();
    let m = RunMachine::replay(&entries);
    let failed: Vec<_> = m.steps().filter(|s| matches!(s.state, StepState::Failed { .. })).collect();
    assert_eq!(failed.len(), 1, "{:?}", m.states());
    assert_eq!(failed[0].state, StepState::Failed { attempt: 1, reason: Failure::Exit(Some(1)) });
}

#[tokio::test(start_paused = true)]
async fn the_screen_shows_the_states_the_journal_replays() {
    let lab = Lab::new(PEERS);
    lab.world.lock().unwrap().fail_install.insert("p2".into(), 1);
    let (state, _, end) = drive(&lab, |_| Answer::Retry).await;
    assert_eq!(end, RunEnd::Done);
    let (entries, _) = lab.journal();
    assert_eq!(state.run.machine.states(), RunMachine::replay(&entries).states());
    let s = screen(&state);
    assert!(s.contains("install p2 attempt 2 (done)"), "{s}");
    // The step's details name the job of its latest attempt, as the engine started it.
    let mut state = state;
    state.ui.overlay = Some(rollpilot::tui::state::Overlay::Step("peers/p2/install".into()));
    let s = screen(&state);
    assert!(s.contains("done, attempt 2, exit 0"), "{s}");
    assert!(s.contains("peers_p2_install-2"), "{s}");
}

#[tokio::test(start_paused = true)]
async fn an_in_doubt_step_on_a_silent_host_is_asked_about_after_a_gate_timeout_not_waited_for_forever() {
    let lab = Lab::new(PEERS);
    // "Crash" while the install of p1 is being started.
    lab.world.lock().unwrap().hang_start = Some("install p1".into());
    let (task, events) = lab.spawn(lab.cfg(false), proceed, no_hook);
    for i in 0.. {
        assert!(i < 3000, "the install of p1 never started");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (_, st) = lab.journal();
        if st.in_flight.as_ref().is_some_and(|(s, _, _)| s.id == "peers/p1/install") {
            break;
        }
    }
    task.abort();
    let _ = task.await;
    drop(events);
    holder_crashed(&lab.world);
    // p1 reboots: its job cannot be looked at. The operator resumes with `--pause none`.
    lab.world.lock().unwrap().jobs_unreachable.insert("p1".into());
    lab.pause.set(Some(rollpilot::run::events::PausePolicy::None));
    let out = lab.run(true, |_| (Answer::Abort, None), no_hook).await;
    assert_eq!(out.end, RunEnd::Unreachable, "{}", out.finished_message());
    let q = out.questions().into_iter().find(|q| q.kind == QuestionKind::InDoubt).expect("an in-doubt question");
    assert!(q.title.contains("peers/p1/install is in doubt and p1 does not answer"), "{}", q.title);
    let labels: Vec<&str> = q.choices.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels, vec!["Stop here", "Keep waiting"], "nothing is run again while in doubt");
    // Being in doubt returns the pause policy to asking, like a failure.
    assert!(
        out.events.iter().any(|e| matches!(e, Event::Policy { pause: rollpilot::run::events::PausePolicy::Every, why } if why.contains("in doubt"))),
        "the policy went back to asking"
    );
    assert!(out.finished_message().contains("rollpilot resume -c c.toml"), "{}", out.finished_message());
    let w = lab.world.lock().unwrap();
    assert_eq!(w.started.iter().filter(|c| c.starts_with("install p1")).count(), 0, "{:?}", w.started);
}

#[tokio::test(start_paused = true)]
async fn the_terracotta_shape_runs_to_its_end_over_the_fake() {
    let lab = Lab::with_versions(TERRACOTTA, "4.2.0", "4.2.1");
    let out = lab.run(false, proceed, no_hook).await;
    let asked: Vec<String> = out.questions().iter().map(|q| format!("{:?} {}", q.kind, q.title)).collect();
    assert_eq!(out.end, RunEnd::Done, "{}\n{asked:#?}", out.finished_message());
    let w = lab.world.lock().unwrap();
    for n in ["tc-east-1", "tc-east-2", "tc-west-1", "tc-west-2", "app-east-1", "app-west-1", "wan-east", "wan-west"] {
        assert_eq!(w.version(n), "4.2.1", "{n}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_declined_failback_and_its_re_plan_replay_alike() {
    let lab = engine_support::tui::terracotta();
    replay_equals_live(&lab, |q| match q.kind {
        QuestionKind::Optional => (Answer::Decline, None),
        _ => proceed(q),
    })
    .await;
    let (entries, _) = lab.journal();
    let m = RunMachine::replay(&entries);
    assert_eq!(m.step("east/tc-east-2/failback-stop").map(|s| s.state), Some(StepState::Declined), "{:?}", m.states());
    assert!(m.steps().filter(|s| s.state == StepState::Done).count() >= 20, "{:?}", m.states());
}

#[tokio::test(start_paused = true)]
async fn a_job_left_by_a_broken_run_on_a_silent_host_ends_the_wait_at_a_deadline() {
    let lab = Lab::new(PEERS);
    {
        // A run of this machine took the lock, started the install of p1 and died before its
        // journal held a start record; p1 then stops answering job queries.
        let mut w = lab.world.lock().unwrap();
        let until = 1_000_000 + 30;
        w.lock_owner = Some(("tok-old".into(), until));
        w.lock_info = "operator=tester\nmachine=lab\npid=999999999\nrun=20261122T000000Z-dead\n".into();
        w.jobs.insert(
            "/jobs/20261122T000000Z-dead/peers_p1_install-1".into(),
            Job {
                node: "p1".into(),
                command: "fake install p1 1.1.0".into(),
                done_at: tokio::time::Instant::now() + Duration::from_secs(100_000),
                rc: 0,
                output: String::new(),
                applied: false,
            },
        );
        w.jobs_unreachable.insert("p1".into());
    }
    let out = lab.run(false, proceed, no_hook).await;
    assert_eq!(out.end, RunEnd::Unreachable, "{}", out.finished_message());
    let msg = out.finished_message();
    assert!(msg.contains("peers_p1_install-1 of run 20261122T000000Z-dead may still be running on p1"), "{msg}");
    let w = lab.world.lock().unwrap();
    assert!(w.started.is_empty(), "nothing was started: {:?}", w.started);
}
