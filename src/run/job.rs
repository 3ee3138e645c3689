//! Steps run detached on the host, so a dropped connection (or a killed rollpilot) does not kill
//! them: `setsid nohup` in a run-specific directory holding the command, its pid, its output and
//! its exit status (written atomically). Starting is idempotent — a second start of the same job
//! only reports that it exists — which is what makes re-attaching safe: a step is never re-run
//! because rollpilot lost track of it. (The cstar model; a killed ssh client with a pty kills its
//! command, one with `setsid nohup` does not — verified in reference/sshd-loopback-lab.sh.)

use crate::model::{Node, shell_quote};
use crate::transport::{RemoteCommand, Transport, TransportError};
use std::time::Duration;

/// Where a job lives on its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobDir(pub String);

/// Writes an id with characters that are safe inside double quotes in a shell script, one to
/// one (two step ids never share a job directory): `/` becomes `_` (so `east/tc-east-1/stop`
/// reads `east_tc-east-1_stop`), and every other byte outside `[A-Za-z0-9.-]`, `_` and `%`
/// included, becomes `%HH`.
fn safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'/' => out.push('_'),
            b if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' => out.push(char::from(b)),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `<job_dir>/<run>`: where one run's jobs live on a host.
pub fn run_dir(job_dir: &str, run: &str) -> String {
    format!("{}/{}", job_dir.trim_end_matches('/'), safe(run))
}

/// The node a job of `run_dir` belongs to, from its directory name (`<group>_<node>_<action>-N`,
/// as [`JobDir::new`] names a step `group/node/action`): the longest matching node of `cluster`.
/// Hosts that share one job directory (a home on NFS, or the simulator's one filesystem) all
/// list every job, so a job must be followed on its own node, where its pid means something.
pub fn node_of<'a>(name: &str, cluster: &'a crate::model::Cluster) -> Option<&'a str> {
    cluster
        .groups
        .iter()
        .flat_map(|g| g.nodes.iter().map(move |n| (g, n)))
        .filter(|(g, n)| name.starts_with(&format!("{}_{}_", safe(&g.name), safe(&n.name))))
        .max_by_key(|(g, n)| g.name.len() + n.name.len())
        .map(|(_, n)| n.name.as_str())
}

impl JobDir {
    /// `<job_dir>/<run>/<step>-<attempt>`; `job_dir` is validated (plain path, maybe `$HOME/`),
    /// run and step ids are reduced to safe characters, so the path can sit inside double quotes.
    pub fn new(job_dir: &str, run: &str, step: &str, attempt: u32) -> Self {
        JobDir(format!("{}/{}-{attempt}", run_dir(job_dir, run), safe(step)))
    }

    fn q(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

/// What the host says about a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// No such job: it never started.
    Absent,
    /// Running; `out_size` bytes of output so far.
    Running,
    /// Finished with this exit status.
    Done(i32),
    /// Started, not running, no exit status: it was killed (host reboot, OOM...).
    Lost,
}

/// A poll: the state and the output written since `from` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPoll {
    /// Where the job is.
    pub state: JobState,
    /// Output bytes written so far in total.
    pub out_size: u64,
    /// New output since the requested offset (bounded, lossily decoded: not valid UTF-8 on the
    /// host becomes U+FFFD, so its length in bytes may differ from `new_bytes`).
    pub new_output: String,
    /// How many bytes of the host's output file `new_output` covers: what the offset advances by.
    pub new_bytes: u64,
}

/// The script that starts `command` detached in `workdir` (the kind's, validated; quoted here),
/// unless the job already exists. The job runs where the probes run, so a relative path in a
/// step command means the same as in the kind's probes; a missing workdir fails the step (exit
/// 97, like the probes) rather than running it somewhere else. It returns once the job wrote its
/// pid (checked every 10 ms, at most 5 s: the pid usually appears within a few milliseconds, and
/// a coarser wait cost a tenth of a second on every step).
pub fn start_script(dir: &JobDir, workdir: &str, command: &str) -> String {
    let d = dir.q();
    format!(
        "d={d}\n\
         mkdir -p \"$(dirname \"$d\")\" || exit 90\n\
         if ! mkdir \"$d\" 2>/dev/null; then echo 'rp-job: exists'; exit 0; fi\n\
         printf '%s\\n' {cmd} >\"$d/cmd\" || exit 91\n\
         S=; command -v setsid >/dev/null 2>&1 && S=setsid\n\
         $S nohup sh -c 'd=\"$1\"; echo $$ >\"$d/pid\"; if cd \"$2\" 2>\"$d/out\"; then sh \"$d/cmd\" >\"$d/out\" 2>&1 </dev/null; else echo \"rp-job: cannot cd to $2\" >>\"$d/out\"; (exit 97); fi; echo $? >\"$d/status.tmp\"; mv \"$d/status.tmp\" \"$d/status\"' rp-job \"$d\" {wd} >/dev/null 2>&1 </dev/null &\n\
         i=0; while [ ! -s \"$d/pid\" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done\n\
         echo 'rp-job: started'\n",
        cmd = shell_quote(command),
        wd = shell_quote(workdir)
    )
}

