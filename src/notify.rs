//! `[notify]`: a local command told when a run needs a human (a decision waits), when a step
//! fails and when the run ends, so an operator away from the screen during a long maintenance
//! window hears about it in chat or a pager. Both faces feed it the executor's events.
//!
//! The command runs with `sh -c` on this machine, one at a time and in event order, with one
//! JSON object (and a newline) on stdin. Its stdout and stderr go to `notify.log` in the log
//! directory, never to the terminal (the TUI owns it). Each run is killed after the configured
//! timeout: a hung hook must never hold a run or its exit up.

use crate::model::NotifySpec;
use crate::run::events::{Event, RunEnd};
use crate::run::journal::Outcome;
use serde::Serialize;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What the hook is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The executor waits for a decision.
    DecisionNeeded,
    /// A step's command failed, timed out or was lost.
    Failure,
    /// The run ended (any way).
    Done,
}

/// The object written to the command's stdin.
#[derive(Debug, Serialize)]
struct Message<'a> {
    /// What happened, as one word.
    kind: Kind,
    /// The cluster.
    cluster: &'a str,
    /// When (UTC).
    at: String,
    /// One sentence a chat can show as is.
    text: String,
    /// The executor's event, as the headless `--json` face prints it.
    event: &'a Event,
}

/// Which events the hook hears of, and its sentence for each; `None` for the others.
pub fn classify(cluster: &str, e: &Event) -> Option<(Kind, String)> {
    match e {
        Event::Ask(q) => Some((Kind::DecisionNeeded, format!("{cluster}: decision needed: {}", q.title))),
        Event::StepFinished { step, outcome, exit } if *outcome != Outcome::Ok => {
            let code = exit.map(|c| format!(" (exit {c})")).unwrap_or_default();
            Some((Kind::Failure, format!("{cluster}: {step} {}{code}", outcome_word(*outcome))))
        }
        Event::Finished { end, message } => {
            let kind = if *end == RunEnd::Failed { Kind::Failure } else { Kind::Done };
            Some((kind, format!("{cluster}: run finished ({}): {message}", end.as_str())))
        }
        _ => None,
    }
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Ok => "ran",
        Outcome::Failed => "failed",
        Outcome::TimedOut => "timed out",
        Outcome::Lost => "was lost",
        Outcome::NotStarted => "never started",
    }
}

/// The running hook: events go in, the command runs for each one that matters.
pub struct Notifier {
    tx: Option<mpsc::UnboundedSender<String>>,
    task: Option<JoinHandle<()>>,
    cluster: String,
}

impl Notifier {
    /// Starts the hook for `spec`; its output goes to `log` (appended).
    pub fn start(spec: NotifySpec, cluster: &str, log: PathBuf) -> Notifier {
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let task = tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                run_once(&spec, &line, &log).await;
            }
        });
        Notifier { tx: Some(tx), task: Some(task), cluster: cluster.to_string() }
    }

    /// A notifier that does nothing (no `[notify]` in the config).
    pub fn none() -> Notifier {
        Notifier { tx: None, task: None, cluster: String::new() }
    }

    /// For every event the face sees: queues the hook when the event matters.
    pub fn event(&self, e: &Event) {
        let Some(tx) = &self.tx else { return };
        let Some((kind, text)) = classify(&self.cluster, e) else { return };
        let msg = Message { kind, cluster: &self.cluster, at: jiff::Timestamp::now().to_string(), text, event: e };
        match serde_json::to_string(&msg) {
            Ok(line) => {
                let _ = tx.send(line);
            }
            Err(err) => tracing::warn!("notify: cannot encode the event: {err}"),
        }
    }

    /// Waits until every queued hook ran (each bounded by the timeout).
    pub async fn finish(mut self) {
        drop(self.tx.take());
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

/// Runs the command once with `line` on stdin, output appended to `log`, killed at the timeout.
async fn run_once(spec: &NotifySpec, line: &str, log: &std::path::Path) {
    let out = log
        .parent()
        .map(std::fs::create_dir_all)
        .transpose()
        .and_then(|_| std::fs::OpenOptions::new().create(true).append(true).open(log));
    let (stdout, stderr) = match out.and_then(|f| Ok((f.try_clone()?, f))) {
        Ok((a, b)) => (Stdio::from(a), Stdio::from(b)),
        Err(e) => {
            tracing::warn!("notify: cannot open {}: {e}; the hook's output is dropped", log.display());
            (Stdio::null(), Stdio::null())
        }
    };
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(&spec.command)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(stderr)
        // Its own process group: a Ctrl-C meant for rollpilot does not reach the hook, and the
        // hook cannot read the terminal.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("notify: cannot run `{}`: {e}", spec.command);
            return;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        // A hook that does not read its input is allowed; the write is bounded like the run.
        let _ = tokio::time::timeout(spec.timeout, stdin.write_all(&bytes)).await;
    }
    match tokio::time::timeout(spec.timeout, child.wait()).await {
        Ok(Ok(st)) if st.success() => {}
        Ok(Ok(st)) => tracing::warn!("notify: `{}` ended with {st}", spec.command),
        Ok(Err(e)) => tracing::warn!("notify: `{}`: {e}", spec.command),
        Err(_) => {
            let _ = child.kill().await;
            tracing::warn!("notify: `{}` did not end within {:?}; killed", spec.command, spec.timeout);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_hung_hook_is_killed_at_its_timeout_and_never_holds_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let spec = NotifySpec { command: "sleep 600".into(), timeout: Duration::from_millis(200) };
        let n = Notifier::start(spec, "c", dir.path().join("notify.log"));
        n.event(&Event::Finished { end: RunEnd::Done, message: "done".into() });
        // Output and progress events are not for the hook.
        n.event(&Event::Progress { done: 1, total: 2, why: None });
        let t = std::time::Instant::now();
        tokio::time::timeout(Duration::from_secs(60), n.finish()).await.unwrap();
        assert!(t.elapsed() < Duration::from_secs(60));
        assert!(classify("c", &Event::Progress { done: 1, total: 2, why: None }).is_none());
        let (k, text) =
            classify("c", &Event::StepFinished { step: "s".into(), outcome: Outcome::Failed, exit: Some(2) }).unwrap();
        assert_eq!((k, text.as_str()), (Kind::Failure, "c: s failed (exit 2)"));
    }
}
