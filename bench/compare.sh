#!/usr/bin/env bash
# Side by side: rollpilot against plain ssh (the floor), Ansible and parallel-ssh on N loopback
# OpenSSH servers, plus rollpilot's warm refresh, idle `status --watch` CPU, a headless upgrade
# of an N-node peer group against an Ansible `serial: 1` play, and the memory of `status` for
# 1,000 hosts (local transport). Prints a Markdown table and, unless --no-write, replaces the
# "Side by side" section of BENCHMARKS.md.
#
#   bench/compare.sh [-n HOSTS] [-r ROUNDS] [-u UPGRADE_RUNS] [-i IDLE_SECS] [-m MEM_HOSTS]
#                    [-b BINARY] [-o KEEP_DIR] [--no-write]
#
# Defaults: 100 hosts, 5 rounds (medians), the upgrade as many times as rounds, 30 s of idle
# CPU, 1,000 hosts for memory, target/release/rollpilot. Needs root (sshd must log another user
# in and create /run/sshd), openssh-server and openssh-client. Ansible (`ansible`,
# `ansible-playbook`) and parallel-ssh are optional: a missing one is reported with the command
# that installs it, and only its column is skipped. The script installs nothing.
#
# Every sshd runs on 127.88.X.Y (loopback only) with its own generated host key; clients use a
# private ssh_config (-F) with a generated user key and a private known_hosts, and strict
# host-key checking for every tool. Everything started here is stopped on exit.
set -euo pipefail

n=100 rounds=5 upgrade_runs="" idle_secs=30 mem_hosts=1000 write=1 keep=""
bin=target/release/rollpilot
while [ $# -gt 0 ]; do
  case $1 in
    -n) n=$2; shift 2 ;;
    -r) rounds=$2; shift 2 ;;
    -u) upgrade_runs=$2; shift 2 ;;
    -i) idle_secs=$2; shift 2 ;;
    -m) mem_hosts=$2; shift 2 ;;
    -b) bin=$2; shift 2 ;;
    --no-write) write=0; shift ;;
    -o) keep=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
