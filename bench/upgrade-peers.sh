#!/usr/bin/env bash
# Orchestration overhead of a headless rolling upgrade: an N-node peer group on this machine
# (local transport) whose stop/install/start only touch files, so what is measured is rollpilot's
# own time per step: probes, gates, the journal, the lock. Prints one Markdown table row.
#   bench/upgrade-peers.sh [N] [BINARY]
set -euo pipefail
n=${1:-100}
bin=${2:-target/release/rollpilot}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/nodes"
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
hosts=()
for i in $(seq 1 "$n"); do hosts+=("p$i"); done
peer_reset "$dir/nodes" "${hosts[@]}"
peer_config "$dir/c.toml" local "$dir/nodes" "$dir/jobs" "$dir/lock" "" "${hosts[@]}"
start=$(date +%s.%N)
"$bin" upgrade -c "$dir/c.toml" --state-dir "$dir/state" --headless --yes --pause none >"$dir/out.log" 2>&1 || {
  tail -20 "$dir/out.log" >&2; exit 1; }
end=$(date +%s.%N)
steps=$(grep -c '✓ .* done$' "$dir/out.log" || true)
secs=$(echo "$end - $start" | bc -l)
printf '| %s peers, one at a time | %s steps | %.1f s | %.0f ms per step |\n' "$n" "$steps" "$secs" "$(echo "$secs * 1000 / $steps" | bc -l)"
# Where each step's time went, from the run's journal (on stderr, so the row stays one line).
python3 "$(dirname "$0")/step_breakdown.py" "$dir"/state/runs/bench/*/journal.jsonl >&2 || true
