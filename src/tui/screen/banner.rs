//! The banner under the header: what the run waits for (a gate with its countdown and blocker,
//! a pause, a stop, the end) or why this screen only watches. Its height shapes the layout.

use crate::tui::state::{PauseState, State, Stopping};
use crate::tui::text::{mmss, width as text_width, wrap};
use ratatui::style::Style;

/// The banner's two lines and its style, when there is something to say.
pub fn banner(state: &State) -> Option<(String, String, Style)> {
    let t = &state.theme;
    let resume = if state.rehearsal {
        // A rehearsal starts over: its twin is torn down when rollpilot quits.
        "rollpilot rehearse".to_string()
    } else {
        format!("rollpilot resume -c {}", state.config_path.display())
    };
    if let Some(why) = &state.readonly {
        return Some((
            format!("READ-ONLY: {why}."),
            "Nothing is run from here; keys that would act are refused. The plan shown is estimated from the live cluster.".into(),
            t.warn,
        ));
    }
    if let Some(who) = &state.observer_of {
        return Some((
            format!("READ-ONLY: {who} drives this cluster."),
            "The plan shown is estimated from the live cluster; the driver's may differ.".into(),
            t.warn,
        ));
    }
    if let Some((end, msg)) = &state.run.end {
        let style = if *end == crate::run::events::RunEnd::Done { t.ok } else { t.fail };
        return Some((
            format!("Run finished: {} — {msg}", end.as_str().to_uppercase()),
            "q: quit · l: full log".into(),
            style,
        ));
    }
    match state.ui.stopping {
        Stopping::AfterStep => {
            return Some((
                "Stopping: the running step finishes and is journaled, then the run stops and rollpilot quits.".into(),
                format!("Ctrl-C: stop now instead. Continue later with `{resume}`."),
                t.warn,
            ));
        }
        Stopping::Now => {
            return Some((
                "Stopping now: waiting for the executor to stop; a running step goes on on its host.".into(),
                format!("Continue later with `{resume}` (it re-attaches to the step)."),
                t.warn,
            ));
        }
        Stopping::No => {}
    }
    match &state.run.pause {
        PauseState::Paused(reason) => {
            return Some((
                format!("‖ PAUSED: {reason}"),
                format!("p: resume · q: quit (continue later with `{resume}`)"),
                t.warn,
            ));
        }
        PauseState::Pausing => {
            let second = if state.ui.ctrl_c > 0 {
                "Ctrl-C again: stop now (the step goes on on its host, `resume` re-attaches) · p: cancel the pause"
            } else {
                "p: cancel the pause"
            };
            return Some(("‖ Pausing after the current step.".into(), second.into(), t.warn));
        }
        PauseState::Running => {}
    }
    if let Some(w) = &state.run.waiting {
        let left = mmss(w.left_secs(state.now));
        let (head, tail) = if w.after {
            (
                format!("~ CHECKING {} · {left} left, then you are asked", w.step),
                format!("{} — not yet: {}", w.what, w.blocker),
            )
        } else {
            (
                format!("… WAITING before {} · {left} left, then you are asked", w.step),
                format!("{} — blocked by: {}", w.what, w.blocker),
            )
        };
        return Some((head, tail, t.warn));
    }
    None
}

/// Lines of the banner's head at most: a long sentence (a window stop with its resume command,
/// an observer's holder) wraps rather than losing its end at the right edge.
const HEAD_LINES: usize = 4;
/// Lines of the banner's second part at most.
const TAIL_LINES: usize = 2;

/// The banner's lines at `width` columns: the head (wrapped on up to [`HEAD_LINES`] lines when
/// it does not fit on one), then the rest wrapped on up to [`TAIL_LINES`] lines.
pub fn banner_lines(state: &State, width: u16) -> Vec<(String, Style)> {
    let Some((a, b, style)) = banner(state) else { return Vec::new() };
    let w = (width as usize).saturating_sub(3).max(1);
    let mut out = if text_width(&a) < width as usize {
        vec![(format!(" {a}"), style)]
    } else {
        let head = at_most(&a, w, HEAD_LINES);
        head.into_iter().enumerate().map(|(i, l)| (format!("{}{l}", if i == 0 { " " } else { "   " }), style)).collect()
    };
    for l in at_most(&b, w, TAIL_LINES) {
        out.push((format!("   {l}"), state.theme.base));
    }
    out
}

/// `text` wrapped at `w` cells on at most `max` lines, the last one marked ` …` when more was cut.
fn at_most(text: &str, w: usize, max: usize) -> Vec<String> {
    let lines = wrap(text, w);
    let n = lines.len();
    lines
        .into_iter()
        .take(max)
        .enumerate()
        .map(|(i, l)| if i + 1 == max && n > max { format!("{l} …") } else { l })
        .collect()
}