upgrade_runs=${upgrade_runs:-$rounds}
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"
case $bin in /*) ;; *) bin="$repo/$bin" ;; esac
say() { printf '%s\n' "$*" >&2; }
die() { say "compare.sh: $*"; exit 1; }

# ---- what is installed ---------------------------------------------------------------------
[ -x "$bin" ] || die "no rollpilot binary at $bin: run \`cargo build --release\` first (or pass -b)"
[ -x /usr/sbin/sshd ] || die "no /usr/sbin/sshd: install it with \`apt-get install -y openssh-server\`"
command -v ssh >/dev/null && command -v ssh-keygen >/dev/null ||
  die "no ssh client: install it with \`apt-get install -y openssh-client\`"
[ "$(id -u)" = 0 ] || die "run as root: sshd must log the benchmark user in (and /run/sshd may need creating)"
have_ansible=1 have_pssh=1
if ! command -v ansible >/dev/null || ! command -v ansible-playbook >/dev/null; then
  have_ansible=0
  say "MISSING: ansible (ansible, ansible-playbook): its columns are skipped. Install: apt-get install -y ansible"
fi
pssh_bin=$(command -v parallel-ssh || command -v pssh || true)
if [ -z "$pssh_bin" ]; then
  have_pssh=0
  say "MISSING: parallel-ssh: its column is skipped. Install: apt-get install -y pssh"
fi
if [ -x /usr/bin/time ]; then have_time=1; else
  have_time=0; say "MISSING: /usr/bin/time: the memory row is skipped. Install: apt-get install -y time"
fi
# A neutral login: the dedicated test account (login shell /bin/sh) when it exists, so no tool
# pays for a heavy ~/.bashrc per command; otherwise the current user.
user=${BENCH_USER:-$(id -un rollpilot-test 2>/dev/null || id -un)}

# ---- the lab -------------------------------------------------------------------------------
lab=$(mktemp -d /tmp/rpcXXXXXX)
chmod 711 "$lab"
sshd_pids=()

# Every process below `$@` (pids), by parent pid, in one pass over /proc.
descendants() {
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | sed -E 's/^([0-9]+) \(.*\) . ([0-9]+) .*/\1 \2/' |
    awk -v roots="$*" 'BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) seen[r[i]] = 1 }
      { p[NR] = $1; pp[NR] = $2 }
      END { do { ch = 0; for (i = 1; i <= NR; i++) if ((pp[i] in seen) && !(p[i] in seen)) { seen[p[i]] = 1; ch = 1 } } while (ch)
            for (k in seen) printf "%s ", k }'
}
# Processes whose command line names the lab (ssh masters of rollpilot and Ansible, sessions),
# optionally also matching the fixed string $1.
lab_procs() {
  local f pid
  for f in $(grep -laF "$lab" /proc/[0-9]*/cmdline 2>/dev/null); do
    pid=${f#/proc/}; pid=${pid%/cmdline}
    [ "$pid" = $$ ] && continue
    if [ -n "${1:-}" ]; then grep -qaF "$1" "$f" 2>/dev/null || continue; fi
    echo "$pid"
  done
  return 0
}
cleanup() {
  set +e
  local pids
  [ -n "${watch_pid:-}" ] && kill "$watch_pid" 2>/dev/null
  if [ -n "$keep" ]; then
    mkdir -p "$keep" && cp -r "$lab"/*.out "$lab"/*.toml "$lab/wstate" "$lab/ustate" "$keep/" 2>/dev/null
  fi
  pids="$(descendants "${sshd_pids[@]}") $(lab_procs)"
  # shellcheck disable=SC2086
  kill $pids 2>/dev/null
  sleep 0.5
  # shellcheck disable=SC2086
  kill -9 $pids 2>/dev/null
  rm -rf "$lab"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ms() { echo $(($(date +%s%N) / 1000000)); }
median() { tr ' ' '\n' | awk 'NF' | sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print ""}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "–"; else printf "%.2f×", a / b }'; }

[ -d /run/sshd ] || { mkdir -p /run/sshd && chmod 755 /run/sshd; }
ssh-keygen -q -t ed25519 -N '' -C rp-bench-client -f "$lab/id"
cp "$lab/id.pub" "$lab/ak" && chmod 644 "$lab/ak"
: >"$lab/kh"
mkdir -p "$lab/nodes" "$lab/jobs" "$lab/locks" && chmod 777 "$lab/nodes" "$lab/jobs" "$lab/locks"
hosts=()
say "starting $n sshd on 127.88.x.y (user $user) …"
{
  echo "# generated by bench/compare.sh"
} >"$lab/ssh_config"
for i in $(seq 1 "$n"); do
  h=h$i addr=127.88.$((i / 200)).$((i % 200 + 2)) port=2222
  d="$lab/s$i"; mkdir "$d"
  ssh-keygen -q -t ed25519 -N '' -C "rp-bench-host-$h" -f "$d/hk"
  cat >"$d/sshd_config" <<EOF
ListenAddress $addr
Port $port
HostKey $d/hk
AuthorizedKeysFile $lab/ak
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
MaxSessions 20
MaxStartups 200:30:400
PermitRootLogin prohibit-password
LogLevel ERROR
EOF
  /usr/sbin/sshd -D -e -f "$d/sshd_config" 2>>"$d/log" &
  sshd_pids+=($!)
  echo "[$addr]:$port $(cut -d' ' -f1,2 "$d/hk.pub")" >>"$lab/kh"
  cat >>"$lab/ssh_config" <<EOF
Host $h
    HostName $addr
    Port $port
    User $user
EOF
  hosts+=("$h")
done
cat >>"$lab/ssh_config" <<EOF
Host *
    IdentityFile $lab/id
    IdentitiesOnly yes
    IdentityAgent none
    UserKnownHostsFile $lab/kh
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    BatchMode yes
    UpdateHostKeys no
    CheckHostIP no
    PasswordAuthentication no
    KbdInteractiveAuthentication no
    GSSAPIAuthentication no
    ConnectTimeout 60
EOF
for i in $(seq 1 "$n"); do
  addr=127.88.$((i / 200)).$((i % 200 + 2))
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/$addr/2222") 2>/dev/null && break
    kill -0 "${sshd_pids[$((i - 1))]}" 2>/dev/null || die "sshd h$i on $addr:2222 exited: $(cat "$lab/s$i/log")"
    sleep 0.1
  done
done
ssh -F "$lab/ssh_config" h1 true </dev/null || die "cannot log in to h1 as $user (see $lab/s1/log)"

reset_nodes() {
  peer_reset "$lab/nodes" "${hosts[@]}"
  chmod 666 "$lab/nodes/"*
}
reset_nodes

# rollpilot: the peer-group kind of bench/upgrade-peers.sh, over ssh. Its control sockets go
# under the lab (XDG_RUNTIME_DIR), so its masters are found and stopped with the lab.
rp_config() { # $1 file, $2 transport, $3.. hosts
  local f=$1 transport=$2
  shift 2
  # 100 handshakes at once on a loaded 2-core machine can take longer than the 10 s default.
  peer_config "$f" "$transport" "$lab/nodes" "$lab/jobs" "$lab/locks/lock" "[ssh]
config_file = \"$lab/ssh_config\"
host_key_policy = \"strict\"
connect_timeout = \"50s\"
parallelism = $(($# < 1024 ? $# : 1024))" "$@"
}
rp_config "$lab/rp.toml" ssh "${hosts[@]}"
mkdir -p "$lab/run"
rp() { XDG_RUNTIME_DIR="$lab/run" XDG_STATE_HOME="$lab/state" "$bin" "$@"; }
# The same work as rollpilot's two probes, as one remote command for the other tools.
probe_cmd() { echo "cat $lab/nodes/$1.v; if test -f $lab/nodes/$1.run; then echo state=Started; else echo state=Stopped; fi"; }

if [ $have_ansible = 1 ]; then
  {
    echo "[peers]"
    printf '%s\n' "${hosts[@]}"
    echo "[all:vars]"
    echo "ansible_ssh_common_args=-F $lab/ssh_config"
  } >"$lab/inventory"
  cat >"$lab/ansible.cfg" <<EOF
[defaults]
host_key_checking = True
gathering = explicit
interpreter_python = /usr/bin/python3
local_tmp = $lab/ansible-tmp
retry_files_enabled = False
[ssh_connection]
pipelining = True
EOF
  cat >"$lab/play.yml" <<EOF
- hosts: peers
  serial: 1
  gather_facts: false
  tasks:
    - name: stop
      raw: rm -f $lab/nodes/{{ inventory_hostname }}.run
    - name: install
      raw: echo 1.1.0 > $lab/nodes/{{ inventory_hostname }}.v
    - name: start
      raw: touch $lab/nodes/{{ inventory_hostname }}.run
    - name: verify
      raw: test "\$(cat $lab/nodes/{{ inventory_hostname }}.v)" = 1.1.0 && test -f $lab/nodes/{{ inventory_hostname }}.run
EOF
fi
ans() { # $1 round tag; rest: the command. A fresh ControlPersist directory per run: always cold.
  local tag=$1; shift
  ANSIBLE_CONFIG="$lab/ansible.cfg" ANSIBLE_SSH_CONTROL_PATH_DIR="$lab/acp-$tag" ANSIBLE_HOME="$lab/ansible-home" "$@"
}
# Ansible leaves its ControlPersist masters running (60 s): stop them between runs.
stop_lab_masters() {
  # shellcheck disable=SC2046
  kill $(lab_procs "$lab/acp-") 2>/dev/null || true
  sleep 0.3
}
if [ $have_pssh = 1 ]; then printf '%s\n' "${hosts[@]}" >"$lab/pssh-hosts"; fi

# ---- 1. cold status, interleaved --------------------------------------------------------------
floor_t=() rp_t=() ans_t=() pssh_t=()
# The floor's commands are built beforehand: a command substitution per host inside the spawn
# loop made the loop itself the bottleneck on a loaded machine (a fork and a wait per host).
floor_cmds=()
for h in "${hosts[@]}"; do floor_cmds+=("$(probe_cmd "$h")"); done
run_floor() {
  local pids=() i p rc=0
  for i in "${!hosts[@]}"; do ssh -F "$lab/ssh_config" "${hosts[$i]}" "${floor_cmds[$i]}" </dev/null >/dev/null 2>&1 & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return $rc
}
run_rp() { rp status -c "$lab/rp.toml" >"$lab/rp-status.out" 2>&1 || { cat "$lab/rp-status.out" >&2; return 1; }; }
run_ans() { ans "c$1" ansible all -i "$lab/inventory" -m raw -a "$(probe_cmd '{{ inventory_hostname }}')" -f "$n" >"$lab/ans.out" 2>&1 || { tail -5 "$lab/ans.out" >&2; return 1; }; }
run_pssh() { "$pssh_bin" -h "$lab/pssh-hosts" -p "$n" -t 120 -x "-F $lab/ssh_config" "$(probe_cmd h1)" >"$lab/pssh.out" 2>&1 || { tail -5 "$lab/pssh.out" >&2; return 1; }; }
timed() { local t0; t0=$(ms); "$@" || die "$1 failed"; echo $(($(ms) - t0)); }
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq 1 "$rounds"); do
  order=(floor rp ans pssh)
  # Rotate the order each round so no tool always runs right after another.
  order=("${order[@]:$(((r - 1) % 4))}" "${order[@]:0:$(((r - 1) % 4))}")
  line="round $r:"
  for tool in "${order[@]}"; do
    case $tool in
      floor) t=$(timed run_floor); floor_t+=("$t") ;;
      rp) t=$(timed run_rp); rp_t+=("$t") ;;
      ans) [ $have_ansible = 1 ] || continue; t=$(timed run_ans "$r"); ans_t+=("$t"); stop_lab_masters ;;
      pssh) [ $have_pssh = 1 ] || continue; t=$(timed run_pssh); pssh_t+=("$t") ;;
    esac
    line="$line $tool ${t} ms"
  done
  say "$line"
done
floor_m=$(echo "${floor_t[@]}" | median)
rp_m=$(echo "${rp_t[@]}" | median)
ans_m=$(echo "${ans_t[@]:-}" | median)
pssh_m=$(echo "${pssh_t[@]:-}" | median)

# ---- 2. warm refresh and idle CPU of `status --watch` -----------------------------------------
tck=$(getconf CLK_TCK)
cpu_of() { # utime+stime(+cutime+cstime with $2=all) of pid $1, in ticks
  local f; f=$(sed -E 's/^.*\) //' "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  # shellcheck disable=SC2086
  set -- $f "$2"
  if [ "${!#}" = all ]; then echo $((${12} + ${13} + ${14} + ${15})); else echo $((${12} + ${13})); fi
}
sum_cpu() { local s=0 p mode=$1; shift; for p in "$@"; do s=$((s + $(cpu_of "$p" "$mode"))); done; echo $s; }
rp_masters() { lab_procs "$lab/run/rollpilot"; }
say "warm refresh and idle CPU: status --watch at $n hosts, refresh 2 s, ${idle_secs} s …"
mkdir -p "$lab/wstate"
XDG_RUNTIME_DIR="$lab/run" XDG_STATE_HOME="$lab/wstate" ROLLPILOT_LOG=rollpilot::probe=debug \
  "$bin" status -c "$lab/rp.toml" --watch >/dev/null 2>"$lab/watch.err" &
watch_pid=$!
want=$((rounds + 1))
for _ in $(seq 1 $((want * 2 * 10 + 600))); do
  log=$(cat "$lab"/wstate/rollpilot/logs/rollpilot.log* 2>/dev/null || true)
  [ "$(grep -c 'refresh round' <<<"$log")" -ge "$want" ] && break
  kill -0 "$watch_pid" 2>/dev/null || die "status --watch exited: $(cat "$lab/watch.err")"
  sleep 0.1
done
# Rounds 2.. are warm (masters and probe shells up); round 1 is the cold connect.
warm_all=$({ grep 'refresh round' <<<"$log" || true; } | sed -E 's/.*round=([0-9]+).* ms=([0-9.]+).*/\1 \2/' | awk '$1 > 1 {printf "%.0f ", $2}')
warm_m=$(echo "$warm_all" | median)
sleep 1
masters=$(rp_masters)
remote=$(descendants "${sshd_pids[@]}")
# shellcheck disable=SC2086
remote=$(for p in $remote; do case " ${sshd_pids[*]} " in *" $p "*) ;; *) echo "$p" ;; esac; done)
t0=$(ms)
c_rp0=$(cpu_of "$watch_pid" all)
# shellcheck disable=SC2086
c_m0=$(sum_cpu self $masters)
# shellcheck disable=SC2086
c_r0=$(sum_cpu all $remote)
sleep "$idle_secs"
c_rp1=$(cpu_of "$watch_pid" all)
# shellcheck disable=SC2086
c_m1=$(sum_cpu self $masters)
# shellcheck disable=SC2086
c_r1=$(sum_cpu all $remote)
el=$(($(ms) - t0))
pct() { awk -v c="$1" -v t="$tck" -v e="$el" 'BEGIN { printf "%.2f", 100 * c / t / (e / 1000) }'; }
cpu_rp=$(pct $((c_rp1 - c_rp0)))
cpu_masters=$(pct $((c_m1 - c_m0)))
cpu_remote=$(pct $((c_r1 - c_r0)))
n_masters=$(echo "$masters" | grep -c . || true)
kill -INT "$watch_pid" 2>/dev/null; wait "$watch_pid" 2>/dev/null || true; watch_pid=""
say "warm refresh (ms, rounds 2..): $warm_all; idle CPU: rollpilot $cpu_rp %, its $n_masters ssh masters $cpu_masters %, hosts' side $cpu_remote %"

