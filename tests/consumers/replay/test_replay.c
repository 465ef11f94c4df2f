/* tally-replay on the real broker and PostgreSQL, black box: usage records
 * produced with the codec to unique topics go through the real pipeline
 * (tally-aggregator, then tally-materializer into a fresh database), then
 * the tally-replay binary audits, rebuilds and exports.
 *
 *   - a clean pipeline audits clean (exit 0), whole and per tenant;
 *   - rows altered, deleted or added by hand are found and named (tenant,
 *     environment, day, field, expected against materialized), exit 1;
 *   - usage records that were never materialized are found;
 *   - --from reads a warm-up before the window, compares whole days only,
 *     and flags what it cannot vouch for instead of failing;
 *   - rebuild gives tables identical to the live ones, names a table that
 *     differs, and --swap makes the rebuilt tables live with the views and
 *     the tally_reader grants working and the materializer going on;
 *   - export's totals equal the rollups' and its offset ranges hold the
 *     records it names;
 *   - clear errors: broker or database unreachable, missing topic, bad
 *     time or period, unknown tenant.
 */
#include "../../aggregator/agg_gen.h"
#include "../../aggregator/agg_kafka.h"
#include "../materializer/mat_fixture.h"

#include "kafka_topics.h"
#include "usage_record.h"

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#define DAY_MS 86400000LL
#define HOUR_MS 3600000LL
/* 2024-03-01T00:00:00Z */
#define T0 ((int64_t)MAT_DAY(2024, 3, 1) * DAY_MS)
#define AT(day, hour) (T0 + (int64_t)((day) - 1) * DAY_MS + (int64_t)(hour) * HOUR_MS)

typedef struct rep_t {
    const char *tenant, *env;
    char id[37];
    int64_t started_at, seq;
    int64_t c[4];
} rep_t;

typedef struct pipe_t {
    agg_env_t agg;              /* usage in, rollups, changelog, dlq */
    mat_env_t mat;              /* database; topics[0] is agg.rollups */
    tally_catalog_t *cat;
    agg_gen_t gen;
    agg_producer_t prod;
    mat_producer_t matp;        /* product and Control Panel records */
    size_t usage, product, cp;  /* records produced */
} pipe_t;

static pipe_t P;
static tally_test_proc_t *running;  /* a materializer a failed test left: killed by teardown */

/* ---- topics and records ------------------------------------------------- */

/* A topic that keeps its records whatever their timestamps (the test
 * default of one hour would delete records dated 2024). */
static void topic_forever(const char *name, int partitions)
{
    char err[512];
    tally_topic_spec_t spec;
    memset(&spec, 0, sizeof spec);
    snprintf(spec.name, sizeof spec.name, "%s", name);
    spec.partitions = partitions;
    spec.retention_ms = -1;
    snprintf(spec.cleanup_policy, sizeof spec.cleanup_policy, "delete");
    tally_topic_list_t list = {&spec, 1};
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_PRODUCER, tally_test_brokers(), "replay-test-admin",
                                                 NULL, NULL, err, sizeof err);
    cr_assert_not_null(conf, "%s", err);
    rd_kafka_t *rk = tally_kafka_new(TALLY_KAFKA_PRODUCER, conf, err, sizeof err);
    cr_assert_not_null(rk, "%s", err);
    cr_assert_eq(tally_topics_ensure(rk, &list, 30000, NULL, err, sizeof err), 0, "%s", err);
    rd_kafka_destroy(rk);
}

/* Unique topics and a fresh database; the usage topic keeps old
 * timestamps when forever. */
static void pipe_open(pipe_t *p, int forever)
{
    char err[512];
    memset(p, 0, sizeof *p);
    tally_test_unique_name("rpl.usage", p->agg.usage, sizeof p->agg.usage);
    tally_test_unique_name("rpl.rollups", p->agg.rollups, sizeof p->agg.rollups);
    tally_test_unique_name("rpl.changelog", p->agg.changelog, sizeof p->agg.changelog);
    tally_test_unique_name("rpl.dlq", p->agg.dlq, sizeof p->agg.dlq);
    tally_test_unique_name("rpl-agg", p->agg.group, sizeof p->agg.group);
    if (forever)
        topic_forever(p->agg.usage, 3);
    else
        tally_test_topic_create(p->agg.usage, 3);
    tally_test_topic_create(p->agg.rollups, 3);
    tally_test_topic_create(p->agg.changelog, 3);
    tally_test_topic_create(p->agg.dlq, 3);
    mat_env_create(&p->mat, 3);
    cr_assert_lt(strlen(p->agg.rollups), sizeof p->mat.topics[0]);
    memcpy(p->mat.topics[0], p->agg.rollups, strlen(p->agg.rollups) + 1);
    p->cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(p->cat, "%s", err);
    cr_assert_eq(agg_gen_init(&p->gen, p->cat), 0);
    agg_producer_init(&p->prod);
    mat_producer_open(&p->matp);
}

static void pipe_close(pipe_t *p)
{
    if (p->prod.rk)
        agg_producer_close(&p->prod);
    if (p->matp.rk)
        mat_producer_close(&p->matp);
    agg_gen_done(&p->gen);
    tally_catalog_free(p->cat);
    mat_env_destroy(&p->mat);
}

static void setup(void)
{
    pipe_open(&P, 0);
}

static void setup_forever(void)
{
    pipe_open(&P, 1);
}

static void teardown(void)
{
    tally_test_proc_free(running);
    running = NULL;
    pipe_close(&P);
}

static void produce_usage(pipe_t *p, const char *key, const void *value, size_t len, int64_t ts)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->prod.rk, RD_KAFKA_V_TOPIC(p->agg.usage), RD_KAFKA_V_KEY((void *)key, strlen(key)),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        cr_assert_eq(err, RD_KAFKA_RESP_ERR__QUEUE_FULL, "produce: %s", rd_kafka_err2str(err));
        rd_kafka_poll(p->prod.rk, 10);
    }
    rd_kafka_poll(p->prod.rk, 0);
    p->usage++;
}

static void rep_init(rep_t *r, const char *tenant, const char *env, uint64_t n, int64_t started_at)
{
    memset(r, 0, sizeof *r);
    r->tenant = tenant;
    r->env = env;
    agg_uuid(r->id, 0x5e9, n);
    r->started_at = started_at;
}

/* Sends r's report at observed_at as is (a duplicate or stale one: the
 * caller sets seq and counters); ts: the record's timestamp (0: now). */
