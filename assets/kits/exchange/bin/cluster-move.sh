#!/bin/sh
# cluster-move.sh - @PRODUCT@ @VERSION@ (rollpilot simulator kit)
# Usage: cluster-move.sh -g <group> -n <node>. Planned move of the virtual server (cluster group EVS1 /move:<node>); returns when it is online there.
# The simulated product's engine is rollpilot itself; lib/engine names the binary.
KIT_HOME=$(cd "$(dirname "$0")/.." && pwd) || exit 2
ENGINE=$(cat "$KIT_HOME/lib/engine") || { echo "$0: $KIT_HOME/lib/engine is missing; reinstall the kit" >&2; exit 2; }
exec "$ENGINE" sim node cluster-move --kit "$KIT_HOME" "$@" </dev/null
