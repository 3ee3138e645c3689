//! The plan pane: phases and steps with a state symbol each, the step's reason beside it, and
//! the current step expanded with what it does (in the seeds' terms) and why.

use super::{put, title_line};
use crate::plan::render::markers;
use crate::tui::screen::detail::{DETAIL_INDENT, detail_text};
use crate::tui::state::{Pane, PlanRow, State, StepState, StepView};
use crate::tui::text::{mmss, wrap};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

fn state_style(state: &State, s: StepState) -> Style {
    let t = &state.theme;
    match s {
        StepState::Done => t.ok,
        StepState::Running { .. } | StepState::Checking { .. } => t.running,
        StepState::Failed { .. } | StepState::InDoubt { .. } => t.fail,
        StepState::Waiting | StepState::AwaitingConfirmation | StepState::Approved => t.warn,
        StepState::Declined | StepState::Skipped | StepState::RolledBack => t.dim,
        StepState::Pending => t.base,
    }
}

/// How long a step has run ("1:20") or took when it was done ("took 2:03"), from the
/// reducer's clock: events carry no time.
pub fn step_time(state: &State, sv: &StepView) -> Option<String> {
    let timing = state.timing(&sv.step.id);
    if let Some(took) = timing.took_secs {
        return Some(format!("took {}", mmss(took)));
    }
    let start = timing.started_at?;
    if sv.state.is_final() || state.run.end.is_some() && !sv.state.is_running() {
        return None;
    }
    let end = state.run.finished_at.unwrap_or(state.now);
    Some(mmss(end.as_second() - start.as_second()))
}

/// Draws the plan pane.
pub fn render(state: &State, area: Rect, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    let t = &state.theme;
    let (done, total) = state.progress();
    let mut title = vec![Span::raw(format!(" Plan · {done}/{total} steps done "))];
    if state.is_observer() {
        title.push(Span::styled("· estimated from the live cluster ", t.dim));
    } else if let Some(r) = &state.run.plan_reason
        && crate::plan::Reason::parse(r).is(crate::plan::Rule::Drift)
    {
        title.push(Span::styled("· re-planned (R12 drift, see log) ", t.warn));
    }
    title_line(state, area, buf, title, state.ui.focus == Pane::Plan);
    let body = Rect::new(area.x, area.y + 1, area.width, area.height.saturating_sub(1));
    if body.height == 0 {
        return;
    }
    if state.ui.plan_rows.is_empty() {
        let msg = if let Some(p) = &state.run.plan_problem {
            p.clone()
        } else if state.is_observer() {
            "no plan: the cluster has not been probed yet".into()
        } else if state.run.id.is_none() {
            "waiting for the executor: taking the operator lock and probing the cluster…".into()
        } else if state.run.plan.as_ref().is_some_and(|p| p.is_empty()) {
            "nothing to do: every node already runs the target".into()
        } else {
            "planning from the live cluster…".into()
        };
        let lines: Vec<String> =
            msg.lines().flat_map(|l| wrap(l.trim_end(), body.width.saturating_sub(2) as usize)).collect();
        for (i, l) in lines.iter().enumerate().take(body.height as usize) {
            put(buf, body.x + 1, body.y + i as u16, body.width.saturating_sub(1), l, t.dim);
        }
        return;
    }
    let current = state.current_position();
    let selected = if state.ui.focus == Pane::Plan { state.ui.plan_sel } else { None };
    let nphases = state.phases().len();
    for (line, ri) in (state.ui.plan_scroll..state.ui.plan_rows.len()).enumerate() {
        if line as u16 >= body.height {
            break;
        }
        let y = body.y + line as u16;
        let Some(row) = state.ui.plan_rows.get(ri) else { break };
        let row_area = Rect::new(body.x, y, body.width, 1);
        match *row {
            PlanRow::Phase(p) => {
                let ph = &state.phases()[p];
                let line = Line::from(vec![
                    Span::styled(format!(" Phase {}/{nphases} {}", p + 1, ph.title), t.title),
                    Span::styled(format!("  {}", ph.reason), t.dim),
                ]);
                buf.set_line(body.x, y, &line, body.width);
            }
            PlanRow::Step(p, s) => {
                let sv = &state.phases()[p].steps[s];
                let is_current = current == Some((p, s));
                let is_selected = selected == Some(ri);
                let base = if is_current { t.current } else { t.base };
                let m = markers(&sv.step);
                let m = if m.is_empty() { String::new() } else { format!(" [{}]", m.join("] [")) };
                let attempts = if sv.attempts > 1 { format!(" attempt {}", sv.attempts) } else { String::new() };
                let time = step_time(state, sv).map(|t| format!(" {t}")).unwrap_or_default();
                let line = Line::from(vec![
                    Span::styled(if is_current { " » " } else { "   " }, t.current),
                    Span::styled(sv.state.symbol(), state_style(state, sv.state)),
                    Span::styled(format!(" {}.{} {} {}", p + 1, s + 1, sv.step.action, sv.step.node), base),
                    Span::styled(
                        m,
                        if sv.step.downtime || sv.step.data_loss || sv.step.irreversible { t.fail } else { t.warn },
                    ),
                    Span::styled(attempts, t.warn),
                    Span::styled(
                        if sv.state == StepState::Pending { String::new() } else { format!(" ({})", sv.state.word()) },
                        state_style(state, sv.state),
                    ),
                    Span::styled(time, t.dim),
                    Span::styled(format!("  {}", sv.step.reason), t.dim),
                ]);
                buf.set_line(body.x, y, &line, body.width);
                if is_selected {
                    buf.set_style(row_area, t.selected);
                }
            }
            PlanRow::Detail(p, s, k) => {
                let sv = &state.phases()[p].steps[s];
                if let Some((l, dim)) = detail_text(state, sv).get(k) {
                    let pad = " ".repeat(DETAIL_INDENT);
                    put(buf, body.x, y, body.width, &format!("{pad}{l}"), if *dim { t.dim } else { t.base });
                }
            }
        }
    }
}