static void send_report_raw(pipe_t *p, const rep_t *r, int64_t at, int64_t ts)
{
    char err[256];
    const void *buf;
    size_t len;
    avro_value_t *v = &p->gen.uv;
    avro_value_reset(v);
    cr_assert_eq(agg_set_str(v, "tenant_id", r->tenant) || agg_set_str(v, "environment_id", r->env) ||
                     agg_set_str(v, "reporter_id", r->id) || agg_set_long(v, "reporter_started_at", r->started_at) ||
                     agg_set_long(v, "seq", r->seq) || agg_set_long(v, "observed_at", at) ||
                     agg_set_long(v, "api_calls", r->c[0]) || agg_set_long(v, "status_4xx", r->c[1]) ||
                     agg_set_long(v, "status_5xx", r->c[2]) || agg_set_long(v, "exec_ms", r->c[3]),
                 0);
    cr_assert_eq(tally_encoder_encode(p->gen.uenc, v, &buf, &len, err, sizeof err), 0, "%s", err);
    produce_usage(p, r->tenant, buf, len, ts);
}

/* The reporter's next report: its counters grow by step's amounts. */
static void send_report(pipe_t *p, rep_t *r, int64_t at, int64_t ts, int step)
{
    r->seq++;
    r->c[0] += 10 + step;
    r->c[1] += step % 3;
    r->c[2] += step % 4 == 0;
    r->c[3] += 25 * (step + 1);
    send_report_raw(p, r, at, ts);
}

static void send_seat(pipe_t *p, const char *tenant, const char *seat, uint64_t n, int assigned, int64_t at,
                      int64_t ts)
{
    char id[37];
    const void *buf;
    size_t len;
    agg_uuid(id, 0x5ea7, n);
    tally_rollup_seat_event_t e = {.event_id = id, .tenant_id = tenant, .seat_ref = seat,
                                   .op = assigned ? TALLY_SEAT_ASSIGNED : TALLY_SEAT_RELEASED, .occurred_at = at};
    cr_assert_eq(agg_gen_seat(&p->gen, &e, &buf, &len), 0);
    produce_usage(p, tenant, buf, len, ts);
}

/* Four days of March 2024: two tenants, a reporter restart, a staging
 * environment, a duplicate and a stale report, seats assigned and released. */
static void basic_usage(pipe_t *p)
{
    rep_t a, b, c, d;
    rep_init(&a, "acme", "prod", 1, AT(1, 0));
    rep_init(&b, "acme", "prod", 2, AT(3, 12));
    rep_init(&c, "acme", "staging", 3, AT(1, 0));
    rep_init(&d, "globex", "prod", 4, AT(1, 12));
    for (int step = 0; step < 16; step++) {
        int64_t at = AT(1, 0) + (int64_t)step * 6 * HOUR_MS + 60000;
        send_report(p, &a, at, 0, step);
        if (step >= 10)
            send_report(p, &b, at + 1000, 0, step);
        if (step < 8)
            send_report(p, &c, at + 2000, 0, step);
        if (step >= 2)
            send_report(p, &d, at + 3000, 0, step);
        if (step == 5)
            send_report_raw(p, &a, at, 0);      /* the same report again */
        if (step == 9) {
            rep_t stale = a;
            stale.seq -= 2;
            stale.c[0] -= 30;
            send_report_raw(p, &stale, at - HOUR_MS, 0);
        }
    }
    send_seat(p, "acme", "seat-1", 1, 1, AT(1, 9), 0);
    send_seat(p, "acme", "seat-2", 2, 1, AT(1, 10), 0);
    send_seat(p, "globex", "seat-g", 3, 1, AT(2, 8), 0);
    send_seat(p, "acme", "seat-1", 4, 0, AT(3, 12), 0);
    send_seat(p, "acme", "seat-3", 5, 1, AT(4, 7), 0);
    send_seat(p, "acme", "seat-3", 6, 0, AT(4, 17), 0);
    rd_kafka_flush(p->prod.rk, 30000);
}

