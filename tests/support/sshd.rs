//! A lab of real OpenSSH servers on loopback, for integration tests that must talk to a real
//! `sshd` through the system `ssh` (which is what the `openssh` crate drives).
//!
//! Every lab lives in its own short temporary directory (`/tmp/rpXXXXXX`): client key, private
//! `known_hosts`, an `ssh_config` the lab keeps up to date, and one sub-directory per host (host key,
//! `sshd_config`, log). Clients use `ssh -F <lab ssh_config>`, so neither `~/.ssh` nor
//! `/etc/ssh/ssh_config` is read, and ssh does not even create `~/.ssh` (it only does that without
//! `-F`). Servers listen on random `127.0.0.X` addresses (X in 2..=250) and free ports, so labs in
//! parallel tests do not collide and nothing leaves loopback.
//!
//! Process model: each sshd runs as `sshd -D -e` under a tiny `sh` guard placed in its own process
//! group. The guard holds the read end of a pipe (the "lifeline") whose write end only the lab
//! holds: when the lab closes it (graceful stop) or the test process dies in any way (panic abort,
//! SIGKILL, Ctrl-C of `cargo test`), the guard SIGTERMs sshd. Session processes are not in that
//! process group (sshd `setsid()`s every connection), so they are found by the TCP socket they hold
//! (see `procs`). `Drop` kills everything, also while a test is panicking.

use std::collections::BTreeSet;
use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{ErrorKind, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use super::poll::{wait_child, wait_until};
use super::procs;

/// Absolute path of the server binary: sshd refuses to run from a relative path ("sshd re-exec
/// requires execution with an absolute path").
pub const SSHD: &str = "/usr/sbin/sshd";

/// How long a server may take to start answering; generous for a loaded 2-core CI machine.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a stop or kill may take before the harness gives up loudly.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How many fresh address/port pairs to try when a port picked as free was taken meanwhile.
const BIND_ATTEMPTS: u32 = 5;

/// The guard that runs sshd (`$@`). fd 0 is the lifeline pipe: it is moved to fd 3 and read by a
/// watcher subshell; EOF (lab closed it, or the test process died) means "SIGTERM sshd". The guard
/// exits with sshd's status, so `Child::try_wait` on it tells us when sshd is gone.
const GUARD_SCRIPT: &str = r#"exec 3<&0 </dev/null
"$@" 3<&- &
sshd=$!
(read -r _ <&3; kill -TERM "$sshd" 2>/dev/null) &
watcher=$!
exec 3<&-
wait "$sshd"
status=$?
kill "$watcher" 2>/dev/null
exit "$status"
"#;

/// Where a lab host listens and who logs in, as recorded in the lab's `ssh_config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    /// The `Host` alias in the lab `ssh_config`; what tests (and rollpilot) pass to ssh.
    pub alias: String,
    /// The loopback address sshd listens on (`127.0.0.X`, X in 2..=250).
    pub addr: Ipv4Addr,
    /// The TCP port sshd listens on.
    pub port: u16,
    /// The remote login user (`User` in the Host block).
    pub user: String,
}

impl HostInfo {
    /// The name ssh looks the host key up under in `known_hosts`: `[127.0.0.X]:PORT` (ssh keys
    /// entries by HostName and port, never by alias).
    pub fn known_hosts_name(&self) -> String {
        if self.port == 22 { self.addr.to_string() } else { format!("[{}]:{}", self.addr, self.port) }
    }

    /// The socket address sshd listens on.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::from((self.addr, self.port))
    }
}

/// Per-host variations for [`SshLab::start_host_with`].
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// Login user; `None` means the user running the tests (root on CI). sshd must run as root to
    /// log anyone else in.
    pub user: Option<String>,
    /// Extra `sshd_config` lines. Lines before the first `Match` go *before* the harness defaults,
    /// so they override them (sshd keeps the first value of most keywords, e.g. `LogLevel DEBUG1`
    /// or `MaxSessions 2`); a `Match` block and what follows go at the end, where it must be.
    pub extra_sshd_config: Vec<String>,
    /// `ProxyJump` for this alias: the alias of another lab host, used as a bastion.
    pub proxy_jump: Option<String>,
    /// Whether the lab client key is accepted. `false` gives the host an empty authorized_keys,
    /// so logins fail with "Permission denied (publickey)".
    pub authorized: bool,
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions { user: None, extra_sshd_config: Vec::new(), proxy_jump: None, authorized: true }
    }
}

