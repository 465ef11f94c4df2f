/* The real tally-notifier on topics of its own of the real local broker:
 * rollups and Control Panel events encoded with the project's codec, the
 * alerts read back read_committed and decoded. Header-only (static
 * inline), shared by the notifier suites. */
#ifndef TALLY_TEST_NOTIFIER_FIXTURE_H
#define TALLY_TEST_NOTIFIER_FIXTURE_H

#include "codec.h"
#include "fixtures.h"
#include "schema_catalog.h"
#include "subprocess.h"
#include "timeutil.h"
#include "topic_producer.h"
#include "topic_reader.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NF_UNUSED __attribute__((unused))

typedef struct {
    char rollups[160], controlpanel[160], alerts[160], changelog[160], group[160];
    tally_catalog_t *cat;
    tally_test_producer_t prod;
} nf_env_t;

static NF_UNUSED void nf_env_init(nf_env_t *e, const char *name)
{
    char err[512];
    tally_test_unique_name2(name, ".rollups", e->rollups, sizeof e->rollups);
    tally_test_unique_name2(name, ".controlpanel", e->controlpanel, sizeof e->controlpanel);
    tally_test_unique_name2(name, ".alerts", e->alerts, sizeof e->alerts);
    tally_test_unique_name2(name, ".changelog", e->changelog, sizeof e->changelog);
    tally_test_unique_name2(name, ".group", e->group, sizeof e->group);
    /* As deploy/kafka/topics.conf: rollups 6, Control Panel 3. */
    tally_test_topic_create(e->rollups, 6);
    tally_test_topic_create(e->controlpanel, 3);
    tally_test_topic_create(e->alerts, 6);
    tally_test_topic_create(e->changelog, 6);
    e->cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(e->cat, "%s", err);
    tally_test_producer_init(&e->prod, "notifier-test-input", 0);
}

static NF_UNUSED void nf_env_free(nf_env_t *e)
{
    tally_test_producer_close(&e->prod);
    tally_catalog_free(e->cat);
}

/* Starts tally-notifier (instance name) on e's topics, as a static group
 * member (a restarted instance takes its place at once, without waiting
 * for a session timeout), with extra arguments (NULL-terminated, may be
 * NULL); waits for its admin port. */
static NF_UNUSED tally_test_proc_t *nf_spawn_args(const nf_env_t *e, const char *instance, const char *const *extra)
{
    char a[24][256];
    char *argv[25];
    int n = 0;
    snprintf(a[n++], sizeof a[0], "%s", tally_test_bin("tally-notifier"));
    snprintf(a[n++], sizeof a[0], "--brokers=%s", tally_test_brokers());
    snprintf(a[n++], sizeof a[0], "--group=%s", e->group);
    snprintf(a[n++], sizeof a[0], "--instance-id=%s", instance);
    snprintf(a[n++], sizeof a[0], "--schemas=%s", tally_test_source_path("schemas"));
    snprintf(a[n++], sizeof a[0], "--rollups-topic=%s", e->rollups);
    snprintf(a[n++], sizeof a[0], "--controlpanel-topic=%s", e->controlpanel);
    snprintf(a[n++], sizeof a[0], "--alerts-topic=%s", e->alerts);
    snprintf(a[n++], sizeof a[0], "--changelog-topic=%s", e->changelog);
    snprintf(a[n++], sizeof a[0], "--admin-port=0");
    /* Unique to this test: runs on one broker must not fence each other. */
    snprintf(a[n++], sizeof a[0], "--transactional-id-prefix=tally-notifier-%s", e->group);
    snprintf(a[n++], sizeof a[0], "-Xconsumer.group.instance.id=%s", instance);
    for (int i = 0; extra && extra[i] && n < 24; i++)
        snprintf(a[n++], sizeof a[0], "%s", extra[i]);
    for (int i = 0; i < n; i++)
        argv[i] = a[i];
    argv[n] = NULL;
    return tally_test_spawn(argv, "admin listening on", 60000, NULL, 0);
}

static NF_UNUSED tally_test_proc_t *nf_spawn(const nf_env_t *e, const char *instance)
{
    return nf_spawn_args(e, instance, NULL);
}

/* Encodes v (a value of schema name's latest version; released here) and
 * sends it to topic with key. */
static NF_UNUSED void nf_send(nf_env_t *e, const char *topic, const char *key, const char *name, avro_value_t *v)
{
    char err[512];
    const void *buf;
    size_t len;
    tally_encoder_t *enc = tally_encoder_new(tally_catalog_latest(e->cat, name));
    cr_assert_eq(tally_encoder_encode(enc, v, &buf, &len, err, sizeof err), 0, "%s", err);
    tally_test_producer_send(&e->prod, topic, RD_KAFKA_PARTITION_UA, key, strlen(key), buf, len, 0);
    tally_encoder_free(enc);
    avro_value_decref(v);
}

