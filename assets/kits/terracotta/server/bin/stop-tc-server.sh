#!/bin/sh
# stop-tc-server.sh - @PRODUCT@ @VERSION@ (rollpilot simulator kit)
# Usage: stop-tc-server.sh -f <tc-config.conf> -n <server>. Stops the server and waits until it is gone; exits 0 if it was not running.
# The simulated product's engine is rollpilot itself; lib/engine names the binary.
KIT_HOME=$(cd "$(dirname "$0")/../.." && pwd) || exit 2
ENGINE=$(cat "$KIT_HOME/lib/engine") || { echo "$0: $KIT_HOME/lib/engine is missing; reinstall the kit" >&2; exit 2; }
exec "$ENGINE" sim node stop-server --kit "$KIT_HOME" "$@" </dev/null
