#include "webhooks_fixture.h"

#include <avro.h>
#include "avro_fields.h"
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec.h"
#include "fixtures.h"
#include "schema_catalog.h"
#include "topic_producer.h"
#include "topic_reader.h"
#include "webhook_seal.h"

#define SEED "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"

static tally_catalog_t *catalog(void)
{
    static tally_catalog_t *cat;
    char err[512];
    if (cat == NULL) {
        cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
        cr_assert_not_null(cat, "%s", err);
    }
    return cat;
}

static void write_secret_file(const char *path, const char *text)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

void wh_init(wh_fixture_t *f, int partitions, const char *vendor_secret)
{
    memset(f, 0, sizeof *f);
    tally_test_unique_name2("tally-test-wh", ".alerts", f->alerts, sizeof f->alerts);
    tally_test_unique_name2("tally-test-wh", ".controlpanel", f->cp, sizeof f->cp);
    tally_test_unique_name2("tally-test-wh", ".deliveries", f->deliveries, sizeof f->deliveries);
    tally_test_unique_name("tally-test-webhooks", f->prefix, sizeof f->prefix);
    snprintf(f->group, sizeof f->group, "%s-group", f->prefix);
    tally_test_topic_create(f->alerts, partitions);
    tally_test_topic_create(f->deliveries, partitions);
    tally_test_topic_create(f->cp, 1);
    snprintf(f->keys_path, sizeof f->keys_path, "/tmp/%s.keys", f->prefix);
    snprintf(f->vendor_secret_path, sizeof f->vendor_secret_path, "/tmp/%s.vendor", f->prefix);
    write_secret_file(f->keys_path, "wk-1 " SEED "\n");
    write_secret_file(f->vendor_secret_path, vendor_secret);
    char err[256];
    tally_webhook_keyring_t *ring = tally_webhook_keyring_load(f->keys_path, err, sizeof err);
    cr_assert_not_null(ring, "%s", err);
    snprintf(f->pubkey_id, sizeof f->pubkey_id, "%s", tally_webhook_keyring_current_id(ring));
    memcpy(f->pubkey, tally_webhook_keyring_public(ring, f->pubkey_id), 32);
    tally_webhook_keyring_free(ring);
}

void wh_cleanup(wh_fixture_t *f)
{
    unlink(f->keys_path);
    unlink(f->vendor_secret_path);
}

static void send_value(const char *schema, avro_value_t *v, const char *topic, const char *key)
{
    const tally_catalog_entry_t *e = tally_catalog_latest(catalog(), schema);
    tally_encoder_t *enc = tally_encoder_new(e);
    const void *out = NULL;
    size_t len = 0;
    char err[256];
    cr_assert_eq(tally_encoder_encode(enc, v, &out, &len, err, sizeof err), 0, "%s", err);
    tally_test_producer_t p;
    tally_test_producer_init(&p, "tally-test-webhooks", 0);
    tally_test_producer_send(&p, topic, -1, key, strlen(key), out, len, 0);
    tally_test_producer_close(&p);
    tally_encoder_free(enc);
}

void wh_alert_id(int n, char out[40])
{
    snprintf(out, 40, "00000000-0000-4000-8000-%012d", n);
}

void wh_send_alert(wh_fixture_t *f, const char *alert_id, const char *tenant, int threshold)
{
    const tally_catalog_entry_t *e = tally_catalog_latest(catalog(), "UsageAlert");
    cr_assert_not_null(e);
    avro_value_t v, fld, branch;
    char err[256];
    cr_assert_eq(tally_codec_value_new(e, &v, err, sizeof err), 0, "%s", err);
    tally_test_avro_set_string(&v, "alert_id", alert_id);
    tally_test_avro_set_string(&v, "tenant_id", tenant);
    cr_assert_eq(avro_value_get_by_name(&v, "environment_id", &fld, NULL), 0);
    cr_assert_eq(avro_value_set_branch(&fld, 0, &branch), 0);
    cr_assert_eq(avro_value_set_null(&branch), 0);
    tally_test_avro_set_enum(&v, "metric", 0);
    cr_assert_eq(avro_value_get_by_name(&v, "threshold", &fld, NULL), 0);
    cr_assert_eq(avro_value_set_int(&fld, threshold), 0);
    tally_test_avro_set_long(&v, "value", 8000);
    tally_test_avro_set_long(&v, "limit", 10000);
    tally_test_avro_set_string(&v, "period", "2026-12");
    tally_test_avro_set_enum(&v, "state", 0);
    tally_test_avro_set_long(&v, "at", 1765000000000LL);
    send_value("UsageAlert", &v, f->alerts, tenant);
    avro_value_decref(&v);
}

