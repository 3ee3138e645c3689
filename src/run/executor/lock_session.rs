//! The operator lock for the length of a run: taking it (or taking back our own interrupted
//! run's), renewing its lease in the background, and **fencing**: before every remote action the
//! executor confirms on the lock host that the lock still carries its token (the token is unique
//! to one acquisition, so it is the lock's fencing token). A driver whose lock was broken while it
//! was cut off therefore cannot act after it reconnects; one that cannot reach the lock host
//! waits, visibly, and starts nothing. Breaking an expired lock needs the lease to be expired by
//! a margin and names the holder; the broken run's in-flight jobs are adopted (re-attached),
//! never started again.

use super::questions::choice;
use super::{Exec, Flow, Res};
use crate::plan::Level;
use crate::run::events::*;
use crate::run::journal::DecisionRecord;
use crate::run::lock::{self, Acquire, LockInfo};
use std::time::Duration;
use tokio::sync::watch;

/// The lock as the run holds it.
pub(crate) struct LockSession {
    /// Who we are in the lock's owner file; the token is our fencing token.
    pub info: LockInfo,
    /// We hold it (so we release it at the end).
    pub locked: bool,
    renewer: Option<tokio::task::JoinHandle<()>>,
    lost: watch::Receiver<bool>,
    /// What we took over from someone else, for the journal and the report.
    pub took_over: Option<String>,
    /// A fencing check found the lock no longer ours.
    pub found_lost: bool,
    /// When a renewal made while the step loop looked at the cluster confirmed the lock (see
    /// [`Exec::fence`]); taken by the next fence.
    pub confirmed: Option<tokio::time::Instant>,
}

/// The outcome of taking the lock.
pub(crate) enum Taken {
    /// It is ours; `adopt` names a broken run whose jobs may still run on the hosts.
    Yes { adopt: Option<String> },
    /// The run cannot start: why.
    No(RunEnd, String),
}

impl LockSession {
    pub fn new(info: LockInfo) -> Self {
        LockSession {
            info,
            locked: false,
            renewer: None,
            lost: watch::channel(false).1,
            took_over: None,
            found_lost: false,
            confirmed: None,
        }
    }

    /// The lock was taken over by someone else: nothing more may be done.
    pub fn lost(&self) -> bool {
        *self.lost.borrow() || self.found_lost
    }
}

/// How recent a confirmation of the lock must be for a fence to rely on it instead of asking the
/// lock host again: a tenth of the lease, at most 5 s. A lease just renewed cannot be broken by
/// another driver before it has expired by [`break_margin`], so this is far inside what the
/// renewal proves; the bound keeps the check close to the command all the same.
pub fn confirmation_reuse(lease: Duration) -> Duration {
    (lease / 10).min(Duration::from_secs(5))
}