/* Product events and Control Panel events for the rebuild. */
static void basic_materializer_input(pipe_t *p)
{
    const char *const props[] = {"command", "deploy", NULL};
    char id[40];
    for (int i = 0; i < 12; i++) {
        mat_uuid(id, 1000 + i);
        mat_send_product(&p->matp, p->mat.topics[1], id, i % 2, i % 3 ? "cli.command" : "admin.page_view",
                         AT(1 + i % 4, 9), i % 4 ? "inst-a" : "inst-b", i % 5 ? "1.2.0" : NULL, props, NULL);
        p->product++;
    }
    mat_cp_tenant(&p->matp, p->mat.topics[2], "acme", AT(1, 0), "Acme Corp");
    mat_cp_tenant(&p->matp, p->mat.topics[2], "globex", AT(1, 0), "Globex");
    mat_cp_environment(&p->matp, p->mat.topics[2], "acme", AT(1, 1), "prod", "Production", 0);
    mat_cp_environment(&p->matp, p->mat.topics[2], "acme", AT(1, 1), "staging", "Staging", 1);
    mat_cp_environment(&p->matp, p->mat.topics[2], "globex", AT(1, 1), "prod", "Production", 0);
    mat_cp_license(&p->matp, p->mat.topics[2], "acme", AT(1, 2), MAT_DAY(2024, 1, 1), MAT_DAY(2024, 12, 31), 10, 5000,
                   300);
    mat_cp_member(&p->matp, p->mat.topics[2], "acme", AT(1, 3), "member-1", 1);
    mat_cp_key(&p->matp, p->mat.topics[2], "acme", AT(1, 4), "key-1", "prod",
               "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    /* Console tokens (ControlPanelEvent v2): one revoked, one not. */
    static const char *const tokens[2] = {"11111111-1111-4111-8111-111111111111",
                                          "22222222-2222-4222-8222-222222222222"};
    for (int i = 0; i < 2; i++) {
        avro_value_t b = mat_cp_begin(&p->matp, "acme", AT(1, 5 + i), "ConsoleTokenIssued");
        mat_set_str(&b, "token_id", tokens[i]);
        mat_set_str(&b, "member_id", "member-1");
        mat_set_str(&b, "token_sha256", i ? "2222222222222222222222222222222222222222222222222222222222222222"
                                          : "1111111111111111111111111111111111111111111111111111111111111111");
        mat_set_long(&b, "expires_at", AT(2, 5));
        mat_send_cp(&p->matp, p->mat.topics[2], "acme");
    }
    avro_value_t rb = mat_cp_begin(&p->matp, "acme", AT(1, 8), "ConsoleTokenRevoked");
    mat_set_str(&rb, "token_id", tokens[0]);
    mat_send_cp(&p->matp, p->mat.topics[2], "acme");
    p->cp += 11;
    mat_producer_flush(&p->matp);
}

/* ---- the pipeline --------------------------------------------------------- */

/* Runs the pipeline over everything produced so far and stops it: the
 * aggregator until it committed every usage record, the materializer until
 * it stored the offsets of every rollup, product and Control Panel record. */
static void pipe_run(pipe_t *p)
{
    char line[512];
    struct stat sb;
    rd_kafka_flush(p->prod.rk, 30000);
    mat_producer_flush(&p->matp);
    /* The real aggregator, never a stand-in: without it the test fails. */
    cr_assert_eq(stat(tally_test_bin("tally-aggregator"), &sb), 0, "%s is not built", tally_test_bin("tally-aggregator"));
    /* The tests' logs are built around a 7-day reporter idle time: pin it
     * on both sides, as a deployment must. */
    const char *const idle[] = {"--reporter-idle=168h", NULL};
    tally_test_proc_t *agg = agg_spawn(&p->agg, "replay-test", idle, line, sizeof line);
    int done = agg_wait_done(&p->agg, 90000);
    cr_assert_eq(done, 0, "the aggregator did not commit every record; log:\n%s", tally_test_log(agg));
    tally_test_signal(agg, SIGTERM);
    cr_assert_eq(tally_test_wait(agg, 30000), 0, "aggregator exit; log:\n%s", tally_test_log(agg));
    tally_test_proc_free(agg);
    /* Where the materializer will be once it has everything: after the last
     * record of each partition (the topic is transactional: offsets have
     * gaps). */
    agg_record_t *recs;
    size_t n = agg_read_all(p->agg.rollups, &recs);
    long long last[3] = {-1, -1, -1}, want[3] = {0, (long long)p->product, (long long)p->cp};
    for (size_t i = 0; i < n; i++)
        if (recs[i].offset > last[recs[i].partition])
            last[recs[i].partition] = recs[i].offset;
    for (int i = 0; i < 3; i++)
        want[0] += last[i] + 1;
    agg_records_free(recs, n);
    tally_test_proc_t *m = running = mat_start(&p->mat, p->mat.db, p->mat.group, NULL, NULL);
    mat_wait_caught_up(p->mat.conn, &p->mat, p->mat.group, want, 60000);
    tally_test_signal(m, SIGTERM);
    cr_assert_eq(tally_test_wait(m, 30000), 0, "materializer exit; log:\n%s", tally_test_log(m));
    tally_test_proc_free(m);
    running = NULL;
}

/* ---- tally-replay ------------------------------------------------------------ */

typedef struct run_t {
    int status;
    char *out;      /* the report (--output) */
    char *log;      /* stderr */
} run_t;

static void run_free(run_t *r)
{
    free(r->out);
    free(r->log);
    memset(r, 0, sizeof *r);
}

/* Runs tally-replay on p's topics and database with args (NULL-terminated:
 * the command and its flags, after the defaults), without the defaults
 * when bare. */
static run_t replay_args(const pipe_t *p, int bare, const char *const *args)
{
    static char a[40][512];
    char *argv[48], path[] = "/tmp/tally-replay-test-XXXXXX";
    int n = 0, fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
#define ARG(...)                                                                                                   \
    do {                                                                                                           \
        snprintf(a[n], sizeof a[n], __VA_ARGS__);                                                                  \
        argv[n] = a[n];                                                                                            \
        n++;                                                                                                       \
    } while (0)
    ARG("%s", tally_test_bin("tally-replay"));
    ARG("--output=%s", path);
    ARG("--schemas=%s", tally_test_source_path("schemas"));
    if (!bare) {
        ARG("--brokers=%s", tally_test_brokers());
        ARG("--pg-url=%s", tally_test_pg_url(p->mat.db));
        ARG("--usage-topic=%s", p->agg.usage);
        ARG("--rollups-topic=%s", p->mat.topics[0]);
        ARG("--product-topic=%s", p->mat.topics[1]);
        ARG("--controlpanel-topic=%s", p->mat.topics[2]);
        ARG("--materializer-group=%s", p->mat.group);
        ARG("--stall-timeout=30s");
        ARG("--reporter-idle=168h");
    }
    for (int i = 0; args[i]; i++)   /* last: they override the defaults */
        ARG("%s", args[i]);
#undef ARG
    argv[n] = NULL;
    tally_test_proc_t *proc = tally_test_spawn(argv, NULL, 0, NULL, 0);
    run_t r;
    r.status = tally_test_wait(proc, 120000);
    cr_assert_neq(r.status, -1, "tally-replay did not finish; log:\n%s", tally_test_log(proc));
    r.log = strdup(tally_test_log(proc));
    tally_test_proc_free(proc);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t cap = 1 << 16, len = 0;
    r.out = malloc(cap);
    for (size_t k; (k = fread(r.out + len, 1, cap - len - 1, f)) > 0;) {
        len += k;
        if (len + 1 == cap)
            r.out = realloc(r.out, cap *= 2);
    }
    r.out[len] = '\0';
    fclose(f);
    unlink(path);
    return r;
}

#define REPLAY(p, ...) replay_args((p), 0, (const char *const[]){__VA_ARGS__, NULL})
#define REPLAY_BARE(...) replay_args(NULL, 1, (const char *const[]){__VA_ARGS__, NULL})

static json_t *parse_json(const run_t *r)
{
    json_error_t e;
    json_t *j = json_loads(r->out, 0, &e);
    cr_assert_not_null(j, "not JSON (%s): %s\nlog:\n%s", e.text, r->out, r->log);
    return j;
}

/* Whether some line of text holds every one of words (NULL-terminated). */
static int line_with(const char *text, const char *const *words)
{
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        int all = 1;
        for (int i = 0; words[i] && all; i++) {
            const char *hit = strstr(line, words[i]);
            all = hit != NULL && hit < line + len;
        }
        if (all)
            return 1;
        line = end ? end + 1 : NULL;
    }
    return 0;
}
#define LINE_WITH(text, ...) line_with((text), (const char *const[]){__VA_ARGS__, NULL})

/* The difference of an audit's JSON for (kind, tenant, environment or NULL,
 * day), or NULL. */
static json_t *find_diff(json_t *audit, const char *kind, const char *tenant, const char *env, const char *day)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(audit, "differences"), i, d)
    {
        const char *e = json_string_value(json_object_get(d, "environment_id"));
        if (strcmp(json_string_value(json_object_get(d, "kind")), kind) == 0 &&
            strcmp(json_string_value(json_object_get(d, "tenant_id")), tenant) == 0 &&
            strcmp(json_string_value(json_object_get(d, "day")), day) == 0 &&
            ((env == NULL && e == NULL) || (env && e && strcmp(env, e) == 0)))
            return d;
    }
    return NULL;
}

/* expected and materialized of one field of a difference. */
static void diff_field(json_t *d, const char *field, json_t **expected, json_t **materialized)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(d, "fields"), i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "field")), field) == 0) {
            *expected = json_object_get(f, "expected");
            *materialized = json_object_get(f, "materialized");
            return;
        }
    }
    cr_assert_fail("no field %s in the difference", field);
}

static long long rows_in(const pipe_t *p, const char *table)
{
    return mat_scalar(p->mat.conn, "SELECT count(*) FROM tally.%s", table);
}

/* ---- audit -------------------------------------------------------------------- */

TestSuite(replay, .init = setup, .fini = teardown, .timeout = 240);

