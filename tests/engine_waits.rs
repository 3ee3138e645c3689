//! Keep waiting at every step kind whose check can time out (stop, install, start, switchover,
//! failback, offline, online), on tokio's paused clock with the scripted fake cluster: a command's effect
//! lands late (a stop whose node stays up, a handover that completes late, a version or a sync
//! that arrives late, a lag that shrinks or stays still, a node that dropped its connection).
//! The check times out; the question says what the check last saw and whether it was
//! "progressing" or "stuck", and offers Keep waiting; Keep waiting waits another gate timeout
//! (60 s here) and the step ends done when the fact arrives. At the same point Retry, Roll back,
//! Skip and Abort still do what their labels say. The same holds at a gate before a step, and
//! at a rollback step's check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod engine_support;

use engine_support::*;
use rollpilot::run::events::*;
use rollpilot::run::journal::DecisionRecord;
use rollpilot::run::machine::{Input, RunMachine, StepState};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The gate timeout of every config here.
const GATE: Duration = Duration::from_secs(60);
/// A late effect that lands during the second wait (after one gate timeout, before two).
const LANDS: Duration = Duration::from_secs(90);
/// A late effect that never lands within the test.
const NEVER: Duration = Duration::from_secs(10 * 3600);

/// A point where a step's check times out because its effect lands late.
#[derive(Clone, Copy)]
struct Point {
    /// What it is, for messages.
    name: &'static str,
    config: fn() -> String,
    /// The step whose check times out.
    step: &'static str,
    /// The node it acts on.
    node: &'static str,
    /// The command whose effect lands late ("stop n2"), if the delay is in a command.
    late: Option<&'static str>,
    /// Extra changes to the world (a lag that shrinks, a sync that comes late); `lands` is when
    /// the late fact arrives, counted from the step's end.
    setup: fn(&mut World, Duration),
    /// Words the question must quote from what the check last saw.
    saw: &'static str,
    /// The fact moved during the wait ("progressing") or not ("stuck").
    moving: bool,
    /// Roll back node is offered (the step touched the node's software).
    rollback: bool,
}

fn pair() -> String {
    with_lag(PAIR)
}

fn exchange() -> String {
    with_lag(EXCHANGE)
}

fn nothing(_: &mut World, _: Duration) {}

/// The points, one or two per step kind.
fn points() -> Vec<Point> {
    vec![
        Point {
            name: "a stop whose node stays up",
            config: pair,
            step: "db/n2/stop",
            node: "n2",
            late: Some("stop n2"),
            setup: nothing,
            saw: "n2 is still running (n2: passive, in-sync",
            moving: false,
            rollback: true,
        },
        Point {
            name: "a stop whose node is still flushing its lag",
            config: pair,
            step: "db/n2/stop",
            node: "n2",
            late: Some("stop n2"),
            setup: |w, lands| {
                // n2 is catching up (lag shrinking) while it is asked to stop; it stops once
                // it has caught up.
                let end = Instant::now() + lands + Duration::from_secs(5);
                w.nodes.get_mut("n2").unwrap().in_sync_at = Some(end);
                w.lag_per_sec.insert("n2".into(), 30 << 20);
            },
            saw: "n2 is still running (n2: passive, syncing (lag",
            moving: true,
            rollback: true,
        },
        Point {
            name: "a start whose sync lags, the lag shrinking",
            config: pair,
            step: "db/n2/start",
            node: "n2",
            late: None,
            setup: |w, lands| {
                w.sync_after.insert("n2".into(), lands);
                w.lag_per_sec.insert("n2".into(), 40 << 20);
            },
            saw: "n2: passive, syncing (lag",
            moving: true,
            rollback: true,
        },
        Point {
            name: "a start whose sync lags, the lag still",
            config: pair,
            step: "db/n2/start",
            node: "n2",
            late: None,
            setup: |w, lands| {
                w.sync_after.insert("n2".into(), lands);
            },
            saw: "n2: passive, syncing (lag 4.0 GiB)",
            moving: false,
            rollback: true,
        },
        Point {
            name: "a start whose node comes up late",
            config: pair,
            step: "db/n2/start",
            node: "n2",
            late: Some("start n2"),
            setup: nothing,
            saw: "stopped",
            moving: false,
            rollback: true,
        },
        Point {
            name: "a start whose node dropped its connection",
            config: pair,
            step: "db/n2/start",
            node: "n2",
            late: None,
            setup: |w, lands| {
                w.unreachable_until.insert("n2".into(), Instant::now() + lands);
            },
            saw: "n2: unreachable (connection reset",
            moving: false,
            rollback: true,
        },
        Point {
            name: "a switchover whose role change lands late, the peer catching up",
            config: pair,
            step: "db/n1/switchover",
            node: "n1",
            late: Some("switchover n1"),
            setup: |w, lands| {
                // The handover begins at once: n1 stops serving, n2 catches up (lag shrinking)
                // and takes the role when the handover completes.
                w.on_done.push((
                    "switchover n1".into(),
                    Box::new(move |w: &mut World| {
                        w.nodes.get_mut("n1").unwrap().active = false;
                        w.nodes.get_mut("n2").unwrap().in_sync_at = Some(Instant::now() + lands);
                        w.lag_per_sec.insert("n2".into(), 40 << 20);
                    }),
                ));
            },
            saw: "no member of db is active yet",
            moving: true,
            rollback: false,
        },
        Point {
            name: "a switchover whose role change lands late",
            config: pair,
            step: "db/n1/switchover",
            node: "n1",
            late: Some("switchover n1"),
            setup: nothing,
            saw: "n1 is still the active of db",
            moving: false,
            rollback: false,
        },
        Point {
            name: "a failback whose role change lands late",
            config: pair,
            step: "db/n1/failback",
            // It runs on the current active, whose role it hands back.
            node: "n2",
            late: Some("switchover n2"),
            setup: nothing,
            saw: "n1 is not active yet (n1: passive, in-sync",
            moving: false,
            rollback: false,
        },
        Point {
            name: "an install whose version shows late",
            config: exchange,
            step: "antivirus/node1-av/install",
            node: "node1-av",
            late: Some("install node1-av"),
            setup: nothing,
            saw: "node1-av",
            moving: false,
            rollback: true,
        },
        Point {
            name: "an offline whose service goes offline late",
            config: exchange,
            step: "antivirus/node1-av/offline",
            node: "node1-av",
            late: Some("offline node1-av"),
            setup: nothing,
            saw: "mail is still online: node1 still reports the role active",
            moving: false,
            rollback: false,
        },
        Point {
            name: "an online whose service comes back late",
            config: exchange,
            step: "antivirus/node1-av/online",
            node: "node1-av",
            late: Some("online node1-av"),
            setup: nothing,
            saw: "mail has no active member yet",
            moving: false,
            rollback: false,
        },
    ]
}

