//! `rollpilot status` through real OpenSSH servers on loopback: every failure an operator meets
//! (host down, host key changed, authentication, sudo, hanging or garbage probes) has its own
//! clear message, and the other hosts are still read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{HostOptions, SshLab, ensure_unprivileged_user};

/// Each simulated node keeps its facts in files under `<lab>/nodes/<host>/`; the probes `cat`
/// them over ssh, exactly as a real version/status script would print them.
fn node_files(lab: &SshLab, host: &str, version: &str, state: &str) -> PathBuf {
    let d = lab.dir().join("nodes").join(host);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("version"), format!("Terracotta Enterprise {version}\n")).unwrap();
    std::fs::write(d.join("state"), format!("{host}.health: OK\n{host}.state: {state}\n")).unwrap();
    // A world-readable tree, so an unprivileged login can read it too.
    for p in [lab.dir().join("nodes"), d.clone()] {
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    d
}

fn config(lab: &SshLab, groups: &str, extra_kind: &str) -> PathBuf {
    let src = format!(
        r#"[cluster]
name = "lab"
target = "4.2.1"
profile = "terracotta"
transport = "ssh"

[ssh]
config_file = "{cfg}"
known_hosts = "{kh}"
host_key_policy = "strict"
connect_timeout = "5s"

[timeouts]
probe = "2s"

[vars]
nodes = "{nodes}"

[kinds.server]
{extra_kind}
version = "touch {{nodes}}/{{host}}/probed; cat {{nodes}}/{{host}}/version"
status = "cat {{nodes}}/{{host}}/state"
stop = "true"
install = "true"
start = "true"

[kinds.server.parse]
version = {{ regex = 'Terracotta \S+ (\S+)' }}
role = {{ regex = '\.state: (\S+)', map = {{ "ACTIVE-COORDINATOR" = "active", "PASSIVE-STANDBY" = "passive", "PASSIVE-UNINITIALIZED" = "passive" }} }}
sync = {{ regex = '\.state: (\S+)', map = {{ "PASSIVE-STANDBY" = "in-sync", "PASSIVE-UNINITIALIZED" = "syncing", "ACTIVE-COORDINATOR" = "n/a" }} }}
health = {{ from = "status", regex = '\.health: (\S+)', map = {{ "OK" = "ok" }}, default = "failed" }}

{groups}
"#,
        cfg = lab.ssh_config().display(),
        kh = lab.known_hosts().display(),
        nodes = lab.dir().join("nodes").display(),
    );
    let p = lab.dir().join("cluster.toml");
    std::fs::write(&p, src).unwrap();
    p
}

fn status(cfg: &Path, json: bool) -> (Output, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rollpilot"));
    c.arg("status").arg("-c").arg(cfg);
    if json {
        c.arg("--json");
    }
    let o = c.env("ROLLPILOT_STATE_DIR", cfg.parent().unwrap().join("state")).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    (o, out, err)
}

fn row<'a>(rows: &'a [serde_json::Value], host: &str) -> &'a serde_json::Value {
    rows.iter().find(|r| r["host"] == host).unwrap_or_else(|| panic!("no row for {host}: {rows:#?}"))
}

const FIVE: &str = r#"[[groups]]
name = "east"
type = "server"
hosts = ["e1", "e2"]

[[groups]]
name = "west"
type = "server"
hosts = ["w1", "w2", "w3"]
"#;

fn five_hosts(lab: &mut SshLab) {
    for (h, v, s) in [
        ("e1", "4.2.0", "ACTIVE-COORDINATOR"),
        ("e2", "4.2.1", "PASSIVE-STANDBY"),
        ("w1", "4.2.1", "ACTIVE-COORDINATOR"),
        ("w2", "4.2.0", "PASSIVE-UNINITIALIZED"),
        ("w3", "4.2.0", "PASSIVE-STANDBY"),
    ] {
        lab.start_host(h);
        node_files(lab, h, v, s);
    }
}

