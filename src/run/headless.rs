//! The headless face of the executor: prints progress (plain text or JSON lines) and answers
//! questions the way the command line allows — `--yes` for ordinary confirmations,
//! `--confirm=CLUSTER` for typed ones, `--on-failure` for failures. Anything it may not decide
//! aborts the run, leaving the cluster as it is.

use super::events::*;
use super::machine::{Input, RunMachine, StepState};
use crate::plan::{Level, render};
use std::io::Write;
use tokio::sync::mpsc;
use tokio::time::{Duration, Instant};

/// What a failure should lead to when nobody is there to ask (`--on-failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Stop; the cluster is left as it is (default).
    Abort,
    /// Roll the failed node back to the version it ran when the run began, then stop.
    Rollback,
    /// Up to N more attempts per step: a failed command runs again as a new attempt, a check
    /// that timed out is waited for again. Then stop.
    Retry(u32),
}

impl OnFailure {
    /// Parses `abort`, `rollback`, `retry` (one more attempt) or `retry:N`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "abort" => Ok(OnFailure::Abort),
            "rollback" => Ok(OnFailure::Rollback),
            "retry" => Ok(OnFailure::Retry(1)),
            _ => match s.strip_prefix("retry:").map(str::parse::<u32>) {
                Some(Ok(n)) if n >= 1 => Ok(OnFailure::Retry(n)),
                _ => Err(format!("`{s}` is not one of abort, rollback, retry, retry:N (N ≥ 1)")),
            },
        }
    }

    /// The flag as the operator writes it (for resume commands).
    pub fn as_flag(self) -> String {
        match self {
            OnFailure::Abort => "abort".into(),
            OnFailure::Rollback => "rollback".into(),
            OnFailure::Retry(n) => format!("retry:{n}"),
        }
    }
}

/// The command-line decisions.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--yes`: confirm ordinary steps (and optional ones, like failback under `ask`).
    pub yes: bool,
    /// `--confirm=NAME`: the typed cluster name for typed confirmations.
    pub confirm: Option<String>,
    /// Print JSON lines instead of text.
    pub json: bool,
    /// What to do on a failure.
    pub on_failure: OnFailure,
    /// `--break-lock`: break an expired lock (needs `--confirm`).
    pub break_lock: bool,
}

fn stamp() -> String {
    jiff::Zoned::now().strftime("%H:%M:%S").to_string()
}

/// Prints events and answers questions until the run finishes; returns how it ended.
pub async fn drive(
    mut events: mpsc::UnboundedReceiver<Event>,
    commands: mpsc::UnboundedSender<Command>,
    opts: Options,
) -> Option<RunEnd> {
    let mut out = std::io::stdout();
    let mut last_wait: Option<(String, Instant)> = None;
    let mut end = None;
    let mut retried: std::collections::HashMap<String, u32> = Default::default();
    // What the run is, by the same state machine the TUI and journal replay use: the printer
    // says a step's state and attempt as the machine has them.
    let mut run = RunMachine::new();
    while let Some(ev) = events.recv().await {
        if let Some(input) = Input::from_event(&ev) {
            run.apply(input);
        }
        if opts.json {
            if let Ok(s) = serde_json::to_string(&ev) {
                let _ = writeln!(out, "{s}");
            }
        } else {
            let mut text = Vec::new();
            print_text(&mut text, &ev, &mut last_wait, &run);
            // Everything printed may hold text from nodes, configs or arguments: one sanitizer
            // for all of it (step output is already cleaned line by line; cleaning is idempotent).
            let _ = out.write_all(crate::sanitize::clean_text(&String::from_utf8_lossy(&text)).as_bytes());
        }
        let _ = out.flush();
        match ev {
            Event::Ask(q) => {
                let (answer, typed, why) = decide(&q, &opts, &mut retried);
                if !opts.json {
                    let line = format!("[{}] ? {} -> {}", stamp(), q.title, why);
                    let _ = writeln!(out, "{}", crate::sanitize::clean_line(&line));
                }
                let _ = commands.send(Command::Answer { question: q.id, answer, typed });
            }
            Event::Finished { end: e, .. } => end = Some(e),
            _ => {}
        }
    }
    end
}

