#!/bin/sh
# stop-wan.sh - @PRODUCT@ @VERSION@ (rollpilot simulator kit)
# Usage: stop-wan.sh -f <wan.conf> -n <orchestrator>. Stops the orchestrator and waits until it is gone.
# The simulated product's engine is rollpilot itself; lib/engine names the binary.
KIT_HOME=$(cd "$(dirname "$0")/../.." && pwd) || exit 2
ENGINE=$(cat "$KIT_HOME/lib/engine") || { echo "$0: $KIT_HOME/lib/engine is missing; reinstall the kit" >&2; exit 2; }
exec "$ENGINE" sim node stop-wan --kit "$KIT_HOME" "$@" </dev/null
