//! `rollpilot rehearse --probe` reads the real cluster's state over ssh and nothing more: against
//! real OpenSSH servers on loopback whose every command is logged (a ForceCommand wrapper), the
//! only commands a whole rehearsal runs on the "real" hosts are the kinds' probe commands, and
//! none of the procedure's commands (stop, install, start, the lock) ever reaches them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use support::{HostOptions, SshLab};

fn node_files(lab: &SshLab, host: &str, version: &str, state: &str) {
    let d = lab.dir().join("nodes").join(host);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("version"), format!("Terracotta Enterprise {version}\n")).unwrap();
    std::fs::write(d.join("state"), format!("{host}.health: OK\n{host}.state: {state}\n")).unwrap();
}

/// A ForceCommand that appends each command (NUL-terminated) to `log`, then runs it.
fn logging_wrapper(lab: &SshLab) -> (PathBuf, PathBuf) {
    let log = lab.dir().join("commands.log");
    std::fs::write(&log, "").unwrap();
    let w = lab.dir().join("log-command.sh");
    std::fs::write(
        &w,
        format!(
            "#!/bin/sh\nprintf '%s\\0' \"$SSH_ORIGINAL_COMMAND\" >> '{}'\nexec /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&w, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (w, log)
}

fn config(lab: &SshLab) -> PathBuf {
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
probe = "5s"

[vars]
nodes = "{nodes}"

[kinds.server]
version = "cat {{nodes}}/{{host}}/version"
status = "cat {{nodes}}/{{host}}/state"
stop = "touch {{nodes}}/{{host}}/STOPPED"
install = "touch {{nodes}}/{{host}}/INSTALLED-{{version}}"
start = "touch {{nodes}}/{{host}}/STARTED"

[kinds.server.parse]
version = {{ regex = 'Terracotta \S+ (\S+)' }}
role = {{ regex = '\.state: (\S+)', map = {{ "ACTIVE-COORDINATOR" = "active", "PASSIVE-STANDBY" = "passive" }} }}
sync = {{ regex = '\.state: (\S+)', map = {{ "PASSIVE-STANDBY" = "in-sync", "ACTIVE-COORDINATOR" = "n/a" }} }}
health = {{ from = "status", regex = '\.health: (\S+)', map = {{ "OK" = "ok" }}, default = "failed" }}

[[groups]]
name = "east"
type = "server"
region = "us-east"
hosts = ["e1", "e2"]
"#,
        cfg = lab.ssh_config().display(),
        kh = lab.known_hosts().display(),
        nodes = lab.dir().join("nodes").display(),
    );
    let p = lab.dir().join("cluster.toml");
    std::fs::write(&p, src).unwrap();
    p
}

#[test]
fn a_probed_rehearsal_runs_only_probe_commands_on_real_hosts() {
    let mut lab = SshLab::new();
    let (wrapper, log) = logging_wrapper(&lab);
    for (h, state) in [("e1", "PASSIVE-STANDBY"), ("e2", "ACTIVE-COORDINATOR")] {
        let opts = HostOptions {
            extra_sshd_config: vec![format!("ForceCommand {}", wrapper.display())],
            ..Default::default()
        };
        lab.start_host_with(h, opts);
        node_files(&lab, h, "4.2.0", state);
    }
    let cfg = config(&lab);
    let nodes = lab.dir().join("nodes");
    std::fs::set_permissions(&nodes, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let twins = tmp.path().join("twins");
    std::fs::create_dir_all(&twins).unwrap();
    let rehearsals = tmp.path().join("rehearsals");
    let out = Command::new(env!("CARGO_BIN_EXE_rollpilot"))
        .args(["rehearse", "-c"])
        .arg(&cfg)
        .args(["--probe", "--headless", "--yes", "--rehearsal-dir"])
        .arg(&rehearsals)
        .env("TMPDIR", &twins)
        .env("ROLLPILOT_STATE_DIR", tmp.path().join("state"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("probed from the real hosts") || text.contains("the twin's plan is the real plan"), "{text}");
    // The twin followed what the probe read: e2 is the active, so e1 (the passive) goes first.
    let rep = std::fs::read_dir(rehearsals.join("runs").join("lab")).unwrap().flatten().next().unwrap().path();
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rep.join("rehearsal.json")).unwrap()).unwrap();
    assert_eq!(rep["starting_state"], "probed from the real hosts (read-only status probes)");
    assert_eq!(rep["plan"][0]["id"], "east/e1/stop", "{rep}");
    assert_eq!(rep["outcome"], "done");

    // What reached the real hosts: probe commands only.
    let logged = std::fs::read_to_string(&log).unwrap();
    let commands: Vec<&str> = logged.split('\0').filter(|c| !c.trim().is_empty()).collect();
    assert!(!commands.is_empty(), "the probe ran nothing over ssh?");
    let probes: Vec<String> = ["e1", "e2"]
        .iter()
        .flat_map(|h| {
            let d = nodes.join(h);
            [format!("cat {}/version", d.display()), format!("cat {}/state", d.display())]
        })
        .collect();
    for c in &commands {
        assert!(probes.iter().any(|p| c.contains(p.as_str())), "a command that is no probe reached a real host: {c}");
        for forbidden in ["STOPPED", "INSTALLED", "STARTED", "mkdir", "rm -"] {
            assert!(!c.contains(forbidden), "`{forbidden}` reached a real host: {c}");
        }
    }
    for h in ["e1", "e2"] {
        let names: Vec<String> = std::fs::read_dir(nodes.join(h))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let mut names = names;
        names.sort();
        assert_eq!(names, ["state", "version"], "{h}'s files changed: {names:?}");
    }
}
