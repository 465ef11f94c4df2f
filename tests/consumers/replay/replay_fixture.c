/* The fixture of the tally-replay suites (replay_fixture.h). */
#include "replay_fixture.h"

#include "gateway_fixture.h"

#include <sodium.h>
#include <string.h>

pipe_t P;
tally_test_proc_t *running;

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
    tally_topic_list_t list = {.topics = &spec, .count = 1};
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

void replay_setup(void)
{
    pipe_open(&P, 0);
}

void replay_setup_forever(void)
{
    pipe_open(&P, 1);
}

void replay_teardown(void)
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

void rep_init(rep_t *r, const char *tenant, const char *env, uint64_t n, int64_t started_at)
{
    memset(r, 0, sizeof *r);
    r->tenant = tenant;
    r->env = env;
    agg_uuid(r->id, 0x5e9, n);
    r->started_at = started_at;
}

void send_report_raw(pipe_t *p, const rep_t *r, int64_t at, int64_t ts)
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

void send_report(pipe_t *p, rep_t *r, int64_t at, int64_t ts, int step)
{
    r->seq++;
    r->c[0] += 10 + step;
    r->c[1] += step % 3;
    r->c[2] += step % 4 == 0;
    r->c[3] += 25 * (step + 1);
    send_report_raw(p, r, at, ts);
}

void send_seat(pipe_t *p, const char *tenant, const char *seat, uint64_t n, int assigned, int64_t at,
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

void basic_usage(pipe_t *p)
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

void basic_materializer_input(pipe_t *p)
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
    /* Signed licenses (ControlPanelEvent v3): a personal-dev one revoked,
     * an environment one not; the payload is stored as sent. */
    static const char *const licenses[2] = {"33333333-3333-4333-8333-333333333333",
                                            "44444444-4444-4444-8444-444444444444"};
    static const char *const payloads[2] = {"{\"format\":1,\"kind\":\"personal-dev\",\"member_id\":\"member-1\"}",
                                            "{\"environment_id\":\"prod\",\"format\":1,\"kind\":\"environment\"}"};
    for (int i = 0; i < 2; i++) {
        char hex[65];
        tally_test_sha256_hex(payloads[i], hex);
        avro_value_t lb = mat_cp_begin(&p->matp, "acme", AT(1, 9 + i), "LicenseIssued"), kind;
        mat_set_str(&lb, "license_id", licenses[i]);
        cr_assert_eq(avro_value_get_by_name(&lb, "kind", &kind, NULL), 0);
        cr_assert_eq(avro_value_set_enum(&kind, i ? 0 : 1), 0);   /* 0 environment, 1 personal_dev */
        mat_set_opt_str(&lb, "member_id", i ? NULL : "member-1");
        mat_set_opt_str(&lb, "environment_id", i ? "prod" : NULL);
        mat_set_long(&lb, "valid_from", AT(1, 9 + i));
        mat_set_long(&lb, "valid_until", AT(20, 9 + i));
        mat_set_str(&lb, "key_id", "2026-12");
        mat_set_str(&lb, "payload_sha256", hex);
        mat_set_str(&lb, "payload", payloads[i]);
        mat_send_cp(&p->matp, p->mat.topics[2], "acme");
    }
    avro_value_t lr = mat_cp_begin(&p->matp, "acme", AT(1, 11), "LicenseRevoked");
    mat_set_str(&lr, "license_id", licenses[0]);
    mat_set_str(&lr, "reason", "left the team");
    mat_send_cp(&p->matp, p->mat.topics[2], "acme");
    p->cp += 14;
    /* Usage alerts (UsageAlert v1): 80 % and 100 % of acme's month, the
     * 100 % resolved, a daily cap, and the first one again (a duplicate
     * the table stores once). */
    const mat_alert_t alerts[] = {   /* not static: AT() is not a constant */
        {"a1e70000-0000-4000-8000-000000000001", "acme", NULL, "2024-01", 0, 0, 80, 4000, 5000, AT(2, 1)},
        {"a1e70000-0000-4000-8000-000000000002", "acme", NULL, "2024-01", 0, 0, 100, 5000, 5000, AT(2, 2)},
        {"a1e70000-0000-4000-8000-000000000003", "acme", NULL, "2024-01", 0, 1, 100, 4990, 5000, AT(2, 3)},
        {"a1e70000-0000-4000-8000-000000000004", "acme", "staging", "2024-01-02", 1, 0, 100, 120, 100, AT(2, 4)},
        {"a1e70000-0000-4000-8000-000000000001", "acme", NULL, "2024-01", 0, 0, 80, 4000, 5000, AT(2, 1)},
    };
    for (size_t i = 0; i < sizeof alerts / sizeof alerts[0]; i++) {
        avro_value_t av;
        mat_alert_value(mat_alert_schema(p->matp.cat), &av, &alerts[i]);
        mat_produce_value(&p->matp, mat_alert_schema(p->matp.cat), &av, p->mat.topics[3], alerts[i].tenant);
    }
    p->alerts += sizeof alerts / sizeof alerts[0];
    mat_producer_flush(&p->matp);
}

