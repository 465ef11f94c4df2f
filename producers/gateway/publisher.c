#include "publisher.h"

#include "kafka.h"
#include "log.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Two producers: product events are answered once queued, so their
 * producer lingers (linger.ms 5, or -X) to batch; the acknowledged routes
 * hold a request open until the broker's ack, so theirs sends at once
 * (--ack-linger): a lone usage report does not wait for a timer. */
enum { LANE_PRODUCT, LANE_ACK, LANE_COUNT };

typedef struct {
    struct tally_publisher_t *p;
    rd_kafka_t *rk;
} lane_t;

struct tally_publisher_t {
    rd_kafka_t *rk[LANE_COUNT];
    lane_t lanes[LANE_COUNT];
    rd_kafka_topic_t *topics[TALLY_TOPIC_COUNT];   /* each on its lane's producer */
    rd_kafka_topic_t *batched[TALLY_TOPIC_COUNT];  /* acknowledged topics on the product producer */
    pthread_t poller[LANE_COUNT], prober;
    int pollers;                   /* poll threads started */
    atomic_int stop;
    atomic_int broker_up;          /* last probe or delivery succeeded */
    atomic_int fatal;
    int64_t queue_max;             /* per producer */
    tally_metric_t *queue_depth, *delivered, *delivery_failed, *latency;
};

static int lane_of(int topic)
{
    return topic == TALLY_TOPIC_PRODUCT_RAW ? LANE_PRODUCT : LANE_ACK;
}

/* done's claim: WAITING until the last record is reported or the owner
 * detaches; whichever comes first wins, so done runs at most once and
 * never after a detach. */
enum { WAIT_WAITING, WAIT_CLAIMED, WAIT_DETACHED };

struct tally_pub_wait_t {
    atomic_int pending;    /* records sent and not yet reported, +1 until armed */
    atomic_int failed;     /* records that failed */
    atomic_int refs;       /* the owner's, and one per record not yet reported */
    atomic_int state;
    void (*done)(void *arg);
    void *arg;
};

tally_pub_wait_t *tally_pub_wait_new(void (*done)(void *), void *arg)
{
    tally_pub_wait_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        abort();
    atomic_store(&w->pending, 1);   /* the arming reference */
    atomic_store(&w->refs, 1);      /* the owner's */
    atomic_store(&w->state, WAIT_WAITING);
    w->done = done;
    w->arg = arg;
    return w;
}

static int claim(tally_pub_wait_t *w, int to)
{
    int expect = WAIT_WAITING;
    return atomic_compare_exchange_strong(&w->state, &expect, to);
}

static void unref(tally_pub_wait_t *w, int n)
{
    if (atomic_fetch_sub(&w->refs, n) == n)
        free(w);
}

int tally_pub_wait_arm(tally_pub_wait_t *w)
{
    /* Drop the arming reference: if it was the last, nothing is in flight. */
    return atomic_fetch_sub(&w->pending, 1) == 1 && claim(w, WAIT_CLAIMED);
}

int tally_pub_wait_detach(tally_pub_wait_t *w)
{
    return claim(w, WAIT_DETACHED);
}

int tally_pub_wait_failed(const tally_pub_wait_t *w)
{
    return atomic_load(&((tally_pub_wait_t *)w)->failed);
}

void tally_pub_wait_release(tally_pub_wait_t *w)
{
    if (w == NULL)
        return;
    claim(w, WAIT_DETACHED);
    unref(w, 1);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    tally_publisher_t *p = opaque;
    tally_pub_wait_t *w = m->_private;
    if (m->err) {
        tally_metric_add(p->delivery_failed, 1);
        if (w)
            atomic_fetch_add(&w->failed, 1);
    } else {
        tally_metric_add(p->delivered, 1);
        atomic_store(&p->broker_up, 1);
        tally_metric_observe(p->latency, (double)rd_kafka_message_latency(m) / 1e6);
    }
    if (w == NULL)
        return;
    if (atomic_fetch_sub(&w->pending, 1) == 1 && claim(w, WAIT_CLAIMED))
        w->done(w->arg);
    unref(w, 1);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    tally_publisher_t *p = opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        atomic_store(&p->broker_up, 0);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_fatal_error(rk, why, sizeof why);
        tally_log_error("gateway", "fatal producer error: %s", why);
        atomic_store(&p->fatal, 1);
        return;
    }
    tally_log_warn("gateway", "kafka: %s: %s", rd_kafka_err2name(err), reason);
}

