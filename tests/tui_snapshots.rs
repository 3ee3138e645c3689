//! What operators see, committed as insta snapshots at 80×24 and 160×48: the start of a run,
//! the confirmation before stopping an active (with the failover sentence), a gate waiting with
//! its countdown and blocker, a failure with its choices, observer mode, the finished run; plus
//! the too-small screen and the monochrome (NO_COLOR) theme with its modifiers.
//!
//! States are built by feeding the reducer the events the executor sends, over the Terracotta
//! example cluster and plans from the real planner, with a fixed clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "tui_common.rs"]
mod common;

use common::*;
use rollpilot::model::*;
use rollpilot::plan::gates::evaluate;
use rollpilot::plan::{self, Gate, PlanRequest};
use rollpilot::run::events::*;
use rollpilot::run::journal::Outcome;
use rollpilot::tui::Theme;
use std::time::Duration;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn start(w: u16, h: u16, theme: Theme) -> Sim {
    let mut s = Sim::new(w, h, theme);
    s.started();
    s
}

fn confirm(w: u16, h: u16, theme: Theme) -> Sim {
    let mut s = start(w, h, theme);
    s.run_until("east/tc-east-1/stop");
    let step = s.step("east/tc-east-1/stop");
    s.gates_open(&step, false);
    let id = s.next_id();
    let name = s.cluster.name.clone();
    s.ask(confirm_question(id, &step, &name));
    s
}

fn gate_waiting(w: u16, h: u16, theme: Theme) -> Sim {
    let mut s = start(w, h, theme);
    s.run_until("east/tc-east-1/stop");
    // The mirror dropped out of sync (a network blip): R5 holds the active's stop back.
    let o = s.world.nodes.get_mut("tc-east-2").unwrap();
    o.sync = SyncState::Syncing;
    o.state = Some("PASSIVE-UNINITIALIZED".into());
    s.tick(2);
    s.publish();
    let gate = Gate::SafeToStop { group: "east".into(), node: "tc-east-1".into() };
    let blocker = evaluate(&gate, &s.cluster, &s.world).text().to_string();
    s.ev(Event::Waiting {
        step: "east/tc-east-1/stop".into(),
        what: format!("{}: {}", gate.rule(), gate.describe()),
        blocker,
        remaining: Duration::from_secs(872),
    });
    s.tick(1);
    s
}

fn failure(w: u16, h: u16, theme: Theme) -> Sim {
    let mut s = confirm(w, h, theme);
    s.choose(Answer::Proceed);
    // The stop runs without asking again; the cluster fails over to tc-east-2.
    let stop = s.step("east/tc-east-1/stop");
    s.ev(Event::StepStarted { step: Box::new(stop.clone()), attempt: 1 });
    s.ev(Event::Output { step: stop.id.clone(), node: stop.node.clone(), text: Sim::output_of(&stop) });
    s.apply(&stop);
    s.tick(3);
    s.publish();
    s.ev(Event::StepFinished { step: stop.id.clone(), outcome: Outcome::Ok, exit: Some(0) });
    s.gates_open(&stop, true);
    s.ev(Event::StepDone { step: stop.id.clone() });
    s.done.insert(stop.id.clone());
    s.progress(None);
    // The install fails: the kit is missing.
    let install = s.step("east/tc-east-1/install");
    s.tick(1);
    s.ev(Event::StepStarted { step: Box::new(install.clone()), attempt: 1 });
    let out = "removed /opt/terracotta/terracotta\n\u{1b}[1;31mtar (child): /opt/kits/terracotta-4.2.1.tar.gz: Cannot open: No such file or directory\u{1b}[0m\ntar (child): Error is not recoverable: exiting now\ntar: Child returned status 2\ntar: Error is not recoverable: exiting now\n";
    s.ev(Event::Output { step: install.id.clone(), node: install.node.clone(), text: out.into() });
    s.tick(2);
    s.ev(Event::StepFinished { step: install.id.clone(), outcome: Outcome::Failed, exit: Some(2) });
    let what = format!("{} failed on {} (exit 2)", install.id, install.node);
    let tail = rollpilot::transport::tail(&rollpilot::sanitize::lines(out).join("\n"), 2000);
    let id = s.next_id();
    let name = s.cluster.name.clone();
    s.ask(failure_question(id, &install, &what, &tail, Some("4.2.0"), &name));
    s.tick(1);
    s
}

