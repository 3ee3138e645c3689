//! Shared by the TUI tests (included with `#[path]`): a small simulation of the executor over the
//! Terracotta example cluster. It feeds the reducer the events the executor would send (questions
//! worded as the executor words them, gate facts from the real gate evaluator, plans from the real
//! planner) and snapshots of a world that changes as the steps run, with a fixed clock.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use jiff::Timestamp;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Color, Modifier};
use rollpilot::model::*;
use rollpilot::plan::gates::{Verdict, evaluate};
use rollpilot::plan::{self, Action as StepAction, Confirm, Plan, PlanRequest, RunContext, Step};
use rollpilot::probe::{NodeView, Snapshot};
use rollpilot::run::events::*;
use rollpilot::run::journal::Outcome;
use rollpilot::tui::state::{Modal, State};
use rollpilot::tui::{Action, Effect, Theme, update};
use semver::Version;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const RUN: &str = "20261122T015800Z-4f2a";
pub const CONFIG: &str = "config/terracotta.toml";

pub fn cluster() -> Arc<Cluster> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(CONFIG);
    Arc::new(rollpilot::config::load(&path).unwrap())
}

pub fn t0() -> Timestamp {
    "2026-11-22T01:58:00Z".parse().unwrap()
}

pub fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
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

/// One node as the probes would report it.
pub fn obs(version: &str, role: Role, sync: SyncState, state: Option<&str>) -> NodeObs {
    NodeObs {
        reachable: true,
        version: Some(v(version)),
        role,
        sync,
        health: if role == Role::Stopped { Health::Failed } else { Health::Ok },
        state: state.map(str::to_string),
        error: None,
        ..Default::default()
    }
}

/// The Terracotta example cluster with every node on `ver`, east-1/west-1/wan-east active.
pub fn world_at(ver: &str) -> Observed {
    let mut o = Observed::default();
    let mut put = |n: &str, x: NodeObs| {
        o.nodes.insert(n.to_string(), x);
    };
    put("tc-east-1", obs(ver, Role::Active, SyncState::NotApplicable, Some("ACTIVE-COORDINATOR")));
    put("tc-east-2", obs(ver, Role::Passive, SyncState::InSync, Some("PASSIVE-STANDBY")));
    put("tc-west-1", obs(ver, Role::Active, SyncState::NotApplicable, Some("ACTIVE-COORDINATOR")));
    put("tc-west-2", obs(ver, Role::Passive, SyncState::InSync, Some("PASSIVE-STANDBY")));
    put("app-east-1", obs(ver, Role::None, SyncState::NotApplicable, Some("CONNECTED")));
    put("app-west-1", obs(ver, Role::None, SyncState::NotApplicable, Some("CONNECTED")));
    put("wan-east", obs(ver, Role::Active, SyncState::NotApplicable, Some("RUNNING")));
    put("wan-west", obs(ver, Role::Passive, SyncState::NotApplicable, Some("RUNNING")));
    o
}

/// The executor's confirmation question for a step (the executor's own wording).
pub fn confirm_question(id: u64, step: &Step, expected: &str) -> Question {
    rollpilot::run::executor::confirmation_question(step, id, expected)
}

/// The executor's failure question (R11), worded as `executor::failure` words it.
pub fn failure_question(
    id: u64,
    step: &Step,
    what: &str,
    tail: &str,
    previous: Option<&str>,
    expected: &str,
) -> Question {
    let previous = previous.map(|p| semver::Version::parse(p).unwrap());
    rollpilot::run::executor::failure_question(step, id, expected, what, tail, previous.as_ref())
}

/// A simulated run: the state under test, the world the probes see, the clock.
pub struct Sim {
    pub state: State,
    pub cluster: Arc<Cluster>,
    pub world: Observed,
    pub last_seen: BTreeMap<String, Timestamp>,
    pub now: Timestamp,
    pub plan: Plan,
    pub questions: u64,
    pub generation: u64,
    pub sent: Vec<Command>,
    pub done: BTreeSet<String>,
    pub ctx: RunContext,
}

impl Sim {
    /// A driving TUI of the given size and theme, the cluster all on 4.2.0, nothing started.
    pub fn new(w: u16, h: u16, theme: Theme) -> Sim {
        Self::with_observer(w, h, theme, None)
    }

    pub fn with_observer(w: u16, h: u16, theme: Theme, observer_of: Option<String>) -> Sim {
        let cluster = cluster();
        let mut state = State::new(cluster.clone(), PathBuf::from(CONFIG), observer_of, theme, t0());
        state.tz = jiff::tz::TimeZone::UTC;
        let world = world_at("4.2.0");
        let plan = plan::plan(&PlanRequest {
            cluster: &cluster,
            observed: &world,
            target: cluster.target.clone(),
            context: &RunContext::default(),
        })
        .unwrap();
        let mut ctx = RunContext::default();
        for (g, n) in [("east", "tc-east-1"), ("west", "tc-west-1"), ("wan", "wan-east")] {
            ctx.original_active.insert(g.into(), n.into());
        }
        let mut sim = Sim {
            state,
            cluster,
            world,
            last_seen: BTreeMap::new(),
            now: t0(),
            plan,
            questions: 0,
            generation: 0,
            sent: Vec::new(),
            done: BTreeSet::new(),
            ctx,
        };
        sim.act(Action::Resize(w, h));
        sim.publish();
        sim
    }

