#!/bin/sh
# start-client.sh - @PRODUCT@ @VERSION@ (rollpilot simulator kit)
# Usage: start-client.sh -n <client>. Runs the client application in the foreground: it connects to its stripe's active and writes continuously.
# The simulated product's engine is rollpilot itself; lib/engine names the binary.
KIT_HOME=$(cd "$(dirname "$0")/../.." && pwd) || exit 2
ENGINE=$(cat "$KIT_HOME/lib/engine") || { echo "$0: $KIT_HOME/lib/engine is missing; reinstall the kit" >&2; exit 2; }
exec "$ENGINE" sim node client --kit "$KIT_HOME" "$@" </dev/null
