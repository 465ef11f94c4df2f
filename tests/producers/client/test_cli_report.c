/* `tally report-usage` against a real gateway: the reporter keeps its id,
 * start time, seq and cumulative counters across restarts; counter lines
 * from stdin or a counter file count exactly once; reports made while the
 * gateway is down wait in the spool and arrive later; bad lines change
 * nothing. */
#include "cli_harness.h"

static tally_catalog_t *cat;
static cli_env_t env;
static tally_test_gateway_t gw;
static char up[128], state_flag[256], state_path[200];
static json_t *reporters; /* the reporter ids this test made */

/* Remembers the reporter id of the state file. */
static void remember_reporter(void)
{
    json_t *st = json_load_file(state_path, 0, NULL);
    if (st != NULL && !cli_matches(st, "reporter_id", reporters))
        json_array_append(reporters, json_object_get(st, "reporter_id"));
    json_decref(st);
}

static void setup(void)
{
    char err[512];
    cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    cli_env_init(&env);
    tally_test_gateway_start(&gw, NULL);
    snprintf(up, sizeof up, "--gateway=%s", gw.base_url);
    snprintf(state_path, sizeof state_path, "%s/reporter-a.json", env.dir);
    snprintf(state_flag, sizeof state_flag, "--reporter-state=%s", state_path);
    reporters = json_array();
}

static void teardown(void)
{
    json_decref(reporters);
    tally_test_gateway_stop(&gw);
    tally_catalog_free(cat);
    cli_env_cleanup(&env);
}

TestSuite(cli_report, .init = setup, .fini = teardown, .timeout = 180);

static const char *const reporter_env[] = {"TALLY_API_KEY=" TALLY_TEST_API_KEY, "TALLY_TENANT=" TALLY_TEST_TENANT,
                                           "TALLY_ENVIRONMENT=" TALLY_TEST_ENV, NULL};

static int report_once(const char *input, const char *gateway, const char *extra)
{
    const char *args[] = {gateway, state_flag, "report-usage", "--once", extra, NULL};
    cli_result_t r = cli_run(&env, input, reporter_env, args);
    int st = r.status;
    cli_result_free(&r);
    remember_reporter();
    return st;
}

static json_t *reports(size_t want)
{
    return cli_topic_events(cat, gw.usage_topic, "reporter_id", reporters, want, 1500);
}

static json_t *by_seq(json_t *reps, long long seq)
{
    size_t i;
    json_t *r;
    json_array_foreach(reps, i, r) {
        if (json_integer_value(json_object_get(r, "seq")) == seq)
            return r;
    }
    cr_assert_fail("no report with seq %lld", seq);
    return NULL;
}

static void assert_counters(json_t *rep, long long calls, long long s4, long long s5, long long ms)
{
    cr_assert_eq(json_integer_value(json_object_get(rep, "api_calls")), calls);
    cr_assert_eq(json_integer_value(json_object_get(rep, "status_4xx")), s4);
    cr_assert_eq(json_integer_value(json_object_get(rep, "status_5xx")), s5);
    cr_assert_eq(json_integer_value(json_object_get(rep, "exec_ms")), ms);
}

Test(cli_report, state_survives_a_restart)
{
    cr_assert_eq(report_once("api_calls=10 status_4xx=1 status_5xx=0 exec_ms=1234\napi_calls=5, exec_ms=6\n", up, NULL),
                 0);
    cr_assert_eq(report_once("# a comment\n\napi_calls=7 status_5xx=2\n", up, NULL), 0);
    json_t *reps = reports(2);
    cr_assert_eq(json_array_size(reps), 2);
    json_t *a = by_seq(reps, 1), *b = by_seq(reps, 2);
    cr_assert_str_eq(json_string_value(json_object_get(a, "_schema")), "UsageReport");
    cr_assert_str_eq(json_string_value(json_object_get(a, "reporter_id")),
                     json_string_value(json_object_get(b, "reporter_id")), "the same reporter after a restart");
    cr_assert_eq(cli_time_ms(json_object_get(a, "reporter_started_at")),
                 cli_time_ms(json_object_get(b, "reporter_started_at")));
    cr_assert_str_eq(json_string_value(json_object_get(a, "tenant_id")), TALLY_TEST_TENANT);
    cr_assert_str_eq(json_string_value(json_object_get(a, "environment_id")), TALLY_TEST_ENV);
    assert_counters(a, 15, 1, 0, 1240);
    assert_counters(b, 22, 1, 2, 1240);
    cr_assert_leq(cli_time_ms(json_object_get(a, "observed_at")), cli_time_ms(json_object_get(b, "observed_at")));
    json_decref(reps);
}