/// A started sshd: the guard process and the write end of its lifeline.
struct Running {
    guard: Child,
    lifeline: Option<ChildStdin>,
}

struct Host {
    info: HostInfo,
    opts: HostOptions,
    /// `<lab>/hN`: host key `hk`, `sshd_config`, `log`, `pid`, and `ak` when not authorized.
    dir: PathBuf,
    running: Option<Running>,
    starts: u32,
}

impl Host {
    fn key_path(&self) -> PathBuf {
        self.dir.join("hk")
    }
    fn config_path(&self) -> PathBuf {
        self.dir.join("sshd_config")
    }
    fn log_path(&self) -> PathBuf {
        self.dir.join("log")
    }
}

/// Why a launch failed: a lost race for the port (worth retrying elsewhere) or anything else.
enum LaunchError {
    AddrInUse(String),
    Other(String),
}

/// A set of real sshd servers on loopback plus a hermetic client configuration for them.
///
/// Why a lab rather than one server: rolling-upgrade tests need several hosts, a bastion, hosts
/// that die, restart or change their key, all reached through one `ssh_config` exactly as an
/// operator's would be. Dropping the lab kills every process it started and removes its directory.
pub struct SshLab {
    hosts: Vec<Host>,
    identity: PathBuf,
    known_hosts: PathBuf,
    ssh_config: PathBuf,
    authorized_keys: PathBuf,
    current_user: String,
    /// Declared last so it is removed after `Drop::drop` killed the servers using it.
    dir: TempDir,
}

impl SshLab {
    /// Creates the lab directory with a fresh ed25519 client key (no passphrase), an empty
    /// `known_hosts` and an `ssh_config` that so far only holds the safe `Host *` defaults.
    pub fn new() -> SshLab {
        // Short base: ControlPath sockets under it must stay below the 108-byte sun_path limit.
        let dir = tempfile::Builder::new().prefix("rp").tempdir_in("/tmp").expect("create lab dir under /tmp");
        let base = dir.path().to_path_buf();
        // 0711: an unprivileged login user (sshd reads AuthorizedKeysFile as that user) must be
        // able to traverse to authorized_keys, but not list the directory.
        set_mode(&base, 0o711);
        let identity = base.join("id_ed25519");
        keygen(&identity, "rp-lab-client");
        let authorized_keys = base.join("authorized_keys");
        fs::copy(identity.with_extension("pub"), &authorized_keys).expect("write lab authorized_keys");
        set_mode(&authorized_keys, 0o644);
        let known_hosts = base.join("known_hosts");
        fs::write(&known_hosts, "").expect("create lab known_hosts");
        let lab = SshLab {
            hosts: Vec::new(),
            identity,
            known_hosts,
            ssh_config: base.join("ssh_config"),
            authorized_keys,
            current_user: current_user(),
            dir,
        };
        lab.write_ssh_config();
        lab
    }

    /// The lab's `ssh_config`; pass it as `ssh -F` (or `SessionBuilder::config_file`).
    pub fn ssh_config(&self) -> &Path {
        &self.ssh_config
    }

    /// The lab's private `known_hosts` (`UserKnownHostsFile` of every host).
    pub fn known_hosts(&self) -> &Path {
        &self.known_hosts
    }

    /// The client private key every authorized lab host accepts.
    pub fn identity(&self) -> &Path {
        &self.identity
    }

    /// The lab directory (`/tmp/rpXXXXXX`, short on purpose): put control sockets and other
    /// per-test files here so they are removed with the lab.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts an sshd for `alias` with default options: the current user, the lab key accepted.
    pub fn start_host(&mut self, alias: &str) -> HostInfo {
        self.start_host_with(alias, HostOptions::default())
    }

