#!/usr/bin/env bash
# Fuzzes every target of fuzz/ (or the ones named) for N minutes each, one at a time under
# `nice`, and prints a table: target, seconds run, execs, execs/s, corpus size, crashes.
#
#   scripts/fuzz.sh [minutes-per-target] [target...]
#   scripts/fuzz.sh 10                 # every target, 10 minutes each
#   scripts/fuzz.sh 1 json evtx        # two targets, a minute each
#
# Needs the nightly toolchain and cargo-fuzz; installs neither (it says how). Corpora are
# seeded from fixtures/, the generated seeds (crates/dnshunt-fuzz/src/seeds.rs) and the
# committed regression inputs into fuzz/corpus/<target>/ (not committed). A target stops at
# its first crash; the input is left in fuzz/artifacts/<target>/ and the script exits 1 while
# any artifact is there (old ones included: move a fixed crash's input into
# fuzz/regressions/<target>/ and delete the artifact).
#
# Leak detection is off (-detect_leaks=0): its heap scans took half of each run of the targets
# that hunt, and growth that matters is caught by -rss_limit_mb.
#
# Environment: FUZZ_SANITIZER (address, the default, or none: about twice the execs/s),
# FUZZ_NICE (10), FUZZ_TARGET_DIR (fuzz/target), FUZZ_RSS_MB (2048), FUZZ_TIMEOUT (10 s).
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${1:-1}
shift || true
if ! [[ "$minutes" =~ ^[0-9]+$ ]] || [ "$minutes" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh [minutes-per-target] [target...]" >&2
  exit 2
fi

all_targets=()
for f in fuzz/fuzz_targets/*.rs; do
  all_targets+=("$(basename "$f" .rs)")
done
if [ $# -gt 0 ]; then
  targets=("$@")
  for t in "${targets[@]}"; do
    if [ ! -f "fuzz/fuzz_targets/$t.rs" ]; then
      echo "scripts/fuzz.sh: no target $t (targets: ${all_targets[*]})" >&2
      exit 2
    fi
  done
else
  targets=("${all_targets[@]}")
fi

missing=0
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "scripts/fuzz.sh: the nightly toolchain is missing: rustup toolchain install nightly" >&2
  missing=1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "scripts/fuzz.sh: cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
  missing=1
fi
[ "$missing" = 0 ] || exit 2

sanitizer=${FUZZ_SANITIZER:-address}
nice_level=${FUZZ_NICE:-10}
target_dir=${FUZZ_TARGET_DIR:-fuzz/target}
rss_mb=${FUZZ_RSS_MB:-2048}
timeout_s=${FUZZ_TIMEOUT:-10}

# Which fixtures seed which target (the generated seeds and fuzz/regressions/ come on top).
fixtures_for() {
  case "$1" in
    source_auto) ls fixtures/seed/* fixtures/bad/* ;;
    json) ls fixtures/seed/*.ndjson fixtures/seed/*.json fixtures/bad/*.ndjson ;;
    xml) ls fixtures/seed/*.xml fixtures/bad/*.xml ;;
    es_answer | json_document) ls fixtures/seed/es_response.json fixtures/seed/evtx_json_pretty.json ;;
    blocklist) ls examples/incident/blocklist.txt crates/dnshunt-detect/data/*.txt ;;
    dns_name) ls crates/dnshunt-detect/data/infrastructure_domains.txt crates/dnshunt-detect/data/protected_brands.txt ;;
  esac
}

# Inputs larger than this are not fuzzed from (libFuzzer would cut them at -max_len anyway).
max_len_for() {
  case "$1" in
    # An EVTX file is a 4 KiB header and 64 KiB chunks: room for two chunks.
    evtx | source_auto) echo 139264 ;;
    json | xml | es_answer | json_document | geoip) echo 65536 ;;
    *) echo 16384 ;;
  esac
}

echo "scripts/fuzz.sh: seeding fuzz/corpus/ ..." >&2
nice -n "$nice_level" cargo run --quiet -p dnshunt-fuzz --bin dnshunt-fuzz-seeds -- fuzz/corpus
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  limit=$(max_len_for "$t")
  for f in $(fixtures_for "$t") fuzz/regressions/"$t"/*; do
    if [ -f "$f" ] && [ "$(stat -c %s "$f")" -le "$limit" ]; then
      cp "$f" "fuzz/corpus/$t/$(basename "$f")"
    fi
  done
done

echo "scripts/fuzz.sh: building the targets (nightly, sanitizer $sanitizer) ..." >&2
# `cargo fuzz build` builds one target or all of them.
build_only=()
if [ "${#targets[@]}" = 1 ]; then
  build_only=("${targets[0]}")
fi
nice -n "$nice_level" cargo +nightly fuzz build -O --sanitizer "$sanitizer" --target-dir "$target_dir" "${build_only[@]}" >&2

mkdir -p fuzz/logs
rows=()
total_crashes=0
for t in "${targets[@]}"; do
  log="fuzz/logs/$t.log"
  echo "scripts/fuzz.sh: $t for $minutes min (log: $log) ..." >&2
  started=$(date +%s)
  status=0
  nice -n "$nice_level" cargo +nightly fuzz run -O --sanitizer "$sanitizer" --target-dir "$target_dir" "$t" "fuzz/corpus/$t" -- \
    -max_total_time=$((minutes * 60)) -rss_limit_mb="$rss_mb" -timeout="$timeout_s" -max_len="$(max_len_for "$t")" \
    -detect_leaks=0 -print_final_stats=1 >"$log" 2>&1 || status=$?
  seconds=$(($(date +%s) - started))
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1)
  if [ -z "$execs" ]; then
    # Stopped by a crash before the final stats: the last status line's count.
    execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  fi
  execs=${execs:-0}
  rate=$(grep -o 'stat::average_exec_per_sec: [0-9]*' "$log" | awk '{print $2}' | tail -1)
  rate=${rate:-$((execs / (seconds > 0 ? seconds : 1)))}
  corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
  corpus_kb=$(du -sk "fuzz/corpus/$t" | cut -f1)
  crashes=$(find "fuzz/artifacts/$t" -type f | wc -l)
  total_crashes=$((total_crashes + crashes))
  note=""
  if [ "$status" != 0 ] && [ "$crashes" = 0 ]; then
    note="exit $status, see $log"
  fi
  rows+=("$(printf '%-14s %8s %12s %8s %8s %8s %8s  %s' "$t" "$seconds" "$execs" "$rate" "$corpus" "${corpus_kb}K" "$crashes" "$note")")
done

printf '%-14s %8s %12s %8s %8s %8s %8s\n' target seconds execs execs/s corpus size crashes
for row in "${rows[@]}"; do
  echo "$row"
done
if [ "$total_crashes" -gt 0 ]; then
  echo "scripts/fuzz.sh: $total_crashes crash input(s) in fuzz/artifacts/ (reproduce: cargo +nightly fuzz run -O TARGET fuzz/artifacts/TARGET/FILE)" >&2
  exit 1
fi