Test(replay, clean_pipeline_audits_clean)
{
    basic_usage(&P);
    pipe_run(&P);
    long long api = rows_in(&P, "api_usage_daily"), seats = rows_in(&P, "seat_usage_daily");
    cr_assert_gt(api, 8, "the pipeline materialized %lld API rows", api);
    cr_assert_gt(seats, 2);

    run_t r = REPLAY(&P, "audit");
    cr_assert_eq(r.status, 0, "audit of a clean pipeline: status %d\n%s\nlog:\n%s", r.status, r.out, r.log);
    cr_assert(strstr(r.out, "RESULT: identical"), "%s", r.out);
    run_free(&r);

    r = REPLAY(&P, "audit", "--json");
    cr_assert_eq(r.status, 0, "%s", r.log);
    json_t *j = parse_json(&r);
    cr_assert(json_is_true(json_object_get(j, "identical")));
    json_t *rows = json_object_get(j, "rows");
    cr_assert_eq(json_integer_value(json_object_get(rows, "recomputed")), api + seats);
    cr_assert_eq(json_integer_value(json_object_get(rows, "materialized")), api + seats);
    cr_assert_eq(json_integer_value(json_object_get(rows, "unverifiable")), 0);
    json_t *recs = json_object_get(j, "records");
    cr_assert_eq(json_integer_value(json_object_get(recs, "read")), (json_int_t)P.usage);
    cr_assert_eq(json_integer_value(json_object_get(recs, "duplicate")), 1);
    cr_assert_eq(json_integer_value(json_object_get(recs, "stale")), 1);
    json_decref(j);
    run_free(&r);

    r = REPLAY(&P, "audit", "--tenant", "globex", "--json");
    cr_assert_eq(r.status, 0, "%s", r.log);
    j = parse_json(&r);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "rows"), "materialized")),
                 mat_scalar(P.mat.conn, "SELECT (SELECT count(*) FROM tally.api_usage_daily WHERE tenant_id = "
                                        "'globex') + (SELECT count(*) FROM tally.seat_usage_daily WHERE tenant_id = "
                                        "'globex')"));
    json_decref(j);
    run_free(&r);
}

Test(replay, altered_rows_are_found_and_named)
{
    basic_usage(&P);
    pipe_run(&P);
    long long calls = mat_scalar(P.mat.conn, "SELECT api_calls FROM tally.api_usage_daily WHERE tenant_id = 'acme' "
                                             "AND environment_id = 'prod' AND day = '2024-03-02'");
    long long peak = mat_scalar(P.mat.conn, "SELECT seats_peak FROM tally.seat_usage_daily WHERE tenant_id = 'acme' "
                                            "AND day = '2024-03-01'");
    mat_exec(P.mat.conn, "UPDATE tally.api_usage_daily SET api_calls = api_calls + 7 WHERE tenant_id = 'acme' AND "
                         "environment_id = 'prod' AND day = '2024-03-02'");
    mat_exec(P.mat.conn, "DELETE FROM tally.seat_usage_daily WHERE tenant_id = 'acme' AND day = '2024-03-01'");
    mat_exec(P.mat.conn, "INSERT INTO tally.api_usage_daily VALUES ('globex', 'dev', '2024-03-03', 5, 0, 0, 9, "
                         "'2024-03-03T10:00:00Z', 0, 0)");

    run_t r = REPLAY(&P, "audit");
    cr_assert_eq(r.status, 1, "status %d\n%s\nlog:\n%s", r.status, r.out, r.log);
    char exp[32], act[32];
    snprintf(exp, sizeof exp, " %lld ", calls);
    snprintf(act, sizeof act, " %lld", calls + 7);
    cr_assert(LINE_WITH(r.out, "differs", "api_usage_daily", "acme", "prod", "2024-03-02", "api_calls", exp, act),
              "the altered value is named:\n%s", r.out);
    cr_assert(LINE_WITH(r.out, "missing", "seat_usage_daily", "acme", "2024-03-01", "seats_peak"), "%s", r.out);
    cr_assert(LINE_WITH(r.out, "unexpected", "api_usage_daily", "globex", "dev", "2024-03-03", "api_calls"), "%s",
              r.out);
    cr_assert(strstr(r.out, "RESULT: 3 row(s) differ"), "%s", r.out);
    run_free(&r);

    r = REPLAY(&P, "audit", "--json");
    cr_assert_eq(r.status, 1);
    json_t *j = parse_json(&r), *e, *m;
    cr_assert(json_is_false(json_object_get(j, "identical")));
    cr_assert_eq(json_array_size(json_object_get(j, "differences")), 3, "%s", r.out);
    json_t *d = find_diff(j, "differs", "acme", "prod", "2024-03-02");
    cr_assert_not_null(d, "%s", r.out);
    cr_assert_eq(json_array_size(json_object_get(d, "fields")), 1, "only api_calls differs: %s", r.out);
    diff_field(d, "api_calls", &e, &m);
    cr_assert_eq(json_integer_value(e), calls);
    cr_assert_eq(json_integer_value(m), calls + 7);
    d = find_diff(j, "missing", "acme", NULL, "2024-03-01");
    cr_assert_not_null(d, "%s", r.out);
    diff_field(d, "seats_peak", &e, &m);
    cr_assert_eq(json_integer_value(e), peak);
    cr_assert(json_is_null(m));
    cr_assert_not_null(find_diff(j, "unexpected", "globex", "dev", "2024-03-03"));
    json_decref(j);
    run_free(&r);

    /* Per tenant: only that tenant's differences. */
    r = REPLAY(&P, "audit", "--tenant", "globex", "--json");
    cr_assert_eq(r.status, 1);
    j = parse_json(&r);
    cr_assert_eq(json_array_size(json_object_get(j, "differences")), 1, "%s", r.out);
    json_decref(j);
    run_free(&r);
}

Test(replay, records_never_materialized_are_found)
{
    basic_usage(&P);
    pipe_run(&P);
    long long calls = mat_scalar(P.mat.conn, "SELECT api_calls FROM tally.api_usage_daily WHERE tenant_id = "
                                             "'globex' AND environment_id = 'prod' AND day = '2024-03-03'");
    /* After the pipeline stopped: a new reporter's first report on a day
     * that has a row, and a report on a day that has none. */
    rep_t late;
    rep_init(&late, "globex", "prod", 77, AT(3, 20));
    late.seq = 1;
    late.c[0] = 50;
    send_report_raw(&P, &late, AT(3, 21), 0);
    rep_t fresh;
    rep_init(&fresh, "globex", "eu", 78, AT(6, 1));
    fresh.seq = 1;
    fresh.c[0] = 12;
    send_report_raw(&P, &fresh, AT(6, 2), 0);
    rd_kafka_flush(P.prod.rk, 30000);

    run_t r = REPLAY(&P, "audit", "--json");
    cr_assert_eq(r.status, 1, "status %d\n%s\nlog:\n%s", r.status, r.out, r.log);
    json_t *j = parse_json(&r), *e, *m;
    cr_assert_eq(json_array_size(json_object_get(j, "differences")), 2, "%s", r.out);
    json_t *d = find_diff(j, "differs", "globex", "prod", "2024-03-03");
    cr_assert_not_null(d, "%s", r.out);
    diff_field(d, "api_calls", &e, &m);
    cr_assert_eq(json_integer_value(e), calls + 50);
    cr_assert_eq(json_integer_value(m), calls);
    d = find_diff(j, "missing", "globex", "eu", "2024-03-06");
    cr_assert_not_null(d, "%s", r.out);
    diff_field(d, "api_calls", &e, &m);
    cr_assert_eq(json_integer_value(e), 12);
    json_decref(j);
    run_free(&r);
}