    /// Starts an sshd for `alias` on a random `127.0.0.X` and free port with a new host key, waits
    /// until it accepts TCP and answers `ssh-keyscan` with that key, records the key in the lab
    /// `known_hosts` as `[127.0.0.X]:PORT` and adds a strict Host block for `alias` to `ssh_config`.
    pub fn start_host_with(&mut self, alias: &str, opts: HostOptions) -> HostInfo {
        validate_alias(alias);
        assert!(self.find(alias).is_none(), "lab host `{alias}` already exists");
        if let Some(jump) = &opts.proxy_jump {
            assert!(self.find(jump).is_some(), "ProxyJump `{jump}` for `{alias}` is not a lab host; start it first");
        }
        ensure_privsep_dir();
        let dir = self.dir.path().join(format!("h{}", self.hosts.len() + 1));
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        set_mode(&dir, 0o711);
        if !opts.authorized {
            let empty = dir.join("ak");
            fs::write(&empty, "").expect("write empty authorized_keys");
            set_mode(&empty, 0o644);
        }
        let user = opts.user.clone().unwrap_or_else(|| self.current_user.clone());
        let mut host = Host {
            info: HostInfo { alias: alias.to_string(), addr: Ipv4Addr::LOCALHOST, port: 0, user },
            opts,
            dir,
            running: None,
            starts: 0,
        };
        keygen(&host.key_path(), &format!("rp-lab-host-{alias}"));

        let mut last_error = String::new();
        for _ in 0..BIND_ATTEMPTS {
            host.info.addr = random_loopback();
            host.info.port = free_port(host.info.addr);
            match Self::launch(&mut host, &self.authorized_keys) {
                Ok(()) => {
                    last_error.clear();
                    break;
                }
                Err(LaunchError::AddrInUse(e)) => last_error = e,
                Err(LaunchError::Other(e)) => panic!("{e}"),
            }
        }
        assert!(last_error.is_empty(), "could not bind sshd for `{alias}` after {BIND_ATTEMPTS} tries: {last_error}");

        let line = format!("{} {}\n", host.info.known_hosts_name(), public_key(&host.key_path()));
        let mut known = OpenOptions::new().append(true).open(&self.known_hosts).expect("open lab known_hosts");
        known.write_all(line.as_bytes()).expect("append to lab known_hosts");
        let info = host.info.clone();
        self.hosts.push(host);
        self.write_ssh_config();
        info
    }

    /// Stops `alias` gracefully (SIGTERM to the listener, like `systemctl stop ssh`) and waits until
    /// its port refuses connections. As with a real sshd, established sessions are not killed;
    /// use [`SshLab::kill_host`] to drop them. No-op for the process if it is already stopped.
    pub fn stop_host(&mut self, alias: &str) {
        let host = self.find_mut(alias);
        if let Some(mut running) = host.running.take() {
            drop(running.lifeline.take());
            if wait_child(&mut running.guard, STOP_TIMEOUT).is_none() {
                let log = read_log(host);
                let _ = running.guard.kill();
                let _ = running.guard.wait();
                panic!("sshd for `{alias}` did not exit within {STOP_TIMEOUT:?} of SIGTERM; log:\n{log}");
            }
        }
        let host = self.find(alias).expect("host exists");
        wait_port_closed(host);
    }

    /// Simulates sshd dying with its connections: SIGKILLs the listener and every sshd session
    /// process serving `alias` (found by the TCP socket they hold, even if already orphaned by a
    /// graceful stop), after freezing them so none can fork away, then verifies they are all gone
    /// and the port is closed. Live ssh clients see their connection drop and exit 255.
    ///
    /// Commands those sessions were running are *not* killed, as on a real host whose sshd died:
    /// a quiet no-pty command keeps running, one that writes gets SIGPIPE. [`Drop`] kills what is
    /// still attached.
    pub fn kill_host(&mut self, alias: &str) {
        let host = self.find_mut(alias);
        let (addr, port) = (host.info.addr, host.info.port);
        let mut running = host.running.take();
        let guard = running.as_ref().map(|r| r.guard.id());
        let killed = procs::freeze_and_kill(
            || {
                let mut pids = procs::socket_holders(addr, port);
                if let Some(guard) = guard {
                    // The guard and its direct children: the watcher subshell and the listener.
                    pids.insert(guard);
                    pids.extend(procs::children(guard));
                }
                pids
            },
            STOP_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("kill_host({alias}): {e}"));
        if let Some(running) = running.as_mut() {
            let _ = running.guard.wait();
        }
        drop(running);
        let left = procs::socket_holders(addr, port);
        assert!(left.is_empty(), "kill_host({alias}): killed {killed:?} but {left:?} still hold {addr}:{port}");
        wait_port_closed(self.find(alias).expect("host exists"));
    }

    /// Restarts `alias` on the same address and port with the same host key, so its `known_hosts`
    /// entry stays valid. Stops it gracefully first if it is running (sessions survive, as with
    /// `systemctl restart ssh`).
    pub fn restart_host(&mut self, alias: &str) {
        if self.find(alias).is_some_and(|h| h.running.is_some()) {
            self.stop_host(alias);
        }
        self.relaunch(alias);
    }