/// How long a lease must have been expired before rollpilot offers to break it: half a lease
/// (at least 5 s), so a driver that was only slow to renew has its chance to notice first.
pub fn break_margin(lease: Duration) -> i64 {
    (lease.as_secs() as i64 / 2).max(5)
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

impl Exec {
    pub(super) async fn take_lock(&mut self) -> Res<Taken> {
        let margin = break_margin(self.cluster.lock.lease);
        for _attempt in 0..5 {
            let r = lock::acquire(self.transport.as_ref(), &self.cluster, &self.lock.info).await;
            let (holder, stale, now) = match r {
                Ok(Acquire::Acquired) => {
                    self.lock.locked = true;
                    return Ok(Taken::Yes { adopt: None });
                }
                Ok(Acquire::Held { holder, stale, now }) => (holder, stale, now),
                Err(e) => {
                    return Ok(Taken::No(
                        RunEnd::Unreachable,
                        format!("cannot reach the lock host {}: {e}", self.cluster.lock.node),
                    ));
                }
            };
            let Some(h) = holder else {
                return Ok(Taken::No(
                    RunEnd::Locked,
                    format!(
                        "the lock {} on {} is being taken by someone else right now; try again in a moment",
                        self.cluster.lock.path, self.cluster.lock.node
                    ),
                ));
            };
            let same_machine = h.machine == lock::clean(&self.cfg.machine);
            let holder_dead = same_machine && !pid_alive(h.pid);
            // Our own interrupted run, whose process is gone: take it back.
            if holder_dead && self.cfg.resume.as_ref().is_some_and(|r| r.run == h.run) {
                if let Ok(Acquire::Acquired) =
                    lock::break_and_acquire(self.transport.as_ref(), &self.cluster, &h.token, &self.lock.info).await
                {
                    self.lock.locked = true;
                    let text =
                        format!("took back the lock of interrupted run {} (its process {} is gone)", h.run, h.pid);
                    self.note(Level::Info, text.clone());
                    self.lock.took_over = Some(text);
                    return Ok(Taken::Yes { adopt: None });
                }
                continue;
            }
            // Left behind by our own run that has ended since (abandoned, or it ended without
            // releasing the lock): nothing can still act under it.
            let holder_ended = holder_dead && {
                let j = super::journal_path(&self.cfg.state_dir, &self.cluster.name, &h.run);
                crate::run::journal::read(&j)
                    .ok()
                    .is_some_and(|es| crate::run::journal::RunState::replay(&es).finished.is_some())
            };
            // Taken by our own run that died before its journal held a start record (it was
            // killed between taking the lock and writing that record): nothing was done under
            // it, so there is nothing to resume; were its journal elsewhere, its jobs are adopted.
            let never_started = holder_dead && !holder_ended && {
                let j = super::journal_path(&self.cfg.state_dir, &self.cluster.name, &h.run);
                match crate::run::journal::read(&j) {
                    Ok(es) => crate::run::journal::RunState::replay(&es).started_at.is_none(),
                    Err(_) => !j.exists(),
                }
            };
            if never_started && self.cfg.resume.as_ref().is_none_or(|r| r.run != h.run) {
                if let Ok(Acquire::Acquired) =
                    lock::break_and_acquire(self.transport.as_ref(), &self.cluster, &h.token, &self.lock.info).await
                {
                    self.lock.locked = true;
                    let text = format!(
                        "took over the lock left by run {} of this machine, which stopped before it started (its process {} is gone)",
                        h.run, h.pid
                    );
                    self.note(Level::Info, text.clone());
                    self.lock.took_over = Some(text);
                    return Ok(Taken::Yes { adopt: (h.run != self.run).then(|| h.run.clone()) });
                }
                continue;
            }
            if holder_ended {
                if let Ok(Acquire::Acquired) =
                    lock::break_and_acquire(self.transport.as_ref(), &self.cluster, &h.token, &self.lock.info).await
                {
                    self.lock.locked = true;
                    let text = format!("took over the lock left by run {} of this machine, which has ended", h.run);
                    self.note(Level::Info, text.clone());
                    self.lock.took_over = Some(text);
                    return Ok(Taken::Yes { adopt: None });
                }
                continue;
            }
            if holder_dead {
                return Ok(Taken::No(
                    RunEnd::Locked,
                    format!(
                        "the lock of {} is held by your own interrupted run {} (its process {} on this machine is gone); continue that run with `{}` (it re-attaches to anything still running), or start over with `rollpilot upgrade … --abandon-previous={}`",
                        self.cluster.name, h.run, h.pid, self.cfg.resume_command, self.cluster.name
                    ),
                ));
            }
            if !stale {
                return Ok(Taken::No(
                    RunEnd::Locked,
                    format!(
                        "another operator drives {}: {} — lease renewed until {}s from now. Use `rollpilot status` to watch; the TUI opens read-only (observer mode)",
                        self.cluster.name,
                        h.describe(),
                        (h.lease_until - now).max(0)
                    ),
                ));
            }
            let expired_for = now - h.lease_until;
            if expired_for < margin {
                return Ok(Taken::No(
                    RunEnd::Locked,
                    format!(
                        "the lease of {} ran out only {expired_for}s ago; rollpilot breaks a lock once it has been expired for {margin}s, so a driver that is only slow can notice first. Try again in {}s",
                        h.describe(),
                        margin - expired_for
                    ),
                ));
            }
            let q = self.question(
                "lock",
                QuestionKind::StaleLock,
                format!("The lock of {} has expired", self.cluster.name),
                vec![
                    format!("Held by {}.", h.describe()),
                    format!(
                        "Its lease ran out {expired_for}s ago: that rollpilot stopped renewing it (crashed, or lost its connection). Once broken, that driver can no longer act: every step checks the lock first."
                    ),
                    format!(
                        "Jobs its run {} left running on the hosts are re-attached and followed to their end, never started again.",
                        h.run
                    ),
                    "Break it only if you are sure that operator is not driving this cluster any more.".into(),
                ],
                vec![
                    choice(Answer::Abort, "Leave it", "exit without touching anything", false),
                    choice(Answer::BreakLock, "Break the lock", "remove their lock and take it (type the cluster name)", true),
                ],
            );
            match self.ask(q).await?.0 {
                Answer::BreakLock => {
                    self.decided("lock", DecisionRecord::BreakLock, Some(self.cluster.name.clone()));
                    if let Ok(Acquire::Acquired) =
                        lock::break_and_acquire(self.transport.as_ref(), &self.cluster, &h.token, &self.lock.info).await
                    {
                        self.lock.locked = true;
                        let text = format!("broke the expired lock of {}", h.describe());
                        self.note(Level::Warning, text.clone());
                        self.lock.took_over = Some(text);
                        let adopt = (h.run != self.run).then(|| h.run.clone());
                        return Ok(Taken::Yes { adopt });
                    }
                    continue;
                }
                _ => {
                    return Ok(Taken::No(
                        RunEnd::Locked,
                        format!("left the expired lock of {} in place", h.describe()),
                    ));
                }
            }
        }
        Ok(Taken::No(
            RunEnd::Locked,
            format!(
                "could not take the lock {} on {} after 5 attempts (it keeps changing hands); try again",
                self.cluster.lock.path, self.cluster.lock.node
            ),
        ))
    }

    /// Keeps the lease alive every third of it until the run ends; a renewal that finds the lock
    /// no longer ours raises `lost`.
    pub(super) fn start_renewer(&mut self) {
        let (tx, rx) = watch::channel(false);
        self.lock.lost = rx;
        let (t, c, token) = (self.transport.clone(), self.cluster.clone(), self.lock.info.token.clone());
        let every = (c.lock.lease / 3).max(Duration::from_secs(1));
        self.lock.renewer = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match lock::renew(t.as_ref(), &c, &token).await {
                    Ok(true) => {}
                    Ok(false) => {
                        let _ = tx.send(true);
                        break;
                    }
                    Err(e) => tracing::warn!("could not renew the lock on {}: {e}", c.lock.node),
                }
            }
        }));
    }

    /// The lock was taken over: the run ends here, touching nothing.
    pub(super) fn lock_check(&mut self) -> Flow {
        if self.lock.lost() {
            let (e, m) = self.lost_lock_end();
            return Flow::End(e, m);
        }
        Flow::Next
    }

    /// How a run whose lock was broken ends, wherever it noticed (a wait, a fence, a renewal):
    /// aborted (exit 1), not interrupted, and without a `resume` hint, since the lock is someone
    /// else's now.
    pub(super) fn lost_lock_end(&mut self) -> (RunEnd, String) {
        self.lock.locked = false;
        (
            RunEnd::Aborted,
            format!(
                "the operator lock on {} is no longer ours (someone broke it while this run could not renew it); nothing more was started, the cluster is left as it is: see `rollpilot status` and who holds the lock",
                self.cluster.lock.node
            ),
        )
    }

    /// Fencing before a remote action: confirms on the lock host that the lock still carries our
    /// token (and extends the lease). A lock broken by someone else ends the run; a lock host
    /// that cannot be reached makes the run wait, visibly, starting nothing. `None`: go ahead.
    ///
    /// The step loop renews the lease while it probes the nodes it plans from
    /// ([`Exec::confirm_lock_while`]); a fence right after that (within
    /// [`confirmation_reuse`]) relies on that renewal instead of another round trip.
    pub(super) async fn fence(&mut self, before: &str) -> Res<Option<Flow>> {
        if let Some(at) = self.lock.confirmed.take()
            && at.elapsed() < confirmation_reuse(self.cluster.lock.lease)
            && !self.lock.lost()
        {
            return Ok(None);
        }
        let mut said = false;
        let mut deadline = tokio::time::Instant::now() + self.cluster.timeouts.gate;
        loop {
            if let Flow::End(e, m) = self.lock_check() {
                return Ok(Some(Flow::End(e, m)));
            }
            match lock::renew(self.transport.as_ref(), &self.cluster, &self.lock.info.token).await {
                Ok(true) => {
                    if said {
                        self.note(Level::Info, format!("the lock is confirmed again; going on with {before}"));
                    }
                    return Ok(None);
                }
                Ok(false) => {
                    self.lock.locked = false;
                    self.lock.found_lost = true;
                    let text = format!(
                        "the operator lock on {} is no longer ours (someone broke it while this run could not renew it); {before} was NOT started",
                        self.cluster.lock.node
                    );
                    self.record(crate::run::journal::Record::Note { text: text.clone() });
                    return Ok(Some(Flow::End(
                        RunEnd::Aborted,
                        format!("{text}; the cluster is left as it is: see `rollpilot status` and who holds the lock"),
                    )));
                }
                Err(e) => {
                    if !said {
                        self.note(
                            Level::Warning,
                            format!(
                                "cannot confirm the operator lock on {} before {before}: {e}; nothing is started until the lock host answers",
                                self.cluster.lock.node
                            ),
                        );
                        said = true;
                    }
                    let now = tokio::time::Instant::now();
                    if now >= deadline {
                        // Waiting forever helps nobody at 2 a.m.: ask, as for any gate.
                        let q = self.question(
                            before,
                            QuestionKind::Failure,
                            format!("The lock host {} does not answer", self.cluster.lock.node),
                            vec![
                                format!("{before} waits until the lock host confirms this run still holds the lock: {e}"),
                                "Nothing is started without that confirmation, so a driver that lost its lock cannot act (fencing).".into(),
                            ],
                            vec![
                                choice(Answer::Abort, "Abort", "stop here; the cluster is left as it is, resume later", false),
                                choice(
                                    Answer::KeepWaiting,
                                    "Keep waiting",
                                    "wait another gate timeout for the lock host",
                                    false,
                                ),
                            ],
                        );
                        match self.ask(q).await?.0 {
                            Answer::KeepWaiting => {
                                self.decided(before, DecisionRecord::KeepWaiting, None);
                                deadline = tokio::time::Instant::now() + self.cluster.timeouts.gate;
                            }
                            _ => {
                                if !self.interrupt {
                                    self.decided(before, DecisionRecord::Abort, None);
                                }
                                return Ok(Some(Flow::End(
                                    RunEnd::Aborted,
                                    self.resume_hint(&format!(
                                        "stopped before {before}: the lock host {} did not answer",
                                        self.cluster.lock.node
                                    )),
                                )));
                            }
                        }
                        continue;
                    }
                    self.emit(Event::Waiting {
                        step: before.to_string(),
                        what: "the lock host confirms this run still holds the lock".into(),
                        blocker: e.to_string(),
                        remaining: deadline - now,
                    });
                    if let Some(node) = self.cluster.node(&self.cluster.lock.node).map(|(_, n)| n.clone()) {
                        self.transport.forget(&node).await;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    self.poll_commands();
                    if self.interrupt {
                        return Ok(Some(Flow::End(RunEnd::Interrupted, self.resume_hint("interrupted"))));
                    }
                }
            }
        }
    }

    /// Runs `work` (the step loop's probes) while the lock host renews our lease, so the fence
    /// before the step's command needs no round trip of its own. A renewal that fails or finds
    /// the lock lost confirms nothing: the fence then asks the lock host itself and handles it.
    pub(super) async fn confirm_lock_while<T>(&mut self, work: impl std::future::Future<Output = T>) -> T {
        self.lock.confirmed = None;
        let (t, c, token) = (self.transport.clone(), self.cluster.clone(), self.lock.info.token.clone());
        let renew = async move {
            let at = tokio::time::Instant::now();
            (at, lock::renew(t.as_ref(), &c, &token).await)
        };
        let (out, (at, renewed)) = tokio::join!(work, renew);
        if matches!(renewed, Ok(true)) {
            self.lock.confirmed = Some(at);
        }
        out
    }

    /// Stops the renewer and gives the lock back if it is still ours.
    pub(super) async fn release_lock(&mut self) {
        if let Some(r) = self.lock.renewer.take() {
            r.abort();
        }
        if self.lock.locked
            && let Err(e) = lock::release(self.transport.as_ref(), &self.cluster, &self.lock.info.token).await
        {
            self.note(
                Level::Warning,
                format!(
                    "could not release the lock on {}: {e}; it expires by itself after its lease",
                    self.cluster.lock.node
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{break_margin, confirmation_reuse};
    use std::time::Duration;

    #[test]
    fn a_fresh_confirmation_is_relied_on_only_briefly_and_well_inside_the_break_margin() {
        assert_eq!(confirmation_reuse(Duration::from_secs(120)), Duration::from_secs(5));
        assert_eq!(confirmation_reuse(Duration::from_secs(20)), Duration::from_secs(2));
        for lease in [1, 10, 120, 3600] {
            let lease = Duration::from_secs(lease);
            assert!(confirmation_reuse(lease) < Duration::from_secs(break_margin(lease) as u64));
        }
    }
}
