//! Status over SSH against 50 loopback hosts, side by side with the floor: 50 concurrent plain
//! `ssh HOST true` (fresh connections). Prints a Markdown table of medians over 5 rounds.
//!
//!     cargo bench --bench status            # needs /usr/sbin/sshd; takes about a minute
//!
//! Cold = a fresh transport: connect every ControlMaster and run each host's probe script.
//! Warm = the same poller refreshing again with the masters up (what the live view does).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use rollpilot::probe::Poller;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const HOSTS: usize = 50;
const ROUNDS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut lab = support::SshLab::new();
    let nodes = lab.dir().join("nodes");
    let mut hosts = Vec::new();
    for i in 0..HOSTS {
        let h = format!("h{i:02}");
        lab.start_host(&h);
        let d = nodes.join(&h);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("version"), "Terracotta Enterprise 4.2.0\n").unwrap();
        std::fs::write(d.join("state"), format!("{h}.health: OK\n{h}.state: PASSIVE-STANDBY\n")).unwrap();
        hosts.push(h);
    }
    let cfg = format!(
        r#"[cluster]
name = "bench"
target = "4.2.1"
profile = "any-order"
transport = "ssh"
[ssh]
config_file = "{}"
host_key_policy = "strict"
parallelism = 50
[vars]
nodes = "{}"
[kinds.server]
version = "cat {{nodes}}/{{host}}/version"
status = "cat {{nodes}}/{{host}}/state"
health = "test -f {{nodes}}/{{host}}/state"
install = "true"
[kinds.server.parse]
version = {{ regex = 'Terracotta \S+ (\S+)' }}
[[groups]]
name = "all"
type = "server"
hosts = [{}]
"#,
        lab.ssh_config().display(),
        nodes.display(),
        hosts.iter().map(|h| format!("\"{h}\"")).collect::<Vec<_>>().join(", ")
    );
    let cluster = Arc::new(rollpilot::config::parse_str(&cfg, "bench.toml", std::path::Path::new(".")).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    let (mut floor, mut cold, mut warm) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // Floor: 50 fresh ssh connections at once, each running `true`.
        let t = Instant::now();
        let children: Vec<_> = hosts
            .iter()
            .map(|h| {
                lab.ssh_base()
                    .arg(h)
                    .arg("true")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut c in children {
            assert!(c.wait().unwrap().success());
        }
        floor.push(t.elapsed());

        let (c, w) = rt.block_on(async {
            let transport = rollpilot::transport::for_cluster(&cluster).unwrap();
            let poller = Poller::new(cluster.clone(), transport.clone());
            let t = Instant::now();
            let snap = poller.refresh().await;
            let c = t.elapsed();
            assert!(snap.unreachable().is_empty(), "unreachable: {:?}", snap.unreachable());
            assert!(snap.nodes.values().all(|v| v.obs.version.is_some()));
            let t = Instant::now();
            poller.refresh().await;
            let w = t.elapsed();
            transport.close().await;
            (c, w)
        });
        cold.push(c);
        warm.push(w);
        eprintln!("round {}: floor {:?}, cold {:?}, warm {:?}", round + 1, floor[round], c, w);
    }
    let (f, c, w) = (median(floor), median(cold), median(warm));
    let cpu = Command::new("nproc")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    println!("| measure ({HOSTS} loopback hosts, median of {ROUNDS}, {cpu} cores) | time | goal |");
    println!("|---|---|---|");
    println!("| floor: {HOSTS} concurrent `ssh HOST true` | {:.0} ms | |", f.as_secs_f64() * 1000.0);
    println!(
        "| cold status (connect + all probes) | {:.0} ms ({:.2}x floor) | ≤ 1.1x floor |",
        c.as_secs_f64() * 1000.0,
        c.as_secs_f64() / f.as_secs_f64()
    );
    println!("| warm refresh (masters up) | {:.0} ms | ≤ 200 ms |", w.as_secs_f64() * 1000.0);
}