fn decide(
    q: &Question,
    o: &Options,
    retried: &mut std::collections::HashMap<String, u32>,
) -> (Answer, Option<String>, String) {
    let has = |a: Answer| q.choices.iter().any(|c| c.answer == a);
    if let (QuestionKind::Failure, OnFailure::Retry(n)) = (q.kind, o.on_failure) {
        let used = retried.entry(q.step.clone()).or_insert(0);
        if *used < n && (has(Answer::KeepWaiting) || has(Answer::Retry)) {
            *used += 1;
            let (a, what) = if has(Answer::KeepWaiting) {
                (Answer::KeepWaiting, "keep waiting for the same check")
            } else {
                (Answer::Retry, "run the step again as a new attempt")
            };
            return (a, None, format!("{what} (--on-failure=retry:{n}, {used} of {n})"));
        }
    }
    let typed_ok = o.confirm.as_deref() == Some(q.expected.as_str());
    match q.kind {
        QuestionKind::Confirm | QuestionKind::Optional if o.yes => (Answer::Proceed, None, "proceed (--yes)".into()),
        QuestionKind::Confirm | QuestionKind::Optional => {
            (Answer::Abort, None, "abort: this step needs confirmation; pass --yes".into())
        }
        QuestionKind::Typed if typed_ok => {
            (Answer::Proceed, o.confirm.clone(), format!("proceed (--confirm={})", q.expected))
        }
        QuestionKind::Typed if has(Answer::Decline) => (
            Answer::Decline,
            None,
            format!("later: an optional irreversible step needs --confirm={} to run now", q.expected),
        ),
        QuestionKind::Typed => {
            (Answer::Abort, None, format!("abort: this step needs a typed confirmation; pass --confirm={}", q.expected))
        }
        QuestionKind::Failure if o.on_failure == OnFailure::Rollback && has(Answer::Rollback) => {
            (Answer::Rollback, None, "roll the node back (--on-failure=rollback)".into())
        }
        QuestionKind::Failure => (
            Answer::Abort,
            None,
            "abort (headless runs stop at a failure; --on-failure=retry[:N] tries again, --on-failure=rollback rolls the node back first)".into(),
        ),
        QuestionKind::AfterRollback => (Answer::Abort, None, "stop after the rollback".into()),
        QuestionKind::InDoubt if o.yes && has(Answer::AcceptDone) => {
            (Answer::AcceptDone, None, "accept as done: its checks hold (--yes)".into())
        }
        QuestionKind::InDoubt => (
            Answer::Abort,
            None,
            "abort: an in-doubt step needs an operator (run `rollpilot resume` in a terminal)".into(),
        ),
        QuestionKind::StaleLock if o.break_lock && typed_ok => {
            (Answer::BreakLock, o.confirm.clone(), "break the expired lock (--break-lock)".into())
        }
        QuestionKind::StaleLock => (
            Answer::Abort,
            None,
            format!("leave the expired lock; to break it pass --break-lock --confirm={}", q.expected),
        ),
    }
}

