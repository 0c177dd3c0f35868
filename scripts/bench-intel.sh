#!/usr/bin/env bash
# Threat-intel list benchmark: loading a list of N entries (default 1,000,000) and hunting with
# it, against the same hunt without it. Prints load time, hunt time ratio and peak memory.
#   scripts/bench-intel.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
cargo build --release -q -p dnshunt -p dnshunt-bench
mkdir -p bench-data
LIST=bench-data/intel-$N.txt
[ -s "$LIST" ] || target/release/dnshunt-bench intel "$N" "$LIST"
INPUT=examples/incident/workstation.ndjson
t=$(mktemp)
/usr/bin/time -o "$t" -f '%e %M' target/release/dnshunt hunt -q --format jsonl "$INPUT" >/dev/null
read -r base_s base_kb < "$t"
/usr/bin/time -o "$t" -f '%e %M' target/release/dnshunt hunt --format jsonl --blocklist "$LIST" "$INPUT" >/dev/null 2>"$t.err"
read -r with_s with_kb < "$t"
grep -o 'loaded in [0-9.]* s' "$t.err" | sed "s/^/  $N entries /"
echo "  hunt without list: ${base_s} s, peak $((base_kb / 1024)) MB"
echo "  hunt with list   : ${with_s} s, peak $((with_kb / 1024)) MB (list adds $(((with_kb - base_kb) / 1024)) MB)"
rm -f "$t" "$t.err"
