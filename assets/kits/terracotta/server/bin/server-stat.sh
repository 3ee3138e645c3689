#!/bin/sh
# server-stat.sh - @PRODUCT@ @VERSION@ (rollpilot simulator kit)
# Usage: server-stat.sh -s <host>:<port>. Prints <host>.health/role/state/port/group name, or only <host>.error: Connection refused (exit 1).
# The simulated product's engine is rollpilot itself; lib/engine names the binary.
KIT_HOME=$(cd "$(dirname "$0")/../.." && pwd) || exit 2
ENGINE=$(cat "$KIT_HOME/lib/engine") || { echo "$0: $KIT_HOME/lib/engine is missing; reinstall the kit" >&2; exit 2; }
exec "$ENGINE" sim node server-stat --kit "$KIT_HOME" "$@" </dev/null
