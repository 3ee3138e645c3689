//! What operators see, committed as insta snapshots at 80×24 and 160×48: the start of a run,
//! the confirmation before stopping an active (with the failover sentence), a gate waiting with
//! its countdown and blocker, a failure with its choices, observer mode, the finished run; plus
//! the too-small screen and the monochrome (NO_COLOR) theme with its modifiers. At the wide
//! sizes (120×40 and 200×60): the node table with long names, a downgrade's typed
//! confirmation, the failure dialog, the help scrolled, and a stop at the end of the time budget;
//! no node's role, version or sync value is ever cut at those widths.
//!
//! Every screen comes from the real run engine driving a Terracotta-shaped scripted cluster
//! (`engine_support`) on tokio's paused clock, its events through the TUI's reducer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod engine_support;

use engine_support::tui::*;
use engine_support::{Lab, TERRACOTTA};
use rollpilot::run::events::*;
use rollpilot::tui::Theme;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

/// The wide terminals: a laptop's full screen, and a large monitor's.
const WIDE: [(u16, u16); 2] = [(120, 40), (200, 60)];

/// The run has planned and counted its steps; nothing ran yet.
async fn start(w: u16, h: u16, theme: Theme) -> Tui {
    let mut s = Tui::drive(terracotta(), w, h, theme);
    s.until("the plan", |st, _| st.run.machine.progress.is_some()).await;
    s.tick();
    s
}

/// The engine asks to stop the active tc-east-1 (stripe east's mirror is upgraded).
async fn confirm(w: u16, h: u16, theme: Theme) -> Tui {
    let mut s = start(w, h, theme).await;
    s.run_until("east/tc-east-1/stop").await;
    s
}

async fn gate_waiting(w: u16, h: u16, theme: Theme) -> Tui {
    let mut s = confirm(w, h, theme).await;
    // While the operator reads, the mirror drops out of sync (a network blip): R5 holds the
    // active's stop back once it is confirmed.
    {
        let mut world = s.lab.world.lock().unwrap();
        world.nodes.get_mut("tc-east-2").unwrap().in_sync_at =
            Some(tokio::time::Instant::now() + std::time::Duration::from_secs(3600));
    }
    s.answer(Answer::Proceed).await;
    s.until(
        "the wait before the active's stop",
        |_, e| matches!(e, Event::Waiting { step, .. } if step == "east/tc-east-1/stop"),
    )
    .await;
    s.wait(1).await;
    s
}

async fn failure(w: u16, h: u16, theme: Theme) -> Tui {
    let lab = terracotta();
    {
        let mut world = lab.world.lock().unwrap();
        world.fail_install.insert("tc-east-1".into(), 1);
        world.prints.insert(
            "install tc-east-1".into(),
            "removed /opt/terracotta/terracotta\n\u{1b}[1;31mtar (child): /opt/kits/terracotta-4.2.1.tar.gz: Cannot open: No such file or directory\u{1b}[0m\n".into(),
        );
    }
    let mut s = Tui::drive(lab, w, h, theme);
    s.run_until("east/tc-east-1/stop").await;
    s.answer(Answer::Proceed).await;
    s.until("the failure question", |st, _| st.question().is_some_and(|d| d.question.kind == QuestionKind::Failure))
        .await;
    s.wait(1).await;
    s
}

async fn observer(w: u16, h: u16, theme: Theme) -> Tui {
    let lab = terracotta();
    {
        // Stripe east is upgraded and failed over; the rest still runs 4.2.0.
        let mut world = lab.world.lock().unwrap();
        for n in ["tc-east-1", "tc-east-2"] {
            world.nodes.get_mut(n).unwrap().installed = semver::Version::parse("4.2.1").unwrap();
            world.nodes.get_mut(n).unwrap().running = Some(semver::Version::parse("4.2.1").unwrap());
        }
        world.nodes.get_mut("tc-east-1").unwrap().active = false;
        world.nodes.get_mut("tc-east-2").unwrap().active = true;
    }
    let who = "alice on laptop-7 (pid 4242), since 2026-11-22 01:12:03 UTC, run 20261122T011203Z-9f3c";
    let mut s = Tui::observe(lab, w, h, theme, who);
    s.wait(2).await;
    s.refresh().await;
    // tc-west-2 stops answering: its values stay, marked stale, with the reason in the details.
    s.lab
        .world
        .lock()
        .unwrap()
        .probes_fail
        .insert("tc-west-2".into(), "ssh: connect to host 10.20.1.12 port 22: Connection timed out".into());
    s.wait(34).await;
    s.refresh().await;
    s.wait(1).await;
    s
}