# ---- 3. headless upgrade vs Ansible serial: 1 --------------------------------------------------
# What the three commands cost on their own (sh -c of each, on this machine), per step.
own_t0=$(ms)
for _ in $(seq 1 100); do
  sh -c "rm -f $lab/nodes/own.run"; sh -c "echo 1.1.0 > $lab/nodes/own.v"; sh -c "touch $lab/nodes/own.run"
done
own_step=$(awk -v t=$(($(ms) - own_t0)) 'BEGIN { printf "%.1f", t / 300 }')
rm -f "$lab/nodes/own.run" "$lab/nodes/own.v"
up_rp=() up_ans=() steps=0
run_up_rp() {
  rm -rf "$lab/ustate" "$lab/locks/"* "$lab/jobs/"*; reset_nodes
  local t0; t0=$(ms)
  XDG_RUNTIME_DIR="$lab/run" XDG_STATE_HOME="$lab/state" "$bin" upgrade -c "$lab/rp.toml" --state-dir "$lab/ustate" \
    --headless --yes --pause none >"$lab/up.out" 2>&1 || { tail -20 "$lab/up.out" >&2; die "rollpilot upgrade failed"; }
  up_rp+=($(($(ms) - t0)))
  steps=$(grep -c '✓ .* done$' "$lab/up.out" || true)
  grep -q 1.0.0 "$lab"/nodes/h*.v && die "rollpilot upgrade left a node on 1.0.0"
  return 0
}
run_up_ans() {
  reset_nodes
  local t0; t0=$(ms)
  ans "u$1" ansible-playbook -i "$lab/inventory" "$lab/play.yml" -f "$n" >"$lab/play.out" 2>&1 ||
    { tail -20 "$lab/play.out" >&2; die "ansible-playbook failed"; }
  up_ans+=($(($(ms) - t0)))
  grep -q 1.0.0 "$lab"/nodes/h*.v && die "the Ansible play left a node on 1.0.0"
  stop_lab_masters
}
for r in $(seq 1 "$upgrade_runs"); do
  say "upgrade run $r of $upgrade_runs ($n nodes) …"
  if [ $((r % 2)) = 1 ] || [ $have_ansible = 0 ]; then
    run_up_rp; [ $have_ansible = 1 ] && run_up_ans "$r"
  else
    run_up_ans "$r"; run_up_rp
  fi
  say "  rollpilot ${up_rp[-1]} ms ($steps steps)${up_ans:+, ansible ${up_ans[-1]} ms}"
