/*
 * mat_fixture.h: what the materializer suites share: a fresh database and
 * fresh topics per test on the real PostgreSQL and broker, a producer that
 * encodes every input record type with the project's codec (the aggregator
 * and anonymizer that produce them in production are not needed), the real
 * tally-materializer binary, and queries.
 *
 * A header of static functions, included by each suite (tests/CMakeLists.txt
 * builds one executable per test_*.c file).
 */
#ifndef TALLY_TEST_MAT_FIXTURE_H
#define TALLY_TEST_MAT_FIXTURE_H

#include "codec.h"
#include "fixtures.h"
#include "http.h"
#include "kafka.h"
#include "pg.h"
#include "pg_migrate.h"
#include "pg_query.h"
#include "subprocess.h"
#include "schema_catalog.h"
#include "timeutil.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAT_UNUSED __attribute__((unused))

/* 2024-03-01 and friends, as days since 1970-01-01. */
#define MAT_DAY(y, m, d) ((int32_t)tally_days_from_civil((y), (m), (d)))

typedef struct {
    char db[96];
    PGconn *conn;
    char topics[4][96];   /* rollups, product, Control Panel, alerts */
    char dlq[96];
    char group[96];
} mat_env_t;

/* ---- database ---------------------------------------------------------- */

/* Checks on the suite's database (tests/support/pg_query.h): the first
 * column of the only row (-1 for NULL), and of the first row as text
 * (static buffer), "(null)" or "(none)". */
#define mat_scalar tally_test_pg_scalar
#define mat_text tally_test_pg_text

static MAT_UNUSED void mat_exec(PGconn *c, const char *sql)
{
    tally_test_pg_exec(c, "%s", sql);
}

static MAT_UNUSED void mat_migrate(PGconn *c)
{
    char err[1024];
    int applied = 0;
    cr_assert_eq(tally_migrate_apply(c, tally_test_source_path("deploy/postgres/migrations"), &applied, err,
                                     sizeof err),
                 0, "%s", err);
}

/* A digest of every row of every read-model table (offsets aside): equal
 * digests mean identical tables. */
static MAT_UNUSED const char *mat_tables_digest(PGconn *c)
{
    static char out[2048];
    static const char *const tables[] = {"tenants", "environments", "members", "api_keys", "license_terms",
                                         "api_usage_daily", "seat_usage_daily", "product_events", "product_daily",
                                         "product_daily_installs"};
    out[0] = '\0';
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        const char *d = mat_text(c, "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY "
                                    "t::text)), '-') FROM tally.%s t", tables[i]);
        size_t n = strlen(out);
        snprintf(out + n, sizeof out - n, "%s=%s ", tables[i], d);
    }
    return out;
}

/* ---- topics and the environment of one test -------------------------- */

static MAT_UNUSED void mat_env_create(mat_env_t *e, int partitions)
{
    memset(e, 0, sizeof *e);
    e->conn = tally_test_db_create("tally_test_mat", e->db, sizeof e->db);
    static const char *const prefix[4] = {"mat_rollups", "mat_product", "mat_cp", "mat_alerts"};
    for (int i = 0; i < 4; i++) {
        tally_test_unique_name(prefix[i], e->topics[i], sizeof e->topics[i]);
        tally_test_topic_create(e->topics[i], i == 2 ? 2 : partitions);
    }
    tally_test_unique_name("mat_dlq", e->dlq, sizeof e->dlq);
    tally_test_topic_create(e->dlq, 1);
    tally_test_unique_name("mat_group", e->group, sizeof e->group);
}

static MAT_UNUSED void mat_env_destroy(mat_env_t *e)
{
    tally_test_db_drop(e->conn, e->db);
    e->conn = NULL;
}

/* Sum of the next offsets stored for a group and topic in db (-1: none). */
static MAT_UNUSED long long mat_stored(PGconn *c, const char *group, const char *topic)
{
    return mat_scalar(c, "SELECT coalesce(sum(next_offset), -1) FROM tally.kafka_offsets WHERE consumer_group = "
                         "'%s' AND topic = '%s'", group, topic);
}

