#!/usr/bin/env bash
# Runs every test: starts the OpenSearch test node the integration tests need, runs the
# workspace's tests against it, and stops the node again (also when tests fail).
set -euo pipefail
cd "$(dirname "$0")/.."

# A port of its own, so a developer's own cluster on 9200 is never touched.
export OPENSEARCH_PORT=${OPENSEARCH_PORT:-39200}
node_started=0
cleanup() {
  if [ "$node_started" = 1 ]; then
    testnode/opensearch/stop.sh || true
  fi
}
trap cleanup EXIT INT TERM

if [ "${DNSHUNT_SKIP_NODE:-0}" != 1 ]; then
  DNSHUNT_TEST_OPENSEARCH=$(testnode/opensearch/start.sh)
  export DNSHUNT_TEST_OPENSEARCH
  node_started=1
fi

# The HTML report's browser test needs Chromium: install Debian's package when it is missing
# (as root, or with sudo); without it the test is skipped, except under CI=true, where it fails.
if ! command -v chromium >/dev/null 2>&1 && [ -z "${DNSHUNT_CHROMIUM:-}" ] && command -v apt-get >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
  if [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; then
    echo "scripts/test.sh: installing chromium for the report's browser test" >&2
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null \
      || echo "scripts/test.sh: could not install chromium" >&2
  fi
fi

cargo test --workspace --all-targets "$@"
# Doc tests are not part of --all-targets.
cargo test --workspace --doc "$@"
