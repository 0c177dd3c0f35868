# Shared by the benchmark scripts (sourced, not run).

# Seconds and peak RSS (KiB) of a command, via GNU time.
measure() {
  local t
  t=$(mktemp)
  /usr/bin/time -o "$t" -f '%e %M' "$@" >/dev/null 2>&1
  tail -1 "$t"
  rm -f "$t"
}

# a / b with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
