/*
 * cluster_probes.h: what the broker-loss suite (test_cluster.c) measures on
 * the three-node cluster, from outside the pipeline: the nodes (kafka.sh
 * kill-node / start-node), partition leaders, how long producing and
 * committing a transaction take to work again after a broker died, and
 * where a consumer group stands on each partition.
 */
#ifndef TALLY_TEST_CLUSTER_PROBES_H
#define TALLY_TEST_CLUSTER_PROBES_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#define CLUSTER_NODES 3
#define PROBE_PARTITIONS 6
#define MAX_PARTITIONS 16

/* SIGKILLs node (1..3) with kafka.sh kill-node and proves it: its pid was
 * alive before, is gone after. 0, or -1 with why. */
int cluster_node_kill(int node, char *why, size_t whysize);

/* kafka.sh start-node: back once it answers on its own port (caught up and
 * unfenced). 0, or -1 with why. */
int cluster_node_start(int node, char *why, size_t whysize);

/* The leader's node id of each partition of topic (-1: none) into
 * leader[0..n-1]; returns the partition count, -1 on error. */
int cluster_leaders(rd_kafka_t *rk, const char *topic, int32_t *leader, int max);

/* An acks=all idempotent producer on the cluster (the probes'). */
rd_kafka_t *cluster_probe_producer(void);

/* Produces to every partition of topic (PROBE_PARTITIONS) until each took a
 * write, from now on; returns when the last one did (mono ms), or -1
 * after timeout_ms. */
long long cluster_produce_heal(rd_kafka_t *rk, const char *topic, int timeout_ms);

/* Commits a transaction (one record to topic) with transactional.id txn_id,
 * starting a new producer after each failure, until one commit succeeds;
 * returns then (mono ms), or -1 after timeout_ms. *attempts: how many. */
long long cluster_txn_heal(const char *txn_id, const char *topic, int timeout_ms, int *attempts);

/* The committed offset of group on each partition of topic (-1: none) and
 * the end offsets; from Kafka, or, when pg_url is given, from the
 * materializer's tally.kafka_offsets there. Returns the partition count. */
int cluster_group_positions(const char *group, const char *topic, const char *pg_url, int64_t *committed,
                            int64_t *end);

/* Waits until group, from the committed and end offsets c0, e0 taken at a
 * member's kill, processed a record that came after the kill on every
 * partition that got one (so each has an owner again), and caught up where
 * none came; returns then (mono ms), or -1 after timeout_ms. */
long long cluster_group_heal(const char *group, const char *topic, const char *pg_url, const int64_t *c0,
                             const int64_t *e0, int timeout_ms);

#endif /* TALLY_TEST_CLUSTER_PROBES_H */
