//! Tests of the loopback sshd lab (tests/support/sshd.rs) against the real Debian OpenSSH server
//! and client: each asserts what a user of ssh would see.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::procs::pid_alive;
use support::{HostOptions, KillOnDrop, SshLab, ensure_unprivileged_user, wait_until};

const TIMEOUT: Duration = Duration::from_secs(15);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(out: &Output) -> String {
    format!("status {:?}\nstdout: {}\nstderr: {}", out.status.code(), text(&out.stdout), text(&out.stderr))
}

fn assert_ok(out: &Output) {
    assert!(out.status.success(), "ssh failed: {}", describe(out));
}

/// Starts `ssh alias <long command>` in the background and waits until the remote command is
/// running; returns the client and the remote command's pid (written by the remote shell).
fn open_long_session(lab: &SshLab, alias: &str, pid_file: &Path) -> (KillOnDrop, u32) {
    let remote = format!("echo $$ > {}; exec sleep 30", pid_file.display());
    let client =
        KillOnDrop(lab.ssh_command(alias, &remote).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap());
    let mut pid = None;
    wait_until(TIMEOUT, "the remote sleep to start", || {
        pid = fs::read_to_string(pid_file).ok().and_then(|s| s.trim().parse().ok());
        pid.is_some()
    })
    .unwrap();
    (client, pid.unwrap())
}

fn all_dead(pids: &BTreeSet<u32>) -> Vec<u32> {
    pids.iter().copied().filter(|p| pid_alive(*p)).collect()
}

#[test]
fn three_hosts_run_commands_at_once() {
    let mut lab = SshLab::new();
    let hosts: Vec<_> = ["db1", "db2", "db3"].iter().map(|a| lab.start_host(a)).collect();
    let clients: Vec<_> = hosts
        .iter()
        .map(|h| lab.ssh_command(&h.alias, "echo \"$SSH_CONNECTION\"; id -un").stdout(Stdio::piped()).spawn().unwrap())
        .collect();
    for (host, client) in hosts.iter().zip(clients) {
        let out = client.wait_with_output().unwrap();
        assert_ok(&out);
        let stdout = text(&out.stdout);
        // SSH_CONNECTION = "client_ip client_port server_ip server_port": the right server answered.
        assert!(
            stdout.lines().next().unwrap().ends_with(&format!(" {} {}", host.addr, host.port)),
            "{}: {stdout}",
            host.alias
        );
        assert_eq!(stdout.lines().nth(1), Some(host.user.as_str()));
        assert!(lab.sshd_log(&host.alias).contains(&format!("Accepted publickey for {}", host.user)));
    }
    let addrs: BTreeSet<_> = hosts.iter().map(|h| h.socket_addr()).collect();
    assert_eq!(addrs.len(), 3, "each host has its own address and port");
}

#[test]
fn changed_host_key_is_refused_by_strict_ssh() {
    let mut lab = SshLab::new();
    lab.start_host("web");
    assert_ok(&lab.ssh("web", "true"));
    let known_before = fs::read_to_string(lab.known_hosts()).unwrap();

    lab.change_host_key("web");

    let out = lab.ssh("web", "echo should-not-run");
    assert_eq!(out.status.code(), Some(255), "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"), "{stderr}");
    assert!(stderr.contains("Host key verification failed."), "{stderr}");
    assert!(!text(&out.stdout).contains("should-not-run"));
    assert_eq!(fs::read_to_string(lab.known_hosts()).unwrap(), known_before, "the lab never rewrites known_hosts");
}

