/* tally-materializer end to end, on the real broker and PostgreSQL: records
 * of every kind become the exact rows and view figures the Control Panel
 * shows; bad records go to the dead-letter topic without stopping anything;
 * Control Panel events applied twice or out of date change nothing; a
 * second group reading the same topics into a fresh database builds
 * identical tables; offsets reach Kafka too; --help, --migrate, SIGTERM and
 * the admin routes behave. */
#include "mat_fixture.h"

#include <signal.h>
#include <sys/wait.h>

#define T0 INT64_C(1709251200000)   /* 2024-03-01T00:00:00Z */
#define HOUR INT64_C(3600000)
#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static mat_env_t env;

static void setup(void)
{
    mat_env_create(&env, 3);
}

static void teardown(void)
{
    mat_env_destroy(&env);
}

TestSuite(materializer, .init = setup, .fini = teardown, .timeout = 120);

/* The Control Panel history of tenant acme, in order. */
static int control_panel_history(mat_producer_t *p, const char *topic)
{
    int n = 0;
    mat_cp_tenant(p, topic, "acme", T0, "Acme Corp"), n++;
    mat_cp_environment(p, topic, "acme", T0 + 1, "prod", "Production", 0), n++;
    mat_cp_environment(p, topic, "acme", T0 + 2, "stage", "Staging", 1), n++;
    mat_cp_environment(p, topic, "acme", T0 + 3, "old", "Old dev", 2), n++;
    mat_cp_license(p, topic, "acme", T0 + 4, MAT_DAY(2024, 3, 1), MAT_DAY(2025, 2, 28), 10, 1000, 100), n++;
    mat_cp_member(p, topic, "acme", T0 + 5, "m1", 1), n++;
    mat_cp_member(p, topic, "acme", T0 + 6, "m2", 1), n++;
    mat_cp_member(p, topic, "acme", T0 + 7, "m2", 0), n++;
    mat_cp_key(p, topic, "acme", T0 + 8, "k1", "prod", SHA_A), n++;
    mat_cp_key(p, topic, "acme", T0 + 9, "k2", "stage", SHA_B), n++;
    mat_cp_key(p, topic, "acme", T0 + 10, "k2", NULL, NULL), n++;
    /* EnvironmentDeleted */
    avro_value_t b = mat_cp_begin(p, "acme", T0 + 11, "EnvironmentDeleted");
    mat_set_str(&b, "environment_id", "old");
    mat_send_cp(p, topic, "acme"), n++;
    return n;
}

