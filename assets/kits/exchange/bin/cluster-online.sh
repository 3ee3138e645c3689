#!/bin/sh
# cluster-online.sh - @PRODUCT@ @VERSION@ (rollpilot simulator kit)
# Usage: cluster-online.sh -g <group>. Brings the virtual server online on its owner.
# The simulated product's engine is rollpilot itself; lib/engine names the binary.
KIT_HOME=$(cd "$(dirname "$0")/.." && pwd) || exit 2
ENGINE=$(cat "$KIT_HOME/lib/engine") || { echo "$0: $KIT_HOME/lib/engine is missing; reinstall the kit" >&2; exit 2; }
exec "$ENGINE" sim node cluster-online --kit "$KIT_HOME" "$@" </dev/null
