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

cargo test --workspace --all-targets "$@"
# Doc tests are not part of --all-targets.
cargo test --workspace --doc "$@"
