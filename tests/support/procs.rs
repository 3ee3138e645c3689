//! Process bookkeeping through `/proc`, used to find and kill every process a lab sshd spawned.
//!
//! Why not a process group or an environment marker? Debian's sshd (9.2) calls `setsid()` in every
//! connection child, so sessions leave the listener's process group; and its `setproctitle()`
//! overwrites the argv/environ area, so `/proc/PID/environ` no longer shows a marker variable. What
//! does identify a session robustly is the TCP socket it holds: its local address is exactly the
//! lab host's `127.0.0.X:PORT`, which no other process on the machine uses. The parent links give
//! us whatever is still attached below those processes.
//!
//! Signals are sent with the `kill(1)` binary because the crate forbids `unsafe` (so no
//! `libc::kill`).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::poll::wait_until;

/// State letter and parent pid of a process, from `/proc/PID/stat`; `None` if it is gone.
fn stat(pid: u32) -> Option<(char, u32)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `comm` is in parentheses and may itself contain spaces or ')': parse after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// True while `pid` exists and is not a zombie. Zombies count as dead: in some containers pid 1
/// never reaps orphans, so a killed orphan stays `<defunct>` forever although it runs nothing.
pub fn pid_alive(pid: u32) -> bool {
    matches!(stat(pid), Some((state, _)) if state != 'Z' && state != 'X')
}

/// True if `pid` is stopped by a signal (state `T`), or is already dead.
fn stopped_or_dead(pid: u32) -> bool {
    match stat(pid) {
        None => true,
        Some((state, _)) => matches!(state, 'T' | 't' | 'Z' | 'X'),
    }
}

fn all_pids() -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect()
}

/// Map of parent pid → child pids for every live process.
fn children_map() -> BTreeMap<u32, Vec<u32>> {
    let mut map: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for pid in all_pids() {
        if let Some((state, ppid)) = stat(pid)
            && state != 'Z'
        {
            map.entry(ppid).or_default().push(pid);
        }
    }
    map
}

/// Direct children of `pid` that are still alive.
pub fn children(pid: u32) -> Vec<u32> {
    children_map().remove(&pid).unwrap_or_default()
}

/// `roots` plus every live descendant of them.
pub fn with_descendants(roots: impl IntoIterator<Item = u32>) -> BTreeSet<u32> {
    let map = children_map();
    let mut out = BTreeSet::new();
    let mut todo: Vec<u32> = roots.into_iter().collect();
    while let Some(pid) = todo.pop() {
        if out.insert(pid)
            && let Some(kids) = map.get(&pid)
        {
            todo.extend(kids);
        }
    }
    out
}

/// Inodes of the IPv4 TCP sockets (listening or connected) whose local end is `addr:port`.
fn tcp_inodes(addr: Ipv4Addr, port: u16) -> HashSet<u64> {
    let Ok(table) = fs::read_to_string("/proc/net/tcp") else {
        return HashSet::new();
    };
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (ip_hex, port_hex) = cols.get(1)?.split_once(':')?;
            // The kernel prints the network-order address as a native-endian u32.
            let ip = Ipv4Addr::from(u32::from_str_radix(ip_hex, 16).ok()?.to_ne_bytes());
            let local_port = u16::from_str_radix(port_hex, 16).ok()?;
            let inode: u64 = cols.get(9)?.parse().ok()?;
            (ip == addr && local_port == port && inode != 0).then_some(inode)
        })
        .collect()
}

/// Live processes holding a TCP socket whose local end is `addr:port`: for a lab sshd, that is
/// the listener plus every session process (privileged monitor, user child, pre-auth child),
/// whether or not they are still attached to the listener.
pub fn socket_holders(addr: Ipv4Addr, port: u16) -> BTreeSet<u32> {
    let inodes = tcp_inodes(addr, port);
    if inodes.is_empty() {
        return BTreeSet::new();
    }
    let wanted: HashSet<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    all_pids()
        .into_iter()
        .filter(|pid| {
            let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
                return false;
            };
            fds.filter_map(Result::ok).any(|fd| {
                fs::read_link(fd.path()).is_ok_and(|target| target.to_str().is_some_and(|t| wanted.contains(t)))
            })
        })
        .filter(|pid| pid_alive(*pid))
        .collect()
}

/// Sends `signal` (a name such as `STOP` or `KILL`) to `pids`; pids that vanished are ignored.
pub fn signal(pids: &BTreeSet<u32>, signal: &str) {
    if pids.is_empty() {
        return;
    }
    // Errors are ignored on purpose: a pid may exit between the scan and the signal.
    let _ = Command::new("kill")
        .arg("-s")
        .arg(signal)
        .args(pids.iter().map(u32::to_string))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Freezes (SIGSTOP) everything `collect` finds, rescanning until a scan taken after every found
/// process is really stopped finds nothing new, then SIGKILLs the lot and waits until all are dead.
///
/// Why freeze first: a listener or session that is still running can fork between our scan and
/// our kill, and its new child would escape. Stopped processes cannot fork.
/// Returns the killed pids, or an error naming those still alive at the deadline.
pub fn freeze_and_kill(collect: impl Fn() -> BTreeSet<u32>, deadline: Duration) -> Result<BTreeSet<u32>, String> {
    let mut frozen = BTreeSet::new();
    for _round in 0..100 {
        let found: BTreeSet<u32> = collect().into_iter().filter(|p| pid_alive(*p)).collect();
        let new: BTreeSet<u32> = found.difference(&frozen).copied().collect();
        if new.is_empty() {
            break;
        }
        signal(&new, "STOP");
        frozen.extend(&new);
        // Once they are all in state T they cannot fork any more; then the next scan is complete.
        wait_until(deadline, "processes to stop after SIGSTOP", || frozen.iter().all(|p| stopped_or_dead(*p)))?;
    }
    signal(&frozen, "KILL");
    wait_until(deadline, "processes to die after SIGKILL", || frozen.iter().all(|p| !pid_alive(*p)))
        .map_err(|e| format!("{e}; still alive: {:?}", frozen.iter().filter(|p| pid_alive(**p)).collect::<Vec<_>>()))?;
    Ok(frozen)
}