async fn finished(w: u16, h: u16, theme: Theme) -> Tui {
    let mut s = start(w, h, theme).await;
    // The operator declines the failback of west: the engine plans again without it (R12).
    s.run_until("west/tc-west-2/failback-stop").await;
    s.answer(Answer::Decline).await;
    assert_eq!(s.run_to_end().await, RunEnd::Done, "{}", s.screen());
    s.wait(3).await;
    s.refresh().await;
    s.wait(1).await;
    s
}

async fn failback(w: u16, h: u16, theme: Theme) -> Tui {
    let mut s = start(w, h, theme).await;
    s.run_until("east/tc-east-2/failback-stop").await;
    s
}

fn check(name: &str, s: &Tui) {
    insta::assert_snapshot!(name.to_string(), s.snap());
}

#[tokio::test(start_paused = true)]
async fn start_screen() {
    for (w, h) in SIZES {
        check(&format!("start_{w}x{h}"), &start(w, h, Theme::default_colors()).await);
    }
}

#[tokio::test(start_paused = true)]
async fn confirm_dialog_for_stopping_an_active() {
    for (w, h) in SIZES {
        let s = confirm(w, h, Theme::default_colors()).await;
        let text = s.screen();
        assert!(text.contains("Cancel") && text.contains("Proceed"), "{text}");
        assert!(text.contains("fails over to"), "{text}");
        check(&format!("confirm_{w}x{h}"), &s);
    }
}

/// At 120×40 the dialog is centred over the whole screen and as wide as its command needs
/// (up to ~90% of the screen).
#[tokio::test(start_paused = true)]
async fn confirm_dialog_uses_the_width_it_needs() {
    let s = confirm(120, 40, Theme::default_colors()).await;
    let text = s.screen();
    let top = text.lines().find(|l| l.contains("╔ Confirm:")).unwrap();
    let left = top.chars().position(|c| c == '╔').unwrap();
    let w = top.chars().skip(left).position(|c| c == '╗').unwrap() + 1;
    assert!((96..=108).contains(&w), "dialog {w} columns wide:\n{text}");
    let right = 120 - left - w;
    assert!(left.abs_diff(right) <= 1, "centred: {left} left, {right} right:\n{text}");
    let first =
        text.lines().position(|l| l.contains("Command on tc-east-1: fake stop tc-east-1")).expect("the command");
    let second = text.lines().nth(first + 1).unwrap_or_default();
    assert!(second.contains("-n tc-east-1"), "the command on at most two lines:\n{text}");
    check("confirm_120x40", &s);
}

#[tokio::test(start_paused = true)]
async fn gate_waiting_with_countdown_and_blocker() {
    for (w, h) in SIZES {
        let s = gate_waiting(w, h, Theme::default_colors()).await;
        let text = s.screen();
        assert!(text.contains("WAITING AT GATE"), "{text}");
        assert!(text.contains("R5 safe-to-stop"), "{text}");
        assert!(text.contains("14:59 left"), "the countdown: {text}");
        check(&format!("gate_waiting_{w}x{h}"), &s);
    }
}

#[tokio::test(start_paused = true)]
async fn failure_dialog_with_choices() {
    for (w, h) in SIZES {
        let s = failure(w, h, Theme::default_colors()).await;
        let text = s.screen();
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains("reinstall 4.2.0 on tc-east-1"), "{text}");
        check(&format!("failure_{w}x{h}"), &s);
    }
}

#[tokio::test(start_paused = true)]
async fn failback_prompt() {
    let s = failback(80, 24, Theme::default_colors()).await;
    assert!(s.screen().contains("Skip it"), "{}", s.screen());
    check("failback_80x24", &s);
}

#[tokio::test(start_paused = true)]
async fn observer_mode() {
    for (w, h) in SIZES {
        check(&format!("observer_{w}x{h}"), &observer(w, h, Theme::default_colors()).await);
    }
}