fn observer(w: u16, h: u16, theme: Theme) -> Sim {
    let who = "alice on laptop-7 (pid 4242), since 2026-11-22 01:12:03 UTC, run 20261122T011203Z-9f3c";
    let mut s = Sim::with_observer(w, h, theme, Some(who.into()));
    // Stripe east is upgraded and failed over; the rest still runs 4.2.0.
    s.world.nodes.insert("tc-east-1".into(), obs("4.2.1", Role::Passive, SyncState::InSync, Some("PASSIVE-STANDBY")));
    s.world
        .nodes
        .insert("tc-east-2".into(), obs("4.2.1", Role::Active, SyncState::NotApplicable, Some("ACTIVE-COORDINATOR")));
    s.tick(2);
    s.publish();
    // tc-west-2 stops answering: its values stay, marked stale, with the reason in the details.
    let o = s.world.nodes.get_mut("tc-west-2").unwrap();
    *o = NodeObs::unreachable("ssh: connect to host 10.20.1.12 port 22: Connection timed out");
    s.tick(34);
    s.publish();
    s.tick(1);
    s
}

fn finished(w: u16, h: u16, theme: Theme) -> Sim {
    let mut s = start(w, h, theme);
    s.run_until("west/tc-west-2/failback-stop");
    // The operator declines the failback of west: the executor re-plans without it (R12).
    let fb = s.step("west/tc-west-2/failback-stop");
    s.gates_open(&fb, false);
    let id = s.next_id();
    let name = s.cluster.name.clone();
    s.ask(confirm_question(id, &fb, &name));
    s.choose(Answer::Decline);
    s.ev(Event::Note {
        level: rollpilot::plan::Level::Info,
        text: "failback of west declined: roles stay as they are".into(),
    });
    s.ctx.failback_declined.insert("west".into());
    let cluster = s.cluster.clone();
    let mut p = plan::plan(&PlanRequest {
        cluster: &cluster,
        observed: &s.world,
        target: cluster.target.clone(),
        context: &s.ctx,
    })
    .unwrap();
    for ph in &mut p.phases {
        ph.steps.retain(|st| !s.done.contains(&st.id));
    }
    p.phases.retain(|ph| !ph.steps.is_empty());
    let next = p.steps().next().unwrap().id.clone();
    let reason = format!(
        "R12 drift: the cluster changed since the plan was made (the next step is now {next} (was {})); planned again",
        fb.id
    );
    s.ev(Event::Note { level: rollpilot::plan::Level::Warning, text: reason.clone() });
    s.ev(Event::Planned { plan: Box::new(p.clone()), reason });
    s.plan = p;
    s.progress(Some("-2 steps: the operator declined the failback of west; planned without it".into()));
    s.run_until("(end)");
    s.tick(3);
    s.publish();
    let n = s.done.len();
    s.ev(Event::Finished { end: RunEnd::Done, message: format!("done: bigmemory-prod runs 4.2.1 ({n} steps)") });
    s.tick(1);
    s
}

fn failback(w: u16, h: u16, theme: Theme) -> Sim {
    let mut s = start(w, h, theme);
    s.run_until("east/tc-east-2/failback-stop");
    let fb = s.step("east/tc-east-2/failback-stop");
    s.gates_open(&fb, false);
    let id = s.next_id();
    let name = s.cluster.name.clone();
    s.ask(confirm_question(id, &fb, &name));
    s
}