done
uprp_m=$(echo "${up_rp[@]}" | median)
# Where rollpilot's time per step goes, from the journal of its last run.
breakdown=""
if command -v python3 >/dev/null; then
  breakdown=$(python3 "$repo/bench/step_breakdown.py" "$lab"/ustate/runs/bench/*/journal.jsonl 2>&1 || true)
fi
upans_m=$(echo "${up_ans[@]:-}" | median)
overhead=$(awk -v t="$uprp_m" -v s="$steps" -v o="$own_step" 'BEGIN { printf "%.0f", (t - s * o) / s }')
ans_step=""
[ -n "$upans_m" ] && ans_step=$(awk -v t="$upans_m" -v n="$n" 'BEGIN { printf "%.0f", t / (4 * n) }')

# ---- 4. memory: status of MEM_HOSTS hosts, local transport -------------------------------------
rss_mb=""
if [ $have_time = 1 ]; then
  mem_list=()
  for i in $(seq 1 "$mem_hosts"); do mem_list+=("m$i"); echo 1.0.0 >"$lab/nodes/m$i.v"; touch "$lab/nodes/m$i.run"; done
  rp_config "$lab/mem.toml" local "${mem_list[@]}"
  sed -i 's/^parallelism = .*/parallelism = 32/' "$lab/mem.toml"
  say "memory: status of $mem_hosts hosts (local transport) …"
  # rollpilot's own peak (VmHWM, read until it exits). GNU time's %M is wait4's ru_maxrss, which
  # also covers the descendants it reaped; it reports far more here, so it is shown separately.
  XDG_RUNTIME_DIR="$lab/run" XDG_STATE_HOME="$lab/state" /usr/bin/time -f '%M' -o "$lab/mem.kb" \
    "$bin" status -c "$lab/mem.toml" >"$lab/mem.out" 2>&1 &
  time_pid=$!
  mem_pid=$(sleep 0.2; pgrep -P "$time_pid" | head -1 || true)
  hwm=0
  while kill -0 "$mem_pid" 2>/dev/null; do
    h=$(awk '/^VmHWM/ { print $2 }' "/proc/$mem_pid/status" 2>/dev/null || true); [ -n "$h" ] && hwm=$h
    sleep 0.1
  done
  wait "$time_pid" || { tail -5 "$lab/mem.out" >&2; die "status of $mem_hosts hosts failed"; }
  rss_mb=$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')
  time_mb=$(awk '{ printf "%.1f", $1 / 1024 }' "$lab/mem.kb")
fi
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the table -------------------------------------------------------------------------------
ok() { awk -v v="$1" -v op="$2" -v lim="$3" 'BEGIN { if (v == "") { print "–"; exit }
  r = (op == "<=") ? (v + 0 <= lim + 0) : (op == "<") ? (v + 0 < lim + 0) : (v + 0 >= lim + 0); print r ? "met" : "**missed**" }'; }
rf=$(awk -v a="$rp_m" -v b="$floor_m" 'BEGIN { printf "%.2f", a / b }')
ra=""; [ -n "$ans_m" ] && ra=$(awk -v a="$rp_m" -v b="$ans_m" 'BEGIN { printf "%.2f", a / b }')
speedup=""; [ -n "$upans_m" ] && speedup=$(awk -v a="$upans_m" -v b="$uprp_m" 'BEGIN { printf "%.2f", a / b }')
cpu_total=$(awk -v a="$cpu_rp" -v b="$cpu_masters" 'BEGIN { printf "%.2f", a + b }')
skip() { [ "$1" = 1 ] && echo "$2" || echo "not installed"; }
table=$(
  echo "| measure ($n loopback hosts; median of $rounds; upgrade median of $upgrade_runs) | rollpilot | compared with | ratio | target | |"
  echo "|---|---|---|---|---|---|"
  echo "| cold \`status\` vs $n parallel plain \`ssh\` (floor) | $rp_m ms | $floor_m ms | ${rf}× | ≤ 1.0× | $(ok "$rf" "<=" 1.0) |"
  echo "| cold \`status\` vs \`ansible all -m raw -f $n\` | $rp_m ms | $(skip $have_ansible "$ans_m ms") | $(ratio "$rp_m" "$ans_m") | ≤ 0.8× | $(ok "$ra" "<=" 0.8) |"
  echo "| cold \`status\` vs \`parallel-ssh -p $n\` | $rp_m ms | $(skip $have_pssh "$pssh_m ms") | $(ratio "$rp_m" "$pssh_m") | | |"
  echo "| warm refresh (in-process round, masters up) | $warm_m ms | | | ≤ 150 ms | $(ok "$warm_m" "<=" 150) |"
  echo "| idle \`status --watch\` CPU, refresh 2 s, ${idle_secs} s (% of one core) | $cpu_rp % | + $n_masters ssh masters $cpu_masters % = $cpu_total %; hosts' side $cpu_remote % | | < 5 % | $(ok "$cpu_total" "<" 5) |"
  echo "| headless upgrade, $n peers ($steps steps) vs Ansible \`serial: 1\` (4 raw tasks a node) | $(awk -v t="$uprp_m" 'BEGIN{printf "%.1f", t/1000}') s | $(skip $have_ansible "$(awk -v t="$upans_m" 'BEGIN{printf "%.1f", t/1000}') s ($ans_step ms a task)") | ${speedup:+${speedup}× faster} | ≥ 3× | $(ok "$speedup" ">=" 3) |"
  echo "| orchestration overhead per step (total − commands' own $own_step ms) | $overhead ms | | | ≤ 50 ms | $(ok "$overhead" "<=" 50) |"
  echo "| RSS of \`status\`, $mem_hosts hosts (local transport): peak VmHWM of the process | ${rss_mb:-–} MB | GNU time %M (with reaped descendants): ${time_mb:-–} MB | | ≤ 50 MB | $(ok "$rss_mb" "<=" 50) |"
)
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
versions="$(ssh -V 2>&1 | cut -d, -f1); $("$bin" --version 2>/dev/null | sed -n 1p)"
[ $have_ansible = 1 ] && versions="$versions; $(ansible --version 2>/dev/null | sed -n 1p)"
[ $have_pssh = 1 ] && versions="$versions; parallel-ssh $("$pssh_bin" --version 2>&1)"
context="Machine: $(nproc) cores ($cpu_model), $(uname -sr), $(date -u '+%Y-%m-%d %H:%M UTC'); load average $load_start at the start, $load_end at the end. Versions: $versions. Login user \`$user\` (login shell $(getent passwd "$user" | cut -d: -f7))."
[ -n "$breakdown" ] && context="$context

Upgrade, rollpilot's last run, from its journal (\`bench/step_breakdown.py\`): $breakdown."
echo
echo "$table"
echo
echo "$context"

if [ $write = 1 ]; then
  section=$(
    echo "## Side by side: rollpilot, plain ssh, Ansible, parallel-ssh (\`bench/compare.sh\`)"
    echo
    echo "<!-- bench/compare.sh replaces this section; edit the text around it by hand. -->"
    echo
    echo "    bench/compare.sh -n $n -r $rounds -u $upgrade_runs"
    echo
    echo "$context"
    echo
    echo "$table"
    echo
    echo "<!-- end of bench/compare.sh section -->"
  )
  f="$repo/BENCHMARKS.md"
  if grep -q '^## Side by side: rollpilot' "$f"; then
    awk -v s="$section" '
      /^## Side by side: rollpilot/ { print s; skip = 1; next }
      skip && /<!-- end of bench\/compare.sh section -->/ { skip = 0; next }
      !skip { print }' "$f" >"$f.tmp" && mv "$f.tmp" "$f"
  else
    printf '\n%s\n' "$section" >>"$f"
  fi
  say "updated $f"
fi
