//! Asking the operator: the questions' wording (one wording for the executor and for every
//! face that shows it), asking and waiting for a valid answer, and the pause/interrupt commands
//! honoured meanwhile.

use super::{Exec, Flow, Res};
use crate::plan::{Action, Confirm, Level, PAST_NO_RETURN, Step};
use crate::run::events::*;
use crate::run::journal::{DecisionRecord, Record};
use semver::Version;

pub(crate) fn choice(answer: Answer, label: &str, consequence: &str, typed: bool) -> Choice {
    Choice { answer, label: label.into(), consequence: consequence.into(), typed }
}

/// Whether a step touches the node's software, so rolling the node back makes sense after it.
fn touches_software(step: &Step) -> bool {
    matches!(step.action, Action::Stop | Action::Cleanup | Action::Install | Action::Start | Action::Rollback)
}

/// Whether "Skip" after a failure of `step` skips only the step (a run-level step, a drain) rather
/// than the whole node its host belongs to.
pub(crate) fn skips_step_only(step: &Step) -> bool {
    step.action.is_run_level() || matches!(step.action, Action::Drain | Action::Undrain)
}

/// The rollback a failure of `step` would lead to, naming the version a rollback installs: the
/// one the node ran when the run first saw it (never the one read after an install).
/// `starts`: the node's kind has a start command (a component without one is only reinstalled,
/// then checked).
fn rollback_text(step: &Step, previous: Option<&Version>, starts: bool) -> String {
    let start = if starts { " and start it" } else { "" };
    match (step.action, previous) {
        _ if step.rollback == PAST_NO_RETURN => step.rollback.clone(),
        (Action::Install | Action::Start, Some(prev)) => {
            format!("reinstall {prev} on {} (rollback){start}", step.node)
        }
        // Rolling the node back is possible; the backups the cleanup deleted stay deleted.
        (Action::Cleanup, Some(prev)) => {
            format!("reinstall {prev} on {} (rollback){start}; the deleted backups cannot be restored", step.node)
        }
        _ => step.rollback.clone(),
    }
}

/// The question asked before a step that needs confirmation: what happens, the command, why
/// now, what it waits for afterwards, its costs, and what can be done if it fails; the safe
/// choice first. One wording for the executor and for everything that shows it.
pub fn confirmation_question(step: &Step, id: u64, cluster_name: &str) -> Question {
    let mut lines = vec![step.summary.clone()];
    if let Some(c) = &step.command {
        lines.push(format!("Command on {}: {c}", step.node));
    }
    lines.push(format!("Why now: {}", step.reason));
    for g in &step.after {
        lines.push(format!("Then waits until {} ({}).", g.describe(), g.rule()));
    }
    if step.downtime {
        lines.push("DOWNTIME: the service (or part of it) is unavailable during this step.".into());
    }
    if step.irreversible {
        lines.push("IRREVERSIBLE: this cannot be undone.".into());
    }
    if step.data_loss {
        lines.push("DATA LOSS: the data of this group is lost (R3, accepted).".into());
    }
    lines.push(format!("If it fails: {}.", step.rollback));
    let (kind, title, choices) = match step.confirm {
        Confirm::Typed => (
            QuestionKind::Typed,
            format!("{} {} — type the cluster name to confirm", step.action, step.node),
            vec![
                choice(Answer::Cancel, "Cancel", "pause here; nothing is done", false),
                choice(Answer::Proceed, "Proceed", "run this step (type the cluster name)", true),
            ],
        ),
        // Finalize: optional now, and irreversible, so doing it now is typed (R14).
        Confirm::Optional if step.irreversible => (
            QuestionKind::Typed,
            format!("Finalize now or later: {} {}", step.action, step.node),
            vec![
                choice(
                    Answer::Decline,
                    "Later",
                    "leave it for `rollpilot finalize`; the cluster stays downgradable meanwhile",
                    false,
                ),
                choice(Answer::Proceed, "Finalize now", "cross the point of no return (type the cluster name)", true),
                choice(Answer::Cancel, "Pause", "pause here; decide later", false),
            ],
        ),
        Confirm::Optional => (
            QuestionKind::Optional,
            format!("Optional: {} {}", step.action, step.node),
            vec![
                choice(Answer::Decline, "Skip it", "leave the roles as they are and go on", false),
                choice(Answer::Proceed, "Do it", "run this optional step", false),
                choice(Answer::Cancel, "Pause", "pause here; decide later", false),
            ],
        ),
        _ => (
            QuestionKind::Confirm,
            format!("{} {}", step.action, step.node),
            vec![
                choice(Answer::Cancel, "Cancel", "pause here; nothing is done", false),
                choice(Answer::Proceed, "Proceed", "run this step", false),
            ],
        ),
    };
    Question { id, step: step.id.clone(), kind, title, lines, choices, expected: cluster_name.to_string() }
}

