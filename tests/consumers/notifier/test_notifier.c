/* tally-notifier end to end on the real broker: rollups and Control Panel
 * events encoded with the project's codec go in, UsageAlert records come
 * out (read back read_committed), one per crossing: triggered, resolved by
 * a seat correction and, at once, by terms raised mid-period; a clean restart, a
 * kill -9 and a replay of the same rollups give no second alert; the ops
 * face (--help, /healthz, /readyz, /metrics, SIGTERM drains). */
#include "http.h"
#include "notifier_fixture.h"
#include "services.h"

#include <signal.h>
#include <unistd.h>

TestSuite(notifier, .timeout = 300);

#define ACME "tenant-acme"

/* Terms for December 2026 to November 2027 (seats 5, 1000 calls a month,
 * 100 a day per non-production environment) and a development env. */
static void acme_terms(nf_env_t *e, int64_t monthly, int64_t at)
{
    nf_terms(e, ACME, nf_day(2026, 12, 1), nf_day(2027, 11, 30), 5, monthly, 100, at);
}

static void acme_env(nf_env_t *e)
{
    avro_value_t v, b = nf_cp(e, &v, ACME, 1000, "EnvironmentCreated");
    nf_set_str(&b, "environment_id", "dev");
    nf_set_str(&b, "name", "Development");
    nf_set_str(&b, "owner", "m-1");
    avro_value_t kind;
    cr_assert_eq(avro_value_get_by_name(&b, "kind", &kind, NULL), 0);
    cr_assert_eq(avro_value_set_enum(&kind, 2), 0);   /* development */
    nf_cp_send(e, ACME, &v);
}

static void expect_alert(const nf_alert_t *a, size_t n, const char *metric, int threshold, const char *state,
                         const char *period)
{
    ssize_t i = nf_find(a, n, ACME, metric, threshold, state, period);
    cr_assert_geq(i, 0, "no %s %s %d %s among %zu alerts", metric, state, threshold, period, n);
    if (strcmp(state, "TRIGGERED") == 0)
        cr_assert_geq(a[i].value * 100, a[i].limit * threshold, "%s %d: value %lld limit %lld", metric, threshold,
                      (long long)a[i].value, (long long)a[i].limit);
}

static void expect_distinct_ids(const nf_alert_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(a[i].id, a[j].id, "alerts %zu and %zu share the id %s", i, j, a[i].id);
}

Test(notifier, one_alert_per_crossing_triggered_then_resolved_by_a_correction_and_by_raised_terms)
{
    nf_env_t e;
    nf_env_init(&e, "notifier-e2e");
    acme_terms(&e, 1000, 1000);
    acme_env(&e);
    nf_flush(&e);
    tally_test_proc_t *p = nf_spawn(&e, "nf-e2e");

    int32_t d1 = nf_day(2026, 12, 1), d2 = nf_day(2026, 12, 2), d3 = nf_day(2026, 12, 3);
    nf_api_rollup(&e, ACME, "prod", d1, 500);
    nf_api_rollup(&e, ACME, "prod", d2, 300);   /* 800: 80 % */
    nf_api_rollup(&e, ACME, "dev", d2, 100);    /* dev's cap on the 2nd; 900 */
    nf_api_rollup(&e, ACME, "prod", d3, 200);   /* 1100: 100 % */
    nf_seat_rollup(&e, ACME, d1, 5);            /* seats 100 % */
    nf_seat_rollup(&e, ACME, d2, 4);
    nf_flush(&e);

    nf_alert_t *a;
    size_t n = nf_read_alerts(&e, 4, 3000, 60000, &a);
    cr_assert_eq(n, 4, "%zu alerts, want 4\n%s", n, tally_test_log(p));
    expect_alert(a, n, "MONTHLY_API_CALLS", 80, "TRIGGERED", "2026-12");
    expect_alert(a, n, "MONTHLY_API_CALLS", 100, "TRIGGERED", "2026-12");
    expect_alert(a, n, "NONPROD_DAILY_API_CALLS", 100, "TRIGGERED", "2026-12-02");
    expect_alert(a, n, "SEATS_PEAK", 100, "TRIGGERED", "2026-12");
    ssize_t dev = nf_find(a, n, ACME, "NONPROD_DAILY_API_CALLS", 100, "TRIGGERED", "2026-12-02");
    cr_assert_str_eq(a[dev].env, "dev");
    free(a);

    /* A late seat release lowers the 1st's peak: RESOLVED. */
    nf_seat_rollup(&e, ACME, d1, 3);
    nf_flush(&e);
    n = nf_read_alerts(&e, 5, 3000, 60000, &a);
    cr_assert_eq(n, 5, "%zu alerts, want 5", n);
    expect_alert(a, n, "SEATS_PEAK", 100, "RESOLVED", "2026-12");
    free(a);

    /* Terms raised mid-period (1100 of 2000: 55 %): both resolved at
     * once, without waiting for a rollup. */
    acme_terms(&e, 2000, 2000);
    nf_flush(&e);
    n = nf_read_alerts(&e, 7, 3000, 60000, &a);
    cr_assert_eq(n, 7, "%zu alerts, want 7", n);
    expect_alert(a, n, "MONTHLY_API_CALLS", 100, "RESOLVED", "2026-12");
    expect_alert(a, n, "MONTHLY_API_CALLS", 80, "RESOLVED", "2026-12");
    expect_distinct_ids(a, n);
    free(a);

    cr_assert_eq(tally_test_signal(p, SIGTERM), 0);
    cr_assert_eq(tally_test_wait(p, 60000), 0, "SIGTERM drains and exits 0\n%s", tally_test_log(p));
    tally_test_proc_free(p);
    nf_env_free(&e);
}

