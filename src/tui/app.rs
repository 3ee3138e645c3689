//! The async loop: keys, executor events, snapshots and a one-second clock go through the
//! reducer; effects are carried out; the screen is drawn at most every ~33 ms and only when
//! something shown changed. Bursts of events are drained before a frame is drawn.

use super::TuiContext;
use super::state::State;
use super::theme::Theme;
use super::update::{Action, Effect, update};
use crate::plan::Level;
use crate::run::events::RunEnd;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use jiff::Timestamp;
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{Event as TermEvent, KeyEventKind};
use std::io;
use std::process::ExitStatus;
use std::time::Duration;
use tokio::time::Instant;

/// The shortest time between two frames.
pub const FRAME: Duration = Duration::from_millis(33);
/// The clock tick (elapsed time, countdowns).
pub const TICK: Duration = Duration::from_secs(1);
/// Events handled at most per wake-up before the screen gets a chance to be drawn.
const DRAIN_MAX: usize = 2048;

/// Terminal input as a stream (crossterm's `EventStream`, or a test's script).
pub type Input = BoxStream<'static, io::Result<TermEvent>>;

/// Where frames go: the real terminal or a test backend.
pub trait Screen {
    /// Draws the state.
    fn draw(&mut self, state: &State) -> io::Result<()>;
    /// The current size (columns, rows).
    fn size(&mut self) -> io::Result<(u16, u16)>;
    /// Writes attention escapes (bell, desktop notification) after a frame: through the
    /// terminal backend, never with a print that would race the frame.
    fn alert(&mut self, escapes: &str) -> io::Result<()>;
    /// Gives the terminal to an interactive command and takes it back.
    fn suspend_for(&mut self, cmd: &mut std::process::Command, banner: &str) -> io::Result<ExitStatus>;
}

/// A screen over any ratatui backend (tests and the idle benchmark use `TestBackend`); it counts
/// frames and cannot run a shell.
pub struct BackendScreen<B: Backend> {
    /// The terminal.
    pub terminal: Terminal<B>,
    /// Frames drawn.
    pub frames: u64,
    /// Attention escapes written, in order (tests read them).
    pub alerts: Vec<String>,
}

impl<B: Backend> BackendScreen<B> {
    /// Wraps a backend.
    pub fn new(backend: B) -> io::Result<Self> {
        let terminal = Terminal::new(backend).map_err(|e| io::Error::other(e.to_string()))?;
        Ok(BackendScreen { terminal, frames: 0, alerts: Vec::new() })
    }
}

impl<B: Backend> Screen for BackendScreen<B> {
    fn draw(&mut self, state: &State) -> io::Result<()> {
        self.frames += 1;
        self.terminal.draw(|f| super::view::render(state, f)).map(|_| ()).map_err(|e| io::Error::other(e.to_string()))
    }

    fn size(&mut self) -> io::Result<(u16, u16)> {
        let s = self.terminal.size().map_err(|e| io::Error::other(e.to_string()))?;
        Ok((s.width, s.height))
    }

    fn alert(&mut self, escapes: &str) -> io::Result<()> {
        self.alerts.push(escapes.to_string());
        Ok(())
    }

    fn suspend_for(&mut self, _cmd: &mut std::process::Command, _banner: &str) -> io::Result<ExitStatus> {
        Err(io::Error::other("this screen has no terminal to hand over"))
    }
}

/// The real terminal.
pub struct TtyScreen {
    tty: super::terminal::Tty,
}

impl TtyScreen {
    /// Enters the full screen.
    pub fn new() -> io::Result<Self> {
        Ok(TtyScreen { tty: super::terminal::init()? })
    }
}

impl Screen for TtyScreen {
    fn draw(&mut self, state: &State) -> io::Result<()> {
        super::terminal::draw(&mut self.tty, state)
    }

    fn size(&mut self) -> io::Result<(u16, u16)> {
        let s = self.tty.size()?;
        Ok((s.width, s.height))
    }

    fn alert(&mut self, escapes: &str) -> io::Result<()> {
        use std::io::Write;
        let out = self.tty.backend_mut();
        out.write_all(escapes.as_bytes())?;
        Write::flush(out)
    }

    fn suspend_for(&mut self, cmd: &mut std::process::Command, banner: &str) -> io::Result<ExitStatus> {
        super::terminal::suspend_for(&mut self.tty, cmd, banner)
    }
}

enum Wake {
    Exec(Option<crate::run::events::Event>),
    Snapshot(bool),
    Input(Option<io::Result<TermEvent>>),
    Tick,
    Frame,
}

