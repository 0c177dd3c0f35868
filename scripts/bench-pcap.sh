#!/usr/bin/env bash
# Capture benchmark: dnshunt's pcap reader against a bare pcap-parser walk of the same bytes, on
# one core, on captures from the shared data replicated COPIES times (default 2000); and the
# peak memory of `events` and `hunt` at a tenth of the size and at the full size.
#
#   scripts/bench-pcap.sh [COPIES]       (data goes to bench-data/, git-ignored; needs GNU time)
set -euo pipefail
cd "$(dirname "$0")/.."
COPIES=${1:-2000}
[ "${NO_BUILD:-0}" = 1 ] || cargo build --release -q -p dnshunt -p dnshunt-bench
BIN=target/release/dnshunt
BENCH=target/release/dnshunt-bench
NET=../shared/data/network
mkdir -p bench-data
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
for src in c2/slips-test-cc/test-cc-capture-2.pcap tunnels/elastic-examples-iodine/dns-tunnel-iodine.pcap; do
  name=$(basename "$src" .pcap)
  big=bench-data/$name-x$COPIES.pcap
  small=bench-data/$name-x$((COPIES / 10)).pcap
  [ -s "$big" ] || $BENCH pcap-rep "$NET/$src" "$big" "$COPIES"
  [ -s "$small" ] || $BENCH pcap-rep "$NET/$src" "$small" $((COPIES / 10))
  echo "== $name × $COPIES ($(du -m "$big" | cut -f1) MB), one core"
  taskset -c 0 $BENCH pcap "$big" | sed 's/^/  /'
  read -r es ek < <(measure $BIN events -q "$small")
  read -r eb ekb < <(measure $BIN events -q "$big")
  read -r hs hk < <(measure $BIN hunt -q --format jsonl "$small")
  read -r hb hkb < <(measure $BIN hunt -q --format jsonl "$big")
  echo "  peak memory, ×$((COPIES / 10)) vs ×$COPIES: events $((ek / 1024)) MB vs $((ekb / 1024)) MB ($es s vs $eb s); hunt $((hk / 1024)) MB vs $((hkb / 1024)) MB ($hs s vs $hb s)"
done
