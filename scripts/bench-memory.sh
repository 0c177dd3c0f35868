#!/usr/bin/env bash
# Memory benchmark of the behavioural detectors: peak RSS and time of `dnshunt hunt` on a
# timeline at 1x and 10x its length, against `dnshunt events` (ingest and printing only) on the
# same files. The timeline is the example incident plus, when present, the Security-Datasets
# extracts in ../shared/data, replicated day after day (scripts/replicate_timeline.py); with
# NEW_GUIDS=1 every replica gets fresh ProcessGuids (new processes every day).
#
#   scripts/bench-memory.sh [REPLICAS_1X]     (default 10; data goes to bench-data/, git-ignored)
#
# Note: the replicas repeat every lookup exactly 24 h later, so long series look periodic and
# the beacon detector reports daily "beacons" that the single copy does not have.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10}
FLAG=${NEW_GUIDS:+--new-guids}
cargo build --release -q -p dnshunt
BIN=target/release/dnshunt
mkdir -p bench-data/memory
BASE=bench-data/memory/base.jsonl
INPUTS=(examples/incident)
[ -d ../shared/data/security-datasets ] && INPUTS+=(../shared/data/security-datasets)
$BIN events -q "${INPUTS[@]}" > "$BASE"
declare -A RSS SECS
for k in 1 10; do
  DATA=bench-data/memory/x${k}${FLAG:+-new-guids}.ndjson
  [ -s "$DATA" ] || python3 scripts/replicate_timeline.py "$BASE" "$DATA" $((N * k)) $FLAG
  for cmd in hunt events; do
    /usr/bin/time -f '%M %e' -o bench-data/memory/time.txt "$BIN" "$cmd" -q "$DATA" -o /dev/null
    read -r rss wall < bench-data/memory/time.txt
    RSS[$k$cmd]=$rss
    SECS[$k$cmd]=$wall
    echo "x$k $cmd: $(wc -l < "$DATA") events, peak RSS ${rss} kB, ${wall} s"
  done
done
awk -v h1="${RSS[1hunt]}" -v h10="${RSS[10hunt]}" -v e1="${RSS[1events]}" -v e10="${RSS[10events]}" \
    -v th="${SECS[10hunt]}" -v te="${SECS[10events]}" 'BEGIN {
  printf "peak memory, 10x input / 1x input: hunt %.2f, events %.2f\n", h10 / h1, e10 / e1
  printf "events/s of hunt (all detectors) / events/s of events (ingest and JSON output only), 10x: %.2f\n", te / th
}'
