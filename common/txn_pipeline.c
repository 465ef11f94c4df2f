/*
 * The consume-transform-produce loop in Kafka transactions: see
 * txn_pipeline.h for the contract. The error handling follows librdkafka's
 * examples/transactions.c; the comments say where it differs.
 */
#include "txn_internal.h"

#include "kafka.h"
#include "log.h"
#include "timeutil.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
        tally_metric_add(t->m_delivery_failed, 1);
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
    t->m_delivery_failed = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_txn_delivery_failures_total",
                                             "Produced records the broker refused (their transaction aborts)",
                                             "", NULL, 0);
    static const char *const reasons[TXN_REASONS] = {"drained", "size", "time", "revoke", "stop"};
    for (int r = 0; r < TXN_REASONS; r++) {
        char label[32];
        snprintf(label, sizeof label, "reason=\"%s\"", reasons[r]);
        t->m_reason[r] = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_txn_commits_total",
                                           "Committed transactions by why they ended: drained (the input had "
                                           "nothing more), size or time (a batch bound, under backlog), revoke, "
                                           "stop",
                                           label, NULL, 0);
    }
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
    long long deadline = tally_mono_ms() + t->api_timeout_ms;
    for (;;) {
        rd_kafka_error_t *error = rd_kafka_init_transactions(t->producer, t->api_timeout_ms);
        if (error == NULL)
            return 0;
        bool retry = rd_kafka_error_is_retriable(error) && tally_mono_ms() < deadline;
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
    rd_kafka_conf_set_rebalance_cb(conf, txn_rebalance_cb);
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
    tally_txn_t *t = tally_xcalloc(1, sizeof *t);
    char buf[512];
    t->brokers = tally_xstrdup(o->brokers);
    t->group_id = tally_xstrdup(o->group_id);
    snprintf(buf, sizeof buf, "%s-%s", o->txn_id_prefix, o->instance_id);
    t->txn_id = tally_xstrdup(buf);
    t->client_id = tally_xstrdup(buf);
    t->n_topics = o->n_topics;
    t->topics = tally_xcalloc(o->n_topics, sizeof *t->topics);
    for (size_t i = 0; i < o->n_topics; i++)
        t->topics[i] = tally_xstrdup(o->topics[i]);
    t->batch_max_records = o->batch_max_records > 0 ? o->batch_max_records : 10000;
    t->batch_max_ms = o->batch_max_ms > 0 ? o->batch_max_ms : 200;
    t->api_timeout_ms = o->api_timeout_ms > 0 ? o->api_timeout_ms : 30000;
    t->cfg = o->cfg;
    t->hooks = o->hooks;
    t->arg = o->arg;
    atomic_init(&t->fatal, 0);
    atomic_init(&t->assigned, 0);
    atomic_init(&t->in_assign_hook, 0);
    atomic_init(&t->heartbeat_ms, tally_mono_ms());
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
    t->outputs = tally_xrealloc(t->outputs, t->n_outputs + 1, sizeof *t->outputs);
    t->outputs[t->n_outputs++] = rkt;
    return rkt;
}

/* ---- producing ---------------------------------------------------------- */

