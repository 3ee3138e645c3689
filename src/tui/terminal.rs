//! Terminal hygiene in one place: enter and leave the full screen, a panic hook that restores
//! the terminal before anything is printed, and suspending for an interactive shell. Mouse
//! capture is never enabled, so operators can select and copy text as usual.

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::cursor::Show;
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    BeginSynchronizedUpdate, Clear, ClearType, EndSynchronizedUpdate, EnterAlternateScreen, LeaveAlternateScreen,
    disable_raw_mode, enable_raw_mode,
};
use std::io::{self, Stdout, Write};
use std::process::ExitStatus;
use std::sync::Once;

/// The real terminal.
pub type Tty = Terminal<CrosstermBackend<Stdout>>;

static HOOK: Once = Once::new();

/// Installs (once) a panic hook that restores the terminal, then runs the previous hook, so the
/// panic message lands on a normal screen.
pub fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = restore();
            previous(info);
        }));
    });
}

/// Raw mode and the alternate screen; installs the panic hook first.
pub fn init() -> io::Result<Tty> {
    install_panic_hook();
    enable_raw_mode()?;
    if let Err(e) = execute!(io::stdout(), EnterAlternateScreen) {
        let _ = restore();
        return Err(e);
    }
    match Terminal::new(CrosstermBackend::new(io::stdout())) {
        Ok(t) => Ok(t),
        Err(e) => {
            let _ = restore();
            Err(e)
        }
    }
}

/// Leaves raw mode and the alternate screen, shows the cursor. Safe to call twice.
pub fn restore() -> io::Result<()> {
    let raw = disable_raw_mode();
    let screen = execute!(io::stdout(), LeaveAlternateScreen, Show);
    raw.and(screen)
}

/// Restores the terminal when dropped, on every exit path (errors included).
pub struct RestoreGuard;

impl Drop for RestoreGuard {
    fn drop(&mut self) {
        let _ = restore();
    }
}

/// Draws one frame inside a synchronized update, so terminals that support it never show half
/// a frame.
pub fn draw(tty: &mut Tty, state: &super::state::State) -> io::Result<()> {
    let _ = execute!(tty.backend_mut(), BeginSynchronizedUpdate);
    let r = tty.draw(|f| super::view::render(state, f)).map(|_| ());
    let _ = execute!(tty.backend_mut(), EndSynchronizedUpdate);
    r
}

/// Gives the terminal to `cmd` (an ssh shell) and takes it back when it exits. The caller must
/// have dropped its key reader first, or it would steal the shell's keystrokes.
pub fn suspend_for(tty: &mut Tty, cmd: &mut std::process::Command, banner: &str) -> io::Result<ExitStatus> {
    ignore_job_signals();
    restore()?;
    {
        let mut out = io::stdout();
        let _ = out.write_all(format!("\r\n{banner}\r\n\r\n").as_bytes());
        let _ = out.flush();
    }
    cmd.stdin(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::inherit());
    let status = match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        // Keep the executor running on the other workers while the shell is open.
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(|| cmd.status()),
        _ => cmd.status(),
    };
    enable_raw_mode()?;
    execute!(io::stdout(), EnterAlternateScreen, Clear(ClearType::All))?;
    // A fresh terminal forgets the last frame, so the next draw repaints everything.
    // (`Terminal::clear` would ask the terminal for the cursor position and wait on stdin.)
    *tty = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    status
}

/// While a shell runs in the foreground, Ctrl-C, Ctrl-\ and Ctrl-Z in it must not kill or stop
/// rollpilot (same process group): route those signals to handlers that ignore them. Once
/// installed they stay for the life of the process (tokio cannot uninstall them).
fn ignore_job_signals() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let kinds = [SignalKind::interrupt(), SignalKind::quit(), SignalKind::from_raw(libc::SIGTSTP)];
        for k in kinds {
            let _guard = handle.enter();
            if let Ok(mut s) = signal(k) {
                handle.spawn(async move { while s.recv().await.is_some() {} });
            }
        }
    });
}