    /// Restarts `alias` (same address and port) with a NEW host key, without touching the lab
    /// `known_hosts`, which still holds the old key: a strict client must now refuse with
    /// "REMOTE HOST IDENTIFICATION HAS CHANGED".
    pub fn change_host_key(&mut self, alias: &str) {
        if self.find(alias).is_some_and(|h| h.running.is_some()) {
            self.stop_host(alias);
        }
        let host = self.find(alias).expect("host exists");
        let key = host.key_path();
        let old = public_key(&key);
        for path in [key.clone(), key.with_extension("pub")] {
            fs::remove_file(&path).unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
        }
        keygen(&key, &format!("rp-lab-host-{alias}-new"));
        assert_ne!(old, public_key(&key), "ssh-keygen produced the same host key twice");
        self.relaunch(alias);
    }

    /// Where `alias` listens and who logs in.
    pub fn host(&self, alias: &str) -> &HostInfo {
        &self.find(alias).unwrap_or_else(|| panic!("no lab host `{alias}`")).info
    }

    /// The sshd log of `alias` (every start appended, each preceded by a `--- rp harness` line).
    pub fn sshd_log(&self, alias: &str) -> String {
        read_log(self.find(alias).unwrap_or_else(|| panic!("no lab host `{alias}`")))
    }

