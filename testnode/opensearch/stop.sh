#!/usr/bin/env bash
# Stop the test node started by start.sh (same env => same pid file): SIGTERM, wait, then SIGKILL.
# Succeeds (exit 0) when nothing is running.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"
WAIT=${OPENSEARCH_STOP_TIMEOUT:-30}

if ! pid=$(os_live_pid); then
  if [ -f "$OS_PIDFILE" ]; then os_say "stale pid file $OS_PIDFILE removed (no such node running)"; rm -f "$OS_PIDFILE"
  else os_say "not running (no pid file $OS_PIDFILE)"; fi
  exit 0
fi

kill -TERM "$pid" 2>/dev/null || true
deadline=$(( $(date +%s) + WAIT ))
while os_alive "$pid" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
if os_alive "$pid"; then
  os_say "pid $pid still alive ${WAIT}s after SIGTERM: sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do os_alive "$pid" || break; sleep 0.1; done
fi
if os_alive "$pid"; then os_say "ERROR: pid $pid did not exit"; exit 1; fi
rm -f "$OS_PIDFILE"
os_say "stopped pid $pid ($OS_URL)"
