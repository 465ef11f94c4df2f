/*
 * The engine's rebalances: committed offsets before on_assign, the open
 * transaction finished before a revocation, and the start offsets
 * on_assign may set (txn_internal.h).
 */
#include "txn_internal.h"

#include "kafka.h"
#include "log.h"
#include "timeutil.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Not while the consumer closes: the revocation that rd_kafka_consumer_close
 * serves leaves nothing assigned, and asking then can wait for good. Once
 * the callback's unassign is done, a closing group (at once for a static
 * member, which sends no LeaveGroup) may stop serving its queue before the
 * request is answered (librdkafka 2.12.1: rd_kafka_assignment never
 * returned in 2 of 13 SIGTERMs right after an assignment; the same family
 * as its open #4884, rd_kafka_assign in a closing rebalance callback). */
static void count_assigned(tally_txn_t *t)
{
    if (t->closing) {
        tally_metric_set(t->m_partitions, 0);
        return;
    }
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
            txn_set_fatal(t, "assign: committed offsets", rd_kafka_err2str(err));
            return TALLY_TXN_ERR_FATAL;
        }
        tally_log_warn(COMPONENT, "assign: committed offsets: %s (retrying)", rd_kafka_err2str(err));
    }
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].offset < 0)
            parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
    return 0;
}

void txn_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque)
{
    tally_txn_t *t = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;

    switch (err) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        log_partitions("assigned", parts);
        tally_metric_add(t->m_assigns, 1);
        /* (Not while closing: nothing will be read.) */
        if (!t->no_rewind && !atomic_load(&t->fatal))
            (void)fetch_stable_committed(t, rk, parts);
        if (t->hooks->on_assign && !atomic_load(&t->fatal)) {
            /* A restore may take long: alive, not ready, meanwhile. */
            atomic_store(&t->in_assign_hook, 1);
            t->assigning = parts;
            int rc = t->hooks->on_assign(t->arg, t, parts);
            t->assigning = NULL;
            atomic_store(&t->heartbeat_ms, tally_mono_ms());
            atomic_store(&t->in_assign_hook, 0);
            if (rc != 0)
                txn_set_fatal(t, "on_assign hook", "failed");
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
        tally_metric_add(lost ? t->m_lost : t->m_revokes, 1);
        if (t->txn_open) {
            /* The records of the open transaction may belong to these
             * partitions: finish it while this member still owns them. A
             * lost assignment cannot commit (it would be fenced). Eager
             * revocation and a loss take every partition: no rewind after
             * an abort. */
            bool saved = t->no_rewind;
            t->no_rewind = saved || !cooperative || lost;
            if (lost || atomic_load(&t->fatal))
                (void)txn_abort(t, true);
            else
                (void)txn_commit(t, TXN_REVOKE);
            t->no_rewind = saved;
        }
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
        txn_set_fatal(t, "incremental (un)assign", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (aerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        txn_set_fatal(t, "(un)assign", rd_kafka_err2str(aerr));
    }
    count_assigned(t);
}

int tally_txn_set_start_offset(tally_txn_t *t, const char *topic, int32_t partition, int64_t offset)
{
    if (t->assigning == NULL || offset < 0)
        return -1;
    rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(t->assigning, topic, partition);
    if (p == NULL)
        return -1;
    p->offset = offset;
    return 0;
}
