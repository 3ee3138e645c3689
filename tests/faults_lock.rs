//! The operator lock under faults, on the simulated Terracotta cluster behind real loopback sshd
//! with the real binary: a driver cut off from the lock host whose lock is broken never starts
//! another job; `--break-lock` after a crash re-attaches to the crashed run's job instead of
//! starting it again; the same machine is pointed at `resume`; a server stuck in START-STATE
//! stops the run at R6 and nothing after it is touched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use rollpilot::run::journal::{Entry, Record};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::simlab::{SimLab, bin, text};

const LONG: Duration = Duration::from_secs(240);

fn log_has(log: &Path, needle: &str) -> bool {
    std::fs::read_to_string(log).unwrap_or_default().contains(needle)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// `rollpilot ARGS` as the operator `who` on the machine `machine`, with its own state dir.
fn rp(state: &Path, who: &str, machine: &str, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args)
        .stdin(Stdio::null())
        .env("ROLLPILOT_STATE_DIR", state)
        .env("USER", who)
        .env("ROLLPILOT_MACHINE", machine);
    c
}

fn spawn(mut c: Command, log: &Path) -> support::KillOnDrop {
    let f = std::fs::File::create(log).unwrap();
    let e = f.try_clone().unwrap();
    support::KillOnDrop(c.stdout(f).stderr(e).spawn().expect("spawn rollpilot"))
}

/// Waits for a background rollpilot to end; its exit code and log.
fn finish(p: &mut support::KillOnDrop, log: &Path, within: Duration) -> (Option<i32>, String) {
    let status = p.wait_timeout(within);
    let t = read(log);
    assert!(status.is_some(), "rollpilot did not end within {within:?}:\n{t}");
    (status.and_then(|s| s.code()), t)
}

fn journal(state: &Path) -> Vec<Entry> {
    let runs = rollpilot::run::runs::list(state, None);
    assert_eq!(runs.len(), 1, "one run in {}", state.display());
    rollpilot::run::runs::load(&runs[0]).unwrap().0
}

fn run_id(state: &Path) -> String {
    rollpilot::run::runs::list(state, None).into_iter().next().map(|r| r.run).unwrap_or_default()
}

fn started(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| if let Record::StepStarted { step, .. } = &e.record { Some(step.id.clone()) } else { None })
        .collect()
}

/// Every job directory on the hosts, as `run/step-dir`.
fn job_dirs(lab: &SimLab) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for run in std::fs::read_dir(lab.dir.join("jobs")).into_iter().flatten().flatten() {
        for job in std::fs::read_dir(run.path()).into_iter().flatten().flatten() {
            if job.path().is_dir() {
                out.insert(format!("{}/{}", run.file_name().to_string_lossy(), job.file_name().to_string_lossy()));
            }
        }
    }
    out
}

fn jobs_of(lab: &SimLab, step_dir_prefix: &str) -> Vec<String> {
    job_dirs(lab).into_iter().filter(|j| j.split('/').nth(1).is_some_and(|d| d.starts_with(step_dir_prefix))).collect()
}

/// A job of step `step_dir` (e.g. `east_tc-east-2_stop-1`) runs: its pid is recorded.
fn job_running(lab: &SimLab, step_dir: &str) -> bool {
    std::fs::read_dir(lab.dir.join("jobs"))
        .map(|runs| runs.flatten().any(|r| r.path().join(step_dir).join("pid").exists()))
        .unwrap_or(false)
}

/// The value of `key = "..."` (or a bare value) in the `[section]` of the config text.
fn config_value(cfg: &str, section: &str, key: &str) -> String {
    let body = cfg.split(&format!("[{section}]\n")).nth(1).expect("section");
    let line = body.lines().find(|l| l.starts_with(&format!("{key} = "))).expect("key");
    line.split_once(" = ").unwrap().1.trim().trim_matches('"').to_string()
}

/// The lock's owner file (on the lock host, which shares this machine's filesystem and clock).
struct Owner {
    operator: String,
    lease_until: i64,
}

fn owner(lab: &SimLab) -> Option<Owner> {
    let path = config_value(&read(&lab.config), "lock", "path");
    let t = read(&PathBuf::from(path).join("owner"));
    let get = |k: &str| t.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).map(str::to_string);
    Some(Owner { operator: get("operator")?, lease_until: get("lease_until")?.parse().ok()? })
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Waits until the lock's lease has been expired long enough to be broken (lease 10 s: margin
/// 5 s, plus a second for the clock's granularity), polling the owner file against the clock.
fn wait_breakable(lab: &SimLab) {
    let mut last = None;
    let ok = support::wait_until(LONG, "the lock's lease to expire by the break margin", || {
        last = owner(lab).map(|o| o.lease_until);
        last.is_some_and(|until| now() > until + 6)
    });
    assert!(ok.is_ok(), "{ok:?}; lease_until {last:?}, now {}", now());
}

