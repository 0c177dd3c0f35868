#!/usr/bin/env bash
# Start a single-node OpenSearch 2.19.x on 127.0.0.1 from Maven Central jars, in the background.
# Prints the base URL (only that) on stdout; progress and errors go to stderr.
#   URL=$(testnode/opensearch/start.sh)
# Env: see common.sh (OPENSEARCH_PORT, OPENSEARCH_HEAP, KEEP_DATA, OPENSEARCH_PID_FILE, ...).
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

HEAP=${OPENSEARCH_HEAP:-1g}
TIMEOUT=${OPENSEARCH_START_TIMEOUT:-180}
if [ -n "${JAVA_HOME:-}" ]; then JAVA="$JAVA_HOME/bin/java"; JAVAC="$JAVA_HOME/bin/javac"; else JAVA=java; JAVAC=javac; fi
MVN=${MVN:-mvn}
for tool in curl "$JAVA" "$JAVAC" "$MVN"; do
  command -v "$tool" >/dev/null || { os_say "ERROR: '$tool' not found (need curl, a JDK 17 and Maven)"; exit 1; }
done

mkdir -p "$OS_RUN" "$OS_NODE"

# ---- already running? ------------------------------------------------------------------------
exec 8>"$OS_NODE/.start.lock"   # one start.sh per node at a time
flock 8
if pid=$(os_live_pid); then
  deadline=$(( $(date +%s) + TIMEOUT ))
  until os_healthy; do
    os_alive "$pid" || { os_say "ERROR: node pid $pid died; log tail:"; tail -n 40 "$OS_LOG" >&2; rm -f "$OS_PIDFILE"; exit 1; }
    [ "$(date +%s)" -lt "$deadline" ] || { os_say "ERROR: node pid $pid runs but is not healthy after ${TIMEOUT}s; log tail:"; tail -n 40 "$OS_LOG" >&2; exit 1; }
    sleep 0.5
  done
  os_say "already running and healthy: pid $pid, $OS_URL (pid file $OS_PIDFILE)"
  echo "$OS_URL"
  exit 0
fi
rm -f "$OS_PIDFILE"
for p in "$OS_PORT" "$OS_TPORT"; do
  if os_port_busy "$p"; then
    os_say "ERROR: port $p on 127.0.0.1 is already in use by another process (not this node's pid file $OS_PIDFILE)."
    os_say "       pick others with OPENSEARCH_PORT / OPENSEARCH_TRANSPORT_PORT, or stop that process."
    exit 1
  fi
done

t_begin=$(date +%s%N)

# ---- resolve jars (Maven Central -> ~/.m2, reused afterwards) and compile the launcher -------
exec 9>"$OS_RUN/.build.lock"    # shared by all nodes using this run dir
flock 9
CP_FILE=$OS_RUN/classpath.txt
stamp=$( { cat "$OS_DIR/pom.xml"; echo "${MVN_ARGS:-}"; } | sha256sum | cut -c1-16)
cp_ok() {
  [ -s "$CP_FILE" ] && [ "$(cat "$OS_RUN/classpath.stamp" 2>/dev/null)" = "$stamp" ] || return 1
  local j
  for j in $(tr ':' ' ' < "$CP_FILE"); do [ -f "$j" ] || return 1; done
}
if ! cp_ok; then
  os_say "resolving OpenSearch jars with Maven (first run downloads ~55 MB into ~/.m2)..."
  # shellcheck disable=SC2086
  if ! "$MVN" -B -q -f "$OS_DIR/pom.xml" ${MVN_ARGS:-} \
        org.apache.maven.plugins:maven-dependency-plugin:3.6.1:build-classpath \
        -Dmdep.outputFile="$CP_FILE.tmp" -Dmdep.includeScope=runtime >"$OS_RUN/mvn.log" 2>&1; then
    os_say "ERROR: maven dependency resolution failed (full log: $OS_RUN/mvn.log):"
    tail -n 25 "$OS_RUN/mvn.log" >&2
    exit 1
  fi
  mv "$CP_FILE.tmp" "$CP_FILE"
  echo "$stamp" > "$OS_RUN/classpath.stamp"