/// How a run at a point went: its end, every event with when it came, the world.
struct Seen {
    end: RunEnd,
    events: Vec<(Instant, Event)>,
    lab: Lab,
}

impl Seen {
    /// The questions about the point's step after its check timed out.
    fn timeouts(&self, p: &Point) -> Vec<(Instant, Question)> {
        self.events
            .iter()
            .filter_map(|(t, e)| match e {
                Event::Ask(q) if q.step == p.step && q.kind == QuestionKind::Failure => Some((*t, q.clone())),
                _ => None,
            })
            .collect()
    }

    /// When the point's step was done.
    fn done_at(&self, p: &Point) -> Option<Instant> {
        self.events.iter().find_map(|(t, e)| matches!(e, Event::StepDone { step } if step == p.step).then_some(*t))
    }

    /// When the operator's `n`-th decision `d` about the point's step was taken.
    fn decided_at(&self, p: &Point, d: DecisionRecord, n: usize) -> Instant {
        self.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Decided { step, decision } if step == p.step && *decision == d))
            .nth(n)
            .map(|(t, _)| *t)
            .expect("decided")
    }

    /// How many times a command was started.
    fn runs(&self, cmd: &str) -> usize {
        self.lab.world.lock().unwrap().started.iter().filter(|c| c.starts_with(cmd)).count()
    }

    fn started(&self) -> Vec<String> {
        self.lab.world.lock().unwrap().started.clone()
    }
}

