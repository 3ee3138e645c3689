//! One operator at a time, across machines: the lock is an atomic `mkdir` of a directory on a
//! host of the cluster (`[lock] host`/`path`), holding who took it, from where, since when, and
//! until when its lease runs. Times come from the lock host's clock, so laptops with skewed
//! clocks agree. A local file lock would let two laptops drive one cluster.

use crate::model::{Cluster, shell_quote};
use crate::transport::{RemoteCommand, Transport, TransportError};
use serde::Serialize;
use std::time::Duration;

/// Who holds the lock.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct LockInfo {
    /// Random token proving ownership.
    pub token: String,
    /// Operator name ($USER or --operator).
    pub operator: String,
    /// Machine rollpilot runs on.
    pub machine: String,
    /// Its process id there.
    pub pid: u32,
    /// The run id.
    pub run: String,
    /// When it was taken (seconds since the epoch, lock host clock).
    pub since: i64,
    /// When the lease ends unless renewed.
    pub lease_until: i64,
}

impl LockInfo {
    fn parse(text: &str) -> Option<LockInfo> {
        let mut i = LockInfo::default();
        for l in text.lines() {
            let Some((k, v)) = l.split_once('=') else { continue };
            let v = v.trim().to_string();
            match k.trim() {
                "token" => i.token = v,
                "operator" => i.operator = v,
                "machine" => i.machine = v,
                "pid" => i.pid = v.parse().unwrap_or(0),
                "run" => i.run = v,
                "since" => i.since = v.parse().unwrap_or(0),
                "lease_until" => i.lease_until = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        (!i.token.is_empty()).then_some(i)
    }

    /// "alice on laptop-7 (pid 4242), since 01:12:03 UTC, run 2026..." for messages.
    pub fn describe(&self) -> String {
        let since = jiff::Timestamp::from_second(self.since)
            .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|_| "?".into());
        format!("{} on {} (pid {}), since {since}, run {}", self.operator, self.machine, self.pid, self.run)
    }
}

/// The outcome of trying to take the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquire {
    /// It is ours.
    Acquired,
    /// Someone holds it; `stale` when its lease ran out `expired_for` seconds ago.
    Held {
        /// The holder (None while its owner file is being written).
        holder: Option<LockInfo>,
        /// The lease has run out.
        stale: bool,
        /// The lock host's clock.
        now: i64,
    },
}

/// Sanitizes a value for the owner file (one line, no `=` games, no shell meaning).
pub fn clean(s: &str) -> String {
    let c: String = s.chars().filter(|c| c.is_ascii_alphanumeric() || "._-@".contains(*c)).take(64).collect();
    if c.is_empty() { "unknown".into() } else { c }
}

/// The lock directory and the node holding it.
struct Where<'a> {
    node: &'a crate::model::Node,
    dir: String,
    lease: u64,
}

fn locate(cluster: &Cluster) -> Result<Where<'_>, TransportError> {
    let (_, node) = cluster.node(&cluster.lock.node).ok_or_else(|| TransportError::Local {
        host: cluster.lock.node.clone(),
        detail: "the lock host is not in the cluster".into(),
    })?;
    Ok(Where { node, dir: format!("\"{}\"", cluster.lock.path), lease: cluster.lock.lease.as_secs().max(10) })
}

async fn sh(t: &dyn Transport, w: &Where<'_>, script: String) -> Result<String, TransportError> {
    let out = t.run(w.node, &RemoteCommand::new(script, Duration::from_secs(30))).await?;
    Ok(out.stdout)
}

fn owner_lines(info: &LockInfo) -> String {
    format!(
        "printf 'token=%s\\noperator=%s\\nmachine=%s\\npid=%s\\nrun=%s\\nsince=%s\\nlease_until=%s\\n' {} {} {} {} {} \"$now\" \"$((now+lease))\"",
        shell_quote(&clean(&info.token)),
        shell_quote(&clean(&info.operator)),
        shell_quote(&clean(&info.machine)),
        info.pid,
        shell_quote(&clean(&info.run)),
    )
}

