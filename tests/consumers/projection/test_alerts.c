/* Usage alerts (UsageAlert version 1) into tally.alerts, through the
 * materializer's own decoding (inbound), projection and writer, against the
 * real PostgreSQL:
 *   - an alert becomes one row with every field and the Kafka partition and
 *     offset it came from;
 *   - an alert id read twice (in one batch, in a later batch, after later
 *     alerts) is stored once, the first record kept;
 *   - the table holds exactly the distinct alerts, whatever the order and
 *     the batching they were read in;
 *   - console_open_alerts counts the (metric, environment, period,
 *     threshold) whose latest alert is TRIGGERED;
 *   - what the table would refuse is refused before PostgreSQL ("invalid")
 *     and leaves the batch as it was; an alert on another topic is
 *     "unexpected_schema". */
#include "batch.h"
#include "inbound.h"
#include "projection.h"
#include "writer.h"

#include "../materializer/mat_fixture.h"

#define T0 INT64_C(1796601600000)   /* 2026-12-07T00:00:00Z */
#define HOUR INT64_C(3600000)

static char db[96];
static PGconn *conn;
static tally_writer_t *w;
static tally_batch_t *b;
static tally_catalog_t *cat;
static tally_inbound_t *in;
static int64_t next_offset[2], batch_start[2];
static char err[1024];

static void setup(void)
{
    conn = tally_test_db_create("tally_test_alerts", db, sizeof db);
    mat_migrate(conn);
    tally_writer_opts_t o = {.conninfo = tally_test_pg_url(db), .schema = "tally", .group = "g1",
                             .application_name = "tally-test-alerts",
                             .topics = {"t.rollups", "t.product", "t.cp", "t.alerts"}};
    w = tally_writer_new(&o);
    cr_assert_eq(tally_writer_connect(w, err, sizeof err), 0, "%s", err);
    b = tally_batch_new();
    cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    in = tally_inbound_new(cat, err, sizeof err);
    cr_assert_not_null(in, "%s", err);
    next_offset[0] = next_offset[1] = 0;
    batch_start[0] = batch_start[1] = -1;
}

static void teardown(void)
{
    tally_inbound_free(in);
    tally_catalog_free(cat);
    tally_batch_free(b);
    tally_writer_free(w);
    tally_test_db_drop(conn, db);
}

TestSuite(alerts, .init = setup, .fini = teardown, .timeout = 60);

/* Encodes a and adds it as the next record of the alerts topic's
 * partition part. */
static int add_on(int part, tally_topic_role_t role, const mat_alert_t *a, const char **error)
{
    avro_value_t v;
    const void *buf;
    size_t len;
    const char *ignored;
    const tally_catalog_entry_t *schema = mat_alert_schema(cat);
    mat_alert_value(schema, &v, a);
    tally_encoder_t *enc = tally_encoder_new(schema);
    cr_assert_eq(tally_encoder_encode(enc, &v, &buf, &len, err, sizeof err), 0, "%s", err);
    int rc = tally_inbound_add(in, b, role, part, next_offset[part], buf, len, error ? error : &ignored, err,
                               sizeof err);
    tally_batch_track(b, role, part, next_offset[part], batch_start[part], len, 0);
    next_offset[part]++;
    tally_encoder_free(enc);
    avro_value_decref(&v);
    return rc;
}

static int add(int part, const mat_alert_t *a)
{
    return add_on(part, TALLY_ROLE_ALERTS, a, NULL);
}

static void write_batch(void)
{
    cr_assert_eq(tally_writer_write(w, b, err, sizeof err), 0, "%s", err);
    tally_batch_reset(b);
    for (int p = 0; p < 2; p++)
        if (next_offset[p] > 0)
            batch_start[p] = next_offset[p];
}

#define ID(n) "a1e70000-0000-4000-8000-00000000000" #n

/* acme: monthly 80 and 100 triggered, 100 resolved by a correction, 100
 * triggered again; a non-production daily cap; globex: seats. */
static const mat_alert_t alerts[] = {
    {ID(1), "acme", NULL, "2026-12", 0, 0, 80, 800, 1000, T0 + 1 * HOUR},
    {ID(2), "acme", NULL, "2026-12", 0, 0, 100, 1000, 1000, T0 + 2 * HOUR},
    {ID(3), "acme", NULL, "2026-12", 0, 1, 100, 990, 1000, T0 + 3 * HOUR},
    {ID(4), "acme", NULL, "2026-12", 0, 0, 100, 1200, 1000, T0 + 4 * HOUR},
    {ID(5), "acme", "staging", "2026-12-07", 1, 0, 100, 60, 50, T0 + 5 * HOUR},
    {ID(6), "globex", NULL, "2026-12", 2, 0, 100, 12, 10, T0 + 6 * HOUR},
};
#define N_ALERTS (sizeof alerts / sizeof alerts[0])