#[test]
fn five_hosts_as_table_and_json() {
    let mut lab = SshLab::new();
    five_hosts(&mut lab);
    let cfg = config(&lab, FIVE, "");
    let (o, out, err) = status(&cfg, false);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("HOST"), "{out}");
    let e2 = lines.iter().find(|l| l.starts_with("e2 ")).unwrap();
    for want in ["east", "passive", "PASSIVE-STANDBY", "4.2.1", "in-sync", "ok"] {
        assert!(e2.contains(want), "{want} missing in {e2}");
    }
    let (o, out, _) = status(&cfg, true);
    assert_eq!(o.status.code(), Some(0));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.len(), 5);
    for r in &rows {
        for key in ["host", "group", "role", "version", "sync", "reachable", "error"] {
            assert!(r.get(key).is_some(), "key {key} missing: {r}");
        }
    }
    assert_eq!(row(&rows, "e1")["role"], "active");
    assert_eq!(row(&rows, "e1")["version"], "4.2.0");
    assert_eq!(row(&rows, "w2")["sync"], "syncing");
    assert_eq!(row(&rows, "w2")["state"], "PASSIVE-UNINITIALIZED");
    assert_eq!(row(&rows, "w3")["group"], "west");
    assert!(rows.iter().all(|r| r["reachable"] == true && r["error"].is_null()));
}