/* Waits until the stored offsets of group cover want[i] records on each
 * topic (fresh topics from a non-transactional producer: offsets are
 * dense), up to timeout_ms. */
static MAT_UNUSED void mat_wait_caught_up(PGconn *c, const mat_env_t *e, const char *group, const long long want[3],
                                          int timeout_ms)
{
    for (int waited = 0;; waited += 100) {
        int done = 1;
        PGresult *r = PQexec(c, "SELECT 1");   /* also notices a dead connection */
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            PQreset(c);
        PQclear(r);
        for (int i = 0; i < 3; i++)
            if (want[i] > 0 && mat_stored(c, group, e->topics[i]) != want[i])
                done = 0;
        if (done)
            return;
        cr_assert(waited < timeout_ms, "not caught up within %d ms: stored %lld/%lld %lld/%lld %lld/%lld", timeout_ms,
                  mat_stored(c, group, e->topics[0]), want[0], mat_stored(c, group, e->topics[1]), want[1],
                  mat_stored(c, group, e->topics[2]), want[2]);
        usleep(100 * 1000);
    }
}

/* Reads the dead-letter topic from the beginning until want records came
 * or timeout_ms passed; checks each carries no content and names its
 * error, stage and source in headers; returns the count. */
static MAT_UNUSED size_t mat_read_dead_letters(const char *topic, size_t want, int timeout_ms)
{
    static const char *const names[] = {"error", "detail", "stage", "source.topic", "source.partition",
                                        "source.offset", "process"};
    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(topic, want, 0, timeout_ms, &recs);
    for (size_t k = 0; k < n; k++) {
        cr_assert_eq(recs[k].len, 0, "a dead letter carries no content");
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            cr_assert_not_null(tally_test_record_header(&recs[k], names[i]), "header %s", names[i]);
        cr_assert_str_eq(tally_test_record_header(&recs[k], "stage"), "materialize");
        cr_assert_str_eq(tally_test_record_header(&recs[k], "process"), "tally-materializer");
    }
    tally_test_records_free(recs, n);
    return n;
}

/* ---- the binary -------------------------------------------------------- */

/* Starts tally-materializer on e's topics and database as group, with
 * extra arguments (NULL-terminated, may be NULL); waits until it consumes.
 * *admin_port gets its admin port (may be NULL). */
static MAT_UNUSED tally_test_proc_t *mat_start(const mat_env_t *e, const char *db, const char *group,
                                               const char *const extra[], int *admin_port)
{
    static char a[24][512];
    char *argv[48];
    int n = 0;
    snprintf(a[n], sizeof a[n], "%s", tally_test_bin("tally-materializer"));
    argv[n] = a[n];
    n++;
#define MAT_ARG(...)                                                                                                   \
    do {                                                                                                               \
        snprintf(a[n], sizeof a[n], __VA_ARGS__);                                                                      \
        argv[n] = a[n];                                                                                                \
        n++;                                                                                                           \
    } while (0)
    MAT_ARG("--brokers=%s", tally_test_brokers());
    MAT_ARG("--pg-url=%s", tally_test_pg_url(db));
    MAT_ARG("--group=%s", group);
    MAT_ARG("--rollups-topic=%s", e->topics[0]);
    MAT_ARG("--product-topic=%s", e->topics[1]);
    MAT_ARG("--controlpanel-topic=%s", e->topics[2]);
    MAT_ARG("--alerts-topic=%s", e->topics[3]);
    MAT_ARG("--dlq-topic=%s", e->dlq);
    MAT_ARG("--schemas=%s", tally_test_source_path("schemas"));
    MAT_ARG("--migrations=%s", tally_test_source_path("deploy/postgres/migrations"));
    MAT_ARG("--admin-port=0");
    MAT_ARG("--batch-max-wait=100ms");
    MAT_ARG("--retry-initial=50ms");
    MAT_ARG("--retry-max=1s");
#undef MAT_ARG
    int extra_start = n;
    for (int i = 0; extra && extra[i]; i++)
        argv[n++] = (char *)extra[i];
    (void)extra_start;
    argv[n] = NULL;
    char line[512];
    tally_test_proc_t *p = tally_test_spawn(argv, "admin listening on", 30000, line, sizeof line);
    if (admin_port)
        *admin_port = tally_test_port_from_line(line);
    /* Then wait for the loop itself. */
    for (int waited = 0; strstr(tally_test_log(p), "consuming ") == NULL; waited += 20) {
        cr_assert(waited < 60000, "materializer did not start consuming; log:\n%s", tally_test_log(p));
        cr_assert_eq(tally_test_wait(p, 0), -1, "materializer exited; log:\n%s", tally_test_log(p));
        usleep(20 * 1000);
    }
    return p;
}