Test(notifier, a_restart_a_kill_and_a_replay_of_the_same_rollups_give_no_second_alert)
{
    nf_env_t e;
    nf_env_init(&e, "notifier-replay");
    acme_terms(&e, 1000, 1000);
    nf_flush(&e);
    int32_t d1 = nf_day(2026, 12, 1), d2 = nf_day(2026, 12, 2);
    tally_test_proc_t *p = nf_spawn(&e, "nf-replay");
    nf_api_rollup(&e, ACME, "prod", d1, 700);
    nf_api_rollup(&e, ACME, "prod", d2, 300);   /* 1000: 80 and 100 % */
    nf_flush(&e);
    nf_alert_t *a;
    size_t n = nf_read_alerts(&e, 2, 3000, 60000, &a);
    cr_assert_eq(n, 2);
    char first[2][40];
    memcpy(first[0], a[0].id, 40);
    memcpy(first[1], a[1].id, 40);
    free(a);

    for (int round = 0; round < 2; round++) {
        /* Round 0: a clean stop; round 1: kill -9. Then the same rollups again. */
        cr_assert_eq(tally_test_signal(p, round == 0 ? SIGTERM : SIGKILL), 0);
        cr_assert_eq(tally_test_wait(p, 60000), round == 0 ? 0 : 128 + SIGKILL, "%s", tally_test_log(p));
        tally_test_proc_free(p);
        p = nf_spawn(&e, "nf-replay");
        nf_api_rollup(&e, ACME, "prod", d1, 700);
        nf_api_rollup(&e, ACME, "prod", d2, 300);
        nf_flush(&e);
        n = nf_read_alerts(&e, 3, 4000, 20000, &a);
        cr_assert_eq(n, 2, "round %d: %zu alerts after the replay, want still 2\n%s", round, n, tally_test_log(p));
        cr_assert_str_eq(a[0].id, first[0]);
        cr_assert_str_eq(a[1].id, first[1]);
        free(a);
    }
    /* The restored state still knows what was reached: only 150 % is new. */
    nf_api_rollup(&e, ACME, "prod", d2, 800);   /* 1500 */
    nf_flush(&e);
    n = nf_read_alerts(&e, 3, 3000, 60000, &a);
    cr_assert_eq(n, 3, "%zu alerts", n);
    expect_alert(a, n, "MONTHLY_API_CALLS", 150, "TRIGGERED", "2026-12");
    expect_distinct_ids(a, n);
    free(a);
    cr_assert_eq(tally_test_signal(p, SIGTERM), 0);
    cr_assert_eq(tally_test_wait(p, 60000), 0, "%s", tally_test_log(p));
    tally_test_proc_free(p);
    nf_env_free(&e);
}