static void *poll_main(void *arg)
{
    lane_t *l = arg;
    while (!atomic_load(&l->p->stop))
        rd_kafka_poll(l->rk, 100);
    return NULL;
}

/* Whether rk's broker answers a metadata request (for topic, unless NULL). */
static int probe_one(rd_kafka_t *rk, rd_kafka_topic_t *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, topic, &md, 2000);
    int up = err == RD_KAFKA_RESP_ERR_NO_ERROR && md->broker_cnt > 0 &&
             (topic == NULL || (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR));
    if (md)
        rd_kafka_metadata_destroy(md);
    return up;
}

/* Probes the broker with a metadata request every second, through both
 * producers: readiness must notice a lost broker even when no traffic
 * flows, and its return. */
static void *probe_main(void *arg)
{
    tally_publisher_t *p = arg;
    while (!atomic_load(&p->stop)) {
        int up = probe_one(p->rk[LANE_ACK], p->topics[TALLY_TOPIC_USAGE_RAW]) &&
                 probe_one(p->rk[LANE_PRODUCT], NULL);
        if (up != atomic_load(&p->broker_up))
            tally_log_info("gateway", "broker %s", up ? "reachable" : "unreachable");
        atomic_store(&p->broker_up, up);
        tally_metric_set(p->queue_depth, tally_publisher_queue_len(p));
        for (int i = 0; i < 10 && !atomic_load(&p->stop); i++)
            usleep(100 * 1000);
    }
    return NULL;
}

/* The producer of one lane: idempotent, acks=all, the queue bounds, -X;
 * the acknowledged lane's linger.ms is --ack-linger, after -X. */
static rd_kafka_t *producer_new(tally_publisher_t *p, const tally_publisher_opts_t *o, int lane, char *errbuf,
                                size_t errsize)
{
    char v[32], rderr[256];
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_PRODUCER, o->brokers,
                                                 lane == LANE_ACK ? "tally-gateway-ack" : "tally-gateway", NULL,
                                                 NULL, errbuf, errsize);
    if (conf == NULL)
        return NULL;
    const char *key = "queue.buffering.max.messages";
    snprintf(v, sizeof v, "%lld", (long long)o->queue_max_messages);
    if (rd_kafka_conf_set(conf, key, v, rderr, sizeof rderr) != RD_KAFKA_CONF_OK)
        goto conf_err;
    key = "queue.buffering.max.kbytes";
    snprintf(v, sizeof v, "%lld", (long long)o->queue_max_kbytes);
    if (rd_kafka_conf_set(conf, key, v, rderr, sizeof rderr) != RD_KAFKA_CONF_OK)
        goto conf_err;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_opaque(conf, p);
    if (o->cfg && tally_config_apply_kafka(o->cfg, conf, errbuf, errsize) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (lane == LANE_ACK) {
        key = "linger.ms";
        snprintf(v, sizeof v, "%lld", (long long)o->ack_linger_ms);
        if (rd_kafka_conf_set(conf, key, v, rderr, sizeof rderr) != RD_KAFKA_CONF_OK)
            goto conf_err;
    }
    return tally_kafka_new(TALLY_KAFKA_PRODUCER, conf, errbuf, errsize);
conf_err:
    snprintf(errbuf, errsize, "kafka config %s: %s", key, rderr);
    rd_kafka_conf_destroy(conf);
    return NULL;
}