/* Twenty days, the record timestamps those of the events, so that
 * offsets-for-times finds them. */
static void long_usage(pipe_t *p)
{
    rep_t e, f, g;
    rep_init(&e, "initech", "prod", 11, AT(1, 0));
    rep_init(&f, "initech", "prod", 12, AT(1, 0));
    rep_init(&g, "umbrella", "prod", 13, AT(1, 0));
    for (int half = 0; half < 40; half++) {
        int day = 1 + half / 2, hour = half % 2 ? 18 : 6;
        int64_t at = AT(day, hour);
        send_report(p, &e, at, at, half);
        send_report(p, &g, at + 1000, at + 1000, half);
        /* f reports on day 1, is silent for two weeks, comes back on day 17:
         * the aggregator has expired it and counts its whole total again. */
        if (day == 1 || day == 17 || day == 18)
            send_report(p, &f, at + 2000, at + 2000, half);
    }
    send_seat(p, "initech", "seat-1", 21, 1, AT(2, 9), AT(2, 9));
    send_seat(p, "initech", "seat-2", 22, 1, AT(16, 9), AT(16, 9));
    rd_kafka_flush(p->prod.rk, 30000);
}

TestSuite(replay_from, .init = setup_forever, .fini = teardown, .timeout = 240);

Test(replay_from, from_time_compares_whole_days_after_a_warmup)
{
    long_usage(&P);
    pipe_run(&P);

    /* The default warm-up (9 days) starts the read on March 6: every
     * reporter has a baseline; f, back on day 17, had certainly expired. */
    run_t r = REPLAY(&P, "audit", "--from", "2024-03-15", "--json");
    cr_assert_eq(r.status, 0, "status %d\n%s\nlog:\n%s", r.status, r.out, r.log);
    json_t *j = parse_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "first_day")), "2024-03-15");
    size_t i;
    json_t *part;
    int partial = 0;
    json_array_foreach(json_object_get(j, "partitions"), i, part)
    {
        if (json_integer_value(json_object_get(part, "records")) > 0) {
            cr_assert(json_is_false(json_object_get(part, "whole")), "%s", r.out);
            cr_assert_gt(json_integer_value(json_object_get(part, "start")), 0);
            partial++;
        }
    }
    cr_assert_gt(partial, 0);
    cr_assert_lt(json_integer_value(json_object_get(json_object_get(j, "records"), "read")), (json_int_t)P.usage,
                 "the read starts after the beginning");
    /* Only the seat row of March 16 is out of reach (seat-1 dates from March 2). */
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "rows"), "unverifiable")), 1, "%s", r.out);
    json_decref(j);
    run_free(&r);

    /* A two-day warm-up does not vouch for f: its row of day 17 is flagged,
     * not reported as a difference. */
    r = REPLAY(&P, "audit", "--from", "2024-03-15T00:00:00Z", "--warmup", "48h", "--json");
    cr_assert_eq(r.status, 0, "status %d\n%s\nlog:\n%s", r.status, r.out, r.log);
    j = parse_json(&r);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "rows"), "unverifiable")), 2, "%s", r.out);
    json_decref(j);
    run_free(&r);

    /* Rows altered inside and before the window. */
    mat_exec(P.mat.conn, "UPDATE tally.api_usage_daily SET exec_ms = exec_ms + 1 WHERE tenant_id = 'umbrella' AND "
                         "day = '2024-03-16'");
    mat_exec(P.mat.conn, "UPDATE tally.api_usage_daily SET api_calls = 1 WHERE tenant_id = 'umbrella' AND "
                         "day = '2024-03-05'");
    r = REPLAY(&P, "audit", "--from", "2024-03-15", "--json");
    cr_assert_eq(r.status, 1, "%s", r.log);
    j = parse_json(&r);
    cr_assert_eq(json_array_size(json_object_get(j, "differences")), 1, "%s", r.out);
    cr_assert_not_null(find_diff(j, "differs", "umbrella", "prod", "2024-03-16"), "%s", r.out);
    json_decref(j);
    run_free(&r);

    /* --from 12:00 starts at the next midnight; --to ends at the last one. */
    r = REPLAY(&P, "audit", "--from", "2024-03-14T12:00:00Z", "--to", "2024-03-16T06:00:00Z", "--json");
    cr_assert_eq(r.status, 0, "%s\n%s", r.out, r.log);
    j = parse_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "first_day")), "2024-03-15");
    cr_assert_str_eq(json_string_value(json_object_get(j, "last_day")), "2024-03-15");
    json_decref(j);
    run_free(&r);

    /* The whole log finds both. */
    r = REPLAY(&P, "audit", "--json");
    cr_assert_eq(r.status, 1);
    j = parse_json(&r);
    cr_assert_eq(json_array_size(json_object_get(j, "differences")), 2, "%s", r.out);
    cr_assert_not_null(find_diff(j, "differs", "umbrella", "prod", "2024-03-05"), "%s", r.out);
    json_decref(j);
    run_free(&r);
}

/* ---- rebuild ---------------------------------------------------------------------- */

/* count:md5 of every row of schema.table, ordered. */
static const char *digest(PGconn *c, const char *schema, const char *table)
{
    return mat_text(c, "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '-') "
                       "FROM %s.%s t", schema, table);
}

static const char *const read_model[] = {"tenants", "environments", "members", "api_keys", "license_terms",
                                         "console_tokens", "api_usage_daily", "seat_usage_daily", "product_events", "product_daily",
                                         "product_daily_installs", NULL};

