/*
 * The consume-transform-produce loop in Kafka transactions: see
 * txn_pipeline.h for the contract. The error handling follows librdkafka's
 * examples/transactions.c; the comments say where it differs.
 */
#include "txn_pipeline.h"

#include "kafka.h"
#include "log.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMPONENT "txn"
/* How often a retriable transactional call is tried before aborting. */
#define RETRIES 5
/* The loop counts as stuck (unhealthy) after this long without turning. */
#define HEARTBEAT_MAX_MS 60000

/* One input partition's next offset: to commit (the open transaction's
 * table) or to process (the assignment's table). */
typedef struct pending_t {
    size_t topic;       /* index into txn->topics */
    int32_t partition;
    int64_t next;       /* -1: none yet */
} pending_t;

typedef struct offsets_t {
    pending_t *e;
    size_t n, cap, last;
} offsets_t;

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
    bool no_rewind;                    /* closing, or the whole assignment is being revoked */
    rd_kafka_topic_t **outputs;        /* tally_txn_topic handles */
    size_t n_outputs;

    /* The open transaction. */
    bool txn_open, must_abort;
    long long txn_began_ms;
    int txn_records;
    offsets_t pending;                 /* offsets to send with the open transaction */
    /* Next offset to process per assigned partition: a record below it was
     * processed already in this assignment (committed or in the open
     * transaction) and is skipped. librdkafka 2.0 can fetch a resumed
     * partition again from an older offset after a cooperative rebalance
     * (its issue #4637); without this, such records would be doubled. */
    offsets_t positions;
    uint64_t skipped;

    /* Fatal state: set on the loop's thread (and librdkafka's for the
     * producer's fatal error callback), read by the admin thread. */
    atomic_int fatal;
    char fatal_reason[512];
    atomic_llong heartbeat_ms;
    atomic_int assigned;               /* a group member with an assignment */
    atomic_int in_assign_hook;         /* on_assign (a state restore) is running */
    long long lag_at_ms;

    tally_metric_t *m_in, *m_out, *m_committed, *m_aborted, *m_txn_seconds, *m_batch;
    tally_metric_t *m_lag, *m_partitions, *m_assigns, *m_revokes, *m_lost, *m_delivery_failed, *m_skipped;
};

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL) {
        fprintf(stderr, "txn: out of memory\n");
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (d == NULL) {
        fprintf(stderr, "txn: out of memory\n");
        abort();
    }
    return d;
}

static void metric_add(tally_metric_t *m, uint64_t n)
{
    if (m != NULL)
        tally_metric_add(m, n);
}

static void set_fatal(tally_txn_t *t, const char *what, const char *reason)
{
    if (atomic_load(&t->fatal))
        return;
    snprintf(t->fatal_reason, sizeof t->fatal_reason, "%s: %s", what, reason);
    atomic_store(&t->fatal, 1);
    tally_log_error(COMPONENT, "%s: %s (fatal: stopping)", what, reason);
}

/* Takes error. Classifies a failed transactional call; returns 1 if it may
 * be retried, 0 if the transaction must be aborted, -1 when fatal (set). */
static int classify(tally_txn_t *t, const char *what, rd_kafka_error_t *error)
{
    int rc;
    if (rd_kafka_error_is_fatal(error)) {
        set_fatal(t, what, rd_kafka_error_string(error));
        rc = -1;
    } else if (rd_kafka_error_txn_requires_abort(error)) {
        tally_log_warn(COMPONENT, "%s: %s (aborting the transaction)", what, rd_kafka_error_string(error));
        rc = 0;
    } else if (rd_kafka_error_is_retriable(error)) {
        tally_log_warn(COMPONENT, "%s: %s (retrying)", what, rd_kafka_error_string(error));
        rc = 1;
    } else {
        /* Neither abortable nor retriable: a state error, a bug. */
        set_fatal(t, what, rd_kafka_error_string(error));
        rc = -1;
    }
    rd_kafka_error_destroy(error);
    return rc;
}

/* ---- offsets of the open transaction ---------------------------------- */

static int topic_index(const tally_txn_t *t, const char *name, size_t *index)
{
    for (size_t i = 0; i < t->n_topics; i++)
        if (strcmp(t->topics[i], name) == 0) {
            *index = i;
            return 0;
        }
    return -1;
}

static pending_t *offsets_get(offsets_t *o, size_t topic, int32_t partition)
{
    pending_t *p = o->n ? &o->e[o->last] : NULL;
    if (p != NULL && p->topic == topic && p->partition == partition)
        return p;
    for (size_t i = 0; i < o->n; i++)
        if (o->e[i].topic == topic && o->e[i].partition == partition) {
            o->last = i;
            return &o->e[i];
        }
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 16;
        o->e = realloc(o->e, o->cap * sizeof *o->e);
        if (o->e == NULL)
            abort();
    }
    p = &o->e[o->n];
    p->topic = topic;
    p->partition = partition;
    p->next = -1;
    o->last = o->n++;
    return p;
}