/// Tries to take the lock for `info` (whose `since`/`lease_until` are filled in by the host).
pub async fn acquire(t: &dyn Transport, cluster: &Cluster, info: &LockInfo) -> Result<Acquire, TransportError> {
    let w = locate(cluster)?;
    let script = format!(
        "d={dir}; now=$(date +%s); lease={lease}\n\
         mkdir -p \"$(dirname \"$d\")\" 2>/dev/null\n\
         if mkdir \"$d\" 2>/dev/null; then {owner} >\"$d/owner.tmp\" && mv \"$d/owner.tmp\" \"$d/owner\" && echo 'rp-lock: acquired'; \
         else echo 'rp-lock: held'; echo \"now=$now\"; cat \"$d/owner\" 2>/dev/null; fi\n",
        dir = w.dir,
        lease = w.lease,
        owner = owner_lines(info)
    );
    let out = sh(t, &w, script).await?;
    if out.contains("rp-lock: acquired") {
        return Ok(Acquire::Acquired);
    }
    if !out.contains("rp-lock: held") {
        return Err(TransportError::Local {
            host: w.node.name.clone(),
            detail: format!(
                "could not create the lock directory {}: {}",
                cluster.lock.path,
                crate::transport::tail(&out, 200)
            ),
        });
    }
    let now = out.lines().find_map(|l| l.strip_prefix("now=")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    let holder = LockInfo::parse(&out);
    let stale = holder.as_ref().is_some_and(|h| h.lease_until < now);
    Ok(Acquire::Held { holder, stale, now })
}

/// Reads the lock without taking it (observer mode), with the lock host's clock to judge the
/// lease.
pub async fn peek_with_time(t: &dyn Transport, cluster: &Cluster) -> Result<(Option<LockInfo>, i64), TransportError> {
    let w = locate(cluster)?;
    let out =
        sh(t, &w, format!("d={}; echo \"now=$(date +%s)\"; cat \"$d/owner\" 2>/dev/null; exit 0\n", w.dir)).await?;
    let now = out.lines().find_map(|l| l.strip_prefix("now=")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    Ok((LockInfo::parse(&out), now))
}

/// Extends our lease; `false` when the lock is no longer ours (broken by someone else). Each
/// renewal writes its own temporary file (`owner.tmp.PID`): the background renewal and the one
/// made before a step may overlap, and a shared one could be truncated by the other renewal just
/// as it is moved into place, leaving an owner file without our token (a lock seen as lost).
pub async fn renew(t: &dyn Transport, cluster: &Cluster, token: &str) -> Result<bool, TransportError> {
    let w = locate(cluster)?;
    let script = format!(
        "d={dir}; now=$(date +%s); lease={lease}\n\
         if grep -qx {tok} \"$d/owner\" 2>/dev/null; then sed \"s/^lease_until=.*/lease_until=$((now+lease))/\" \"$d/owner\" >\"$d/owner.tmp.$$\" && mv \"$d/owner.tmp.$$\" \"$d/owner\" && echo 'rp-lock: renewed'; else echo 'rp-lock: lost'; fi\n",
        dir = w.dir,
        lease = w.lease,
        tok = shell_quote(&format!("token={}", clean(token)))
    );
    Ok(sh(t, &w, script).await?.contains("rp-lock: renewed"))
}

/// Gives the lock back if it is still ours.
pub async fn release(t: &dyn Transport, cluster: &Cluster, token: &str) -> Result<(), TransportError> {
    let w = locate(cluster)?;
    let script = format!(
        "d={}; if grep -qx {} \"$d/owner\" 2>/dev/null; then rm -rf \"$d\"; fi; exit 0\n",
        w.dir,
        shell_quote(&format!("token={}", clean(token)))
    );
    sh(t, &w, script).await.map(|_| ())
}

/// Removes a lock held by `holder_token` (after a typed confirmation), then takes it.
pub async fn break_and_acquire(
    t: &dyn Transport,
    cluster: &Cluster,
    holder_token: &str,
    info: &LockInfo,
) -> Result<Acquire, TransportError> {
    let w = locate(cluster)?;
    let script = format!(
        "d={}; if grep -qx {} \"$d/owner\" 2>/dev/null; then mv \"$d\" \"$d.broken.$$\" && rm -rf \"$d.broken.$$\"; fi; exit 0\n",
        w.dir,
        shell_quote(&format!("token={}", clean(holder_token)))
    );
    sh(t, &w, script).await?;
    acquire(t, cluster, info).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_file_round_trip_and_cleaning() {
        let i =
            LockInfo::parse("token=abc\noperator=alice\nmachine=lap-7\npid=42\nrun=r1\nsince=100\nlease_until=220\n")
                .unwrap();
        assert_eq!((i.operator.as_str(), i.pid, i.lease_until), ("alice", 42, 220));
        assert_eq!(clean("bob; rm -rf /"), "bobrm-rf");
        assert!(LockInfo::parse("garbage").is_none());
        assert!(i.describe().starts_with("alice on lap-7 (pid 42), since 1970-01-01 00:01:40 UTC"));
    }

    #[tokio::test]
    async fn overlapping_renewals_all_keep_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("lock");
        let text = format!(
            "[cluster]\nname = \"t\"\ntarget = \"1.0.0\"\nprofile = \"any-order\"\ntransport = \"local\"\n[lock]\npath = \"{}\"\n[kinds.node]\nversion = \"echo 1.0.0\"\ninstall = \"true\"\n[[groups]]\nname = \"g\"\ntype = \"peer\"\nkind = \"node\"\nhosts = [\"a\"]\n",
            lock.display()
        );
        let cluster = crate::config::parse_str(&text, "t.toml", dir.path()).unwrap();
        let t = crate::transport::local::LocalTransport::new();
        let info = LockInfo {
            token: "tok1".into(),
            operator: "alice".into(),
            machine: "m".into(),
            pid: 1,
            run: "r".into(),
            since: 0,
            lease_until: 0,
        };
        assert!(matches!(acquire(&t, &cluster, &info).await.unwrap(), Acquire::Acquired));
        let renewals = (0..24).map(|_| renew(&t, &cluster, "tok1"));
        let results = futures_util::future::join_all(renewals).await;
        assert!(results.iter().all(|r| matches!(r, Ok(true))), "{results:?}");
        let owner = std::fs::read_to_string(lock.join("owner")).unwrap();
        assert_eq!(LockInfo::parse(&owner).map(|i| i.token).as_deref(), Some("tok1"), "{owner}");
    }
}
