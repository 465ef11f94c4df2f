#!/usr/bin/env bash
# Prints a Strimzi KafkaTopic resource for every topic of
# deploy/kafka/topics.conf (partitions, retention, cleanup policy, the
# replication factor and extra configs as declared there: 3 replicas, and
# min.insync.replicas=2 for every topic that carries usage, seats, rollups,
# changelogs, alerts or Control Panel events, so that an acknowledged write
# is on two brokers' disks and the loss of one broker refuses no write).
#   deploy/k8s/strimzi-topics.sh CLUSTER [NAMESPACE] | kubectl apply -f -
# CLUSTER is the Kafka resource's name (its Topic Operator watches
# NAMESPACE, default kafka).
set -euo pipefail
[[ $# -ge 1 && $# -le 2 ]] || { echo "usage: $0 CLUSTER [NAMESPACE]" >&2; exit 2; }
cluster=$1 namespace=${2:-kafka}
conf=$(dirname "${BASH_SOURCE[0]}")/../kafka/topics.conf
awk -v cluster="$cluster" -v ns="$namespace" '
  !/^#/ && NF {
    printf "---\napiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaTopic\nmetadata:\n  name: %s\n  namespace: %s\n", $1, ns
    replicas = 3
    for (i = 5; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "replication.factor") replicas = kv[2] }
    printf "  labels:\n    strimzi.io/cluster: %s\nspec:\n  partitions: %s\n  replicas: %s\n  config:\n", cluster, $2, replicas
    printf "    retention.ms: %s\n    cleanup.policy: %s\n", $3, $4
    for (i = 5; i <= NF; i++) { split($i, kv, "="); if (kv[1] != "replication.factor") printf "    %s: %s\n", kv[1], kv[2] }
  }' "$conf"