/// The script that starts `command` like [`start_script`] and then reports the job like
/// [`poll_script`] (from byte 0): one round trip instead of two. A job that ends within about
/// `settle_ms` (most stop/start commands) is reported finished, so its step needs no other
/// round trip to the host.
pub fn start_and_poll_script(dir: &JobDir, workdir: &str, command: &str, settle_ms: u32) -> String {
    let d = dir.q();
    format!(
        "d={d}\n\
         mkdir -p \"$(dirname \"$d\")\" || exit 90\n\
         if mkdir \"$d\" 2>/dev/null; then\n\
         printf '%s\\n' {cmd} >\"$d/cmd\" || exit 91\n\
         S=; command -v setsid >/dev/null 2>&1 && S=setsid\n\
         $S nohup sh -c 'd=\"$1\"; echo $$ >\"$d/pid\"; if cd \"$2\" 2>\"$d/out\"; then sh \"$d/cmd\" >\"$d/out\" 2>&1 </dev/null; else echo \"rp-job: cannot cd to $2\" >>\"$d/out\"; (exit 97); fi; echo $? >\"$d/status.tmp\"; mv \"$d/status.tmp\" \"$d/status\"' rp-job \"$d\" {wd} >/dev/null 2>&1 </dev/null &\n\
         i=0; while [ ! -s \"$d/pid\" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done\n\
         echo 'rp-job: started'\n\
         i=0; while [ ! -f \"$d/status\" ] && [ $i -lt {settle} ]; do sleep 0.01; i=$((i+1)); done\n\
         else echo 'rp-job: exists'; fi\n\
         {poll}",
        cmd = shell_quote(command),
        wd = shell_quote(workdir),
        settle = settle_ms / 10,
        poll = poll_script(dir, 0, POLL_MAX)
    )
}

/// Output bytes one poll brings back at most.
const POLL_MAX: usize = 64 * 1024;

/// The script that reports a job's state and its output from byte `from` on.
pub fn poll_script(dir: &JobDir, from: u64, max: usize) -> String {
    let d = dir.q();
    format!(
        "d={d}\n\
         if [ -f \"$d/status\" ]; then echo \"rp-state: done $(cat \"$d/status\")\";\n\
         elif [ -s \"$d/pid\" ] && kill -0 \"$(cat \"$d/pid\")\" 2>/dev/null; then echo 'rp-state: running';\n\
         elif [ -f \"$d/status\" ]; then echo \"rp-state: done $(cat \"$d/status\")\";\n\
         elif [ -d \"$d\" ]; then echo 'rp-state: lost';\n\
         else echo 'rp-state: absent'; fi\n\
         s=$(wc -c <\"$d/out\" 2>/dev/null || echo 0); s=$((s + 0))\n\
         echo \"rp-size: $s\"\n\
         n=$((s - {from})); [ $n -gt {max} ] && n={max}; [ $n -lt 0 ] && n=0\n\
         echo \"rp-chunk: $n\"\n\
         echo 'rp-out:'\n\
         [ $n -gt 0 ] && tail -c +{start} \"$d/out\" | head -c $n\n\
         exit 0\n",
        start = from + 1
    )
}