#[test]
fn kill_host_drops_live_connection_and_restart_keeps_the_key() {
    let mut lab = SshLab::new();
    let info = lab.start_host("app");
    let pid_file = lab.dir().join("remote.pid");
    let (mut client, remote_sleep) = open_long_session(&lab, "app", &pid_file);
    let sshd_pids = lab.host_processes("app");
    // guard, watcher, listener and at least one session process holding the connection.
    assert!(sshd_pids.len() >= 4, "expected listener and session processes, got {sshd_pids:?}");

    let killed_at = Instant::now();
    lab.kill_host("app");
    let status = client.wait_timeout(Duration::from_secs(5)).expect("ssh client still running 5 s after kill_host");
    assert_eq!(status.code(), Some(255), "the client sees a dropped connection");
    assert!(killed_at.elapsed() < Duration::from_secs(5));
    let mut stderr = String::new();
    std::io::Read::read_to_string(client.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("closed by remote host"), "client stderr: {stderr}");
    assert_eq!(all_dead(&sshd_pids), Vec::<u32>::new(), "sshd listener or session processes survived kill_host");
    assert!(lab.host_processes("app").is_empty());
    let refused = lab.ssh("app", "true");
    assert!(text(&refused.stderr).contains("Connection refused"), "{}", describe(&refused));

    // Like a real host whose sshd died: a quiet command without a pty keeps running.
    assert!(pid_alive(remote_sleep), "the remote command was killed with sshd");
    Command::new("kill").args(["-s", "KILL", &remote_sleep.to_string()]).status().unwrap();

    lab.restart_host("app");
    assert_eq!(lab.host("app"), &info, "same address, port and user after restart");
    let out = lab.ssh("app", "echo back");
    assert_ok(&out);
    assert_eq!(text(&out.stdout).trim(), "back");
    assert!(lab.sshd_log("app").contains("--- rp harness: start #2"));
}

#[test]
fn stop_host_closes_the_port_and_restart_reuses_it() {
    let mut lab = SshLab::new();
    let info = lab.start_host("cache");
    lab.stop_host("cache");
    let out = lab.ssh("cache", "true");
    assert_eq!(out.status.code(), Some(255));
    assert!(text(&out.stderr).contains("Connection refused"), "{}", describe(&out));
    assert!(lab.sshd_log("cache").contains("Received signal 15; terminating."), "{}", lab.sshd_log("cache"));
    lab.restart_host("cache");
    assert_eq!(lab.host("cache").socket_addr(), info.socket_addr());
    assert_ok(&lab.ssh("cache", "true"));
}

#[test]
fn proxy_jump_goes_through_the_bastion() {
    let mut lab = SshLab::new();
    // DEBUG1 makes the bastion log the direct-tcpip channel ssh -W opens to the target.
    lab.start_host_with(
        "bastion",
        HostOptions { extra_sshd_config: vec!["LogLevel DEBUG1".into()], ..Default::default() },
    );
    let target = lab.start_host_with("inner", HostOptions { proxy_jump: Some("bastion".into()), ..Default::default() });

    let out = lab.ssh("inner", "echo \"$SSH_CONNECTION\"");
    assert_ok(&out);
    assert!(text(&out.stdout).trim().ends_with(&format!(" {} {}", target.addr, target.port)), "{}", describe(&out));
    let bastion_log = lab.sshd_log("bastion");
    assert!(
        bastion_log.contains(&format!("target {} port {}", target.addr, target.port)),
        "the bastion did not forward to the target:\n{bastion_log}"
    );

    let resolved = lab.ssh_base().args(["-G", "inner"]).output().unwrap();
    assert!(text(&resolved.stdout).lines().any(|l| l == "proxyjump bastion"), "{}", describe(&resolved));

    // Without the bastion the alias is unreachable, although the target itself is fine.
    lab.kill_host("bastion");
    let out = lab.ssh("inner", "true");
    assert_eq!(out.status.code(), Some(255), "{}", describe(&out));
    let direct = lab.ssh_base().args(["-o", "ProxyJump=none", "inner", "true"]).output().unwrap();
    assert!(direct.status.success(), "{}", describe(&direct));
}