/// The lab host (sshd) serving the machine of the node `node`: (alias, address, port).
fn machine_of(lab: &SimLab, node: &str) -> (String, String, u16) {
    let cfg = read(&lab.config);
    let block = cfg.split("[[groups.hosts]]").find(|b| b.contains(&format!("name = \"{node}\"\n"))).expect("node");
    let get = |k: &str| {
        block.lines().find_map(|l| l.strip_prefix(&format!("{k} = "))).map(|v| v.trim_matches('"').to_string())
    };
    let (addr, port) = (get("address").unwrap(), get("port").unwrap().parse::<u16>().unwrap());
    for i in 0..16 {
        let alias = format!("m{i}");
        let h = lab.ssh.host(&alias);
        if h.addr.to_string() == addr && h.port == port {
            return (alias, addr, port);
        }
    }
    panic!("no lab host serves {node} at {addr}:{port}");
}

/// State letter of a process; `None` when gone.
fn proc_state(pid: u32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s[s.rfind(')')? + 1..].split_whitespace().next()?.chars().next()
}

/// Every process of one lab sshd (listener, sessions and what runs under them) frozen with
/// SIGSTOP; SIGCONT on drop, on every exit path, so a failing test leaves nothing stopped.
struct Frozen(BTreeSet<u32>);

impl Frozen {
    fn host(lab: &SimLab, alias: &str) -> Frozen {
        let mut f = Frozen(BTreeSet::new());
        // Rescan until a scan taken after everything found is stopped finds nothing new: a
        // process that was still running could have forked in between.
        for _ in 0..50 {
            let found = support::procs::with_descendants(lab.ssh.host_processes(alias));
            let new: BTreeSet<u32> = found.difference(&f.0).copied().collect();
            if new.is_empty() {
                break;
            }
            support::procs::signal(&new, "STOP");
            f.0.extend(&new);
            support::wait_until(Duration::from_secs(30), "the sshd processes to stop", || {
                f.0.iter().all(|p| proc_state(*p).is_none_or(|s| matches!(s, 'T' | 't' | 'Z' | 'X')))
            })
            .unwrap();
        }
        assert!(!f.0.is_empty(), "no sshd process found for {alias}");
        f
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        support::procs::signal(&self.0, "CONT");
    }
}

/// A lease of 10 s (the shortest rollpilot takes), so breaking needs 15 s of silence.
fn short_lease(lab: &SimLab) {
    lab.edit_config(|s| s.replacen("lease = \"2m\"", "lease = \"10s\"", 1));
    assert!(read(&lab.config).contains("lease = \"10s\""));
}

