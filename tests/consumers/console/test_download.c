/* The console's usage downloads are `tally-replay export`, byte for byte:
 * clean usage records on a real topic, a tenant in a real database, then
 * tally_console_download (replay's export into memory) against the
 * tally-replay binary run as a subprocess with the same flags, in CSV and
 * JSON; the figures are the usage sent; unknown tenant, bad period or
 * format, and an unreachable broker are clear errors. Prints how long one
 * download took (export reads the usage log from its beginning). */
#include "../materializer/mat_fixture.h"
#include "../../aggregator/agg_gen.h"
#include "../../aggregator/agg_kafka.h"

#include "download.h"
#include "replay_export.h"
#include "gateway_fixture.h"
#include "services.h"

static char db[96], topic[128];
static PGconn *conn;
static tally_catalog_t *cat;
static char period[8];
static int64_t day0;   /* yesterday, midnight UTC, in ms */

static void setup(void)
{
    char err[512];
    conn = tally_test_db_create("tally_test_download", db, sizeof db);
    mat_migrate(conn);
    tally_test_unique_name("console.usage", topic, sizeof topic);
    tally_test_topic_create(topic, 2);
    cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    int64_t days = tally_utc_day(tally_test_now_ms()) - 1;
    day0 = days * INT64_C(86400000);
    int64_t y;
    unsigned m, d;
    cr_assert_eq(tally_civil_from_days(days, &y, &m, &d), 0);
    snprintf(period, sizeof period, "%04lld-%02u", (long long)y, m);
}

static void teardown(void)
{
    tally_catalog_free(cat);
    tally_test_db_drop(conn, db);
}

TestSuite(download, .init = setup, .fini = teardown, .timeout = 180);

/* A report of reporter id (started at day0 + 1 h), cumulative counters. */
static void report(agg_producer_t *p, agg_gen_t *g, const char *tenant, const char *env, const char *id, int64_t seq,
                   int64_t at, int64_t calls, int64_t c4, int64_t c5, int64_t exec)
{
    char err[256];
    const void *buf;
    size_t len;
    avro_value_t *v = &g->uv;
    avro_value_reset(v);
    cr_assert_eq(agg_set_str(v, "tenant_id", tenant) || agg_set_str(v, "environment_id", env) ||
                     agg_set_str(v, "reporter_id", id) || agg_set_long(v, "reporter_started_at", day0 + 3600000) ||
                     agg_set_long(v, "seq", seq) || agg_set_long(v, "observed_at", at) ||
                     agg_set_long(v, "api_calls", calls) || agg_set_long(v, "status_4xx", c4) ||
                     agg_set_long(v, "status_5xx", c5) || agg_set_long(v, "exec_ms", exec),
                 0);
    cr_assert_eq(tally_encoder_encode(g->uenc, v, &buf, &len, err, sizeof err), 0, "%s", err);
    agg_produce(p, topic, RD_KAFKA_PARTITION_UA, tenant, strlen(tenant), buf, len);
}

static void seat(agg_producer_t *p, agg_gen_t *g, const char *tenant, const char *ref, int n, int64_t at)
{
    char id[37];
    const void *buf;
    size_t len;
    agg_uuid(id, 0xd0, (uint64_t)n);
    tally_rollup_seat_event_t e = {.event_id = id, .tenant_id = tenant, .seat_ref = ref, .op = TALLY_SEAT_ASSIGNED,
                                   .occurred_at = at};
    cr_assert_eq(agg_gen_seat(g, &e, &buf, &len), 0);
    agg_produce(p, topic, RD_KAFKA_PARTITION_UA, tenant, strlen(tenant), buf, len);
}

/* Yesterday's usage: acme prod and staging, two seats; globex too. */
static void seed(void)
{
    agg_gen_t g;
    agg_producer_t p;
    const int64_t h = 3600000;
    cr_assert_eq(agg_gen_init(&g, cat), 0);
    agg_producer_init(&p);
    report(&p, &g, "acme", "prod", "aaaaaaaa-0000-4000-8000-000000000001", 1, day0 + 2 * h, 100, 3, 1, 500);
    report(&p, &g, "acme", "staging", "aaaaaaaa-0000-4000-8000-000000000002", 1, day0 + 3 * h, 40, 0, 0, 80);
    report(&p, &g, "globex", "prod", "aaaaaaaa-0000-4000-8000-000000000003", 1, day0 + 3 * h, 999, 9, 9, 9);
    report(&p, &g, "acme", "prod", "aaaaaaaa-0000-4000-8000-000000000001", 2, day0 + 5 * h, 250, 5, 2, 1200);
    seat(&p, &g, "acme", "seat-1", 1, day0 + 2 * h);
    seat(&p, &g, "acme", "seat-2", 2, day0 + 3 * h);
    seat(&p, &g, "globex", "seat-g", 3, day0 + 3 * h);
    agg_producer_close(&p);
    agg_gen_done(&g);
    mat_exec(conn, "INSERT INTO tally.tenants VALUES ('acme', 'Acme', now()), ('globex', 'Globex', now())");
}

static tally_console_download_opts_t opts(const char *tenant, const char *format)
{
    tally_console_download_opts_t o = {.brokers = tally_test_brokers(), .pg_url = tally_test_pg_url(db),
                                       .catalog = cat, .usage_topic = topic, .tenant = tenant, .period = period,
                                       .format = format};
    return o;
}