/// The question after a step's command failed (R11): what failed, that nothing else is touched,
/// the output tail, the rollback with the version it would install, and exactly the choices valid
/// for it — rolling the node back only when the step touched its software and the version it ran
/// when the run first saw it is known.
pub fn failure_question(
    step: &Step,
    id: u64,
    cluster_name: &str,
    what: &str,
    tail: &str,
    previous: Option<&Version>,
) -> Question {
    recovery_question(step, id, cluster_name, what, tail, previous, None, true)
}

/// The question after a failure (`trend` set when a check timed out, offering Keep waiting).
/// `starts`: the node's kind has a start command, so a rollback starts it again; a component
/// without one is only reinstalled and checked, and the words say so.
#[allow(clippy::too_many_arguments)]
pub(super) fn recovery_question(
    step: &Step,
    id: u64,
    cluster_name: &str,
    what: &str,
    tail: &str,
    previous: Option<&Version>,
    trend: Option<&str>,
    starts: bool,
) -> Question {
    let mut choices = vec![choice(
        Answer::Abort,
        "Abort",
        "stop here; the cluster is left exactly as it is, the journal is kept for `resume`",
        false,
    )];
    if trend.is_some() {
        choices.push(choice(
            Answer::KeepWaiting,
            "Keep waiting",
            "wait another gate timeout for the same check; nothing is run again",
            false,
        ));
    }
    choices.push(choice(
        Answer::Retry,
        "Retry",
        &format!("run {} on {} again as a new attempt, then its checks", step.action, step.node),
        false,
    ));
    // Past the point of no return (R14) the old version cannot come back: never offered.
    if let Some(prev) = previous
        && touches_software(step)
        && step.rollback != PAST_NO_RETURN
    {
        choices.push(choice(
            Answer::Rollback,
            "Roll back node",
            &if starts {
                format!("reinstall {prev} on {}, start it and wait until it is back in sync; then decide", step.node)
            } else {
                format!("reinstall {prev} on {} and wait until it reports {prev}; then decide", step.node)
            },
            false,
        ));
    }
    if skips_step_only(step) {
        choices.push(choice(
            Answer::Skip,
            "Skip step",
            &format!("record {} as done without success and go on (type the cluster name)", step.id),
            true,
        ));
    } else {
        choices.push(choice(
            Answer::Skip,
            "Skip node",
            &format!("leave {} as it is and go on with the other nodes (type the cluster name)", step.node),
            true,
        ));
    }
    let mut lines = vec![
        what.to_string(),
        "The rollout stopped here: no other node is touched until you decide (R11 do-no-harm).".into(),
    ];
    if let Some(t) = trend {
        lines.push(t.to_string());
    }
    if !tail.is_empty() {
        lines.push(format!("Output: {tail}"));
    }
    lines.push(format!("Planned rollback for this step: {}.", rollback_text(step, previous, starts)));
    Question {
        id,
        step: step.id.clone(),
        kind: QuestionKind::Failure,
        title: if trend.is_some() {
            format!("{}: its checks did not hold in time", step.id)
        } else {
            format!("{} failed", step.id)
        },
        lines,
        choices,
        expected: cluster_name.to_string(),
    }
}

impl Exec {
    pub(super) fn decided(&mut self, step: &str, decision: DecisionRecord, typed: Option<String>) {
        let by = self.cfg.operator.clone();
        self.record(Record::Decided { step: step.into(), decision, by, typed });
    }