static MAT_UNUSED long mat_http_status(int port, const char *path, char *body, size_t bodysize)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 1);
    long st = r.status;
    if (body)
        snprintf(body, bodysize, "%s", r.body ? r.body : "");
    tally_test_response_free(&r);
    return st;
}

/* ---- producing input records ------------------------------------------ */

typedef struct {
    tally_catalog_t *cat;
    rd_kafka_t *rk;
    const tally_catalog_entry_t *schema[4];   /* api, seat, product, cp */
    tally_encoder_t *enc[4];
    avro_value_t value[4];
} mat_producer_t;

static MAT_UNUSED void mat_producer_open(mat_producer_t *p)
{
    char err[512];
    static const char *const names[4] = {"ApiUsageRollup", "SeatRollup", "ProductEventClean", "ControlPanelEvent"};
    memset(p, 0, sizeof *p);
    p->cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(p->cat, "%s", err);
    for (int i = 0; i < 4; i++) {
        p->schema[i] = tally_catalog_latest(p->cat, names[i]);
        cr_assert_not_null(p->schema[i]);
        p->enc[i] = tally_encoder_new(p->schema[i]);
        cr_assert_eq(tally_codec_value_new(p->schema[i], &p->value[i], err, sizeof err), 0, "%s", err);
    }
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_PRODUCER, tally_test_brokers(), "mat-test-producer",
                                                 NULL, NULL, err, sizeof err);
    cr_assert_not_null(conf, "%s", err);
    cr_assert_eq(rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", err, sizeof err),
                 RD_KAFKA_CONF_OK);
    p->rk = tally_kafka_new(TALLY_KAFKA_PRODUCER, conf, err, sizeof err);
    cr_assert_not_null(p->rk, "%s", err);
}

static MAT_UNUSED void mat_producer_flush(mat_producer_t *p)
{
    cr_assert_eq(rd_kafka_flush(p->rk, 60000), RD_KAFKA_RESP_ERR_NO_ERROR, "produce flush timed out");
    cr_assert_eq(rd_kafka_outq_len(p->rk), 0);
}

static MAT_UNUSED void mat_producer_close(mat_producer_t *p)
{
    mat_producer_flush(p);
    rd_kafka_destroy(p->rk);
    for (int i = 0; i < 4; i++) {
        avro_value_decref(&p->value[i]);
        tally_encoder_free(p->enc[i]);
    }
    tally_catalog_free(p->cat);
}

static MAT_UNUSED void mat_produce_raw(mat_producer_t *p, const char *topic, const char *key, const void *value,
                                       size_t len)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(p->rk, 50);
            continue;
        }
        cr_assert_eq(err, RD_KAFKA_RESP_ERR_NO_ERROR, "produce: %s", rd_kafka_err2str(err));
        rd_kafka_poll(p->rk, 0);
        return;
    }
}

static MAT_UNUSED void mat_send(mat_producer_t *p, int which, const char *topic, const char *key)
{
    char err[512];
    const void *buf;
    size_t len;
    cr_assert_eq(tally_encoder_encode(p->enc[which], &p->value[which], &buf, &len, err, sizeof err), 0, "%s", err);
    mat_produce_raw(p, topic, key, buf, len);
}

static MAT_UNUSED void mat_set_str(avro_value_t *rec, const char *name, const char *v)
{
    avro_value_t f;
    cr_assert_eq(avro_value_get_by_name(rec, name, &f, NULL), 0, "no field %s", name);
    cr_assert_eq(avro_value_set_string(&f, v), 0);
}