/* ---- the pipeline --------------------------------------------------------- */

void pipe_want(const pipe_t *p, long long want[3])
{
    agg_record_t *recs;
    size_t n = agg_read_all(p->agg.rollups, &recs);
    long long last[3] = {-1, -1, -1};
    want[0] = 0;
    want[1] = (long long)p->product;
    want[2] = (long long)p->cp;
    for (size_t i = 0; i < n; i++)
        if (recs[i].offset > last[recs[i].partition])
            last[recs[i].partition] = recs[i].offset;
    for (int i = 0; i < 3; i++)
        want[0] += last[i] + 1;
    agg_records_free(recs, n);
}

void pipe_run(pipe_t *p)
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
    long long want[3];
    pipe_want(p, want);
    tally_test_proc_t *m = running = mat_start(&p->mat, p->mat.db, p->mat.group, NULL, NULL);
    mat_wait_caught_up(p->mat.conn, &p->mat, p->mat.group, want, 60000);
    for (int waited = 0; p->alerts > 0 && mat_stored(p->mat.conn, p->mat.group, p->mat.topics[3]) !=
                                              (long long)p->alerts; waited += 100) {
        cr_assert(waited < 60000, "the materializer did not store the alerts' offsets; log:\n%s",
                  tally_test_log(m));
        usleep(100 * 1000);
    }
    tally_test_signal(m, SIGTERM);
    cr_assert_eq(tally_test_wait(m, 30000), 0, "materializer exit; log:\n%s", tally_test_log(m));
    tally_test_proc_free(m);
    running = NULL;
}

/* ---- tally-replay ------------------------------------------------------------ */


void run_free(run_t *r)
{
    free(r->out);
    free(r->log);
    memset(r, 0, sizeof *r);
}

run_t replay_args(const pipe_t *p, int bare, const char *const *args)
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
        ARG("--alerts-topic=%s", p->mat.topics[3]);
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
    if (r.status == -1) {   /* the end of its log: a progress line per record can make it megabytes */
        const char *log = tally_test_log(proc);
        size_t len = strlen(log);
        cr_assert_fail("tally-replay did not finish in 120 s; the end of its log:\n%s", log + (len > 4000 ? len - 4000 : 0));
    }
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


json_t *parse_json(const run_t *r)
{
    json_error_t e;
    json_t *j = json_loads(r->out, 0, &e);
    cr_assert_not_null(j, "not JSON (%s): %s\nlog:\n%s", e.text, r->out, r->log);
    return j;
}

int line_with(const char *text, const char *const *words)
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

json_t *find_diff(json_t *audit, const char *kind, const char *tenant, const char *env, const char *day)
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

void diff_field(json_t *d, const char *field, json_t **expected, json_t **materialized)
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

long long rows_in(const pipe_t *p, const char *table)
{
    return mat_scalar(p->mat.conn, "SELECT count(*) FROM tally.%s", table);
}