Test(cli_report, reports_made_while_the_gateway_is_down_arrive_later)
{
    char down[128];
    snprintf(down, sizeof down, "--gateway=http://127.0.0.1:%d", cli_closed_port());
    cr_assert_eq(report_once("api_calls=3\n", down, NULL), 5, "spooled");
    cr_assert_eq(report_once("api_calls=4\n", down, "--retry-base=10ms"), 5, "seq advances while down");
    cr_assert_eq(report_once("api_calls=5\n", up, NULL), 0);
    /* The first report to get through took the spooled ones along. */
    json_t *reps = reports(3);
    cr_assert_eq(json_array_size(reps), 3, "each report once");
    assert_counters(by_seq(reps, 1), 3, 0, 0, 0);
    assert_counters(by_seq(reps, 2), 7, 0, 0, 0);
    assert_counters(by_seq(reps, 3), 12, 0, 0, 0);
    json_decref(reps);
}

Test(cli_report, bad_lines_change_nothing)
{
    cr_assert_eq(report_once("api_calls=10\n", up, NULL), 0);
    static const char *const bad[] = {"api_calls=1 bogus=2\n", "api_calls=-1\n", "api_calls=x\n",
                                      "api_calls=1 api_calls=2\n", "status_4xx=100\n", "api_calls\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *args[] = {up, state_flag, "report-usage", "--once", NULL};
        cli_result_t r = cli_run(&env, bad[i], reporter_env, args);
        cr_assert_eq(r.status, 2, "case %zu", i);
        cr_assert_not_null(strstr(r.err, "stdin line 1"), "case %zu: %s", i, r.err);
        cli_result_free(&r);
    }
    cr_assert_eq(report_once("api_calls=1\n", up, NULL), 0);
    json_t *reps = reports(2);
    cr_assert_eq(json_array_size(reps), 2, "bad input sent nothing");
    assert_counters(by_seq(reps, 2), 11, 0, 0, 0);
    json_decref(reps);
}

Test(cli_report, absolute_totals_may_only_grow)
{
    cr_assert_eq(report_once("api_calls=100 status_4xx=3\n", up, "--counter-mode=absolute"), 0);
    cr_assert_eq(report_once("api_calls=90\n", up, "--counter-mode=absolute"), 2, "backwards is refused");
    cr_assert_eq(report_once("api_calls=150 status_4xx=3 exec_ms=10\n", up, "--counter-mode=absolute"), 0);
    json_t *reps = reports(2);
    assert_counters(by_seq(reps, 2), 150, 3, 0, 10);
    json_decref(reps);
}

Test(cli_report, reset_starts_a_new_reporter_and_tenants_do_not_mix)
{
    cr_assert_eq(report_once("api_calls=10\n", up, NULL), 0);
    cr_assert_eq(report_once("api_calls=1\n", up, "--reset"), 0);
    json_t *reps = reports(2);
    cr_assert_eq(json_array_size(reps), 2);
    json_t *a = json_array_get(reps, 0), *b = json_array_get(reps, 1);
    cr_assert_str_neq(json_string_value(json_object_get(a, "reporter_id")),
                      json_string_value(json_object_get(b, "reporter_id")));
    cr_assert_eq(json_integer_value(json_object_get(a, "seq")), 1);
    cr_assert_eq(json_integer_value(json_object_get(b, "seq")), 1);
    json_decref(reps);

    const char *other[] = {"TALLY_API_KEY=" TALLY_TEST_API_KEY, "TALLY_TENANT=" TALLY_TEST_TENANT,
                           "TALLY_ENVIRONMENT=env-staging", NULL};
    const char *args[] = {up, state_flag, "report-usage", "--once", NULL};
    cli_result_t r = cli_run(&env, "api_calls=1\n", other, args);
    cr_assert_eq(r.status, 2, "another environment's state file is not reused");
    cr_assert_not_null(strstr(r.err, "another tenant or environment"));
    cli_result_free(&r);
}