/* Everything of the scenario; returns the record count per topic. */
static void produce_scenario(mat_producer_t *p, long long counts[3])
{
    const char *ru = env.topics[0], *pr = env.topics[1], *cp = env.topics[2];
    int32_t d10 = MAT_DAY(2024, 3, 10), d11 = MAT_DAY(2024, 3, 11), a01 = MAT_DAY(2024, 4, 1);
    memset(counts, 0, 3 * sizeof counts[0]);

    /* Rollups: cumulative, the last per key is the truth. */
    mat_send_api(p, ru, "acme", "prod", d10, 100, 1, 0, 1000, T0 + 10 * HOUR), counts[0]++;
    mat_send_api(p, ru, "acme", "prod", d10, 300, 2, 1, 3000, T0 + 11 * HOUR), counts[0]++;
    mat_send_api(p, ru, "acme", "prod", d10, 500, 3, 1, 5000, T0 + 12 * HOUR), counts[0]++;
    mat_send_api(p, ru, "acme", "prod", d11, 300, 0, 0, 900, T0 + 34 * HOUR), counts[0]++;
    mat_send_api(p, ru, "acme", "stage", d10, 50, 0, 0, 100, T0 + 10 * HOUR), counts[0]++;
    mat_send_api(p, ru, "acme", "stage", d10, 90, 0, 0, 200, T0 + 12 * HOUR), counts[0]++;
    mat_send_api(p, ru, "acme", "stage", d11, 120, 5, 2, 400, T0 + 34 * HOUR), counts[0]++;
    mat_send_api(p, ru, "acme", "prod", a01, 200, 0, 0, 700, T0 + 800 * HOUR), counts[0]++;
    mat_send_seat(p, ru, "acme", d10, 5, 7, T0 + 10 * HOUR), counts[0]++;
    mat_send_seat(p, ru, "acme", d10, 6, 9, T0 + 12 * HOUR), counts[0]++;
    mat_send_seat(p, ru, "acme", d11, 4, 9, T0 + 34 * HOUR), counts[0]++;
    mat_produce_raw(p, ru, "garbage", "not avro at all", 15), counts[0]++;

    /* Product events, one sent twice; the tab, quote, backslash and newline
     * must survive COPY and JSON. */
    char id[5][40];
    for (int i = 0; i < 5; i++)
        mat_uuid(id[i], 1000 + i);
    const char *props_cli[] = {"command", "deploy", NULL};
    const char *props_admin[] = {"page", "media \"library\"\\\ttab", NULL};
    int64_t t10 = T0 + 9 * 24 * HOUR + HOUR, t11 = t10 + 24 * HOUR;
    mat_send_product(p, pr, id[0], 0, "cli.command", t10, "i1", "1.2.0", props_cli, NULL), counts[1]++;
    mat_send_product(p, pr, id[1], 0, "cli.command", t10 + 1000, "i1", "1.2.0", props_cli, NULL), counts[1]++;
    mat_send_product(p, pr, id[2], 0, "cli.command", t10 + 2000, "i2", "1.2.0", NULL, NULL), counts[1]++;
    mat_send_product(p, pr, id[3], 1, "admin.page_view", t10 + 3000, "i3", NULL, props_admin, "boom\nline 2"),
        counts[1]++;
    mat_send_product(p, pr, id[4], 0, "cli.command", t11, "i1", "1.2.0", props_cli, NULL), counts[1]++;
    mat_send_product(p, pr, id[0], 0, "cli.command", t10, "i1", "1.2.0", props_cli, NULL), counts[1]++;
    mat_produce_raw(p, pr, "garbage", "\xc3\x01garbage!", 10), counts[1]++;
    mat_send_seat(p, pr, "acme", d10, 1, 1, T0), counts[1]++;   /* a rollup on the product topic */

    /* Control Panel: the history, the same history again, an out-of-date
     * MemberAdded after the removal, and two events PostgreSQL would refuse. */
    counts[2] += control_panel_history(p, cp);
    counts[2] += control_panel_history(p, cp);
    mat_cp_member(p, cp, "acme", T0 + 6, "m2", 1), counts[2]++;
    mat_cp_license(p, cp, "acme", T0 + 20, MAT_DAY(2024, 6, 1), MAT_DAY(2024, 5, 1), 1, 1, 1), counts[2]++;
    mat_cp_key(p, cp, "acme", T0 + 21, "k3", "prod", "NOT-A-HASH"), counts[2]++;
    mat_produce_raw(p, cp, "acme", "", 0), counts[2]++;   /* empty value: too short */
    mat_producer_flush(p);
}