    pub(super) fn question(
        &mut self,
        step: &str,
        kind: QuestionKind,
        title: String,
        lines: Vec<String>,
        choices: Vec<Choice>,
    ) -> Question {
        Question {
            id: self.next_question_id(),
            step: step.into(),
            kind,
            title,
            lines,
            choices,
            expected: self.cluster.name.clone(),
        }
    }

    pub(super) fn next_question_id(&mut self) -> u64 {
        self.questions += 1;
        self.questions
    }

    /// Asks and waits for a valid answer; pause and interrupt commands are honoured meanwhile.
    pub(super) async fn ask(&mut self, q: Question) -> Res<(Answer, Option<String>)> {
        self.emit(Event::Ask(q.clone()));
        loop {
            let Some(cmd) = self.commands.recv().await else {
                return Ok((Answer::Abort, None));
            };
            match cmd {
                Command::Answer { question, answer, typed } => {
                    if question != q.id {
                        self.note(
                            Level::Warning,
                            format!(
                                "ignored an answer to an earlier question ({question}); the current question is about {}",
                                q.step
                            ),
                        );
                        continue;
                    }
                    // Abort is always possible: a face that cannot decide (headless without
                    // the flag a question needs) stops the run instead of asking forever.
                    if answer == Answer::Abort && !q.choices.iter().any(|c| c.answer == answer) {
                        return Ok((Answer::Abort, None));
                    }
                    let Some(c) = q.choices.iter().find(|c| c.answer == answer) else {
                        self.note(Level::Warning, format!("{answer:?} is not a valid answer here"));
                        self.emit(Event::Ask(q.clone()));
                        continue;
                    };
                    if c.typed && typed.as_deref().map(str::trim) != Some(self.cluster.name.as_str()) {
                        self.note(
                            Level::Warning,
                            format!(
                                "typed confirmation did not match the cluster name `{}`; nothing was done",
                                self.cluster.name
                            ),
                        );
                        self.emit(Event::Ask(q.clone()));
                        continue;
                    }
                    return Ok((answer, typed));
                }
                Command::Pause => self.pause = true,
                Command::Resume => self.pause = false,
                Command::SetPolicy(p) => self.set_policy(p, "set by the operator"),
                Command::Interrupt | Command::InterruptNow => {
                    self.interrupt = true;
                    return Ok((Answer::Abort, None));
                }
            }
        }
    }

    /// Drains pending commands without waiting; a lost lock stops waits like a second Ctrl-C.
    pub(super) fn poll_commands(&mut self) {
        if self.lock.lost() {
            self.interrupt = true;
            self.interrupt_now = true;
        }
        while let Ok(cmd) = self.commands.try_recv() {
            match cmd {
                Command::Pause => self.pause = true,
                Command::Resume => self.pause = false,
                Command::SetPolicy(p) => self.set_policy(p, "set by the operator"),
                Command::Interrupt => self.interrupt = true,
                Command::InterruptNow => {
                    self.interrupt = true;
                    self.interrupt_now = true;
                }
                Command::Answer { question, .. } => self
                    .note(Level::Warning, format!("ignored an answer to question {question}: nothing is being asked")),
            }
        }
    }

    pub(super) async fn wait_while_paused(&mut self) -> Res<Flow> {
        self.poll_commands();
        if self.interrupt {
            return Ok(Flow::End(RunEnd::Interrupted, self.resume_hint("interrupted")));
        }
        if !self.pause {
            return Ok(Flow::Next);
        }
        self.emit(Event::Paused { reason: "paused after the current step; resume when ready".into() });
        while self.pause {
            match self.commands.recv().await {
                None => return Ok(Flow::End(RunEnd::Interrupted, self.resume_hint("interrupted"))),
                Some(Command::Resume) => self.pause = false,
                Some(Command::SetPolicy(p)) => self.set_policy(p, "set by the operator"),
                Some(Command::Interrupt | Command::InterruptNow) => {
                    return Ok(Flow::End(RunEnd::Interrupted, self.resume_hint("interrupted while paused")));
                }
                Some(_) => {}
            }
        }
        self.emit(Event::Resumed);
        Ok(Flow::Next)
    }
}
