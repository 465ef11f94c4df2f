#include "worker.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "errbuf.h"
#include "kafka.h"
#include "log.h"
#include "sender.h"
#include "textbuf.h"
#include "webhook_url.h"
#include "xalloc.h"

#define LOG "webhooks"
/* Records of tally.controlpanel read per turn at most. */
#define CP_BATCH 500
/* How long the broker may take to acknowledge state records. */
#define FLUSH_TIMEOUT_MS 30000

typedef struct entry_t {
    tally_delivery_t d;
    int32_t partition;
    int in_flight;
} entry_t;

typedef struct handoff_t {
    struct handoff_t *next;
    int drop; /* 1: forget partition; 0: add d */
    int32_t partition;
    tally_delivery_t d;
} handoff_t;

struct tally_worker_t {
    tally_worker_opts_t o;
    char *brokers, *cp_topic, *deliveries_topic, *client_id, *vendor_url;
    pthread_t thread;
    int started;
    atomic_int stop, ready, failed;
    char fail_why[256];

    pthread_mutex_t lock; /* inbox */
    handoff_t *inbox_head, *inbox_tail;

    entry_t *entries; /* the delivery thread's own */
    size_t n, cap;

    rd_kafka_t *cp;
    tally_decoder_t *dec;
    int cp_parts, cp_eof;
    unsigned char *cp_seen_eof;

    rd_kafka_t *prod;
    rd_kafka_topic_t *dtopic;
    atomic_int produce_errors;
    tally_sender_t *sender;
    tally_textbuf_t buf;

    tally_metric_t *m_delivered, *m_failed, *m_dead, *m_pending;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double rand01(void)
{
    return (double)randombytes_random() / 4294967295.0;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    tally_worker_t *w = opaque;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        atomic_fetch_add(&w->produce_errors, 1);
        tally_log_error(LOG, "a delivery state was not written: %s", rd_kafka_err2str(m->err));
    }
}

/* -X pairs without a role prefix, and "producer.<key>" for a producer:
 * security and connection settings reach the worker's clients too; a
 * "consumer." pair is the group consumer's (group.instance.id...). */
static int apply_overrides(const tally_config_t *cfg, rd_kafka_conf_t *conf, int producer, char *errbuf,
                           size_t errsize)
{
    size_t n = cfg ? tally_config_kafka_count(cfg) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *key, *value;
        char rderr[256];
        if (tally_config_kafka_get(cfg, i, &key, &value) != 0 || strncmp(key, "consumer.", 9) == 0)
            continue;
        if (strncmp(key, "producer.", 9) == 0) {
            if (!producer)
                continue;
            key += 9;
        }
        if (rd_kafka_conf_set(conf, key, value, rderr, sizeof rderr) != RD_KAFKA_CONF_OK) {
            tally_errbuf_set(errbuf, errsize, "-X %s: %s", key, rderr);
            return -1;
        }
    }
    return 0;
}

static int open_cp_reader(tally_worker_t *w, char *errbuf, size_t errsize)
{
    char group[300];
    snprintf(group, sizeof group, "%s-endpoints", w->client_id);
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_CONSUMER, w->brokers, group, group, NULL, errbuf, errsize);
    if (conf == NULL)
        return -1;
    char e[256];
    if (apply_overrides(w->o.cfg, conf, 0, errbuf, errsize) != 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    if (rd_kafka_conf_set(conf, "enable.partition.eof", "true", e, sizeof e) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        tally_errbuf_set(errbuf, errsize, "%s", e);
        return -1;
    }
    if ((w->cp = tally_kafka_new(TALLY_KAFKA_CONSUMER, conf, errbuf, errsize)) == NULL)
        return -1;
    rd_kafka_topic_t *t = rd_kafka_topic_new(w->cp, w->cp_topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(w->cp, 0, t, &md, 15000);
    rd_kafka_topic_destroy(t);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        tally_errbuf_set(errbuf, errsize, "topic %s: %s", w->cp_topic,
                         rd_kafka_err2str(err ? err : md->topics[0].err));
        if (md != NULL)
            rd_kafka_metadata_destroy(md);
        return -1;
    }
    w->cp_parts = md->topics[0].partition_cnt;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(w->cp_parts);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(parts, w->cp_topic, md->topics[0].partitions[i].id)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_metadata_destroy(md);
    err = rd_kafka_assign(w->cp, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        tally_errbuf_set(errbuf, errsize, "assign %s: %s", w->cp_topic, rd_kafka_err2str(err));
        return -1;
    }
    w->cp_seen_eof = tally_xcalloc((size_t)w->cp_parts + 1, 1);
    const tally_catalog_entry_t *reader = tally_catalog_latest(w->o.schemas, "ControlPanelEvent");
    if (reader == NULL) {
        tally_errbuf_set(errbuf, errsize, "the schema catalog has no ControlPanelEvent");
        return -1;
    }
    w->dec = tally_decoder_new(w->o.schemas, reader);
    return 0;
}

