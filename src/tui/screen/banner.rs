//! The banner under the header: what the run waits for (a gate with its countdown and blocker,
//! a pause, a stop, the end) or why this screen only watches. Its height shapes the layout.

use crate::tui::state::{PauseState, State, Stopping};
use crate::tui::text::{mmss, wrap};
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

/// The banner's lines at `width` columns: the head, then the rest wrapped on up to two lines.
pub fn banner_lines(state: &State, width: u16) -> Vec<(String, Style)> {
    let Some((a, b, style)) = banner(state) else { return Vec::new() };
    let mut out = vec![(format!(" {a}"), style)];
    let w = (width as usize).saturating_sub(3).max(1);
    let wrapped = wrap(&b, w);
    let n = wrapped.len();
    for (i, l) in wrapped.into_iter().take(2).enumerate() {
        let cut = i == 1 && n > 2;
        out.push((format!("   {l}{}", if cut { " …" } else { "" }), state.theme.base));
    }
    out
}