#[tokio::test(start_paused = true)]
async fn finished_run() {
    for (w, h) in SIZES {
        check(&format!("finished_{w}x{h}"), &finished(w, h, Theme::default_colors()).await);
    }
}

#[tokio::test(start_paused = true)]
async fn too_small_terminal() {
    let mut s = confirm(80, 24, Theme::default_colors()).await;
    s.act(rollpilot::tui::Action::Resize(60, 15));
    check("too_small_60x15", &s);
    // Degenerate sizes never panic.
    for (w, h) in [(1, 1), (0, 0), (2, 30), (200, 1), (71, 19)] {
        s.act(rollpilot::tui::Action::Resize(w, h));
        let _ = s.render();
    }
}

#[tokio::test(start_paused = true)]
async fn monochrome_keeps_selection_and_state_visible() {
    for (name, s) in [
        ("mono_confirm_80x24", confirm(80, 24, Theme::monochrome()).await),
        ("mono_failure_160x48", failure(160, 48, Theme::monochrome()).await),
    ] {
        let t = s.render();
        let buf = t.backend().buffer();
        assert!(only_reset_colors(buf), "monochrome must not emit colours");
        let runs = modifier_runs(buf);
        assert!(runs.contains("REVERSED"), "the focused button and the selection must be reversed:\n{runs}");
        insta::assert_snapshot!(name, format!("{}\n--- modifiers ---\n{runs}", stable(&buffer_text(buf))));
    }
}

/// The Terracotta lab with the long host names real fleets use (FQDN-like, with the product,
/// the site and a number), and a group name to match.
fn long_names() -> Lab {
    let mut config = TERRACOTTA.to_string();
    for (short, long) in [
        ("tc-east-", "bigmemory-prod-tc-server-us-east-1a-"),
        ("tc-west-", "bigmemory-prod-tc-server-eu-west-2b-"),
        ("app-east-1", "bigmemory-prod-orders-api-us-east-1a-01"),
        ("app-west-1", "bigmemory-prod-orders-api-eu-west-2b-01"),
        ("\"app-east\"", "\"orders-api-us-east\""),
        ("\"app-west\"", "\"orders-api-eu-west\""),
    ] {
        config = config.replace(short, long);
    }
    Lab::with_versions(&config, "4.2.0", "4.2.1")
}

/// Every node row drawn in the node table shows its role, version and sync value whole: each
/// is a word of the row's line (not cut to `…`). Rows hidden under a dialog are not checked.
fn assert_node_values_whole(s: &Tui) {
    let a = rollpilot::tui::screen::layout::layout(&s.state);
    let t = s.render();
    let buf = t.backend().buffer();
    let (start, end) = rollpilot::tui::screen::layout::node_window(&s.state);
    assert!(end > start, "no node row on screen:\n{}", s.screen());
    for (k, &i) in s.state.ui.visible[start..end].iter().enumerate() {
        let r = &s.state.live.rows[i].row;
        let y = a.nodes.y + 2 + k as u16;
        let line: String = (a.nodes.x..a.nodes.right()).map(|x| buf[(x, y)].symbol().to_string()).collect();
        let words: Vec<&str> = line.split_whitespace().map(|w| w.trim_end_matches('*')).collect();
        let version = r.version.clone().unwrap_or_else(|| "?".into());
        for value in [r.role.as_str(), version.as_str(), r.sync.as_str()] {
            assert!(
                words.contains(&value),
                "{} at {} columns: `{value}` is not shown whole in `{}`\n{}",
                r.host,
                s.state.size.0,
                line.trim_end(),
                s.screen()
            );
        }
    }
}

async fn long_names_table(w: u16, h: u16) -> Tui {
    let mut s = Tui::drive(long_names(), w, h, Theme::default_colors());
    s.until("the plan", |st, _| st.run.machine.progress.is_some()).await;
    s.refresh().await;
    s.tick();
    s
}

