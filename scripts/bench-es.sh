#!/usr/bin/env bash
# Elasticsearch/OpenSearch benchmark: events/s of `dnshunt hunt --es` with 1, 2 and 4 slices
# against `dnshunt hunt` on the same events in an NDJSON file (ratio), and the time of the
# pushed-down rarity/stack aggregation (`dnshunt stats --es`) against computing it locally from
# the file (`dnshunt stats FILE`).
#
#   scripts/bench-es.sh [EVENTS]     (default 1000000; data goes to bench-data/, git-ignored)
#
# Starts its own OpenSearch test node on port $BENCH_OPENSEARCH_PORT (default 39280, full JIT,
# 2 GB heap) and stops it at the end, unless DNSHUNT_BENCH_OPENSEARCH=URL names a running one.
# The index (4 shards) is kept between runs of the same size; KEEP_DATA=1 keeps the node's data.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-1000000}
SHARDS=${BENCH_SHARDS:-4}
cargo build --release -q -p dnshunt -p dnshunt-bench
cargo build --release -q -p dnshunt-elastic --example es_load
BIN=target/release/dnshunt
BENCH=target/release/dnshunt-bench
LOAD=target/release/examples/es_load
mkdir -p bench-data
FILE=bench-data/es-${EVENTS}.ndjson
if [ ! -s "$FILE" ]; then
  # The example incident's lines (about 2.5 kB each) over 50 hosts, cut to EVENTS lines.
  MB=$(( EVENTS * 26 / 10000 + 2 ))
  $BENCH gen examples/incident/workstation.ndjson "$FILE.tmp" "$MB"
  head -n "$EVENTS" "$FILE.tmp" > "$FILE"
  rm -f "$FILE.tmp"
fi

node_started=0
cleanup() {
  if [ "$node_started" = 1 ]; then
    OPENSEARCH_PORT=$PORT testnode/opensearch/stop.sh || true
  fi
}
trap cleanup EXIT INT TERM
if [ -n "${DNSHUNT_BENCH_OPENSEARCH:-}" ]; then
  URL=$DNSHUNT_BENCH_OPENSEARCH
else
  PORT=${BENCH_OPENSEARCH_PORT:-39280}
  URL=$(OPENSEARCH_PORT=$PORT OPENSEARCH_JIT=full OPENSEARCH_HEAP=${OPENSEARCH_HEAP:-2g} KEEP_DATA=${KEEP_DATA:-1} testnode/opensearch/start.sh)
  node_started=1
fi
INDEX=dnshunt-bench-$EVENTS
count=$(curl -s --noproxy '*' "$URL/$INDEX/_count" | sed -n 's/.*"count":\([0-9]*\).*/\1/p')
if [ "${count:-0}" != "$EVENTS" ]; then
  curl -s --noproxy '*' -XDELETE "$URL/$INDEX" >/dev/null || true
  $LOAD "$URL" "$INDEX" "$FILE" "$SHARDS" 2
  curl -s --noproxy '*' -XPOST "$URL/$INDEX/_forcemerge?max_num_segments=1" >/dev/null
fi

secs() { # wall seconds of a command, output discarded
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>&1
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }

echo "== $EVENTS events ($(du -m "$FILE" | cut -f1) MB NDJSON), $(nproc) cores, index $INDEX ($SHARDS shards) at $URL"
cat "$FILE" >/dev/null
file_s=$(secs $BIN hunt -q --format jsonl "$FILE")
printf '  %-42s: %7.2f s  %9s events/s\n' "hunt from the NDJSON file" "$file_s" "$(rate "$EVENTS" "$file_s")"
# Warm the node (JIT, file cache) with a read of one host's events.
host=$(head -c 4000 "$FILE" | sed -n 's/.*"computer_name":"\([^"]*\)".*/\1/p' | head -1)
$BIN hunt -q --format jsonl --es "$URL" --index "$INDEX" --no-checkpoint --es-query "{\"term\":{\"winlog.computer_name\":\"$host\"}}" >/dev/null 2>&1
for source in filtered full; do
  extra=()
  [ "$source" = full ] && extra=(--es-full-source)
  for slices in 1 2 4; do
    s=$(secs $BIN hunt -q --format jsonl --es "$URL" --index "$INDEX" --no-checkpoint --slices "$slices" --page-size 2000 "${extra[@]}")
    printf '  %-42s: %7.2f s  %9s events/s  (cluster/file %s)\n' "hunt --es, $source _source, $slices slice(s)" "$s" "$(rate "$EVENTS" "$s")" "$(ratio "$file_s" "$s")"
  done
done
local_s=$(secs $BIN stats -q --format json --top 0 "$FILE")
push_s=$(secs $BIN stats -q --format json --top 0 --es "$URL" --index "$INDEX")
printf '  %-42s: %7.2f s\n' "rarity/stack counts, local (file)" "$local_s"
printf '  %-42s: %7.2f s  (local/pushdown %s)\n' "rarity/stack counts, pushed down" "$push_s" "$(ratio "$local_s" "$push_s")"