Test(download, csv_and_json_are_tally_replay_exports_bytes)
{
    char err[512] = "";
    seed();
    const char *formats[] = {"csv", "json"};
    for (int k = 0; k < 2; k++) {
        tally_console_download_opts_t o = opts("acme", formats[k]);
        char *body = NULL;
        size_t len = 0;
        int64_t t0 = tally_test_mono_ms();
        cr_assert_eq(tally_console_download(&o, &body, &len, err, sizeof err), 0, "%s", err);
        int64_t took = tally_test_mono_ms() - t0;
        fprintf(stderr, "download: %s of tenant acme, %s, from 7 usage records: %lld ms, %zu bytes\n", formats[k],
                period, (long long)took, len);
        size_t want_len;
        char *want = console_replay_export(tally_test_pg_url(db), topic, "acme", period, formats[k], &want_len);
        cr_assert_eq(len, want_len, "%s: %zu bytes, tally-replay wrote %zu:\n%s\n---\n%s", formats[k], len, want_len,
                     body, want);
        cr_assert_eq(memcmp(body, want, len), 0, "%s differs:\n%s\n---\n%s", formats[k], body, want);
        cr_assert_eq(body[len], '\0');
        if (k == 1) {
            /* The figures are the usage sent: acme's, not globex's. */
            json_error_t je;
            json_t *j = json_loads(body, 0, &je), *row;
            size_t i;
            int totals = 0;
            cr_assert_not_null(j, "%s", je.text);
            cr_assert_str_eq(json_string_value(json_object_get(j, "tenant_id")), "acme");
            cr_assert_str_eq(json_string_value(json_object_get(j, "topic")), topic);
            json_array_foreach(json_object_get(j, "rows"), i, row) {
                const char *kind = json_string_value(json_object_get(row, "kind"));
                const char *env = json_string_value(json_object_get(row, "environment_id"));
                if (strcmp(kind, "api_total") == 0 && strcmp(env, "*") == 0) {
                    cr_assert_eq(json_integer_value(json_object_get(row, "api_calls")), 290, "%s", body);
                    cr_assert_eq(json_integer_value(json_object_get(row, "status_4xx")), 5);
                    cr_assert_eq(json_integer_value(json_object_get(row, "exec_ms")), 1280);
                    totals++;
                }
                if (strcmp(kind, "seats_total") == 0) {
                    cr_assert_eq(json_integer_value(json_object_get(row, "seats_peak")), 2, "%s", body);
                    totals++;
                }
            }
            cr_assert_eq(totals, 2, "%s", body);
            json_decref(j);
        } else {
            cr_assert(strncmp(body, "kind,tenant_id,environment_id,day,", 34) == 0, "%s", body);
            cr_assert(strstr(body, "globex") == NULL, "another tenant's rows: %s", body);
        }
        free(want);
        free(body);
    }
}

Test(download, bad_requests_unknown_tenants_and_a_dead_broker_are_clear_errors)
{
    char err[512] = "", *body = (char *)"x";
    size_t len = 7;
    seed();
    tally_console_download_opts_t o = opts("acme", "xml");
    cr_assert_eq(tally_console_download(&o, &body, &len, err, sizeof err), TALLY_CONSOLE_DOWNLOAD_ERR_USAGE);
    cr_assert_null(body);
    cr_assert_eq(len, 0);
    const char *periods[] = {"2024-13", "2024-1", "24-01-01", "", "2024-03'; --"};
    for (size_t i = 0; i < sizeof periods / sizeof periods[0]; i++) {
        o = opts("acme", "csv");
        o.period = periods[i];
        cr_assert_eq(tally_console_download(&o, &body, &len, err, sizeof err), TALLY_CONSOLE_DOWNLOAD_ERR_USAGE,
                     "%s", periods[i]);
        cr_assert(strstr(err, "YYYY-MM") != NULL, "%s", err);
    }
    o = opts("", "csv");
    cr_assert_eq(tally_console_download(&o, &body, &len, err, sizeof err), TALLY_CONSOLE_DOWNLOAD_ERR_USAGE);
    o = opts("initech", "json");
    cr_assert_eq(tally_console_download(&o, &body, &len, err, sizeof err), TALLY_CONSOLE_DOWNLOAD_ERR_UNKNOWN_TENANT,
                 "%s", err);
    cr_assert_null(body);
    o = opts("acme", "csv");
    char dead[64];
    snprintf(dead, sizeof dead, "127.0.0.1:%d", tally_test_free_port());
    o.brokers = dead;
    o.connect_timeout_ms = 1500;
    o.stall_timeout_ms = 1500;
    cr_assert_eq(tally_console_download(&o, &body, &len, err, sizeof err), TALLY_CONSOLE_DOWNLOAD_ERR_FAILED, "%s",
                 err);
    cr_assert_null(body);
    o = opts("acme", "csv");
    o.pg_url = "postgresql://postgres@127.0.0.1:1/none?connect_timeout=2";
    cr_assert_eq(tally_console_download(&o, &body, &len, err, sizeof err), TALLY_CONSOLE_DOWNLOAD_ERR_FAILED, "%s",
                 err);
}
