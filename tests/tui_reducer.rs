//! The reducer: actions in, state and effects out, without a terminal. The real run engine drives
//! a Terracotta-shaped scripted cluster (`engine_support`) on tokio's paused clock and its events
//! go through the reducer; tests of one event feed it built from the engine's own plan and the
//! executor's own wording.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod engine_support;

use engine_support::tui::*;
use engine_support::*;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use rollpilot::model::*;
use rollpilot::plan::Level;
use rollpilot::run::events::*;
use rollpilot::tui::keymap;
use rollpilot::tui::state::{Modal, Overlay, PauseState, StepState, Stopping};
use rollpilot::tui::{Action, Effect, Theme};
use std::path::PathBuf;
use std::sync::Arc;

async fn start_at(w: u16, h: u16) -> Tui {
    let mut s = Tui::drive(terracotta(), w, h, Theme::default_colors());
    s.until("the plan", |st, _| st.run.machine.progress.is_some()).await;
    s.tick();
    s
}

async fn running() -> Tui {
    start_at(160, 48).await
}

/// A run that waits for the confirmation of stopping the active tc-east-1.
async fn asked() -> (Tui, u64) {
    let mut s = running().await;
    s.run_until("east/tc-east-1/stop").await;
    let id = s.state.question().unwrap().question.id;
    (s, id)
}

async fn observing(who: &str) -> Tui {
    let mut s = Tui::observe(terracotta(), 160, 48, Theme::default_colors(), who);
    s.refresh().await;
    s
}

fn confirm_question(id: u64, step: &rollpilot::plan::Step, expected: &str) -> Question {
    rollpilot::run::executor::confirmation_question(step, id, expected)
}

fn failure_question(
    id: u64,
    step: &rollpilot::plan::Step,
    what: &str,
    tail: &str,
    previous: Option<&str>,
    expected: &str,
) -> Question {
    let previous = previous.map(|p| semver::Version::parse(p).unwrap());
    rollpilot::run::executor::failure_question(step, id, expected, what, tail, previous.as_ref())
}

fn question_focus(s: &Tui) -> usize {
    match &s.state.ui.modal {
        Some(Modal::Question(d)) => d.focus,
        other => panic!("no question open: {other:?}"),
    }
}

fn sends(fx: &[Effect]) -> Vec<Command> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn confirm_question_opens_with_proceed_focused_and_enter_proceeds() {
    let (mut s, id) = asked().await;
    let Some(Modal::Question(d)) = &s.state.ui.modal else { unreachable!() };
    assert_eq!(d.question.choices[d.focus].answer, Answer::Proceed, "Enter proceeds, as the README says");
    assert!(s.screen().contains("The cluster fails over to"), "{}", s.screen());
    assert_eq!(s.state.step("east/tc-east-1/stop").unwrap().state, StepState::AwaitingConfirmation);
    s.wait(1).await;
    let fx = s.key(key(KeyCode::Enter));
    assert_eq!(sends(&fx), vec![Command::Answer { question: id, answer: Answer::Proceed, typed: None }]);
    assert!(s.state.ui.modal.is_none());
    // The screen does not guess: the step is approved once the engine says it journaled that.
    assert_eq!(s.state.step("east/tc-east-1/stop").unwrap().state, StepState::AwaitingConfirmation);
    s.until("the decision", |_, e| matches!(e, Event::Decided { .. })).await;
    assert_eq!(s.state.step("east/tc-east-1/stop").unwrap().state, StepState::Approved);
}

#[tokio::test(start_paused = true)]
async fn moving_focus_then_enter_sends_the_focused_answer_with_the_question_id() {
    let (mut s, id) = asked().await;
    s.wait(1).await;
    s.key(key(KeyCode::Left));
    assert_eq!(question_focus(&s), 0);
    let fx = s.key(key(KeyCode::Enter));
    assert_eq!(sends(&fx), vec![Command::Answer { question: id, answer: Answer::Cancel, typed: None }]);
    // Tab wraps around, Shift-Tab goes back.
    let (mut s, _) = asked().await;
    s.wait(1).await;
    s.key(key(KeyCode::Tab));
    assert_eq!(question_focus(&s), 0);
    s.key(key(KeyCode::Tab));
    assert_eq!(question_focus(&s), 1);
    s.key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    assert_eq!(question_focus(&s), 0);
}

#[tokio::test(start_paused = true)]
async fn dangerous_steps_open_with_the_safe_choice_focused() {
    // Questions about a step the engine has not reached yet, in the executor's own words.
    let mut s = running().await;
    let mut step = s.plan_step("east/tc-east-1/stop");
    step.irreversible = true;
    let id = s.next_id();
    s.ask(confirm_question(id, &step, "bigmemory-prod"));
    let Some(Modal::Question(d)) = &s.state.ui.modal else { panic!("no question") };
    assert_eq!(d.question.choices[d.focus].answer, Answer::Cancel, "irreversible: Cancel focused");
    s.wait(1).await;
    assert_eq!(
        sends(&s.key(key(KeyCode::Enter))),
        vec![Command::Answer { question: id, answer: Answer::Cancel, typed: None }]
    );

    let mut step = s.plan_step("east/tc-east-1/stop");
    step.confirm = rollpilot::plan::Confirm::Typed;
    let id = s.next_id();
    s.ask(confirm_question(id, &step, "bigmemory-prod"));
    let Some(Modal::Question(d)) = &s.state.ui.modal else { panic!("no question") };
    assert_eq!(d.question.choices[d.focus].answer, Answer::Cancel, "typed: Cancel focused");
    assert!(s.screen().contains("Typing the cluster name is needed because"), "{}", s.screen());
    // `y` goes to the typed Proceed: it asks for the name and says why, nothing is sent yet.
    s.wait(1).await;
    assert!(sends(&s.key(ch('y'))).is_empty());
    assert!(matches!(&s.state.ui.modal, Some(Modal::Question(d)) if d.typing.is_some()));
    assert!(s.screen().contains("typing is needed because"), "{}", s.screen());
}