static void assert_scenario_tables(PGconn *c)
{
    /* Control Panel projection. */
    cr_assert_str_eq(mat_text(c, "SELECT name FROM tally.tenants WHERE tenant_id = 'acme'"), "Acme Corp");
    cr_assert_eq(mat_scalar(c, "SELECT count(*) FROM tally.environments WHERE deleted_at IS NULL"), 2);
    cr_assert_str_eq(mat_text(c, "SELECT deleted_at FROM tally.environments WHERE environment_id = 'old'"),
                     "2024-03-01 00:00:00.011+00");
    cr_assert_str_eq(mat_text(c, "SELECT kind FROM tally.environments WHERE environment_id = 'stage'"), "staging");
    cr_assert_eq(mat_scalar(c, "SELECT count(*) FROM tally.members WHERE removed_at IS NULL"), 1);
    cr_assert_str_eq(mat_text(c, "SELECT member_id FROM tally.members WHERE removed_at IS NULL"), "m1");
    cr_assert_eq(mat_scalar(c, "SELECT count(*) FROM tally.members"), 2);
    cr_assert_eq(mat_scalar(c, "SELECT count(*) FROM tally.api_keys"), 2);
    cr_assert_str_eq(mat_text(c, "SELECT string_agg(key_id, ',' ORDER BY key_id) FROM tally.api_keys WHERE "
                                 "revoked_at IS NULL"), "k1");
    cr_assert_str_eq(mat_text(c, "SELECT key_sha256 FROM tally.api_keys WHERE key_id = 'k1'"), SHA_A);
    cr_assert_eq(mat_scalar(c, "SELECT count(*) FROM tally.license_terms"), 1);
    cr_assert_str_eq(mat_text(c, "SELECT valid_from || ' ' || valid_until || ' ' || seats_max || ' ' || "
                                 "monthly_api_calls_max || ' ' || daily_api_calls_max_nonprod || ' ' || "
                                 "features::text FROM tally.license_terms"),
                     "2024-03-01 2025-02-28 10 1000 100 {sso,\"audit \\\"log\\\"\"}");

    /* Rollups: the last value per key. */
    cr_assert_str_eq(mat_text(c, "SELECT string_agg(environment_id || '/' || day || '=' || api_calls || ',' || "
                                 "status_4xx || ',' || status_5xx || ',' || exec_ms, ' ' ORDER BY environment_id, "
                                 "day) FROM tally.api_usage_daily"),
                     "prod/2024-03-10=500,3,1,5000 prod/2024-03-11=300,0,0,900 prod/2024-04-01=200,0,0,700 "
                     "stage/2024-03-10=90,0,0,200 stage/2024-03-11=120,5,2,400");
    cr_assert_str_eq(mat_text(c, "SELECT string_agg(day || '=' || seats_in_use || '/' || seats_peak, ' ' ORDER BY "
                                 "day) FROM tally.seat_usage_daily"),
                     "2024-03-10=6/9 2024-03-11=4/9");

    /* Product events: five distinct, escapes intact, daily figures. */
    cr_assert_eq(mat_scalar(c, "SELECT count(*) FROM tally.product_events"), 5);
    cr_assert_str_eq(mat_text(c, "SELECT properties->>'page' FROM tally.product_events WHERE source = 'ADMIN'"),
                     "media \"library\"\\\ttab");
    cr_assert_str_eq(mat_text(c, "SELECT error_message FROM tally.product_events WHERE source = 'ADMIN'"),
                     "boom\nline 2");
    cr_assert_str_eq(mat_text(c, "SELECT coalesce(version, 'none') || ci::text || coalesce(new_user::text, 'null') "
                                 "FROM tally.product_events WHERE source = 'ADMIN'"), "nonefalsenull");
    cr_assert_str_eq(mat_text(c, "SELECT string_agg(day || ' ' || event || ' ' || source || ' ' || "
                                 "coalesce(version, '-') || ' ' || events || '/' || installs, '; ' ORDER BY day, "
                                 "event) FROM tally.product_analytics_daily"),
                     "2024-03-10 admin.page_view ADMIN - 1/1; 2024-03-10 cli.command CLI 1.2.0 3/2; "
                     "2024-03-11 cli.command CLI 1.2.0 1/1");

    /* The views. */
    cr_assert_str_eq(mat_text(c, "SELECT string_agg(environment_id || ' ' || coalesce(environment_kind, '?') || ' ' "
                                 "|| month || ' ' || api_calls || ' ' || days_reported, '; ' ORDER BY "
                                 "environment_id, month) FROM tally.monthly_usage WHERE tenant_id = 'acme'"),
                     "prod production 2024-03-01 800 2; prod production 2024-04-01 200 1; "
                     "stage staging 2024-03-01 210 2");
    cr_assert_str_eq(mat_text(c, "SELECT month || ' ' || seats_peak || ' ' || seats_in_use FROM tally.monthly_seats"),
                     "2024-03-01 9 4");
    cr_assert_str_eq(mat_text(c, "SELECT concat_ws(' ', tenant_name, api_calls_month_peak, monthly_api_calls_status, "
                                 "nonprod_day_peak, nonprod_daily_status, seats_peak, seats_status, status) FROM "
                                 "tally.compliance WHERE tenant_id = 'acme'"),
                     "Acme Corp 1010 over 120 over 9 warning over");
    cr_assert_str_eq(mat_text(c, "SELECT string_agg(period_start || ' ' || used || ' ' || status, '; ' ORDER BY "
                                 "period_start) FROM tally.compliance_detail WHERE metric = 'monthly_api_calls' AND "
                                 "period_start < '2024-06-01'"),
                     "2024-03-01 1010 over; 2024-04-01 200 ok; 2024-05-01 0 ok");
    cr_assert_str_eq(mat_text(c, "SELECT string_agg(environment_id || ' ' || period_start || ' ' || used || ' ' || "
                                 "percent || ' ' || status, '; ' ORDER BY period_start) FROM tally.compliance_detail "
                                 "WHERE metric = 'daily_api_calls_nonprod'"),
                     "stage 2024-03-10 90 90.00 warning; stage 2024-03-11 120 120.00 over");
}