/* Forgets the partitions of parts (all of them when parts is NULL). */
static void offsets_forget(const tally_txn_t *t, offsets_t *o, const rd_kafka_topic_partition_list_t *parts)
{
    if (parts == NULL) {
        o->n = o->last = 0;
        return;
    }
    for (int k = 0; k < parts->cnt; k++) {
        size_t topic;
        if (topic_index(t, parts->elems[k].topic, &topic) != 0)
            continue;
        for (size_t i = 0; i < o->n; i++)
            if (o->e[i].topic == topic && o->e[i].partition == parts->elems[k].partition) {
                o->e[i] = o->e[--o->n];
                break;
            }
    }
    o->last = 0;
}

static void clear_transaction(tally_txn_t *t)
{
    t->txn_open = false;
    t->must_abort = false;
    t->txn_records = 0;
    offsets_forget(t, &t->pending, NULL);
}

/* ---- begin, commit, abort, rewind -------------------------------------- */

static int begin(tally_txn_t *t)
{
    if (t->txn_open)
        return 0;
    if (atomic_load(&t->fatal))
        return TALLY_TXN_ERR_FATAL;
    rd_kafka_error_t *error = rd_kafka_begin_transaction(t->producer);
    if (error != NULL) {
        set_fatal(t, "begin transaction", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        return TALLY_TXN_ERR_FATAL;
    }
    t->txn_open = true;
    t->txn_began_ms = mono_ms();
    return 0;
}

/* Seeks every assigned partition back to its committed offset (or the
 * beginning when it has none), dropping what was fetched past it. */
static int rewind_consumer(tally_txn_t *t)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_resp_err_t err;
    int rc = 0;
    /* Nothing will be read again by this instance: the next owner of the
     * partitions starts from the committed offsets anyway (and during the
     * consumer's close, fetching them would only time out). */
    if (t->no_rewind || atomic_load(&t->fatal))
        return 0;
    err = rd_kafka_assignment(t->consumer, &parts);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        set_fatal(t, "rewind: assignment", rd_kafka_err2str(err));
        return TALLY_TXN_ERR_FATAL;
    }
    if (parts->cnt == 0)
        goto cleanup;
    for (int attempt = 0;; attempt++) {
        err = rd_kafka_committed(t->consumer, parts, t->api_timeout_ms);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        if (attempt == RETRIES) {
            /* Going on without a rewind would skip the aborted records. */
            set_fatal(t, "rewind: committed offsets", rd_kafka_err2str(err));
            rc = TALLY_TXN_ERR_FATAL;
            goto cleanup;
        }
        tally_log_warn(COMPONENT, "rewind: committed offsets: %s (retrying)", rd_kafka_err2str(err));
    }
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].offset < 0)
            parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_error_t *error = rd_kafka_seek_partitions(t->consumer, parts, t->api_timeout_ms);
    if (error != NULL) {
        set_fatal(t, "rewind: seek", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        rc = TALLY_TXN_ERR_FATAL;
        goto cleanup;
    }
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            set_fatal(t, "rewind: seek", rd_kafka_err2str(parts->elems[i].err));
            rc = TALLY_TXN_ERR_FATAL;
            goto cleanup;
        }
    offsets_forget(t, &t->positions, NULL);   /* what comes now is read again on purpose */
    tally_log_info(COMPONENT, "rewound %d partition(s) to their committed offsets", parts->cnt);
cleanup:
    rd_kafka_topic_partition_list_destroy(parts);
    return rc;
}

/* Aborts the open transaction, lets the hooks undo its effects and, when
 * rewind is set, reads its records again. */
static int abort_transaction(tally_txn_t *t, bool rewind)
{
    if (!t->txn_open)
        return 0;
    int records = t->txn_records;
    /* Let what was produced reach the broker first: aborting while the
     * AddPartitionsToTxn request is still in flight can end in a fatal
     * INVALID_TXN_STATE (librdkafka issue #4849). Bounded: when the broker
     * is the problem, the abort below retries anyway. */
    if (!atomic_load(&t->fatal))
        (void)rd_kafka_flush(t->producer, t->api_timeout_ms < 10000 ? t->api_timeout_ms : 10000);
    for (int attempt = 0;; attempt++) {
        rd_kafka_error_t *error = rd_kafka_abort_transaction(t->producer, t->api_timeout_ms);
        if (error == NULL)
            break;
        int c = classify(t, "abort transaction", error);
        if (c < 0)
            return TALLY_TXN_ERR_FATAL;
        if (attempt == RETRIES) {
            set_fatal(t, "abort transaction", "still failing after retries");
            return TALLY_TXN_ERR_FATAL;
        }
    }
    clear_transaction(t);
    metric_add(t->m_aborted, 1);
    tally_log_warn(COMPONENT, "transaction aborted; its %d record(s) will be processed again", records);
    if (t->hooks->on_abort)
        t->hooks->on_abort(t->arg);
    return rewind ? rewind_consumer(t) : 0;
}

