#include "webhooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "alert.h"
#include "changelog_reader.h"
#include "codec.h"
#include "delivery.h"
#include "errbuf.h"
#include "log.h"
#include "xalloc.h"

#define LOG "webhooks"
/* How long an assignment waits for the control panel, then for a restore. */
#define READY_TIMEOUT_MS 120000

typedef struct stashed_t {
    tally_delivery_t d;
    int32_t partition;
} stashed_t;

struct tally_webhooks_t {
    tally_webhooks_opts_t o;
    char *brokers, *deliveries_topic, *client_id;
    tally_txn_t *txn;
    tally_changelog_reader_t *reader; /* of the deliveries topic */
    rd_kafka_topic_t *dtopic;
    tally_decoder_t *dec;
    tally_textbuf_t body, value;
    stashed_t *stash; /* written in the open transaction */
    size_t n, cap;
    tally_metric_t *m_alerts, *m_restored;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void clear_stash(tally_webhooks_t *wh)
{
    for (size_t i = 0; i < wh->n; i++)
        tally_delivery_clear(&wh->stash[i].d);
    wh->n = 0;
}

static int pend(tally_webhooks_t *wh, tally_txn_t *txn, const tally_alert_t *a, const char *target,
                int32_t partition)
{
    char key[TALLY_DELIVERY_KEY_MAX + 1];
    if (tally_delivery_key(a->alert_id, target, key) != 0) {
        tally_log_warn(LOG, "alert id too long: skipped");
        return 0;
    }
    if (wh->n == wh->cap) {
        wh->cap = wh->cap ? wh->cap * 2 : 64;
        wh->stash = tally_xrealloc(wh->stash, wh->cap, sizeof *wh->stash);
    }
    stashed_t *s = &wh->stash[wh->n++];
    tally_delivery_init_pending(&s->d, key, a->tenant_id, wh->body.data, now_ms());
    s->partition = partition;
    tally_delivery_encode(&s->d, &wh->value);
    return tally_txn_produce(txn, wh->dtopic, partition, key, strlen(key), wh->value.data, wh->value.len, NULL, 0);
}

static int process(void *arg, tally_txn_t *txn, const tally_txn_record_t *r)
{
    tally_webhooks_t *wh = arg;
    char err[512];
    avro_value_t *v = NULL;
    tally_alert_t a;
    if (r->value == NULL)
        return 0;
    int rc = tally_decoder_decode(wh->dec, r->value, r->len, &v, NULL, err, sizeof err);
    if (rc != 0 || tally_alert_from_avro(v, &a, err, sizeof err) != 0) {
        tally_log_warn(LOG, "alert at %s[%d]@%lld skipped: %s", r->topic, (int)r->partition, (long long)r->offset,
                       err);
        return 0;
    }
    tally_metric_add(wh->m_alerts, 1);
    tally_alert_body(&a, &wh->body);
    tally_endpoint_t ep;
    if (tally_endpoints_get(wh->o.endpoints, a.tenant_id, &ep) && (rc = pend(wh, txn, &a, "tenant", r->partition)) != 0)
        return rc;
    if (wh->o.vendor && (rc = pend(wh, txn, &a, "vendor", r->partition)) != 0)
        return rc;
    return 0;
}

static void after_commit(void *arg)
{
    tally_webhooks_t *wh = arg;
    for (size_t i = 0; i < wh->n; i++)
        tally_worker_add(wh->o.worker, &wh->stash[i].d, wh->stash[i].partition);
    wh->n = 0;
}

static void on_abort(void *arg)
{
    clear_stash(arg);
}

/* What a restore gathers: the last state of every key read. */
typedef struct restoring_t {
    const int32_t *parts;
    json_t *latest; /* key -> index into states */
    tally_delivery_t *states;
    int32_t *where;
    size_t count, cap;
} restoring_t;

static int apply_state(void *arg, size_t index, const void *key, size_t key_len, const void *value,
                       size_t value_len, char *why, size_t whysize)
{
    (void)why;
    (void)whysize;
    restoring_t *r = arg;
    if (key == NULL || key_len == 0 || key_len > TALLY_DELIVERY_KEY_MAX)
        return 0;
    char k[TALLY_DELIVERY_KEY_MAX + 1], err[256];
    snprintf(k, sizeof k, "%.*s", (int)key_len, (const char *)key);
    json_t *at = json_object_get(r->latest, k);
    if (value == NULL) {
        if (at != NULL) /* a tombstone: the key is gone */
            r->states[json_integer_value(at)].state = TALLY_DELIVERY_DEAD;
        return 0;
    }
    tally_delivery_t d;
    if (tally_delivery_decode(key, key_len, value, value_len, &d, err, sizeof err) != 0) {
        tally_log_warn(LOG, "restore: a delivery record skipped: %s", err);
        return 0;
    }
    if (at != NULL) {
        size_t i = (size_t)json_integer_value(at);
        tally_delivery_clear(&r->states[i]);
        r->states[i] = d;
        return 0;
    }
    if (r->count == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->states = tally_xrealloc(r->states, r->cap, sizeof *r->states);
        r->where = tally_xrealloc(r->where, r->cap, sizeof *r->where);
    }
    r->states[r->count] = d;
    r->where[r->count] = r->parts[index];
    json_object_set_new(r->latest, k, json_integer((json_int_t)r->count));
    r->count++;
    return 0;
}

/* Reads deliveries partitions[0..n) whole, once they are stable
 * (common/changelog_reader.h); hands the pending ones over. */
static int restore(tally_webhooks_t *wh, const int32_t *parts, size_t n, char *errbuf, size_t errsize)
{
    restoring_t r = {.parts = parts, .latest = json_object()};
    int64_t *ends = tally_xcalloc(n, sizeof *ends);
    uint64_t records = 0;
    size_t pending = 0;
    int rc = -1;
    if (tally_changelog_reader_stable_ends(wh->reader, parts, n, ends, READY_TIMEOUT_MS, errbuf, errsize) != 0 ||
        tally_changelog_reader_read(wh->reader, parts, n, ends, apply_state, &r, READY_TIMEOUT_MS, &records, errbuf,
                                    errsize) != 0)
        goto done;
    for (size_t i = 0; i < r.count; i++)
        if (r.states[i].state == TALLY_DELIVERY_PENDING) {
            tally_worker_add(wh->o.worker, &r.states[i], r.where[i]);
            pending++;
        }
    tally_metric_add(wh->m_restored, pending);
    tally_log_info(LOG, "restored %zu partition(s) of %s: %llu record(s), %zu key(s), %zu pending", n,
                   wh->deliveries_topic, (unsigned long long)records, r.count, pending);
    rc = 0;
done:
    for (size_t i = 0; i < r.count; i++)
        tally_delivery_clear(&r.states[i]);
    free(r.states);
    free(r.where);
    free(ends);
    json_decref(r.latest);
    return rc;
}

static int on_assign(void *arg, tally_txn_t *txn, const rd_kafka_topic_partition_list_t *partitions)
{
    (void)txn;
    tally_webhooks_t *wh = arg;
    char err[512];
    long long deadline = now_ms() + READY_TIMEOUT_MS;
    while (!tally_worker_endpoints_ready(wh->o.worker)) {
        if (*wh->o.stop || now_ms() > deadline) {
            tally_log_error(LOG, "the control panel was not read in time");
            return TALLY_TXN_ERR_FATAL;
        }
        usleep(20000);
    }
    if (partitions->cnt == 0)
        return 0;
    int32_t *parts = tally_xcalloc((size_t)partitions->cnt, sizeof *parts);
    for (int i = 0; i < partitions->cnt; i++)
        parts[i] = partitions->elems[i].partition;
    int rc = restore(wh, parts, (size_t)partitions->cnt, err, sizeof err);
    free(parts);
    if (rc != 0) {
        tally_log_error(LOG, "%s", err);
        return TALLY_TXN_ERR_FATAL;
    }
    return 0;
}

static void on_revoke(void *arg, tally_txn_t *txn, const rd_kafka_topic_partition_list_t *partitions, int lost)
{
    (void)txn;
    (void)lost;
    tally_webhooks_t *wh = arg;
    for (int i = 0; i < partitions->cnt; i++)
        tally_worker_drop_partition(wh->o.worker, partitions->elems[i].partition);
}

static const tally_txn_hooks_t hooks = {
    .process = process,
    .after_commit = after_commit,
    .on_abort = on_abort,
    .on_assign = on_assign,
    .on_revoke = on_revoke,
};

tally_webhooks_t *tally_webhooks_new(const tally_webhooks_opts_t *opts, char *errbuf, size_t errsize)
{
    const tally_catalog_entry_t *reader = tally_catalog_latest(opts->schemas, "UsageAlert");
    if (reader == NULL) {
        tally_errbuf_set(errbuf, errsize, "the schema catalog has no UsageAlert");
        return NULL;
    }
    tally_webhooks_t *wh = tally_xcalloc(1, sizeof *wh);
    wh->o = *opts;
    wh->brokers = tally_xstrdup(opts->brokers);
    wh->deliveries_topic = tally_xstrdup(opts->deliveries_topic);
    size_t len = strlen(opts->txn_id_prefix) + strlen(opts->instance_id) + 2;
    wh->client_id = tally_xcalloc(len, 1);
    snprintf(wh->client_id, len, "%s-%s", opts->txn_id_prefix, opts->instance_id);
    wh->dec = tally_decoder_new(opts->schemas, reader);
    char group[600];
    snprintf(group, sizeof group, "%s-restore", wh->client_id);
    tally_changelog_reader_opts_t ro = {.brokers = opts->brokers, .topic = opts->deliveries_topic,
                                        .client_id = group, .group_id = group, .cfg = opts->cfg};
    if ((wh->reader = tally_changelog_reader_new(&ro, errbuf, errsize)) == NULL) {
        tally_webhooks_free(wh);
        return NULL;
    }
    if (opts->metrics != NULL) {
        wh->m_alerts = tally_metrics_get(opts->metrics, TALLY_METRIC_COUNTER, "tally_webhooks_alerts_total",
                                         "Alerts read from tally.alerts", "", NULL, 0);
        wh->m_restored = tally_metrics_get(opts->metrics, TALLY_METRIC_COUNTER, "tally_webhooks_restored_total",
                                           "Pending deliveries restored on assignment", "", NULL, 0);
    }
    const char *topics[] = {opts->alerts_topic};
    tally_txn_opts_t to = {
        .brokers = opts->brokers, .group_id = opts->group_id, .txn_id_prefix = opts->txn_id_prefix,
        .instance_id = opts->instance_id, .topics = topics, .n_topics = 1,
        .batch_max_records = opts->batch_max_records, .batch_max_ms = opts->batch_max_ms, .cfg = opts->cfg,
        .metrics = opts->metrics, .hooks = &hooks, .arg = wh,
    };
    if ((wh->txn = tally_txn_new(&to, errbuf, errsize)) == NULL ||
        (wh->dtopic = tally_txn_topic(wh->txn, opts->deliveries_topic, errbuf, errsize)) == NULL) {
        tally_webhooks_free(wh);
        return NULL;
    }
    return wh;
}

int tally_webhooks_run(tally_webhooks_t *wh, char *errbuf, size_t errsize)
{
    return tally_txn_run(wh->txn, wh->o.stop, errbuf, errsize);
}

void tally_webhooks_free(tally_webhooks_t *wh)
{
    if (wh == NULL)
        return;
    tally_txn_free(wh->txn);
    tally_changelog_reader_free(wh->reader);
    clear_stash(wh);
    free(wh->stash);
    tally_decoder_free(wh->dec);
    tally_textbuf_free(&wh->body);
    tally_textbuf_free(&wh->value);
    free(wh->brokers);
    free(wh->deliveries_topic);
    free(wh->client_id);
    free(wh);
}

tally_txn_t *tally_webhooks_txn(tally_webhooks_t *wh)
{
    return wh->txn;
}
