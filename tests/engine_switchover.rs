//! The switchover watch on the fake-transport engine with tokio's paused clock: after a
//! switchover command, rollpilot watches for the role change under `timeouts.switchover` (20s
//! here, while the gate timeout is 60s). A command whose output carries one of the kind's
//! `switchover_refused` words is reported as refused at once, even though it exited 0; one after
//! which no role moved is reported when the switchover timeout passes. Either failure quotes the
//! command's output, and a Retry runs the switchover again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "engine_support/mod.rs"]
mod support;

use rollpilot::run::events::{Answer, Event, QuestionKind, RunEnd};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;
use tokio::time::Instant;

fn config() -> String {
    PAIR.replace("refresh = \"1s\"\n", "refresh = \"1s\"\nswitchover = \"20s\"\n")
        .replace("[kinds.srv]\n", "[kinds.srv]\nswitchover_refused = [\"not possible\", \"ERR\"]\n")
}

/// The first `switchover n1` leaves the roles where they were; with `says`, its output is
/// replaced by that text (the command refused, still exiting 0).
fn first_switchover_does_nothing(lab: &Lab, says: Option<&'static str>) {
    let mut first = true;
    lab.world.lock().unwrap().on_done.push((
        "switchover n1".into(),
        Box::new(move |w: &mut World| {
            if !std::mem::take(&mut first) {
                return;
            }
            w.nodes.get_mut("n1").unwrap().active = true;
            w.nodes.get_mut("n2").unwrap().active = false;
            if let Some(text) = says {
                for j in w.jobs.values_mut().filter(|j| j.command.contains("switchover n1")) {
                    j.output = text.to_string();
                }
            }
        }),
    ));
}

/// (seconds from the switchover's end to the failure question, the question's text).
type Seen = Arc<Mutex<(Option<Instant>, Option<Duration>, String)>>;

fn timing_hook(seen: Seen) -> impl FnMut(&Event, &Arc<Mutex<World>>) + Send + 'static {
    move |e, _| {
        let mut s = seen.lock().unwrap();
        match e {
            Event::StepFinished { step, .. } if step == "db/n1/switchover" && s.0.is_none() => {
                s.0 = Some(Instant::now());
            }
            Event::Ask(q) if q.kind == QuestionKind::Failure && s.1.is_none() => {
                s.1 = s.0.map(|t| Instant::now() - t);
                s.2 = format!("{}\n{}", q.title, q.lines.join("\n"));
            }
            _ => {}
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_switchover_after_which_no_role_moved_fails_after_the_switchover_timeout_with_its_output() {
    let lab = Lab::new(&config());
    first_switchover_does_nothing(&lab, None);
    let seen: Seen = Arc::default();
    let out = lab
        .run(
            false,
            |q| match q.kind {
                QuestionKind::Failure => (Answer::Abort, None),
                _ => proceed(q),
            },
            timing_hook(seen.clone()),
        )
        .await;
    assert_eq!(out.end, RunEnd::Aborted, "{}", out.finished_message());
    let (_, after, text) = seen.lock().unwrap().clone();
    let after = after.expect("a failure question after the switchover");
    assert!(
        after >= Duration::from_secs(20) && after < Duration::from_secs(30),
        "asked {after:?} after the switchover: timeouts.switchover (20s), not the gate timeout (60s)"
    );
    assert!(
        text.contains("no role moved in group db within 20s of the switchover command (timeouts.switchover)"),
        "{text}"
    );
    assert!(text.contains("the command printed \"moved the active role from n1 to n2\""), "{text}");
    let w = lab.world.lock().unwrap();
    assert!(!w.started.iter().any(|c| c.starts_with("stop n1")), "n1 is never stopped: {:?}", w.started);
    drop(w);
    // The journal says the switchover failed (its command exited 0), so `resume` runs it again.
    let (entries, state) = lab.journal();
    let finished: Vec<String> = records(&entries, "step-finished")
        .iter()
        .filter(|r| r["step"] == "db/n1/switchover")
        .map(|r| r["outcome"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(finished, ["ok", "failed"], "the command's end, then the watch's verdict");
    assert!(state.unverified.get("db/n1/switchover").is_some_and(|o| format!("{o:?}") == "Failed"));
}

#[tokio::test(start_paused = true)]
async fn a_switchover_whose_output_says_it_refused_fails_at_once_and_a_retry_runs_it_again() {
    let lab = Lab::new(&config());
    first_switchover_does_nothing(&lab, Some("Switchover from n1 to n2 is not possible: n2 lags 12 MB\n"));
    let seen: Seen = Arc::default();
    let out = lab
        .run(
            false,
            |q| match q.kind {
                QuestionKind::Failure => (Answer::Retry, None),
                _ => proceed(q),
            },
            timing_hook(seen.clone()),
        )
        .await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    let (_, after, text) = seen.lock().unwrap().clone();
    let after = after.expect("a failure question after the refused switchover");
    assert!(after < Duration::from_secs(2), "a refusal is reported at once, not after a timeout: {after:?}");
    assert!(
        text.contains(
            "the switchover command refused: its output contains \"not possible\" (kinds.srv.switchover_refused)"
        ),
        "{text}"
    );
    assert!(text.contains("n2 lags 12 MB"), "{text}");
    let w = lab.world.lock().unwrap();
    let switchovers = w.started.iter().filter(|c| c.starts_with("switchover n1")).count();
    assert_eq!(switchovers, 2, "the retry ran the switchover again: {:?}", w.started);
    assert_eq!((w.version("n1"), w.version("n2")), ("1.1.0".into(), "1.1.0".into()));
}

#[tokio::test(start_paused = true)]
async fn a_switchover_that_moves_the_role_goes_on_without_a_question() {
    let lab = Lab::new(&config());
    let out = lab.run(false, proceed, no_hook).await;
    assert_eq!(out.end, RunEnd::Done, "{}", out.finished_message());
    assert!(out.questions().iter().all(|q| q.kind != QuestionKind::Failure));
}