static void update_lag(tally_txn_t *t)
{
    long long now = mono_ms();
    if (t->m_lag == NULL || now - t->lag_at_ms < 1000)
        return;
    t->lag_at_ms = now;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(t->consumer, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    int64_t lag = 0;
    if (parts->cnt > 0 && rd_kafka_position(t->consumer, parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < parts->cnt; i++) {
            int64_t lo, hi;
            if (parts->elems[i].offset < 0 ||
                rd_kafka_get_watermark_offsets(t->consumer, parts->elems[i].topic, parts->elems[i].partition,
                                               &lo, &hi) != RD_KAFKA_RESP_ERR_NO_ERROR || hi < 0)
                continue;
            if (hi > parts->elems[i].offset)
                lag += hi - parts->elems[i].offset;
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
    tally_metric_set(t->m_lag, lag);
}

/* Sends the offsets and commits; aborts and rewinds when the transaction
 * cannot commit. Returns 0 (committed or aborted) or TALLY_TXN_ERR_FATAL. */
static int commit_transaction(tally_txn_t *t)
{
    if (!t->txn_open)
        return 0;
    if (t->must_abort)
        return abort_transaction(t, true);
    if (t->hooks->before_commit) {
        int rc = t->hooks->before_commit(t->arg, t);
        if (rc == TALLY_TXN_ERR_FATAL || atomic_load(&t->fatal)) {
            if (!atomic_load(&t->fatal))
                set_fatal(t, "before_commit hook", "failed");
            return TALLY_TXN_ERR_FATAL;
        }
        if (rc != 0 || t->must_abort)
            return abort_transaction(t, true);
    }
    if (t->pending.n > 0) {
        rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new((int)t->pending.n);
        for (size_t i = 0; i < t->pending.n; i++)
            rd_kafka_topic_partition_list_add(offsets, t->topics[t->pending.e[i].topic],
                                              t->pending.e[i].partition)->offset = t->pending.e[i].next;
        rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(t->consumer);
        int c = 1;
        for (int attempt = 0; c == 1; attempt++) {
            rd_kafka_error_t *error = rd_kafka_send_offsets_to_transaction(t->producer, offsets, cgmd,
                                                                           t->api_timeout_ms);
            if (error == NULL)
                c = 2;
            else if ((c = classify(t, "send offsets to transaction", error)) == 1 && attempt == RETRIES)
                c = 0;
        }
        rd_kafka_consumer_group_metadata_destroy(cgmd);
        rd_kafka_topic_partition_list_destroy(offsets);
        if (c < 0)
            return TALLY_TXN_ERR_FATAL;
        if (c == 0)
            return abort_transaction(t, true);
    }
    for (int attempt = 0;; attempt++) {
        rd_kafka_error_t *error = rd_kafka_commit_transaction(t->producer, t->api_timeout_ms);
        if (error == NULL)
            break;
        int c = classify(t, "commit transaction", error);
        if (c < 0)
            return TALLY_TXN_ERR_FATAL;
        if (c == 0 || attempt == RETRIES)
            return abort_transaction(t, true);
    }
    long long took = mono_ms() - t->txn_began_ms;
    metric_add(t->m_committed, 1);
    if (t->m_txn_seconds)
        tally_metric_observe(t->m_txn_seconds, (double)took / 1000.0);
    if (t->m_batch)
        tally_metric_observe(t->m_batch, (double)t->txn_records);
    clear_transaction(t);
    if (t->hooks->after_commit)
        t->hooks->after_commit(t->arg);
    update_lag(t);
    return 0;
}

/* ---- rebalances --------------------------------------------------------- */

static void log_partitions(const char *what, const rd_kafka_topic_partition_list_t *parts)
{
    char buf[1024];
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < parts->cnt && n < sizeof buf - 64; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s[%d]", i ? " " : "", parts->elems[i].topic,
                              (int)parts->elems[i].partition);
    tally_log_info(COMPONENT, "%s %d partition(s): %s", what, parts->cnt, parts->cnt ? buf : "none");
}

static void count_assigned(tally_txn_t *t)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(t->consumer, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (t->m_partitions)
            tally_metric_set(t->m_partitions, parts->cnt);
        rd_kafka_topic_partition_list_destroy(parts);
    }
}

/* Sets parts' offsets to their committed offsets (INVALID when none), once
 * stable. The consumer is read_committed, so librdkafka asks for stable
 * offsets (KIP-447): while the previous owner's transaction that holds
 * offsets of these partitions is still open (a zombie frozen between
 * sending its offsets and committing, whose commit is accepted when it
 * thaws), the broker answers UNSTABLE_OFFSET_COMMIT and the fetch waits.
 * Done before on_assign so that its restore reads a changelog that holds
 * that transaction's records when the start offsets are past its input;
 * the offsets found are where the consumer starts. */
static int fetch_stable_committed(tally_txn_t *t, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
    if (parts->cnt == 0)
        return 0;
    for (int attempt = 0;; attempt++) {
        rd_kafka_resp_err_t err = rd_kafka_committed(rk, parts, t->api_timeout_ms);
        for (int i = 0; err == RD_KAFKA_RESP_ERR_NO_ERROR && i < parts->cnt; i++)
            err = parts->elems[i].err;
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        if (attempt == RETRIES) {
            set_fatal(t, "assign: committed offsets", rd_kafka_err2str(err));
            return TALLY_TXN_ERR_FATAL;
        }
        tally_log_warn(COMPONENT, "assign: committed offsets: %s (retrying)", rd_kafka_err2str(err));
    }
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].offset < 0)
            parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
    return 0;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque)
{
    tally_txn_t *t = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;

    switch (err) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        log_partitions("assigned", parts);
        metric_add(t->m_assigns, 1);
        offsets_forget(t, &t->positions, parts);
        /* (Not while closing: nothing will be read.) */
        if (!t->no_rewind && !atomic_load(&t->fatal))
            (void)fetch_stable_committed(t, rk, parts);
        if (t->hooks->on_assign && !atomic_load(&t->fatal)) {
            /* A restore may take long: alive, not ready, meanwhile. */
            atomic_store(&t->in_assign_hook, 1);
            int rc = t->hooks->on_assign(t->arg, t, parts);
            atomic_store(&t->heartbeat_ms, mono_ms());
            atomic_store(&t->in_assign_hook, 0);
            if (rc != 0)
                set_fatal(t, "on_assign hook", "failed");
        }
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, parts);
        atomic_store(&t->assigned, 1);
        break;
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS: {
        int lost = rd_kafka_assignment_lost(rk);
        log_partitions(lost ? "lost" : "revoking", parts);
        metric_add(lost ? t->m_lost : t->m_revokes, 1);
        if (t->txn_open) {
            /* The records of the open transaction may belong to these
             * partitions: finish it while this member still owns them. A
             * lost assignment cannot commit (it would be fenced). Eager
             * revocation and a loss take every partition: no rewind after
             * an abort. */
            bool saved = t->no_rewind;
            t->no_rewind = saved || !cooperative || lost;
            if (lost || atomic_load(&t->fatal))
                (void)abort_transaction(t, true);
            else
                (void)commit_transaction(t);
            t->no_rewind = saved;
        }
        offsets_forget(t, &t->positions, cooperative ? parts : NULL);
        if (t->hooks->on_revoke)
            t->hooks->on_revoke(t->arg, t, parts, lost);
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, NULL);
        if (!cooperative)
            atomic_store(&t->assigned, 0);
        break;
    }
    default:
        tally_log_error(COMPONENT, "rebalance failed: %s", rd_kafka_err2str(err));
        aerr = rd_kafka_assign(rk, NULL);
        atomic_store(&t->assigned, 0);
        break;
    }
    if (error != NULL) {
        set_fatal(t, "incremental (un)assign", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (aerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        set_fatal(t, "(un)assign", rd_kafka_err2str(aerr));
    }
    count_assigned(t);
}

/* ---- librdkafka callbacks ---------------------------------------------- */

static void producer_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    tally_txn_t *t = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof why);
        tally_log_error(COMPONENT, "producer fatal error %s: %s", rd_kafka_err2name(orig), why);
        /* The loop sees it on its next transactional call and stops there;
         * only the flag is set here, on librdkafka's thread. */
        atomic_store(&t->fatal, 1);
        return;
    }
    tally_log_warn(COMPONENT, "producer: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* Delivery reports: a failed record fails the commit (abortable), so only
 * count here. */
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    tally_txn_t *t = opaque;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && m->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE &&
        m->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
        metric_add(t->m_delivery_failed, 1);
}