#[tokio::test(start_paused = true)]
async fn y_proceeds_in_every_confirm_dialog_and_n_or_esc_is_the_safe_choice() {
    let (mut s, id) = asked().await;
    s.wait(1).await;
    assert_eq!(sends(&s.key(ch('y'))), vec![Command::Answer { question: id, answer: Answer::Proceed, typed: None }]);
    let (mut s, id) = asked().await;
    s.wait(1).await;
    assert_eq!(sends(&s.key(ch('n'))), vec![Command::Answer { question: id, answer: Answer::Cancel, typed: None }]);
    let (mut s, id) = asked().await;
    s.wait(1).await;
    assert_eq!(
        sends(&s.key(key(KeyCode::Esc))),
        vec![Command::Answer { question: id, answer: Answer::Cancel, typed: None }]
    );

    // An optional step (failback under `ask`): `y` is "Do it".
    let mut s = running().await;
    let mut step = s.plan_step("east/tc-east-1/stop");
    step.confirm = rollpilot::plan::Confirm::Optional;
    let id = s.next_id();
    s.ask(confirm_question(id, &step, "bigmemory-prod"));
    s.wait(1).await;
    assert_eq!(sends(&s.key(ch('y'))), vec![Command::Answer { question: id, answer: Answer::Proceed, typed: None }]);
    assert!(s.state.step("east/tc-east-1/stop").is_some());

    // A failure has nothing that proceeds: `y` says so, Esc/n only move the focus back to Abort.
    let mut s = running().await;
    let step = s.plan_step("east/tc-east-2/install");
    let q = failure_question(
        7,
        &step,
        "east/tc-east-2/install failed on tc-east-2 (exit 2)",
        "",
        Some("4.2.0"),
        "bigmemory-prod",
    );
    s.ask(q);
    s.wait(1).await;
    assert!(sends(&s.key(ch('y'))).is_empty());
    assert!(s.screen().contains("nothing here proceeds"), "{}", s.screen());
    s.key(key(KeyCode::Down));
    s.key(key(KeyCode::Down));
    assert_eq!(question_focus(&s), 2);
    assert!(sends(&s.key(ch('n'))).is_empty());
    assert_eq!(question_focus(&s), 0);
    assert!(s.state.ui.modal.is_some());
}

#[tokio::test(start_paused = true)]
async fn a_key_dropped_right_after_a_dialog_opens_is_shown_as_dropped() {
    let (mut s, id) = asked().await;
    s.wait_ms(100).await;
    assert!(sends(&s.key(ch('y'))).is_empty());
    assert!(s.screen().contains("key ignored: dialog just opened"), "{}", s.screen());
    s.wait_ms(400).await;
    assert_eq!(sends(&s.key(ch('y')))[0], Command::Answer { question: id, answer: Answer::Proceed, typed: None });
}

#[tokio::test(start_paused = true)]
async fn q_in_a_dialog_asks_to_quit_on_top_and_closing_it_returns_to_the_dialog() {
    let (mut s, id) = asked().await;
    s.wait(1).await;
    s.key(key(KeyCode::Left));
    assert!(sends(&s.key(ch('q'))).is_empty());
    assert!(matches!(s.state.ui.modal, Some(Modal::Quit { .. })));
    assert!(s.screen().contains("Quit rollpilot?"), "{}", s.screen());
    // Esc (Stay) closes the quit question: the same dialog, same focus, is back.
    s.key(key(KeyCode::Esc));
    assert!(matches!(&s.state.ui.modal, Some(Modal::Question(d)) if d.question.id == id && d.focus == 0));
    // Enter on "Stay" too.
    s.key(ch('q'));
    s.key(key(KeyCode::Enter));
    assert!(matches!(&s.state.ui.modal, Some(Modal::Question(d)) if d.question.id == id));
    let fx = s.key(ch('y'));
    assert_eq!(sends(&fx), vec![Command::Answer { question: id, answer: Answer::Proceed, typed: None }]);
}