int tally_txn_produce(tally_txn_t *t, rd_kafka_topic_t *topic, int32_t partition, const void *key,
                      size_t key_len, const void *value, size_t len, const tally_txn_header_t *headers,
                      size_t n_headers)
{
    rd_kafka_vu_t vu[5 + TALLY_TXN_MAX_HEADERS];
    size_t n = 0;
    int rc;

    if (atomic_load(&t->fatal))
        return TALLY_TXN_ERR_FATAL;
    if (t->must_abort)
        return TALLY_TXN_ERR_ABORT;
    if (n_headers > TALLY_TXN_MAX_HEADERS) {
        txn_set_fatal(t, "produce", "too many headers");
        return TALLY_TXN_ERR_FATAL;
    }
    if ((rc = txn_begin(t)) != 0)
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
    /* Copied by librdkafka into the list it builds. (librdkafka before
     * 2.12 freed that list twice when the partitioner failed, e.g. on a
     * topic that does not exist, its #4627: the engine used to pass a list
     * of its own instead.) */
    for (size_t i = 0; i < n_headers; i++, n++) {
        vu[n].vtype = RD_KAFKA_VTYPE_HEADER;
        vu[n].u.header.name = headers[i].name;
        vu[n].u.header.val = headers[i].value;
        vu[n].u.header.size = (ssize_t)headers[i].len;
    }
    for (;;) {
        rd_kafka_error_t *error = rd_kafka_produceva(t->producer, vu, n);
        if (error == NULL)
            break;
        if (rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            /* Serve delivery reports until the broker made room. */
            rd_kafka_error_destroy(error);
            rd_kafka_poll(t->producer, 20);
            if (atomic_load(&t->fatal))
                return TALLY_TXN_ERR_FATAL;
            continue;
        }
        if (rd_kafka_error_is_fatal(error)) {
            txn_set_fatal(t, "produce", rd_kafka_error_string(error));
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
    tally_metric_add(t->m_out, 1);
    return 0;
}

/* ---- the loop ----------------------------------------------------------- */

static void process_message(tally_txn_t *t, const rd_kafka_message_t *m)
{
    size_t topic;
    const char *name = rd_kafka_topic_name(m->rkt);
    if (txn_topic_index(t, name, &topic) != 0) {
        tally_log_warn(COMPONENT, "record from unsubscribed topic %.200s ignored", name);
        return;
    }
    if (txn_begin(t) != 0)
        return;
    tally_txn_record_t rec = {
        .topic = name, .partition = m->partition, .offset = m->offset,
        .timestamp = rd_kafka_message_timestamp(m, NULL),
        .key = m->key, .key_len = m->key_len, .value = m->payload, .len = m->len, .message = m,
    };
    int rc = t->hooks->process(t->arg, t, &rec);
    if (rc == TALLY_TXN_ERR_FATAL || atomic_load(&t->fatal)) {
        if (!atomic_load(&t->fatal))
            txn_set_fatal(t, "process hook", "failed");
        return;
    }
    if (rc != 0 || t->must_abort) {
        t->must_abort = true;
        return;
    }
    txn_offsets_get(&t->pending, topic, m->partition)->next = m->offset + 1;
    t->txn_records++;
    tally_metric_add(t->m_in, 1);
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
        txn_set_fatal(t, "consumer", reason);
        return;
    }
    tally_log_warn(COMPONENT, "consumer: %s", rd_kafka_message_errstr(m));
}

static void close_consumer(tally_txn_t *t)
{
    if (t->consumer == NULL || t->consumer_closed)
        return;
    /* Revocation (txn_rebalance_cb) runs inside the close: it commits, or
     * on a fatal error aborts, the open transaction. (librdkafka before 2.4
     * could hang here for good when a cooperative assignment arrived
     * meanwhile, its #4527, fixed in 2.4.0 by #4528: the engine used to
     * unsubscribe and wait for the revocation first.) */
    t->no_rewind = true;
    t->closing = true;
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(t->consumer);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        tally_log_warn(COMPONENT, "consumer close: %s", rd_kafka_err2str(err));
    t->consumer_closed = true;
    if (t->txn_open)
        (void)txn_abort(t, false);
}

int tally_txn_run(tally_txn_t *t, volatile sig_atomic_t *stop, char *errbuf, size_t errsize)
{
    long long now = tally_mono_ms();
    unsigned turns = 0;
    t->stop = stop;
    while (!*stop && !atomic_load(&t->fatal)) {
        atomic_store_explicit(&t->heartbeat_ms, now, memory_order_relaxed);
        /* With a transaction open, never wait: a poll that finds nothing
         * means the input is drained, and the transaction commits now. */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(t->consumer, t->txn_open ? 0 : 100);
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
        now = tally_mono_ms();
        if (atomic_load(&t->fatal))
            break;
        if (t->must_abort)
            (void)txn_abort(t, true);
        else if (t->txn_open && t->txn_records >= t->batch_max_records)
            (void)txn_commit(t, TXN_SIZE);
        else if (t->txn_open && now - t->txn_began_ms >= t->batch_max_ms)
            (void)txn_commit(t, TXN_TIME);
        else if (t->txn_open && m == NULL)
            (void)txn_commit(t, TXN_DRAINED);
    }
    int fatal = atomic_load(&t->fatal);
    if (!fatal) {
        tally_log_info(COMPONENT, "stopping: finishing the open transaction and leaving the group");
        (void)txn_commit(t, TXN_STOP);
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
            (void)txn_abort(t, false);
        rd_kafka_destroy(t->producer);
    }
    for (size_t i = 0; i < t->n_topics; i++)
        free(t->topics[i]);
    free(t->topics);
    free(t->pending.e);
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
    long long idle = tally_mono_ms() - atomic_load(&t->heartbeat_ms);
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
