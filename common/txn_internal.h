/*
 * txn_internal.h: what the engine's files share (txn_pipeline.c: the loop,
 * producing and construction; txn_commit.c: the open transaction;
 * txn_rebalance.c: assignments). Not for the engine's users: they have
 * txn_pipeline.h.
 */
#ifndef TALLY_COMMON_TXN_INTERNAL_H
#define TALLY_COMMON_TXN_INTERNAL_H

#include "txn_pipeline.h"

#include <stdatomic.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COMPONENT "txn"
/* How often a retriable transactional call is tried before aborting. */
#define RETRIES 5
/* The loop counts as stuck (unhealthy) after this long without turning. */
#define HEARTBEAT_MAX_MS 60000

/* One input partition's next offset to commit with the open transaction. */
typedef struct pending_t {
    size_t topic;       /* index into txn->topics */
    int32_t partition;
    int64_t next;       /* -1: none yet */
} pending_t;

typedef struct offsets_t {
    pending_t *e;
    size_t n, cap, last;
} offsets_t;

/* Why a transaction ends (tally_txn_commits_total{reason=...}). */
typedef enum txn_reason_t {
    TXN_DRAINED, /* the input had nothing more: no record waits for a timer */
    TXN_SIZE,    /* batch_max_records reached (backlog) */
    TXN_TIME,    /* batch_max_ms since the begin (backlog) */
    TXN_REVOKE,  /* partitions revoked */
    TXN_STOP,    /* the engine stops */
    TXN_REASONS
} txn_reason_t;

struct tally_txn_t {
    char *brokers, *group_id, *txn_id, *client_id;
    char **topics;
    size_t n_topics;
    int batch_max_records, batch_max_ms, api_timeout_ms;
    const tally_config_t *cfg;
    const tally_txn_hooks_t *hooks;
    void *arg;

    rd_kafka_t *producer, *consumer;
    bool consumer_closed;
    bool closing;                      /* in rd_kafka_consumer_close (its revocation) */
    bool no_rewind;                    /* closing, or the whole assignment is being revoked */
    /* tally_txn_run's stop flag (NULL before it runs). Once set, a failing
     * transaction is not retried at length: the process is stopping, and a
     * transaction it leaves open is aborted by its coordinator (timeout, or
     * the next instance of the same transactional.id fencing it). */
    volatile sig_atomic_t *stop;
    rd_kafka_topic_t **outputs;        /* tally_txn_topic handles */
    size_t n_outputs;

    /* The open transaction. */
    bool txn_open, must_abort;
    long long txn_began_ms;
    int txn_records;
    offsets_t pending;                 /* offsets to send with the open transaction */

    /* Fatal state: set on the loop's thread (and librdkafka's for the
     * producer's fatal error callback), read by the admin thread. */
    atomic_int fatal;
    char fatal_reason[512];
    atomic_llong heartbeat_ms;
    atomic_int assigned;               /* a group member with an assignment */
    atomic_int in_assign_hook;         /* on_assign (a state restore) is running */
    rd_kafka_topic_partition_list_t *assigning; /* on_assign's partitions, while it runs */
    long long lag_at_ms;

    tally_metric_t *m_in, *m_out, *m_committed, *m_aborted, *m_txn_seconds, *m_batch;
    tally_metric_t *m_lag, *m_partitions, *m_assigns, *m_revokes, *m_lost, *m_delivery_failed;
    tally_metric_t *m_reason[TXN_REASONS];   /* committed transactions by why they ended */
};

/* Sets the fatal state (first reason wins) and logs it. */
void txn_set_fatal(tally_txn_t *t, const char *what, const char *reason);

/* Takes error. Classifies a failed transactional call; returns 1 if it may
 * be retried, 0 if the transaction must be aborted, -1 when fatal (set). */
int txn_classify(tally_txn_t *t, const char *what, rd_kafka_error_t *error);

/* The index of input topic name in t->topics: 0, or -1 when not one. */
int txn_topic_index(const tally_txn_t *t, const char *name, size_t *index);

/* The entry of (topic, partition) in o, added (next -1) when missing. */
pending_t *txn_offsets_get(offsets_t *o, size_t topic, int32_t partition);

/* Opens a transaction unless one is open: 0 or TALLY_TXN_ERR_FATAL. */
int txn_begin(tally_txn_t *t);

/* Sends the offsets and commits (counted under reason); aborts and rewinds
 * when the transaction cannot commit. Returns 0 (committed or aborted) or
 * TALLY_TXN_ERR_FATAL. */
int txn_commit(tally_txn_t *t, txn_reason_t reason);

/* Aborts the open transaction, lets the hooks undo its effects and, when
 * rewind is set, reads its records again. */
int txn_abort(tally_txn_t *t, bool rewind);

/* The consumer's rebalance callback (opaque: the engine). */
void txn_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                      void *opaque);

#endif /* TALLY_COMMON_TXN_INTERNAL_H */