/* Both digests come from one static buffer (tally_test_pg_text): each is
 * copied into its own. */
static const char *table_digest(void)
{
    static char out[128];
    snprintf(out, sizeof out, "%s", mat_text(conn, "SELECT count(*) || ':' || coalesce(md5(string_agg(concat_ws('|', alert_id, tenant_id, "
                          "environment_id, metric, threshold, value, \"limit\", period, state, "
                          "(extract(epoch FROM at) * 1000)::bigint), ',' ORDER BY alert_id)), '-') "
                          "FROM tally.alerts"));
    return out;
}

/* The digest the table must have when it holds exactly alerts[0..n). */
static const char *events_digest(size_t n)
{
    tally_textbuf_t vals = {0};
    for (size_t i = 0; i < n; i++) {
        const mat_alert_t *a = &alerts[i];
        static const char *const metric[] = {"MONTHLY_API_CALLS", "NONPROD_DAILY_API_CALLS", "SEATS_PEAK"};
        tally_textbuf_printf(&vals, "%s('%s','%s',%s%s%s,'%s',%d,%lld,%lld,'%s','%s',%lld)", i ? "," : "", a->id,
                             a->tenant, a->env ? "'" : "", a->env ? a->env : "NULL", a->env ? "'" : "",
                             metric[a->metric], a->threshold, (long long)a->value, (long long)a->limit, a->period,
                             a->state ? "RESOLVED" : "TRIGGERED", (long long)a->at);
    }
    tally_textbuf_putc(&vals, '\0');
    const char *d = mat_text(conn, "SELECT count(*) || ':' || md5(string_agg(concat_ws('|', i, t, e, m, th, v, l, p, "
                                   "s, at), ',' ORDER BY i)) FROM (VALUES %s) x(i, t, e, m, th, v, l, p, s, at)",
                             vals.data);
    free(vals.data);
    static char out[128];
    snprintf(out, sizeof out, "%s", d);
    return out;
}

Test(alerts, an_alert_is_one_row_with_its_kafka_position)
{
    cr_assert_eq(add(1, &alerts[4]), 0, "%s", err);
    write_batch();
    cr_assert_str_eq(mat_text(conn, "SELECT concat_ws(' ', alert_id, tenant_id, environment_id, metric, threshold, "
                                    "value, \"limit\", period, state, (extract(epoch FROM at) * 1000)::bigint, "
                                    "kafka_partition, kafka_offset) FROM tally.alerts"),
                     ID(5) " acme staging NONPROD_DAILY_API_CALLS 100 60 50 2026-12-07 TRIGGERED 1796619600000 1 0");
    /* The offset moved with the row, in the same transaction. */
    cr_assert_eq(mat_scalar(conn, "SELECT next_offset FROM tally.kafka_offsets WHERE topic = 't.alerts' "
                                  "AND partition = 1"), 1);
}

Test(alerts, an_alert_id_read_twice_is_stored_once_the_first_record_kept)
{
    cr_assert_eq(add(0, &alerts[0]), 0, "%s", err);
    cr_assert_eq(add(0, &alerts[0]), 0, "%s", err);   /* the same batch */
    write_batch();
    cr_assert_eq(mat_scalar(conn, "SELECT count(*) FROM tally.alerts"), 1);
    /* A later batch: the same record again, and one with the same id but
     * another value (no writer does that: the first still wins). */
    mat_alert_t changed = alerts[0];
    changed.value = 999;
    cr_assert_eq(add(0, &alerts[1]), 0, "%s", err);
    cr_assert_eq(add(0, &alerts[0]), 0, "%s", err);
    cr_assert_eq(add(0, &changed), 0, "%s", err);
    write_batch();
    cr_assert_eq(mat_scalar(conn, "SELECT count(*) FROM tally.alerts"), 2);
    cr_assert_eq(mat_scalar(conn, "SELECT value FROM tally.alerts WHERE alert_id = '" ID(1) "'"), 800);
    cr_assert_eq(mat_scalar(conn, "SELECT kafka_offset FROM tally.alerts WHERE alert_id = '" ID(1) "'"), 0);
    cr_assert_str_eq(table_digest(), events_digest(2));
}