/* ---- construction ------------------------------------------------------ */

static void register_metrics(tally_txn_t *t, tally_metrics_t *m)
{
    static const double secs[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
    static const double sizes[] = {1, 10, 100, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000};
    if (m == NULL)
        return;
    t->m_in = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_txn_records_in_total",
                                "Input records processed (counted again when their transaction aborts)", "",
                                NULL, 0);
    t->m_out = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_txn_records_out_total",
                                 "Records produced into transactions", "", NULL, 0);
    t->m_committed = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_txn_transactions_total",
                                       "Transactions by outcome", "result=\"committed\"", NULL, 0);
    t->m_aborted = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_txn_transactions_total",
                                     "Transactions by outcome", "result=\"aborted\"", NULL, 0);
    t->m_txn_seconds = tally_metrics_get(m, TALLY_METRIC_HISTOGRAM, "tally_txn_transaction_seconds",
                                         "Time from the begin of a transaction to its commit", "", secs,
                                         sizeof secs / sizeof secs[0]);
    t->m_batch = tally_metrics_get(m, TALLY_METRIC_HISTOGRAM, "tally_txn_batch_records",
                                   "Input records per committed transaction", "", sizes,
                                   sizeof sizes / sizeof sizes[0]);
    t->m_lag = tally_metrics_get(m, TALLY_METRIC_GAUGE, "tally_txn_consumer_lag",
                                 "Records behind the high watermark, summed over the assignment", "", NULL, 0);
    t->m_partitions = tally_metrics_get(m, TALLY_METRIC_GAUGE, "tally_txn_assigned_partitions",
                                        "Input partitions assigned to this instance", "", NULL, 0);
    t->m_assigns = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_txn_rebalances_total",
                                     "Rebalance events by type", "type=\"assign\"", NULL, 0);
    t->m_revokes = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_txn_rebalances_total",
                                     "Rebalance events by type", "type=\"revoke\"", NULL, 0);
    t->m_lost = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_txn_rebalances_total",
                                  "Rebalance events by type", "type=\"lost\"", NULL, 0);
    t->m_skipped = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_txn_records_redelivered_total",
                                     "Records the consumer delivered again after they were processed (skipped)", "",
                                     NULL, 0);
    t->m_delivery_failed = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_txn_delivery_failures_total",
                                             "Produced records the broker refused (their transaction aborts)",
                                             "", NULL, 0);
}