static MAT_UNUSED void mat_set_long(avro_value_t *rec, const char *name, int64_t v)
{
    avro_value_t f;
    cr_assert_eq(avro_value_get_by_name(rec, name, &f, NULL), 0, "no field %s", name);
    cr_assert_eq(avro_value_set_long(&f, v), 0);
}

static MAT_UNUSED void mat_set_int(avro_value_t *rec, const char *name, int32_t v)
{
    avro_value_t f;
    cr_assert_eq(avro_value_get_by_name(rec, name, &f, NULL), 0, "no field %s", name);
    cr_assert_eq(avro_value_set_int(&f, v), 0);
}

/* A ["null", string] field: NULL sets null. */
static MAT_UNUSED void mat_set_opt_str(avro_value_t *rec, const char *name, const char *v)
{
    avro_value_t f, b;
    cr_assert_eq(avro_value_get_by_name(rec, name, &f, NULL), 0, "no field %s", name);
    if (v == NULL) {
        cr_assert_eq(avro_value_set_branch(&f, 0, &b), 0);
        cr_assert_eq(avro_value_set_null(&b), 0);
    } else {
        cr_assert_eq(avro_value_set_branch(&f, 1, &b), 0);
        cr_assert_eq(avro_value_set_string(&b, v), 0);
    }
}

/* A ["null", boolean] field: -1 sets null. */
static MAT_UNUSED void mat_set_opt_bool(avro_value_t *rec, const char *name, int v)
{
    avro_value_t f, b;
    cr_assert_eq(avro_value_get_by_name(rec, name, &f, NULL), 0, "no field %s", name);
    if (v < 0) {
        cr_assert_eq(avro_value_set_branch(&f, 0, &b), 0);
        cr_assert_eq(avro_value_set_null(&b), 0);
    } else {
        cr_assert_eq(avro_value_set_branch(&f, 1, &b), 0);
        cr_assert_eq(avro_value_set_boolean(&b, v), 0);
    }
}

static MAT_UNUSED void mat_send_api(mat_producer_t *p, const char *topic, const char *tenant, const char *env,
                                    int32_t day, int64_t calls, int64_t s4xx, int64_t s5xx, int64_t exec_ms,
                                    int64_t updated_at)
{
    avro_value_t *v = &p->value[0];
    char key[256];
    avro_value_reset(v);
    mat_set_str(v, "tenant_id", tenant);
    mat_set_str(v, "environment_id", env);
    mat_set_int(v, "day", day);
    mat_set_long(v, "api_calls", calls);
    mat_set_long(v, "status_4xx", s4xx);
    mat_set_long(v, "status_5xx", s5xx);
    mat_set_long(v, "exec_ms", exec_ms);
    mat_set_long(v, "updated_at", updated_at);
    snprintf(key, sizeof key, "%s|%s|%d", tenant, env, (int)day);
    mat_send(p, 0, topic, key);
}

static MAT_UNUSED void mat_send_seat(mat_producer_t *p, const char *topic, const char *tenant, int32_t day,
                                     int64_t in_use, int64_t peak, int64_t updated_at)
{
    avro_value_t *v = &p->value[1];
    char key[256];
    avro_value_reset(v);
    mat_set_str(v, "tenant_id", tenant);
    mat_set_int(v, "day", day);
    mat_set_long(v, "seats_in_use", in_use);
    mat_set_long(v, "seats_peak", peak);
    mat_set_long(v, "updated_at", updated_at);
    snprintf(key, sizeof key, "%s|%d", tenant, (int)day);
    mat_send(p, 1, topic, key);
}