#[test]
fn a_driver_cut_off_from_the_lock_host_whose_lock_is_broken_starts_nothing_more() {
    let mut lab = SimLab::up("terracotta", &[]);
    short_lease(&lab);
    lab.timeout("gate", "90s");
    let name = config_value(&read(&lab.config), "cluster", "name");
    let lock_node = config_value(&read(&lab.config), "lock", "host");
    let (alias, addr, port) = machine_of(&lab, &lock_node);

    // B reaches the lock host's machine through a second sshd on another address (another
    // network path): its own config and ssh config send that machine's address there.
    let other = lab.ssh.start_host("lockpath");
    let b_ssh = lab.dir.join("b_ssh_config");
    std::fs::write(
        &b_ssh,
        format!("Host {addr}\n    HostName {}\n    Port {}\n\n{}", other.addr, other.port, read(lab.ssh.ssh_config())),
    )
    .unwrap();
    let b_cfg = lab.dir.join("cluster-b.toml");
    let src = read(&lab.config);
    let lab_ssh = lab.ssh.ssh_config().to_string_lossy().into_owned();
    let b_src = src
        .replace(&format!("address = \"{addr}\"\nport = {port}\n"), &format!("address = \"{addr}\"\n"))
        .replace(&lab_ssh, &b_ssh.to_string_lossy());
    assert_ne!(src, b_src);
    assert!(b_src.contains(&b_ssh.to_string_lossy().into_owned()), "the config names its ssh config");
    std::fs::write(&b_cfg, b_src).unwrap();

    // A runs; tc-east-2's stop hangs, so A is inside a step (following its job on another
    // machine) when the lock host stops answering it.
    lab.fault("tc-east-2", "hang-stop", false);
    let (a_state, b_state) = (lab.dir.join("a-state"), lab.dir.join("b-state"));
    let c = lab.c();
    let a_log = lab.dir.join("a.log");
    let mut a = spawn(rp(&a_state, "alice", "laptop-a", &["upgrade", "-c", &c, "--headless", "--yes"]), &a_log);
    lab.wait(LONG, "A's stop of tc-east-2 to run", || {
        log_has(&a_log, "▶ east/tc-east-2/stop") && job_running(&lab, "east_tc-east-2_stop-1")
    });
    assert_eq!(owner(&lab).map(|o| o.operator).as_deref(), Some("alice"));

    let frozen = Frozen::host(&lab, &alias);
    wait_breakable(&lab);

    let b_log = lab.dir.join("b.log");
    let bc = b_cfg.to_string_lossy().into_owned();
    let confirm = format!("--confirm={name}");
    let mut b = spawn(
        rp(&b_state, "bob", "laptop-b", &["upgrade", "-c", &bc, "--headless", "--yes", "--break-lock", &confirm]),
        &b_log,
    );
    let taken = support::wait_until(LONG, "B to break the lock and take it", || {
        owner(&lab).is_some_and(|o| o.operator == "bob")
    });
    assert!(taken.is_ok(), "{taken:?}\n{}", read(&b_log));
    let a_started = started(&journal(&a_state));
    let a_run = run_id(&a_state);
    let a_jobs: BTreeSet<String> = job_dirs(&lab).into_iter().filter(|j| j.starts_with(&a_run)).collect();

    // A can reach the lock host again; its job ends.
    drop(frozen);
    lab.fault("tc-east-2", "hang-stop", true);

    let (code, ta) = finish(&mut a, &a_log, LONG);
    assert_eq!(code, Some(1), "{ta}");
    assert!(ta.contains("is no longer ours") && !ta.contains("continue with `rollpilot resume"), "{ta}");
    let (code, tb) = finish(&mut b, &b_log, Duration::from_secs(360));
    assert_eq!(code, Some(0), "{tb}");
    assert!(tb.contains("broke the expired lock of alice on laptop-a"), "{tb}");

    // Nothing A journaled or started on a host after B took the lock.
    assert_eq!(started(&journal(&a_state)), a_started, "A started a step after its lock was broken:\n{ta}");
    let a_jobs_end: BTreeSet<String> = job_dirs(&lab).into_iter().filter(|j| j.starts_with(&a_run)).collect();
    assert_eq!(a_jobs_end, a_jobs, "A started a job after its lock was broken:\n{ta}");
    assert_eq!(jobs_of(&lab, "east_tc-east-2_stop-").len(), 1, "{:#?}", job_dirs(&lab));
    assert!(lab.status().iter().all(|r| r["version"] == "4.2.1"));
    let (ok, summary) = lab.verify();
    assert!(ok && summary.ends_with("lost 0"), "{summary}");
}

/// A started, tc-east-2's stop hanging on its host, A SIGKILLed while it runs.
fn crash_mid_stop(lab: &SimLab, state: &Path) {
    lab.fault("tc-east-2", "hang-stop", false);
    let c = lab.c();
    let log = lab.dir.join("a.log");
    let mut a = spawn(rp(state, "alice", "laptop-a", &["upgrade", "-c", &c, "--headless", "--yes"]), &log);
    lab.wait(LONG, "A's stop of tc-east-2 to run", || {
        log_has(&log, "▶ east/tc-east-2/stop") && job_running(lab, "east_tc-east-2_stop-1")
    });
    a.0.kill().unwrap();
    a.0.wait().unwrap();
}

