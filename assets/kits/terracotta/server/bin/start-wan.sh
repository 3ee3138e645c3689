#!/bin/sh
# start-wan.sh - @PRODUCT@ @VERSION@ (rollpilot simulator kit)
# Usage: start-wan.sh -f <wan.conf> -n <orchestrator>. Runs a WAN orchestrator in the foreground; refuses to run beside orchestrators of another version (seed 001 step 4).
# The simulated product's engine is rollpilot itself; lib/engine names the binary.
KIT_HOME=$(cd "$(dirname "$0")/../.." && pwd) || exit 2
ENGINE=$(cat "$KIT_HOME/lib/engine") || { echo "$0: $KIT_HOME/lib/engine is missing; reinstall the kit" >&2; exit 2; }
exec "$ENGINE" sim node wan --kit "$KIT_HOME" "$@" </dev/null