fi
CP=$(cat "$CP_FILE")
CLASSES=$OS_RUN/classes
jstamp=$( { cat "$OS_DIR/$OS_MAIN.java"; echo "$CP"; "$JAVAC" -version 2>&1; } | sha256sum | cut -c1-16)
if [ ! -f "$CLASSES/$OS_MAIN.class" ] || [ "$(cat "$OS_RUN/classes.stamp" 2>/dev/null)" != "$jstamp" ]; then
  rm -rf "$CLASSES"; mkdir -p "$CLASSES"
  "$JAVAC" -nowarn -d "$CLASSES" -cp "$CP" "$OS_DIR/$OS_MAIN.java" >&2
  echo "$jstamp" > "$OS_RUN/classes.stamp"
fi
exec 9>&-

# ---- fresh node dir -------------------------------------------------------------------------
HOME_DIR=$OS_NODE/home
if [ "${KEEP_DATA:-0}" != 1 ]; then rm -rf "$HOME_DIR/data"; fi
rm -rf "$HOME_DIR/logs" "$HOME_DIR/tmp"
mkdir -p "$HOME_DIR/tmp" "$(dirname "$OS_PIDFILE")"

jmajor=$("$JAVA" -version 2>&1 | sed -nE '1s/.*version "([0-9]+)(\.[0-9]+)*.*/\1/p')
locale_opt=()
if [ -n "$jmajor" ] && [ "$jmajor" -lt 21 ]; then locale_opt=(-Djava.locale.providers=SPI,COMPAT); fi

# C1-only JIT by default: on 2 cores it cuts start-up by ~30-40% (the node spends most of its
# start building the Painless whitelist); OPENSEARCH_JIT=full restores C2 for throughput tests.
jit_opt=(-XX:TieredStopAtLevel=1)
if [ "${OPENSEARCH_JIT:-c1}" = full ]; then jit_opt=(); fi

# JVM flags: the relevant part of the distribution's jvm.options, plus a modest fixed heap.
# shellcheck disable=SC2206
JVM_OPTS=(
  -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -Xss1m -XX:-UsePerfData "${jit_opt[@]}"
  -XX:-OmitStackTraceInFastThrow -XX:+ExitOnOutOfMemoryError
  -Djava.awt.headless=true -Dfile.encoding=UTF-8 -Djna.nosys=true "${locale_opt[@]}"
  -Djava.io.tmpdir="$HOME_DIR/tmp"
  -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true
  -Dio.netty.recycler.maxCapacityPerThread=0 -Dio.netty.allocator.numDirectArenas=0
  -Dlog4j.shutdownHookEnabled=false -Dlog4j2.disable.jmx=true -Dlog4j2.formatMsgNoLookups=true
  -Dos.home="$HOME_DIR" -Dos.http.port="$OS_PORT" -Dos.transport.port="$OS_TPORT"
  ${OPENSEARCH_JAVA_OPTS:-}
)

# setsid: own session, so the node survives the caller's terminal/process group;
# 8>&-: don't hand the start lock to the long-lived JVM.
setsid nohup "$JAVA" "${JVM_OPTS[@]}" -cp "$CLASSES:$CP" "$OS_MAIN" >"$OS_LOG" 2>&1 </dev/null 8>&- &
pid=$!
echo "$pid" > "$OS_PIDFILE"
os_say "starting pid $pid (http $OS_PORT, transport $OS_TPORT, heap $HEAP, log $OS_LOG)"

deadline=$(( $(date +%s) + TIMEOUT ))
until os_healthy; do
  if ! os_alive "$pid"; then
    os_say "ERROR: the node exited during startup; last 40 log lines of $OS_LOG:"
    tail -n 40 "$OS_LOG" >&2
    rm -f "$OS_PIDFILE"
    exit 1
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    os_say "ERROR: no green/yellow $OS_URL/_cluster/health after ${TIMEOUT}s; last 40 log lines of $OS_LOG:"
    tail -n 40 "$OS_LOG" >&2
    exec 8>&-
    "$OS_DIR/stop.sh" >&2 || true
    exit 1
  fi
  sleep 0.3
done
ms=$(( ($(date +%s%N) - t_begin) / 1000000 ))
os_say "OpenSearch is up: $OS_URL (pid $pid, pid file $OS_PIDFILE, ready in $((ms / 1000)).$(printf %03d $((ms % 1000)))s)"
echo "$OS_URL"
