//! Executor events: the run state machine takes each one, and the screen keeps what goes with
//! it (the log, the gate waited for, questions, step output and timings).

use super::Effect;
use super::dialogs::open_question;
use super::timers::attention_escapes;
use crate::plan::Level;
use crate::run::events::Event;
use crate::run::journal::Outcome;
use crate::run::machine::{Effect as MachineEffect, Input};
use crate::tui::state::*;

/// Feeds an executor event to the run state machine and does what goes with its changes on
/// this screen: a step's timing (the ETA learns from it).
fn apply_to_run(state: &mut State, e: &Event) {
    let Some(input) = Input::from_event(e) else { return };
    let now = state.now;
    for change in state.run.machine.apply(input) {
        let MachineEffect::StepChanged { step, from, to } = change else { continue };
        match to {
            StepState::Running { .. } if !from.is_running() => {
                state.run.timing.insert(step, StepTiming { started_at: Some(now), took_secs: None });
            }
            StepState::Done => {
                let Some(t) = state.run.timing.get_mut(&step) else { continue };
                let Some(start) = t.started_at else { continue };
                let took = (now.as_second() - start.as_second()).max(0);
                t.took_secs = Some(took);
                if let Some(sv) = state.run.machine.step(&step) {
                    let key = (sv.step.action.as_str().to_string(), state.kind_of(&sv.step));
                    state.run.measured.entry(key).or_default().push(took);
                }
            }
            _ => {}
        }
    }
}

/// Applies one executor event to the screen.
pub(super) fn exec(state: &mut State, e: Event) -> Vec<Effect> {
    let redraw = vec![Effect::Redraw];
    apply_to_run(state, &e);
    match e {
        Event::Started { run, journal, resumed, started_at, mixed_since, .. } => {
            state.push_log(
                Level::Info,
                format!("{} run {run}; journal {}", if resumed { "resumed" } else { "started" }, journal.display()),
            );
            state.run.id = Some(run);
            state.run.journal = Some(journal);
            state.run.resumed = resumed;
            state.run.started = Some(started_at);
            if let Some(m) = mixed_since {
                state.live.mixed_since = Some(m);
            }
        }
        Event::Planned { plan, reason } => {
            let drift = crate::plan::Reason::parse(&reason).is(crate::plan::Rule::Drift);
            let level = if drift { Level::Warning } else { Level::Info };
            let (n, ph) = (plan.steps().count(), plan.phases.len());
            state.push_log(level, format!("plan: {reason} ({n} steps in {ph} phases)"));
            if state.run.from.is_empty() {
                state.run.from = plan.from_versions.clone();
            }
            state.run.plan_reason = Some(reason);
            state.run.plan = Some(*plan);
        }
        Event::Waiting { step, what, blocker, remaining } => {
            // The machine has already taken it: a step still running or checked waits on its checks.
            let after = state.step(&step).is_some_and(|s| {
                matches!(s.state, StepState::Running { .. } | StepState::Checking { .. } | StepState::Failed { .. })
            });
            let fresh = state.run.waiting.as_ref().is_none_or(|w| w.step != step || w.blocker != blocker);
            if fresh {
                state.push_log(Level::Info, format!("waiting ({step}): {what}; blocked: {blocker}"));
            }
            state.run.waiting = Some(WaitingView {
                step,
                what,
                blocker,
                remaining_ms: remaining.as_millis().min(i64::MAX as u128) as i64,
                at: state.now,
                after,
            });
        }
        Event::GateOpen { step, what, facts } => {
            state.push_log(Level::Info, format!("gate holds ({step}): {what}: {facts}"));
            if state.run.waiting.as_ref().is_some_and(|w| w.step == step) {
                state.run.waiting = None;
            }
        }
        Event::Ask(q) => {
            state.push_log(Level::Info, format!("question: {}", q.title));
            if !state.quiet && state.question().is_none_or(|d| d.question.id != q.id) {
                // An operator away from the screen must learn that the run waits for them.
                state.ui.attention =
                    Some(attention_escapes(&format!("{}: decision needed: {}", state.cluster.name, q.title)));
            }
            let open = state.question().map(|d| d.question.id);
            match open {
                // Never replace the dialog under the operator's keystroke: queue the new one.
                Some(id) if id != q.id => {
                    if !state.ui.queued.iter().any(|x| x.id == q.id) {
                        state.push_log(Level::Info, "queued: it is shown when the open dialog is answered".into());
                        state.ui.queued.push_back(q);
                    }
                }
                _ => open_question(state, q),
            }
        }
        Event::StepStarted { step, attempt, .. } => {
            state.push_log(
                Level::Info,
                format!(
                    "started {} on {}{}",
                    step.id,
                    step.node,
                    if attempt > 1 { format!(" (attempt {attempt})") } else { String::new() }
                ),
            );
            if state.run.waiting.as_ref().is_some_and(|w| w.step == step.id) {
                state.run.waiting = None;
            }
            let out = output_entry(state, &step.id, &step.node);
            if attempt > 1 {
                push_output_line(out, format!("── attempt {attempt} ──"));
            }
            state.run.output_step = Some(step.id.clone());
            state.ui.output_scroll = None;
        }
        Event::Output { step, node, text } => {
            let out = output_entry(state, &step, &node);
            append_output(out, &text);
            if state.run.output_step.is_none() {
                state.run.output_step = Some(step);
            }
        }
        Event::StepFinished { step, outcome, exit } => {
            let code = exit.map(|c| format!(" (exit {c})")).unwrap_or_default();
            let level = if outcome == Outcome::Ok { Level::Info } else { Level::Warning };
            let word = match outcome {
                Outcome::Ok => "ran",
                Outcome::Failed => "FAILED",
                Outcome::TimedOut => "TIMED OUT",
                Outcome::Lost => "was LOST",
                Outcome::NotStarted => "never started",
            };
            state.push_log(level, format!("{step} {word}{code}"));
        }
        Event::StepDone { step } => {
            state.push_log(Level::Info, format!("{step} done"));
            if state.run.waiting.as_ref().is_some_and(|w| w.step == step) {
                state.run.waiting = None;
            }
        }
        Event::Note { level, text } => state.push_log(level, text),
        Event::Progress { done, total, why } => {
            if let Some(why) = why {
                state.push_log(Level::Info, format!("progress {done}/{total} steps: {why}"));
            }
        }
        // The machine took the decision's effect on the step; the dialog logged the choice.
        Event::Decided { .. } => {}
        Event::Policy { pause, why } => {
            state.run.pause_policy = pause;
            state.push_log(Level::Info, format!("pause policy {}: {why}", pause.as_str()));
        }
        Event::Paused { reason } => {
            state.push_log(Level::Info, format!("paused: {reason}"));
            state.run.pause = PauseState::Paused(reason);
            state.run.waiting = None;
        }
        Event::Resumed => {
            state.push_log(Level::Info, "resumed".into());
            state.run.pause = PauseState::Running;
            state.ui.ctrl_c = 0;
        }
        Event::Finished { end, message } => {
            let level = if end == crate::run::events::RunEnd::Done { Level::Info } else { Level::Warning };
            state.push_log(level, format!("run finished ({}): {message}", end.as_str()));
            state.run.end = Some((end, message));
            state.run.finished_at = Some(state.now);
            state.run.waiting = None;
            state.ui.modal = None;
            state.ui.modal_under = None;
            state.ui.queued.clear();
            state.run.pause = PauseState::Running;
            if state.ui.stopping != Stopping::No {
                return vec![Effect::Quit, Effect::Redraw];
            }
        }
    }
    redraw
}