static NF_UNUSED avro_value_t nf_value(nf_env_t *e, const char *name)
{
    char err[512];
    avro_value_t v;
    cr_assert_eq(tally_codec_value_new(tally_catalog_latest(e->cat, name), &v, err, sizeof err), 0, "%s", err);
    return v;
}

static NF_UNUSED void nf_set_str(avro_value_t *rec, const char *field, const char *s)
{
    avro_value_t f;
    cr_assert_eq(avro_value_get_by_name(rec, field, &f, NULL), 0, "%s", field);
    cr_assert_eq(avro_value_set_string(&f, s), 0);
}

static NF_UNUSED void nf_set_long(avro_value_t *rec, const char *field, int64_t x)
{
    avro_value_t f;
    cr_assert_eq(avro_value_get_by_name(rec, field, &f, NULL), 0, "%s", field);
    if (avro_value_get_type(&f) == AVRO_INT32)
        cr_assert_eq(avro_value_set_int(&f, (int32_t)x), 0);
    else
        cr_assert_eq(avro_value_set_long(&f, x), 0);
}

/* The day number of y-m-d. */
static NF_UNUSED int32_t nf_day(int y, unsigned m, unsigned d)
{
    return (int32_t)tally_days_from_civil(y, m, d);
}

/* An ApiUsageRollup, keyed as the aggregator keys it. */
static NF_UNUSED void nf_api_rollup(nf_env_t *e, const char *tenant, const char *env, int32_t day, int64_t calls)
{
    avro_value_t v = nf_value(e, "ApiUsageRollup");
    char key[256];
    nf_set_str(&v, "tenant_id", tenant);
    nf_set_str(&v, "environment_id", env);
    nf_set_long(&v, "day", day);
    nf_set_long(&v, "api_calls", calls);
    nf_set_long(&v, "status_4xx", 0);
    nf_set_long(&v, "status_5xx", 0);
    nf_set_long(&v, "exec_ms", 0);
    nf_set_long(&v, "updated_at", (int64_t)day * 86400000 + 3600000);
    snprintf(key, sizeof key, "%s|%s|%d", tenant, env, (int)day);
    nf_send(e, e->rollups, key, "ApiUsageRollup", &v);
}

static NF_UNUSED void nf_seat_rollup(nf_env_t *e, const char *tenant, int32_t day, int64_t peak)
{
    avro_value_t v = nf_value(e, "SeatRollup");
    char key[256];
    nf_set_str(&v, "tenant_id", tenant);
    nf_set_long(&v, "day", day);
    nf_set_long(&v, "seats_in_use", peak);
    nf_set_long(&v, "seats_peak", peak);
    nf_set_long(&v, "updated_at", (int64_t)day * 86400000 + 3600000);
    snprintf(key, sizeof key, "%s|%d", tenant, (int)day);
    nf_send(e, e->rollups, key, "SeatRollup", &v);
}

/* A ControlPanelEvent of tenant with the payload branch named kind; returns
 * the branch for the caller to fill, then nf_cp_send. */
static NF_UNUSED avro_value_t nf_cp(nf_env_t *e, avro_value_t *v, const char *tenant, int64_t at, const char *kind)
{
    static int serial;
    char id[40];
    avro_value_t f, b;
    int idx;
    *v = nf_value(e, "ControlPanelEvent");
    snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", ++serial);
    nf_set_str(v, "event_id", id);
    nf_set_str(v, "tenant_id", tenant);
    nf_set_long(v, "occurred_at", at);
    nf_set_long(v, "received_at", at);
    cr_assert_eq(avro_value_get_by_name(v, "payload", &f, NULL), 0);
    cr_assert_not_null(avro_schema_union_branch_by_name(avro_value_get_schema(&f), &idx, kind));
    cr_assert_eq(avro_value_set_branch(&f, idx, &b), 0);
    return b;
}

static NF_UNUSED void nf_cp_send(nf_env_t *e, const char *tenant, avro_value_t *v)
{
    nf_send(e, e->controlpanel, tenant, "ControlPanelEvent", v);
}

/* LicenseTermsSet of tenant for [from, until]. */
static NF_UNUSED void nf_terms(nf_env_t *e, const char *tenant, int32_t from, int32_t until, int64_t seats,
                               int64_t monthly, int64_t nonprod, int64_t at)
{
    avro_value_t v, b = nf_cp(e, &v, tenant, at, "LicenseTermsSet");
    nf_set_long(&b, "seats_max", seats);
    nf_set_long(&b, "monthly_api_calls_max", monthly);
    nf_set_long(&b, "daily_api_calls_max_nonprod", nonprod);
    nf_set_long(&b, "valid_from", from);
    nf_set_long(&b, "valid_until", until);
    nf_cp_send(e, tenant, &v);
}