tally_worker_t *tally_worker_new(const tally_worker_opts_t *opts, char *errbuf, size_t errsize)
{
    tally_worker_t *w = tally_xcalloc(1, sizeof *w);
    w->o = *opts;
    w->brokers = tally_xstrdup(opts->brokers);
    w->cp_topic = tally_xstrdup(opts->controlpanel_topic);
    w->deliveries_topic = tally_xstrdup(opts->deliveries_topic);
    w->client_id = tally_xstrdup(opts->client_id);
    w->vendor_url = opts->vendor_url && *opts->vendor_url ? tally_xstrdup(opts->vendor_url) : NULL;
    pthread_mutex_init(&w->lock, NULL);
    if (open_cp_reader(w, errbuf, errsize) != 0)
        goto err;
    rd_kafka_conf_t *conf =
        tally_kafka_conf_new(TALLY_KAFKA_PRODUCER, w->brokers, w->client_id, NULL, NULL, errbuf, errsize);
    if (conf == NULL)
        goto err;
    if (apply_overrides(w->o.cfg, conf, 1, errbuf, errsize) != 0) {
        rd_kafka_conf_destroy(conf);
        goto err;
    }
    rd_kafka_conf_set_opaque(conf, w);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    if ((w->prod = tally_kafka_new(TALLY_KAFKA_PRODUCER, conf, errbuf, errsize)) == NULL)
        goto err;
    w->dtopic = rd_kafka_topic_new(w->prod, w->deliveries_topic, NULL);
    w->sender = tally_sender_new(opts->timeout_ms, "tally-webhooks/" TALLY_VERSION);
    tally_metrics_t *m = opts->metrics;
    if (m != NULL) {
        const char *name = "tally_webhooks_attempts_total", *help = "Webhook attempts by result";
        w->m_delivered = tally_metrics_get(m, TALLY_METRIC_COUNTER, name, help, "result=\"delivered\"", NULL, 0);
        w->m_failed = tally_metrics_get(m, TALLY_METRIC_COUNTER, name, help, "result=\"failed\"", NULL, 0);
        w->m_dead = tally_metrics_get(m, TALLY_METRIC_COUNTER, name, help, "result=\"dead\"", NULL, 0);
        w->m_pending = tally_metrics_get(m, TALLY_METRIC_GAUGE, "tally_webhooks_pending",
                                         "Deliveries waiting for an attempt or its answer", "", NULL, 0);
    }
    return w;
err:
    tally_worker_free(w);
    return NULL;
}

void tally_worker_add(tally_worker_t *w, tally_delivery_t *d, int32_t partition)
{
    handoff_t *h = tally_xcalloc(1, sizeof *h);
    h->partition = partition;
    h->d = *d;
    d->body = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->inbox_tail)
        w->inbox_tail->next = h;
    else
        w->inbox_head = h;
    w->inbox_tail = h;
    pthread_mutex_unlock(&w->lock);
}

