//! The reducer: every key, executor event, snapshot and clock tick goes through
//! [`update`], which changes the [`State`] and says what the loop must do ([`Effect`]s). It is
//! synchronous and does no I/O, so every behaviour of the screen is testable without a terminal.

use super::keymap::{self, DialogAction, KeyAction};
use super::state::*;
use super::text::TextField;
use super::view;
use crate::plan::{self, Level, PlanRequest, RunContext};
use crate::probe::Snapshot;
use crate::run::events::{Answer, Command, Event, QuestionKind};
use crate::run::journal::Outcome;
use crate::run::machine::{Effect as MachineEffect, Input, RunMachine};
use jiff::Timestamp;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::collections::HashMap;

/// Something that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A key was pressed.
    Key(KeyEvent),
    /// The executor said something.
    Exec(Event),
    /// The poller published a snapshot.
    Snapshot(Snapshot),
    /// The clock moved (every second, and before each batch of other actions).
    Tick(Timestamp),
    /// The terminal was resized.
    Resize(u16, u16),
    /// The loop itself has something to tell the operator (a shell ended, the executor vanished).
    Notice {
        /// Info or warning.
        level: Level,
        /// The text.
        text: String,
    },
}

/// What the loop must do after an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send a command to the executor.
    Send(Command),
    /// Leave the TUI.
    Quit,
    /// Suspend the TUI and open an interactive shell on this node.
    OpenShell(String),
    /// Something shown changed: draw again (throttled by the loop).
    Redraw,
}

/// Applies one action to the state and returns what the loop must do.
pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Tick(now) => tick(state, now),
        Action::Resize(w, h) => {
            state.size = (w, h);
            rebuild_plan_rows(state);
            keep_visible(state);
            vec![Effect::Redraw]
        }
        Action::Snapshot(s) => snapshot(state, s),
        Action::Exec(e) => {
            // Output and notes arrive in bursts and change neither the plan nor the node table.
            let structural = !matches!(e, Event::Output { .. } | Event::Note { .. });
            let fx = exec(state, e);
            if structural {
                refresh_derived(state);
            }
            fx
        }
        Action::Key(k) => {
            let had = state.refused.take().is_some();
            let mut fx = key(state, k);
            if had && !fx.contains(&Effect::Redraw) {
                fx.push(Effect::Redraw);
            }
            fx
        }
        Action::Notice { level, text } => {
            state.push_log(level, text);
            vec![Effect::Redraw]
        }
    }
}

fn tick(state: &mut State, now: Timestamp) -> Vec<Effect> {
    let before = view::clock_signature(state);
    state.now = now;
    if view::clock_signature(state) != before { vec![Effect::Redraw] } else { vec![] }
}

fn same_display(a: &[NodeRow], b: &[NodeRow]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            let (mut rx, mut ry) = (x.row.clone(), y.row.clone());
            rx.last_seen = None;
            ry.last_seen = None;
            rx == ry && x.role_changed_at == y.role_changed_at && x.at_target == y.at_target
        })
}

fn snapshot(state: &mut State, snap: Snapshot) -> Vec<Effect> {
    let before = view::clock_signature(state);
    let old_rows = std::mem::take(&mut state.rows);
    let old_observed = state.snapshot.observed();
    let (old_versions, old_mixed) = (state.versions.clone(), state.mixed_since);
    state.rows = old_rows.clone();
    state.snapshot = snap;
    state.rebuild_rows();
    let mut changed = !same_display(&old_rows, &state.rows)
        || old_versions != state.versions
        || old_mixed != state.mixed_since
        || view::clock_signature(state) != before;
    if state.is_observer() {
        let observed = state.snapshot.observed();
        if observed != old_observed || state.run.phases.is_empty() && state.plan_problem.is_none() {
            estimate_plan(state);
            changed = true;
        }
    }
    if changed {
        refresh_derived(state);
        vec![Effect::Redraw]
    } else {
        vec![]
    }
}

/// Observer mode has no executor: show what remains as the planner sees the live cluster.
fn estimate_plan(state: &mut State) {
    if state.snapshot.nodes.is_empty() {
        return;
    }
    // An estimate: a node that missed the latest probe counts with its last known values.
    let mut observed = state.snapshot.observed();
    for (name, v) in &state.snapshot.nodes {
        if let (false, Some(good)) = (v.obs.reachable, &v.last_good) {
            observed.nodes.insert(name.clone(), good.clone());
        }
    }
    let ctx = RunContext::default();
    let req = PlanRequest {
        cluster: &state.cluster,
        observed: &observed,
        target: state.cluster.target.clone(),
        context: &ctx,
    };
    match plan::plan(&req) {
        Ok(p) => {
            state.plan_problem = None;
            // The estimate is a plan nothing happened to: the machine shows it as pending.
            state.run = RunMachine::new();
            state.run.apply(Input::Planned(&p));
            state.plan = Some(p);
        }
        Err(r) => {
            state.plan_problem = Some(r.to_string().trim().to_string());
            state.run = RunMachine::new();
            state.plan = None;
        }
    }
}