/// The cluster runs 4.2.1 and the operator goes back to 4.2.0: the real planner's plan, and the
/// executor's typed confirmation of its first typed step.
async fn downgrade_confirm(w: u16, h: u16) -> Tui {
    let mut s = Tui::observe(Lab::with_versions(TERRACOTTA, "4.2.1", "4.2.0"), w, h, Theme::default_colors(), "x");
    s.state.observer_of = None;
    s.refresh().await;
    let p = s.downgrade_plan("4.2.0");
    let total = p.steps().count();
    s.exec(Event::Planned { plan: Box::new(p.clone()), reason: "initial plan".into() });
    s.exec(Event::Progress { done: 0, total, why: None });
    let step = p.steps().find(|st| st.confirm == rollpilot::plan::Confirm::Typed).cloned().expect("a typed step");
    let id = s.next_id();
    s.ask(rollpilot::run::executor::confirmation_question(&step, id, "bigmemory-prod"));
    s.wait(1).await;
    s
}

/// The help, scrolled down by five lines.
async fn help_scrolled(w: u16, h: u16) -> Tui {
    let mut s = start(w, h, Theme::default_colors()).await;
    s.key(ch('?'));
    for _ in 0..5 {
        s.key(ch('j'));
    }
    s
}

/// The passive of east is upgraded; the time budget ends before the active's sequence may start:
/// the run stops there with the executor's sentence and its resume command.
async fn budget_stop(w: u16, h: u16) -> Tui {
    let mut s = start(w, h, Theme::default_colors()).await;
    s.state.window_end = Some(s.now().checked_add(jiff::SignedDuration::from_secs(12 * 60 + 30)).unwrap());
    s.run_until("east/tc-east-1/stop").await;
    let msg = "the time budget ends in 12m; the next node (tc-east-1) takes about 20m by the estimate (the longest node so far): stopped here, safely; the cluster is left as it is and the journal is kept: continue with `rollpilot resume -c config/terracotta.toml`";
    s.exec(Event::Finished { end: RunEnd::Window, message: msg.into() });
    s.wait(1).await;
    s
}

#[tokio::test(start_paused = true)]
async fn wide_node_table_with_long_names() {
    for (w, h) in WIDE {
        let s = long_names_table(w, h).await;
        let text = s.screen();
        assert!(text.contains("bigmemory-prod-tc-server-us-east-1a-1") || w < 200, "{text}");
        assert_node_values_whole(&s);
        check(&format!("long_names_{w}x{h}"), &s);
    }
}

#[tokio::test(start_paused = true)]
async fn wide_downgrade_confirm_dialog() {
    for (w, h) in WIDE {
        let s = downgrade_confirm(w, h).await;
        let text = s.screen();
        assert!(text.contains("downgrade 4.2.1 → 4.2.0"), "{text}");
        assert!(text.contains("DOWNGRADE"), "{text}");
        check(&format!("downgrade_confirm_{w}x{h}"), &s);
    }
}

#[tokio::test(start_paused = true)]
async fn wide_failure_dialog_with_recovery_choices() {
    for (w, h) in WIDE {
        let s = failure(w, h, Theme::default_colors()).await;
        let text = s.screen();
        assert!(text.contains("reinstall 4.2.0 on tc-east-1"), "{text}");
        check(&format!("failure_{w}x{h}"), &s);
    }
}

#[tokio::test(start_paused = true)]
async fn wide_help_scrolled() {
    for (w, h) in WIDE {
        let s = help_scrolled(w, h).await;
        let text = s.screen();
        assert!(text.contains("Help · keys"), "{text}");
        check(&format!("help_scrolled_{w}x{h}"), &s);
    }
}

#[tokio::test(start_paused = true)]
async fn wide_budget_stop_shows_the_resume_command() {
    for (w, h) in WIDE {
        let s = budget_stop(w, h).await;
        let text = s.screen();
        assert!(text.contains("FINISHED: WINDOW"), "{text}");
        assert!(
            text.replace('\n', " ").contains("rollpilot resume -c config/terracotta.toml"),
            "the resume command is on screen:\n{text}"
        );
        assert_node_values_whole(&s);
        check(&format!("budget_stop_{w}x{h}"), &s);
    }
}

/// Every wide screen without a dialog on top keeps the nodes' role, version and sync whole.
#[tokio::test(start_paused = true)]
async fn wide_screens_never_cut_a_role_version_or_sync() {
    for (w, h) in WIDE {
        assert_node_values_whole(&start(w, h, Theme::default_colors()).await);
        assert_node_values_whole(&observer(w, h, Theme::default_colors()).await);
        assert_node_values_whole(&finished(w, h, Theme::default_colors()).await);
        assert_node_values_whole(&gate_waiting(w, h, Theme::default_colors()).await);
    }
}
