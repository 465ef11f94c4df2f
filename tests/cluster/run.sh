#!/usr/bin/env bash
# The broker-loss test (tests/cluster/test_cluster.c) on a three-node Kafka
# cluster of its own: starts it (deploy/local/kafka.sh with
# TALLY_KAFKA_NODES=3, state in <build>/cluster-state, three free ports from
# TALLY_CLUSTER_PORT on, default 28092, their controllers 100 above: clear of
# the fixed ports of tests/deploy/test_up.sh), runs
# the test against it and the running PostgreSQL (tests/run.sh's), then
# stops and removes the cluster, also on failure. Exit status: the test's.
#   tests/cluster/run.sh      (after a build: $TALLY_BUILD_DIR/tests/cluster_test_cluster)
# TALLY_CLUSTER_KEEP=1 leaves the cluster running after the test, to look at.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/local/env.sh
bin=$TALLY_BUILD_DIR/tests/cluster_test_cluster
[[ -x $bin ]] || tally_die "cluster: $bin is not built (tally_build)"
deploy/local/postgres.sh status >/dev/null || tally_die "cluster: PostgreSQL must run (deploy/local/postgres.sh start)"

port_free() { ! ss -ltn "sport = :$1" 2>/dev/null | grep -q LISTEN; }
# The first block of three ports, and their controllers', free from $1 on.
free_block() {
  local p=$1
  for _ in $(seq 1 50); do
    if port_free "$p" && port_free $((p + 1)) && port_free $((p + 2)) &&
       port_free $((p + 100)) && port_free $((p + 101)) && port_free $((p + 102)); then echo "$p"; return; fi
    p=$((p + 10))
  done
  tally_die "cluster: no free ports from $1 on"
}
port=$(free_block "${TALLY_CLUSTER_PORT:-28092}")
export TALLY_KAFKA_NODES=3 TALLY_STATE=$TALLY_BUILD_DIR/cluster-state
base=$TALLY_BROKERS

finish() {
  local rc=$?
  if [[ ${TALLY_CLUSTER_KEEP:-0} == 1 ]]; then
    echo "cluster: kept running (TALLY_CLUSTER_KEEP=1): TALLY_KAFKA_NODES=3 TALLY_BROKERS=$TALLY_BROKERS TALLY_STATE=$TALLY_STATE deploy/local/kafka.sh wipe" >&2
  else
    deploy/local/kafka.sh wipe >/dev/null 2>&1 || true
  fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM
# A port free a moment ago may be taken when the node binds it (an
# outgoing connection's, inside the ephemeral range): then the next ports,
# at most three times. The test itself is never run twice.
for attempt in 1 2 3; do
  export TALLY_BROKERS=127.0.0.1:$port
  source deploy/local/env.sh   # TALLY_BROKERS: the three nodes
  deploy/local/kafka.sh wipe >/dev/null 2>&1 || true
  t0=$SECONDS
  if deploy/local/kafka.sh start; then break; fi
  [[ $attempt -lt 3 ]] || tally_die "cluster: the three nodes did not start (3 attempts)"
  echo "cluster: start on $TALLY_BROKERS failed (attempt $attempt), trying the next ports" >&2
  TALLY_BROKERS=$base
  port=$(free_block $((port + 10)))
done
echo "cluster: three nodes on $TALLY_BROKERS started in $((SECONDS - t0)) s" >&2
TALLY_SOURCE_DIR=$TALLY_ROOT TALLY_TEST_DATA=$TALLY_ROOT/tests/data TALLY_BIN_DIR=$TALLY_BUILD_DIR/bin \
TALLY_TEST_SANITIZER_LOGS=$TALLY_BUILD_DIR/sanitizer-logs TALLY_TEST_OUTPUT=$TALLY_BUILD_DIR/test-output \
TALLY_TEST_CLUSTER=1 timeout 1200 "$bin" --jobs=1
