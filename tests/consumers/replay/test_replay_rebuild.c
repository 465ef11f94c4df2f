/* tally-replay rebuild on the real broker and PostgreSQL, black box
 * (replay_fixture.h): rebuild gives tables identical to the live ones and
 * names a table that differs; --swap makes the rebuilt tables live with
 * the views and the tally_reader grants working, also with the
 * materializer running and records still arriving. tally.alerts is among
 * the tables: the rebuilt one equals the live one, and both hold exactly
 * the distinct alerts produced. */
#include "replay_fixture.h"

TestSuite(replay, .init = replay_setup, .fini = replay_teardown, .timeout = 240);

/* ---- rebuild ---------------------------------------------------------------------- */

/* count:md5 of every row of schema.table, ordered. */
static const char *digest(PGconn *c, const char *schema, const char *table)
{
    return mat_text(c, "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '-') "
                       "FROM %s.%s t", schema, table);
}

static const char *const read_model[] = {"tenants",          "environments",     "members",        "api_keys",
                                         "license_terms",    "console_tokens",   "licenses",       "alerts",          "api_usage_daily",
                                         "seat_usage_daily", "product_events",   "product_daily",  "product_daily_installs",
                                         NULL};

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
    /* The alerts: each distinct alert once (the duplicate too), the
     * first record of an id kept. */
    cr_assert_str_eq(mat_text(P.mat.conn, "SELECT count(*) || ' ' || string_agg(state || threshold, ',' ORDER BY "
                                          "alert_id) FROM rebuilt.alerts"),
                     "4 TRIGGERED80,TRIGGERED100,RESOLVED100,TRIGGERED100");
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

    /* tally_reader still reads the views and the tables the console's
     * downloads check against (0010: the grants moved with the swap), and
     * still not the members' personal data. */
    mat_exec(P.mat.conn, "SET ROLE tally_reader");
    cr_assert_eq(mat_scalar(P.mat.conn, "SELECT sum(api_calls) FROM tally.monthly_usage WHERE tenant_id = 'acme'"),
                 fixed);
    cr_assert_eq(mat_scalar(P.mat.conn, "SELECT sum(api_calls) FROM tally.api_usage_daily WHERE tenant_id = 'acme'"),
                 fixed, "tally_reader reads the rebuilt rollup table (downloads)");
    PGresult *res = PQexec(P.mat.conn, "SELECT count(*) FROM tally.members");
    cr_assert_eq(PQresultStatus(res), PGRES_FATAL_ERROR, "tally_reader reads the members after the swap");
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
    long long want[3];
    pipe_want(&P, want);
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
