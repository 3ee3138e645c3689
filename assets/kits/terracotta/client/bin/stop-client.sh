#!/bin/sh
# stop-client.sh - @PRODUCT@ @VERSION@ (rollpilot simulator kit)
# Usage: stop-client.sh -n <client>. Stops the client application and waits until it is gone.
# The simulated product's engine is rollpilot itself; lib/engine names the binary.
KIT_HOME=$(cd "$(dirname "$0")/../.." && pwd) || exit 2
ENGINE=$(cat "$KIT_HOME/lib/engine") || { echo "$0: $KIT_HOME/lib/engine is missing; reinstall the kit" >&2; exit 2; }
exec "$ENGINE" sim node stop-client --kit "$KIT_HOME" "$@" </dev/null
