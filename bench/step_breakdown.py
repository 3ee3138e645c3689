#!/usr/bin/env python3
"""Where a headless run's time goes per step, from its journal (journal.jsonl).

    bench/step_breakdown.py STATE_DIR/runs/CLUSTER/RUN/journal.jsonl

Each step's time is cut at the journal's records: from the previous step's end to its last
`gate ... before` record (the gates' probes and re-planning), from there to `step-started`
(decision, the lock's fencing check, the journal write), `step-started` to `step-finished`
(the detached job: start, polls, its command), and `step-finished` to `step-done` (the gates
after the step). Prints the mean of each part in ms, and the time before the first step
(connecting and the first probe of every node)."""
import json
import sys
from datetime import datetime


def ts(r):
    t = r["ts"].rstrip("Z")
    head, _, frac = t.partition(".")
    return datetime.fromisoformat(head).timestamp() + float("0." + (frac or "0"))


recs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
parts = {"gates before": [], "decide + fence": [], "job (start, polls, command)": [], "gates after": []}
first = None
prev_end = None
gate_before = None
started = None
finished = None
for r in recs:
    t = ts(r)
    kind = r.get("type")
    if kind == "run-started":
        prev_end = t
    elif kind == "gate" and r.get("when") == "before":
        gate_before = t
    elif kind == "step-started":
        if first is None:
            first = t
        g = gate_before if gate_before is not None and gate_before >= prev_end else prev_end
        parts["gates before"].append(g - prev_end)
        parts["decide + fence"].append(t - g)
        started = t
    elif kind == "step-finished" and started is not None:
        parts["job (start, polls, command)"].append(t - started)
        finished = t
    elif kind == "step-done" and finished is not None:
        parts["gates after"].append(t - finished)
        prev_end = t
        gate_before = started = finished = None
n = len(parts["job (start, polls, command)"])
if not n:
    sys.exit("no finished steps in the journal")
cells = ", ".join(f"{k} {1000 * sum(v) / max(len(v), 1):.0f}" for k, v in parts.items())
total = sum(1000 * sum(v) / max(len(v), 1) for v in parts.values())
print(f"{n} steps; mean ms per step: {cells} (sum {total:.0f})")