void tally_worker_drop_partition(tally_worker_t *w, int32_t partition)
{
    handoff_t *h = tally_xcalloc(1, sizeof *h);
    h->drop = 1;
    h->partition = partition;
    pthread_mutex_lock(&w->lock);
    if (w->inbox_tail)
        w->inbox_tail->next = h;
    else
        w->inbox_head = h;
    w->inbox_tail = h;
    pthread_mutex_unlock(&w->lock);
}

int tally_worker_endpoints_ready(tally_worker_t *w)
{
    return atomic_load(&w->ready);
}

int tally_worker_healthy(tally_worker_t *w, char *why, size_t whysize)
{
    if (atomic_load(&w->failed)) {
        tally_errbuf_set(why, whysize, "delivery thread stopped: %s", w->fail_why);
        return 0;
    }
    return 1;
}

int tally_worker_failed(tally_worker_t *w)
{
    return atomic_load(&w->failed);
}

static entry_t *find(tally_worker_t *w, const char *key)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->entries[i].d.key, key) == 0)
            return &w->entries[i];
    return NULL;
}

static void take_inbox(tally_worker_t *w)
{
    pthread_mutex_lock(&w->lock);
    handoff_t *h = w->inbox_head;
    w->inbox_head = w->inbox_tail = NULL;
    pthread_mutex_unlock(&w->lock);
    while (h != NULL) {
        handoff_t *next = h->next;
        if (h->drop) {
            size_t k = 0;
            for (size_t i = 0; i < w->n; i++) {
                /* In flight too: its answer is then ignored; the new owner
                 * of the partition restores it as pending and sends it
                 * (once more, with the same webhook-id). */
                if (w->entries[i].partition == h->partition)
                    tally_delivery_clear(&w->entries[i].d);
                else
                    w->entries[k++] = w->entries[i];
            }
            w->n = k;
        } else if (find(w, h->d.key) != NULL) {
            tally_delivery_clear(&h->d); /* restored and handed over twice: keep the first */
        } else {
            if (w->n == w->cap) {
                w->cap = w->cap ? w->cap * 2 : 64;
                w->entries = tally_xrealloc(w->entries, w->cap, sizeof *w->entries);
            }
            w->entries[w->n].d = h->d;
            w->entries[w->n].partition = h->partition;
            w->entries[w->n].in_flight = 0;
            w->n++;
        }
        free(h);
        h = next;
    }
    tally_metric_set(w->m_pending, (int64_t)w->n);
}

static void read_controlpanel(tally_worker_t *w)
{
    char err[512];
    for (int i = 0; i < CP_BATCH; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->cp, 0);
        if (m == NULL)
            return;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < w->cp_parts && !w->cp_seen_eof[m->partition]) {
                w->cp_seen_eof[m->partition] = 1;
                if (++w->cp_eof == w->cp_parts) {
                    atomic_store(&w->ready, 1);
                    tally_log_info(LOG, "control panel read: %zu tenant endpoint(s)",
                                   tally_endpoints_count(w->o.endpoints));
                }
            }
        } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            tally_log_warn(LOG, "control panel: %s", rd_kafka_message_errstr(m));
        } else if (m->payload != NULL) {
            avro_value_t *v = NULL;
            int rc = tally_decoder_decode(w->dec, m->payload, m->len, &v, NULL, err, sizeof err);
            if (rc == 0) {
                if (tally_endpoints_apply(w->o.endpoints, v, err, sizeof err) < 0)
                    tally_log_warn(LOG, "control panel offset %lld skipped: %s", (long long)m->offset, err);
            } else if (rc != TALLY_CODEC_ERR_UNKNOWN_BRANCH) {
                tally_log_warn(LOG, "control panel offset %lld undecodable: %s", (long long)m->offset, err);
            }
        }
        rd_kafka_message_destroy(m);
    }
}

static int produce_state(tally_worker_t *w, const entry_t *e)
{
    tally_delivery_encode(&e->d, &w->buf);
    for (;;) {
        if (rd_kafka_produce(w->dtopic, e->partition, RD_KAFKA_MSG_F_COPY, w->buf.data, w->buf.len, e->d.key,
                             strlen(e->d.key), NULL) == 0)
            return 0;
        if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return -1;
        rd_kafka_poll(w->prod, 100);
    }
}