/// Runs the loop on `screen` until the operator quits. `input` makes a new key stream (a new one
/// after each shell, since the old one must be dropped while the shell owns the keyboard).
pub async fn drive<S: Screen>(
    screen: &mut S,
    ctx: TuiContext,
    theme: Theme,
    mut input: impl FnMut() -> Input,
) -> io::Result<Option<RunEnd>> {
    let TuiContext { cluster, config_path, mut snapshots, mut events, commands, observer_of, shell, options } = ctx;
    let mut state = State::new(cluster.clone(), config_path, observer_of, theme, Timestamp::now());
    state.quiet = options.quiet;
    state.readonly = options.readonly;
    state.shell_allowed = options.shell_allowed;
    state.window_end = options.window_end;
    state.rehearsal = options.rehearsal.is_some();
    let rehearsal = options.rehearsal;
    let mut fault_for: Option<String> = None;
    let first = snapshots.borrow_and_update().clone();
    update(&mut state, Action::Snapshot(first));
    let (w, h) = screen.size()?;
    update(&mut state, Action::Resize(w, h));
    let mut keys: Option<Input> = Some(input());
    let mut snapshots_open = true;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    loop {
        // A waiting decision is drawn and announced at once, frame budget or not: the operator
        // must not miss the bell because a key or the end of the run came in the same frame.
        if dirty && (state.ui.attention.is_some() || last_draw.is_none_or(|t| t.elapsed() >= FRAME)) {
            screen.draw(&state)?;
            if let Some(a) = state.ui.attention.take() {
                // A bell the terminal refuses is not worth stopping the run for.
                let _ = screen.alert(&a);
            }
            dirty = false;
            last_draw = Some(Instant::now());
        }
        let frame_in = last_draw.map(|t| FRAME.saturating_sub(t.elapsed())).unwrap_or_default();
        let wake = tokio::select! {
            biased;
            k = async { keys.as_mut()?.next().await }, if keys.is_some() => Wake::Input(k),
            e = async { events.as_mut()?.recv().await }, if events.is_some() => Wake::Exec(e),
            r = snapshots.changed(), if snapshots_open => Wake::Snapshot(r.is_ok()),
            _ = tick.tick() => Wake::Tick,
            _ = tokio::time::sleep(frame_in), if dirty => Wake::Frame,
        };
        let mut actions = vec![Action::Tick(Timestamp::now())];
        match wake {
            Wake::Input(None) => keys = None,
            Wake::Input(Some(Err(e))) => {
                actions.push(Action::Notice { level: Level::Warning, text: format!("terminal input error: {e}") });
                keys = None;
            }
            Wake::Input(Some(Ok(ev))) => match ev {
                TermEvent::Key(k) if k.kind == KeyEventKind::Press => {
                    match crate::rehearse::keys::take(rehearsal.as_deref(), &mut fault_for, &state, &k) {
                        Some(text) => actions.push(Action::Notice { level: Level::Info, text }),
                        None => actions.push(Action::Key(k)),
                    }
                }
                TermEvent::Resize(w, h) => actions.push(Action::Resize(w, h)),
                _ => {}
            },
            Wake::Exec(Some(e)) => {
                actions.push(Action::Exec(e));
                if let Some(rx) = events.as_mut() {
                    while actions.len() < DRAIN_MAX {
                        match rx.try_recv() {
                            Ok(e) => actions.push(Action::Exec(e)),
                            Err(_) => break,
                        }
                    }
                }
            }
            Wake::Exec(None) => {
                events = None;
                if state.run.end.is_none() && !state.is_observer() {
                    actions.push(Action::Notice {
                        level: Level::Warning,
                        text: format!(
                            "the executor stopped without saying how the run ended; `rollpilot resume -c {}` continues it",
                            state.config_path.display()
                        ),
                    });
                    if state.ui.stopping != super::state::Stopping::No {
                        return Ok(None);
                    }
                }
            }
            Wake::Snapshot(true) => actions.push(Action::Snapshot(snapshots.borrow_and_update().clone())),
            Wake::Snapshot(false) => snapshots_open = false,
            Wake::Tick | Wake::Frame => {}
        }
        for a in actions {
            for fx in update(&mut state, a) {
                match fx {
                    Effect::Redraw => dirty = true,
                    Effect::Send(c) => {
                        if let Some(tx) = &commands
                            && tx.send(c).is_err()
                        {
                            state.push_log(Level::Warning, "the executor no longer listens".into());
                        }
                    }
                    Effect::Quit => return Ok(state.run.end.as_ref().map(|(e, _)| *e)),
                    Effect::OpenShell(name) => {
                        let Some((_, node)) = cluster.node(&name) else { continue };
                        let mut cmd = shell(node);
                        // The key reader must not steal the shell's keystrokes.
                        drop(keys.take());
                        let banner = format!(
                            "rollpilot: interactive shell on {name}. Exit it to come back; the run goes on meanwhile."
                        );
                        let r = screen.suspend_for(&mut cmd, &banner);
                        keys = Some(input());
                        let text = match r {
                            Ok(st) => format!("shell on {name} ended ({st})"),
                            Err(e) => format!("could not open a shell on {name}: {e}"),
                        };
                        state.push_log(Level::Info, text);
                        if let Ok((w, h)) = screen.size() {
                            update(&mut state, Action::Resize(w, h));
                        }
                        dirty = true;
                        last_draw = None;
                    }
                }
            }
        }
    }
}