    pub fn act(&mut self, a: Action) -> Vec<Effect> {
        let fx = update(&mut self.state, a);
        for e in &fx {
            if let Effect::Send(c) = e {
                self.sent.push(c.clone());
            }
        }
        fx
    }

    pub fn ev(&mut self, e: Event) -> Vec<Effect> {
        self.act(Action::Exec(e))
    }

    pub fn key(&mut self, k: KeyEvent) -> Vec<Effect> {
        self.act(Action::Key(k))
    }

    pub fn tick(&mut self, secs: i64) -> Vec<Effect> {
        self.now = self.now.checked_add(jiff::SignedDuration::from_secs(secs)).unwrap();
        self.act(Action::Tick(self.now))
    }

    pub fn tick_ms(&mut self, ms: i64) -> Vec<Effect> {
        self.now = self.now.checked_add(jiff::SignedDuration::from_millis(ms)).unwrap();
        self.act(Action::Tick(self.now))
    }

    /// The snapshot the poller would publish now.
    pub fn snapshot(&mut self) -> Snapshot {
        self.generation += 1;
        let mut snap = Snapshot {
            nodes: BTreeMap::new(),
            refreshed_at: Some(self.now),
            generation: self.generation,
            started: None,
        };
        for (n, o) in &self.world.nodes {
            if o.reachable {
                self.last_seen.insert(n.clone(), self.now);
            }
            let prev = self.state.snapshot.nodes.get(n);
            let last_good = if o.reachable { Some(o.clone()) } else { prev.and_then(|p| p.last_good.clone()) };
            snap.nodes.insert(
                n.clone(),
                NodeView {
                    obs: o.clone(),
                    stale: !o.reachable && last_good.is_some(),
                    last_good,
                    last_seen: self.last_seen.get(n).copied(),
                    probe_ms: 42,
                },
            );
        }
        snap
    }

    pub fn publish(&mut self) -> Vec<Effect> {
        let s = self.snapshot();
        self.act(Action::Snapshot(s))
    }

    pub fn step(&self, id: &str) -> Step {
        self.plan.step(id).unwrap_or_else(|| panic!("{id} not in plan")).clone()
    }

    pub fn started(&mut self) {
        self.ev(Event::Started {
            run: RUN.into(),
            journal: PathBuf::from(format!("/root/.local/state/rollpilot/runs/bigmemory-prod/{RUN}/journal.jsonl")),
            resumed: false,
            started_at: self.now,
            mixed_since: None,
            done: Vec::new(),
            target: "4.2.1".into(),
            from: vec!["4.2.0".into()],
            downgrade: false,
        });
        self.tick(2);
        self.publish();
        let plan = self.plan.clone();
        let total = plan.steps().count();
        self.ev(Event::Planned { plan: Box::new(plan), reason: "initial plan".into() });
        self.ev(Event::Progress { done: 0, total, why: None });
        self.tick(1);
    }

    /// The gates of a step, as GateOpen events with the evaluator's facts (they must hold).
    pub fn gates_open(&mut self, step: &Step, after: bool) {
        let gates = if after { step.after.clone() } else { step.before.clone() };
        for g in gates {
            match evaluate(&g, &self.cluster, &self.world) {
                Verdict::Open(facts) => {
                    self.ev(Event::GateOpen {
                        step: step.id.clone(),
                        what: format!("{}: {}", g.rule(), g.describe()),
                        facts,
                    });
                }
                Verdict::Blocked(why) => panic!("gate of {} blocked in the simulation: {why}", step.id),
            }
        }
    }

    pub fn ask(&mut self, q: Question) -> u64 {
        let id = q.id;
        self.ev(Event::Ask(q));
        id
    }

    pub fn next_id(&mut self) -> u64 {
        self.questions += 1;
        self.questions
    }

    /// The operator answers the open question with the choice whose answer is `a` (keys only).
    pub fn choose(&mut self, a: Answer) {
        self.tick(1);
        let Some(Modal::Question(d)) = &self.state.modal else { panic!("no question open") };
        let target = d.question.choices.iter().position(|c| c.answer == a).unwrap();
        let id = d.question.id;
        while let Some(Modal::Question(d)) = &self.state.modal {
            if d.focus == target {
                break;
            }
            self.key(key(KeyCode::Tab));
        }
        let before = self.sent.len();
        self.key(key(KeyCode::Enter));
        assert!(
            self.sent[before..].contains(&Command::Answer { question: id, answer: a, typed: None }),
            "answer {a:?} not sent: {:?}",
            &self.sent[before..]
        );
    }