/* A clean product event; properties: NULL-terminated key, value pairs. */
static MAT_UNUSED void mat_send_product(mat_producer_t *p, const char *topic, const char *event_id, int admin,
                                        const char *event, int64_t occurred_at, const char *install,
                                        const char *version, const char *const *properties, const char *error)
{
    avro_value_t *v = &p->value[2], f, b, item;
    avro_value_reset(v);
    mat_set_str(v, "event_id", event_id);
    cr_assert_eq(avro_value_get_by_name(v, "source", &f, NULL), 0);
    cr_assert_eq(avro_value_set_enum(&f, admin ? 1 : 0), 0);
    mat_set_str(v, "event", event);
    mat_set_long(v, "occurred_at", occurred_at);
    mat_set_long(v, "received_at", occurred_at + 1500);
    mat_set_str(v, "install_ref", install);
    mat_set_opt_str(v, "project_ref", "prj_ref_1");
    mat_set_opt_str(v, "version", version);
    mat_set_opt_bool(v, "ci", 0);
    mat_set_opt_bool(v, "new_user", -1);
    cr_assert_eq(avro_value_get_by_name(v, "properties", &f, NULL), 0);
    for (int i = 0; properties && properties[i]; i += 2) {
        cr_assert_eq(avro_value_add(&f, properties[i], &item, NULL, NULL), 0);
        cr_assert_eq(avro_value_set_string(&item, properties[i + 1]), 0);
    }
    cr_assert_eq(avro_value_get_by_name(v, "error", &f, NULL), 0);
    if (error == NULL) {
        cr_assert_eq(avro_value_set_branch(&f, 0, &b), 0);
        cr_assert_eq(avro_value_set_null(&b), 0);
    } else {
        cr_assert_eq(avro_value_set_branch(&f, 1, &b), 0);
        mat_set_str(&b, "message", error);
        mat_set_opt_str(&b, "stack", "at main (cli.js:1)");
    }
    mat_send(p, 2, topic, install);
}

/* Starts a ControlPanelEvent with the payload branch named kind; returns
 * the branch record for the caller to fill, then mat_send_cp. */
static MAT_UNUSED avro_value_t mat_cp_begin(mat_producer_t *p, const char *tenant, int64_t occurred_at,
                                            const char *kind)
{
    static int serial;
    avro_value_t *v = &p->value[3], f, b;
    char id[64];
    avro_value_reset(v);
    snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", ++serial);
    mat_set_str(v, "event_id", id);
    mat_set_str(v, "tenant_id", tenant);
    mat_set_long(v, "occurred_at", occurred_at);
    mat_set_long(v, "received_at", occurred_at + 10);
    cr_assert_eq(avro_value_get_by_name(v, "payload", &f, NULL), 0);
    avro_schema_t u = avro_value_get_schema(&f);
    int idx = -1;
    cr_assert_not_null(avro_schema_union_branch_by_name(u, &idx, kind), "no payload %s", kind);
    cr_assert_eq(avro_value_set_branch(&f, idx, &b), 0);
    return b;
}

static MAT_UNUSED void mat_send_cp(mat_producer_t *p, const char *topic, const char *tenant)
{
    mat_send(p, 3, topic, tenant);
}

static MAT_UNUSED void mat_cp_tenant(mat_producer_t *p, const char *topic, const char *tenant, int64_t at,
                                     const char *name)
{
    avro_value_t b = mat_cp_begin(p, tenant, at, "TenantRegistered");
    mat_set_str(&b, "name", name);
    mat_send_cp(p, topic, tenant);
}

static MAT_UNUSED void mat_cp_environment(mat_producer_t *p, const char *topic, const char *tenant, int64_t at,
                                          const char *env, const char *name, int kind)
{
    avro_value_t b = mat_cp_begin(p, tenant, at, "EnvironmentCreated"), f;
    mat_set_str(&b, "environment_id", env);
    mat_set_str(&b, "name", name);
    cr_assert_eq(avro_value_get_by_name(&b, "kind", &f, NULL), 0);
    cr_assert_eq(avro_value_set_enum(&f, kind), 0);   /* 0 production, 1 staging, 2 development */
    mat_set_str(&b, "owner", "member-1");
    mat_send_cp(p, topic, tenant);
}

