#!/usr/bin/env bash
# Records what `dnshunt hunt` shows on a real terminal (tmux) at 80 and 160 columns, on the
# shipped example, into docs/terminal-80.txt and docs/terminal-160.txt (plain text, colours
# left out). Needs tmux. Run from anywhere: scripts/capture-terminal.sh
set -euo pipefail
cd "$(dirname "$0")/.."

command -v tmux >/dev/null || { echo "capture-terminal.sh: tmux is needed (Debian: apt-get install tmux)" >&2; exit 1; }
cargo build --release -q -p dnshunt
n=0
sockets=()
trap 'for s in "${sockets[@]}"; do tmux -L "$s" kill-server 2>/dev/null || true; done' EXIT

capture() {
  local cols=$1 out=$2
  shift 2
  # A tmux server of its own per capture: never the user's, never a half-stopped one.
  n=$((n + 1))
  local socket=dnshunt-capture-$$-$n
  sockets+=("$socket")
  # The command is the pane's program (no prompt to strip); a tall pane, so the pager has no
  # reason to start. The marker line ends the capture.
  tmux -L "$socket" -f /dev/null new-session -d -x "$cols" -y 60 \
    "cd examples && PATH='$PWD/target/release':\$PATH $*; echo \"[exit \$?]\"; sleep 60"
  for _ in $(seq 1 100); do
    tmux -L "$socket" capture-pane -p | grep -q '^\[exit ' && break
    sleep 0.1
  done
  {
    echo "\$ $* # ${cols} columns"
    # Timings change from run to run; they are shown as N.
    tmux -L "$socket" capture-pane -p | sed -e '/^\[exit /,$d' \
      | sed -E 's/in [0-9.]+ s: /in N s: /; s/[0-9,]+ records\/s/N records\/s/; s/loaded in [0-9.]+ s/loaded in N s/'
  } >"$out"
  tmux -L "$socket" kill-server 2>/dev/null || true
  echo "capture-terminal.sh: $out"
}

cmd="dnshunt hunt incident --blocklist incident/blocklist.txt"
capture 80 docs/terminal-80.txt "$cmd"
capture 160 docs/terminal-160.txt "$cmd"
capture 160 docs/terminal-160-findings.txt "$cmd --findings --no-pager"