#[test]
fn unauthorized_key_is_denied() {
    let mut lab = SshLab::new();
    let info = lab.start_host_with("locked", HostOptions { authorized: false, ..Default::default() });
    let out = lab.ssh("locked", "echo should-not-run");
    assert_eq!(out.status.code(), Some(255), "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("{}@{}: Permission denied (publickey).", info.user, info.addr)), "{stderr}");
}

#[test]
fn sudo_needs_a_password_for_the_unprivileged_user() {
    const USER: &str = "rollpilot-test";
    if let Err(message) = ensure_unprivileged_user(USER) {
        panic!("{message}");
    }
    let mut lab = SshLab::new();
    lab.start_host_with("plain", HostOptions { user: Some(USER.into()), ..Default::default() });
    let out = lab.ssh(
        "plain",
        "id -un; command -v sudo >/dev/null || echo 'sudo: not installed (.ci/run installs it)' >&2; sudo -n true",
    );
    assert_eq!(text(&out.stdout).lines().next(), Some(USER), "{}", describe(&out));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(text(&out.stderr).contains("sudo: a password is required"), "{}", describe(&out));
}

#[test]
fn dropping_the_lab_kills_everything_it_started() {
    let mut lab = SshLab::new();
    lab.start_host("n1");
    lab.start_host("n2");
    let (mut client, remote_sleep) = open_long_session(&lab, "n2", &lab.dir().join("remote.pid"));
    let pids = lab.processes();
    assert!(pids.contains(&remote_sleep), "the attached remote command is one of the lab's processes");
    let n2 = lab.host_processes("n2");
    assert!(n2.len() >= 4 && n2.is_subset(&pids), "{n2:?} within {pids:?}");
    let dir = lab.dir().to_path_buf();

    drop(lab);

    assert_eq!(all_dead(&pids), Vec::<u32>::new(), "processes survived the lab");
    assert!(!dir.exists(), "{} was not removed", dir.display());
    assert_eq!(client.wait_timeout(Duration::from_secs(5)).and_then(|s| s.code()), Some(255));
}

#[test]
fn a_panicking_test_still_cleans_up() {
    let mut seen: (BTreeSet<u32>, PathBuf) = Default::default();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut lab = SshLab::new();
        lab.start_host("doomed");
        seen = (lab.processes(), lab.dir().to_path_buf());
        panic!("simulated test failure with a running lab");
    }));
    assert!(result.is_err());
    let (pids, dir) = seen;
    assert!(pids.len() >= 3, "{pids:?}");
    assert_eq!(all_dead(&pids), Vec::<u32>::new(), "processes survived the panic");
    assert!(!dir.exists());
}

#[test]
fn client_config_is_hermetic() {
    let mut lab = SshLab::new();
    let info = lab.start_host("db");
    // ssh ControlPath sockets go under the lab dir: sun_path is 108 bytes, ssh appends
    // ".XXXXXXXXXXXXXXXX" while binding, and %C is 40 hex characters.
    assert!(lab.dir().as_os_str().len() + "/cm/".len() + 40 + 17 < 108, "{}", lab.dir().display());
    let lab_path = |p: &Path| p.display().to_string();
    for (alias, hostname) in [("db", info.addr.to_string()), ("no-such-alias", "no-such-alias".to_string())] {
        let out = lab.ssh_base().args(["-G", alias]).output().unwrap();
        assert_ok(&out);
        let resolved = text(&out.stdout);
        let expected = [
            format!("hostname {hostname}"),
            format!("identityfile {}", lab_path(lab.identity())),
            format!("userknownhostsfile {}", lab_path(lab.known_hosts())),
            "globalknownhostsfile /dev/null".to_string(),
            "stricthostkeychecking true".to_string(),
            "batchmode yes".to_string(),
            "identitiesonly yes".to_string(),
            "identityagent none".to_string(),
        ];
        for line in expected {
            assert!(resolved.lines().any(|l| l == line), "{alias}: missing `{line}` in:\n{resolved}");
        }
        assert_eq!(resolved.lines().filter(|l| l.starts_with("identityfile ")).count(), 1, "{resolved}");
        assert!(!resolved.contains("/.ssh/"), "{alias} still refers to ~/.ssh:\n{resolved}");
    }
    let known = fs::read_to_string(lab.known_hosts()).unwrap();
    assert_eq!(known.lines().count(), 1);
    assert!(known.starts_with(&format!("[{}]:{} ssh-ed25519 ", info.addr, info.port)), "{known}");
}