/* -X pairs: "consumer.<key>" goes to the consumer only, "producer.<key>"
 * to the producer only, any other key to both. */
static int apply_overrides(const tally_txn_t *t, rd_kafka_conf_t *conf, const char *role, char *errbuf,
                           size_t errsize)
{
    size_t n = t->cfg ? tally_config_kafka_count(t->cfg) : 0;
    size_t rlen = strlen(role);
    for (size_t i = 0; i < n; i++) {
        const char *key, *value;
        char rderr[256];
        if (tally_config_kafka_get(t->cfg, i, &key, &value) != 0)
            continue;
        if (strncmp(key, "consumer.", 9) == 0 || strncmp(key, "producer.", 9) == 0) {
            if (strncmp(key, role, rlen) != 0 || key[rlen] != '.')
                continue;
            key += rlen + 1;
        }
        if (rd_kafka_conf_set(conf, key, value, rderr, sizeof rderr) != RD_KAFKA_CONF_OK) {
            snprintf(errbuf, errsize, "-X %s: %s", key, rderr);
            return -1;
        }
    }
    return 0;
}

static int init_producer(tally_txn_t *t, char *errbuf, size_t errsize)
{
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_TRANSACTIONAL, t->brokers, t->client_id, NULL,
                                                 t->txn_id, errbuf, errsize);
    if (conf == NULL)
        return -1;
    if (apply_overrides(t, conf, "producer", errbuf, errsize) != 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_opaque(conf, t);
    rd_kafka_conf_set_error_cb(conf, producer_error_cb);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    if ((t->producer = tally_kafka_new(TALLY_KAFKA_TRANSACTIONAL, conf, errbuf, errsize)) == NULL)
        return -1;
    /* Fences an older producer with our transactional.id and aborts (or
     * completes) the transaction it left open. */
    long long deadline = mono_ms() + t->api_timeout_ms;
    for (;;) {
        rd_kafka_error_t *error = rd_kafka_init_transactions(t->producer, t->api_timeout_ms);
        if (error == NULL)
            return 0;
        bool retry = rd_kafka_error_is_retriable(error) && mono_ms() < deadline;
        snprintf(errbuf, errsize, "kafka: init transactions (%s): %s", t->txn_id, rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        if (!retry)
            return -1;
        tally_log_warn(COMPONENT, "%s (retrying)", errbuf);
    }
}

static int init_consumer(tally_txn_t *t, char *errbuf, size_t errsize)
{
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_CONSUMER, t->brokers, t->client_id, t->group_id,
                                                 NULL, errbuf, errsize);
    if (conf == NULL)
        return -1;
    if (apply_overrides(t, conf, "consumer", errbuf, errsize) != 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_opaque(conf, t);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    if ((t->consumer = tally_kafka_new(TALLY_KAFKA_CONSUMER, conf, errbuf, errsize)) == NULL)
        return -1;
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)t->n_topics);
    for (size_t i = 0; i < t->n_topics; i++)
        rd_kafka_topic_partition_list_add(subs, t->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(t->consumer, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errbuf, errsize, "kafka: subscribe: %s", rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

tally_txn_t *tally_txn_new(const tally_txn_opts_t *o, char *errbuf, size_t errsize)
{
    if (o->hooks == NULL || o->hooks->process == NULL || o->n_topics == 0 || o->group_id == NULL ||
        o->txn_id_prefix == NULL || o->instance_id == NULL || !*o->instance_id) {
        snprintf(errbuf, errsize, "txn: hooks.process, topics, group id, prefix and instance id are required");
        return NULL;
    }
    tally_txn_t *t = xcalloc(1, sizeof *t);
    char buf[512];
    t->brokers = xstrdup(o->brokers);
    t->group_id = xstrdup(o->group_id);
    snprintf(buf, sizeof buf, "%s-%s", o->txn_id_prefix, o->instance_id);
    t->txn_id = xstrdup(buf);
    t->client_id = xstrdup(buf);
    t->n_topics = o->n_topics;
    t->topics = xcalloc(o->n_topics, sizeof *t->topics);
    for (size_t i = 0; i < o->n_topics; i++)
        t->topics[i] = xstrdup(o->topics[i]);
    t->batch_max_records = o->batch_max_records > 0 ? o->batch_max_records : 10000;
    t->batch_max_ms = o->batch_max_ms > 0 ? o->batch_max_ms : 200;
    t->api_timeout_ms = o->api_timeout_ms > 0 ? o->api_timeout_ms : 30000;
    t->cfg = o->cfg;
    t->hooks = o->hooks;
    t->arg = o->arg;
    atomic_init(&t->fatal, 0);
    atomic_init(&t->assigned, 0);
    atomic_init(&t->in_assign_hook, 0);
    atomic_init(&t->heartbeat_ms, mono_ms());
    register_metrics(t, o->metrics);
    /* The producer first: its init fences a predecessor before this
     * instance joins the group and reads its committed offsets. */
    if (init_producer(t, errbuf, errsize) != 0 || init_consumer(t, errbuf, errsize) != 0)
        goto err;
    tally_log_info(COMPONENT, "transactional.id %s, group %s, %zu input topic(s)", t->txn_id, t->group_id,
                   t->n_topics);
    return t;
err:
    tally_txn_free(t);
    return NULL;
}

rd_kafka_topic_t *tally_txn_topic(tally_txn_t *t, const char *topic, char *errbuf, size_t errsize)
{
    for (size_t i = 0; i < t->n_outputs; i++)
        if (strcmp(rd_kafka_topic_name(t->outputs[i]), topic) == 0)
            return t->outputs[i];
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(t->producer, topic, NULL);
    if (rkt == NULL) {
        snprintf(errbuf, errsize, "kafka: topic %.200s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
        return NULL;
    }
    rd_kafka_topic_t **outs = realloc(t->outputs, (t->n_outputs + 1) * sizeof *outs);
    if (outs == NULL)
        abort();
    t->outputs = outs;
    t->outputs[t->n_outputs++] = rkt;
    return rkt;
}

/* ---- producing ---------------------------------------------------------- */

int tally_txn_produce(tally_txn_t *t, rd_kafka_topic_t *topic, int32_t partition, const void *key,
                      size_t key_len, const void *value, size_t len, const tally_txn_header_t *headers,
                      size_t n_headers)
{
    rd_kafka_vu_t vu[6];
    size_t n = 0;
    int rc;

    if (atomic_load(&t->fatal))
        return TALLY_TXN_ERR_FATAL;
    if (t->must_abort)
        return TALLY_TXN_ERR_ABORT;
    if (n_headers > TALLY_TXN_MAX_HEADERS) {
        set_fatal(t, "produce", "too many headers");
        return TALLY_TXN_ERR_FATAL;
    }
    if ((rc = begin(t)) != 0)
        return rc;
    vu[n].vtype = RD_KAFKA_VTYPE_RKT;
    vu[n++].u.rkt = topic;
    vu[n].vtype = RD_KAFKA_VTYPE_PARTITION;
    vu[n++].u.i32 = partition;
    vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
    vu[n].vtype = RD_KAFKA_VTYPE_KEY;
    vu[n].u.mem.ptr = (void *)key;
    vu[n++].u.mem.size = key ? key_len : 0;
    vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[n].u.mem.ptr = (void *)value;
    vu[n++].u.mem.size = value ? len : 0;
    for (;;) {
        /* A headers list of ours (VTYPE_HEADERS), not VTYPE_HEADER: for
         * those, librdkafka 2.0's produceva frees the list it built twice
         * when the partitioner fails, e.g. on a topic that does not exist
         * (librdkafka#4627). Ours is taken on success, stays ours on
         * failure. */
        rd_kafka_headers_t *hdrs = NULL;
        size_t m = n;
        if (n_headers > 0) {
            hdrs = rd_kafka_headers_new(n_headers);
            for (size_t i = 0; i < n_headers; i++)
                rd_kafka_header_add(hdrs, headers[i].name, -1, headers[i].value, (ssize_t)headers[i].len);
            vu[m].vtype = RD_KAFKA_VTYPE_HEADERS;
            vu[m++].u.headers = hdrs;
        }
        rd_kafka_error_t *error = rd_kafka_produceva(t->producer, vu, m);
        if (error == NULL)
            break;
        if (hdrs != NULL)
            rd_kafka_headers_destroy(hdrs);
        if (rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            /* Serve delivery reports until the broker made room. */
            rd_kafka_error_destroy(error);
            rd_kafka_poll(t->producer, 20);
            if (atomic_load(&t->fatal))
                return TALLY_TXN_ERR_FATAL;
            continue;
        }
        if (rd_kafka_error_is_fatal(error)) {
            set_fatal(t, "produce", rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
            return TALLY_TXN_ERR_FATAL;
        }
        /* Anything else (the transaction is in an abortable state, a
         * record too large, ...) fails this transaction, not the engine. */
        tally_log_warn(COMPONENT, "produce to %s: %s (aborting the transaction)", rd_kafka_topic_name(topic),
                       rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        t->must_abort = true;
        return TALLY_TXN_ERR_ABORT;
    }
    metric_add(t->m_out, 1);
    return 0;
}

/* ---- the loop ----------------------------------------------------------- */

static void process_message(tally_txn_t *t, const rd_kafka_message_t *m)
{
    size_t topic;
    const char *name = rd_kafka_topic_name(m->rkt);
    if (topic_index(t, name, &topic) != 0) {
        tally_log_warn(COMPONENT, "record from unsubscribed topic %.200s ignored", name);
        return;
    }
    pending_t *pos = offsets_get(&t->positions, topic, m->partition);
    if (pos->next >= 0 && m->offset < pos->next) {
        if (t->skipped++ % 10000 == 0)
            tally_log_warn(COMPONENT, "%s[%d]@%lld delivered again after %lld was processed: skipped (%llu so far)",
                           name, (int)m->partition, (long long)m->offset, (long long)pos->next - 1,
                           (unsigned long long)t->skipped);
        metric_add(t->m_skipped, 1);
        return;
    }
    if (begin(t) != 0)
        return;
    tally_txn_record_t rec = {
        .topic = name, .partition = m->partition, .offset = m->offset,
        .timestamp = rd_kafka_message_timestamp(m, NULL),
        .key = m->key, .key_len = m->key_len, .value = m->payload, .len = m->len, .message = m,
    };
    int rc = t->hooks->process(t->arg, t, &rec);
    if (rc == TALLY_TXN_ERR_FATAL || atomic_load(&t->fatal)) {
        if (!atomic_load(&t->fatal))
            set_fatal(t, "process hook", "failed");
        return;
    }
    if (rc != 0 || t->must_abort) {
        t->must_abort = true;
        return;
    }
    pos->next = m->offset + 1;   /* the hooks never touch the positions table */
    offsets_get(&t->pending, topic, m->partition)->next = m->offset + 1;
    t->txn_records++;
    metric_add(t->m_in, 1);
}

static void consumer_error(tally_txn_t *t, const rd_kafka_message_t *m)
{
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return;
    if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(t->consumer, why, sizeof why);
        char reason[700];
        snprintf(reason, sizeof reason, "%s: %s", rd_kafka_err2name(orig), why);
        set_fatal(t, "consumer", reason);
        return;
    }
    tally_log_warn(COMPONENT, "consumer: %s", rd_kafka_message_errstr(m));
}

static void close_consumer(tally_txn_t *t)
{
    if (t->consumer == NULL || t->consumer_closed)
        return;
    /* Revocation (rebalance_cb) runs inside the close: it commits, or on
     * a fatal error aborts, the open transaction. */
    t->no_rewind = true;
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(t->consumer);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        tally_log_warn(COMPONENT, "consumer close: %s", rd_kafka_err2str(err));
    t->consumer_closed = true;
    if (t->txn_open)
        (void)abort_transaction(t, false);
}

int tally_txn_run(tally_txn_t *t, volatile sig_atomic_t *stop, char *errbuf, size_t errsize)
{
    long long now = mono_ms();
    unsigned turns = 0;
    while (!*stop && !atomic_load(&t->fatal)) {
        atomic_store_explicit(&t->heartbeat_ms, now, memory_order_relaxed);
        int timeout = 100;
        if (t->txn_open) {
            long long left = t->txn_began_ms + t->batch_max_ms - now;
            timeout = left > 0 ? (int)(left < 100 ? left : 100) : 0;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(t->consumer, timeout);
        if (m != NULL) {
            if (m->err)
                consumer_error(t, m);
            else if (!t->must_abort && !atomic_load(&t->fatal))
                process_message(t, m);
            rd_kafka_message_destroy(m);
        }
        /* Delivery reports and producer errors: every 64 records is often
         * enough (a full queue is served in tally_txn_produce anyway). */
        if (m == NULL || (++turns & 63) == 0)
            rd_kafka_poll(t->producer, 0);
        /* One clock read per record: the batch bound and the heartbeat. */
        now = mono_ms();
        if (atomic_load(&t->fatal))
            break;
        if (t->must_abort)
            (void)abort_transaction(t, true);
        else if (t->txn_open && (t->txn_records >= t->batch_max_records || now - t->txn_began_ms >= t->batch_max_ms))
            (void)commit_transaction(t);
    }
    int fatal = atomic_load(&t->fatal);
    if (!fatal) {
        tally_log_info(COMPONENT, "stopping: finishing the open transaction and leaving the group");
        (void)commit_transaction(t);
        fatal = atomic_load(&t->fatal);
    }
    close_consumer(t);
    if (fatal) {
        /* The fatal flag from librdkafka's thread carries no reason. */
        if (!t->fatal_reason[0] && t->producer) {
            char why[400];
            rd_kafka_resp_err_t orig = rd_kafka_fatal_error(t->producer, why, sizeof why);
            snprintf(t->fatal_reason, sizeof t->fatal_reason, "producer fatal error %s: %s",
                     rd_kafka_err2name(orig), why);
        }
        snprintf(errbuf, errsize, "%s", t->fatal_reason);
        return -1;
    }
    return 0;
}

void tally_txn_free(tally_txn_t *t)
{
    if (t == NULL)
        return;
    if (t->consumer) {
        close_consumer(t);
        rd_kafka_destroy(t->consumer);
    }
    for (size_t i = 0; i < t->n_outputs; i++)
        rd_kafka_topic_destroy(t->outputs[i]);
    free(t->outputs);
    if (t->producer) {
        if (t->txn_open)
            (void)abort_transaction(t, false);
        rd_kafka_destroy(t->producer);
    }
    for (size_t i = 0; i < t->n_topics; i++)
        free(t->topics[i]);
    free(t->topics);
    free(t->pending.e);
    free(t->positions.e);
    free(t->brokers);
    free(t->group_id);
    free(t->txn_id);
    free(t->client_id);
    free(t);
}

int tally_txn_healthy(void *arg, char *why, size_t whysize)
{
    tally_txn_t *t = arg;
    if (atomic_load(&t->fatal)) {
        snprintf(why, whysize, "fatal Kafka error: restart needed");
        return 0;
    }
    long long idle = mono_ms() - atomic_load(&t->heartbeat_ms);
    if (idle > HEARTBEAT_MAX_MS && !atomic_load(&t->in_assign_hook)) {
        snprintf(why, whysize, "the processing loop has not turned for %lld ms", idle);
        return 0;
    }
    return 1;
}

int tally_txn_ready(void *arg, char *why, size_t whysize)
{
    tally_txn_t *t = arg;
    if (!tally_txn_healthy(arg, why, whysize))
        return 0;
    if (atomic_load(&t->in_assign_hook)) {
        snprintf(why, whysize, "preparing newly assigned partitions (on_assign)");
        return 0;
    }
    if (!atomic_load(&t->assigned)) {
        snprintf(why, whysize, "not yet a member of the consumer group with an assignment");
        return 0;
    }
    return 1;
}

const char *tally_txn_id(const tally_txn_t *t)
{
    return t->txn_id;
}