    /// `ssh -F <lab ssh_config>` with stdin null and the caller's agent, askpass and X11 variables
    /// removed; add options (`-o ...`, `-G`) and then the destination yourself.
    pub fn ssh_base(&self) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.arg("-F")
            .arg(&self.ssh_config)
            .stdin(Stdio::null())
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("SSH_ASKPASS")
            .env_remove("SSH_ASKPASS_REQUIRE")
            .env_remove("DISPLAY");
        cmd
    }

    /// `ssh -F <lab ssh_config> <alias> <remote_cmd>` (see [`SshLab::ssh_base`]); spawn it to keep a
    /// connection open in the background.
    pub fn ssh_command(&self, alias: &str, remote_cmd: &str) -> Command {
        let mut cmd = self.ssh_base();
        cmd.arg(alias).arg(remote_cmd);
        cmd
    }

    /// Runs `remote_cmd` on `alias` through the system ssh and the lab config, capturing output;
    /// for tests that need to prepare or inspect a host.
    pub fn ssh(&self, alias: &str, remote_cmd: &str) -> Output {
        self.ssh_command(alias, remote_cmd).output().expect("run ssh (is openssh-client installed?)")
    }

    /// The live processes the lab runs for `alias`: the guard, its watcher, the listener and every
    /// sshd session process serving it (not the commands those sessions run).
    pub fn host_processes(&self, alias: &str) -> BTreeSet<u32> {
        let host = self.find(alias).unwrap_or_else(|| panic!("no lab host `{alias}`"));
        let mut pids = procs::socket_holders(host.info.addr, host.info.port);
        if let Some(running) = &host.running {
            pids.insert(running.guard.id());
            pids.extend(procs::children(running.guard.id()));
        }
        pids.retain(|p| procs::pid_alive(*p));
        pids
    }

    /// Every live process the lab is responsible for, including commands still attached to its
    /// sessions: what `Drop` kills.
    pub fn processes(&self) -> BTreeSet<u32> {
        let mut pids: BTreeSet<u32> = self.hosts.iter().flat_map(|h| self.host_processes(&h.info.alias)).collect();
        pids = procs::with_descendants(pids);
        pids.retain(|p| procs::pid_alive(*p));
        pids
    }

    fn find(&self, alias: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.info.alias == alias)
    }

    fn find_mut(&mut self, alias: &str) -> &mut Host {
        self.hosts.iter_mut().find(|h| h.info.alias == alias).unwrap_or_else(|| panic!("no lab host `{alias}`"))
    }

    /// Starts a known host again on its recorded address and port.
    fn relaunch(&mut self, alias: &str) {
        let authorized_keys = self.authorized_keys.clone();
        // The host stays in `self.hosts` throughout, so `Drop` still finds it if this panics.
        match Self::launch(self.find_mut(alias), &authorized_keys) {
            Ok(()) => {}
            Err(LaunchError::AddrInUse(e) | LaunchError::Other(e)) => panic!("restarting `{alias}`: {e}"),
        }
    }

    /// Writes the host's sshd_config, starts sshd under the guard and waits until it serves its key.
    fn launch(host: &mut Host, lab_authorized_keys: &Path) -> Result<(), LaunchError> {
        let alias = host.info.alias.clone();
        fs::write(host.config_path(), Self::render_sshd_config(host, lab_authorized_keys)).expect("write sshd_config");
        let check = Command::new(SSHD)
            .arg("-t")
            .arg("-f")
            .arg(host.config_path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {SSHD} -t (is openssh-server installed? .ci/run installs it): {e}"));
        if !check.status.success() {
            return Err(LaunchError::Other(format!(
                "{SSHD} -t rejected the config of `{alias}`: {}",
                String::from_utf8_lossy(&check.stderr).trim()
            )));
        }

        host.starts += 1;
        let mut log = OpenOptions::new().create(true).append(true).open(host.log_path()).expect("open sshd log");
        let log_offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        writeln!(log, "--- rp harness: start #{} of sshd on {}:{} ---", host.starts, host.info.addr, host.info.port)
            .expect("write sshd log");
        let mut guard = Command::new("/bin/sh")
            .arg("-c")
            .arg(GUARD_SCRIPT)
            .arg("rp-sshd-guard")
            .arg(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(host.config_path())
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("clone sshd log handle"))
            .stderr(log)
            // Its own process group: a Ctrl-C or signal aimed at the test's group must reach it
            // only through the lifeline, never half-kill it.
            .process_group(0)
            .spawn()
            .expect("spawn sshd guard");
        let lifeline = guard.stdin.take();
        let mut running = Running { guard, lifeline };

        let expected = public_key(&host.key_path());
        let addr = host.info.socket_addr();
        let mut exited = None;
        let ready = wait_until(START_TIMEOUT, "sshd to accept TCP and answer ssh-keyscan", || {
            if let Ok(Some(status)) = running.guard.try_wait() {
                exited = Some(status);
                return true;
            }
            TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
                && keyscan(host.info.addr, host.info.port).as_deref() == Some(expected.as_str())
        });
        let new_log = || read_log(host).get(log_offset as usize..).unwrap_or_default().to_string();
        if let Some(status) = exited {
            let log = new_log();
            let msg = format!("sshd for `{alias}` on {addr} exited during start-up ({status}); log:\n{log}");
            return Err(if log.contains("Address already in use") {
                LaunchError::AddrInUse(msg)
            } else {
                LaunchError::Other(msg)
            });
        }
        if let Err(e) = ready {
            let guard_pid = running.guard.id();
            let _ = procs::freeze_and_kill(|| procs::with_descendants([guard_pid]), STOP_TIMEOUT);
            let _ = running.guard.wait();
            return Err(LaunchError::Other(format!("sshd for `{alias}` on {addr}: {e}; log:\n{}", new_log())));
        }
        host.running = Some(running);
        Ok(())
    }

    /// The sshd_config of `host`: extra lines first (they win), harness defaults, then any `Match`.
    fn render_sshd_config(host: &Host, lab_authorized_keys: &Path) -> String {
        let extra = &host.opts.extra_sshd_config;
        let split =
            extra.iter().position(|l| l.trim_start().to_ascii_lowercase().starts_with("match ")).unwrap_or(extra.len());
        let authorized_keys =
            if host.opts.authorized { lab_authorized_keys.to_path_buf() } else { host.dir.join("ak") };
        let mut out = String::from("# generated by the rollpilot test harness (tests/support/sshd.rs)\n");
        for line in &extra[..split] {
            let _ = writeln!(out, "{line}");
        }
        let _ = write!(
            out,
            "ListenAddress {addr}\n\
             Port {port}\n\
             HostKey {key}\n\
             AuthorizedKeysFile {ak}\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             UsePAM no\n\
             StrictModes no\n\
             PidFile {pid}\n\
             MaxSessions 20\n\
             MaxStartups 100:30:200\n\
             PermitRootLogin prohibit-password\n\
             LogLevel VERBOSE\n",
            addr = host.info.addr,
            port = host.info.port,
            key = host.key_path().display(),
            ak = authorized_keys.display(),
            pid = host.dir.join("pid").display(),
        );
        for line in &extra[split..] {
            let _ = writeln!(out, "{line}");
        }
        out
    }

    /// Rewrites `ssh_config` (atomically) from the hosts, then checks ssh accepts it.
    fn write_ssh_config(&self) {
        let mut out = String::from("# generated by the rollpilot test harness (tests/support/sshd.rs)\n");
        for host in &self.hosts {
            let _ = write!(
                out,
                "\nHost {alias}\n\
                 \x20   HostName {addr}\n\
                 \x20   Port {port}\n\
                 \x20   User {user}\n\
                 \x20   IdentityFile {id}\n\
                 \x20   IdentitiesOnly yes\n\
                 \x20   UserKnownHostsFile {kh}\n\
                 \x20   GlobalKnownHostsFile /dev/null\n\
                 \x20   StrictHostKeyChecking yes\n\
                 \x20   BatchMode yes\n",
                alias = host.info.alias,
                addr = host.info.addr,
                port = host.info.port,
                user = host.info.user,
                id = self.identity.display(),
                kh = self.known_hosts.display(),
            );
            if let Some(jump) = &host.opts.proxy_jump {
                let _ = writeln!(out, "    ProxyJump {jump}");
            }
        }
        // ssh keeps the first value it reads, so these only fill in what Host blocks left unset,
        // and they cover any name that has no block: nothing may fall back to ~/.ssh defaults
        // (id_* keys, known_hosts), the caller's agent, or a prompt.
        let _ = write!(
            out,
            "\nHost *\n\
             \x20   IdentityFile {id}\n\
             \x20   IdentitiesOnly yes\n\
             \x20   IdentityAgent none\n\
             \x20   UserKnownHostsFile {kh}\n\
             \x20   GlobalKnownHostsFile /dev/null\n\
             \x20   StrictHostKeyChecking yes\n\
             \x20   BatchMode yes\n\
             \x20   UpdateHostKeys no\n\
             \x20   HashKnownHosts no\n\
             \x20   CheckHostIP no\n\
             \x20   PasswordAuthentication no\n\
             \x20   KbdInteractiveAuthentication no\n\
             \x20   GSSAPIAuthentication no\n\
             \x20   ForwardAgent no\n\
             \x20   ForwardX11 no\n\
             \x20   ConnectTimeout 10\n",
            id = self.identity.display(),
            kh = self.known_hosts.display(),
        );
        let tmp = self.ssh_config.with_extension("tmp");
        fs::write(&tmp, out).expect("write lab ssh_config");
        fs::rename(&tmp, &self.ssh_config).expect("replace lab ssh_config");
        if let Some(host) = self.hosts.last() {
            let check = Command::new("ssh")
                .arg("-F")
                .arg(&self.ssh_config)
                .arg("-G")
                .arg(&host.info.alias)
                .stdin(Stdio::null())
                .output()
                .expect("run ssh -G (is openssh-client installed?)");
            assert!(
                check.status.success(),
                "ssh rejects the lab ssh_config: {}",
                String::from_utf8_lossy(&check.stderr)
            );
        }
    }

    /// Kills everything of one host including attached commands; used by `Drop`.
    fn kill_everything(host: &mut Host) -> Result<(), String> {
        let (addr, port) = (host.info.addr, host.info.port);
        let mut running = host.running.take();
        let guard = running.as_ref().map(|r| r.guard.id());
        let result = procs::freeze_and_kill(
            || {
                let mut roots = procs::socket_holders(addr, port);
                roots.extend(guard);
                procs::with_descendants(roots)
            },
            STOP_TIMEOUT,
        );
        if let Some(running) = running.as_mut() {
            let _ = running.guard.wait();
        }
        result.map(|_| ())
    }
}