#[test]
fn one_host_down_is_unreachable_others_are_read_exit_4() {
    let mut lab = SshLab::new();
    five_hosts(&mut lab);
    let cfg = config(&lab, FIVE, "");
    lab.stop_host("w1");
    let (o, out, err) = status(&cfg, true);
    assert_eq!(o.status.code(), Some(4), "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let w1 = row(&rows, "w1");
    assert_eq!(w1["reachable"], false);
    assert!(w1["error"].as_str().unwrap().contains("connection refused"), "{w1}");
    for h in ["e1", "e2", "w2", "w3"] {
        assert_eq!(row(&rows, h)["reachable"], true, "{h}");
        assert!(row(&rows, h)["version"].is_string());
    }
    assert!(err.contains("1 of 5 hosts unreachable: w1"), "{err}");
    let (_, text, _) = status(&cfg, false);
    assert!(text.lines().any(|l| l.starts_with("w1 ") && l.contains("UNREACHABLE")), "{text}");
    assert!(text.contains("! w1: connection refused; is sshd running on it"), "{text}");
    assert!(!text.contains("w1: w1:"), "the host is named once: {text}");
}

#[test]
fn changed_host_key_is_refused_and_nothing_runs_there() {
    let mut lab = SshLab::new();
    lab.start_host("good");
    lab.start_host("evil");
    node_files(&lab, "good", "4.2.0", "ACTIVE-COORDINATOR");
    let evil = node_files(&lab, "evil", "4.2.0", "PASSIVE-STANDBY");
    lab.change_host_key("evil");
    let cfg = config(&lab, "[[groups]]\nname = \"g\"\ntype = \"server\"\nhosts = [\"good\", \"evil\"]\n", "");
    let (o, out, _) = status(&cfg, true);
    assert_eq!(o.status.code(), Some(4));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let e = row(&rows, "evil")["error"].as_str().unwrap().to_string();
    assert!(e.contains("HOST KEY CHANGED"), "{e}");
    assert!(e.contains("will not connect"), "{e}");
    assert!(!evil.join("probed").exists(), "a command ran on a host whose key changed");
    assert!(lab.dir().join("nodes/good/probed").exists(), "the good host was probed");
}

#[test]
fn authentication_failure_has_its_own_message() {
    let mut lab = SshLab::new();
    lab.start_host_with("locked", HostOptions { authorized: false, ..Default::default() });
    node_files(&lab, "locked", "4.2.0", "ACTIVE-COORDINATOR");
    let cfg = config(&lab, "[[groups]]\nname = \"g\"\ntype = \"server\"\nhosts = [\"locked\"]\n", "");
    let (o, out, _) = status(&cfg, true);
    assert_eq!(o.status.code(), Some(4));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let e = row(&rows, "locked")["error"].as_str().unwrap();
    assert!(e.contains("authentication failed") && e.contains("Permission denied (publickey)"), "{e}");
    assert!(e.contains("ssh-add"), "says what to do: {e}");
}

#[test]
fn sudo_needing_a_password_is_named() {
    ensure_unprivileged_user("rollpilot-test").unwrap();
    let mut lab = SshLab::new();
    lab.start_host_with("plain", HostOptions { user: Some("rollpilot-test".into()), ..Default::default() });
    node_files(&lab, "plain", "4.2.0", "ACTIVE-COORDINATOR");
    let cfg = config(&lab, "[[groups]]\nname = \"g\"\ntype = \"server\"\nhosts = [\"plain\"]\n", "sudo = true");
    let (_, out, _) = status(&cfg, true);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let r = row(&rows, "plain");
    assert_eq!(r["reachable"], true, "the host answered; sudo refused: {r}");
    let e = r["error"].as_str().unwrap();
    assert!(e.contains("sudo needs a password") && e.contains("NOPASSWD"), "{e}");
}

#[test]
fn hanging_and_garbage_probes_are_reported_distinctly() {
    let mut lab = SshLab::new();
    lab.start_host("slow");
    lab.start_host("noisy");
    node_files(&lab, "slow", "4.2.0", "ACTIVE-COORDINATOR");
    let noisy = node_files(&lab, "noisy", "4.2.0", "PASSIVE-STANDBY");
    // noisy prints binary junk and escape sequences instead of its version.
    std::fs::write(noisy.join("version"), b"\x1b[2J\x00\xff\xfe segfault in libjvm.so\n").unwrap();
    std::fs::write(lab.dir().join("nodes/slow/hang"), "").unwrap();
    let groups = "[[groups]]\nname = \"g\"\ntype = \"server\"\nhosts = [\"slow\", \"noisy\"]\n";
    let cfg = config(&lab, groups, "");
    // The slow host's status probe hangs.
    let src = std::fs::read_to_string(&cfg).unwrap().replace(
        "status = \"cat {nodes}/{host}/state\"",
        "status = \"if [ -e {nodes}/{host}/hang ]; then sleep 60; fi; cat {nodes}/{host}/state\"",
    );
    std::fs::write(&cfg, src).unwrap();
    let t = std::time::Instant::now();
    let (_, out, _) = status(&cfg, true);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let slow = row(&rows, "slow")["error"].as_str().unwrap();
    assert!(slow.contains("status probe timed out after 2s (timeouts.probe)"), "{slow}");
    assert_eq!(row(&rows, "slow")["version"], "4.2.0", "the other probes of that host still count");
    let noisy_err = row(&rows, "noisy")["error"].as_str().unwrap();
    assert!(
        noisy_err.contains("version: expected the pattern `Terracotta \\S+ (\\S+)` in the version output, got:"),
        "{noisy_err}"
    );
    assert!(noisy_err.contains("segfault in libjvm.so"), "{noisy_err}");
    assert!(t.elapsed().as_secs() < 30, "bounded by the probe timeout");
}

#[test]
fn ssh_config_alias_through_a_proxyjump_bastion() {
    let mut lab = SshLab::new();
    lab.start_host("bastion");
    lab.start_host_with(
        "inner",
        HostOptions { proxy_jump: Some("bastion".into()), extra_sshd_config: vec![], ..Default::default() },
    );
    node_files(&lab, "inner", "4.2.1", "ACTIVE-COORDINATOR");
    let cfg = config(&lab, "[[groups]]\nname = \"g\"\ntype = \"server\"\nhosts = [\"inner\"]\n", "");
    let (o, out, err) = status(&cfg, true);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(row(&rows, "inner")["version"], "4.2.1");
    assert!(lab.dir().join("nodes/inner/probed").exists());
    // Through the bastion: with the bastion down, the alias is unreachable.
    lab.stop_host("bastion");
    let (o, _, _) = status(&cfg, true);
    assert_eq!(o.status.code(), Some(4));
}