/// Parses the poll script's output.
pub fn parse_poll(out: &str) -> Option<JobPoll> {
    let (head, body) = out.split_once("rp-out:\n").unwrap_or((out, ""));
    let mut state = None;
    let mut size = 0;
    let mut chunk = None;
    for l in head.lines() {
        if let Some(s) = l.strip_prefix("rp-state: ") {
            state = Some(match s.trim() {
                "running" => JobState::Running,
                "lost" => JobState::Lost,
                "absent" => JobState::Absent,
                d => JobState::Done(d.strip_prefix("done ")?.trim().parse().ok()?),
            });
        } else if let Some(s) = l.strip_prefix("rp-size: ") {
            size = s.trim().parse().unwrap_or(0);
        } else if let Some(s) = l.strip_prefix("rp-chunk: ") {
            chunk = s.trim().parse().ok();
        }
    }
    // The byte count comes from the host: the decoded text may be longer (U+FFFD for bad bytes).
    let new_bytes = chunk.unwrap_or(body.len() as u64);
    Some(JobPoll { state: state?, out_size: size, new_output: body.to_string(), new_bytes })
}

/// Starts the job in `workdir` (or finds it already there).
pub async fn start(
    t: &dyn Transport,
    node: &Node,
    dir: &JobDir,
    workdir: &str,
    command: &str,
) -> Result<bool, TransportError> {
    let cmd = RemoteCommand::new(start_script(dir, workdir, command), Duration::from_secs(30));
    let out = t.run(node, &cmd).await?;
    if out.stdout.contains("rp-job: started") {
        Ok(true)
    } else if out.stdout.contains("rp-job: exists") {
        Ok(false)
    } else {
        Err(TransportError::Local {
            host: node.name.clone(),
            detail: format!(
                "could not start the step's job in {} (exit {}): {}",
                dir.0,
                out.status.map(|s| s.to_string()).unwrap_or_else(|| "signal".into()),
                crate::transport::tail(&out.stderr, 200)
            ),
        })
    }
}

/// Starts the job (or finds it already there) and polls it in the same round trip: whether it
/// was started now, and the poll (`None` when the poll part could not be read: poll again).
pub async fn start_and_poll(
    t: &dyn Transport,
    node: &Node,
    dir: &JobDir,
    workdir: &str,
    command: &str,
) -> Result<(bool, Option<JobPoll>), TransportError> {
    let cmd = RemoteCommand::new(start_and_poll_script(dir, workdir, command, 200), Duration::from_secs(30));
    let out = t.run(node, &cmd).await?;
    // Only the lines before the job's output say how the start went: the output is the step's.
    let head = out.stdout.split_once("rp-out:\n").map_or(out.stdout.as_str(), |(h, _)| h);
    let fresh = if head.lines().any(|l| l == "rp-job: started") {
        true
    } else if head.lines().any(|l| l == "rp-job: exists") {
        false
    } else {
        return Err(TransportError::Local {
            host: node.name.clone(),
            detail: format!(
                "could not start the step's job in {} (exit {}): {}",
                dir.0,
                out.status.map(|s| s.to_string()).unwrap_or_else(|| "signal".into()),
                crate::transport::tail(&out.stderr, 200)
            ),
        });
    };
    Ok((fresh, parse_poll(&out.stdout)))
}

/// Polls the job once.
pub async fn poll(t: &dyn Transport, node: &Node, dir: &JobDir, from: u64) -> Result<JobPoll, TransportError> {
    let cmd = RemoteCommand::new(poll_script(dir, from, POLL_MAX), Duration::from_secs(30));
    let out = t.run(node, &cmd).await?;
    parse_poll(&out.stdout).ok_or_else(|| TransportError::Local {
        host: node.name.clone(),
        detail: format!("unreadable job status from {}: {}", dir.0, crate::transport::tail(&out.stdout, 200)),
    })
}