impl Default for SshLab {
    fn default() -> Self {
        SshLab::new()
    }
}

impl Drop for SshLab {
    /// Kills every process the lab started (also during a panic, so it must not panic itself),
    /// then the `TempDir` field removes the directory.
    fn drop(&mut self) {
        for host in &mut self.hosts {
            if let Err(e) = SshLab::kill_everything(host) {
                eprintln!("rp test harness: cleaning up lab host `{}`: {e}", host.info.alias);
            }
        }
    }
}

/// Checks that the unprivileged account used by sudo tests exists and can log in over ssh.
///
/// Tests never create accounts; CI's `.ci/run` does. A missing or locked account is an error (not a
/// skip) so CI cannot silently lose the sudo tests; the message names the setup step.
pub fn ensure_unprivileged_user(name: &str) -> Result<(), String> {
    let step = format!("`useradd -m -p '*' {name}` (as root)");
    let id = Command::new("id")
        .arg("-u")
        .arg(name)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `id -u {name}`: {e}"))?;
    if !id.status.success() {
        return Err(format!(
            "test user `{name}` does not exist on this machine. CI creates it in the `.ci/run` setup step {step}; \
             for a local run, run that command once."
        ));
    }
    // `useradd -m` alone leaves the password field "!" (locked); with UsePAM no, sshd then refuses
    // every login with "User NAME not allowed because account is locked". "*" = no password, unlocked.
    if let Ok(shadow) = fs::read_to_string("/etc/shadow")
        && let Some(line) = shadow.lines().find(|l| l.split(':').next() == Some(name))
        && line.split(':').nth(1).is_some_and(|pw| pw.starts_with('!'))
    {
        return Err(format!(
            "test user `{name}` is locked (its /etc/shadow password starts with `!`, as `useradd -m` leaves it), \
             so sshd refuses it: \"User {name} not allowed because account is locked\". `.ci/run` must create it \
             with {step}; on this machine run `usermod -p '*' {name}`."
        ));
    }
    Ok(())
}