Test(alerts, the_table_equals_the_distinct_events_in_any_order_and_batching)
{
    /* Newest first, over two partitions, one batch per two records, then
     * everything again oldest first in one batch (a replay). */
    for (size_t i = N_ALERTS; i-- > 0;) {
        cr_assert_eq(add((int)(i % 2), &alerts[i]), 0, "%s", err);
        if (i % 2 == 0)
            write_batch();
    }
    cr_assert_str_eq(table_digest(), events_digest(N_ALERTS));
    for (size_t i = 0; i < N_ALERTS; i++)
        cr_assert_eq(add((int)(i % 2), &alerts[i]), 0, "%s", err);
    write_batch();
    cr_assert_str_eq(table_digest(), events_digest(N_ALERTS));
    cr_assert_eq(mat_scalar(conn, "SELECT sum(next_offset) FROM tally.kafka_offsets WHERE topic = 't.alerts'"),
                 (long long)(2 * N_ALERTS));
}

Test(alerts, open_alerts_are_the_thresholds_whose_latest_alert_is_triggered)
{
    for (size_t i = 0; i < N_ALERTS; i++)
        cr_assert_eq(add(0, &alerts[i]), 0, "%s", err);
    write_batch();
    /* acme: 80 open, 100 triggered-resolved-triggered open, the daily cap
     * open: 3; globex: seats, 1. */
    cr_assert_str_eq(mat_text(conn, "SELECT string_agg(tenant_id || '/' || month || '=' || open_alerts, ' ' "
                                    "ORDER BY tenant_id) FROM tally.console_open_alerts"),
                     "acme/2026-12=3 globex/2026-12=1");
    mat_alert_t resolved = {ID(7), "acme", NULL, "2026-12", 0, 1, 80, 700, 1000, T0 + 7 * HOUR};
    cr_assert_eq(add(0, &resolved), 0, "%s", err);
    write_batch();
    cr_assert_eq(mat_scalar(conn, "SELECT open_alerts FROM tally.console_open_alerts WHERE tenant_id = 'acme'"), 2);
}

Test(alerts, what_the_table_would_refuse_is_refused_first_and_changes_nothing)
{
    static const struct {
        const char *what;
        mat_alert_t a;
    } bad[] = {
        {"upper-case id", {"A1E70000-0000-4000-8000-000000000001", "acme", NULL, "2026-12", 0, 0, 80, 8, 10, T0}},
        {"id not UUID-shaped", {"a1e7", "acme", NULL, "2026-12", 0, 0, 80, 8, 10, T0}},
        {"empty tenant", {ID(1), "", NULL, "2026-12", 0, 0, 80, 8, 10, T0}},
        {"threshold 0", {ID(1), "acme", NULL, "2026-12", 0, 0, 0, 8, 10, T0}},
        {"negative value", {ID(1), "acme", NULL, "2026-12", 0, 0, 80, -8, 10, T0}},
        {"negative limit", {ID(1), "acme", NULL, "2026-12", 0, 0, 80, 8, -10, T0}},
        {"daily period on a monthly metric", {ID(1), "acme", NULL, "2026-12-07", 0, 0, 80, 8, 10, T0}},
        {"monthly period on the daily metric", {ID(1), "acme", "staging", "2026-12", 1, 0, 80, 8, 10, T0}},
        {"period not a date", {ID(1), "acme", NULL, "2026-1x", 0, 0, 80, 8, 10, T0}},
        {"environment on a monthly metric", {ID(1), "acme", "prod", "2026-12", 0, 0, 80, 8, 10, T0}},
        {"no environment on the daily metric", {ID(1), "acme", NULL, "2026-12-07", 1, 0, 80, 8, 10, T0}},
        {"at out of range", {ID(1), "acme", NULL, "2026-12", 0, 0, 80, 8, 10, INT64_MAX}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *error = NULL;
        size_t n_cp = b->n_cp, arena = b->arena.len;
        cr_assert_eq(add_on(0, TALLY_ROLE_ALERTS, &bad[i].a, &error), -1, "%s accepted", bad[i].what);
        cr_assert_str_eq(error, "invalid", "%s: %s", bad[i].what, error);
        cr_assert_eq(b->n_cp, n_cp, "%s", bad[i].what);
        cr_assert_eq(b->arena.len, arena, "%s", bad[i].what);
    }
    /* An alert on the Control Panel topic does not belong there. */
    const char *error = NULL;
    cr_assert_eq(add_on(1, TALLY_ROLE_CONTROLPANEL, &alerts[0], &error), -1);
    cr_assert_str_eq(error, "unexpected_schema");
    write_batch();   /* only offsets move */
    cr_assert_eq(mat_scalar(conn, "SELECT count(*) FROM tally.alerts"), 0);
}