/// The jobs one run left on a host, with their state: what a driver that broke that run's lock
/// must re-attach to rather than start again.
pub async fn list_run(
    t: &dyn Transport,
    node: &Node,
    job_dir: &str,
    run: &str,
) -> Result<Vec<(String, JobState)>, TransportError> {
    let script = format!(
        "b=\"{}\"; [ -d \"$b\" ] || exit 0\n\
         for d in \"$b\"/*; do [ -d \"$d\" ] || continue; n=${{d##*/}}\n\
         if [ -f \"$d/status\" ]; then echo \"rp-job $n done $(cat \"$d/status\")\";\n\
         elif [ -s \"$d/pid\" ] && kill -0 \"$(cat \"$d/pid\")\" 2>/dev/null; then echo \"rp-job $n running\";\n\
         else echo \"rp-job $n lost\"; fi; done; exit 0\n",
        run_dir(job_dir, run)
    );
    let out = t.run(node, &RemoteCommand::new(script, Duration::from_secs(30))).await?;
    Ok(out
        .stdout
        .lines()
        .filter_map(|l| {
            let mut w = l.strip_prefix("rp-job ")?.split_whitespace();
            let name = w.next()?.to_string();
            let state = match w.next()? {
                "running" => JobState::Running,
                "done" => JobState::Done(w.next()?.parse().ok()?),
                _ => JobState::Lost,
            };
            Some((name, state))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_directory_names_never_collide() {
        let a = JobDir::new("/jobs", "r1", "a/b_c", 1);
        let b = JobDir::new("/jobs", "r1", "a_b/c", 1);
        assert_ne!(a, b);
        assert_eq!(a.0, "/jobs/r1/a_b%5Fc-1");
        assert_eq!(b.0, "/jobs/r1/a%5Fb_c-1");
        // The usual ids read as before; anything unusual is escaped, `%` too.
        assert_eq!(safe("east/tc-east-1/stop"), "east_tc-east-1_stop");
        assert_ne!(safe("a%2Fb"), safe("a/b"));
        assert_ne!(safe("a b"), safe("a_b"));
        assert_eq!(safe("é\"$`"), "%C3%A9%22%24%60");
    }
    use crate::transport::local::run_local;
    use std::time::Instant;

    async fn sh(script: String) -> String {
        run_local("h", &RemoteCommand::new(script, Duration::from_secs(20))).await.unwrap().stdout
    }

    async fn wait_done(dir: &JobDir) -> JobPoll {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let p = parse_poll(&sh(poll_script(dir, 0, 1000)).await).unwrap();
            if matches!(p.state, JobState::Done(_)) || Instant::now() > deadline {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[test]
    fn a_job_belongs_to_the_node_its_step_names() {
        let c =
            crate::config::load(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config/terracotta.toml")))
                .unwrap();
        let g = &c.groups[0];
        let (a, b) = (&g.nodes[0].name, &g.nodes[1].name);
        let dir = JobDir::new("/j", "r", &format!("{}/{b}/stop", g.name), 1);
        let name = dir.0.rsplit('/').next().unwrap();
        assert_eq!(node_of(name, &c), Some(b.as_str()));
        assert_ne!(node_of(name, &c), Some(a.as_str()));
        assert_eq!(node_of("unrelated-1", &c), None);
    }

    #[tokio::test]
    async fn runs_detached_once_and_reports() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().to_str().unwrap().to_string();
        let dir = JobDir::new(&base, "run 1", "east/tc-1/install", 1);
        assert!(dir.0.ends_with("/run%201/east_tc-1_install-1"), "{}", dir.0);
        let counter = tmp.path().join("count");
        let cmd = format!("echo run >> {}; echo hello; echo oops >&2; exit 3", counter.display());
        assert!(sh(start_script(&dir, "/", &cmd)).await.contains("rp-job: started"));
        let p = wait_done(&dir).await;
        assert_eq!(p.state, JobState::Done(3));
        assert_eq!(p.new_output, "hello\noops\n");
        // Starting again never re-runs it.
        assert!(sh(start_script(&dir, "/", &cmd)).await.contains("rp-job: exists"));
        assert_eq!(std::fs::read_to_string(&counter).unwrap(), "run\n");
        // Output from an offset.
        let p = parse_poll(&sh(poll_script(&dir, 6, 1000)).await).unwrap();
        assert_eq!(p.new_output, "oops\n");
        assert_eq!(p.out_size, 11);
    }

    #[tokio::test]
    async fn start_and_poll_starts_once_and_reports_in_the_same_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = JobDir::new(tmp.path().to_str().unwrap(), "r", "g/n/stop", 1);
        let counter = tmp.path().join("count");
        // Output that looks like the start script's own lines does not fool the parser.
        let cmd = format!("echo run >> {}; echo 'rp-job: exists'; exit 4", counter.display());
        let t = crate::transport::local::LocalTransport::new();
        let node = crate::model::Node {
            name: "n".into(),
            address: "n".into(),
            user: None,
            port: None,
            declared_role: None,
            vars: Default::default(),
        };
        let (fresh, poll) = start_and_poll(&t, &node, &dir, "/", &cmd).await.unwrap();
        assert!(fresh);
        let poll = poll.unwrap();
        // The job may or may not have ended within the settle time; either way it was reported.
        assert!(matches!(poll.state, JobState::Running | JobState::Done(4)), "{poll:?}");
        assert_eq!(wait_done(&dir).await.state, JobState::Done(4));
        let (fresh, poll) = start_and_poll(&t, &node, &dir, "/", &cmd).await.unwrap();
        assert!(!fresh, "a second start finds the job");
        assert_eq!(poll.map(|p| (p.state, p.new_output)), Some((JobState::Done(4), "rp-job: exists\n".to_string())));
        assert_eq!(std::fs::read_to_string(&counter).unwrap(), "run\n");
    }

    #[tokio::test]
    async fn offsets_count_host_bytes_even_when_output_is_not_utf8() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = JobDir::new(tmp.path().to_str().unwrap(), "r", "bin", 1);
        // 3 invalid bytes, then "é" (2 bytes) cut by the first poll's bound of 4 bytes.
        assert!(sh(start_script(&dir, "/", r"printf '\377\376\375\303\251end'")).await.contains("started"));
        let done = wait_done(&dir).await;
        assert_eq!(done.out_size, 8);
        let first = parse_poll(&sh(poll_script(&dir, 0, 4)).await).unwrap();
        assert_eq!(first.new_bytes, 4, "{first:?}");
        assert!(first.new_output.len() > 4, "decoded text is longer than the bytes it came from");
        let rest = parse_poll(&sh(poll_script(&dir, first.new_bytes, 1000)).await).unwrap();
        assert_eq!(rest.new_bytes, 4);
        assert!(rest.new_output.ends_with("end"), "{rest:?}");
        let none = parse_poll(&sh(poll_script(&dir, 8, 1000)).await).unwrap();
        assert_eq!((none.new_bytes, none.new_output.as_str()), (0, ""));
    }

    #[tokio::test]
    async fn jobs_run_in_the_kinds_workdir_and_a_missing_one_fails_the_step() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("jobs");
        let work = tmp.path().join("kit dir");
        std::fs::create_dir(&work).unwrap();
        std::fs::write(work.join("marker"), "here\n").unwrap();
        let dir = JobDir::new(base.to_str().unwrap(), "r", "east/tc-1/install", 1);
        // A relative path in the step command resolves in the workdir, as it does in the probes.
        assert!(sh(start_script(&dir, work.to_str().unwrap(), "cat marker; pwd")).await.contains("started"));
        let p = wait_done(&dir).await;
        assert_eq!(p.state, JobState::Done(0), "{p:?}");
        assert_eq!(p.new_output, format!("here\n{}\n", work.display()));
        // A workdir that does not exist fails the step instead of running it elsewhere.
        let dir2 = JobDir::new(base.to_str().unwrap(), "r", "east/tc-1/start", 1);
        let gone = tmp.path().join("gone");
        assert!(sh(start_script(&dir2, gone.to_str().unwrap(), "touch ran")).await.contains("started"));
        let p = wait_done(&dir2).await;
        assert_eq!(p.state, JobState::Done(97), "{p:?}");
        assert!(p.new_output.contains("cannot cd to"), "{p:?}");
        assert!(!gone.join("ran").exists() && !std::path::Path::new("/ran").exists());
    }

    #[tokio::test]
    async fn absent_and_lost_jobs() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().to_str().unwrap().to_string();
        let dir = JobDir::new(&base, "r", "s", 1);
        assert_eq!(parse_poll(&sh(poll_script(&dir, 0, 10)).await).unwrap().state, JobState::Absent);
        // A job whose process was killed leaves no status: lost.
        assert!(sh(start_script(&dir, "/", "sleep 60")).await.contains("started"));
        let pid: i32 = std::fs::read_to_string(format!("{}/pid", dir.0)).unwrap().trim().parse().unwrap();
        assert_eq!(parse_poll(&sh(poll_script(&dir, 0, 10)).await).unwrap().state, JobState::Running);
        rustix::process::kill_process(rustix::process::Pid::from_raw(pid).unwrap(), rustix::process::Signal::KILL)
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let st = parse_poll(&sh(poll_script(&dir, 0, 10)).await).unwrap().state;
            if st == JobState::Lost {
                break;
            }
            assert!(Instant::now() < deadline, "still {st:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