fn validate_alias(alias: &str) {
    assert!(
        !alias.is_empty()
            && !alias.starts_with('-')
            && alias.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')),
        "lab host alias `{alias}` must be non-empty, not start with '-', and use only [A-Za-z0-9._-]"
    );
}

/// Generates an ed25519 key pair without passphrase at `path` (+ `.pub`).
fn keygen(path: &Path, comment: &str) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("run ssh-keygen (is openssh-client installed?)");
    assert!(out.status.success(), "ssh-keygen -f {} failed: {}", path.display(), String::from_utf8_lossy(&out.stderr));
}

/// `TYPE BASE64` of the public key next to the private key `path` (comment dropped).
fn public_key(path: &Path) -> String {
    let pub_path = path.with_extension("pub");
    let text = fs::read_to_string(&pub_path).unwrap_or_else(|e| panic!("read {}: {e}", pub_path.display()));
    text.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// The ed25519 host key `addr:port` serves (`TYPE BASE64`), if ssh-keyscan gets one.
fn keyscan(addr: Ipv4Addr, port: u16) -> Option<String> {
    let out = Command::new("ssh-keyscan")
        .args(["-t", "ed25519", "-T", "2", "-p", &port.to_string(), &addr.to_string()])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find(|l| !l.starts_with('#'))?;
    Some(line.split_whitespace().skip(1).take(2).collect::<Vec<_>>().join(" "))
}

fn read_log(host: &Host) -> String {
    fs::read(host.log_path()).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
}

fn wait_port_closed(host: &Host) {
    let addr = host.info.socket_addr();
    wait_until(STOP_TIMEOUT, "the sshd port to close", || {
        matches!(TcpStream::connect_timeout(&addr, Duration::from_millis(500)), Err(e) if e.kind() == ErrorKind::ConnectionRefused)
    })
    .unwrap_or_else(|e| panic!("`{}` on {addr}: {e}", host.info.alias));
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

/// A random `127.0.0.X` with X in 2..=250 (std only: `RandomState` is randomly keyed).
fn random_loopback() -> Ipv4Addr {
    let mut hasher = RandomState::new().build_hasher();
    hasher
        .write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    let x = 2 + (hasher.finish() % 249) as u8;
    Ipv4Addr::new(127, 0, 0, x)
}

/// A port that is free on `addr` right now (the kernel picks it; sshd may still lose a race for
/// it, which the caller retries).
fn free_port(addr: Ipv4Addr) -> u16 {
    let listener = TcpListener::bind((addr, 0)).unwrap_or_else(|e| panic!("bind {addr}:0: {e}"));
    listener.local_addr().expect("local_addr of a bound listener").port()
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").stdin(Stdio::null()).output().expect("run id -un");
    assert!(out.status.success(), "id -un failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// sshd running as root refuses to start without its privilege-separation directory ("Missing
/// privilege separation directory: /run/sshd"). The init script or systemd unit normally creates
/// it when starting the ssh service, which never happens in a CI container, so the harness does
/// the same (root-owned, 0755) when it runs as root.
fn ensure_privsep_dir() {
    let dir = Path::new("/run/sshd");
    if effective_uid() == Some(0) && !dir.is_dir() {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        set_mode(dir, 0o755);
    }
}