tally_publisher_t *tally_publisher_new(const tally_publisher_opts_t *o, char *errbuf, size_t errsize)
{
    char v[32], rderr[256];
    tally_publisher_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        abort();
    p->queue_max = o->queue_max_messages;
    p->queue_depth = tally_metrics_get(o->metrics, TALLY_METRIC_GAUGE, "tally_gateway_queue_depth",
                                       "Records in the producer queues, not yet acknowledged", "", NULL, 0);
    p->delivered = tally_metrics_get(o->metrics, TALLY_METRIC_COUNTER, "tally_gateway_records_delivered_total",
                                     "Records acknowledged by the broker", "", NULL, 0);
    p->delivery_failed = tally_metrics_get(o->metrics, TALLY_METRIC_COUNTER,
                                           "tally_gateway_records_failed_total",
                                           "Records the broker did not acknowledge in time", "", NULL, 0);
    static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    p->latency = tally_metrics_get(o->metrics, TALLY_METRIC_HISTOGRAM, "tally_gateway_produce_latency_seconds",
                                   "From enqueue to the broker's acknowledgement", "", buckets,
                                   sizeof buckets / sizeof buckets[0]);

    for (int l = 0; l < LANE_COUNT; l++)
        if ((p->rk[l] = producer_new(p, o, l, errbuf, errsize)) == NULL)
            goto err;
    for (int t = 0; t < TALLY_TOPIC_COUNT; t++) {
        rd_kafka_topic_conf_t *tc = rd_kafka_topic_conf_new();
        /* Acknowledged routes hold an HTTP request open: bound the wait so a
         * lost broker turns into a 503 the client can retry. */
        if (lane_of(t) == LANE_ACK) {
            snprintf(v, sizeof v, "%lld", (long long)o->ack_timeout_ms);
            if (rd_kafka_topic_conf_set(tc, "message.timeout.ms", v, rderr, sizeof rderr) != RD_KAFKA_CONF_OK) {
                rd_kafka_topic_conf_destroy(tc);
                snprintf(errbuf, errsize, "kafka config: %s", rderr);
                goto err;
            }
        }
        if (lane_of(t) == LANE_ACK &&
            (p->batched[t] = rd_kafka_topic_new(p->rk[LANE_PRODUCT], o->topics[t], rd_kafka_topic_conf_dup(tc))) ==
                NULL) {
            rd_kafka_topic_conf_destroy(tc);
            snprintf(errbuf, errsize, "kafka topic %s: %s", o->topics[t], rd_kafka_err2str(rd_kafka_last_error()));
            goto err;
        }
        p->topics[t] = rd_kafka_topic_new(p->rk[lane_of(t)], o->topics[t], tc);
        if (p->topics[t] == NULL) {
            snprintf(errbuf, errsize, "kafka topic %s: %s", o->topics[t], rd_kafka_err2str(rd_kafka_last_error()));
            goto err;
        }
    }
    atomic_store(&p->broker_up, 0);
    for (int l = 0; l < LANE_COUNT; l++) {
        p->lanes[l] = (lane_t){.p = p, .rk = p->rk[l]};
        if (pthread_create(&p->poller[l], NULL, poll_main, &p->lanes[l]) != 0)
            abort();
        p->pollers++;
    }
    if (pthread_create(&p->prober, NULL, probe_main, p) != 0)
        abort();
    return p;
err:
    for (int t = 0; t < TALLY_TOPIC_COUNT; t++)
        if (p->topics[t])
            rd_kafka_topic_destroy(p->topics[t]);
    for (int t = 0; t < TALLY_TOPIC_COUNT; t++)
        if (p->batched[t])
            rd_kafka_topic_destroy(p->batched[t]);
    for (int l = 0; l < LANE_COUNT; l++)
        if (p->rk[l])
            rd_kafka_destroy(p->rk[l]);
    free(p);
    return NULL;
}

int tally_publisher_send(tally_publisher_t *p, tally_gw_topic_t topic, const void *key, size_t key_len,
                         const void *value, size_t len, tally_pub_wait_t *w)
{
    if (w) {
        atomic_fetch_add(&w->pending, 1);
        atomic_fetch_add(&w->refs, 1);
    }
    if (rd_kafka_produce(p->topics[topic], RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)value, len, key,
                         key_len, w) != 0) {
        if (w) {
            atomic_fetch_sub(&w->pending, 1);
            atomic_fetch_sub(&w->refs, 1);
        }
        return -1;
    }
    return 0;
}

/* Records per rd_kafka_produce_batch call: its message array lives on the stack. */
#define BATCH_CHUNK 64