Test(replay, rebuild_equals_the_live_schema)
{
    basic_usage(&P);
    basic_materializer_input(&P);
    pipe_run(&P);

    run_t r = REPLAY(&P, "rebuild", "--schema", "rebuilt");
    cr_assert_eq(r.status, 0, "status %d\n%s\nlog:\n%s", r.status, r.out, r.log);
    cr_assert(strstr(r.out, "RESULT: identical"), "%s", r.out);
    run_free(&r);
    for (int i = 0; read_model[i]; i++) {
        char live[256];
        snprintf(live, sizeof live, "%s", digest(P.mat.conn, "tally", read_model[i]));
        cr_assert_str_eq(digest(P.mat.conn, "rebuilt", read_model[i]), live, "%s", read_model[i]);
        cr_assert_neq(strncmp(live, "0:", 2), 0, "%s is empty", read_model[i]);
    }
    /* Its offsets are the live materializer's, under its group. */
    cr_assert_str_eq(mat_text(P.mat.conn, "SELECT string_agg(topic || partition || ':' || next_offset, ',' ORDER BY "
                                          "topic, partition) FROM rebuilt.kafka_offsets WHERE consumer_group = '%s'",
                              P.mat.group),
                     mat_text(P.mat.conn, "SELECT string_agg(topic || partition || ':' || next_offset, ',' ORDER BY "
                                          "topic, partition) FROM tally.kafka_offsets WHERE consumer_group = '%s'",
                              P.mat.group));
    /* The index names are the live ones. */
    cr_assert_str_eq(mat_text(P.mat.conn, "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes "
                                          "WHERE schemaname = 'rebuilt'"),
                     mat_text(P.mat.conn, "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes "
                                          "WHERE schemaname = 'tally' AND tablename <> 'schema_migrations'"));

    /* A live row altered by hand: the table is named, the row shown. */
    mat_exec(P.mat.conn, "UPDATE tally.tenants SET name = 'Acme (edited)' WHERE tenant_id = 'acme'");
    r = REPLAY(&P, "rebuild", "--schema", "rebuilt2", "--json");
    cr_assert_eq(r.status, 1, "status %d\n%s\nlog:\n%s", r.status, r.out, r.log);
    json_t *j = parse_json(&r), *t;
    size_t i;
    int named = 0;
    json_array_foreach(json_object_get(j, "tables"), i, t)
    {
        const char *name = json_string_value(json_object_get(t, "table"));
        long long ol = json_integer_value(json_object_get(t, "only_live"));
        long long orb = json_integer_value(json_object_get(t, "only_rebuilt"));
        if (strcmp(name, "tenants") == 0) {
            cr_assert_eq(ol, 1);
            cr_assert_eq(orb, 1);
            cr_assert(strstr(json_string_value(json_object_get(t, "samples")), "Acme (edited)"), "%s", r.out);
            named = 1;
        } else {
            cr_assert_eq(ol + orb, 0, "%s", name);
        }
    }
    cr_assert(named);
    json_decref(j);
    run_free(&r);

    /* An existing schema is refused, and left alone. */
    r = REPLAY(&P, "rebuild", "--schema", "rebuilt");
    cr_assert_eq(r.status, 2, "%s", r.log);
    cr_assert(strstr(r.log, "already exists"), "%s", r.log);
    run_free(&r);
}

Test(replay, swap_makes_the_rebuilt_tables_live)
{
    basic_usage(&P);
    basic_materializer_input(&P);
    pipe_run(&P);
    mat_exec(P.mat.conn, "UPDATE tally.api_usage_daily SET api_calls = api_calls * 2 WHERE tenant_id = 'acme'");
    long long doubled = mat_scalar(P.mat.conn, "SELECT sum(api_calls) FROM tally.monthly_usage WHERE tenant_id = "
                                               "'acme'");
    char before[256];
    snprintf(before, sizeof before, "%s", digest(P.mat.conn, "tally", "api_usage_daily"));

    run_t r = REPLAY(&P, "rebuild", "--schema", "fixed", "--swap");
    cr_assert_eq(r.status, 0, "status %d\n%s\nlog:\n%s", r.status, r.out, r.log);
    cr_assert(strstr(r.out, "SWAPPED"), "%s", r.out);
    cr_assert(strstr(r.out, "api_usage_daily"), "%s", r.out);
    run_free(&r);

    /* The old tables are in the other schema; the views read the new ones. */
    cr_assert_str_eq(digest(P.mat.conn, "fixed", "api_usage_daily"), before);
    long long fixed = mat_scalar(P.mat.conn, "SELECT sum(api_calls) FROM tally.monthly_usage WHERE tenant_id = 'acme'");
    cr_assert_eq(fixed * 2, doubled, "the views read the rebuilt table: %lld, before %lld", fixed, doubled);
    cr_assert_eq(mat_scalar(P.mat.conn, "SELECT count(*) FROM tally.compliance WHERE tenant_id = 'acme'"), 1);

    /* tally_reader still reads the views, and still no table. */
    mat_exec(P.mat.conn, "SET ROLE tally_reader");
    cr_assert_eq(mat_scalar(P.mat.conn, "SELECT sum(api_calls) FROM tally.monthly_usage WHERE tenant_id = 'acme'"),
                 fixed);
    PGresult *res = PQexec(P.mat.conn, "SELECT count(*) FROM tally.api_usage_daily");
    cr_assert_eq(PQresultStatus(res), PGRES_FATAL_ERROR, "tally_reader reads a table after the swap");
    PQclear(res);
    mat_exec(P.mat.conn, "RESET ROLE");

    /* A second audit is clean, and the materializer goes on where the
     * rebuild stopped: one new rollup is one record read. */
    r = REPLAY(&P, "audit");
    cr_assert_eq(r.status, 0, "%s\n%s", r.out, r.log);
    run_free(&r);
    int port = 0;
    tally_test_proc_t *m = running = mat_start(&P.mat, P.mat.db, P.mat.group, NULL, &port);
    mat_send_api(&P.matp, P.mat.topics[0], "hooli", "prod", MAT_DAY(2024, 3, 9), 42, 0, 0, 1, AT(9, 1));
    mat_producer_flush(&P.matp);
    for (int waited = 0; mat_scalar(P.mat.conn, "SELECT count(*) FROM tally.api_usage_daily WHERE tenant_id = "
                                                "'hooli'") == 0; waited += 100) {
        cr_assert_lt(waited, 30000, "the new rollup did not arrive; log:\n%s", tally_test_log(m));
        usleep(100 * 1000);
    }
    cr_assert_eq(agg_metric(port, "tally_materializer_records_total{topic=\"rollups\"}"), 1,
                 "the materializer re-read the log after the swap");
    tally_test_signal(m, SIGTERM);
    cr_assert_eq(tally_test_wait(m, 30000), 0);
    tally_test_proc_free(m);
    running = NULL;
}

/* Rollups produced every 5 ms from another thread, as a live aggregator
 * would, while a swap runs. */
typedef struct trickle_t {
    pipe_t *p;
    pthread_t thread;
    volatile int stop;
    int sent;
} trickle_t;

static void *trickle_main(void *arg)
{
    trickle_t *t = arg;
    while (!t->stop) {
        mat_send_api(&t->p->matp, t->p->mat.topics[0], "hooli", t->sent % 2 ? "prod" : "dev",
                     MAT_DAY(2024, 3, 10 + t->sent % 5), 100 + t->sent, 0, 0, t->sent, AT(10, 0) + t->sent);
        t->sent++;
        usleep(5 * 1000);
    }
    return NULL;
}