fn check(name: &str, s: &Sim) {
    let t = s.render();
    insta::assert_snapshot!(name.to_string(), t.backend());
}

#[test]
fn start_screen() {
    for (w, h) in SIZES {
        check(&format!("start_{w}x{h}"), &start(w, h, Theme::default_colors()));
    }
}

#[test]
fn confirm_dialog_for_stopping_an_active() {
    for (w, h) in SIZES {
        let s = confirm(w, h, Theme::default_colors());
        let text = s.screen();
        assert!(text.contains("Cancel") && text.contains("Proceed"), "{text}");
        check(&format!("confirm_{w}x{h}"), &s);
    }
}

/// At 120×40 the dialog is centred over the whole screen and as wide as its command needs
/// (up to ~90% of the screen), so its command wraps once, not over five lines.
#[test]
fn confirm_dialog_uses_the_width_it_needs() {
    let s = confirm(120, 40, Theme::default_colors());
    let text = s.screen();
    let top = text.lines().find(|l| l.contains("╔ Confirm:")).unwrap();
    let left = top.chars().position(|c| c == '╔').unwrap();
    let w = top.chars().skip(left).position(|c| c == '╗').unwrap() + 1;
    assert!((96..=108).contains(&w), "dialog {w} columns wide:\n{text}");
    let right = 120 - left - w;
    assert!(left.abs_diff(right) <= 1, "centred: {left} left, {right} right:\n{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("Command on tc-east-1: /opt/terracotta/terracotta/server/bin/stop-tc-server.sh -f")),
        "the command on at most two lines:\n{text}"
    );
    check("confirm_120x40", &s);
}

#[test]
fn gate_waiting_with_countdown_and_blocker() {
    for (w, h) in SIZES {
        let s = gate_waiting(w, h, Theme::default_colors());
        assert!(s.screen().contains("14:31"), "{}", s.screen());
        check(&format!("gate_waiting_{w}x{h}"), &s);
    }
}

#[test]
fn failure_dialog_with_choices() {
    for (w, h) in SIZES {
        let s = failure(w, h, Theme::default_colors());
        assert!(!s.screen().contains('\u{1b}'));
        check(&format!("failure_{w}x{h}"), &s);
    }
}

#[test]
fn failback_prompt() {
    let s = failback(80, 24, Theme::default_colors());
    assert!(s.screen().contains("Skip it"), "{}", s.screen());
    check("failback_80x24", &s);
}

#[test]
fn observer_mode() {
    for (w, h) in SIZES {
        check(&format!("observer_{w}x{h}"), &observer(w, h, Theme::default_colors()));
    }
}

#[test]
fn finished_run() {
    for (w, h) in SIZES {
        check(&format!("finished_{w}x{h}"), &finished(w, h, Theme::default_colors()));
    }
}

#[test]
fn too_small_terminal() {
    let mut s = confirm(80, 24, Theme::default_colors());
    s.act(rollpilot::tui::Action::Resize(60, 15));
    check("too_small_60x15", &s);
    // Degenerate sizes never panic.
    for (w, h) in [(1, 1), (0, 0), (2, 30), (200, 1), (71, 19)] {
        s.act(rollpilot::tui::Action::Resize(w, h));
        let _ = s.render();
    }
}

#[test]
fn monochrome_keeps_selection_and_state_visible() {
    for (name, s) in [
        ("mono_confirm_80x24", confirm(80, 24, Theme::monochrome())),
        ("mono_failure_160x48", failure(160, 48, Theme::monochrome())),
    ] {
        let t = s.render();
        let buf = t.backend().buffer();
        assert!(only_reset_colors(buf), "monochrome must not emit colours");
        let runs = modifier_runs(buf);
        assert!(runs.contains("REVERSED"), "the focused button and the selection must be reversed:\n{runs}");
        insta::assert_snapshot!(name, format!("{}\n--- modifiers ---\n{runs}", buffer_text(buf)));
    }
}
