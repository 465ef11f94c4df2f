/*
 * The engine's open transaction: begin, commit with the input offsets,
 * abort and rewind (txn_internal.h). The error handling follows
 * librdkafka's examples/transactions.c; the comments say where it differs.
 */
#include "txn_internal.h"

#include "kafka.h"
#include "log.h"
#include "timeutil.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void txn_set_fatal(tally_txn_t *t, const char *what, const char *reason)
{
    if (atomic_load(&t->fatal))
        return;
    snprintf(t->fatal_reason, sizeof t->fatal_reason, "%s: %s", what, reason);
    atomic_store(&t->fatal, 1);
    tally_log_error(COMPONENT, "%s: %s (fatal: stopping)", what, reason);
}

int txn_classify(tally_txn_t *t, const char *what, rd_kafka_error_t *error)
{
    int rc;
    if (rd_kafka_error_is_fatal(error)) {
        txn_set_fatal(t, what, rd_kafka_error_string(error));
        rc = -1;
    } else if (rd_kafka_error_txn_requires_abort(error)) {
        tally_log_warn(COMPONENT, "%s: %s (aborting the transaction)", what, rd_kafka_error_string(error));
        rc = 0;
    } else if (rd_kafka_error_is_retriable(error)) {
        tally_log_warn(COMPONENT, "%s: %s (retrying)", what, rd_kafka_error_string(error));
        rc = 1;
    } else {
        /* Neither abortable nor retriable: a state error, a bug. */
        txn_set_fatal(t, what, rd_kafka_error_string(error));
        rc = -1;
    }
    rd_kafka_error_destroy(error);
    return rc;
}

/* While stopping (SIGTERM), each call to the coordinator gets at most
 * STOP_API_TIMEOUT_MS and a failure is not retried: a coordinator that does
 * not answer (brokers lost) would otherwise hold the stop for RETRIES times
 * the API timeout, minutes, past any supervisor's stop timeout. */
#define STOP_API_TIMEOUT_MS 5000

static bool stopping(const tally_txn_t *t)
{
    return t->stop != NULL && *t->stop;
}

static int api_timeout(const tally_txn_t *t)
{
    return stopping(t) && t->api_timeout_ms > STOP_API_TIMEOUT_MS ? STOP_API_TIMEOUT_MS : t->api_timeout_ms;
}

/* ---- offsets of the open transaction ---------------------------------- */

int txn_topic_index(const tally_txn_t *t, const char *name, size_t *index)
{
    for (size_t i = 0; i < t->n_topics; i++)
        if (strcmp(t->topics[i], name) == 0) {
            *index = i;
            return 0;
        }
    return -1;
}

pending_t *txn_offsets_get(offsets_t *o, size_t topic, int32_t partition)
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
        o->e = tally_xrealloc(o->e, o->cap, sizeof *o->e);
    }
    p = &o->e[o->n];
    p->topic = topic;
    p->partition = partition;
    p->next = -1;
    o->last = o->n++;
    return p;
}

static void clear_transaction(tally_txn_t *t)
{
    t->txn_open = false;
    t->must_abort = false;
    t->txn_records = 0;
    t->pending.n = t->pending.last = 0;
}

/* ---- begin, commit, abort, rewind -------------------------------------- */

int txn_begin(tally_txn_t *t)
{
    if (t->txn_open)
        return 0;
    if (atomic_load(&t->fatal))
        return TALLY_TXN_ERR_FATAL;
    rd_kafka_error_t *error = rd_kafka_begin_transaction(t->producer);
    if (error != NULL) {
        txn_set_fatal(t, "begin transaction", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        return TALLY_TXN_ERR_FATAL;
    }
    t->txn_open = true;
    t->txn_began_ms = tally_mono_ms();
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
    if (t->no_rewind || stopping(t) || atomic_load(&t->fatal))
        return 0;
    err = rd_kafka_assignment(t->consumer, &parts);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        txn_set_fatal(t, "rewind: assignment", rd_kafka_err2str(err));
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
            txn_set_fatal(t, "rewind: committed offsets", rd_kafka_err2str(err));
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
        txn_set_fatal(t, "rewind: seek", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        rc = TALLY_TXN_ERR_FATAL;
        goto cleanup;
    }
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            txn_set_fatal(t, "rewind: seek", rd_kafka_err2str(parts->elems[i].err));
            rc = TALLY_TXN_ERR_FATAL;
            goto cleanup;
        }
    tally_log_info(COMPONENT, "rewound %d partition(s) to their committed offsets", parts->cnt);
cleanup:
    rd_kafka_topic_partition_list_destroy(parts);
    return rc;
}