size_t tally_publisher_send_batch(tally_publisher_t *p, tally_gw_topic_t topic, tally_pub_record_t *records,
                                  size_t n, tally_pub_wait_t *w)
{
    rd_kafka_message_t msgs[BATCH_CHUNK];
    size_t done = 0;
    int full = 0;
    /* A lone record of an acknowledged route goes out at once; several
     * fill batches of their own, so they take the batching producer (its
     * linger costs them less than small batches would). */
    rd_kafka_topic_t *rkt = n > 1 && p->batched[topic] ? p->batched[topic] : p->topics[topic];

    for (size_t at = 0; at < n; at += BATCH_CHUNK) {
        size_t k = n - at < BATCH_CHUNK ? n - at : BATCH_CHUNK;
        if (full) {
            for (size_t i = 0; i < k; i++)
                records[at + i].failed = 1;
            continue;
        }
        memset(msgs, 0, k * sizeof msgs[0]);
        for (size_t i = 0; i < k; i++) {
            msgs[i].payload = (void *)records[at + i].value;
            msgs[i].len = records[at + i].len;
            msgs[i].key = (void *)records[at + i].key;
            msgs[i].key_len = records[at + i].key_len;
            msgs[i]._private = w;
        }
        /* Count them before any delivery report can count them down; the
         * arming reference keeps the total above zero meanwhile. */
        if (w) {
            atomic_fetch_add(&w->pending, (int)k);
            atomic_fetch_add(&w->refs, (int)k);
        }
        int good = rd_kafka_produce_batch(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, msgs,
                                          (int)k);
        if (w && (size_t)good < k) {
            atomic_fetch_sub(&w->pending, (int)k - good);
            atomic_fetch_sub(&w->refs, (int)k - good);
        }
        done += (size_t)good;
        for (size_t i = 0; i < k; i++) {
            records[at + i].failed = msgs[i].err != RD_KAFKA_RESP_ERR_NO_ERROR;
            if (msgs[i].err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                full = 1;
        }
    }
    return done;
}

int tally_publisher_ready(tally_publisher_t *p, char *why, size_t whysize)
{
    if (atomic_load(&p->fatal)) {
        if (why)
            snprintf(why, whysize, "producer failed fatally");
        return 0;
    }
    if (!atomic_load(&p->broker_up)) {
        if (why)
            snprintf(why, whysize, "Kafka broker unreachable");
        return 0;
    }
    for (int l = 0; l < LANE_COUNT; l++) {
        int q = rd_kafka_outq_len(p->rk[l]);
        if (q >= p->queue_max * 9 / 10) {
            if (why)
                snprintf(why, whysize, "producer queue saturated (%d records)", q);
            return 0;
        }
    }
    return 1;
}

int tally_publisher_failed(tally_publisher_t *p)
{
    return atomic_load(&p->fatal);
}

int tally_publisher_queue_len(tally_publisher_t *p)
{
    return rd_kafka_outq_len(p->rk[LANE_PRODUCT]) + rd_kafka_outq_len(p->rk[LANE_ACK]);
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Flushes both producers within timeout_ms in all (the acknowledged lane
 * first: requests wait on it); returns the records still queued. */
static int flush_all(tally_publisher_t *p, int timeout_ms)
{
    long long until = mono_ms() + timeout_ms;
    for (int l = LANE_COUNT - 1; l >= 0; l--) {
        long long left = until - mono_ms();
        rd_kafka_flush(p->rk[l], (int)(left > 0 ? left : 0));
    }
    return tally_publisher_queue_len(p);
}

int tally_publisher_flush(tally_publisher_t *p, int timeout_ms)
{
    return flush_all(p, timeout_ms);
}

int tally_publisher_close(tally_publisher_t *p, int timeout_ms)
{
    if (p == NULL)
        return 0;
    /* Flush while the poll threads still serve delivery reports. */
    int left = flush_all(p, timeout_ms);
    if (left > 0) {
        /* Fail what is left while delivery reports are still served: each
         * report releases its share of a request's wait (which would leak
         * otherwise), long after the request itself was answered. */
        for (int l = 0; l < LANE_COUNT; l++)
            rd_kafka_purge(p->rk[l], RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        (void)flush_all(p, 2000);
    }
    atomic_store(&p->stop, 1);
    for (int l = 0; l < p->pollers; l++)
        pthread_join(p->poller[l], NULL);
    pthread_join(p->prober, NULL);
    for (int t = 0; t < TALLY_TOPIC_COUNT; t++)
        rd_kafka_topic_destroy(p->topics[t]);
    for (int t = 0; t < TALLY_TOPIC_COUNT; t++)
        if (p->batched[t])
            rd_kafka_topic_destroy(p->batched[t]);
    int unreported = 0;
    for (int l = 0; l < LANE_COUNT; l++)
        unreported += tally_kafka_producer_close(p->rk[l], 0);
    free(p);
    return left > unreported ? left : unreported;
}
