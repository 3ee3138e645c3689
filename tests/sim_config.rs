//! The generated cluster.toml of every topology uses exactly the command templates and parsers
//! of the example in config/, and `--ssh-hosts` / `--ssh-config` produce a correct ssh config.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "sim_support.rs"]
mod support;

use rollpilot::model::{Cluster, HostKeyPolicy, TransportKind};
use std::path::Path;
use support::*;

fn example(topology: &str) -> Cluster {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config").join(format!("{topology}.toml"));
    rollpilot::config::load(&path).unwrap()
}

fn generated(s: &Sim) -> Cluster {
    let text = std::fs::read_to_string(s.dir.join("cluster.toml")).unwrap();
    rollpilot::config::parse_str(&text, "cluster.toml", &s.dir).unwrap()
}

fn assert_same_contract(topology: &str, g: &Cluster) {
    let e = example(topology);
    assert_eq!(g.kinds, e.kinds, "[kinds.*] of the {topology} simulator differ from config/{topology}.toml");
    assert_eq!(
        (g.target.clone(), g.profile, g.compat, g.failback),
        (e.target.clone(), e.profile, e.compat, e.failback)
    );
    let shape = |c: &Cluster| -> Vec<(String, String, usize)> {
        c.groups.iter().map(|gr| (gr.name.clone(), gr.kind.clone(), gr.nodes.len())).collect()
    };
    assert_eq!(shape(g), shape(&e), "the {topology} simulator has the example's groups and hosts");
    let names = |c: &Cluster| -> Vec<String> { c.nodes().map(|(_, n)| n.name.clone()).collect() };
    assert_eq!(names(g), names(&e));
}

#[test]
fn every_topology_uses_the_examples_templates_and_parsers_on_the_local_transport() {
    for t in ["terracotta", "streambase", "exchange"] {
        let s = Sim::up(&["--topology", t]);
        let g = generated(&s);
        assert_same_contract(t, &g);
        assert_eq!(g.transport, TransportKind::Local);
        assert_eq!(g.lock.path, s.dir.join("lock").join("rollpilot").to_string_lossy());
        s.down_and_check();
    }
}

#[test]
fn ssh_hosts_give_each_host_its_own_loopback_address_and_the_status_template_reaches_it() {
    let tmp = tempfile::tempdir().unwrap();
    let ssh_config = tmp.path().join("ssh_config");
    std::fs::write(&ssh_config, "# test\n").unwrap();
    let addrs: Vec<String> = (0..8).map(|i| format!("127.0.0.{}:{}", 21 + i, 2200 + i)).collect();
    let list = addrs.join(",");
    let s = Sim::up(&["--ssh-hosts", &list, "--ssh-config", ssh_config.to_str().unwrap()]);
    let g = generated(&s);
    assert_same_contract("terracotta", &g);
    assert_eq!(g.transport, TransportKind::Ssh);
    assert_eq!(g.ssh.host_key_policy, HostKeyPolicy::Strict);
    assert_eq!(g.ssh.config_file.as_deref(), Some(ssh_config.as_path()));
    assert_eq!(g.ssh.user, None, "user is left to the ssh config");
    assert_eq!(g.ssh.identity, None, "identity is left to the ssh config");
    for ((_, n), a) in g.nodes().zip(&addrs) {
        let (host, port) = a.split_once(':').unwrap();
        assert_eq!(n.address, host, "{}", n.name);
        assert_eq!(n.port, Some(port.parse().unwrap()), "{}", n.name);
    }
    // `server-stat.sh -s {address}:{stat_port}` reaches the server at its ssh address.
    let cmd = s.cmd("tc-east-1", "status", &[]);
    assert!(cmd.contains("-s 127.0.0.21:"), "{cmd}");
    assert!(matches!(s.probe("tc-east-1", "role").as_deref(), Some("active" | "passive")));
    assert_eq!(s.probe("tc-west-2", "health").as_deref(), Some("ok"));
    s.down_and_check();
}

#[test]
fn exchange_scanners_reuse_their_nodes_ssh_address() {
    let s = Sim::up(&["--topology", "exchange", "--ssh-hosts", "127.0.0.31,127.0.0.32:2222"]);
    let g = generated(&s);
    assert_same_contract("exchange", &g);
    let addr = |h: &str| g.node(h).map(|(_, n)| (n.address.clone(), n.port)).unwrap();
    assert_eq!(addr("node1"), ("127.0.0.31".to_string(), None));
    assert_eq!(addr("node2"), ("127.0.0.32".to_string(), Some(2222)));
    assert_eq!(addr("node1-av"), addr("node1"));
    assert_eq!(addr("node2-av"), addr("node2"));
    assert_eq!(s.probe("node1", "role").as_deref(), Some("active"));
    s.down_and_check();
}

#[test]
fn bad_up_requests_are_refused_before_anything_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("c");
    let d = d.to_str().unwrap();
    let o = rollpilot(&["sim", "up", "--dir", d, "--ssh-hosts", "127.0.0.2,127.0.0.3"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("tc-east-1, tc-east-2"), "names the hosts in order: {}", text(&o));
    let o = rollpilot(&["sim", "up", "--dir", d, "--ssh-hosts", "10.1.2.3,127.0.0.3"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = rollpilot(&["sim", "up", "--dir", d, "--topology", "redis"]);
    assert!(text(&o).contains("terracotta") && o.status.code() == Some(2), "{}", text(&o));
    let o = rollpilot(&["sim", "up", "--dir", d, "--stripe-size", "7"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = rollpilot(&["sim", "up", "--dir", d, "--topology", "streambase", "--not-persistent"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    std::fs::write(tmp.path().join("keep.txt"), "mine").unwrap();
    let o = rollpilot(&["sim", "up", "--dir", tmp.path().to_str().unwrap()]);
    assert!(text(&o).contains("not empty"), "{}", text(&o));
    let o = rollpilot(&["sim", "verify", "--dir", tmp.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no simulated cluster"), "{}", text(&o));
    // `sim node` is hidden from help.
    let help = text(&rollpilot(&["sim", "--help"]));
    assert!(help.contains("verify") && !help.lines().any(|l| l.trim_start().starts_with("node ")), "{help}");
}