/// Writes one event as text; the caller sanitizes what was written before it reaches stdout.
fn print_text(out: &mut impl Write, ev: &Event, last_wait: &mut Option<(String, Instant)>, run: &RunMachine) {
    let t = stamp();
    match ev {
        Event::Started { run, journal, resumed, done, .. } => {
            let _ = writeln!(
                out,
                "[{t}] {} run {run} (journal {})",
                if *resumed { "resumed" } else { "started" },
                journal.display()
            );
            if !done.is_empty() {
                let _ = writeln!(
                    out,
                    "[{t}]   done before the interruption: {}",
                    done.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", ")
                );
            }
        }
        Event::Planned { plan, reason } => {
            let n = plan.steps().count();
            let _ = writeln!(out, "[{t}] plan ({reason}): {n} steps in {} phases", plan.phases.len());
            for note in &plan.notes {
                let mark = if note.level == Level::Warning { "!" } else { "-" };
                let rule = note.rule.map(|r| format!("{r}: ")).unwrap_or_default();
                let _ = writeln!(out, "[{t}]   {mark} {rule}{}", note.text);
            }
            for (i, s) in plan.steps().enumerate() {
                let m = render::markers(s);
                let m = if m.is_empty() { String::new() } else { format!(" [{}]", m.join("] [")) };
                let _ = writeln!(out, "[{t}]   {:>2}. {} {}{m}", i + 1, s.action, s.node);
            }
        }
        Event::Waiting { step, what, blocker, remaining } => {
            let key = format!("{step}{what}{blocker}");
            let due = last_wait.as_ref().is_none_or(|(k, at)| *k != key || at.elapsed() >= Duration::from_secs(15));
            if due {
                let _ =
                    writeln!(out, "[{t}] … {step}: waiting until {what} — {blocker} ({}s left)", remaining.as_secs());
                *last_wait = Some((key, Instant::now()));
            }
        }
        Event::GateOpen { step, what, facts } => {
            let _ = writeln!(out, "[{t}] ✓ {step}: {what} — {facts}");
            *last_wait = None;
        }
        Event::Ask(q) => {
            let _ = writeln!(out, "[{t}] ? {}", q.title);
            for l in &q.lines {
                let _ = writeln!(out, "[{t}]     {l}");
            }
        }
        Event::StepStarted { step, attempt, .. } => {
            let again = if *attempt > 1 { format!(" (attempt {attempt})") } else { String::new() };
            let _ = writeln!(out, "[{t}] ▶ {}{again}: {}", step.id, step.summary);
            if let Some(c) = &step.command {
                let _ = writeln!(out, "[{t}]   $ {c}");
            }
        }
        Event::Output { text, .. } => {
            // Text lines are shown (sanitized); runs of binary lines are summed up in one line.
            let mut junk = 0u64;
            let flush = |out: &mut dyn Write, junk: &mut u64| {
                if *junk > 0 {
                    let _ = writeln!(out, "[{t}]   | ({}; not shown)", crate::sanitize::binary_note(*junk));
                    *junk = 0;
                }
            };
            let raw: Vec<&str> = text.split('\n').filter(|l| !l.is_empty()).collect();
            let strong: Vec<bool> = raw.iter().map(|l| crate::sanitize::looks_binary(l)).collect();
            // A short line of junk (too short to judge alone) next to binary lines is binary too.
            let odd = |l: &str| l.chars().any(|c| c == '\u{FFFD}' || (c.is_control() && c != '\t' && c != '\r'));
            let binary = |i: usize| {
                strong[i] || (odd(raw[i]) && (i > 0 && strong[i - 1] || strong.get(i + 1).copied().unwrap_or(false)))
            };
            for (i, raw) in raw.iter().enumerate() {
                if binary(i) {
                    junk += crate::sanitize::host_bytes(raw) + 1;
                    continue;
                }
                flush(out, &mut junk);
                for l in crate::sanitize::lines(raw) {
                    let _ = writeln!(out, "[{t}]   | {l}");
                }
            }
            flush(out, &mut junk);
        }
        Event::StepFinished { step, outcome, exit } => {
            let exit = exit.map(|c| c.to_string()).unwrap_or_else(|| "-".into());
            let _ = match run.step(step) {
                Some(s) => writeln!(out, "[{t}]   {step}: {} (attempt {}, exit {exit})", s.state.word(), s.attempts),
                None => writeln!(out, "[{t}]   {step}: {outcome:?} (exit {exit})"),
            };
        }
        // The headless decider prints its own answers; the policy's approvals need no line.
        Event::Decided { .. } => {}
        Event::StepDone { step } => {
            let _ = writeln!(out, "[{t}] ✓ {step} done");
        }
        Event::Note { level, text } => {
            let mark = if *level == Level::Warning { "!" } else { "-" };
            let _ = writeln!(out, "[{t}] {mark} {text}");
        }
        Event::Paused { reason } => {
            let _ = writeln!(out, "[{t}] paused: {reason}");
        }
        Event::Resumed => {
            let _ = writeln!(out, "[{t}] resumed");
        }
        Event::Policy { pause, why } => {
            let _ = writeln!(out, "[{t}] pause policy {}: {}", pause.as_str(), crate::sanitize::clean_line(why));
        }
        Event::Progress { done, total, why } => {
            if let Some(why) = why {
                let _ = writeln!(out, "[{t}] progress {done}/{total} ({why})");
            }
        }
        Event::Finished { end, message } => {
            let shown = message.strip_prefix(end.as_str()).map(|m| m.trim_start_matches([':', ' '])).unwrap_or(message);
            let _ = writeln!(out, "[{t}] {}: {shown}", end.as_str());
            let mut counts: Vec<(&str, usize)> = Vec::new();
            for s in run.steps().filter(|s| s.state != StepState::Pending) {
                match counts.iter_mut().find(|(w, _)| *w == s.state.word()) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((s.state.word(), 1)),
                }
            }
            if !counts.is_empty() {
                let said: Vec<String> = counts.iter().map(|(w, n)| format!("{n} {w}")).collect();
                let _ = writeln!(out, "[{t}] steps: {}", said.join(", "));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str) -> crate::plan::Step {
        serde_json::from_value(serde_json::json!({
            "id": id, "action": "install", "node": "n1", "group": "g",
            "command": "x", "before": [], "after": [], "reason": "r", "rules": [], "summary": "s",
            "downtime": false, "irreversible": false, "data_loss": false, "confirm": "none", "rollback": "r", "assumes": []
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The printer says a step's state and attempt as the run state machine has them, and sums
    /// the steps up at the end.
    #[test]
    fn step_lines_and_the_summary_come_from_the_machine() {
        let s = step("g/n1/install");
        let events = [
            Event::StepStarted { step: Box::new(s.clone()), attempt: 1, job: "/j/1".into() },
            Event::StepFinished { step: s.id.clone(), outcome: crate::run::journal::Outcome::Failed, exit: Some(2) },
            Event::Decided { step: s.id.clone(), decision: crate::run::journal::DecisionRecord::Retry },
            Event::StepStarted { step: Box::new(s.clone()), attempt: 2, job: "/j/2".into() },
            Event::StepFinished { step: s.id.clone(), outcome: crate::run::journal::Outcome::Ok, exit: Some(0) },
            Event::StepDone { step: s.id.clone() },
            Event::Finished { end: RunEnd::Done, message: "done".into() },
        ];
        let mut run = RunMachine::new();
        let mut out = Vec::new();
        let mut last_wait = None;
        for e in &events {
            if let Some(i) = Input::from_event(e) {
                run.apply(i);
            }
            print_text(&mut out, e, &mut last_wait, &run);
        }
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("g/n1/install: failed (attempt 1, exit 2)"), "{text}");
        assert!(text.contains("g/n1/install: checking (attempt 2, exit 0)"), "{text}");
        assert!(text.contains("steps: 1 done"), "{text}");
    }
}
