# Shared settings for start.sh / stop.sh / smoke.sh (sourced, not executed).
# Env (all optional):
#   OPENSEARCH_PORT            HTTP port                       (9200)
#   OPENSEARCH_TRANSPORT_PORT  transport port                  (OPENSEARCH_PORT + 100, i.e. 9300)
#   OPENSEARCH_RUN_DIR         state dir                       (<this dir>/.run)
#   OPENSEARCH_NODE_DIR        this node's home/data/log dir   ($OPENSEARCH_RUN_DIR/node-$OPENSEARCH_PORT)
#   OPENSEARCH_PID_FILE        pid file                        ($OPENSEARCH_NODE_DIR/opensearch.pid)
#   OPENSEARCH_HEAP            -Xms/-Xmx                       (1g)
#   OPENSEARCH_START_TIMEOUT   seconds to wait for health      (180)
#   OPENSEARCH_STOP_TIMEOUT    seconds between TERM and KILL   (30)
#   OPENSEARCH_JIT             c1 (quick start) or full (C2)   (c1)
#   OPENSEARCH_JAVA_OPTS       extra JVM options, appended     ()
#   KEEP_DATA=1                keep the data dir on start      (default: wiped, fresh node)
#   JAVA_HOME                  JDK to use (java/javac from PATH otherwise); Java 17 recommended
#   MVN, MVN_ARGS              maven binary and extra args, e.g. MVN_ARGS=-Dmaven.repo.local=/cache/m2
OS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OS_PORT=${OPENSEARCH_PORT:-9200}
OS_TPORT=${OPENSEARCH_TRANSPORT_PORT:-$((OS_PORT + 100))}
OS_RUN=${OPENSEARCH_RUN_DIR:-$OS_DIR/.run}
OS_NODE=${OPENSEARCH_NODE_DIR:-$OS_RUN/node-$OS_PORT}
OS_PIDFILE=${OPENSEARCH_PID_FILE:-$OS_NODE/opensearch.pid}
OS_LOG=$OS_NODE/opensearch.log
OS_URL="http://127.0.0.1:$OS_PORT"
OS_MAIN=EmbeddedOpenSearch

os_say() { echo "[opensearch-testnode] $*" >&2; }

# 0 if pid $1 exists and is not a zombie (a child that died before start.sh reaped it is one)
os_alive() {
  local st
  st=$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# pid of our node if the pid file names a live process that is really this node, else nothing
os_live_pid() {
  [ -f "$OS_PIDFILE" ] || return 1
  local pid
  pid=$(tr -dc '0-9' < "$OS_PIDFILE")
  [ -n "$pid" ] && os_alive "$pid" || return 1
  # guard against a recycled pid: the command line must be our main class
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "$OS_MAIN" || return 1
  echo "$pid"
}

# 0 if something accepts TCP connections on 127.0.0.1:$1
os_port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

os_healthy() {
  local body
  body=$(curl -sS --noproxy "*" --max-time 5 "$OS_URL/_cluster/health?wait_for_status=yellow&timeout=1s" 2>/dev/null) || return 1
  echo "$body" | grep -Eq '"status" *: *"(green|yellow)"'
}