static void fail(tally_worker_t *w, const char *why)
{
    snprintf(w->fail_why, sizeof w->fail_why, "%s", why);
    atomic_store(&w->failed, 1);
    tally_log_error(LOG, "delivery thread stops: %s", why);
    if (w->o.stop != NULL)
        *w->o.stop = 1;
}

/* Applies o to e and writes the new state. */
static int settle(tally_worker_t *w, entry_t *e, const tally_delivery_outcome_t *o)
{
    tally_delivery_apply(&e->d, o, now_ms(), &w->o.policy, rand01());
    e->in_flight = 0;
    if (e->d.state == TALLY_DELIVERY_DELIVERED) {
        tally_metric_add(w->m_delivered, 1);
        tally_log_info(LOG, "delivered %s (HTTP %d, attempt %d)", e->d.key, e->d.status, e->d.attempts);
    } else if (e->d.state == TALLY_DELIVERY_DEAD) {
        tally_metric_add(w->m_dead, 1);
        tally_log_warn(LOG, "dead %s after %d attempt(s): %s", e->d.key, e->d.attempts, e->d.reason);
    } else {
        tally_metric_add(w->m_failed, 1);
        tally_log_info(LOG, "attempt %d of %s failed (%s); next in %lld ms", e->d.attempts, e->d.key, e->d.reason,
                       (long long)(e->d.next_at - now_ms()));
    }
    return produce_state(w, e);
}

/* Starts e, or settles it as dead when it cannot be sent. */
static int start(tally_worker_t *w, entry_t *e)
{
    char err[256], reason[TALLY_DELIVERY_REASON_MAX + 1], alert_id[TALLY_DELIVERY_KEY_MAX + 1];
    const char *target = tally_delivery_key_target(e->d.key);
    snprintf(alert_id, sizeof alert_id, "%.*s", (int)(target - 1 - e->d.key), e->d.key);
    tally_webhook_secret_t secret;
    memset(&secret, 0, sizeof secret);
    tally_endpoint_t ep;
    const char *url = NULL;
    tally_delivery_outcome_t o = {.permanent = 1, .error = reason};
    if (strcmp(target, "tenant") == 0) {
        if (!tally_endpoints_get(w->o.endpoints, e->d.tenant_id, &ep)) {
            snprintf(reason, sizeof reason, "the tenant has no webhook endpoint any more");
            return settle(w, e, &o);
        }
        if (w->o.keys == NULL ||
            tally_webhook_seal_open(w->o.keys, ep.key_id, ep.sealed, ep.sealed_len, &secret, err, sizeof err) != 0) {
            snprintf(reason, sizeof reason, "the webhook secret does not open: %.160s",
                     w->o.keys ? err : "no --webhook-keys");
            return settle(w, e, &o);
        }
        url = ep.url;
    } else {
        if (w->vendor_url == NULL || w->o.vendor_secret == NULL) {
            snprintf(reason, sizeof reason, "no --vendor-url and --vendor-secret-file");
            return settle(w, e, &o);
        }
        secret = *w->o.vendor_secret;
        url = w->vendor_url;
    }
    tally_webhook_url_t u;
    char pin[TALLY_WEBHOOK_PIN_SIZE];
    int rc = 0;
    if (tally_webhook_url_check(url, w->o.url_flags, &u, err, sizeof err) != 0) {
        snprintf(reason, sizeof reason, "URL refused: %.180s", err);
        rc = settle(w, e, &o);
    } else if ((rc = tally_webhook_url_pin(&u, w->o.url_flags, pin, err, sizeof err)) == -2) {
        snprintf(reason, sizeof reason, "URL refused: %.180s", err);
        rc = settle(w, e, &o);
    } else if (rc == -1) {
        tally_delivery_outcome_t t = {.http_status = 0, .error = err};
        rc = settle(w, e, &t);
    } else if (tally_sender_start(w->sender, e->d.key, url, u.https, pin, &secret, alert_id, now_ms() / 1000,
                                  e->d.body, err, sizeof err) != 0) {
        snprintf(reason, sizeof reason, "%.190s", err);
        rc = settle(w, e, &o);
    } else {
        e->in_flight = 1;
    }
    tally_webhook_secret_clear(&secret);
    return rc;
}

