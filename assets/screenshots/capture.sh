#!/usr/bin/env bash
# Captures the README screenshots from the real program at 120x40, in tmux, driven with
# keystrokes; then renders them with ansi2png.py (Pillow):
#   confirm.png   `rollpilot demo`: the first confirmation
#   finished.png  the same demo run to its end (y at each confirmation, n at the failbacks)
#   gate.png      a simulated cluster whose mirror never re-syncs (`sim fault` stall-sync): the
#                 gate waits, with its countdown and what blocks it
#   failure.png   a simulated cluster whose install fails (`sim fault` fail-install): the
#                 failure dialog with its choices (retry, roll back, skip, abort)
#
#   cargo build && bash assets/screenshots/capture.sh
set -euo pipefail
cd "$(dirname "$0")"
BIN=$(realpath "${BIN:-../../target/debug/rollpilot}")
COLS=120 ROWS=40
S=rp-shots-$$
T="tmux -L $S"
WORK=$(mktemp -d /tmp/rp-shots.XXXX)
cleanup() {
  $T kill-server 2>/dev/null || true
  for d in "$WORK"/*/; do [ -f "$d/cluster.toml" ] && "$BIN" sim down --dir "$d" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# shot WINDOW NAME: the window's screen, with its colours, as NAME.png
shot() { $T capture-pane -e -p -t "$1" > "$2.ansi"; python3 ansi2png.py "$2.ansi" "$2.png"; rm "$2.ansi"; }
screen() { $T capture-pane -p -t "$1"; }
# drive WINDOW UNTIL_REGEX: answers y at each confirmation and n at each optional failback
# until the screen matches UNTIL_REGEX (at most 10 minutes)
drive() {
  local w=$1 until=$2 deadline=$((SECONDS + 600)) s
  while :; do
    s=$(screen "$w")
    if grep -qE -- "$until" <<<"$s"; then return 0; fi
    if [ $SECONDS -gt $deadline ]; then echo "timed out waiting for /$until/ in $w:" >&2; echo "$s" >&2; return 1; fi
    if grep -q "╔ Optional:" <<<"$s"; then
      $T send-keys -t "$w" n
    elif grep -q "╔ Confirm:" <<<"$s"; then
      $T send-keys -t "$w" y
    fi
    sleep 1
  done
}
# sim NAME [FAULT-ARGS...]: a simulated cluster in $WORK/NAME (with a fault), upgraded in window NAME
sim() {
  local name=$1 d="$WORK/$1"
  shift
  mkdir -p "$d"
  "$BIN" sim up --dir "$d" >/dev/null
  [ $# -eq 0 ] || "$BIN" sim fault --dir "$d" "$@" >/dev/null
  $T new-window -d -n "$name" "TERM=xterm-256color ROLLPILOT_STATE_DIR=$d/state $BIN upgrade -c $d/cluster.toml; sleep 600"
}

$T new-session -d -s shots -n demo -x $COLS -y $ROWS "TERM=xterm-256color $BIN demo; sleep 600"
drive demo "╔ Confirm:" || true
sleep 1.5 # past the dialog's key guard and the first probes
shot demo confirm
drive demo "FINISHED"
sleep 2
shot demo finished
$T send-keys -t demo q
until screen demo | grep -q "cleaned up"; do sleep 0.5; done # the demo stops its simulator

# A stalled mirror: when the run asks to stop the active tc-east-1, its mirror tc-east-2 drops
# out and rejoins, but never re-syncs (stall-sync); R5 safe-to-stop holds the stop back.
sim gate
drive gate "╔ Confirm: stop tc-east-1"
"$BIN" sim fault --dir "$WORK/gate" tc-east-2 stall-sync >/dev/null
N=$WORK/gate/nodes/tc-east-2
"$N/terracotta/server/bin/stop-tc-server.sh" -f "$N/conf/tc-config.conf" -n tc-east-2 >/dev/null 2>&1
nohup "$N/terracotta/server/bin/start-tc-server.sh" -f "$N/conf/tc-config.conf" -n tc-east-2 >/dev/null 2>&1 </dev/null &
sleep 3
drive gate "WAITING AT GATE"
sleep 3 # the countdown has visibly moved
shot gate gate
$T kill-window -t gate

# A failing install: the first install on tc-east-2 fails (its kit is corrupt).
sim failure tc-east-2 fail-install
drive failure "╔ FAILURE"
sleep 1
shot failure failure
$T kill-window -t failure

