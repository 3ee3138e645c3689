#!/bin/sh
# wan-status.sh - @PRODUCT@ @VERSION@ (rollpilot simulator kit)
# Usage: wan-status.sh -f <wan.conf> -n <orchestrator>. Prints orchestrator.state and orchestrator.role, or only orchestrator.state: STOPPED.
# The simulated product's engine is rollpilot itself; lib/engine names the binary.
KIT_HOME=$(cd "$(dirname "$0")/../.." && pwd) || exit 2
ENGINE=$(cat "$KIT_HOME/lib/engine") || { echo "$0: $KIT_HOME/lib/engine is missing; reinstall the kit" >&2; exit 2; }
exec "$ENGINE" sim node wan-status --kit "$KIT_HOME" "$@" </dev/null
