//! A simulated cluster reached through real OpenSSH servers on loopback: one sshd per simulated
//! machine (127.0.0.x), the simulator's generated config pointing at them, and helpers to run
//! rollpilot against it as an operator would. Everything is torn down on drop (`sim down` first,
//! then the sshd servers), and every wait polls with a deadline.

use super::sshd::SshLab;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The rollpilot binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rollpilot")
}

/// Both streams of a finished command, for assertion messages.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A simulated cluster behind loopback sshd.
pub struct SimLab {
    /// The sshd servers (dropped after the simulator).
    pub ssh: SshLab,
    /// The simulator directory (D).
    pub dir: PathBuf,
    /// D/cluster.toml.
    pub config: PathBuf,
    /// rollpilot's state directory for this "operator".
    pub state: PathBuf,
    tmp: Option<tempfile::TempDir>,
}

impl SimLab {
    /// Starts `machines` sshd servers and `rollpilot sim up --topology T --ssh-hosts ...`.
    pub fn up(topology: &str, extra: &[&str]) -> SimLab {
        let stripe_size =
            extra.windows(2).find(|w| w[0] == "--stripe-size").map(|w| w[1].parse::<usize>().unwrap()).unwrap_or(2);
        let n = match topology {
            "terracotta" => 2 * stripe_size + 4,
            "streambase" => 3,
            "exchange" => 2,
            other => panic!("unknown topology {other}"),
        };
        let mut ssh = SshLab::new();
        let mut hosts = Vec::new();
        for i in 0..n {
            let h = ssh.start_host(&format!("m{i}"));
            hosts.push(format!("{}:{}", h.addr, h.port));
        }
        let tmp = tempfile::Builder::new().prefix("rp-simlab").tempdir_in("/tmp").expect("tempdir");
        let dir = tmp.path().canonicalize().unwrap();
        let state = dir.join("operator-state");
        let d = dir.to_string_lossy().into_owned();
        let hosts = hosts.join(",");
        let cfg = ssh.ssh_config().to_string_lossy().into_owned();
        let mut args = vec![
            "sim",
            "up",
            "--dir",
            d.as_str(),
            "--topology",
            topology,
            "--ssh-hosts",
            hosts.as_str(),
            "--ssh-config",
            cfg.as_str(),
        ];
        args.extend_from_slice(extra);
        let out = Command::new(bin()).args(&args).stdin(Stdio::null()).output().expect("run sim up");
        let lab = SimLab { ssh, config: dir.join("cluster.toml"), dir, state, tmp: Some(tmp) };
        assert!(out.status.success(), "sim up failed:\n{}", text(&out));
        lab
    }

    /// Edits the generated config (e.g. shorter gate timeouts for a test).
    pub fn edit_config(&self, f: impl FnOnce(String) -> String) {
        let src = std::fs::read_to_string(&self.config).unwrap();
        std::fs::write(&self.config, f(src)).unwrap();
    }

    /// Sets a `[timeouts]` value.
    pub fn timeout(&self, key: &str, value: &str) {
        self.edit_config(|s| {
            let re = regex::Regex::new(&format!(r"(?m)^{key} = .*$")).unwrap();
            re.replace(&s, format!("{key} = \"{value}\"").as_str()).into_owned()
        });
    }

    fn command(&self, args: &[&str], state: &Path) -> Command {
        let mut c = Command::new(bin());
        c.args(args).stdin(Stdio::null()).env("ROLLPILOT_STATE_DIR", state).env("USER", "test-operator");
        c
    }

    /// Runs `rollpilot ARGS` (with this lab's state dir) to completion.
    pub fn rollpilot(&self, args: &[&str]) -> Output {
        self.command(args, &self.state).output().expect("run rollpilot")
    }

    /// Same, as a second operator with their own state directory.
    pub fn rollpilot_as(&self, state: &Path, args: &[&str]) -> Output {
        self.command(args, state).output().expect("run rollpilot")
    }

