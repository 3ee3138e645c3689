#!/bin/sh
# cluster-status.sh - @PRODUCT@ @VERSION@ (rollpilot simulator kit)
# Usage: cluster-status.sh -n <node> -g <group>. Prints Node <node>: Up|Down, Group <group>: Online|Offline on <owner>, Role <node>: ACTIVE|PASSIVE|DOWN.
# The simulated product's engine is rollpilot itself; lib/engine names the binary.
KIT_HOME=$(cd "$(dirname "$0")/.." && pwd) || exit 2
ENGINE=$(cat "$KIT_HOME/lib/engine") || { echo "$0: $KIT_HOME/lib/engine is missing; reinstall the kit" >&2; exit 2; }
exec "$ENGINE" sim node cluster-status --kit "$KIT_HOME" "$@" </dev/null