static MAT_UNUSED void mat_cp_license(mat_producer_t *p, const char *topic, const char *tenant, int64_t at,
                                      int32_t from, int32_t until, int64_t seats, int64_t monthly, int64_t daily)
{
    avro_value_t b = mat_cp_begin(p, tenant, at, "LicenseTermsSet"), f, item;
    mat_set_long(&b, "seats_max", seats);
    mat_set_long(&b, "monthly_api_calls_max", monthly);
    mat_set_long(&b, "daily_api_calls_max_nonprod", daily);
    cr_assert_eq(avro_value_get_by_name(&b, "features", &f, NULL), 0);
    cr_assert_eq(avro_value_append(&f, &item, NULL), 0);
    cr_assert_eq(avro_value_set_string(&item, "sso"), 0);
    cr_assert_eq(avro_value_append(&f, &item, NULL), 0);
    cr_assert_eq(avro_value_set_string(&item, "audit \"log\""), 0);
    mat_set_int(&b, "valid_from", from);
    mat_set_int(&b, "valid_until", until);
    mat_send_cp(p, topic, tenant);
}

static MAT_UNUSED void mat_cp_member(mat_producer_t *p, const char *topic, const char *tenant, int64_t at,
                                     const char *member, int added)
{
    avro_value_t b = mat_cp_begin(p, tenant, at, added ? "MemberAdded" : "MemberRemoved");
    mat_set_str(&b, "member_id", member);
    if (added) {
        mat_set_str(&b, "first_name", "Ada");
        mat_set_str(&b, "last_name", "Lovelace");
        mat_set_str(&b, "email", "ada@example.com");
        mat_set_str(&b, "role", "admin");
    }
    mat_send_cp(p, topic, tenant);
}

static MAT_UNUSED void mat_cp_key(mat_producer_t *p, const char *topic, const char *tenant, int64_t at,
                                  const char *key_id, const char *env, const char *sha256)
{
    avro_value_t b = mat_cp_begin(p, tenant, at, sha256 ? "ApiKeyIssued" : "ApiKeyRevoked");
    mat_set_str(&b, "key_id", key_id);
    if (sha256) {
        mat_set_str(&b, "environment_id", env);
        mat_set_str(&b, "key_sha256", sha256);
    }
    mat_send_cp(p, topic, tenant);
}

/* ---- ControlPanelEvent versions (schema evolution) -------------------- */

/* A new ControlPanelEvent value *v of schema (any version; the caller
 * decrefs it) with payload branch kind; returns the branch to fill. */
static MAT_UNUSED avro_value_t mat_cp_value(const tally_catalog_entry_t *schema, avro_value_t *v, const char *tenant,
                                            int64_t at, const char *kind)
{
    static int serial;
    char err[512], id[64];
    avro_value_t f, b;
    int idx = -1;
    cr_assert_eq(tally_codec_value_new(schema, v, err, sizeof err), 0, "%s", err);
    snprintf(id, sizeof id, "00000000-0000-4000-9000-%012d", ++serial);
    mat_set_str(v, "event_id", id);
    mat_set_str(v, "tenant_id", tenant);
    mat_set_long(v, "occurred_at", at);
    mat_set_long(v, "received_at", at + 1);
    cr_assert_eq(avro_value_get_by_name(v, "payload", &f, NULL), 0);
    cr_assert_not_null(avro_schema_union_branch_by_name(avro_value_get_schema(&f), &idx, kind), "%s v%d has no %s",
                       schema->name, schema->version, kind);
    cr_assert_eq(avro_value_set_branch(&f, idx, &b), 0);
    return b;
}

/* Encodes v (of schema), releases it and produces it to topic. */
static MAT_UNUSED void mat_produce_value(mat_producer_t *p, const tally_catalog_entry_t *schema, avro_value_t *v,
                                         const char *topic, const char *key)
{
    char err[512];
    const void *buf;
    size_t len;
    tally_encoder_t *enc = tally_encoder_new(schema);
    cr_assert_eq(tally_encoder_encode(enc, v, &buf, &len, err, sizeof err), 0, "%s", err);
    mat_produce_raw(p, topic, key, buf, len);
    tally_encoder_free(enc);
    avro_value_decref(v);
}

/* The ControlPanelEvent version mat_schemas_variant invents: one past the
 * latest in schemas/. */
#define MAT_CP_FUTURE_VERSION 5

