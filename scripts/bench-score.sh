#!/usr/bin/env bash
# `dnshunt score` throughput: names/s for every per-name score (registered domain, Unicode form,
# DGA score, look-alike matches, encoding flags, entropy; one JSON line each) on the DGA and
# benign lists of ../shared/data (names/s on all cores, with its peak memory).
#
#   scripts/bench-score.sh [COPIES]     (default 5 copies of every list, about 930,000 names)
set -euo pipefail
cd "$(dirname "$0")/.."
COPIES=${1:-5}
SHARED=../shared/data
cargo build --release -q -p dnshunt
mkdir -p bench-data
NAMES=bench-data/score-names.txt
: > "$NAMES"
for _ in $(seq "$COPIES"); do
  cut -d, -f2 "$SHARED/benign/alexa_100k_2013.csv" >> "$NAMES"
  cat "$SHARED"/dga/*.txt >> "$NAMES"
done
n=$(wc -l < "$NAMES")
t=$(mktemp)
/usr/bin/time -o "$t" -f '%e %M' target/release/dnshunt score - < "$NAMES" > /dev/null
read -r secs kb < "$t"
awk -v n="$n" -v s="$secs" -v kb="$kb" 'BEGIN {
  printf "dnshunt score: %d names in %.2f s = %.0f names/s (one JSON line each), peak %d MB\n", n, s, n / s, kb / 1024
}'
rm -f "$t"