Test(replay, hot_swap_with_the_materializer_running)
{
    basic_usage(&P);
    basic_materializer_input(&P);
    pipe_run(&P);
    static const char *const quick[] = {"--batch-max-wait=10ms", NULL};
    tally_test_proc_t *m = running = mat_start(&P.mat, P.mat.db, P.mat.group, quick, NULL);
    trickle_t t = {.p = &P};
    cr_assert_eq(pthread_create(&t.thread, NULL, trickle_main, &t), 0);
    for (int waited = 0; mat_scalar(P.mat.conn, "SELECT count(*) FROM tally.api_usage_daily WHERE tenant_id = "
                                                "'hooli'") == 0; waited += 50) {
        cr_assert_lt(waited, 30000, "no rollup arrived; log:\n%s", tally_test_log(m));
        usleep(50 * 1000);
    }
    /* The live materializer writes all along: the rebuild catches up on
     * what it wrote, last under the lock, and swaps under its feet. (One
     * record per transaction: the rebuild takes long enough for the live
     * materializer to get ahead of the offsets it planned.) */
    run_t r = REPLAY(&P, "rebuild", "--schema", "hot", "--swap", "--json", "--progress-every=1ms",
                     "--batch-max-records=1");
    t.stop = 1;
    pthread_join(t.thread, NULL);
    mat_producer_flush(&P.matp);
    cr_assert_eq(r.status, 0, "status %d\n%s\nlog:\n%s", r.status, r.out, r.log);
    cr_assert(strstr(r.log, "records/s"), "a progress line: %s", r.log);
    json_t *j = parse_json(&r);
    cr_assert(json_is_true(json_object_get(j, "swapped")));
    cr_assert_gt(json_integer_value(json_object_get(json_object_get(j, "records"), "caught_up")), 0, "%s", r.out);
    cr_assert_gt(json_integer_value(json_object_get(j, "views_replaced")), 0);
    json_decref(j);
    run_free(&r);

    /* The materializer went on into the new tables: once it has every
     * record, they equal a fresh projection of the logs. */
    agg_record_t *recs;
    size_t n = agg_read_all(P.agg.rollups, &recs);
    long long last[3] = {-1, -1, -1}, want[3] = {0, (long long)P.product, (long long)P.cp};
    for (size_t i = 0; i < n; i++)
        if (recs[i].offset > last[recs[i].partition])
            last[recs[i].partition] = recs[i].offset;
    for (int i = 0; i < 3; i++)
        want[0] += last[i] + 1;
    agg_records_free(recs, n);
    mat_wait_caught_up(P.mat.conn, &P.mat, P.mat.group, want, 60000);
    tally_test_signal(m, SIGTERM);
    cr_assert_eq(tally_test_wait(m, 30000), 0, "%s", tally_test_log(m));
    tally_test_proc_free(m);
    running = NULL;
    r = REPLAY(&P, "rebuild", "--schema", "verify");
    cr_assert_eq(r.status, 0, "after the swap the live tables are the log's projection:\n%s\nlog:\n%s", r.out,
                 r.log);
    run_free(&r);
    cr_assert_eq(mat_scalar(P.mat.conn, "SELECT max(api_calls) FROM tally.api_usage_daily WHERE tenant_id = 'hooli'"),
                 100 + t.sent - 1, "the last rollup sent is live");
}

/* ---- export --------------------------------------------------------------------------- */

/* The usage records of the topic at partition, offsets first..last, that
 * are reports of tenant/env observed on day (or seat events of tenant on
 * day when env is NULL). */
static long long count_records(const agg_record_t *recs, size_t n, tally_decoder_t *dec, int partition,
                               long long first, long long last, const char *tenant, const char *env, int32_t day)
{
    long long count = 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].partition != partition || recs[i].offset < first || recs[i].offset > last)
            continue;
        char err[256];
        avro_value_t *v;
        const tally_catalog_entry_t *w;
        tally_usage_record_t ur;
        cr_assert_eq(tally_decoder_decode(dec, recs[i].value, recs[i].len, &v, &w, err, sizeof err), 0, "%s", err);
        cr_assert_eq(tally_usage_record_read(w->name, v, &ur, err, sizeof err), 0, "%s", err);
        if (env != NULL && ur.kind == TALLY_USAGE_RECORD_REPORT && strcmp(ur.report.tenant_id, tenant) == 0 &&
            strcmp(ur.report.environment_id, env) == 0 && tally_utc_day(ur.report.observed_at) == day)
            count++;
        if (env == NULL && ur.kind == TALLY_USAGE_RECORD_SEAT && strcmp(ur.seat.tenant_id, tenant) == 0 &&
            tally_utc_day(ur.seat.occurred_at) == day)
            count++;
    }
    return count;
}