/* A copy of schemas/ into dir (size bytes) as a deployment may have it:
 * future != 0 adds a ControlPanelEvent version MAT_CP_FUTURE_VERSION (the
 * latest with one more payload branch, ConsoleFuture{note}); future == 0
 * removes versions 2 to 4 (a deployment that never received them). Remove
 * it with mat_rm_dir. */
static MAT_UNUSED void mat_schemas_variant(char *dir, size_t size, int future)
{
    static int serial;
    char cmd[8192], path[512];
    snprintf(dir, size, "/tmp/tally-schemas-%d-%d", (int)getpid(), ++serial);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", dir, tally_test_source_path("schemas"), dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    if (!future) {
        for (int version = 2; version < MAT_CP_FUTURE_VERSION; version++) {
            snprintf(path, sizeof path, "%s/ControlPanelEvent/%d.avsc", dir, version);
            cr_assert_eq(unlink(path), 0, "%s", path);
        }
        return;
    }
    json_error_t je;
    size_t i;
    snprintf(path, sizeof path, "%s/ControlPanelEvent/%d.avsc", dir, MAT_CP_FUTURE_VERSION - 1);
    json_t *s = json_load_file(path, 0, &je), *f;
    cr_assert_not_null(s, "%s", je.text);
    json_array_foreach(json_object_get(s, "fields"), i, f)
        if (strcmp(json_string_value(json_object_get(f, "name")), "payload") == 0)
            json_array_append_new(json_object_get(f, "type"),
                                  json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "type", "record", "name", "ConsoleFuture",
                                            "fields", "name", "note", "type", "string"));
    snprintf(path, sizeof path, "%s/ControlPanelEvent/%d.avsc", dir, MAT_CP_FUTURE_VERSION);
    cr_assert_eq(json_dump_file(s, path, JSON_INDENT(2)), 0);
    json_decref(s);
}

static MAT_UNUSED void mat_rm_dir(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* A UsageAlert (version 1) in *v (owned by the caller: release with
 * avro_value_decref, or mat_produce_value does). metric: 0 MONTHLY_API_CALLS,
 * 1 NONPROD_DAILY_API_CALLS, 2 SEATS_PEAK; state: 0 TRIGGERED, 1 RESOLVED;
 * env NULL for none. */
typedef struct {
    const char *id, *tenant, *env, *period;
    int metric, state;
    int32_t threshold;
    int64_t value, limit, at;
} mat_alert_t;

static MAT_UNUSED const tally_catalog_entry_t *mat_alert_schema(const tally_catalog_t *cat)
{
    const tally_catalog_entry_t *e = tally_catalog_get(cat, "UsageAlert", 1);
    cr_assert_not_null(e, "the catalog has no UsageAlert version 1");
    return e;
}

static MAT_UNUSED void mat_alert_value(const tally_catalog_entry_t *schema, avro_value_t *v, const mat_alert_t *a)
{
    char err[512];
    avro_value_t f;
    cr_assert_eq(tally_codec_value_new(schema, v, err, sizeof err), 0, "%s", err);
    mat_set_str(v, "alert_id", a->id);
    mat_set_str(v, "tenant_id", a->tenant);
    mat_set_opt_str(v, "environment_id", a->env);
    cr_assert_eq(avro_value_get_by_name(v, "metric", &f, NULL), 0);
    cr_assert_eq(avro_value_set_enum(&f, a->metric), 0);
    mat_set_int(v, "threshold", a->threshold);
    mat_set_long(v, "value", a->value);
    mat_set_long(v, "limit", a->limit);
    mat_set_str(v, "period", a->period);
    cr_assert_eq(avro_value_get_by_name(v, "state", &f, NULL), 0);
    cr_assert_eq(avro_value_set_enum(&f, a->state), 0);
    mat_set_long(v, "at", a->at);
}

/* A v4-looking UUID made of n (distinct n, distinct UUID). */
static MAT_UNUSED void mat_uuid(char out[40], long long n)
{
    snprintf(out, 40, "%08llx-0000-4000-8000-%012llx", (n >> 20) & 0xffffffffLL, n);
}

#endif
