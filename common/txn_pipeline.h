/*
 * txn_pipeline.h: a consume-transform-produce engine in Kafka transactions
 * (exactly-once in effect), shared by tally-anonymizer and tally-aggregator.
 *
 * One engine owns a consumer (group member, read_committed, no automatic
 * offset commits, subscribed to the input topics) and a transactional
 * producer whose transactional.id is "<txn_id_prefix>-<instance_id>". The
 * instance id must be unique among the instances running at once and
 * stable across restarts of one instance (a host or pod name): a restarted
 * instance then fences its dead predecessor and aborts the transaction it
 * left open at once, instead of after transaction.timeout.ms. Input offsets
 * are sent with the consumer's group metadata (KIP-447), so a zombie that
 * lost its partitions in a rebalance is also fenced by the group
 * generation, whatever its transactional.id.
 *
 * The loop (tally_txn_run), on one thread:
 *
 *   poll one record -> begin a transaction if none is open -> process(record)
 *   ... until the input is drained (a poll, without waiting, finds nothing),
 *   batch_max_records records, or batch_max_ms since the transaction began
 *   -> before_commit() -> send the offsets of every record processed in it
 *   -> commit -> after_commit()
 *
 * Latency: a lone record is committed as soon as it is processed, never
 * held for a timer (its latency is one commit round trip). The two bounds
 * matter only under backlog, while records keep coming: batches then grow
 * by themselves (what arrives during one commit makes the next
 * transaction) up to batch_max_records or batch_max_ms.
 *
 * Everything process and before_commit produce with tally_txn_produce
 * (outputs and DLQ records alike) is in the transaction, with the input
 * offsets: either all of it becomes visible to read_committed readers and
 * the input is consumed, or none of it does and the input is read again.
 *
 * Errors, as in librdkafka's examples/transactions.c:
 *   - abortable (a produce failed, the commit failed with an error that
 *     requires abort): the transaction is aborted, on_abort() runs, and the
 *     consumer is rewound to the last committed offsets (the beginning of a
 *     partition without one), so every record of the aborted transaction is
 *     processed again in a new one;
 *   - retriable (a timeout): the call is retried, a few times, then the
 *     transaction is aborted as above;
 *   - fatal (fenced by a newer instance or generation, producer fatal
 *     error, a hook's own failure): tally_txn_run returns -1 and the process
 *     should exit and be restarted; nothing of the open transaction becomes
 *     visible.
 *
 * Rebalances (the callback runs inside the loop's poll, on its thread):
 *   - assignment: on_assign(partitions) runs BEFORE the partitions are
 *     assigned, so no record of them is processed before it returns (the
 *     aggregator restores its state from its changelog there);
 *   - revocation: the open transaction is committed (aborted when the
 *     assignment was lost: the commit could only be fenced), then
 *     on_revoke(partitions) runs, then the partitions are unassigned.
 *   With the cooperative protocol (partition.assignment.strategy=
 *   cooperative-sticky) the lists hold only the partitions added or
 *   removed; with the eager default, the whole assignment.
 *
 * Redelivery: every record is processed as the consumer delivers it. An
 * abort's rewind reads the aborted records again on purpose; otherwise the
 * consumer never delivers an offset twice within an assignment (the
 * engine used to skip such records: librdkafka before 2.4 could fetch a
 * resumed partition again from an older offset after a cooperative
 * rebalance, its #4637/#4686, fixed in 2.4.0 by #4636).
 *
 * Stop: when *stop becomes non-zero (a signal handler's flag) the loop
 * commits the open transaction (or aborts it if it cannot), closes the
 * consumer (revocation as above, then it leaves the group, unless it is a
 * static member: -X consumer.group.instance.id=...) and returns 0.
 *
 * Metrics (Prometheus, in opts.metrics): tally_txn_records_in_total,
 * tally_txn_records_out_total, tally_txn_transactions_total{result=
 * "committed"|"aborted"}, tally_txn_commits_total{reason="drained"|"size"|
 * "time"|"revoke"|"stop"} (why each committed transaction ended),
 * tally_txn_transaction_seconds (histogram, begin to commit),
 * tally_txn_batch_records (histogram), tally_txn_consumer_lag
 * (records between the position and the high watermark, summed over the
 * assignment, from librdkafka's cached watermarks: no round trip),
 * tally_txn_assigned_partitions, tally_txn_rebalances_total{type=...},
 * tally_txn_delivery_failures_total.
 */