void wh_send_endpoint(wh_fixture_t *f, const char *tenant, const char *url, const char *secret)
{
    const tally_catalog_entry_t *e = tally_catalog_latest(catalog(), "ControlPanelEvent");
    avro_value_t v, payload, b;
    char err[256];
    cr_assert_eq(tally_codec_value_new(e, &v, err, sizeof err), 0, "%s", err);
    static int serial;
    char id[64];
    snprintf(id, sizeof id, "00000000-0000-4000-9000-%012d", ++serial);
    tally_test_avro_set_string(&v, "event_id", id);
    tally_test_avro_set_string(&v, "tenant_id", tenant);
    tally_test_avro_set_long(&v, "occurred_at", 1765000000000LL);
    tally_test_avro_set_long(&v, "received_at", 1765000000010LL);
    cr_assert_eq(avro_value_get_by_name(&v, "payload", &payload, NULL), 0);
    int idx = -1;
    cr_assert_not_null(avro_schema_union_branch_by_name(avro_value_get_schema(&payload), &idx, "WebhookEndpointSet"));
    cr_assert_eq(avro_value_set_branch(&payload, idx, &b), 0);
    tally_test_avro_set_string(&b, "url", url);
    char b64[256] = "";
    if (*url != '\0') {
        unsigned char sealed[TALLY_WEBHOOK_SEALED_MAX];
        size_t n = 0;
        cr_assert_eq(tally_webhook_seal(f->pubkey, secret, strlen(secret), sealed, &n, err, sizeof err), 0, "%s", err);
        sodium_bin2base64(b64, sizeof b64, sealed, n, sodium_base64_VARIANT_ORIGINAL);
    }
    tally_test_avro_set_string(&b, "secret_sealed", b64);
    tally_test_avro_set_string(&b, "key_id", *url ? f->pubkey_id : "");
    send_value("ControlPanelEvent", &v, f->cp, tenant);
    avro_value_decref(&v);
}

tally_test_proc_t *wh_start(wh_fixture_t *f, const char *const extra[])
{
    static char a[16][400];
    char *argv[48];
    int n = 0;
    argv[n++] = (char *)tally_test_bin("tally-webhooks");
    snprintf(a[0], sizeof a[0], "--brokers=%s", tally_test_brokers());
    snprintf(a[1], sizeof a[1], "--alerts-topic=%s", f->alerts);
    snprintf(a[2], sizeof a[2], "--controlpanel-topic=%s", f->cp);
    snprintf(a[3], sizeof a[3], "--deliveries-topic=%s", f->deliveries);
    snprintf(a[4], sizeof a[4], "--schemas=%s", tally_test_source_path("schemas"));
    snprintf(a[5], sizeof a[5], "--transactional-id-prefix=%s", f->prefix);
    snprintf(a[6], sizeof a[6], "--group=%s", f->group);
    snprintf(a[7], sizeof a[7], "--webhook-keys=%s", f->keys_path);
    for (int i = 0; i < 8; i++)
        argv[n++] = a[i];
    static char fixed[][64] = {"--instance-id=test-1", "--admin-port=0", "--backoff-min=100ms",
                               "--backoff-max=400ms", "--request-timeout=1s"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        argv[n++] = fixed[i];
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 46; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    char line[512];
    return tally_test_spawn(argv, "admin listening on", 60000, line, sizeof line);
}

json_t *wh_states(wh_fixture_t *f)
{
    tally_test_record_t *recs = NULL;
    size_t n = tally_test_topic_read_all(f->deliveries, 30000, &recs);
    json_t *out = json_object();
    for (size_t i = 0; i < n; i++) {
        json_error_t jerr;
        json_t *v = json_loads(recs[i].value, 0, &jerr);
        cr_assert_not_null(v, "a delivery state is not JSON: %s", recs[i].value);
        json_object_set_new(out, recs[i].key, v);
    }
    tally_test_records_free(recs, n);
    return out;
}
