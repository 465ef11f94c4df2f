/*
 * materializer.h: the loop of tally-materializer. It consumes the rollups,
 * product and Control Panel topics as one consumer group and keeps the
 * PostgreSQL read model (docs/architecture.md), exactly once in effect:
 *
 *   - on assignment, each partition starts at the next offset stored in
 *     kafka_offsets for the group (the beginning when there is none): the
 *     database, not Kafka, is the source of truth for progress;
 *   - records gather into a batch until the fetch queue is drained (a poll
 *     without waiting finds nothing) and the writer is free, so a lone
 *     record waits for no timer; under backlog, or while the writer is
 *     busy with the batch before, until batch-max-records, batch-max-bytes
 *     or batch-max-wait since its first record. The batch is one
 *     transaction that also moves the stored offsets (writer.h);
 *     tally_materializer_batches_closed_total{reason="drained"|"size"|
 *     "time"|"revoke"|"stop"} says which ended each batch;
 *   - after each commit the same offsets are committed to Kafka (async), so
 *     standard tools show the group's lag; Kafka's copy is never read back;
 *   - PostgreSQL lost or refusing: the batch is retried, with exponential
 *     backoff and jitter (each delay random in [d/2, d]), on a new connection; a commit whose answer
 *     was lost is detected by the offset fence and not applied twice;
 *     /readyz answers 503 meanwhile. Kafka is not polled while a batch
 *     waits (a long outage costs a rebalance, never a record);
 *   - rebalance: a revoked partition's pending records are written once if
 *     possible, else dropped to be read again by the next owner.
 *
 * Rollups: the last record for a key is the truth. Within a batch the last
 * one read wins; in the table a row moves only to a record at or after the
 * one it holds (same partition: by offset, else by updated_at), so a replay
 * from older offsets, by any group or tool, never lowers a value.
 */
#ifndef TALLY_MATERIALIZER_H
#define TALLY_MATERIALIZER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "config.h"
#include "metrics.h"
#include "schema_catalog.h"

typedef struct {
    const char *brokers;
    const char *group;                      /* consumer group and kafka_offsets key */
    const char *client_id;
    const char *topics[TALLY_ROLE_COUNT];   /* rollups, product, Control Panel, alerts (NULL: not read) */
    const char *dlq_topic;
    const char *pg_url;
    const char *schema;                     /* "tally" */
    int64_t batch_max_records, batch_max_bytes, batch_max_wait_ms;
    int64_t retry_initial_ms, retry_max_ms;
    int64_t shutdown_timeout_ms;            /* on stop, how long the last batch may retry */
    const tally_catalog_t *catalog;         /* borrowed */
    tally_metrics_t *metrics;               /* borrowed */
    const tally_config_t *cfg;              /* borrowed, may be NULL: -X pairs for librdkafka */
    volatile sig_atomic_t *stop;            /* borrowed: a signal handler's flag */
} tally_materializer_opts_t;

typedef struct tally_materializer_t tally_materializer_t;

/* Creates the consumer, the dead-letter producer and the writer (not yet
 * connected). Borrows o's strings and pointers, which must outlive the
 * materializer. Returns an owned materializer or NULL with errbuf. */
tally_materializer_t *tally_materializer_new(const tally_materializer_opts_t *o, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Runs until *stop: subscribes, consumes, writes; then writes the last
 * batch (retrying up to the shutdown timeout) and leaves the group.
 * Returns 0 on a clean stop, -1 on a fatal consumer error or when the last
 * batch could not be written (it will be read again: nothing is lost). */
int tally_materializer_run(tally_materializer_t *m) __attribute__((warn_unused_result));

/* Frees; NULL is a no-op. */
void tally_materializer_free(tally_materializer_t *m);

/* For the admin server (any thread): ready while PostgreSQL answers and
 * the process is not stopping; healthy while the loop is turning. Return 1,
 * or 0 with the reason in why. */
int tally_materializer_ready(void *m, char *why, size_t whysize);
int tally_materializer_healthy(void *m, char *why, size_t whysize);

/* The delay before retry attempt (0-based): a random value in
 * [d/2, d] where d = min(max_ms, initial_ms * 2^attempt). *seed is the
 * caller's rand_r state. */
int64_t tally_materializer_backoff_ms(int attempt, int64_t initial_ms, int64_t max_ms, unsigned *seed);

#endif