Test(notifier, help_health_readiness_and_metrics_on_the_admin_port)
{
    char cmd[1024], out[8192];
    snprintf(cmd, sizeof cmd, "'%s' --help", tally_test_bin("tally-notifier"));
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    size_t len = fread(out, 1, sizeof out - 1, f);
    out[len] = '\0';
    cr_assert_eq(pclose(f), 0);
    cr_assert(strstr(out, "--api-calls-percent") && strstr(out, "--admin-port") && strstr(out, "tally.alerts"), "%s",
              out);
    snprintf(cmd, sizeof cmd, "'%s' --seats-percent=100,50 2>&1", tally_test_bin("tally-notifier"));
    f = popen(cmd, "r");
    len = fread(out, 1, sizeof out - 1, f);
    out[len] = '\0';
    cr_assert_eq(WEXITSTATUS(pclose(f)), 2, "a bad threshold list is a usage error: %s", out);
    cr_assert(strstr(out, "--seats-percent") != NULL, "%s", out);

    nf_env_t e;
    nf_env_init(&e, "notifier-ops");
    tally_test_proc_t *p = nf_spawn(&e, "nf-ops");
    const char *line = strstr(tally_test_log(p), "admin listening on");
    cr_assert_not_null(line);
    int port = tally_test_port_from_line(line);
    cr_assert_gt(port, 0, "%s", line);
    char url[128];
    long long deadline = tally_test_mono_ms() + 30000;
    long st = 0;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/readyz", port);
    while (tally_test_mono_ms() < deadline) {
        tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 1);
        st = r.status;
        tally_test_response_free(&r);
        if (st == 200)
            break;
        usleep(200 * 1000);
    }
    cr_assert_eq(st, 200, "/readyz once in the group");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", port);
    tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 1);
    cr_assert_eq(r.status, 200);
    tally_test_response_free(&r);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    r = tally_test_http("GET", url, NULL, NULL, 0, 1);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "tally_notifier_restores_total") && strstr(r.body, "tally_txn_transactions_total"),
              "%s", r.body);
    tally_test_response_free(&r);
    cr_assert_eq(tally_test_signal(p, SIGTERM), 0);
    cr_assert_eq(tally_test_wait(p, 60000), 0, "%s", tally_test_log(p));
    tally_test_proc_free(p);
    nf_env_free(&e);
}

/* An AlertRulesSet of tenant: api_calls_percent = {api[0..n)}, the others empty. */
static void rules(nf_env_t *e, const char *tenant, const int *api, size_t n, int64_t at)
{
    avro_value_t v, b = nf_cp(e, &v, tenant, at, "AlertRulesSet");
    avro_value_t arr, item;
    cr_assert_eq(avro_value_get_by_name(&b, "api_calls_percent", &arr, NULL), 0);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(avro_value_append(&arr, &item, NULL), 0);
        cr_assert_eq(avro_value_set_int(&item, api[i]), 0);
    }
    nf_cp_send(e, tenant, &v);
}

Test(notifier, the_deployment_flags_set_the_defaults_and_a_tenants_alert_rules_replace_them)
{
    nf_env_t e;
    nf_env_init(&e, "notifier-rules");
    int32_t d1 = nf_day(2026, 12, 1);
    nf_terms(&e, "t-default", d1, nf_day(2027, 11, 30), 100, 1000, 100, 1000);
    nf_terms(&e, "t-own", d1, nf_day(2027, 11, 30), 100, 1000, 100, 1000);
    const int own[] = {30, 60};
    rules(&e, "t-own", own, 2, 1000);
    nf_flush(&e);
    const char *const args[] = {"--api-calls-percent=50,90", "--seats-percent=", NULL};
    tally_test_proc_t *p = nf_spawn_args(&e, "nf-rules", args);
    nf_api_rollup(&e, "t-default", "prod", d1, 700);   /* 70 %: the deployment's 50 */
    nf_api_rollup(&e, "t-own", "prod", d1, 700);       /* its own 30 and 60 */
    nf_seat_rollup(&e, "t-default", d1, 1000);          /* no seat thresholds at all */
    nf_flush(&e);
    nf_alert_t *a;
    size_t n = nf_read_alerts(&e, 3, 3000, 60000, &a);
    cr_assert_eq(n, 3, "%zu alerts\n%s", n, tally_test_log(p));
    cr_assert_geq(nf_find(a, n, "t-default", "MONTHLY_API_CALLS", 50, "TRIGGERED", "2026-12"), 0);
    cr_assert_geq(nf_find(a, n, "t-own", "MONTHLY_API_CALLS", 30, "TRIGGERED", "2026-12"), 0);
    cr_assert_geq(nf_find(a, n, "t-own", "MONTHLY_API_CALLS", 60, "TRIGGERED", "2026-12"), 0);
    free(a);
    /* New rules take effect at once: 90 is now the tenant's, reached by 950. */
    const int later[] = {90};
    rules(&e, "t-own", later, 1, 2000);
    nf_api_rollup(&e, "t-own", "prod", d1, 950);
    nf_flush(&e);
    n = nf_read_alerts(&e, 4, 3000, 60000, &a);
    cr_assert_eq(n, 4, "%zu alerts", n);
    cr_assert_geq(nf_find(a, n, "t-own", "MONTHLY_API_CALLS", 90, "TRIGGERED", "2026-12"), 0);
    free(a);
    cr_assert_eq(tally_test_signal(p, SIGTERM), 0);
    cr_assert_eq(tally_test_wait(p, 60000), 0, "%s", tally_test_log(p));
    tally_test_proc_free(p);
    nf_env_free(&e);
}
