//! The TUI over the real run engine: the scripted cluster of this module's parent drives the
//! executor on tokio's paused clock, and every event it sends goes through the TUI's reducer,
//! with the poller's snapshots, the keys a test presses and a clock that follows the paused one.
//! Wall-clock times the engine stamps (run start, probe times) are set to that clock so screens
//! are the same on every run.

use super::*;
use jiff::Timestamp;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Color, Modifier};
use rollpilot::probe::Snapshot;
use rollpilot::tui::state::{Modal, State};
use rollpilot::tui::{Action, Effect, Theme, update};

/// The run id every screen shows (the engine's own is made of the wall clock and a nonce).
pub const RUN: &str = "20261122T015800Z-4f2a";

/// When the screen's clock starts.
pub fn t0() -> Timestamp {
    "2026-11-22T01:58:00Z".parse().unwrap()
}

pub fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

pub fn ch(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

pub fn ctrl_c() -> KeyEvent {
    KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)
}

/// A TUI driving (or watching) the engine over a lab.
pub struct Tui {
    pub lab: Lab,
    pub state: State,
    events: Option<mpsc::UnboundedReceiver<Event>>,
    commands: Option<mpsc::UnboundedSender<Command>>,
    pub poller: Arc<Poller>,
    pub task: Option<tokio::task::JoinHandle<RunEnd>>,
    start: Instant,
    /// Every command the screen sent to the engine.
    pub sent: Vec<Command>,
    /// Every event the engine sent.
    pub seen: Vec<Event>,
    /// Snapshot generations published so far.
    generation: u64,
}

impl Tui {
    /// A TUI that drives a new run over `lab`, at `w`×`h`.
    pub fn drive(lab: Lab, w: u16, h: u16, theme: Theme) -> Tui {
        let (task, events, commands, poller) = lab.spawn_raw(lab.cfg(false));
        let mut t = Self::make(lab, None, theme, poller);
        t.task = Some(task);
        t.events = Some(events);
        t.commands = Some(commands);
        t.act(Action::Resize(w, h));
        t
    }

    /// A TUI that only watches (`observer_of` drives): no engine, the poller's snapshots only.
    pub fn observe(lab: Lab, w: u16, h: u16, theme: Theme, observer_of: &str) -> Tui {
        let transport: Arc<dyn rollpilot::transport::Transport> = Arc::new(Fake { world: lab.world.clone() });
        let poller = Poller::new(lab.cluster.clone(), transport);
        let mut t = Self::make(lab, Some(observer_of.to_string()), theme, poller);
        t.act(Action::Resize(w, h));
        t
    }

    fn make(lab: Lab, observer_of: Option<String>, theme: Theme, poller: Arc<Poller>) -> Tui {
        let mut state =
            State::new(lab.cluster.clone(), PathBuf::from("config/terracotta.toml"), observer_of, theme, t0());
        state.tz = jiff::tz::TimeZone::UTC;
        Tui {
            lab,
            state,
            events: None,
            commands: None,
            poller,
            task: None,
            start: Instant::now(),
            sent: Vec::new(),
            seen: Vec::new(),
            generation: 0,
        }
    }

    /// The screen's clock: the paused clock since the TUI started, from [`t0`].
    pub fn now(&self) -> Timestamp {
        t0().checked_add(jiff::SignedDuration::try_from(self.start.elapsed()).unwrap()).unwrap()
    }

    /// Applies an action; commands go to the engine.
    pub fn act(&mut self, a: Action) -> Vec<Effect> {
        let fx = update(&mut self.state, a);
        for e in &fx {
            if let Effect::Send(c) = e {
                self.sent.push(c.clone());
                if let Some(tx) = &self.commands {
                    let _ = tx.send(c.clone());
                }
            }
        }
        fx
    }

    pub fn key(&mut self, k: KeyEvent) -> Vec<Effect> {
        self.act(Action::Key(k))
    }

    pub fn tick(&mut self) -> Vec<Effect> {
        let now = self.now();
        self.act(Action::Tick(now))
    }