#[tokio::test(start_paused = true)]
async fn a_new_question_waits_until_the_open_one_is_answered() {
    let (mut s, first) = asked().await;
    s.wait(1).await;
    s.key(key(KeyCode::Left));
    let step = s.plan_step("east/tc-east-2/install");
    let second = s.next_id();
    s.ask(failure_question(second, &step, "install failed", "", Some("4.2.0"), "bigmemory-prod"));
    // The operator's keystroke goes to the dialog they were looking at.
    let Some(Modal::Question(d)) = &s.state.ui.modal else { panic!("no question") };
    assert_eq!((d.question.id, d.focus), (first, 0));
    let fx = s.key(key(KeyCode::Enter));
    assert_eq!(sends(&fx), vec![Command::Answer { question: first, answer: Answer::Cancel, typed: None }]);
    // Then the queued one, with its own guard.
    let Some(Modal::Question(d)) = &s.state.ui.modal else { panic!("the queued question is not shown") };
    assert_eq!(d.question.id, second);
    assert!(sends(&s.key(key(KeyCode::Enter))).is_empty(), "guarded: it just opened");
    s.wait(1).await;
    assert_eq!(
        sends(&s.key(key(KeyCode::Enter))),
        vec![Command::Answer { question: second, answer: Answer::Abort, typed: None }]
    );
    assert!(s.state.ui.modal.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_question_arriving_under_the_quit_dialog_is_shown_when_it_closes() {
    let mut s = running().await;
    s.key(ch('q'));
    assert!(matches!(s.state.ui.modal, Some(Modal::Quit { .. })));
    let step = s.plan_step("east/tc-east-1/stop");
    let id = s.next_id();
    s.ask(confirm_question(id, &step, "bigmemory-prod"));
    assert!(matches!(s.state.ui.modal, Some(Modal::Quit { .. })), "the quit question stays under the key");
    s.key(key(KeyCode::Esc));
    assert!(matches!(&s.state.ui.modal, Some(Modal::Question(d)) if d.question.id == id));
}

#[tokio::test(start_paused = true)]
async fn the_header_says_downgrade_and_typed_confirmations_say_why() {
    // The cluster runs 4.2.1 and the operator goes back to 4.2.0: the real planner's plan,
    // shown as the executor's Planned event would show it.
    let mut s = Tui::observe(Lab::with_versions(TERRACOTTA, "4.2.1", "4.2.0"), 160, 48, Theme::default_colors(), "x");
    s.state.observer_of = None;
    s.refresh().await;
    let p = s.downgrade_plan("4.2.0");
    s.exec(Event::Planned { plan: Box::new(p.clone()), reason: "initial plan".into() });
    assert!(s.screen().contains("downgrade 4.2.1 → 4.2.0"), "{}", s.screen());
    let step = p.steps().find(|st| st.confirm == rollpilot::plan::Confirm::Typed).cloned();
    let step = step.unwrap_or_else(|| {
        let mut st = p.steps().next().unwrap().clone();
        st.confirm = rollpilot::plan::Confirm::Typed;
        st
    });
    let id = s.next_id();
    s.ask(confirm_question(id, &step, "bigmemory-prod"));
    s.wait(1).await;
    s.key(ch('y'));
    let screen = s.screen();
    assert!(screen.contains("DOWNGRADE"), "{screen}");
    assert!(screen.contains("typing is needed because"), "{screen}");
}

#[tokio::test(start_paused = true)]
async fn keys_right_after_a_question_appears_are_ignored() {
    let (mut s, id) = asked().await;
    s.wait_ms(100).await;
    assert!(sends(&s.key(ch('y'))).is_empty(), "a key typed for something else must not answer");
    assert!(sends(&s.key(key(KeyCode::Enter))).is_empty());
    s.wait_ms(400).await;
    assert_eq!(sends(&s.key(ch('y')))[0], Command::Answer { question: id, answer: Answer::Proceed, typed: None });
}

#[tokio::test(start_paused = true)]
async fn typed_choice_requires_the_cluster_name() {
    let lab = terracotta();
    lab.world.lock().unwrap().fail_install.insert("tc-east-2".into(), 1);
    let mut s = Tui::drive(lab, 160, 48, Theme::default_colors());
    s.run_until("east/tc-east-2/install").await;
    let id = s.until_asked("east/tc-east-2/install").await;
    s.wait(1).await;
    // Focus "Skip node" (typed): Enter opens the field instead of sending.
    for _ in 0..3 {
        s.key(key(KeyCode::Tab));
    }
    assert!(sends(&s.key(key(KeyCode::Enter))).is_empty());
    assert!(matches!(&s.state.ui.modal, Some(Modal::Question(d)) if d.typing.is_some()));
    assert!(s.screen().contains("Type the cluster name `bigmemory-prod`"), "{}", s.screen());
    // Empty or wrong text is refused locally.
    assert!(sends(&s.key(key(KeyCode::Enter))).is_empty());
    for c in "bigmemory-pro".chars() {
        s.key(ch(c));
    }
    assert!(sends(&s.key(key(KeyCode::Enter))).is_empty());
    assert!(s.screen().contains("is not the cluster name"), "{}", s.screen());
    // Backspace, Esc back to the choices, then type it right.
    s.key(key(KeyCode::Backspace));
    s.key(key(KeyCode::Esc));
    assert!(matches!(&s.state.ui.modal, Some(Modal::Question(d)) if d.typing.is_none()));
    s.key(key(KeyCode::Enter));
    for c in "bigmemory-prod".chars() {
        s.key(ch(c));
    }
    let fx = s.key(key(KeyCode::Enter));
    assert_eq!(
        sends(&fx),
        vec![Command::Answer { question: id, answer: Answer::Skip, typed: Some("bigmemory-prod".into()) }]
    );
    s.until("the skip", |_, e| matches!(e, Event::Decided { .. })).await;
    assert_eq!(s.state.step("east/tc-east-2/install").unwrap().state, StepState::Skipped);
}

#[tokio::test(start_paused = true)]
async fn a_repeated_question_says_the_answer_was_refused() {
    let (mut s, id) = asked().await;
    s.wait(1).await;
    s.key(ch('y'));
    s.exec(Event::Note { level: Level::Warning, text: "typed confirmation did not match".into() });
    let step = s.plan_step("east/tc-east-1/stop");
    s.ask(confirm_question(id, &step, "bigmemory-prod"));
    assert!(matches!(&s.state.ui.modal, Some(Modal::Question(d)) if d.repeated));
    assert!(s.screen().contains("previous answer was not accepted"));
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_once_pauses_twice_stops_now() {
    let mut s = running().await;
    let fx = s.key(ctrl_c());
    assert_eq!(sends(&fx), vec![Command::Pause]);
    assert_eq!(s.state.run.pause, PauseState::Pausing);
    assert!(s.screen().contains("Pausing after the current step"));
    assert!(s.screen().contains("Ctrl-C again: stop now"));
    let fx = s.key(ctrl_c());
    assert_eq!(sends(&fx), vec![Command::InterruptNow]);
    assert_eq!(s.state.ui.stopping, Stopping::Now);
    assert!(!fx.contains(&Effect::Quit), "the TUI waits for the executor to stop");
    let fx = s.exec(Event::Finished { end: RunEnd::Interrupted, message: "interrupted".into() });
    assert!(fx.contains(&Effect::Quit));
}

#[tokio::test(start_paused = true)]
async fn q_mid_run_asks_and_after_finished_quits() {
    let mut s = running().await;
    let fx = s.key(ch('q'));
    assert!(!fx.contains(&Effect::Quit));
    assert!(matches!(s.state.ui.modal, Some(Modal::Quit { focus: 0 })));
    assert!(s.screen().contains("rollpilot resume -c config/terracotta.toml"), "{}", s.screen());
    // Enter on the focused (safe) choice stays.
    let fx = s.key(key(KeyCode::Enter));
    assert!(sends(&fx).is_empty() && s.state.ui.modal.is_none());
    // Quit after the step: Interrupt, then quit when the executor says it finished.
    s.key(ch('q'));
    s.key(key(KeyCode::Down));
    let fx = s.key(key(KeyCode::Enter));
    assert_eq!(sends(&fx), vec![Command::Interrupt]);
    assert_eq!(s.state.ui.stopping, Stopping::AfterStep);
    let fx = s.exec(Event::Finished { end: RunEnd::Interrupted, message: "interrupted; resume later".into() });
    assert!(fx.contains(&Effect::Quit));

    let mut s = running().await;
    s.exec(Event::Finished { end: RunEnd::Done, message: "done".into() });
    assert_eq!(s.key(ch('q')), vec![Effect::Quit]);
}

#[tokio::test(start_paused = true)]
async fn slash_filters_the_node_table() {
    let mut s = running().await;
    assert_eq!(s.state.ui.visible.len(), 8);
    s.key(ch('/'));
    assert!(s.state.ui.filter_editing);
    for c in "east".chars() {
        s.key(ch(c));
    }
    let hosts: Vec<&str> = s.state.ui.visible.iter().map(|&i| s.state.live.rows[i].row.host.as_str()).collect();
    assert_eq!(hosts, vec!["tc-east-1", "tc-east-2", "app-east-1", "wan-east"]);
    s.key(key(KeyCode::Enter));
    assert!(!s.state.ui.filter_editing);
    assert!(s.screen().contains("filter /east (4 of 8)"), "{}", s.screen());
    // Esc clears it.
    s.key(key(KeyCode::Esc));
    assert_eq!(s.state.ui.visible.len(), 8);
    // Unreachable hosts can be found by that word.
    s.lab
        .world
        .lock()
        .unwrap()
        .probes_fail
        .insert("wan-west".into(), "ssh: connect to host 10.20.3.31 port 22: Connection refused".into());
    s.wait(3).await;
    s.refresh().await;
    s.key(ch('/'));
    for c in "unreach".chars() {
        s.key(ch(c));
    }
    assert_eq!(s.state.ui.visible.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn p_toggles_pause_and_resume() {
    let mut s = running().await;
    assert_eq!(sends(&s.key(ch('p'))), vec![Command::Pause]);
    assert_eq!(s.state.run.pause, PauseState::Pausing);
    s.exec(Event::Paused { reason: "paused after the current step; resume when ready".into() });
    assert!(matches!(s.state.run.pause, PauseState::Paused(_)));
    assert!(s.screen().contains("PAUSED"));
    assert_eq!(sends(&s.key(ch('p'))), vec![Command::Resume]);
    s.exec(Event::Resumed);
    assert_eq!(s.state.run.pause, PauseState::Running);
    assert_eq!(sends(&s.key(ch('p'))), vec![Command::Pause]);
}

#[tokio::test(start_paused = true)]
async fn observer_mode_ignores_mutating_keys() {
    let mut s = observing("alice on laptop-7 (pid 42)").await;
    let screen = s.screen();
    assert!(screen.contains("READ-ONLY: alice on laptop-7"), "{screen}");
    for k in [ch('p'), ch('s'), ch('y'), key(KeyCode::Enter)] {
        let fx = s.key(k);
        assert!(sends(&fx).is_empty(), "{k:?} sent a command in observer mode");
        assert!(!fx.iter().any(|e| matches!(e, Effect::OpenShell(_))));
    }
    let bar = s.screen();
    let last = bar.lines().last().unwrap();
    assert!(!last.contains("pause") && !last.contains("shell"), "mutating keys are hidden: {last}");
    // Observers quit at once, even with Ctrl-C.
    s.key(key(KeyCode::Esc));
    assert_eq!(s.key(ctrl_c()), vec![Effect::Quit]);
    assert_eq!(s.key(ch('q')), vec![Effect::Quit]);
}

#[tokio::test(start_paused = true)]
async fn shell_opens_on_the_selected_node() {
    let mut s = running().await;
    s.key(ch('j'));
    assert_eq!(s.key(ch('s')), vec![Effect::OpenShell("tc-east-2".into())]);
}

#[tokio::test(start_paused = true)]
async fn output_is_stored_and_shown_clean() {
    let mut s = running().await;
    let step = s.plan_step("east/tc-east-2/stop");
    s.exec(Event::StepStarted { step: Box::new(step.clone()), attempt: 1, job: String::new() });
    let nasty = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[31mred\u{1b}[0m line\nbell\u{7}here\n10%\r50%\r100%";
    s.exec(Event::Output { step: step.id.clone(), node: step.node.clone(), text: nasty.into() });
    let out = &s.state.run.outputs[&step.id];
    assert_eq!(
        out.lines.iter().cloned().collect::<Vec<_>>(),
        vec!["\\x1b]0;pwned\\x07\\x1b[2J\\x1b[31mred\\x1b[0m line".to_string(), "bell\\x07here".to_string()]
    );
    assert_eq!(out.line(2).unwrap(), "100%");
    // A line split across two events is joined.
    s.exec(Event::Output { step: step.id.clone(), node: step.node.clone(), text: " done\n".into() });
    assert_eq!(s.state.run.outputs[&step.id].lines.back().unwrap(), "100% done");
    let screen = s.screen();
    // The escapes are shown as text, never obeyed.
    assert!(screen.contains("\\x1b[31mred") && !screen.contains('\u{1b}') && !screen.contains('\u{7}'), "{screen}");
}

#[tokio::test(start_paused = true)]
async fn huge_output_is_bounded() {
    let mut s = running().await;
    let step = s.plan_step("east/tc-east-2/install");
    s.exec(Event::StepStarted { step: Box::new(step.clone()), attempt: 1, job: String::new() });
    let chunk = "x".repeat(100) + "\n";
    for _ in 0..50 {
        s.exec(Event::Output { step: step.id.clone(), node: step.node.clone(), text: chunk.repeat(100) });
    }
    let long_line = "y".repeat(1_000_000);
    s.exec(Event::Output { step: step.id.clone(), node: step.node.clone(), text: long_line });
    let out = &s.state.run.outputs[&step.id];
    assert!(out.lines.len() <= rollpilot::tui::state::OUTPUT_LINES);
    assert!(out.dropped > 0);
    assert!(out.partial.len() <= 4 * rollpilot::tui::state::LINE_MAX);
    let _ = s.screen();
}

#[tokio::test(start_paused = true)]
async fn idle_ticks_do_not_redraw_but_a_running_clock_does() {
    // Observer of a quiet cluster: nothing on screen depends on the second.
    let mut s = observing("bob").await;
    let mut redraws = 0;
    for i in 0..120 {
        redraws += s.wait(1).await.len();
        if i % 2 == 0 {
            redraws += s.publish().len();
        }
    }
    assert_eq!(redraws, 0, "an idle screen must not be redrawn");
    // A run in progress shows its elapsed time: one redraw a second.
    let mut s = running().await;
    assert_eq!(s.wait(1).await, vec![Effect::Redraw]);
}

#[tokio::test(start_paused = true)]
async fn stale_values_are_marked_and_details_say_why() {
    let mut s = running().await;
    s.lab
        .world
        .lock()
        .unwrap()
        .probes_fail
        .insert("tc-west-2".into(), "ssh: connect to host 10.20.1.12 port 22: Connection timed out".into());
    s.wait(30).await;
    s.refresh().await;
    let screen = s.screen();
    let row = screen.lines().find(|l| l.contains("tc-west-2") && l.contains("UNREACHABLE")).unwrap();
    assert!(row.contains("passive*") && row.contains("4.2.0*"), "{row}");
    // Enter on the row shows why.
    for _ in 0..3 {
        s.key(ch('j'));
    }
    s.key(key(KeyCode::Enter));
    assert_eq!(s.state.ui.overlay, Some(Overlay::Node("tc-west-2".into())));
    assert!(s.screen().contains("Connection timed out"), "{}", s.screen());
}

#[tokio::test(start_paused = true)]
async fn failover_shows_live_and_is_logged() {
    let mut s = running().await;
    // Someone stops tc-east-1 by hand: tc-east-2 takes over.
    {
        let mut w = s.lab.world.lock().unwrap();
        let n = w.nodes.get_mut("tc-east-1").unwrap();
        n.running = None;
        n.active = false;
        w.nodes.get_mut("tc-east-2").unwrap().active = true;
    }
    s.wait(3).await;
    s.refresh().await;
    let r = s.state.live.rows.iter().find(|r| r.row.host == "tc-east-2").unwrap();
    assert_eq!(r.row.role, "active");
    assert!(s.state.role_recently_changed(r));
    assert!(s.state.run.log.iter().any(|e| e.text.contains("tc-east-2 is now active (was passive)")));
}

#[tokio::test(start_paused = true)]
async fn release_events_are_ignored_and_help_comes_from_the_keymap() {
    let mut s = running().await;
    let mut k = ch('q');
    k.kind = KeyEventKind::Release;
    assert!(s.key(k).is_empty());
    s.key(ch('?'));
    assert_eq!(s.state.ui.overlay, Some(Overlay::Help));
    let text =
        rollpilot::tui::screen::help::help_lines(&s.state).into_iter().map(|l| l.0).collect::<Vec<_>>().join("\n");
    for b in keymap::MAIN {
        assert!(text.contains(b.help), "help lacks {}", b.help);
    }
    for b in keymap::DIALOG {
        assert!(text.contains(b.help));
    }
    s.key(key(KeyCode::Esc));
    assert_eq!(s.state.ui.overlay, None);
}

#[tokio::test(start_paused = true)]
async fn too_small_keeps_q_and_ctrl_c() {
    let mut s = running().await;
    s.act(Action::Resize(40, 10));
    assert!(s.screen().contains("too small"));
    assert!(s.key(ch('p')).is_empty());
    s.key(ch('q'));
    assert!(matches!(s.state.ui.modal, Some(Modal::Quit { .. })));
    s.act(Action::Resize(160, 48));
    s.key(key(KeyCode::Esc));
    assert_eq!(sends(&s.key(ctrl_c())), vec![Command::Pause]);
}

#[tokio::test(start_paused = true)]
async fn odd_input_never_panics() {
    // Zero nodes and an empty plan.
    let mut cluster = (*terracotta().cluster).clone();
    for g in &mut cluster.groups {
        g.nodes.clear();
    }
    let mut state =
        rollpilot::tui::State::new(Arc::new(cluster), PathBuf::from("x.toml"), None, Theme::monochrome(), t0());
    let empty = rollpilot::plan::Plan {
        format: 1,
        rollpilot: "0".into(),
        cluster: "x".into(),
        profile: Profile::Terracotta,
        target: semver::Version::parse("4.2.1").unwrap(),
        direction: rollpilot::plan::Direction::Nothing,
        from_versions: vec![],
        nodes: vec![],
        phases: vec![],
        notes: vec![],
        typed_confirmations: vec![],
        point_of_no_return: None,
        batches: vec![],
        lanes: None,
    };
    let actions = vec![
        Action::Exec(Event::Planned { plan: Box::new(empty), reason: "initial plan".into() }),
        Action::Exec(Event::Output { step: "nope".into(), node: "ghost".into(), text: "\u{1b}[".into() }),
        Action::Exec(Event::StepDone { step: "nope".into() }),
        Action::Exec(Event::Waiting {
            step: "(next step)".into(),
            what: "x".into(),
            blocker: "y".into(),
            remaining: std::time::Duration::from_secs(5),
        }),
        Action::Exec(Event::Ask(Question {
            id: 1,
            step: "nope".into(),
            kind: QuestionKind::Confirm,
            title: String::new(),
            lines: vec![],
            choices: vec![],
            expected: String::new(),
        })),
    ];
    for a in actions {
        rollpilot::tui::update(&mut state, a);
    }
    for k in ["j", "k", "g", "G", "\t", "/", "x", "\n", "?", "l"] {
        let code = match k {
            "\t" => KeyCode::Tab,
            "\n" => KeyCode::Enter,
            c => KeyCode::Char(c.chars().next().unwrap()),
        };
        rollpilot::tui::update(&mut state, Action::Key(key(code)));
    }
    for (w, h) in [(1, 1), (0, 0), (80, 24), (3, 200), (500, 3)] {
        rollpilot::tui::update(&mut state, Action::Resize(w, h));
        let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(w.max(1), h.max(1))).unwrap();
        t.draw(|f| rollpilot::tui::view::render(&state, f)).unwrap();
    }
}

/// The node table's row for a host, as drawn.
fn node_row(screen: &str, host: &str) -> String {
    screen
        .lines()
        .find(|l| l.trim_start_matches(['›', ' ']).starts_with(host))
        .unwrap_or_else(|| panic!("no row for {host}:\n{screen}"))
        .to_string()
}

#[tokio::test(start_paused = true)]
async fn narrow_tables_drop_low_value_columns_before_cutting_role_version_or_sync() {
    for (w, h) in [(80, 24), (120, 40), (160, 48)] {
        let s = start_at(w, h).await;
        let screen = s.screen();
        let row = node_row(&screen, "tc-east-2");
        for word in ["passive", "4.2.0", "in-sync", "ok"] {
            assert!(row.contains(word), "{w}x{h}: `{word}` cut in `{row}`\n{screen}");
        }
        let header = screen.lines().find(|l| l.contains("HOST")).unwrap();
        assert!(!header.contains('…'), "{w}x{h}: a column title is cut: {header}");
    }
    // With room, the KIND column shows each node's kind name.
    let s = start_at(240, 48).await;
    let screen = s.screen();
    assert!(screen.contains("KIND"), "{screen}");
    assert!(node_row(&screen, "wan-east").contains("orchestrator"), "{screen}");
}

#[tokio::test(start_paused = true)]
async fn help_scrolls_when_it_is_longer_than_the_screen() {
    let mut s = start_at(80, 24).await;
    s.key(ch('?'));
    let first = s.screen();
    assert!(first.contains("lines 1-"), "the help says it scrolls: {first}");
    s.key(ch('G'));
    let last = s.screen();
    assert!(last.contains("monochrome") || last.contains("NO_COLOR"), "the end of the help is reachable: {last}");
    s.key(ch('g'));
    assert_eq!(s.screen(), first);
}

#[tokio::test(start_paused = true)]
async fn the_full_log_wraps_long_entries() {
    let mut s = start_at(80, 24).await;
    let long = "a long note that an operator must read in full: ".repeat(4) + "THE END";
    s.exec(Event::Note { level: Level::Warning, text: long });
    s.key(ch('l'));
    let screen = s.screen();
    assert!(screen.contains("THE END"), "{screen}");
}

#[tokio::test(start_paused = true)]
async fn counts_come_from_the_executor_and_a_moved_total_says_why() {
    let mut s = running().await;
    // The reducer never counts by itself: a done step without Progress leaves the count.
    s.exec(Event::Progress { done: 7, total: 30, why: None });
    assert_eq!(s.state.progress(), (7, 30));
    assert!(s.screen().contains("7/30 steps"), "{}", s.screen());
    s.exec(Event::Progress { done: 7, total: 31, why: Some("+1 step: tc-east-2 was stopped by someone".into()) });
    assert_eq!(s.state.progress(), (7, 31));
    assert!(
        s.state
            .run
            .log
            .iter()
            .any(|l| l.text.contains("progress 7/31 steps: +1 step: tc-east-2 was stopped by someone"))
    );
}

#[tokio::test(start_paused = true)]
async fn attempts_and_step_times_are_shown_and_the_eta_learns_from_measured_steps() {
    let mut s = running().await;
    assert!(s.screen().contains("ETA: after the first node"), "{}", s.screen());
    s.run_until("east/tc-east-1/stop").await;
    // The install took as long on the reducer's clock (StepStarted → StepDone) as the host took.
    let took = s.state.timing("east/tc-east-2/install").took_secs.expect("the install was timed");
    assert!(took >= 3, "{took}");
    let eta = s.state.eta_text().unwrap();
    assert!(eta.starts_with("ETA ") && !eta.contains("first node"), "{eta}");
    // Never "ETA 0s" while steps remain, even when the measured steps took under a second.
    let remaining = s.state.steps().filter(|x| !x.state.is_final()).count() as i64;
    assert!(s.state.eta_secs().unwrap() >= remaining, "{eta} with {remaining} steps left");
    let screen = s.screen();
    assert!(screen.contains(&format!("took 0:{took:02}")), "{screen}");
    assert!(screen.contains(&eta), "{screen}");
    // A second attempt is said on the step, and its time runs from the attempt's start.
    let stop = s.plan_step("east/tc-east-1/stop");
    s.exec(Event::StepStarted { step: Box::new(stop.clone()), attempt: 2, job: String::new() });
    s.wait(75).await;
    let screen = s.screen();
    assert!(screen.contains("stop tc-east-1 [confirm] attempt 2 (running) 1:15"), "{screen}");
}

#[tokio::test(start_paused = true)]
async fn a_waiting_decision_rings_the_bell_and_notifies_unless_quiet() {
    let (s, _) = asked().await;
    let a = s.state.ui.attention.clone().expect("attention requested");
    assert!(a.starts_with('\x07'), "{a:?}");
    assert!(a.contains("\x1b]9;bigmemory-prod: decision needed: "), "{a:?}");
    assert!(a.contains("\x1b]777;notify;rollpilot;bigmemory-prod: decision needed: "), "{a:?}");
    assert!(a.ends_with('\x07'));
    // Text from the question cannot end the sequence early or inject another one.
    let e = rollpilot::tui::update::attention_escapes("x\x07\x1b]52;c;evil\x07;y");
    assert_eq!(e.matches('\x07').count(), 3, "{e:?}");
    assert_eq!(e.matches('\x1b').count(), 2, "{e:?}");

    let mut q = running().await;
    q.state.quiet = true;
    q.run_until("east/tc-east-1/stop").await;
    let step = q.plan_step("east/tc-east-1/stop");
    let id = q.next_id();
    let name = q.lab.cluster.name.clone();
    q.ask(confirm_question(id, &step, &name));
    assert!(q.state.question().is_some());
    assert_eq!(q.state.ui.attention, None);
}

#[tokio::test(start_paused = true)]
async fn the_header_counts_down_the_window_and_a_window_stop_says_why_and_how_to_resume() {
    let mut s = running().await;
    s.state.window_end = Some(s.now().checked_add(jiff::SignedDuration::from_secs(12 * 60 + 30)).unwrap());
    s.wait(1).await;
    assert!(s.screen().lines().nth(1).unwrap().contains("window ends in 12m"), "{}", s.screen());
    let msg = "the maintenance window ends in 12m; the next node (tc-east-2) takes about 20m by the estimate (the longest node so far): stopped here, safely; the cluster is left as it is and the journal is kept: continue with `rollpilot resume -c /etc/rollpilot/bigmemory-prod.toml`";
    s.exec(Event::Finished { end: RunEnd::Window, message: msg.into() });
    let screen = s.screen();
    assert!(screen.contains("Run finished: WINDOW — the maintenance window ends in 12m"), "{screen}");
    assert!(s.state.run.log.iter().any(|l| l.text.contains("continue with `rollpilot resume -c")));
    assert_eq!(RunEnd::Window.exit_code(), 5);
}

#[tokio::test(start_paused = true)]
async fn read_only_watching_refuses_action_keys_with_a_visible_note() {
    let mut s = observing("read-only").await;
    s.state.readonly = Some("--readonly: you watch this cluster, nothing is run from here".into());
    s.publish();
    let screen = s.screen();
    assert!(screen.contains("READ-ONLY: --readonly"), "{screen}");
    assert!(screen.lines().next().unwrap().contains("WATCHING (read-only)"), "{screen}");
    // Every key that would act (the keymap's driver keys), refused with a note naming it.
    let acting: Vec<_> = keymap::MAIN.iter().filter(|b| b.scope == keymap::Scope::Driver).collect();
    assert!(acting.len() >= 4, "pause, pause policy, shell, fault");
    for b in acting {
        for key in b.keys {
            let mods = if key.ctrl { KeyModifiers::CONTROL } else { KeyModifiers::NONE };
            let k = KeyEvent::new(key.code, mods);
            let fx = s.key(k);
            assert!(sends(&fx).is_empty() && !fx.iter().any(|e| matches!(e, Effect::OpenShell(_))), "{k:?}");
            let bar = s.screen().lines().last().unwrap().to_string();
            assert!(bar.contains(&format!("refused: {}", b.short)), "{k:?}: {bar}");
        }
    }
    // The next key clears the note.
    s.key(key(KeyCode::Down));
    assert!(s.state.ui.refused.is_none());
    // `top` allows the shell: it drives nothing of rollpilot's.
    s.state.shell_allowed = true;
    assert!(s.key(ch('s')).iter().any(|e| matches!(e, Effect::OpenShell(_))));
}

#[tokio::test(start_paused = true)]
async fn output_pane_shows_the_last_finished_step_until_the_next_one_prints() {
    let mut s = running().await;
    assert!(s.screen().contains("no step has run yet"), "{}", s.screen());
    // The stop runs and is done; the install has started but printed nothing yet: the
    // finished step's output stays, marked as the last one with its exit code.
    s.run_until("east/tc-east-2/install").await;
    let screen = s.screen();
    assert!(screen.contains("last: east/tc-east-2/stop (exit 0)"), "{screen}");
    assert!(screen.contains("stopped tc-east-2"), "{screen}");
    assert!(!screen.contains("(no output yet)"), "{screen}");
    // Once it prints, the running step's output replaces it.
    s.until("the install's output", |_, e| matches!(e, Event::Output { step, .. } if step == "east/tc-east-2/install"))
        .await;
    let screen = s.screen();
    assert!(screen.contains("Output · east/tc-east-2/install on tc-east-2"), "{screen}");
    assert!(screen.contains("installed 4.2.1 on tc-east-2") && !screen.contains("last: "), "{screen}");
}

#[tokio::test(start_paused = true)]
async fn output_pane_after_a_resume_says_this_session_has_no_output_yet() {
    // A TUI whose engine has said nothing yet, told that the run resumed.
    let mut s = Tui::drive(terracotta(), 80, 24, Theme::default_colors());
    s.exec(Event::Started {
        run: "20261122T015800Z-4f2a".into(),
        journal: std::path::PathBuf::from("/tmp/journal.jsonl"),
        resumed: true,
        started_at: s.now(),
        mixed_since: None,
        done: Vec::new(),
        target: "4.2.1".into(),
        from: vec!["4.2.0".into()],
        downgrade: false,
    });
    let screen = s.screen();
    assert!(screen.contains("no output in this session yet") && !screen.contains("no step has run yet"), "{screen}");
}

/// A question of `kind` as the executor asks it: the same titles and choices, safest first.
fn question_of_kind(s: &mut Tui, kind: QuestionKind) -> Question {
    let id = s.next_id();
    let choice = |answer, label: &str, consequence: &str, typed| Choice {
        answer,
        label: label.into(),
        consequence: consequence.into(),
        typed,
    };
    let made = |title: &str, choices: Vec<Choice>| Question {
        id,
        step: "east/tc-east-2/install".into(),
        kind,
        title: title.into(),
        lines: vec!["What happened, and what each choice does.".into()],
        choices,
        expected: "bigmemory-prod".into(),
    };
    let mut step = s.plan_step("east/tc-east-2/stop");
    match kind {
        QuestionKind::Confirm | QuestionKind::Typed | QuestionKind::Optional => {
            step.confirm = match kind {
                QuestionKind::Typed => rollpilot::plan::Confirm::Typed,
                QuestionKind::Optional => rollpilot::plan::Confirm::Optional,
                _ => rollpilot::plan::Confirm::Yes,
            };
            let q = confirm_question(id, &step, "bigmemory-prod");
            assert_eq!(q.kind, kind);
            q
        }
        QuestionKind::Failure => {
            let step = s.plan_step("east/tc-east-2/install");
            failure_question(id, &step, "install failed", "", Some("4.2.0"), "bigmemory-prod")
        }
        QuestionKind::InDoubt => made(
            "east/tc-east-2/install is in doubt",
            vec![
                choice(Answer::Abort, "Stop here", "leave everything as it is", false),
                choice(Answer::AcceptDone, "Accept as done", "record the step as done", false),
                choice(Answer::Retry, "Run it again", "run install on tc-east-2 again", false),
            ],
        ),
        QuestionKind::StaleLock => made(
            "The lock of bigmemory-prod has expired",
            vec![
                choice(Answer::Abort, "Leave it", "exit without touching anything", false),
                choice(Answer::BreakLock, "Break the lock", "remove their lock and take it", true),
            ],
        ),
        QuestionKind::AfterRollback => made(
            "tc-east-2 is back on 4.2.0",
            vec![
                choice(Answer::Abort, "Stop here", "end the run", false),
                choice(Answer::Retry, "Try again", "plan again", false),
            ],
        ),
    }
}

const KINDS: [QuestionKind; 7] = [
    QuestionKind::Confirm,
    QuestionKind::Typed,
    QuestionKind::Optional,
    QuestionKind::Failure,
    QuestionKind::InDoubt,
    QuestionKind::StaleLock,
    QuestionKind::AfterRollback,
];

/// A run with a question of `kind` on screen, past the guard.
async fn showing(kind: QuestionKind) -> (Tui, Question) {
    let mut s = running().await;
    let q = question_of_kind(&mut s, kind);
    s.ask(q.clone());
    s.wait(1).await;
    (s, q)
}

/// The one key rule, in every kind of dialog: the safe choice is focused where the question is
/// dangerous (else Proceed), Enter does what the focused choice says, `y` proceeds where
/// something proceeds (asking for the name where it is typed) and says so where nothing does,
/// Esc/n answer the safe choice of a cheap question and only move the focus to it otherwise, and
/// `q` asks to quit on top of the dialog, which comes back when that question is closed.
#[tokio::test(start_paused = true)]
async fn the_key_rule_holds_in_every_dialog_kind() {
    for kind in KINDS {
        let answer =
            |q: &Question, i: usize| Command::Answer { question: q.id, answer: q.choices[i].answer, typed: None };

        // Focus, then Enter.
        let (mut s, q) = showing(kind).await;
        let dangerous = rollpilot::tui::update::dangerous(&s.state, &q);
        let proceed = q.choices.iter().position(|c| c.answer == Answer::Proceed && !c.typed);
        let focus = if dangerous { 0 } else { proceed.unwrap_or(0) };
        assert_eq!(question_focus(&s), focus, "{kind:?}: focus when it opens");
        assert!(
            !matches!(
                kind,
                QuestionKind::Typed | QuestionKind::Failure | QuestionKind::InDoubt | QuestionKind::StaleLock
            ) || focus == 0,
            "{kind:?}: a dangerous question opens on the safe choice"
        );
        let fx = s.key(key(KeyCode::Enter));
        if q.choices[focus].typed {
            assert!(sends(&fx).is_empty(), "{kind:?}: a typed choice asks for the name first");
        } else {
            assert_eq!(sends(&fx), vec![answer(&q, focus)], "{kind:?}: Enter does what the focused choice says");
        }

        // y.
        let (mut s, q) = showing(kind).await;
        let fx = s.key(ch('y'));
        match q.choices.iter().position(|c| c.answer == Answer::Proceed) {
            Some(i) if q.choices[i].typed => {
                assert!(sends(&fx).is_empty(), "{kind:?}: y on a typed Proceed sends nothing yet");
                assert!(
                    matches!(&s.state.ui.modal, Some(Modal::Question(d)) if d.typing.is_some() && d.focus == i),
                    "{kind:?}: y opens the name field"
                );
            }
            Some(i) => assert_eq!(sends(&fx), vec![answer(&q, i)], "{kind:?}: y proceeds"),
            None => {
                assert!(sends(&fx).is_empty(), "{kind:?}: nothing proceeds");
                assert!(s.screen().contains("nothing here proceeds"), "{kind:?}: y says so:\n{}", s.screen());
            }
        }

        // Esc and n.
        for k in [key(KeyCode::Esc), ch('n')] {
            let (mut s, q) = showing(kind).await;
            s.key(key(KeyCode::Down));
            let fx = s.key(k);
            if matches!(kind, QuestionKind::Confirm | QuestionKind::Typed | QuestionKind::Optional) {
                assert_eq!(sends(&fx), vec![answer(&q, 0)], "{kind:?}: {k:?} answers the safe choice");
            } else {
                assert!(sends(&fx).is_empty(), "{kind:?}: {k:?} never ends the run by itself");
                assert_eq!(question_focus(&s), 0, "{kind:?}: {k:?} moves the focus to the safe choice");
            }
        }

        // q over the dialog.
        let (mut s, q) = showing(kind).await;
        assert!(sends(&s.key(ch('q'))).is_empty());
        assert!(matches!(s.state.ui.modal, Some(Modal::Quit { .. })), "{kind:?}: q asks to quit on top");
        assert!(s.screen().contains("Stay"), "{kind:?}: the quit question is shown:\n{}", s.screen());
        assert!(sends(&s.key(key(KeyCode::Esc))).is_empty());
        assert!(
            matches!(&s.state.ui.modal, Some(Modal::Question(d)) if d.question.id == q.id),
            "{kind:?}: closing the quit question comes back to the dialog"
        );
    }
}
