//! Command-line conventions an operator or a script relies on: quiet broken pipes, shell
//! completions and a man page, `init` writing a config that passes `check`, and error
//! messages that name the right flag, say what is wrong once, and give a command that works.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

const FIXTURE_STATE: &str = "tests/fixtures/terracotta-4.2.0.toml";
const TERRACOTTA: &str = "config/terracotta.toml";

fn rollpilot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rollpilot")).args(args).stdin(Stdio::null()).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs rollpilot with its stdout on a pipe whose reader is already gone, as `| head -1` leaves
/// it once head has its line: the command must end quietly with exit 0.
fn with_closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollpilot"));
    cmd.args(args).stdin(Stdio::null()).stdout(writer).stderr(Stdio::piped());
    let o = cmd.output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{args:?} into a closed pipe: {}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
    assert!(!stderr(&o).contains("Broken pipe"), "{args:?}: {}", stderr(&o));
    o
}

#[test]
fn plan_and_completions_end_quietly_when_the_reader_goes_away() {
    with_closed_stdout(&["plan", "-c", TERRACOTTA, "--assume", FIXTURE_STATE, "--json"]);
    with_closed_stdout(&["plan", "-c", TERRACOTTA, "--assume", FIXTURE_STATE]);
    with_closed_stdout(&["check", "-c", TERRACOTTA]);
    with_closed_stdout(&["completions", "bash"]);
    with_closed_stdout(&["man"]);
}

/// A simulated cluster on loopback, stopped on drop (as tests/sim_cli.rs uses it).
struct LocalSim {
    dir: tempfile::TempDir,
}