/* The group's offsets as committed to Kafka (what lag tools read). */
static long long kafka_committed_sum(const char *group, const char *topic, int partitions)
{
    char err[512];
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_CONSUMER, tally_test_brokers(), "mat-test-lag", group,
                                                 NULL, err, sizeof err);
    cr_assert_not_null(conf, "%s", err);
    rd_kafka_t *rk = tally_kafka_new(TALLY_KAFKA_CONSUMER, conf, err, sizeof err);
    cr_assert_not_null(rk, "%s", err);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
    for (int i = 0; i < partitions; i++)
        rd_kafka_topic_partition_list_add(l, topic, i);
    cr_assert_eq(rd_kafka_committed(rk, l, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    long long sum = 0;
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].offset >= 0)
            sum += l->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return sum;
}

Test(materializer, records_to_tables_and_views_exactly)
{
    mat_producer_t p;
    long long counts[3];
    mat_producer_open(&p);
    produce_scenario(&p, counts);

    int port;
    tally_test_proc_t *proc = mat_start(&env, env.db, env.group, NULL, &port);
    mat_wait_caught_up(env.conn, &env, env.group, counts, 60000);
    assert_scenario_tables(env.conn);

    /* Dead letters: one per record that could not be written (1 on the
     * rollups topic, 2 on the product topic, 3 on the Control Panel topic),
     * none of their content. */
    cr_assert_eq(mat_read_dead_letters(env.dlq, 6, 20000), 6);
    cr_assert_eq(mat_read_dead_letters(env.dlq, 7, 1500), 6, "and no more");

    /* A later update of a key, in a later batch, wins. */
    mat_send_api(&p, env.topics[0], "acme", "prod", MAT_DAY(2024, 4, 1), 250, 0, 0, 800, T0 + 900 * HOUR);
    mat_producer_flush(&p);
    counts[0]++;
    mat_wait_caught_up(env.conn, &env, env.group, counts, 30000);
    cr_assert_eq(mat_scalar(env.conn, "SELECT api_calls FROM tally.monthly_usage WHERE month = '2024-04-01'"), 250);

    /* Offsets went to Kafka after each commit, for lag monitoring. */
    for (int waited = 0; kafka_committed_sum(env.group, env.topics[1], 3) != counts[1]; waited += 200) {
        cr_assert(waited < 10000, "Kafka commits: %lld of %lld", kafka_committed_sum(env.group, env.topics[1], 3),
                  counts[1]);
        usleep(200 * 1000);
    }

    /* Admin routes. */
    char body[8192];
    cr_assert_eq(mat_http_status(port, "/healthz", NULL, 0), 200);
    cr_assert_eq(mat_http_status(port, "/readyz", body, sizeof body), 200, "%s", body);
    cr_assert_eq(mat_http_status(port, "/metrics", body, sizeof body), 200);
    cr_assert(strstr(body, "tally_materializer_records_total{topic=\"product\"} 8") != NULL, "%s", body);
    cr_assert(strstr(body, "tally_materializer_dead_letters_total 6") != NULL, "%s", body);

    /* SIGTERM: clean exit. */
    tally_test_signal(proc, SIGTERM);
    cr_assert_eq(tally_test_wait(proc, 30000), 0, "log:\n%s", tally_test_log(proc));
    cr_assert(strstr(tally_test_log(proc), "stopped cleanly") != NULL);
    cr_assert(strstr(tally_test_log(proc), "ada@example.com") == NULL, "no personal data in the log");
    tally_test_proc_free(proc);

    /* A second group, from the beginning, into a fresh database: identical. */
    char db2[96], group2[96];
    PGconn *c2 = tally_test_db_create("tally_test_mat2", db2, sizeof db2);
    tally_test_unique_name("mat_group2", group2, sizeof group2);
    tally_test_proc_t *proc2 = mat_start(&env, db2, group2, (const char *const[]){"--batch-max-records=3", NULL},
                                         NULL);
    mat_wait_caught_up(c2, &env, group2, counts, 60000);
    char first[2048];
    snprintf(first, sizeof first, "%s", mat_tables_digest(env.conn));
    cr_assert_str_eq(mat_tables_digest(c2), first);
    tally_test_signal(proc2, SIGTERM);
    cr_assert_eq(tally_test_wait(proc2, 30000), 0);
    tally_test_proc_free(proc2);
    tally_test_db_drop(c2, db2);
    mat_producer_close(&p);
}

