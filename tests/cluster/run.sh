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
port=${TALLY_CLUSTER_PORT:-28092}
for _ in $(seq 1 50); do
  if port_free "$port" && port_free $((port + 1)) && port_free $((port + 2)) &&
     port_free $((port + 100)) && port_free $((port + 101)) && port_free $((port + 102)); then break; fi
  port=$((port + 10))
done
export TALLY_KAFKA_NODES=3 TALLY_BROKERS=127.0.0.1:$port TALLY_STATE=$TALLY_BUILD_DIR/cluster-state
source deploy/local/env.sh   # TALLY_BROKERS: the three nodes

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
deploy/local/kafka.sh wipe >/dev/null 2>&1 || true
t0=$SECONDS
deploy/local/kafka.sh start
echo "cluster: three nodes on $TALLY_BROKERS started in $((SECONDS - t0)) s" >&2
TALLY_SOURCE_DIR=$TALLY_ROOT TALLY_TEST_DATA=$TALLY_ROOT/tests/data TALLY_BIN_DIR=$TALLY_BUILD_DIR/bin \
TALLY_TEST_SANITIZER_LOGS=$TALLY_BUILD_DIR/sanitizer-logs TALLY_TEST_OUTPUT=$TALLY_BUILD_DIR/test-output \
TALLY_TEST_CLUSTER=1 timeout 1200 "$bin" --jobs=1