impl LocalSim {
    fn up() -> LocalSim {
        let dir = tempfile::Builder::new().prefix("rp-conv").tempdir_in("/tmp").unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_rollpilot"))
            .args(["sim", "up", "--dir"])
            .arg(dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        LocalSim { dir }
    }

    fn config(&self) -> String {
        self.dir.path().join("cluster.toml").to_string_lossy().into_owned()
    }
}

impl Drop for LocalSim {
    fn drop(&mut self) {
        let _ =
            Command::new(env!("CARGO_BIN_EXE_rollpilot")).args(["sim", "down", "--dir"]).arg(self.dir.path()).output();
    }
}

#[test]
fn status_and_report_end_quietly_when_the_reader_goes_away() {
    let sim = LocalSim::up();
    let cfg = sim.config();
    with_closed_stdout(&["status", "-c", &cfg, "--json"]);
    with_closed_stdout(&["status", "-c", &cfg]);
    with_closed_stdout(&["sim", "status", "--dir", sim.dir.path().to_str().unwrap()]);
    // A run with nothing to do (the target is what runs) still leaves a journal to report on.
    let state = sim.dir.path().join("state");
    let state = state.to_str().unwrap();
    let o = rollpilot(&["upgrade", "-c", &cfg, "--to", "4.2.0", "--headless", "--yes", "--state-dir", state]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = rollpilot(&["report", "--state-dir", state, "--format", "json"]);
    assert_eq!(report.status.code(), Some(0), "{}", stderr(&report));
    with_closed_stdout(&["report", "--state-dir", state, "--format", "json"]);
    with_closed_stdout(&["report", "--state-dir", state]);
}

#[test]
fn bash_completion_loads_and_the_man_page_is_roff() {
    let bin = env!("CARGO_BIN_EXE_rollpilot");
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!("source <('{bin}' completions bash) && complete -p rollpilot"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("rollpilot"), "{}", String::from_utf8_lossy(&o.stdout));
    for shell in ["zsh", "fish"] {
        let o = rollpilot(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", stderr(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("upgrade"), "{shell}");
    }
    let man = rollpilot(&["man"]);
    assert_eq!(man.status.code(), Some(0));
    let man = String::from_utf8_lossy(&man.stdout);
    assert!(man.contains(".TH rollpilot 1"), "{man}");
    assert!(man.contains("Exit codes"), "the man page carries the exit-code table");
}

fn check_ok(file: &Path) {
    let o = rollpilot(&["check", "-c", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stderr(&o), std::fs::read_to_string(file).unwrap_or_default());
}

#[test]
fn init_writes_configs_that_pass_check_and_never_overwrites_silently() {
    let dir = tempfile::tempdir().unwrap();
    for profile in ["active-passive", "terracotta", "any-order"] {
        let f = dir.path().join(format!("{profile}.toml"));
        let o = rollpilot(&["init", "--hosts", "a,b,c", "--profile", profile, "-o", f.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        check_ok(&f);
    }
    let f = dir.path().join("active-passive.toml");
    let before = std::fs::read_to_string(&f).unwrap();
    let o = rollpilot(&["init", "--hosts", "x,y", "--profile", "any-order", "-o", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), before, "the existing file is untouched");
    let o = rollpilot(&["init", "--hosts", "x,y", "--profile", "any-order", "-o", f.to_str().unwrap(), "--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&f).unwrap().contains("\"x\""));
    check_ok(&f);
}

#[test]
fn init_reads_an_ansible_inventory_and_an_ssh_config() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inventory.json");
    std::fs::write(
        &inv,
        r#"{"_meta": {"hostvars": {"pg1": {"ansible_host": "10.0.0.1", "ansible_port": 2222, "ansible_user": "alice"},
                                   "pg2": {"ansible_host": "10.0.0.2"}}},
            "all": {"children": ["db", "ungrouped"]},
            "db": {"hosts": ["pg1", "pg2"]},
            "ungrouped": {"hosts": []}}"#,
    )
    .unwrap();
    let out = dir.path().join("db.toml");
    let o = rollpilot(&[
        "init",
        "--profile",
        "active-passive",
        "--ansible-inventory",
        inv.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    check_ok(&out);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains(r#"{ name = "pg1", address = "10.0.0.1", port = 2222, user = "alice" }"#), "{text}");
    assert!(text.contains(r#"name = "db""#), "{text}");

    let ssh = dir.path().join("ssh_config");
    std::fs::write(&ssh, "Host *\n  ServerAliveInterval 10\nHost db1 db2 web-*\n  Port 2222\n").unwrap();
    let out = dir.path().join("ssh.toml");
    let o = rollpilot(&[
        "init",
        "--profile",
        "any-order",
        "--ssh-config",
        ssh.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    check_ok(&out);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("\"db1\"") && text.contains("\"db2\"") && !text.contains("web-*"), "{text}");
    assert!(text.contains("config_file"), "the hosts' ssh_config is the one rollpilot uses: {text}");
}

#[test]
fn assume_errors_name_assume_and_an_empty_state_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let o = rollpilot(&["plan", "-c", TERRACOTTA, "--assume", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--assume"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("-c"), "the config given with -c is fine: {}", stderr(&o));

    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let o = rollpilot(&["plan", "-c", TERRACOTTA, "--assume", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("describes no nodes"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("unreachable"), "{}", stderr(&o));
}

#[test]
fn a_state_dir_that_is_a_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state");
    std::fs::write(&file, "").unwrap();
    let o = rollpilot(&["upgrade", "-c", TERRACOTTA, "--headless", "--yes", "--state-dir", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--state-dir") && stderr(&o).contains("not a directory"), "{}", stderr(&o));
    let o = rollpilot(&["report", "--state-dir", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a directory"), "{}", stderr(&o));
}

#[test]
fn an_r1_refusal_is_said_once_with_every_node_and_without_seed_numbers() {
    let o = rollpilot(&["plan", "-c", TERRACOTTA, "--assume", FIXTURE_STATE, "--to", "4.3.0"]);
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    assert_eq!(err.matches("R1 version-compat").count(), 1, "{err}");
    assert_eq!(err.matches("what to do").count(), 1, "{err}");
    for node in ["tc-east-1", "tc-west-2", "app-east-1", "wan-west"] {
        assert!(err.contains(node), "{node} missing: {err}");
    }
    assert!(!err.contains("seed 0"), "{err}");
    let plan = rollpilot(&["plan", "-c", TERRACOTTA, "--assume", FIXTURE_STATE]);
    assert!(!String::from_utf8_lossy(&plan.stdout).contains("seed 0"));
}

#[test]
fn the_unreachable_hint_is_the_ssh_command_that_was_tried_and_names_the_host_once() {
    // A port nothing listens on: connecting is refused at once.
    let port = std::net::TcpListener::bind("127.0.2.2:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inventory.json");
    std::fs::write(
        &inv,
        format!(
            r#"{{"_meta": {{"hostvars": {{"pg3": {{"ansible_host": "127.0.2.2", "ansible_port": {port}, "ansible_user": "alice"}}}}}},
                "db": {{"hosts": ["pg3"]}}}}"#
        ),
    )
    .unwrap();
    let cfg = dir.path().join("db.toml");
    let o = rollpilot(&[
        "init",
        "--profile",
        "any-order",
        "--ansible-inventory",
        inv.to_str().unwrap(),
        "-o",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = rollpilot(&["plan", "-c", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(&format!("ssh -p {port} alice@127.0.2.2")), "{err}");
    assert!(!err.contains("pg3: pg3"), "{err}");
    assert!(!err.contains("unreachable: pg3:"), "{err}");
}