Test(materializer, help_and_migrate)
{
    char out[64], cmd[1024], text[16384];
    snprintf(out, sizeof out, "/tmp/mat-help-%d.txt", (int)getpid());
    snprintf(cmd, sizeof cmd, "'%s' --help > %s 2>&1", tally_test_bin("tally-materializer"), out);
    cr_assert_eq(tally_test_system("tally-materializer", cmd), 0);
    FILE *f = fopen(out, "r");
    cr_assert_not_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    unlink(out);
    static const char *const flags[] = {"--pg-url", "--group", "--migrate", "--batch-max-records",
                                        "--batch-max-wait", "--retry-max", "--admin-port", "TALLY_PG_URL"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        cr_assert(strstr(text, flags[i]) != NULL, "--help names %s:\n%s", flags[i], text);

    /* --migrate applies the read model and exits; twice is harmless. */
    for (int round = 0; round < 2; round++) {
        snprintf(cmd, sizeof cmd, "'%s' --migrate --pg-url='%s' --migrations='%s' 2>/dev/null",
                 tally_test_bin("tally-materializer"), tally_test_pg_url(env.db),
                 tally_test_source_path("deploy/postgres/migrations"));
        cr_assert_eq(tally_test_system("tally-materializer", cmd), 0, "round %d", round);
    }
    /* The Control Panel's five views (and, beside them, the gateway's key view of migration 0005). */
    cr_assert_eq(mat_scalar(env.conn, "SELECT count(*) FROM pg_views WHERE schemaname = 'tally' AND viewname IN "
                                      "('monthly_usage', 'monthly_seats', 'compliance_detail', 'compliance', "
                                      "'product_analytics_daily')"),
                 5);
    cr_assert_eq(mat_scalar(env.conn, "SELECT count(*) FROM pg_views WHERE schemaname = 'tally' AND viewname = "
                                      "'gateway_keys'"),
                 1);
    cr_assert_eq(mat_scalar(env.conn, "SELECT count(*) FROM pg_tables WHERE schemaname = 'tally' AND tablename IN "
                                      "('api_usage_daily', 'seat_usage_daily', 'product_events', 'product_daily')"),
                 4);

    /* A database it cannot reach is an error, not a hang. */
    snprintf(cmd, sizeof cmd, "'%s' --migrate --pg-url='postgresql://postgres@127.0.0.1:1/x' 2>/dev/null",
             tally_test_bin("tally-materializer"));
    cr_assert_neq(tally_test_system("tally-materializer", cmd), 0);
    /* A bad flag is a usage error. */
    snprintf(cmd, sizeof cmd, "'%s' --batch-max-records=0 2>/dev/null", tally_test_bin("tally-materializer"));
    cr_assert_eq(WEXITSTATUS(tally_test_system("tally-materializer", cmd)), 2);
}

/* The value of series (name and labels, as rendered) in the /metrics text
 * body, or -1 when it is not there. */
static double metric_in(const char *body, const char *series)
{
    size_t n = strlen(series);
    for (const char *s = body; (s = strstr(s, series)) != NULL; s += n)
        if ((s == body || s[-1] == '\n') && s[n] == ' ')
            return strtod(s + n + 1, NULL);
    return -1;
}

/* Issue 15: a batch is written as soon as the fetch queue is drained;
 * batch-max-wait bounds it only under backlog. With --batch-max-wait=5s,
 * each lone rollup must be visible in PostgreSQL well under it. */
Test(materializer, a_lone_record_lands_at_once_not_after_batch_max_wait)
{
    enum { LONE = 5, WITHIN_MS = 1500 };
    mat_producer_t p;
    mat_producer_open(&p);
    int port;
    tally_test_proc_t *proc = mat_start(&env, env.db, env.group, (const char *const[]){"--batch-max-wait=5s", NULL},
                                        &port);
    for (int waited = 0; strstr(tally_test_log(proc), "assigned ") == NULL; waited += 20) {
        cr_assert(waited < 60000, "no assignment; log:\n%s", tally_test_log(proc));
        usleep(20 * 1000);
    }
    long long worst = 0;
    for (int i = 1; i <= LONE; i++) {
        mat_send_api(&p, env.topics[0], "acme", "prod", MAT_DAY(2024, 3, 10), 100 * i, 0, 0, 10, T0 + i);
        mat_producer_flush(&p);
        long long t0 = tally_mono_ms(), took;
        for (;;) {
            took = tally_mono_ms() - t0;
            if (mat_scalar(env.conn, "SELECT coalesce(max(api_calls), 0) FROM tally.api_usage_daily") == 100 * i)
                break;
            cr_assert(took < 30000, "rollup %d not visible after %lld ms", i, took);
            usleep(5 * 1000);
        }
        fprintf(stderr, "materializer: lone record %d visible %lld ms after the broker had it\n", i, took);
        worst = took > worst ? took : worst;
    }
    cr_expect_lt(worst, WITHIN_MS, "a lone record waited %lld ms (batch-max-wait 5 s)", worst);
    static char body[65536];
    cr_assert_eq(mat_http_status(port, "/metrics", body, sizeof body), 200);
    cr_expect_eq(metric_in(body, "tally_materializer_batches_closed_total{reason=\"drained\"}"), LONE, "%s", body);
    cr_expect_eq(metric_in(body, "tally_materializer_batches_closed_total{reason=\"time\"}"), 0);
    tally_test_signal(proc, SIGTERM);
    cr_assert_eq(tally_test_wait(proc, 30000), 0, "log:\n%s", tally_test_log(proc));
    tally_test_proc_free(proc);
    mat_producer_close(&p);
}
