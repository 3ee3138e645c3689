# shellcheck shell=bash
# Shared by bench/upgrade-peers.sh and bench/compare.sh (sourced, not run): the peer group whose
# stop, install and start only touch files, so what an upgrade of it measures is rollpilot's own
# time per step (probes, gates, the journal, the lock, the jobs' start and polls).

# peer_config FILE TRANSPORT NODES_DIR JOB_DIR LOCK_PATH EXTRA HOST...
# Writes the config of one peer group of HOST... on TRANSPORT. Node h keeps its version in
# NODES_DIR/h.v and runs while NODES_DIR/h.run exists. EXTRA is TOML placed after [cluster]
# (an [ssh] table, or nothing).
peer_config() {
  local f=$1 transport=$2 nodes=$3 jobs=$4 lock=$5 extra=$6
  shift 6
  local list
  list=$(printf '"%s", ' "$@")
  cat >"$f" <<TOML
[cluster]
name = "bench"
target = "1.1.0"
profile = "any-order"
compat = "any"
failback = "never"
transport = "$transport"
job_dir = "$jobs"
$extra
[timeouts]
refresh = "2s"
[lock]
path = "$lock"
[vars]
d = "$nodes"
[kinds.node]
version = "cat {d}/{host}.v"
status = "if test -f {d}/{host}.run; then echo state=Started; else echo state=Stopped; fi"
stop = "rm -f {d}/{host}.run"
install = "echo {version} > {d}/{host}.v"
start = "touch {d}/{host}.run"
[kinds.node.parse]
role = { regex = 'state=(\S+)', map = { "Started" = "none", "Stopped" = "stopped" }, default = "unknown" }
health = { from = "status", regex = 'state=(\S+)', map = { "Started" = "ok", "Stopped" = "failed" }, default = "failed" }
[[groups]]
name = "peers"
type = "peer"
kind = "node"
hosts = [${list%, }]
TOML
}

# peer_reset NODES_DIR HOST...: every node on 1.0.0 and running.
peer_reset() {
  local nodes=$1 h
  shift
  for h in "$@"; do echo 1.0.0 >"$nodes/$h.v"; touch "$nodes/$h.run"; done
}