    /// Starts `rollpilot ARGS` in the background, stdout to `log`.
    pub fn spawn(&self, args: &[&str], log: &Path) -> Child {
        let f = std::fs::File::create(log).unwrap();
        let e = f.try_clone().unwrap();
        self.command(args, &self.state).stdout(f).stderr(e).spawn().expect("spawn rollpilot")
    }

    /// The config path as a string.
    pub fn c(&self) -> String {
        self.config.to_string_lossy().into_owned()
    }

    /// `rollpilot upgrade -c D/cluster.toml --headless --yes EXTRA`.
    pub fn upgrade(&self, extra: &[&str]) -> Output {
        let c = self.c();
        let mut a = vec!["upgrade", "-c", c.as_str(), "--headless", "--yes"];
        a.extend_from_slice(extra);
        self.rollpilot(&a)
    }

    /// `rollpilot sim verify`: (exit success, summary line).
    pub fn verify(&self) -> (bool, String) {
        let d = self.dir.to_string_lossy().into_owned();
        let o = Command::new(bin()).args(["sim", "verify", "--dir", d.as_str()]).stdin(Stdio::null()).output().unwrap();
        let summary = String::from_utf8_lossy(&o.stdout).lines().last().unwrap_or("").to_string();
        (o.status.success(), summary)
    }

    /// No acknowledged write lost. StreamBase peers forward each write to the running peers and
    /// repair a missed forward (a peer stopping at that moment) by anti-entropy every 3 s, and
    /// verify wants every key on every running node: a key still travelling gets a few rounds.
    pub fn assert_nothing_lost(&self) {
        let mut last = String::new();
        let held = super::wait_until(Duration::from_secs(20), "every acknowledged write on every node", || {
            let (ok, summary) = self.verify();
            last = summary;
            ok && last.ends_with("lost 0")
        });
        assert!(held.is_ok(), "{last}");
    }

    /// `rollpilot status --json` rows.
    pub fn status(&self) -> Vec<serde_json::Value> {
        let c = self.c();
        let o = self.rollpilot(&["status", "-c", c.as_str(), "--json"]);
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("status json: {e}\n{}", text(&o)))
    }

    /// A node's row.
    pub fn node(&self, host: &str) -> serde_json::Value {
        self.status().into_iter().find(|r| r["host"] == host).unwrap_or_else(|| panic!("no {host}"))
    }

    /// `rollpilot sim fault --dir D NODE KIND [--clear]`.
    pub fn fault(&self, node: &str, kind: &str, clear: bool) {
        let d = self.dir.to_string_lossy().into_owned();
        let mut a = vec!["sim", "fault", "--dir", d.as_str(), node, kind];
        if clear {
            a.push("--clear");
        }
        let o = Command::new(bin()).args(&a).stdin(Stdio::null()).output().unwrap();
        assert!(o.status.success(), "sim fault {node} {kind}: {}", text(&o));
    }

    /// The journals of this lab's operator: (run id, entries).
    pub fn runs(&self) -> Vec<(String, Vec<rollpilot::run::journal::Entry>)> {
        rollpilot::run::runs::list(&self.state, None)
            .into_iter()
            .map(|r| {
                let (e, _) = rollpilot::run::runs::load(&r).unwrap();
                (r.run, e)
            })
            .collect()
    }

    /// Polls `cond` every 200 ms until it holds or `timeout` passes.
    pub fn wait(&self, timeout: Duration, what: &str, cond: impl FnMut() -> bool) {
        super::poll::wait_until(timeout, what, cond).unwrap();
    }
}

impl Drop for SimLab {
    fn drop(&mut self) {
        let d = self.dir.to_string_lossy().into_owned();
        let _ = Command::new(bin()).args(["sim", "down", "--dir", d.as_str()]).stdin(Stdio::null()).output();
        drop(self.tmp.take());
    }
}