/// Derived views: the node step column, the plan rows, scroll positions.
fn refresh_derived(state: &mut State) {
    node_steps(state);
    rebuild_plan_rows(state);
    if !state.filter.text.is_empty() {
        state.refilter();
    }
    keep_visible(state);
}

fn node_steps(state: &mut State) {
    #[derive(Default)]
    struct Agg {
        touched: Option<(StepState, &'static str)>,
        pending: usize,
        current: Option<(StepState, &'static str)>,
        skipped: bool,
    }
    let mut agg: HashMap<&str, Agg> = HashMap::new();
    for s in state.steps() {
        let a = agg.entry(s.step.node.as_str()).or_default();
        if state.current() == Some(s.step.id.as_str()) {
            a.current = Some((s.state, s.step.action.as_str()));
        }
        match s.state {
            StepState::Pending => a.pending += 1,
            StepState::Skipped => a.skipped = true,
            st => a.touched = Some((st, s.step.action.as_str())),
        }
    }
    let mut out = HashMap::with_capacity(agg.len());
    for (node, a) in agg {
        let v = if let Some((st, action)) = a.current.or(if a.pending == 0 { None } else { a.touched }) {
            (st, format!("{} {action}", st.symbol()))
        } else if a.skipped {
            (StepState::Skipped, "- skipped".to_string())
        } else if a.pending == 0 {
            match a.touched {
                Some((st @ StepState::Failed { .. }, action)) => (st, format!("{} {action}", st.symbol())),
                _ => (StepState::Done, format!("{} done", StepState::Done.symbol())),
            }
        } else {
            let n = a.pending;
            (StepState::Pending, format!("· {n} step{}", if n == 1 { "" } else { "s" }))
        };
        out.insert(node.to_string(), v);
    }
    state.node_steps = out;
}

/// Lines of the plan pane; the current step is expanded with what it does and why.
pub(crate) fn rebuild_plan_rows(state: &mut State) {
    let detail = view::plan::detail_lines(state);
    let mut rows = Vec::with_capacity(state.run.phases.len() + state.steps().count() + 3);
    let current = state.current_position();
    for (p, ph) in state.run.phases.iter().enumerate() {
        rows.push(PlanRow::Phase(p));
        for s in 0..ph.steps.len() {
            rows.push(PlanRow::Step(p, s));
            if current == Some((p, s)) {
                for k in 0..detail {
                    rows.push(PlanRow::Detail(p, s, k));
                }
            }
        }
    }
    // Keep the operator's selection on the same step when rows move.
    let sel_step = state.plan_sel.and_then(|i| state.plan_rows.get(i).copied());
    state.plan_rows = rows;
    if let Some(PlanRow::Step(p, s)) = sel_step {
        state.plan_sel = state.plan_rows.iter().position(|r| *r == PlanRow::Step(p, s));
    }
    if let Some(i) = state.plan_sel {
        state.plan_sel = Some(i.min(state.plan_rows.len().saturating_sub(1)));
    }
}

/// Feeds an executor event to the run state machine and does what goes with its changes on
/// this screen: a step's timing (the ETA learns from it).
fn apply_to_run(state: &mut State, e: &Event) {
    let Some(input) = Input::from_event(e) else { return };
    let now = state.now;
    for change in state.run.apply(input) {
        let MachineEffect::StepChanged { step, from, to } = change else { continue };
        match to {
            StepState::Running { .. } if !from.is_running() => {
                state.timing.insert(step, StepTiming { started_at: Some(now), took_secs: None });
            }
            StepState::Done => {
                let Some(t) = state.timing.get_mut(&step) else { continue };
                let Some(start) = t.started_at else { continue };
                let took = (now.as_second() - start.as_second()).max(0);
                t.took_secs = Some(took);
                if let Some(sv) = state.run.step(&step) {
                    let key = (sv.step.action.as_str().to_string(), state.kind_of(&sv.step));
                    state.measured.entry(key).or_default().push(took);
                }
            }
            _ => {}
        }
    }
}

fn exec(state: &mut State, e: Event) -> Vec<Effect> {
    let redraw = vec![Effect::Redraw];
    apply_to_run(state, &e);
    match e {
        Event::Started { run, journal, resumed, started_at, mixed_since, .. } => {
            state.push_log(
                Level::Info,
                format!("{} run {run}; journal {}", if resumed { "resumed" } else { "started" }, journal.display()),
            );
            state.run_id = Some(run);
            state.journal = Some(journal);
            state.resumed = resumed;
            state.run_started = Some(started_at);
            if let Some(m) = mixed_since {
                state.mixed_since = Some(m);
            }
        }
        Event::Planned { plan, reason } => {
            let drift = crate::plan::Reason::parse(&reason).is(crate::plan::Rule::Drift);
            let level = if drift { Level::Warning } else { Level::Info };
            let (n, ph) = (plan.steps().count(), plan.phases.len());
            state.push_log(level, format!("plan: {reason} ({n} steps in {ph} phases)"));
            if state.run_from.is_empty() {
                state.run_from = plan.from_versions.clone();
            }
            state.plan_reason = Some(reason);
            state.plan = Some(*plan);
        }
        Event::Waiting { step, what, blocker, remaining } => {
            // The machine has already taken it: a step still running or checked waits on its checks.
            let after = state.step(&step).is_some_and(|s| {
                matches!(s.state, StepState::Running { .. } | StepState::Checking { .. } | StepState::Failed { .. })
            });
            let fresh = state.waiting.as_ref().is_none_or(|w| w.step != step || w.blocker != blocker);
            if fresh {
                state.push_log(Level::Info, format!("waiting ({step}): {what}; blocked: {blocker}"));
            }
            state.waiting = Some(WaitingView {
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
            if state.waiting.as_ref().is_some_and(|w| w.step == step) {
                state.waiting = None;
            }
        }
        Event::Ask(q) => {
            state.push_log(Level::Info, format!("question: {}", q.title));
            if !state.quiet && state.question().is_none_or(|d| d.question.id != q.id) {
                // An operator away from the screen must learn that the run waits for them.
                state.attention =
                    Some(attention_escapes(&format!("{}: decision needed: {}", state.cluster.name, q.title)));
            }
            let open = state.question().map(|d| d.question.id);
            match open {
                // Never replace the dialog under the operator's keystroke: queue the new one.
                Some(id) if id != q.id => {
                    if !state.queued.iter().any(|x| x.id == q.id) {
                        state.push_log(Level::Info, "queued: it is shown when the open dialog is answered".into());
                        state.queued.push_back(q);
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
            if state.waiting.as_ref().is_some_and(|w| w.step == step.id) {
                state.waiting = None;
            }
            let out = output_entry(state, &step.id, &step.node);
            if attempt > 1 {
                push_output_line(out, format!("── attempt {attempt} ──"));
            }
            state.output_step = Some(step.id.clone());
            state.output_scroll = None;
        }
        Event::Output { step, node, text } => {
            let out = output_entry(state, &step, &node);
            append_output(out, &text);
            if state.output_step.is_none() {
                state.output_step = Some(step);
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
            if state.waiting.as_ref().is_some_and(|w| w.step == step) {
                state.waiting = None;
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
            state.pause_policy = pause;
            state.push_log(Level::Info, format!("pause policy {}: {why}", pause.as_str()));
        }
        Event::Paused { reason } => {
            state.push_log(Level::Info, format!("paused: {reason}"));
            state.pause = PauseState::Paused(reason);
            state.waiting = None;
        }
        Event::Resumed => {
            state.push_log(Level::Info, "resumed".into());
            state.pause = PauseState::Running;
            state.ctrl_c = 0;
        }
        Event::Finished { end, message } => {
            let level = if end == crate::run::events::RunEnd::Done { Level::Info } else { Level::Warning };
            state.push_log(level, format!("run finished ({}): {message}", end.as_str()));
            state.run_end = Some((end, message));
            state.finished_at = Some(state.now);
            state.waiting = None;
            state.modal = None;
            state.modal_under = None;
            state.queued.clear();
            state.pause = PauseState::Running;
            if state.stopping != Stopping::No {
                return vec![Effect::Quit, Effect::Redraw];
            }
        }
    }
    redraw
}

/// The bell, then a desktop notification in the two escape dialects terminals understand
/// (OSC 9: iTerm2, Windows Terminal, kitty; OSC 777: VTE, foot, rxvt). `text` is sanitized and
/// stripped of the characters that would end the sequence early.
pub fn attention_escapes(text: &str) -> String {
    let clean: String =
        crate::sanitize::lines(text).join(" ").chars().filter(|c| !c.is_control() && *c != ';').take(200).collect();
    format!("\x07\x1b]9;{clean}\x07\x1b]777;notify;rollpilot;{clean}\x07")
}

fn output_entry<'a>(state: &'a mut State, step: &str, node: &str) -> &'a mut StepOutput {
    if !state.outputs.contains_key(step) {
        while state.output_order.len() >= OUTPUT_STEPS {
            if let Some(old) = state.output_order.pop_front() {
                state.outputs.remove(&old);
            }
        }
        state.output_order.push_back(step.to_string());
    }
    state.outputs.entry(step.to_string()).or_insert_with(|| StepOutput { node: node.to_string(), ..Default::default() })
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

/// Shows a question: as the dialog, or under the quit dialog when that is open (it comes back
/// when the quit dialog closes). The same question asked again replaces itself.
fn open_question(state: &mut State, q: crate::run::events::Question) {
    let repeated = state.answered.contains(&q.id);
    if state.waiting.as_ref().is_some_and(|w| w.step == q.step) {
        state.waiting = None;
    }
    state.filter_editing = false;
    let focus = default_focus(state, &q);
    let dialog = Modal::Question(Box::new(QuestionDialog {
        question: q,
        focus,
        typing: None,
        error: None,
        shown_at: state.now,
        repeated,
        note: None,
    }));
    if matches!(state.modal, Some(Modal::Quit { .. })) {
        state.modal_under = Some(dialog);
    } else {
        state.modal = Some(dialog);
    }
}

/// Whether a question is about something dangerous: a typed confirmation, a failure or
/// in-doubt decision, or a step that is irreversible, loses data or takes the service down.
pub fn dangerous(state: &State, q: &crate::run::events::Question) -> bool {
    let kind = !matches!(q.kind, QuestionKind::Confirm | QuestionKind::Optional);
    let step = state.step(&q.step).is_some_and(|s| s.step.irreversible || s.step.data_loss || s.step.downtime);
    let said = q
        .lines
        .iter()
        .any(|l| l.starts_with("IRREVERSIBLE") || l.starts_with("DATA LOSS") || l.starts_with("DOWNTIME"));
    kind || step || said
}

/// The choice focused when a question opens: the safe one (first) where the action is
/// dangerous, else Proceed, so Enter proceeds as the README says.
fn default_focus(state: &State, q: &crate::run::events::Question) -> usize {
    if dangerous(state, q) {
        return 0;
    }
    q.choices.iter().position(|c| c.answer == Answer::Proceed && !c.typed).unwrap_or(0)
}

/// After a question is answered: the next queued one, if any.
fn next_question(state: &mut State) {
    if let Some(q) = state.queued.pop_front() {
        open_question(state, q);
    }
}

fn too_small(state: &State) -> bool {
    state.size.0 < MIN_WIDTH || state.size.1 < MIN_HEIGHT
}

fn key(state: &mut State, ev: KeyEvent) -> Vec<Effect> {
    if ev.kind != KeyEventKind::Press {
        return vec![];
    }
    if ev.code == KeyCode::Char('c') && ev.modifiers.contains(KeyModifiers::CONTROL) {
        return interrupt(state);
    }
    if too_small(state) {
        return match keymap::lookup(&ev) {
            Some(KeyAction::Quit) => quit(state),
            _ => vec![],
        };
    }
    match &state.modal {
        Some(Modal::Question(_)) => return question_key(state, ev),
        Some(Modal::Quit { .. }) => return quit_dialog_key(state, ev),
        None => {}
    }
    if state.filter_editing {
        return filter_key(state, ev);
    }
    if state.overlay.is_some() {
        return overlay_key(state, ev);
    }
    let Some(action) = keymap::lookup(&ev) else { return vec![] };
    main_action(state, action)
}

/// Whether a key action is available now (the status bar and help use the same rule).
pub fn available(state: &State, action: KeyAction) -> bool {
    let driver = keymap::binding(action).is_none_or(|b| b.scope == keymap::Scope::Always);
    if !driver && state.is_observer() && !(action == KeyAction::Shell && state.shell_allowed) {
        return false;
    }
    match action {
        KeyAction::Pause | KeyAction::PausePolicy => state.run_in_progress() && state.stopping == Stopping::No,
        KeyAction::Shell => state.selected_node().is_some(),
        KeyAction::Fault => state.rehearsal && state.selected_node().is_some(),
        KeyAction::Back => !state.filter.text.is_empty() || state.plan_sel.is_some(),
        _ => true,
    }
}

fn main_action(state: &mut State, action: KeyAction) -> Vec<Effect> {
    if !available(state, action) {
        let driver = keymap::binding(action).is_some_and(|b| b.scope == keymap::Scope::Driver);
        if driver && state.is_observer() {
            // Never refuse silently: the operator may believe the key acted.
            let what = keymap::binding(action).map(|b| b.short).unwrap_or("that");
            let why = state.readonly.clone().unwrap_or_else(|| "another operator drives this run".into());
            state.refused = Some(format!("refused: {what} ({why}; this screen only watches)"));
            return vec![Effect::Redraw];
        }
        return vec![];
    }
    let redraw = vec![Effect::Redraw];
    match action {
        KeyAction::Help => {
            state.overlay = Some(Overlay::Help);
            state.help_scroll = 0;
        }
        KeyAction::Up => move_sel(state, -1),
        KeyAction::Down => move_sel(state, 1),
        KeyAction::PageUp => {
            let page = page(state) as i64;
            move_sel(state, -page)
        }
        KeyAction::PageDown => {
            let page = page(state) as i64;
            move_sel(state, page)
        }
        KeyAction::Top => move_sel(state, i64::MIN / 2),
        KeyAction::Bottom => {
            if state.focus == Pane::Output {
                state.output_scroll = None;
            } else {
                move_sel(state, i64::MAX / 2)
            }
        }
        KeyAction::NextPane | KeyAction::PrevPane => {
            let order = [Pane::Nodes, Pane::Plan, Pane::Output];
            let i = order.iter().position(|p| *p == state.focus).unwrap_or(0);
            let n = if action == KeyAction::NextPane { (i + 1) % 3 } else { (i + 2) % 3 };
            state.focus = order[n];
            if state.focus != Pane::Plan {
                state.plan_sel = None;
            }
        }
        KeyAction::Details => match state.focus {
            Pane::Nodes => {
                if let Some(r) = state.selected_node() {
                    state.overlay = Some(Overlay::Node(r.row.host.clone()));
                }
            }
            Pane::Plan | Pane::Output => {
                let id = if state.focus == Pane::Plan {
                    state.selected_step_id().map(str::to_string)
                } else {
                    state.shown_output().map(|(id, _)| id.to_string())
                };
                if let Some(id) = id {
                    state.overlay = Some(Overlay::Step(id));
                }
            }
        },
        KeyAction::Filter => {
            state.focus = Pane::Nodes;
            state.filter_editing = true;
        }
        KeyAction::Pause => {
            return match state.pause {
                PauseState::Running => {
                    state.pause = PauseState::Pausing;
                    state.push_log(Level::Info, "pause requested: the run pauses after the current step".into());
                    vec![Effect::Send(Command::Pause), Effect::Redraw]
                }
                _ => {
                    state.pause = PauseState::Running;
                    state.ctrl_c = 0;
                    state.push_log(Level::Info, "resume requested".into());
                    vec![Effect::Send(Command::Resume), Effect::Redraw]
                }
            };
        }
        KeyAction::PausePolicy => {
            let next = state.pause_policy.next();
            state.push_log(Level::Info, format!("pause policy {} requested", next.as_str()));
            return vec![Effect::Send(Command::SetPolicy(next)), Effect::Redraw];
        }
        KeyAction::Shell => {
            if let Some(r) = state.selected_node() {
                return vec![Effect::OpenShell(r.row.host.clone())];
            }
        }
        KeyAction::Log => state.overlay = Some(Overlay::Log { scroll: None }),
        // A rehearsal's fault key is taken by the loop that owns the twin (tui::app).
        KeyAction::Fault => {}
        KeyAction::Quit => return quit(state),
        KeyAction::Interrupt => return interrupt(state),
        KeyAction::Back => {
            if !state.filter.text.is_empty() {
                state.filter.clear();
                state.refilter();
            } else {
                state.plan_sel = None;
            }
        }
    }
    keep_visible(state);
    redraw
}

fn quit(state: &mut State) -> Vec<Effect> {
    if !state.run_in_progress() {
        return vec![Effect::Quit];
    }
    if state.stopping != Stopping::No {
        state.push_log(Level::Info, "already stopping: waiting for the executor to stop".into());
        return vec![Effect::Redraw];
    }
    state.modal = Some(Modal::Quit { focus: 0 });
    vec![Effect::Redraw]
}

fn interrupt(state: &mut State) -> Vec<Effect> {
    if !state.run_in_progress() {
        return vec![Effect::Quit];
    }
    state.ctrl_c = state.ctrl_c.saturating_add(1);
    match state.ctrl_c {
        1 => {
            state.push_log(
                Level::Warning,
                "Ctrl-C: the run pauses after the current step; Ctrl-C again stops now (the step goes on on its host, `resume` re-attaches)".into(),
            );
            if state.pause == PauseState::Running {
                state.pause = PauseState::Pausing;
                vec![Effect::Send(Command::Pause), Effect::Redraw]
            } else {
                vec![Effect::Redraw]
            }
        }
        2 => {
            state.push_log(
                Level::Warning,
                "Ctrl-C twice: stopping now; rollpilot quits when the executor has stopped".into(),
            );
            state.stopping = Stopping::Now;
            state.modal = None;
            state.modal_under = None;
            vec![Effect::Send(Command::InterruptNow), Effect::Redraw]
        }
        _ => vec![Effect::Quit],
    }
}

fn quit_dialog_key(state: &mut State, ev: KeyEvent) -> Vec<Effect> {
    let Some(Modal::Quit { focus }) = state.modal.as_mut() else { return vec![] };
    let n = QuitChoice::ALL.len();
    match keymap::lookup_dialog(&ev) {
        Some(DialogAction::Next) => *focus = (*focus + 1) % n,
        Some(DialogAction::Prev) => *focus = (*focus + n - 1) % n,
        Some(DialogAction::Safe) => state.modal = state.modal_under.take(),
        Some(DialogAction::Activate) => {
            let choice = QuitChoice::ALL[*focus];
            // Closing the quit question returns to the dialog it was opened from.
            state.modal = state.modal_under.take();
            return match choice {
                QuitChoice::Stay => vec![Effect::Redraw],
                QuitChoice::AfterStep => {
                    state.stopping = Stopping::AfterStep;
                    state.push_log(
                        Level::Warning,
                        "quit: the run stops after the current step, then rollpilot quits".into(),
                    );
                    vec![Effect::Send(Command::Interrupt), Effect::Redraw]
                }
                QuitChoice::Now => {
                    state.stopping = Stopping::Now;
                    state.modal = None;
                    state.push_log(Level::Warning, "quit: stopping now; a running step goes on on its host".into());
                    vec![Effect::Send(Command::InterruptNow), Effect::Redraw]
                }
            };
        }
        Some(DialogAction::Proceed) | Some(DialogAction::Quit) | Some(DialogAction::Policy) | None => return vec![],
    }
    vec![Effect::Redraw]
}

fn question_key(state: &mut State, ev: KeyEvent) -> Vec<Effect> {
    let now = state.now;
    let in_progress = state.run_in_progress() && state.stopping == Stopping::No;
    let Some(Modal::Question(d)) = state.modal.as_mut() else { return vec![] };
    if now.as_millisecond() - d.shown_at.as_millisecond() < QUESTION_GUARD_MS {
        // Shown, never silently lost: the key may have been meant for what was there before.
        d.note = Some("key ignored: dialog just opened; press it again to answer this dialog".into());
        return vec![Effect::Redraw];
    }
    d.note = None;
    let n = d.question.choices.len();
    if n == 0 {
        return vec![];
    }
    if let Some(field) = d.typing.as_mut() {
        match ev.code {
            KeyCode::Esc => {
                d.typing = None;
                d.error = None;
            }
            KeyCode::Backspace => {
                field.backspace();
                d.error = None;
            }
            KeyCode::Enter => {
                let typed = field.text.trim().to_string();
                if typed != d.question.expected {
                    d.error = Some(if typed.is_empty() {
                        format!("type the cluster name `{}` to confirm", d.question.expected)
                    } else {
                        format!("`{typed}` is not the cluster name `{}`; nothing was sent", d.question.expected)
                    });
                } else {
                    let focus = d.focus;
                    return answer(state, focus, Some(typed));
                }
            }
            KeyCode::Char(c) if !ev.modifiers.contains(KeyModifiers::CONTROL) => {
                field.push(c);
                d.error = None;
            }
            _ => return vec![],
        }
        return vec![Effect::Redraw];
    }
    match keymap::lookup_dialog(&ev) {
        Some(DialogAction::Next) => d.focus = (d.focus + 1) % n,
        Some(DialogAction::Prev) => d.focus = (d.focus + n - 1) % n,
        Some(DialogAction::Activate) => {
            if d.question.choices[d.focus].typed {
                d.typing = Some(TextField::default());
                d.error = None;
            } else {
                let focus = d.focus;
                return answer(state, focus, None);
            }
        }
        Some(DialogAction::Proceed) => {
            // `y` proceeds in every dialog that has a Proceed choice ("Do it" in an optional
            // one); a typed Proceed still asks for the cluster name.
            let Some(i) = d.question.choices.iter().position(|c| c.answer == Answer::Proceed) else {
                d.note = Some("y: nothing here proceeds; choose with ←/→ and Enter".into());
                return vec![Effect::Redraw];
            };
            if d.question.choices[i].typed {
                d.focus = i;
                d.typing = Some(TextField::default());
                d.error = None;
            } else {
                return answer(state, i, None);
            }
        }
        Some(DialogAction::Safe) => {
            // Cheap questions: Esc/n is the safe answer. Where the safe answer ends the run
            // (failures, in-doubt steps), it only moves the focus to it.
            if matches!(d.question.kind, QuestionKind::Confirm | QuestionKind::Typed | QuestionKind::Optional) {
                return answer(state, 0, None);
            }
            d.focus = 0;
        }
        Some(DialogAction::Policy) => {
            let next = state.pause_policy.next();
            state.push_log(Level::Info, format!("pause policy {} requested", next.as_str()));
            return vec![Effect::Send(Command::SetPolicy(next)), Effect::Redraw];
        }
        Some(DialogAction::Quit) => {
            if !in_progress {
                return quit(state);
            }
            // The quit question opens on top; closing it comes back here.
            state.modal_under = state.modal.take();
            state.modal = Some(Modal::Quit { focus: 0 });
        }
        None => return vec![],
    }
    vec![Effect::Redraw]
}

fn answer(state: &mut State, i: usize, typed: Option<String>) -> Vec<Effect> {
    let Some(Modal::Question(d)) = state.modal.take() else { return vec![] };
    let q = d.question;
    let Some(c) = q.choices.get(i) else { return vec![] };
    state.answered.insert(q.id);
    state.push_log(
        Level::Info,
        format!(
            "you chose “{}” for {}: {}{}",
            c.label,
            q.step,
            c.consequence,
            if typed.is_some() { " (typed)" } else { "" }
        ),
    );
    let cmd = Command::Answer { question: q.id, answer: c.answer, typed };
    next_question(state);
    refresh_derived(state);
    vec![Effect::Send(cmd), Effect::Redraw]
}

fn filter_key(state: &mut State, ev: KeyEvent) -> Vec<Effect> {
    match ev.code {
        KeyCode::Enter => state.filter_editing = false,
        KeyCode::Esc => {
            state.filter.clear();
            state.filter_editing = false;
            state.refilter();
        }
        KeyCode::Backspace => {
            state.filter.backspace();
            state.refilter();
        }
        KeyCode::Up => move_sel(state, -1),
        KeyCode::Down => move_sel(state, 1),
        KeyCode::Char(c) if !ev.modifiers.contains(KeyModifiers::CONTROL) => {
            state.filter.push(c);
            state.refilter();
        }
        _ => return vec![],
    }
    keep_visible(state);
    vec![Effect::Redraw]
}

fn overlay_key(state: &mut State, ev: KeyEvent) -> Vec<Effect> {
    let action = keymap::lookup(&ev);
    let close = matches!(action, Some(KeyAction::Back | KeyAction::Quit | KeyAction::Details))
        || matches!((&state.overlay, action), (Some(Overlay::Help), Some(KeyAction::Help)))
        || matches!((&state.overlay, action), (Some(Overlay::Log { .. }), Some(KeyAction::Log)));
    if close {
        state.overlay = None;
        return vec![Effect::Redraw];
    }
    let page = state.size.1.saturating_sub(4) as usize;
    if matches!(state.overlay, Some(Overlay::Help)) {
        let (w, h) = view::overlay::help_viewport(state.size);
        let max_top = view::overlay::help_wrapped(state, w).len().saturating_sub(h);
        let top = state.help_scroll.min(max_top);
        state.help_scroll = match action {
            Some(KeyAction::Up) => top.saturating_sub(1),
            Some(KeyAction::Down) => (top + 1).min(max_top),
            Some(KeyAction::PageUp) => top.saturating_sub(h),
            Some(KeyAction::PageDown) => (top + h).min(max_top),
            Some(KeyAction::Top) => 0,
            Some(KeyAction::Bottom) => max_top,
            _ => return vec![],
        };
        return vec![Effect::Redraw];
    }
    let total = state.log.len();
    if let Some(Overlay::Log { scroll }) = state.overlay.as_mut() {
        let max_top = total.saturating_sub(page);
        let top = scroll.unwrap_or(max_top);
        let moved = match action {
            Some(KeyAction::Up) => Some(top.saturating_sub(1)),
            Some(KeyAction::Down) => Some(top + 1),
            Some(KeyAction::PageUp) => Some(top.saturating_sub(page)),
            Some(KeyAction::PageDown) => Some(top + page),
            Some(KeyAction::Top) => Some(0),
            Some(KeyAction::Bottom) => Some(usize::MAX),
            _ => return vec![],
        };
        *scroll = moved.and_then(|t| if t >= max_top { None } else { Some(t) });
        return vec![Effect::Redraw];
    }
    if let (Some(Overlay::Node(node)), Some(KeyAction::Shell)) = (&state.overlay, action)
        && !state.is_observer()
    {
        return vec![Effect::OpenShell(node.clone())];
    }
    if action == Some(KeyAction::Help) {
        state.overlay = Some(Overlay::Help);
        state.help_scroll = 0;
        return vec![Effect::Redraw];
    }
    if action == Some(KeyAction::Log) {
        state.overlay = Some(Overlay::Log { scroll: None });
        return vec![Effect::Redraw];
    }
    vec![]
}

fn page(state: &State) -> usize {
    let a = view::layout(state);
    let h = match state.focus {
        Pane::Nodes => a.nodes.height.saturating_sub(2),
        Pane::Plan => a.plan.height.saturating_sub(1),
        Pane::Output => a.output.height.saturating_sub(1),
    };
    (h as usize).max(1)
}

fn step_rows(state: &State) -> Vec<usize> {
    state.plan_rows.iter().enumerate().filter(|(_, r)| matches!(r, PlanRow::Step(..))).map(|(i, _)| i).collect()
}

fn move_sel(state: &mut State, delta: i64) {
    let clamp = |cur: usize, len: usize| -> usize {
        if len == 0 {
            return 0;
        }
        (cur as i64).saturating_add(delta).clamp(0, len as i64 - 1) as usize
    };
    match state.focus {
        Pane::Nodes => state.node_sel = clamp(state.node_sel, state.visible.len()),
        Pane::Plan => {
            let rows = step_rows(state);
            if rows.is_empty() {
                return;
            }
            let cur_row = state.plan_sel.or_else(|| {
                let (p, s) = state.current_position()?;
                state.plan_rows.iter().position(|r| *r == PlanRow::Step(p, s))
            });
            let cur = cur_row.and_then(|r| rows.iter().position(|&x| x >= r)).unwrap_or(0);
            state.plan_sel = Some(rows[clamp(cur, rows.len())]);
        }
        Pane::Output => {
            let (len, h) = match state.shown_output() {
                Some((_, o)) => (o.len(), page(state)),
                None => return,
            };
            let max_top = len.saturating_sub(h);
            let top = state.output_scroll.unwrap_or(max_top);
            let new = (top as i64).saturating_add(delta).clamp(0, max_top as i64) as usize;
            state.output_scroll = if new >= max_top { None } else { Some(new) };
        }
    }
}

/// Adjusts scroll offsets so the selection (or the current step) stays on screen.
fn keep_visible(state: &mut State) {
    let a = view::layout(state);
    let h = a.nodes.height.saturating_sub(2).max(1) as usize;
    state.node_sel = state.node_sel.min(state.visible.len().saturating_sub(1));
    if state.node_sel < state.node_scroll {
        state.node_scroll = state.node_sel;
    } else if state.node_sel >= state.node_scroll + h {
        state.node_scroll = state.node_sel + 1 - h;
    }
    state.node_scroll = state.node_scroll.min(state.visible.len().saturating_sub(h));
    // Plan: the selection, else the current step with its detail lines, else the first
    // unfinished step.
    let ph = a.plan.height.saturating_sub(1).max(1) as usize;
    let target = state.plan_sel.map(|i| (i, i)).or_else(|| {
        let (p, s) = match state.current_position() {
            Some(x) => x,
            None => {
                let first = state.plan_rows.iter().position(|r| match r {
                    PlanRow::Step(p, s) => state.run.phases[*p].steps[*s].state != StepState::Done,
                    _ => false,
                })?;
                return Some((first.saturating_sub(1), first));
            }
        };
        let start = state.plan_rows.iter().position(|r| *r == PlanRow::Step(p, s))?;
        let end = state.plan_rows.iter().rposition(|r| matches!(r, PlanRow::Detail(a, b, _) if (*a, *b) == (p, s)));
        Some((start.saturating_sub(1), end.unwrap_or(start)))
    });
    if let Some((start, end)) = target {
        if start < state.plan_scroll {
            state.plan_scroll = start;
        } else if end >= state.plan_scroll + ph {
            state.plan_scroll = (end + 1 - ph).min(start);
        }
    }
    state.plan_scroll = state.plan_scroll.min(state.plan_rows.len().saturating_sub(ph));
}