#ifndef TALLY_TXN_PIPELINE_H
#define TALLY_TXN_PIPELINE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "metrics.h"

/* Errors (negative). */
enum {
    TALLY_TXN_ERR_ABORT = -1, /* the open transaction must be aborted; the engine does it */
    TALLY_TXN_ERR_FATAL = -2, /* the engine cannot go on; tally_txn_run returns -1 */
};

/* Most headers one produced record may carry. */
#define TALLY_TXN_MAX_HEADERS 16

typedef struct tally_txn_t tally_txn_t;

/* One input record, borrowed by the hook for the duration of the call. */
typedef struct tally_txn_record_t {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp;                  /* ms since the epoch, -1 if none */
    const void *key;                    /* NULL for a record without key */
    size_t key_len;
    const void *value;                  /* NULL for a record without value */
    size_t len;
    const rd_kafka_message_t *message;  /* the whole message (headers) */
} tally_txn_record_t;

/* One header of a produced record; name and value are copied. */
typedef struct tally_txn_header_t {
    const char *name;
    const void *value;
    size_t len;
} tally_txn_header_t;

/*
 * The hooks. All run on the thread that calls tally_txn_run (the rebalance
 * ones from inside its poll), never concurrently. arg is opts.arg.
 *
 * process (required): transform one record; produce its outputs with
 *   tally_txn_produce. Return 0 when the record is done (its offset goes
 *   into the transaction), TALLY_TXN_ERR_ABORT to abort the transaction and
 *   read its records again (for a transient failure of something the hook
 *   depends on; returning what tally_txn_produce returned is right), or
 *   TALLY_TXN_ERR_FATAL to stop the engine. A record that can never be
 *   processed (undecodable, invalid) must not return an error: that would
 *   block its partition forever; produce a DLQ record and return 0.
 * before_commit (optional): runs once per transaction, after the last
 *   process, before the offsets are sent; may produce (the aggregator's
 *   changed rollups and changelog). Return codes as for process.
 * after_commit (optional): the transaction is committed: everything
 *   produced since the last commit is durable and the input consumed.
 * on_abort (optional): the transaction was aborted: undo every effect of
 *   the records processed since the last commit (they will be processed
 *   again) and of before_commit. Also runs when a revocation finds the
 *   assignment lost.
 * on_assign (optional): partitions (borrowed) are about to be assigned;
 *   no record of them has been or will be processed before this returns.
 *   Their offsets are the committed ones (stable, see KIP-447), or
 *   RD_KAFKA_OFFSET_INVALID when none; tally_txn_set_start_offset may
 *   change where a partition starts.
 *   Must not produce. Return 0, or TALLY_TXN_ERR_FATAL to stop the engine.
 * on_revoke (optional): partitions (borrowed) are being taken away; the
 *   transaction that held their records is already committed or aborted
 *   (lost is non-zero when the group lost them, e.g. after a session
 *   timeout). Must not produce.
 */
typedef struct tally_txn_hooks_t {
    int (*process)(void *arg, tally_txn_t *txn, const tally_txn_record_t *record);
    int (*before_commit)(void *arg, tally_txn_t *txn);
    void (*after_commit)(void *arg);
    void (*on_abort)(void *arg);
    int (*on_assign)(void *arg, tally_txn_t *txn, const rd_kafka_topic_partition_list_t *partitions);
    void (*on_revoke)(void *arg, tally_txn_t *txn, const rd_kafka_topic_partition_list_t *partitions,
                      int lost);
} tally_txn_hooks_t;