    /// Lets `ms` of paused time pass (the engine runs meanwhile), then ticks the clock.
    pub async fn wait_ms(&mut self, ms: u64) -> Vec<Effect> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        self.tick()
    }

    /// Lets `secs` pass.
    pub async fn wait(&mut self, secs: u64) -> Vec<Effect> {
        self.wait_ms(secs * 1000).await
    }

    /// The poller's current snapshot, its times on the screen's clock.
    pub fn snapshot(&mut self) -> Snapshot {
        let now = self.now();
        let mut s = self.poller.current();
        self.generation += 1;
        s.generation = self.generation;
        s.refreshed_at = Some(now);
        s.started = None;
        for (name, v) in s.nodes.iter_mut() {
            v.probe_ms = 42;
            v.last_seen = if v.obs.reachable {
                Some(now)
            } else {
                self.state.live.snapshot.nodes.get(name).and_then(|p| p.last_seen)
            };
        }
        s
    }

    /// Publishes the poller's snapshot to the screen.
    pub fn publish(&mut self) -> Vec<Effect> {
        let s = self.snapshot();
        self.act(Action::Snapshot(s))
    }

    /// Publishes a fresh probe of every host.
    pub async fn refresh(&mut self) -> Vec<Effect> {
        self.poller.refresh().await;
        self.publish()
    }

    /// Feeds the engine's next event (with the clock and the poller's snapshot before it);
    /// `None` once the engine is gone.
    pub async fn next(&mut self) -> Option<Event> {
        let mut e = self.events.as_mut()?.recv().await?;
        self.tick();
        self.publish();
        if let Event::Started { run, journal, started_at, mixed_since, .. } = &mut e {
            // The engine's run id and state directory are made of the wall clock, a nonce and a
            // temporary directory: the screen shows fixed ones.
            *run = RUN.into();
            *journal = PathBuf::from(format!("/root/.local/state/rollpilot/runs/bigmemory-prod/{RUN}/journal.jsonl"));
            *started_at = self.now();
            if mixed_since.is_some() {
                *mixed_since = Some(self.now());
            }
        }
        self.seen.push(e.clone());
        self.act(Action::Exec(e.clone()));
        Some(e)
    }

    /// Feeds events until `f` holds; panics if the run ends first.
    pub async fn until(&mut self, what: &str, f: impl Fn(&State, &Event) -> bool) {
        while let Some(e) = self.next().await {
            if f(&self.state, &e) {
                return;
            }
            if let Event::Finished { message, .. } = &e {
                panic!("the run ended before {what}: {message}\n{}", self.screen());
            }
        }
        panic!("the engine went away before {what}");
    }

    /// Feeds events until a question about `step` is on screen; returns its id.
    pub async fn until_asked(&mut self, step: &str) -> u64 {
        self.until(&format!("a question about {step}"), |s, _| s.question().is_some_and(|d| d.question.step == step))
            .await;
        self.state.question().map(|d| d.question.id).unwrap()
    }

    /// The open question's id and the index of the choice `a`.
    fn choice(&self, a: Answer) -> (u64, usize) {
        let Some(Modal::Question(d)) = &self.state.ui.modal else { panic!("no question open:\n{}", self.screen()) };
        let i = d.question.choices.iter().position(|c| c.answer == a).unwrap_or_else(|| panic!("{a:?} not offered"));
        (d.question.id, i)
    }

    /// The operator reads for a moment, then answers the open question with `a` by keys only
    /// (Tab to it, Enter; a typed choice gets the cluster name).
    pub async fn answer(&mut self, a: Answer) {
        self.wait(1).await;
        let (id, target) = self.choice(a);
        while let Some(Modal::Question(d)) = &self.state.ui.modal {
            if d.focus == target {
                break;
            }
            self.key(key(KeyCode::Tab));
        }
        let typed = match &self.state.ui.modal {
            Some(Modal::Question(d)) if d.question.choices[target].typed => Some(d.question.expected.clone()),
            _ => None,
        };
        self.key(key(KeyCode::Enter));
        if let Some(name) = &typed {
            for c in name.chars() {
                self.key(ch(c));
            }
            self.key(key(KeyCode::Enter));
        }
        assert!(
            self.sent.contains(&Command::Answer { question: id, answer: a, typed }),
            "answer {a:?} not sent: {:?}",
            self.sent
        );
    }

    /// Runs until the step `id` is about to be asked about or started (what comes before it
    /// confirmed with Proceed, typed where needed), without answering a question about `id`.
    pub async fn run_until(&mut self, id: &str) {
        loop {
            let Some(e) = self.next().await else { panic!("the engine went away before {id}") };
            match &e {
                Event::Ask(q) if q.step == id => return,
                Event::StepStarted { step, .. } if step.id == id => return,
                Event::Ask(_) => {
                    if matches!(&self.state.ui.modal, Some(Modal::Question(_))) {
                        self.answer(Answer::Proceed).await;
                    }
                }
                Event::Finished { message, .. } => panic!("the run ended before {id}: {message}"),
                _ => {}
            }
        }
    }

    /// Runs to the end, proceeding at every question; returns how it ended.
    pub async fn run_to_end(&mut self) -> RunEnd {
        loop {
            let Some(e) = self.next().await else { panic!("the engine went away") };
            match &e {
                Event::Ask(_) if matches!(&self.state.ui.modal, Some(Modal::Question(_))) => {
                    self.answer(Answer::Proceed).await;
                }
                Event::Finished { end, .. } => return *end,
                _ => {}
            }
        }
    }

    /// Feeds one event built by the test (a single-event reducer test over real planner output).
    pub fn exec(&mut self, e: Event) -> Vec<Effect> {
        self.act(Action::Exec(e))
    }

    /// Shows a question built by the test; returns its id.
    pub fn ask(&mut self, q: Question) -> u64 {
        let id = q.id;
        self.exec(Event::Ask(q));
        id
    }

    /// A question id the engine does not use.
    pub fn next_id(&mut self) -> u64 {
        self.generation += 1;
        10_000 + self.generation
    }

    /// A step as the engine planned it.
    pub fn plan_step(&self, id: &str) -> rollpilot::plan::Step {
        self.state.step(id).unwrap_or_else(|| panic!("{id} not in the plan")).step.clone()
    }

    /// The real planner's plan from the live cluster to `to`, a downgrade the operator
    /// intends (`--to` below what runs).
    pub fn downgrade_plan(&self, to: &str) -> rollpilot::plan::Plan {
        use rollpilot::plan::{PlanRequest, RunContext};
        let ctx = RunContext { downgrade_intended: true, ..Default::default() };
        let observed = self.state.live.snapshot.observed();
        rollpilot::plan::plan(&PlanRequest {
            cluster: &self.lab.cluster,
            observed: &observed,
            target: semver::Version::parse(to).unwrap(),
            context: &ctx,
        })
        .unwrap()
    }

    /// Renders at the state's size.
    pub fn render(&self) -> Terminal<TestBackend> {
        let (w, h) = self.state.size;
        let mut t = Terminal::new(TestBackend::new(w.max(1), h.max(1))).unwrap();
        t.draw(|f| rollpilot::tui::view::render(&self.state, f)).unwrap();
        t
    }

    /// The screen's text, the engine's run id written as [`RUN`].
    pub fn screen(&self) -> String {
        stable(&buffer_text(self.render().backend().buffer()))
    }

    /// The screen as the snapshots hold it: one quoted line per row.
    pub fn snap(&self) -> String {
        let t = self.render();
        let b = t.backend().buffer();
        let mut out = String::new();
        for y in 0..b.area.height {
            let mut line = String::new();
            for x in 0..b.area.width {
                line.push_str(b[(x, y)].symbol());
            }
            out.push_str(&format!("\"{}\"\n", stable(&line)));
        }
        out
    }
}