/* Drops the entries that are no longer pending. */
static void sweep(tally_worker_t *w)
{
    size_t k = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (w->entries[i].d.state == TALLY_DELIVERY_PENDING)
            w->entries[k++] = w->entries[i];
        else
            tally_delivery_clear(&w->entries[i].d);
    }
    w->n = k;
    tally_metric_set(w->m_pending, (int64_t)w->n);
}

static void turn(tally_worker_t *w)
{
    int produced = 0;
    take_inbox(w);
    read_controlpanel(w);
    if (atomic_load(&w->ready)) {
        int64_t now = now_ms();
        for (size_t i = 0; i < w->n && tally_sender_in_flight(w->sender) < (size_t)w->o.max_in_flight; i++) {
            entry_t *e = &w->entries[i];
            if (e->in_flight || e->d.state != TALLY_DELIVERY_PENDING || e->d.next_at > now)
                continue;
            int was_in_flight = (int)tally_sender_in_flight(w->sender);
            if (start(w, e) != 0) {
                fail(w, "cannot queue a delivery state");
                return;
            }
            produced += (int)tally_sender_in_flight(w->sender) == was_in_flight;
        }
    }
    tally_sender_run(w->sender, 50);
    tally_sender_result_t r;
    while (tally_sender_next_result(w->sender, &r)) {
        entry_t *e = find(w, r.key);
        if (e == NULL)
            continue;
        tally_delivery_outcome_t o = {.http_status = (int)r.http_status, .error = r.error};
        if (settle(w, e, &o) != 0) {
            fail(w, "cannot queue a delivery state");
            return;
        }
        produced++;
    }
    rd_kafka_poll(w->prod, 0);
    if (produced > 0) {
        /* Acknowledged before anything else is sent (worker.h). */
        rd_kafka_flush(w->prod, FLUSH_TIMEOUT_MS);
        if (rd_kafka_outq_len(w->prod) > 0 || atomic_load(&w->produce_errors) > 0) {
            fail(w, "the broker did not acknowledge delivery states");
            return;
        }
        sweep(w);
    }
}

static void *run(void *arg)
{
    tally_worker_t *w = arg;
    while (!atomic_load(&w->stop) && !atomic_load(&w->failed))
        turn(w);
    return NULL;
}

int tally_worker_start(tally_worker_t *w, char *errbuf, size_t errsize)
{
    if (pthread_create(&w->thread, NULL, run, w) != 0) {
        tally_errbuf_set(errbuf, errsize, "cannot start the delivery thread");
        return -1;
    }
    w->started = 1;
    return 0;
}

void tally_worker_free(tally_worker_t *w)
{
    if (w == NULL)
        return;
    if (w->started) {
        atomic_store(&w->stop, 1);
        pthread_join(w->thread, NULL);
    }
    tally_sender_free(w->sender);
    if (w->dtopic)
        rd_kafka_topic_destroy(w->dtopic);
    if (w->prod != NULL && tally_kafka_producer_close(w->prod, FLUSH_TIMEOUT_MS) != 0)
        tally_log_error(LOG, "delivery states left unacknowledged at shutdown");
    if (w->cp != NULL)
        rd_kafka_destroy(w->cp);
    tally_decoder_free(w->dec);
    free(w->cp_seen_eof);
    take_inbox(w);
    for (size_t i = 0; i < w->n; i++)
        tally_delivery_clear(&w->entries[i].d);
    free(w->entries);
    tally_textbuf_free(&w->buf);
    pthread_mutex_destroy(&w->lock);
    free(w->brokers);
    free(w->cp_topic);
    free(w->deliveries_topic);
    free(w->client_id);
    free(w->vendor_url);
    free(w);
}