#[test]
fn break_lock_after_a_crash_on_another_machine_reattaches_to_the_running_job() {
    let lab = SimLab::up("terracotta", &[]);
    short_lease(&lab);
    lab.timeout("gate", "90s");
    let name = config_value(&read(&lab.config), "cluster", "name");
    let (a_state, b_state) = (lab.dir.join("a-state"), lab.dir.join("b-state"));
    crash_mid_stop(&lab, &a_state);
    let a_run = run_id(&a_state);

    wait_breakable(&lab);
    let c = lab.c();
    let confirm = format!("--confirm={name}");
    let b_log = lab.dir.join("b.log");
    let mut b = spawn(
        rp(&b_state, "bob", "laptop-b", &["upgrade", "-c", &c, "--headless", "--yes", "--break-lock", &confirm]),
        &b_log,
    );
    let reattached = support::wait_until(LONG, "B to re-attach to A's stop of tc-east-2", || {
        log_has(&b_log, &format!("run {a_run} left east_tc-east-2_stop-1 running on tc-east-2: re-attached"))
    });
    assert!(reattached.is_ok(), "{reattached:?}\n{}", read(&b_log));
    lab.fault("tc-east-2", "hang-stop", true);
    let (code, t) = finish(&mut b, &b_log, Duration::from_secs(360));
    assert_eq!(code, Some(0), "{t}");
    assert!(t.contains("broke the expired lock of alice on laptop-a"), "{t}");
    assert!(t.contains("east_tc-east-2_stop-1 of run"), "followed to its end: {t}");
    assert!(!t.contains("running on tc-east-1"), "followed on its own node only: {t}");

    // One job for that stop, A's, whose command ran once; B never started its own.
    assert_eq!(jobs_of(&lab, "east_tc-east-2_stop-"), vec![format!("{a_run}/east_tc-east-2_stop-1")]);
    assert!(!started(&journal(&b_state)).iter().any(|s| s == "east/tc-east-2/stop"), "{t}");
    assert!(lab.status().iter().all(|r| r["version"] == "4.2.1"));
    let (ok, summary) = lab.verify();
    assert!(ok && summary.ends_with("lost 0"), "{summary}");
}

#[test]
fn own_crashed_run_points_at_resume_and_the_printed_command_works() {
    let lab = SimLab::up("terracotta", &[]);
    short_lease(&lab);
    lab.timeout("gate", "90s");
    let state = lab.dir.join("a-state");
    crash_mid_stop(&lab, &state);

    let c = lab.c();
    let o = rp(&state, "alice", "laptop-a", &["upgrade", "-c", &c, "--headless", "--yes"]).output().unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(t.contains(&format!("run {} of", run_id(&state))) && t.contains("is unfinished"), "{t}");
    let cmd = t.split("continue it with `").nth(1).and_then(|r| r.split('`').next()).expect("a resume command");
    assert!(cmd.starts_with("rollpilot resume -c "), "{cmd}");

    // The printed command, as the operator pastes it (rollpilot on the PATH).
    lab.fault("tc-east-2", "hang-stop", true);
    let bin_dir = Path::new(bin()).parent().unwrap().to_string_lossy().into_owned();
    let path = format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default());
    let o = Command::new("sh")
        .args(["-c", cmd])
        .env("PATH", path)
        .env_remove("ROLLPILOT_STATE_DIR")
        .env("USER", "alice")
        .env("ROLLPILOT_MACHINE", "laptop-a")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{cmd}\n{t}");
    assert!(t.contains("took back the lock of interrupted run"), "{t}");
    assert!(t.contains("re-attaching, not re-running"), "{t}");
    assert_eq!(jobs_of(&lab, "east_tc-east-2_stop-").len(), 1, "{:#?}", job_dirs(&lab));
    let s = started(&journal(&state));
    assert_eq!(s.iter().filter(|x| *x == "east/tc-east-2/stop").count(), 1, "{s:#?}");
    assert!(lab.status().iter().all(|r| r["version"] == "4.2.1"));
    let (ok, summary) = lab.verify();
    assert!(ok && summary.ends_with("lost 0"), "{summary}");
}

#[test]
fn a_server_stuck_in_start_state_stops_the_run_at_r6_naming_its_state() {
    let lab = SimLab::up("terracotta", &[]);
    lab.timeout("gate", "8s");
    lab.fault("tc-east-2", "stuck-start", false);
    let o = lab.upgrade(&["--on-failure", "abort"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("waiting until R6 verify: tc-east-2 is back"), "{t}");
    assert!(t.contains("tc-east-2: START-STATE"), "the blocker's state is named: {t}");
    assert!(t.contains("did not hold within 8s"), "{t}");
    let s = started(&lab.runs()[0].1);
    assert!(s.iter().all(|id| id.contains("/tc-east-2/")), "nothing after it touched: {s:#?}");
    assert_eq!(lab.node("tc-east-1")["role"], "active");
    assert_eq!(lab.node("tc-east-2")["state"], "START-STATE");
    lab.fault("tc-east-2", "stuck-start", true);
    let (ok, summary) = lab.verify();
    assert!(ok && summary.ends_with("lost 0"), "{summary}");
}
