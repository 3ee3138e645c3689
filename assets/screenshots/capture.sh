#!/usr/bin/env bash
# Captures the README screenshots from the real program: `rollpilot demo` in tmux (160x48),
# driven with keystrokes, at three moments; then renders them with ansi2png.py (Pillow).
#   cargo build && bash assets/screenshots/capture.sh
set -euo pipefail
cd "$(dirname "$0")"
BIN=${BIN:-../../target/debug/rollpilot}
S=rp-shots-$$
T="tmux -L $S"
trap '$T kill-server 2>/dev/null || true' EXIT
$T new-session -d -s demo -x 160 -y 48 "TERM=xterm-256color $BIN demo; sleep 600"
shot() { $T capture-pane -e -p -t demo > "$1.ansi"; python3 ansi2png.py "$1.ansi" "$1.png"; rm "$1.ansi"; }
screen() { $T capture-pane -p -t demo; }
until screen | grep -q "╔ Confirm:"; do sleep 0.3; done
shot confirm
n=0
while ! screen | head -1 | grep -q FINISHED; do
  s=$(screen)
  if echo "$s" | grep -q "╔ Optional:"; then
    [ -f failover.png ] || shot failover
    $T send-keys -t demo Enter
  elif echo "$s" | grep -q "╔ Confirm:"; then
    n=$((n+1)); $T send-keys -t demo y
  fi
  sleep 1
done
sleep 1
shot finished
$T send-keys -t demo q