static NF_UNUSED void nf_flush(nf_env_t *e)
{
    cr_assert_eq(rd_kafka_flush(e->prod.rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* One alert read back. */
typedef struct {
    char id[40], tenant[64], metric[32], state[16], period[16], env[64];
    int threshold;
    int64_t value, limit;
} nf_alert_t;

/* Reads up to want alerts of e (read_committed; waits idle_ms after the
 * last); decodes each with the catalog. Returns the count; *out malloc'd. */
static NF_UNUSED size_t nf_read_alerts(nf_env_t *e, size_t want, int idle_ms, int timeout_ms, nf_alert_t **out)
{
    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(e->alerts, want, idle_ms, timeout_ms, &recs);
    tally_decoder_t *dec = tally_decoder_new_any(e->cat);
    *out = calloc(n ? n : 1, sizeof **out);
    char err[512];
    for (size_t i = 0; i < n; i++) {
        avro_value_t *v, f, b;
        const tally_catalog_entry_t *w;
        const char *s;
        size_t sz;
        int idx;
        int32_t t;
        nf_alert_t *a = &(*out)[i];
        cr_assert_eq(tally_decoder_decode(dec, recs[i].value, recs[i].len, &v, &w, err, sizeof err), 0, "%s", err);
        cr_assert_str_eq(w->name, "UsageAlert");
        cr_assert_eq(avro_value_get_by_name(v, "alert_id", &f, NULL), 0);
        cr_assert_eq(avro_value_get_string(&f, &s, &sz), 0);
        snprintf(a->id, sizeof a->id, "%s", s);
        cr_assert_eq(avro_value_get_by_name(v, "tenant_id", &f, NULL), 0);
        cr_assert_eq(avro_value_get_string(&f, &s, &sz), 0);
        snprintf(a->tenant, sizeof a->tenant, "%s", s);
        cr_assert_str_eq(recs[i].key, a->tenant, "the key is the tenant");
        cr_assert_eq(avro_value_get_by_name(v, "period", &f, NULL), 0);
        cr_assert_eq(avro_value_get_string(&f, &s, &sz), 0);
        snprintf(a->period, sizeof a->period, "%s", s);
        cr_assert_eq(avro_value_get_by_name(v, "metric", &f, NULL), 0);
        cr_assert_eq(avro_value_get_enum(&f, &idx), 0);
        snprintf(a->metric, sizeof a->metric, "%s", avro_schema_enum_get(avro_value_get_schema(&f), idx));
        cr_assert_eq(avro_value_get_by_name(v, "state", &f, NULL), 0);
        cr_assert_eq(avro_value_get_enum(&f, &idx), 0);
        snprintf(a->state, sizeof a->state, "%s", avro_schema_enum_get(avro_value_get_schema(&f), idx));
        cr_assert_eq(avro_value_get_by_name(v, "threshold", &f, NULL), 0);
        cr_assert_eq(avro_value_get_int(&f, &t), 0);
        a->threshold = t;
        cr_assert_eq(avro_value_get_by_name(v, "value", &f, NULL), 0);
        cr_assert_eq(avro_value_get_long(&f, &a->value), 0);
        cr_assert_eq(avro_value_get_by_name(v, "limit", &f, NULL), 0);
        cr_assert_eq(avro_value_get_long(&f, &a->limit), 0);
        cr_assert_eq(avro_value_get_by_name(v, "environment_id", &f, NULL), 0);
        cr_assert_eq(avro_value_get_current_branch(&f, &b), 0);
        a->env[0] = '\0';
        if (avro_value_get_type(&b) == AVRO_STRING) {
            cr_assert_eq(avro_value_get_string(&b, &s, &sz), 0);
            snprintf(a->env, sizeof a->env, "%s", s);
        }
    }
    tally_decoder_free(dec);
    tally_test_records_free(recs, n);
    return n;
}

/* Index of the alert of tenant/metric/threshold/state/period in a[0..n),
 * or -1. */
static NF_UNUSED ssize_t nf_find(const nf_alert_t *a, size_t n, const char *tenant, const char *metric, int threshold,
                                 const char *state, const char *period)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(a[i].tenant, tenant) == 0 && strcmp(a[i].metric, metric) == 0 && a[i].threshold == threshold &&
            strcmp(a[i].state, state) == 0 && strcmp(a[i].period, period) == 0)
            return (ssize_t)i;
    return -1;
}

#endif