typedef struct tally_txn_opts_t {
    const char *brokers;
    const char *group_id;           /* consumer group shared by the instances */
    const char *txn_id_prefix;      /* e.g. "tally-anonymizer" */
    const char *instance_id;        /* unique and stable per instance (hostname) */
    const char *const *topics;      /* input topic names (exact names, no regex) */
    size_t n_topics;
    int batch_max_records;          /* records per transaction at most (backlog); 0: 10000 */
    int batch_max_ms;               /* transaction open at most this long (backlog; a drained
                                       input commits at once); 0: 200 */
    int api_timeout_ms;             /* per transactional call; 0: 30000 */
    const tally_config_t *cfg;      /* -X pairs (may be NULL; borrowed): "consumer.<key>" for the
                                       consumer only, "producer.<key>" for the producer only,
                                       any other key for both */
    tally_metrics_t *metrics;       /* borrowed; may be NULL */
    const tally_txn_hooks_t *hooks; /* borrowed */
    void *arg;                      /* passed to the hooks */
} tally_txn_opts_t;

/* Creates the producer, initializes transactions (fencing an earlier
 * instance with the same transactional.id and aborting what it left open),
 * then creates the consumer and subscribes. Copies every string of opts;
 * cfg, metrics, hooks and arg stay borrowed and must outlive the engine.
 * Returns an owned engine, or NULL with the reason in errbuf (no broker
 * within api_timeout_ms, bad -X pair, ...). */
tally_txn_t *tally_txn_new(const tally_txn_opts_t *opts, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Runs the loop until *stop is non-zero (then drains as above and returns
 * 0) or a fatal error (returns -1 with the reason in errbuf). Call once. */
int tally_txn_run(tally_txn_t *txn, volatile sig_atomic_t *stop, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Frees the engine: closes the consumer if run did not (aborting any open
 * transaction), destroys both clients. NULL is a no-op. */
void tally_txn_free(tally_txn_t *txn);

/* A handle for producing to topic, created once and owned by the engine
 * (valid until tally_txn_free). Call at setup, not per record. Returns NULL
 * with errbuf on failure. */
rd_kafka_topic_t *tally_txn_topic(tally_txn_t *txn, const char *topic, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Produces one record into the open transaction (beginning one if needed),
 * from process or before_commit only. partition: RD_KAFKA_PARTITION_UA to
 * let the partitioner pick by key, or an explicit partition (the aggregator
 * writes its changelog to its input's partition). key, value (either may be
 * NULL) and headers are copied. Waits while the producer's queue is full.
 * Returns 0, TALLY_TXN_ERR_ABORT or TALLY_TXN_ERR_FATAL; the engine already
 * knows, the hook just returns the code. */
int tally_txn_produce(tally_txn_t *txn, rd_kafka_topic_t *topic, int32_t partition, const void *key,
                      size_t key_len, const void *value, size_t len, const tally_txn_header_t *headers,
                      size_t n_headers)
    __attribute__((warn_unused_result));

/* From on_assign only: start consuming topic[partition] (one of the
 * partitions being assigned) at offset instead of its committed offset,
 * e.g. at the input position stored with a restored state, which belongs
 * to that state even when the committed offsets moved meanwhile. Returns
 * 0, or -1 outside on_assign, for a partition not being assigned or a
 * negative offset. */
int tally_txn_set_start_offset(tally_txn_t *txn, const char *topic, int32_t partition, int64_t offset);

/* For the admin server's checks, from any thread: healthy while the loop
 * turns (it has polled within the last 60 s, or on_assign is running) and
 * no fatal error happened; ready once healthy, a member of the group
 * (assigned, even zero partitions) and not inside on_assign. why gets the
 * reason when not. */
int tally_txn_healthy(void *txn, char *why, size_t whysize);
int tally_txn_ready(void *txn, char *why, size_t whysize);

/* The transactional.id in use (borrowed), for logs. */
const char *tally_txn_id(const tally_txn_t *txn);

#endif /* TALLY_TXN_PIPELINE_H */
