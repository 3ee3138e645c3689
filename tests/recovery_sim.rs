//! The recovery contract with the real binary on the simulator behind loopback sshd: Retry runs
//! the step's command again as a new attempt (both attempts in the journal and the report), Keep
//! waiting waits again for the same check without re-running anything, and rollpilot SIGKILLed at
//! random moments and right after journal records always resumes to the end, running no node
//! command twice and losing no acknowledged write.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use rollpilot::run::journal::{Entry, Outcome, Record};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::simlab::{SimLab, bin, text};

/// Test hooks of the journal (see `rollpilot::run::journal`).
const PAUSE_AFTER: &str = "ROLLPILOT_TEST_JOURNAL_PAUSE_AFTER";
const PAUSE_FILE: &str = "ROLLPILOT_TEST_JOURNAL_PAUSE_FILE";

fn command(lab: &SimLab, args: &[&str], env: &[(&str, String)]) -> Command {
    let mut c = Command::new(bin());
    c.args(args).stdin(Stdio::null()).env("ROLLPILOT_STATE_DIR", &lab.state).env("USER", "test-operator");
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

fn spawn(lab: &SimLab, args: &[&str], env: &[(&str, String)], log: &Path) -> Child {
    let f = std::fs::File::create(log).unwrap();
    let e = f.try_clone().unwrap();
    command(lab, args, env).stdout(f).stderr(e).spawn().expect("spawn rollpilot")
}

fn wait_exit(p: &mut Child, secs: u64, log: &Path) -> i32 {
    match support::wait_child(p, Duration::from_secs(secs)) {
        Some(s) => s.code().unwrap_or(-1),
        None => {
            let _ = p.kill();
            let _ = p.wait();
            panic!("rollpilot did not finish within {secs}s:\n{}", std::fs::read_to_string(log).unwrap_or_default())
        }
    }
}

fn sigkill(p: &mut Child) {
    let _ = p.kill();
    p.wait().unwrap();
}

/// The newest run's journal, or nothing yet.
fn entries(lab: &SimLab) -> Vec<Entry> {
    lab.runs().into_iter().last().map(|(_, e)| e).unwrap_or_default()
}

/// `(step, attempt)` of every step-started record.
fn started(entries: &[Entry]) -> Vec<(String, u32)> {
    entries
        .iter()
        .filter_map(|e| match &e.record {
            Record::StepStarted { step, attempt, .. } => Some((step.id.clone(), *attempt)),
            _ => None,
        })
        .collect()
}

fn finished(entries: &[Entry], id: &str) -> Vec<(u32, Outcome)> {
    entries
        .iter()
        .filter_map(|e| match &e.record {
            Record::StepFinished { step, attempt, outcome, .. } if step == id => Some((*attempt, *outcome)),
            _ => None,
        })
        .collect()
}

/// Prefixes the node commands of the generated config with a line appended to `D/invocations`,
/// so the test sees every time a command really ran on a node.
fn log_invocations(lab: &SimLab) -> PathBuf {
    let inv = lab.dir.join("invocations");
    let re = regex::Regex::new(r#"(?m)^(stop|install|start) = ""#).unwrap();
    let prefix = format!(r#"$1 = "echo $1 {{host}} >> {} && "#, inv.display());
    lab.edit_config(|s| re.replace_all(&s, prefix.as_str()).into_owned());
    inv
}

/// How many times each `(command, host)` ran.
fn invocations(inv: &Path) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in std::fs::read_to_string(inv).unwrap_or_default().lines() {
        *m.entry(l.to_string()).or_insert(0) += 1;
    }
    m
}

/// How many times each `(command, host)` should have run: once per step-started record of a
/// step whose command it is (every attempt; a failback stops and starts a node a second time).
fn expected_invocations(entries: &[Entry]) -> BTreeMap<String, usize> {
    let re = regex::Regex::new(r"^echo (\w+) (\S+) >> ").unwrap();
    let never = not_started(entries);
    let mut m = BTreeMap::new();
    for e in entries {
        if let Record::StepStarted { step, attempt, .. } = &e.record
            && !never.contains(&(step.id.clone(), *attempt))
            && let Some(c) = step.command.as_deref().and_then(|c| re.captures(c))
        {
            *m.entry(format!("{} {}", &c[1], &c[2])).or_insert(0) += 1;
        }
    }
    m
}

/// Attempts journaled as starting whose job provably never existed (finished `not-started`).
fn not_started(entries: &[Entry]) -> Vec<(String, u32)> {
    entries
        .iter()
        .filter_map(|e| match &e.record {
            Record::StepFinished { step, attempt, outcome: Outcome::NotStarted, .. } => Some((step.clone(), *attempt)),
            _ => None,
        })
        .collect()
}

/// The job directories `<step>-<attempt>` that exist on disk, for every run.
fn job_dirs(lab: &SimLab) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(lab.dir.join("jobs"))
        .map(|runs| {
            runs.flatten()
                .flat_map(|r| std::fs::read_dir(r.path()).into_iter().flatten().flatten())
                .map(|j| j.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn report(lab: &SimLab, format: &str) -> String {
    let c = lab.c();
    let o = lab.rollpilot(&["report", "-c", c.as_str(), "--format", format]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// Waits for the pause hook to hold rollpilot (its file exists), returns the record it paused on.
fn wait_paused(pause: &Path, p: &mut Child, log: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Ok(line) = std::fs::read_to_string(pause) {
            return line;
        }
        if let Ok(Some(s)) = p.try_wait() {
            panic!("rollpilot exited ({s}) before the awaited record:\n{}", std::fs::read_to_string(log).unwrap());
        }
        assert!(Instant::now() < deadline, "never paused:\n{}", std::fs::read_to_string(log).unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn retry_runs_the_failed_install_again_as_a_second_attempt() {
    let lab = SimLab::up("streambase", &[]);
    let inv = log_invocations(&lab);
    lab.fault("sb-2", "fail-install", false);
    let c = lab.c();
    let log = lab.dir.join("run.log");
    let pause = lab.dir.join("paused");
    // Held right after the first failed attempt is journaled, before anything is decided.
    let env = [(PAUSE_AFTER, r#""outcome":"failed""#.to_string()), (PAUSE_FILE, pause.display().to_string())];
    let args = ["upgrade", "-c", c.as_str(), "--headless", "--yes", "--on-failure", "retry:2"];
    let mut p = spawn(&lab, &args, &env, &log);
    let rec = wait_paused(&pause, &mut p, &log);
    assert!(rec.contains(r#""step":"trading/sb-2/install","attempt":1"#), "{rec}");
    lab.fault("sb-2", "fail-install", true);
    std::fs::remove_file(&pause).unwrap();
    let code = wait_exit(&mut p, 240, &log);
    let t = std::fs::read_to_string(&log).unwrap();
    assert_eq!(code, 0, "{t}");
    assert!(t.contains("run the step again as a new attempt (--on-failure=retry:2, 1 of 2)"), "{t}");
    assert!(t.contains("trading/sb-2/install (attempt 2)"), "{t}");

    let e = entries(&lab);
    let s = started(&e);
    let installs: Vec<u32> = s.iter().filter(|(id, _)| id == "trading/sb-2/install").map(|(_, a)| *a).collect();
    assert_eq!(installs, [1, 2], "{s:#?}");
    assert_eq!(finished(&e, "trading/sb-2/install"), [(1, Outcome::Failed), (2, Outcome::Ok)]);
    let jobs = job_dirs(&lab);
    assert!(jobs.contains(&"trading_sb-2_install-1".into()) && jobs.contains(&"trading_sb-2_install-2".into()));
    let ran = invocations(&inv);
    assert_eq!(ran.get("install sb-2"), Some(&2), "{ran:#?}");
    assert_eq!(ran, expected_invocations(&e), "each attempt ran its command once");

    let md = report(&lab, "md");
    assert!(md.contains("▶ `trading/sb-2/install` attempt 1"), "{md}");
    assert!(md.contains("▶ `trading/sb-2/install` attempt 2"), "{md}");
    assert!(md.contains("`trading/sb-2/install` **FAILED**"), "{md}");
    let json: serde_json::Value = serde_json::from_str(&report(&lab, "json")).unwrap();
    let attempts: Vec<(u64, String)> = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["step"] == "trading/sb-2/install")
        .map(|s| (s["attempt"].as_u64().unwrap(), s["outcome"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(attempts, [(1, "failed".to_string()), (2, "ok".to_string())], "{json:#}");
    assert!(lab.status().iter().all(|r| r["version"] == "10.6.1"));
    lab.assert_nothing_lost();
}

#[test]
fn keep_waiting_waits_again_for_the_same_check_and_runs_nothing_twice() {
    let lab = SimLab::up("terracotta", &[]);
    lab.timeout("gate", "10s");
    let inv = log_invocations(&lab);
    lab.fault("tc-east-2", "stall-sync", false);
    let c = lab.c();
    let log = lab.dir.join("run.log");
    let pause = lab.dir.join("paused");
    // Held right after the decision to keep waiting is journaled.
    let env = [(PAUSE_AFTER, r#""decision":"keep-waiting""#.to_string()), (PAUSE_FILE, pause.display().to_string())];
    let args = ["upgrade", "-c", c.as_str(), "--headless", "--yes", "--on-failure", "retry:3"];
    let mut p = spawn(&lab, &args, &env, &log);
    let rec = wait_paused(&pause, &mut p, &log);
    assert!(rec.contains("tc-east-2"), "{rec}");
    let t = std::fs::read_to_string(&log).unwrap();
    assert!(t.contains("did not hold within 10s"), "{t}");
    assert!(t.contains("The check last saw: ") && t.contains("Trend: stuck"), "{t}");
    assert!(t.contains("keep waiting for the same check (--on-failure=retry:3, 1 of 3)"), "{t}");
    lab.fault("tc-east-2", "stall-sync", true);
    std::fs::remove_file(&pause).unwrap();
    let code = wait_exit(&mut p, 300, &log);
    let t = std::fs::read_to_string(&log).unwrap();
    assert_eq!(code, 0, "{t}");

    let e = entries(&lab);
    let s = started(&e);
    let starts: Vec<&(String, u32)> = s.iter().filter(|(id, _)| id == "east/tc-east-2/start").collect();
    assert_eq!(starts, [&("east/tc-east-2/start".to_string(), 1)], "{s:#?}");
    assert!(e.iter().any(|x| matches!(
        &x.record,
        Record::Decided { decision: rollpilot::run::journal::DecisionRecord::KeepWaiting, .. }
    )));
    assert!(s.iter().all(|(_, a)| *a == 1), "nothing was retried: {s:#?}");
    let ran = invocations(&inv);
    assert_eq!(ran, expected_invocations(&e), "each started step ran its command once");
    assert!(!job_dirs(&lab).iter().any(|j| j.ends_with("-2")), "{:?}", job_dirs(&lab));
    assert!(lab.status().iter().all(|r| r["version"] == "4.2.1"));
    lab.assert_nothing_lost();
}

/// A small seeded generator (xorshift64*), so a failing sequence of kill moments can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// `resume` once the run has its start record; `upgrade` before (no run, or one killed before
/// its start record, which `resume` refuses and `upgrade` closes).
fn continue_args(lab: &SimLab, c: &str) -> Vec<String> {
    let started = entries(lab).iter().any(|e| matches!(e.record, Record::RunStarted { .. }));
    let verb = if started { "resume" } else { "upgrade" };
    [verb, "-c", c, "--headless", "--yes"].iter().map(|s| s.to_string()).collect()
}

/// After the kills: resume to the end, then check that every node command ran exactly once, no
/// step had a second attempt, and no acknowledged write was lost.
fn finish_and_check(lab: &SimLab, inv: &Path, history: &str) {
    let c = lab.c();
    let o: Output =
        command(lab, &continue_args(lab, &c).iter().map(String::as_str).collect::<Vec<_>>(), &[]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{history}\n--- final resume:\n{}", text(&o));
    let e = entries(lab);
    let s = started(&e);
    // No retries here: an attempt after the first only follows one that never started.
    let never = not_started(&e);
    for (id, a) in &s {
        assert!(*a == 1 || never.contains(&(id.clone(), a - 1)), "{id} attempt {a}: {s:#?}\n{history}");
    }
    let ran = invocations(inv);
    assert_eq!(ran.len(), 9, "stop, install and start on each of the 3 nodes: {ran:#?}\n{history}");
    assert!(ran.values().all(|n| *n == 1), "a node command ran twice: {ran:#?}\n{history}");
    assert_eq!(ran, expected_invocations(&e), "{history}");
    // A job directory for every attempt that ran, and none for one that never started.
    let mut want: Vec<String> =
        s.iter().filter(|x| !never.contains(x)).map(|(id, a)| format!("{}-{a}", id.replace('/', "_"))).collect();
    want.sort();
    want.dedup();
    let runs = lab.runs();
    let run = &runs.last().unwrap().0;
    let jobs: Vec<String> = std::fs::read_dir(lab.dir.join("jobs").join(run))
        .map(|d| d.flatten().map(|j| j.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    let mut jobs = jobs;
    jobs.sort();
    assert_eq!(jobs, want, "{history}");
    for (id, _) in &s {
        let n = e.iter().filter(|x| matches!(&x.record, Record::StepDone { step } if step == id)).count();
        assert_eq!(n, 1, "{id} verified {n} times\n{history}");
    }
    assert!(lab.status().iter().all(|r| r["version"] == "10.6.1"));
    lab.assert_nothing_lost();
}

#[test]
fn sigkill_at_random_moments_then_resume_runs_every_command_once() {
    let lab = SimLab::up("streambase", &[]);
    let inv = log_invocations(&lab);
    let c = lab.c();
    let seed = std::env::var("RECOVERY_SIM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_2026_u64);
    let mut rng = Rng(seed | 1);
    let mut history = format!("seed {seed}\n");
    let mut kills = 0;
    for i in 0..20 {
        let args = continue_args(&lab, &c);
        let log = lab.dir.join(format!("run{i}.log"));
        // Records are held for a moment after their fsync, so many kills land right after one.
        let env = [("ROLLPILOT_TEST_JOURNAL_DELAY_MS", "40".to_string())];
        let mut p = spawn(&lab, &args.iter().map(String::as_str).collect::<Vec<_>>(), &env, &log);
        // A random moment of this invocation's life (not a synchronisation: any moment will do):
        // one in five early (starting up, taking the lock), the others a random time after a
        // random number of new records, so the kills spread over the whole run.
        let before = entries(&lab).len();
        let started = Instant::now();
        let mut done = None;
        if rng.below(5) == 0 {
            done = support::wait_child(&mut p, Duration::from_millis(100 + rng.below(2900)));
        } else {
            let want = before + 1 + rng.below(8) as usize;
            let _ = support::wait_until(Duration::from_secs(120), "new records", || {
                done = p.try_wait().ok().flatten();
                done.is_some() || entries(&lab).len() >= want
            });
            if done.is_none() {
                done = support::wait_child(&mut p, Duration::from_millis(rng.below(800)));
            }
        }
        let records = entries(&lab).len();
        let at = started.elapsed();
        history.push_str(&format!("#{i} {} killed after {at:?} with {before}→{records} records", args[0]));
        if let Some(s) = done {
            // It got to the end first: acceptable only if it ended well.
            history.push_str(&format!(" (had exited: {s})\n"));
            let t = std::fs::read_to_string(&log).unwrap();
            assert_eq!(s.code(), Some(0), "{history}\n{t}");
            break;
        }
        sigkill(&mut p);
        kills += 1;
        history.push('\n');
    }
    eprintln!("{history}");
    assert!(kills >= 20, "only {kills} kills before the run finished: {history}");
    finish_and_check(&lab, &inv, &history);
}

#[test]
fn sigkill_right_after_journal_records_then_resume_runs_every_command_once() {
    let lab = SimLab::up("streambase", &[]);
    let inv = log_invocations(&lab);
    let c = lab.c();
    let pause = lab.dir.join("paused");
    let mut history = String::new();
    // Invocation k is held right after the k-th record it writes, and SIGKILLed there.
    for k in 1..=14usize {
        let before = entries(&lab).len();
        let args = continue_args(&lab, &c);
        let env = [(PAUSE_AFTER, format!(r#""seq":{},"#, before + k)), (PAUSE_FILE, pause.display().to_string())];
        let log = lab.dir.join(format!("run{k}.log"));
        let mut p = spawn(&lab, &args.iter().map(String::as_str).collect::<Vec<_>>(), &env, &log);
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut exited = None;
        while !pause.exists() {
            if let Ok(Some(s)) = p.try_wait() {
                exited = Some(s);
                break;
            }
            assert!(Instant::now() < deadline, "never reached record {}:\n{history}", before + k);
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(s) = exited {
            // The run ended before writing that many records.
            let t = std::fs::read_to_string(&log).unwrap();
            assert_eq!(s.code(), Some(0), "{history}\n{t}");
            history.push_str(&format!("#{k} {} finished\n", args[0]));
            break;
        }
        let rec = std::fs::read_to_string(&pause).unwrap();
        sigkill(&mut p);
        std::fs::remove_file(&pause).unwrap();
        let ty = serde_json::from_str::<serde_json::Value>(&rec).map(|v| v["type"].to_string()).unwrap_or_default();
        history.push_str(&format!("#{k} {} killed after record {} ({ty})\n", args[0], before + k));
    }
    finish_and_check(&lab, &inv, &history);
}