int txn_abort(tally_txn_t *t, bool rewind)
{
    if (!t->txn_open)
        return 0;
    int records = t->txn_records;
    /* Let what was produced reach the broker first: aborting while the
     * AddPartitionsToTxn request is still in flight can end in a fatal
     * INVALID_TXN_STATE (librdkafka issue #4849, still open: 2.12.1's
     * changelog has no fix for it, so this stays). Bounded: when the broker
     * is the problem, the abort below retries anyway. */
    if (!atomic_load(&t->fatal))
        (void)rd_kafka_flush(t->producer, api_timeout(t) < 10000 ? api_timeout(t) : 10000);
    for (int attempt = 0;; attempt++) {
        rd_kafka_error_t *error = rd_kafka_abort_transaction(t->producer, api_timeout(t));
        if (error == NULL)
            break;
        int c = txn_classify(t, "abort transaction", error);
        if (c < 0)
            return TALLY_TXN_ERR_FATAL;
        if (stopping(t)) {
            /* Nothing of it was committed: its coordinator aborts it. */
            tally_log_warn(COMPONENT, "stopping with the transaction of %d record(s) not aborted: its coordinator "
                           "aborts it; the records will be processed again", records);
            clear_transaction(t);
            return 0;
        }
        if (attempt == RETRIES) {
            txn_set_fatal(t, "abort transaction", "still failing after retries");
            return TALLY_TXN_ERR_FATAL;
        }
    }
    clear_transaction(t);
    tally_metric_add(t->m_aborted, 1);
    tally_log_warn(COMPONENT, "transaction aborted; its %d record(s) will be processed again", records);
    if (t->hooks->on_abort)
        t->hooks->on_abort(t->arg);
    return rewind ? rewind_consumer(t) : 0;
}

static void update_lag(tally_txn_t *t)
{
    long long now = tally_mono_ms();
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

int txn_commit(tally_txn_t *t, txn_reason_t reason)
{
    if (!t->txn_open)
        return 0;
    if (t->must_abort)
        return txn_abort(t, true);
    if (t->hooks->before_commit) {
        int rc = t->hooks->before_commit(t->arg, t);
        if (rc == TALLY_TXN_ERR_FATAL || atomic_load(&t->fatal)) {
            if (!atomic_load(&t->fatal))
                txn_set_fatal(t, "before_commit hook", "failed");
            return TALLY_TXN_ERR_FATAL;
        }
        if (rc != 0 || t->must_abort)
            return txn_abort(t, true);
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
                                                                           api_timeout(t));
            if (error == NULL)
                c = 2;
            else if ((c = txn_classify(t, "send offsets to transaction", error)) == 1 &&
                     (attempt == RETRIES || stopping(t)))
                c = 0; /* abort: nothing is committed yet */
        }
        rd_kafka_consumer_group_metadata_destroy(cgmd);
        rd_kafka_topic_partition_list_destroy(offsets);
        if (c < 0)
            return TALLY_TXN_ERR_FATAL;
        if (c == 0)
            return txn_abort(t, true);
    }
    for (int attempt = 0;; attempt++) {
        rd_kafka_error_t *error = rd_kafka_commit_transaction(t->producer, api_timeout(t));
        if (error == NULL)
            break;
        int c = txn_classify(t, "commit transaction", error);
        if (c < 0)
            return TALLY_TXN_ERR_FATAL;
        if (c == 0 || attempt == RETRIES)
            return txn_abort(t, true);
    }
    long long took = tally_mono_ms() - t->txn_began_ms;
    tally_metric_add(t->m_committed, 1);
    tally_metric_add(t->m_reason[reason], 1);
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
