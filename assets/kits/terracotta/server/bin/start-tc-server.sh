#!/bin/sh
# start-tc-server.sh - @PRODUCT@ @VERSION@ (rollpilot simulator kit)
# Usage: start-tc-server.sh -f <tc-config.conf> -n <server>. Runs the server in the foreground, like the real script (background it with nohup ... &).
# The simulated product's engine is rollpilot itself; lib/engine names the binary.
KIT_HOME=$(cd "$(dirname "$0")/../.." && pwd) || exit 2
ENGINE=$(cat "$KIT_HOME/lib/engine") || { echo "$0: $KIT_HOME/lib/engine is missing; reinstall the kit" >&2; exit 2; }
exec "$ENGINE" sim node server --kit "$KIT_HOME" "$@" </dev/null