/// Runs the point with its effect landing `lands` after the step ended, answering the timed-out
/// check's questions with `answers` in turn (then Abort); after a rollback, stops.
async fn run_at(p: Point, lands: Duration, answers: &[Answer]) -> Seen {
    let lab = Lab::new(&(p.config)());
    if let Some(cmd) = p.late {
        lab.world.lock().unwrap().late.insert(cmd.to_string(), lands);
    }
    let mut queue: VecDeque<Answer> = answers.iter().copied().collect();
    let (step, node) = (p.step, p.node);
    let events: Arc<Mutex<Vec<(Instant, Event)>>> = Arc::default();
    let log = events.clone();
    let setup = p.setup;
    let mut set = false;
    let out = lab
        .run(
            false,
            move |q| match q.kind {
                QuestionKind::Failure if q.step == step => {
                    let a = queue.pop_front().unwrap_or(Answer::Abort);
                    (a, Some(q.expected.clone()))
                }
                QuestionKind::Failure | QuestionKind::AfterRollback => (Answer::Abort, None),
                _ => proceed(q),
            },
            move |e, world| {
                // The world is set up when the step starts, so its times count from there; the
                // delays hold for that first attempt only (a retry, a rollback start afresh).
                if let Event::StepStarted { step: s, .. } = e {
                    let mut w = world.lock().unwrap();
                    if s.id == step && !std::mem::replace(&mut set, true) {
                        setup(&mut w, lands);
                    } else if set && s.node == node {
                        w.sync_after.remove(node);
                        w.lag_per_sec.remove(node);
                        w.unreachable_until.remove(node);
                    }
                }
                log.lock().unwrap().push((Instant::now(), e.clone()));
            },
        )
        .await;
    let events = std::mem::take(&mut *events.lock().unwrap());
    Seen { end: out.end, events, lab }
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_check_at_every_step_kind_offers_keep_waiting_with_what_it_saw_and_its_trend() {
    for p in points() {
        let seen = run_at(p, LANDS, &[Answer::KeepWaiting]).await;
        let asked = seen.timeouts(&p);
        let (_, q) = asked.first().unwrap_or_else(|| panic!("{}: no question after the timeout", p.name));
        let labels: Vec<&str> = q.choices.iter().map(|c| c.label.as_str()).collect();
        assert!(labels.contains(&"Keep waiting"), "{}: {labels:?}", p.name);
        assert!(labels.contains(&"Abort") && labels.contains(&"Retry"), "{}: {labels:?}", p.name);
        assert!(labels.iter().any(|l| l.starts_with("Skip")), "{}: {labels:?}", p.name);
        assert_eq!(labels.contains(&"Roll back node"), p.rollback, "{}: {labels:?}", p.name);
        let text = q.lines.join("\n");
        assert!(text.contains("The check last saw: "), "{}: {text}", p.name);
        assert!(text.contains(p.saw), "{}: names what it saw ({}): {text}", p.name, p.saw);
        let trend = if p.moving { "Trend: progressing" } else { "Trend: stuck" };
        assert!(text.contains(trend), "{}: {trend}: {text}", p.name);
        if p.moving {
            assert!(text.contains("(at the start of the wait: "), "{}: how it moved: {text}", p.name);
        }
        // Kept waiting: the same check again, nothing run again, done when the fact arrives.
        assert_eq!(
            asked.len(),
            1,
            "{}: asked again: {:?}",
            p.name,
            asked.iter().map(|q| &q.1.lines).collect::<Vec<_>>()
        );
        let done = seen.done_at(&p).unwrap_or_else(|| panic!("{}: the step never ended done", p.name));
        assert!(
            done - seen.decided_at(&p, DecisionRecord::KeepWaiting, 0) < GATE,
            "{}: done within the second wait",
            p.name
        );
        let verb = p.step.rsplit('/').next().unwrap();
        let cmd = p.late.map(str::to_string).unwrap_or_else(|| format!("{verb} {}", p.node));
        assert_eq!(seen.runs(&cmd), 1, "{}: run again: {:?}", p.name, seen.started());
        assert_eq!(seen.end, RunEnd::Done, "{}", p.name);
        // What the faces show while it waits again: the step being checked, not failed; and
        // the journal replays to the states the live run showed.
        let mut live = RunMachine::new();
        let mut while_waiting = None;
        for (_, e) in &seen.events {
            if let Some(i) = Input::from_event(e) {
                live.apply(i);
            }
            if matches!(e, Event::Decided { step, decision: DecisionRecord::KeepWaiting } if step == p.step) {
                while_waiting = live.step(p.step).map(|s| s.state);
            }
        }
        assert!(
            matches!(while_waiting, Some(StepState::Checking { attempt: 1 })),
            "{}: shown as {while_waiting:?} while its check is waited for again",
            p.name
        );
        let (entries, _) = seen.lab.journal();
        assert_eq!(live.states(), RunMachine::replay(&entries).states(), "{}: replay differs from live", p.name);
        let kept: Vec<_> = records(&entries, "decided")
            .into_iter()
            .filter(|r| r["step"] == p.step && r["decision"] == "keep-waiting")
            .collect();
        assert_eq!(kept.len(), 1, "{}: the choice is journaled", p.name);
    }
}

#[tokio::test(start_paused = true)]
async fn keep_waiting_waits_exactly_another_gate_timeout_for_the_same_check() {
    for p in points() {
        let seen = run_at(p, NEVER, &[Answer::KeepWaiting, Answer::Abort]).await;
        let asked = seen.timeouts(&p);
        assert_eq!(asked.len(), 2, "{}: asked again after the second wait", p.name);
        let waited = asked[1].0 - seen.decided_at(&p, DecisionRecord::KeepWaiting, 0);
        assert!(waited >= GATE && waited < GATE + Duration::from_secs(3), "{}: waited {waited:?}", p.name);
        assert!(asked[1].1.choices.iter().any(|c| c.answer == Answer::KeepWaiting), "{}: offered again", p.name);
        assert_eq!(seen.end, RunEnd::Aborted, "{}", p.name);
    }
}

/// The commands started after the first question about the point's step.
fn after_question(seen: &Seen, p: &Point) -> Vec<String> {
    let asked = seen.timeouts(p)[0].0;
    let w = seen.lab.world.lock().unwrap();
    w.spans.iter().filter(|(_, start, _)| *start >= asked).map(|(c, _, _)| c.clone()).collect()
}

/// The node a fake command acts on (`install n2 1.1.0` → n2).
fn node_of(cmd: &str) -> &str {
    cmd.split_whitespace().nth(1).unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn retry_at_a_timed_out_check_runs_the_command_again_as_a_new_attempt_then_its_checks() {
    for p in points() {
        let seen = run_at(p, NEVER, &[Answer::Retry]).await;
        assert_eq!(seen.timeouts(&p).len(), 1, "{}", p.name);
        let verb = p.step.rsplit('/').next().unwrap();
        let cmd = p.late.map(str::to_string).unwrap_or_else(|| format!("{verb} {}", p.node));
        assert_eq!(seen.runs(&cmd), 2, "{}: run again: {:?}", p.name, seen.started());
        assert!(seen.done_at(&p).is_some(), "{}: done after the new attempt's checks", p.name);
        assert_eq!(seen.end, RunEnd::Done, "{}", p.name);
        let (entries, _) = seen.lab.journal();
        let attempts: Vec<u64> = records(&entries, "step-started")
            .iter()
            .filter(|r| r["step"]["id"] == p.step)
            .filter_map(|r| r["attempt"].as_u64())
            .collect();
        assert_eq!(attempts, vec![1, 2], "{}: a new attempt, the first kept", p.name);
    }
}

#[tokio::test(start_paused = true)]
async fn roll_back_at_a_timed_out_check_returns_the_node_to_its_version_and_touches_nothing_else() {
    for p in points().into_iter().filter(|p| p.rollback) {
        let seen = run_at(p, NEVER, &[Answer::Rollback]).await;
        let after = after_question(&seen, &p);
        assert!(after.contains(&format!("install {} 1.0.0", p.node)), "{}: reinstalls 1.0.0: {after:?}", p.name);
        assert!(after.iter().all(|c| node_of(c) == p.node), "{}: touched another node: {after:?}", p.name);
        let w = seen.lab.world.lock().unwrap();
        assert_eq!(w.version(p.node), "1.0.0", "{}", p.name);
        assert!(w.nodes[p.node].running.is_some(), "{}: the rolled-back node runs", p.name);
        assert!(
            seen.events.iter().any(|(_, e)| matches!(e, Event::Ask(q) if q.kind == QuestionKind::AfterRollback)),
            "{}: the rollback ended verified, then asked",
            p.name
        );
        assert_eq!(seen.end, RunEnd::Aborted, "{}: stopped after the rollback as answered", p.name);
    }
}

#[tokio::test(start_paused = true)]
async fn skip_at_a_timed_out_check_leaves_the_node_and_goes_on_without_running_its_step_again() {
    for p in points() {
        let seen = run_at(p, NEVER, &[Answer::Skip]).await;
        let after = after_question(&seen, &p);
        assert!(after.iter().all(|c| node_of(c) != p.node), "{}: the skipped node was touched: {after:?}", p.name);
        assert!(seen.done_at(&p).is_none(), "{}: not done", p.name);
        let went_on = seen.end == RunEnd::Done
            || seen
                .events
                .iter()
                .skip_while(|(_, e)| !matches!(e, Event::Decided { decision: DecisionRecord::Skip { .. }, .. }))
                .any(|(_, e)| match e {
                    Event::Ask(q) => !q.step.contains(&format!("/{}/", p.node)),
                    _ => false,
                });
        let message = seen
            .events
            .iter()
            .find_map(|(_, e)| if let Event::Finished { message, .. } = e { Some(message.clone()) } else { None })
            .unwrap_or_default();
        // A handover left half done (nobody active) is no state to go on from: the run then
        // refuses, saying why, rather than touching the other node.
        let refused_safely = seen.end == RunEnd::Refused && message.contains("has no active member");
        assert!(went_on || refused_safely, "{}: stopped at the skip ({:?}): {after:?} {message}", p.name, seen.end);
        let (_, state) = seen.lab.journal();
        assert!(state.context.skipped_nodes.contains(p.node), "{}: journaled as skipped", p.name);
    }
}

#[tokio::test(start_paused = true)]
async fn abort_at_a_timed_out_check_stops_leaving_the_cluster_as_it_is_and_resume_checks_again() {
    for p in points() {
        let seen = run_at(p, LANDS, &[Answer::Abort]).await;
        assert_eq!(seen.end, RunEnd::Aborted, "{}", p.name);
        assert_eq!(after_question(&seen, &p), Vec::<String>::new(), "{}: nothing run after Abort", p.name);
        let message = seen
            .events
            .iter()
            .find_map(|(_, e)| if let Event::Finished { message, .. } = e { Some(message.clone()) } else { None })
            .unwrap_or_default();
        assert!(message.contains("rollpilot resume -c c.toml"), "{}: {message}", p.name);
        let (_, state) = seen.lab.journal();
        assert!(!state.done.contains(p.step), "{}: not recorded done", p.name);
        // Its command ran once: Abort runs nothing again.
        let verb = p.step.rsplit('/').next().unwrap();
        let cmd = p.late.map(str::to_string).unwrap_or_else(|| format!("{verb} {}", p.node));
        assert_eq!(seen.runs(&cmd), 1, "{}", p.name);
        // Resumed, the run checks the step again and finishes once the fact arrives. A command
        // that ended well is not run again; a handover whose roles did not move was journaled
        // as failed, so it is planned again from what is observed.
        let mut out = seen.lab.run(true, proceed, no_hook).await;
        if out.end == RunEnd::Refused {
            // A handover still under way (nobody active yet) is no state to plan from: the
            // resume says to wait for it, and once it completed, resuming finishes the run.
            assert!(out.finished_message().contains("wait for the failover to finish"), "{}", out.finished_message());
            tokio::time::sleep(LANDS).await;
            out = seen.lab.run(true, proceed, no_hook).await;
        }
        assert_eq!(out.end, RunEnd::Done, "{}: resumed: {}", p.name, out.finished_message());
        let handover = seen.timeouts(&p)[0].1.lines[0].contains("no role moved");
        if handover {
            // Planned from what is observed: run again only if the roles still had not moved.
            assert!((1..=2).contains(&seen.runs(&cmd)), "{}: {:?}", p.name, seen.started());
        } else {
            assert_eq!(seen.runs(&cmd), 1, "{}: {:?}", p.name, seen.started());
            assert!(seen.lab.journal().1.done.contains(p.step), "{}: done after the resume", p.name);
        }
    }
}

/// Runs the pair with n1 falling behind right after its start was verified (its lag shrinking
/// at `rate` bytes a second, or still), so the failback's gate (a passive in sync before n2
/// hands its role back) waits for it; the gate's questions are answered with `answers`.
async fn gate_before_failback(rate: Option<u64>, lands: Duration, answers: &[Answer]) -> Seen {
    let lab = Lab::new(&pair());
    let mut queue: VecDeque<Answer> = answers.iter().copied().collect();
    let events: Arc<Mutex<Vec<(Instant, Event)>>> = Arc::default();
    let log = events.clone();
    let out = lab
        .run(
            false,
            move |q| match q.kind {
                QuestionKind::Failure if q.step == "db/n1/failback" => {
                    (queue.pop_front().unwrap_or(Answer::Abort), None)
                }
                QuestionKind::Failure => (Answer::Abort, None),
                _ => proceed(q),
            },
            move |e, world| {
                if matches!(e, Event::StepDone { step } if step == "db/n1/start") {
                    let mut w = world.lock().unwrap();
                    w.nodes.get_mut("n1").unwrap().in_sync_at = Some(Instant::now() + lands);
                    if let Some(r) = rate {
                        w.lag_per_sec.insert("n1".into(), r);
                    }
                }
                log.lock().unwrap().push((Instant::now(), e.clone()));
            },
        )
        .await;
    let events = std::mem::take(&mut *events.lock().unwrap());
    Seen { end: out.end, events, lab }
}

/// The point of the failback, for [`Seen`]'s helpers.
const FAILBACK: Point = Point {
    name: "the gate before a failback",
    config: pair,
    step: "db/n1/failback",
    node: "n2",
    late: None,
    setup: nothing,
    saw: "n1: passive, syncing (lag",
    moving: true,
    rollback: false,
};

#[tokio::test(start_paused = true)]
async fn a_gate_that_times_out_before_a_step_offers_keep_waiting_with_its_trend_and_nothing_else_runs() {
    for (rate, trend) in [(Some(40u64 << 20), "Trend: progressing"), (None, "Trend: stuck")] {
        let seen = gate_before_failback(rate, LANDS, &[Answer::KeepWaiting]).await;
        let asked = seen.timeouts(&FAILBACK);
        assert_eq!(asked.len(), 1, "{trend}");
        let q = &asked[0].1;
        let labels: Vec<&str> = q.choices.iter().map(|c| c.label.as_str()).collect();
        // Nothing was done to the node yet: only waiting longer or stopping make sense.
        assert_eq!(labels, vec!["Abort", "Keep waiting"], "{trend}");
        let text = q.lines.join("\n");
        assert!(text.contains("The check last saw: ") && text.contains(FAILBACK.saw), "{trend}: {text}");
        assert!(text.contains(trend), "{trend}: {text}");
        assert!(text.contains("Nothing has been done to this node yet"), "{text}");
        // Kept waiting: the failback runs once the gate holds, within the second wait.
        assert_eq!(seen.end, RunEnd::Done, "{trend}");
        assert_eq!(seen.runs("switchover n2"), 1, "{trend}: {:?}", seen.started());
        let kept = seen.decided_at(&FAILBACK, DecisionRecord::KeepWaiting, 0);
        let started = seen
            .events
            .iter()
            .find_map(|(t, e)| matches!(e, Event::StepStarted { step, .. } if step.id == FAILBACK.step).then_some(*t))
            .expect("the failback ran");
        assert!(started > kept && started - kept < GATE, "{trend}: ran {:?} after the decision", started - kept);
    }
}

#[tokio::test(start_paused = true)]
async fn keep_waiting_at_a_gate_waits_another_gate_timeout_and_abort_there_runs_nothing() {
    let seen = gate_before_failback(None, NEVER, &[Answer::KeepWaiting, Answer::Abort]).await;
    let asked = seen.timeouts(&FAILBACK);
    assert_eq!(asked.len(), 2);
    let waited = asked[1].0 - seen.decided_at(&FAILBACK, DecisionRecord::KeepWaiting, 0);
    assert!(waited >= GATE && waited < GATE + Duration::from_secs(3), "waited {waited:?}");
    assert_eq!(seen.end, RunEnd::Aborted);
    assert_eq!(seen.runs("switchover n2"), 0, "the failback never ran: {:?}", seen.started());
    assert_eq!(after_question(&seen, &FAILBACK), Vec::<String>::new());
}

/// Fails the install of n2 once and rolls it back; the rollback's start syncs `lands` after it
/// ends (its lag shrinking); the rollback step's questions are answered with `answers`.
async fn rollback_start_syncs_late(lands: Duration, answers: &[Answer]) -> (Seen, Vec<Question>) {
    let lab = Lab::new(&pair());
    lab.world.lock().unwrap().fail.insert("install n2".into(), 1);
    let mut queue: VecDeque<Answer> = answers.iter().copied().collect();
    let asked: Arc<Mutex<Vec<Question>>> = Arc::default();
    let seen_q = asked.clone();
    let events: Arc<Mutex<Vec<(Instant, Event)>>> = Arc::default();
    let log = events.clone();
    let out = lab
        .run(
            false,
            move |q| match q.kind {
                QuestionKind::Failure if q.step == "db/n2/install" => (Answer::Rollback, None),
                QuestionKind::Failure if q.step.contains("rollback-start") => {
                    seen_q.lock().unwrap().push(q.clone());
                    (queue.pop_front().unwrap_or(Answer::Abort), None)
                }
                QuestionKind::Failure | QuestionKind::AfterRollback => (Answer::Abort, None),
                _ => proceed(q),
            },
            move |e, world| {
                if let Event::StepStarted { step, .. } = e
                    && step.id.contains("rollback-start")
                {
                    let mut w = world.lock().unwrap();
                    w.sync_after.insert("n2".into(), lands);
                    w.lag_per_sec.insert("n2".into(), 40 << 20);
                }
                log.lock().unwrap().push((Instant::now(), e.clone()));
            },
        )
        .await;
    let events = std::mem::take(&mut *events.lock().unwrap());
    let asked = asked.lock().unwrap().clone();
    (Seen { end: out.end, events, lab }, asked)
}

#[tokio::test(start_paused = true)]
async fn keep_waiting_at_a_rollback_steps_check_waits_for_the_sync_and_the_rollback_ends_verified() {
    let (seen, asked) = rollback_start_syncs_late(LANDS, &[Answer::KeepWaiting]).await;
    assert_eq!(asked.len(), 1, "{asked:?}");
    let q = &asked[0];
    let labels: Vec<&str> = q.choices.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels, vec!["Abort", "Keep waiting", "Retry"]);
    let text = q.lines.join("\n");
    assert!(text.contains("The check last saw: ") && text.contains("n2: passive, syncing (lag"), "{text}");
    assert!(text.contains("Trend: progressing"), "{text}");
    // Kept waiting: the rollback's start ran once, and the rollback ended verified.
    let after_rollback =
        seen.events.iter().any(|(_, e)| matches!(e, Event::Ask(q) if q.kind == QuestionKind::AfterRollback));
    assert!(after_rollback, "the rollback ended verified, then asked");
    assert_eq!(seen.runs("start n2"), 1, "{:?}", seen.started());
    let w = seen.lab.world.lock().unwrap();
    assert_eq!(w.version("n2"), "1.0.0");
    assert_eq!(w.lag("n2"), 0, "in sync again");
    assert_eq!(seen.end, RunEnd::Aborted, "stopped after the rollback as answered");
}

#[tokio::test(start_paused = true)]
async fn keep_waiting_at_a_rollback_step_waits_another_gate_timeout_and_retry_runs_it_again() {
    let (seen, asked) = rollback_start_syncs_late(NEVER, &[Answer::KeepWaiting, Answer::Retry, Answer::Abort]).await;
    assert_eq!(asked.len(), 3, "asked after the first wait, the second, and the retry's");
    let times: Vec<Instant> = seen
        .events
        .iter()
        .filter(
            |(_, e)| matches!(e, Event::Ask(q) if q.step.contains("rollback-start") && q.kind == QuestionKind::Failure),
        )
        .map(|(t, _)| *t)
        .collect();
    let waited = times[1] - times[0];
    assert!(waited >= GATE && waited < GATE + Duration::from_secs(3), "waited {waited:?}");
    // Retry started the rollback's start again as a new attempt; Abort stopped there.
    assert_eq!(seen.runs("start n2"), 2, "{:?}", seen.started());
    assert_eq!(seen.end, RunEnd::Aborted);
    assert!(seen.started().iter().all(|c| node_of(c) == "n2"), "nothing else touched: {:?}", seen.started());
}

/// Six peers upgraded three at a time; p2 comes up 90 s (or never) after its start ended.
async fn wave_with_a_late_start(lands: Duration, answers: &[Answer]) -> Seen {
    let lab = Lab::new(&BATCH.replace("{extra}", ""));
    lab.world.lock().unwrap().late.insert("start p2".into(), lands);
    let mut queue: VecDeque<Answer> = answers.iter().copied().collect();
    let events: Arc<Mutex<Vec<(Instant, Event)>>> = Arc::default();
    let log = events.clone();
    let out = lab
        .run(
            false,
            move |q| match q.kind {
                QuestionKind::Failure if q.step == "peers/p2/start" => {
                    (queue.pop_front().unwrap_or(Answer::Abort), Some(q.expected.clone()))
                }
                QuestionKind::Failure | QuestionKind::AfterRollback => (Answer::Abort, None),
                _ => proceed(q),
            },
            move |e, _| log.lock().unwrap().push((Instant::now(), e.clone())),
        )
        .await;
    let events = std::mem::take(&mut *events.lock().unwrap());
    Seen { end: out.end, events, lab }
}

/// The point of p2's start in a wave, for [`Seen`]'s helpers.
const WAVE: Point = Point {
    name: "a start in a wave whose node comes up late",
    config: pair,
    step: "peers/p2/start",
    node: "p2",
    late: Some("start p2"),
    setup: nothing,
    saw: "p2: stopped",
    moving: false,
    rollback: true,
};

#[tokio::test(start_paused = true)]
async fn in_a_wave_keep_waiting_checks_the_step_again_and_retry_runs_it_again() {
    let seen = wave_with_a_late_start(LANDS, &[Answer::KeepWaiting]).await;
    let asked = seen.timeouts(&WAVE);
    assert_eq!(asked.len(), 1);
    let text = asked[0].1.lines.join("\n");
    assert!(text.contains("The check last saw: ") && text.contains("Trend: stuck"), "{text}");
    assert!(asked[0].1.choices.iter().any(|c| c.answer == Answer::KeepWaiting));
    assert_eq!(seen.end, RunEnd::Done);
    assert_eq!(seen.runs("start p2"), 1, "{:?}", seen.started());
    let done = seen.done_at(&WAVE).expect("done");
    assert!(done - seen.decided_at(&WAVE, DecisionRecord::KeepWaiting, 0) < GATE);

    let seen = wave_with_a_late_start(NEVER, &[Answer::Retry]).await;
    assert_eq!(seen.end, RunEnd::Done);
    assert_eq!(seen.runs("start p2"), 2, "{:?}", seen.started());
    assert!(seen.done_at(&WAVE).is_some());
}

/// The offline of the Exchange-shaped cluster's scanner window, for [`Seen`]'s helpers.
fn offline_point() -> Point {
    points().into_iter().find(|p| p.step == "antivirus/node1-av/offline").expect("the offline point")
}

/// When a command was started, by its first words ("install node1-av").
fn started_at(seen: &Seen, cmd: &str) -> Option<Instant> {
    seen.lab.world.lock().unwrap().spans.iter().find(|(c, _, _)| c.starts_with(cmd)).map(|(_, t, _)| *t)
}

#[tokio::test(start_paused = true)]
async fn an_offline_whose_effect_lands_late_installs_nothing_until_the_service_is_offline() {
    let p = offline_point();
    let seen = run_at(p, LANDS, &[Answer::KeepWaiting]).await;
    assert_eq!(seen.end, RunEnd::Done);
    let w = seen.lab.world.lock().unwrap();
    let (_, _, offline_ended) = w.spans.iter().find(|(c, _, _)| c.starts_with("offline node1-av")).cloned().unwrap();
    drop(w);
    // mail stopped serving LANDS after the offline command ended; both scanner installs came
    // after that, never while node1 still served.
    let offline_at = offline_ended + LANDS;
    for n in ["node1-av", "node2-av"] {
        let install = started_at(&seen, &format!("install {n}")).unwrap_or_else(|| panic!("{n} installed"));
        assert!(install >= offline_at, "{n} installed {:?} before mail went offline", offline_at - install);
    }
    // The check's text names what it waited for, in the plan and while it waits.
    let waiting: Vec<&str> = seen
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Waiting { step, what, .. } if step == p.step => Some(what.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        waiting.iter().all(|w| *w == "R9 offline-step: mail is offline: no member of mail reports the role active"),
        "{waiting:?}"
    );
    assert!(!waiting.is_empty(), "the operator saw the check wait");
}

#[tokio::test(start_paused = true)]
async fn an_offline_that_never_lands_times_out_offering_keep_waiting_and_nothing_is_installed() {
    let p = offline_point();
    let seen = run_at(p, NEVER, &[Answer::KeepWaiting, Answer::Abort]).await;
    assert_eq!(seen.end, RunEnd::Aborted);
    let asked = seen.timeouts(&p);
    assert_eq!(asked.len(), 2, "asked after each gate timeout");
    for (_, q) in &asked {
        assert!(q.choices.iter().any(|c| c.answer == Answer::KeepWaiting), "{:?}", q.choices);
        let text = q.lines.join("\n");
        assert!(
            text.contains("mail is offline: no member of mail reports the role active did not hold within 60s"),
            "says what it waits for: {text}"
        );
        assert!(text.contains("node1 still reports the role active"), "says what it saw: {text}");
    }
    let started = seen.started();
    let scanner = |c: &String| c.starts_with("install node1-av") || c.starts_with("install node2-av");
    assert!(!started.iter().any(scanner), "nothing installed behind an online service: {started:?}");
    assert_eq!(started.last().map(String::as_str), Some("offline node1-av"), "nothing ran after the offline");
    assert!(seen.lab.world.lock().unwrap().nodes["node1"].active, "mail still served by node1");
    let (_, state) = seen.lab.journal();
    assert!(!state.done.contains(p.step), "the offline is not recorded done");
    assert!(state.context.offline_services.is_empty(), "mail is not recorded as offline");
}

#[tokio::test(start_paused = true)]
async fn an_offline_with_a_member_unreachable_waits_for_it_saying_so() {
    let p = offline_point();
    let lab = Lab::new(&exchange());
    let events: Arc<Mutex<Vec<(Instant, Event)>>> = Arc::default();
    let log = events.clone();
    let out = lab
        .run(
            false,
            |q| match q.kind {
                QuestionKind::Failure => (Answer::Abort, None),
                _ => proceed(q),
            },
            move |e, world| {
                // node2 drops off the network as the offline starts, for longer than the check.
                if let Event::StepStarted { step, .. } = e
                    && step.id == "antivirus/node1-av/offline"
                {
                    world.lock().unwrap().unreachable_until.insert("node2".into(), Instant::now() + NEVER);
                }
                log.lock().unwrap().push((Instant::now(), e.clone()));
            },
        )
        .await;
    assert_eq!(out.end, RunEnd::Aborted);
    let events = std::mem::take(&mut *events.lock().unwrap());
    let seen = Seen { end: out.end, events, lab };
    let asked = seen.timeouts(&p);
    let text = asked.first().map(|(_, q)| q.lines.join("\n")).expect("the check timed out");
    assert!(text.contains("node2 cannot be reached, and unknown is not offline"), "{text}");
    let started = seen.started();
    assert_eq!(started.last().map(String::as_str), Some("offline node1-av"), "no scanner installed: {started:?}");
}