Test(replay, export_totals_equal_the_rollups_and_offsets_hold_the_records)
{
    basic_usage(&P);
    pipe_run(&P);
    run_t r = REPLAY(&P, "export", "--tenant", "acme", "--period", "2024-03", "--format", "json");
    cr_assert_eq(r.status, 0, "status %d\n%s\nlog:\n%s", r.status, r.out, r.log);
    json_t *j = parse_json(&r), *row;
    agg_record_t *recs;
    size_t n = agg_read_all(P.agg.usage, &recs), i;
    tally_decoder_t *dec = tally_decoder_new_any(P.cat);
    int api_rows = 0, seat_rows = 0, totals = 0;
    json_array_foreach(json_object_get(j, "rows"), i, row)
    {
        const char *kind = json_string_value(json_object_get(row, "kind"));
        const char *env = json_string_value(json_object_get(row, "environment_id"));
        cr_assert_str_eq(json_string_value(json_object_get(row, "check")), "ok", "%s", r.out);
        json_t *src = json_object_get(row, "source");
        if (strcmp(kind, "api") == 0 || strcmp(kind, "seats") == 0) {
            const char *day = json_string_value(json_object_get(row, "day"));
            int64_t d;
            cr_assert_eq(tally_date_parse(day, strlen(day), &d), 0);
            int seat = strcmp(kind, "seats") == 0;
            /* The figure is the materialized rollup's. */
            if (seat) {
                cr_assert_eq(json_integer_value(json_object_get(row, "seats_peak")),
                             mat_scalar(P.mat.conn, "SELECT seats_peak FROM tally.seat_usage_daily WHERE tenant_id = "
                                                    "'acme' AND day = '%s'", day));
                seat_rows++;
            } else {
                cr_assert_eq(json_integer_value(json_object_get(row, "api_calls")),
                             mat_scalar(P.mat.conn, "SELECT api_calls FROM tally.api_usage_daily WHERE tenant_id = "
                                                    "'acme' AND environment_id = '%s' AND day = '%s'", env, day));
                api_rows++;
            }
            /* The offsets name records of that key, at both ends, at
             * least as many as counted, all of them with those ignored. */
            cr_assert_str_eq(json_string_value(json_object_get(src, "topic")), P.agg.usage);
            int part = (int)json_integer_value(json_object_get(src, "partition"));
            long long first = json_integer_value(json_object_get(src, "first_offset"));
            long long last = json_integer_value(json_object_get(src, "last_offset"));
            long long records = json_integer_value(json_object_get(row, "records"));
            long long ignored = json_integer_value(json_object_get(row, "ignored"));
            const char *e = seat ? NULL : env;
            cr_assert_gt(records, 0);
            cr_assert_eq(count_records(recs, n, dec, part, first, first, "acme", e, (int32_t)d), 1, "%s %s", kind, day);
            cr_assert_eq(count_records(recs, n, dec, part, last, last, "acme", e, (int32_t)d), 1, "%s %s", kind, day);
            cr_assert_geq(count_records(recs, n, dec, part, first, last, "acme", e, (int32_t)d), records);
            cr_assert_eq(count_records(recs, n, dec, part, 0, LLONG_MAX, "acme", e, (int32_t)d), records + ignored,
                         "%s %s", kind, day);
        } else if (strcmp(kind, "api_total") == 0) {
            const char *where = strcmp(env, "*") == 0 ? "" : " AND environment_id = '";
            cr_assert_str_eq(json_string_value(json_object_get(row, "period")), "2024-03");
            static const char *const cols[] = {"api_calls", "status_4xx", "status_5xx", "exec_ms"};
            for (int c = 0; c < 4; c++)
                cr_assert_eq(json_integer_value(json_object_get(row, cols[c])),
                             mat_scalar(P.mat.conn, "SELECT sum(%s) FROM tally.api_usage_daily WHERE tenant_id = "
                                                    "'acme' AND day BETWEEN '2024-03-01' AND '2024-03-31'%s%s%s",
                                        cols[c], where, *where ? env : "", *where ? "'" : ""),
                             "%s total of %s", cols[c], env);
            totals++;
        } else {
            cr_assert_str_eq(kind, "seats_total");
            cr_assert_eq(json_integer_value(json_object_get(row, "seats_peak")),
                         mat_scalar(P.mat.conn, "SELECT max(seats_peak) FROM tally.seat_usage_daily WHERE tenant_id = "
                                                "'acme'"));
        }
    }
    cr_assert_eq(api_rows, mat_scalar(P.mat.conn, "SELECT count(*) FROM tally.api_usage_daily WHERE tenant_id = 'acme'"));
    cr_assert_eq(seat_rows, mat_scalar(P.mat.conn, "SELECT count(*) FROM tally.seat_usage_daily WHERE tenant_id = "
                                                   "'acme'"));
    cr_assert_eq(totals, 3, "prod, staging and all");
    tally_decoder_free(dec);
    agg_records_free(recs, n);
    json_decref(j);
    run_free(&r);

    /* CSV: a header and the same rows; the default is a table. */
    r = REPLAY(&P, "export", "--tenant", "acme", "--period", "2024-03", "--format", "csv");
    cr_assert_eq(r.status, 0, "%s", r.log);
    cr_assert_eq(strncmp(r.out, "kind,tenant_id,environment_id,day,api_calls,", 44), 0, "%s", r.out);
    cr_assert(LINE_WITH(r.out, "api,acme,prod,2024-03-02,"), "%s", r.out);
    cr_assert(LINE_WITH(r.out, "api_total,acme,*,2024-03,"), "%s", r.out);
    run_free(&r);
    r = REPLAY(&P, "export", "--tenant", "acme", "--period", "2024-03");
    cr_assert_eq(r.status, 0, "%s", r.log);
    cr_assert(LINE_WITH(r.out, "api", "acme", "staging", "2024-03-01", P.agg.usage, "ok"), "%s", r.out);
    run_free(&r);

    /* A figure altered in the read model is checked against the log. */
    mat_exec(P.mat.conn, "UPDATE tally.api_usage_daily SET api_calls = 0 WHERE tenant_id = 'acme' AND "
                         "environment_id = 'staging' AND day = '2024-03-01'");
    r = REPLAY(&P, "export", "--tenant", "acme", "--period", "2024-03", "--format", "csv");
    cr_assert_eq(r.status, 1, "%s", r.log);
    cr_assert(LINE_WITH(r.out, "api,acme,staging,2024-03-01,", ",differs"), "%s", r.out);
    run_free(&r);
}

/* ---- errors ------------------------------------------------------------------------------ */

Test(replay, errors_are_clear)
{
    run_t r = REPLAY_BARE("--help");
    cr_assert_eq(r.status, 0);
    run_free(&r);

    char pg[512];
    snprintf(pg, sizeof pg, "--pg-url=%s", tally_test_pg_url(P.mat.db));
    mat_migrate(P.mat.conn);

    r = REPLAY_BARE("audit", "--brokers=127.0.0.1:1", "--connect-timeout=1s", pg);
    cr_assert_eq(r.status, 3, "%s", r.log);
    cr_assert(strstr(r.log, "cannot reach the Kafka broker at 127.0.0.1:1"), "%s", r.log);
    run_free(&r);

    r = REPLAY_BARE("audit", "--pg-url=postgresql://postgres@127.0.0.1:1/tally");
    cr_assert_eq(r.status, 3, "%s", r.log);
    cr_assert(strstr(r.log, "cannot connect to PostgreSQL"), "%s", r.log);
    run_free(&r);

    r = REPLAY(&P, "audit", "--usage-topic=replay.no.such.topic");
    cr_assert_eq(r.status, 3, "%s", r.log);
    cr_assert(strstr(r.log, "topic replay.no.such.topic does not exist"), "%s", r.log);
    run_free(&r);

    r = REPLAY(&P, "audit", "--tenant", "nobody");
    cr_assert_eq(r.status, 2, "%s", r.log);
    cr_assert(strstr(r.log, "unknown tenant nobody"), "%s", r.log);
    run_free(&r);

    r = REPLAY(&P, "export", "--tenant", "nobody", "--period", "2024-03");
    cr_assert_eq(r.status, 2, "%s", r.log);
    cr_assert(strstr(r.log, "unknown tenant nobody"), "%s", r.log);
    run_free(&r);

    r = REPLAY(&P, "audit", "--from", "2024-03-32");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.log, "bad time --from=2024-03-32"), "%s", r.log);
    run_free(&r);

    r = REPLAY(&P, "audit", "--from", "2024-03-10", "--to", "2024-03-01");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.log, "not before --to"), "%s", r.log);
    run_free(&r);

    r = REPLAY(&P, "export", "--tenant", "acme", "--period", "2024-13");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.log, "bad --period=2024-13"), "%s", r.log);
    run_free(&r);

    r = REPLAY(&P, "rebuild", "--schema", "tally");
    cr_assert_eq(r.status, 2);
    run_free(&r);

    r = REPLAY(&P, "replay");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.log, "unknown command"), "%s", r.log);
    run_free(&r);
}