fn output_entry<'a>(state: &'a mut State, step: &str, node: &str) -> &'a mut StepOutput {
    if !state.run.outputs.contains_key(step) {
        while state.run.output_order.len() >= OUTPUT_STEPS {
            if let Some(old) = state.run.output_order.pop_front() {
                state.run.outputs.remove(&old);
            }
        }
        state.run.output_order.push_back(step.to_string());
    }
    state
        .run
        .outputs
        .entry(step.to_string())
        .or_insert_with(|| StepOutput { node: node.to_string(), ..Default::default() })
}

fn cap_line(mut l: String) -> String {
    if l.chars().count() > LINE_MAX {
        l = l.chars().take(LINE_MAX).collect();
        l.push_str(" …(cut)");
    }
    l
}

fn push_output_line(out: &mut StepOutput, line: String) {
    out.lines.push_back(cap_line(line));
    while out.lines.len() > OUTPUT_LINES {
        out.lines.pop_front();
        out.dropped += 1;
    }
}

/// Appends remote text: complete lines are sanitized and stored, the unfinished rest is kept as
/// the partial line (a progress bar redrawn with `\r` shows its latest state).
fn append_output(out: &mut StepOutput, text: &str) {
    let mut raw = std::mem::take(&mut out.partial);
    raw.push_str(text);
    let (complete, rest) = match raw.rfind('\n') {
        Some(i) => (&raw[..i], &raw[i + 1..]),
        None => ("", raw.as_str()),
    };
    for l in crate::sanitize::lines(complete) {
        push_output_line(out, l);
    }
    // The partial line is kept raw (it may end inside an escape sequence) but bounded.
    let mut rest = rest.to_string();
    if rest.len() > 4 * LINE_MAX {
        for l in crate::sanitize::lines(&rest) {
            push_output_line(out, l);
        }
        rest.clear();
    }
    out.partial = rest;
}
