#!/usr/bin/env bash
# Records assets/demo.cast: `rollpilot demo` at 120x40 under asciinema, in tmux, answering y at
# each confirmation and n at each optional failback, then q once it has finished.
#   pip install asciinema && cargo build && bash assets/record-demo.sh
#   asciinema play assets/demo.cast
set -euo pipefail
cd "$(dirname "$0")"
BIN=$(realpath "${BIN:-../target/debug/rollpilot}")
OUT=$PWD/demo.cast
S=rp-cast-$$
T="tmux -L $S"
trap '$T kill-server 2>/dev/null || true' EXIT
$T new-session -d -s cast -x 120 -y 40 \
  "TERM=xterm-256color asciinema rec -q --overwrite -i 1.5 --cols 120 --rows 40 -c '$BIN demo' '$OUT'; echo recorded; sleep 600"
screen() { $T capture-pane -p -t cast; }
deadline=$((SECONDS + 600))
while ! screen | head -1 | grep -q "FINISHED"; do
  [ $SECONDS -lt $deadline ] || { echo "timed out:" >&2; screen >&2; exit 1; }
  s=$(screen)
  if grep -q "╔ Optional:" <<<"$s"; then
    sleep 1.5 # let the viewer read the question
    $T send-keys -t cast n
  elif grep -q "╔ Confirm:" <<<"$s"; then
    sleep 1.5
    $T send-keys -t cast y
  fi
  sleep 0.5
done
sleep 3
$T send-keys -t cast q
until screen | grep -q "^recorded"; do sleep 0.5; done
ls -l "$OUT"
