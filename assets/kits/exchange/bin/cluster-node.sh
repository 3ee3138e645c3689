#!/bin/sh
# cluster-node.sh - @PRODUCT@ @VERSION@ (rollpilot simulator kit)
# Usage: cluster-node.sh stop|start <node>. Stops (moving its groups away first) or starts the cluster service of a node.
# The simulated product's engine is rollpilot itself; lib/engine names the binary.
KIT_HOME=$(cd "$(dirname "$0")/.." && pwd) || exit 2
ENGINE=$(cat "$KIT_HOME/lib/engine") || { echo "$0: $KIT_HOME/lib/engine is missing; reinstall the kit" >&2; exit 2; }
exec "$ENGINE" sim node cluster-node --kit "$KIT_HOME" "$@" </dev/null