    /// How a step changes the world.
    pub fn apply(&mut self, step: &Step) {
        let target = self.cluster.target.to_string();
        let group = self.cluster.group(&step.group).unwrap().clone();
        let peers: Vec<String> = group.nodes.iter().map(|n| n.name.clone()).filter(|n| n != &step.node).collect();
        let o = self.world.nodes.get_mut(&step.node).unwrap();
        match step.action {
            StepAction::Stop | StepAction::FailbackStop => {
                let was_active = o.role == Role::Active;
                *o = NodeObs { version: o.version.clone(), ..obs(&target, Role::Stopped, SyncState::Unknown, None) };
                if group.gtype == GroupType::Server {
                    o.error = None;
                    o.state = None;
                }
                if was_active && group.gtype == GroupType::Server {
                    for p in &peers {
                        let po = self.world.nodes.get_mut(p).unwrap();
                        if po.is_standby_in_sync() {
                            po.role = Role::Active;
                            po.sync = SyncState::NotApplicable;
                            po.state = Some("ACTIVE-COORDINATOR".into());
                        }
                    }
                }
            }
            StepAction::Install => o.version = Some(v(&target)),
            StepAction::Start | StepAction::FailbackStart => {
                let has_active = peers.iter().any(|p| self.world.nodes[p].role == Role::Active);
                let o = self.world.nodes.get_mut(&step.node).unwrap();
                let ver = o.version.clone().unwrap().to_string();
                *o = match group.gtype {
                    GroupType::Server if has_active => {
                        obs(&ver, Role::Passive, SyncState::InSync, Some("PASSIVE-STANDBY"))
                    }
                    GroupType::Server => obs(&ver, Role::Active, SyncState::NotApplicable, Some("ACTIVE-COORDINATOR")),
                    GroupType::Client => obs(&ver, Role::None, SyncState::NotApplicable, Some("CONNECTED")),
                    _ if has_active => obs(&ver, Role::Passive, SyncState::NotApplicable, Some("RUNNING")),
                    _ => obs(&ver, Role::Active, SyncState::NotApplicable, Some("RUNNING")),
                };
            }
            _ => {}
        }
    }

    pub fn output_of(step: &Step) -> String {
        match step.action {
            StepAction::Stop | StepAction::FailbackStop => {
                format!("Stopping {} ...\n{} stopped.\n", step.node, step.node)
            }
            StepAction::Install => format!(
                "removed /opt/terracotta/terracotta\nunpacked /opt/kits/terracotta-{}.tar.gz into /opt/terracotta\n",
                step.version.as_ref().map(|v| v.to_string()).unwrap_or_default()
            ),
            _ => format!("\u{1b}[32mINFO\u{1b}[0m {} has started up and is now ready for work.\n", step.node),
        }
    }

    /// Runs a step to its end as the executor would, asking first when the step needs it.
    pub fn run_step(&mut self, id: &str) {
        let step = self.step(id);
        self.gates_open(&step, false);
        if step.confirm != Confirm::None {
            let qid = self.next_id();
            let q = confirm_question(qid, &step, &self.cluster.name);
            self.ask(q);
            self.choose(Answer::Proceed);
        }
        self.tick(1);
        self.ev(Event::StepStarted { step: Box::new(step.clone()), attempt: 1 });
        self.tick(2);
        self.ev(Event::Output { step: step.id.clone(), node: step.node.clone(), text: Self::output_of(&step) });
        self.apply(&step);
        self.tick(1);
        self.publish();
        self.ev(Event::StepFinished { step: step.id.clone(), outcome: Outcome::Ok, exit: Some(0) });
        self.tick(2);
        self.publish();
        self.gates_open(&step, true);
        self.ev(Event::StepDone { step: step.id.clone() });
        self.done.insert(step.id.clone());
        self.progress(None);
        self.tick(1);
    }

    /// The executor's count: steps done, and done plus what the current plan still has.
    pub fn progress(&mut self, why: Option<String>) {
        let left = self.plan.steps().filter(|s| !self.done.contains(&s.id)).count();
        let done = self.done.len();
        self.ev(Event::Progress { done, total: done + left, why });
    }

    pub fn ids(&self) -> Vec<String> {
        self.plan.steps().map(|s| s.id.clone()).collect()
    }

    /// Runs every step up to (not including) `id`.
    pub fn run_until(&mut self, id: &str) {
        for s in self.ids() {
            if s == id {
                return;
            }
            if !self.done.contains(&s) {
                self.run_step(&s);
            }
        }
    }

    /// Renders at the state's size.
    pub fn render(&self) -> Terminal<TestBackend> {
        let (w, h) = self.state.size;
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| rollpilot::tui::view::render(&self.state, f)).unwrap();
        t
    }

    pub fn screen(&self) -> String {
        buffer_text(self.render().backend().buffer())
    }
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

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