/// Text with the engine's run ids (wall clock and nonce) written as [`RUN`].
pub fn stable(s: &str) -> String {
    let re = regex::Regex::new(r"\d{8}T\d{6}Z-[0-9a-z]{4}").unwrap();
    re.replace_all(s, RUN).into_owned()
}

/// The buffer's text, one line per row, trailing spaces kept off.
pub fn buffer_text(b: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..b.area.height {
        let mut line = String::new();
        for x in 0..b.area.width {
            line.push_str(b[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Runs of cells with modifiers, per row: what a monochrome terminal shows besides the text.
pub fn modifier_runs(b: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..b.area.height {
        let mut x = 0;
        while x < b.area.width {
            let m = b[(x, y)].modifier;
            let start = x;
            while x < b.area.width && b[(x, y)].modifier == m {
                x += 1;
            }
            if m != Modifier::empty() {
                out.push_str(&format!("y={y:<2} x={start}..{x} {m:?}\n"));
            }
        }
    }
    out
}

/// True when every cell uses the terminal's own colours.
pub fn only_reset_colors(b: &Buffer) -> bool {
    b.content().iter().all(|c| c.fg == Color::Reset && c.bg == Color::Reset)
}

/// The Terracotta-shaped lab, every node on 4.2.0, target 4.2.1.
pub fn terracotta() -> Lab {
    Lab::with_versions(TERRACOTTA, "4.2.0", "4.2.1")
}