Test(cli_report, a_counter_file_counts_each_line_once_across_restarts)
{
    char file[200], flag[256];
    snprintf(file, sizeof file, "%s/counters.log", env.dir);
    snprintf(flag, sizeof flag, "--counters=%s", file);
    FILE *f = fopen(file, "w");
    fputs("api_calls=10 exec_ms=100\napi_calls=2\n", f);
    fclose(f);
    cr_assert_eq(report_once(NULL, up, flag), 0);
    cr_assert_eq(report_once(NULL, up, flag), 0, "nothing new: the same totals again");
    f = fopen(file, "a");
    fputs("api_calls=5 status_5xx=1\napi_calls=1", f); /* the last line is not finished yet */
    fclose(f);
    cr_assert_eq(report_once(NULL, up, flag), 0);
    json_t *reps = reports(3);
    cr_assert_eq(json_array_size(reps), 3);
    assert_counters(by_seq(reps, 1), 12, 0, 0, 100);
    assert_counters(by_seq(reps, 2), 12, 0, 0, 100);
    assert_counters(by_seq(reps, 3), 17, 0, 1, 100);
    json_decref(reps);
}

Test(cli_report, the_long_running_reporter_reports_on_its_interval_and_at_sigterm)
{
    char file[200], flag[256];
    snprintf(file, sizeof file, "%s/counters.log", env.dir);
    snprintf(flag, sizeof flag, "--counters=%s", file);
    FILE *f = fopen(file, "w");
    fputs("api_calls=1\n", f);
    fclose(f);
    const char *args[] = {up, state_flag, flag, "--interval=200ms", "report-usage", NULL};
    cli_proc_t p = cli_spawn(&env, NULL, reporter_env, args);
    usleep(400000);
    /* A second process on the same state would reuse seqs: refused. */
    const char *twin[] = {up, state_flag, "--counters=none", "report-usage", "--once", NULL};
    cli_result_t t = cli_run(&env, NULL, reporter_env, twin);
    cr_assert_eq(t.status, 1);
    cr_assert_not_null(strstr(t.err, "another tally report-usage uses this state file"), "%s", t.err);
    cli_result_free(&t);
    usleep(500000);
    f = fopen(file, "a");
    fputs("api_calls=2\n", f);
    fclose(f);
    usleep(500000);
    kill(p.pid, SIGTERM);
    cli_result_t r = cli_wait(&p, 30000);
    cr_assert_eq(r.status, 0, "a clean stop");
    cli_result_free(&r);
    remember_reporter();
    json_t *reps = reports(4);
    size_t n = json_array_size(reps);
    cr_assert_geq(n, 4, "a report every 200 ms, and one at SIGTERM: %zu", n);
    json_t *last = by_seq(reps, (long long)n);
    assert_counters(last, 3, 0, 0, 0);
    assert_counters(by_seq(reps, 1), 1, 0, 0, 0);
    json_decref(reps);

    /* The end of stdin also ends a reporter, with a last report. */
    const char *args2[] = {up, state_flag, "--interval=10s", "report-usage", NULL};
    r = cli_run(&env, "api_calls=4\n", reporter_env, args2);
    cr_assert_eq(r.status, 0);
    cli_result_free(&r);
    reps = reports(n + 1);
    assert_counters(by_seq(reps, (long long)n + 1), 7, 0, 0, 0);
    json_decref(reps);
}

Test(cli_report, at_sets_the_times_for_a_simulation)
{
    long long now = tally_test_now_ms(), start = now - 3 * 86400000LL;
    char at1[64], at2[64];
    snprintf(at1, sizeof at1, "--at=%lld", start);
    snprintf(at2, sizeof at2, "--at=%lld", start + 86400000LL);
    cr_assert_eq(report_once("api_calls=1\n", up, at1), 0);
    cr_assert_eq(report_once("api_calls=1\n", up, at2), 0);
    json_t *reps = reports(2);
    cr_assert_eq(cli_time_ms(json_object_get(by_seq(reps, 1), "reporter_started_at")), start);
    cr_assert_eq(cli_time_ms(json_object_get(by_seq(reps, 1), "observed_at")), start);
    cr_assert_eq(cli_time_ms(json_object_get(by_seq(reps, 2), "observed_at")), start + 86400000LL);
    json_decref(reps);
    char before[64];
    snprintf(before, sizeof before, "--at=%lld", start - 1000);
    cr_assert_eq(report_once("api_calls=1\n", up, before), 2, "before the reporter started");
}
