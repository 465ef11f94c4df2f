/* The Control Panel views on a migrated database, rows written directly:
 * compliance status at and around each threshold (ok below 80 %, warning
 * from 80 % up to 100 %, over above), only the contract period's days
 * counted, production excluded from the non-production daily limit; and
 * the tally_reader role, which reads every view and is refused every table;
 * a tenant whose counters saturated (INT64_MAX) breaks no view. */
#include "mat_fixture.h"

static char db[96];
static PGconn *conn;

static void setup(void)
{
    conn = tally_test_db_create("tally_test_views", db, sizeof db);
    mat_migrate(conn);
}

static void teardown(void)
{
    tally_test_db_drop(conn, db);
}

TestSuite(views, .init = setup, .fini = teardown, .timeout = 60);

static void sql(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sql(const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    mat_exec(conn, buf);
}

static void license(const char *tenant, const char *from, const char *until, long long seats, long long monthly,
                    long long daily)
{
    sql("INSERT INTO tally.license_terms VALUES ('%s', '%s', '%s', %lld, %lld, %lld, '{}', now())", tenant, from,
        until, seats, monthly, daily);
}

static void env(const char *tenant, const char *id, const char *kind)
{
    sql("INSERT INTO tally.environments VALUES ('%s', '%s', '%s', '%s', 'o', now(), NULL)", tenant, id, id, kind);
}

static void api(const char *tenant, const char *envid, const char *day, long long calls)
{
    sql("INSERT INTO tally.api_usage_daily VALUES ('%s', '%s', '%s', %lld, 0, 0, 0, now(), 0, 0)", tenant, envid,
        day, calls);
}

static const char *status(const char *column, const char *tenant)
{
    return mat_text(conn, "SELECT %s FROM tally.compliance WHERE tenant_id = '%s'", column, tenant);
}

/* used -> expected status against a maximum of 10000. */
static const struct {
    long long used;
    const char *status;
} cases[] = {
    {0, "ok"}, {7999, "ok"}, {8000, "warning"}, {8001, "warning"}, {9999, "warning"}, {10000, "warning"},
    {10001, "over"}, {25000, "over"},
};
#define N_CASES (sizeof cases / sizeof cases[0])

Test(views, monthly_api_calls_thresholds)
{
    for (size_t i = 0; i < N_CASES; i++) {
        char t[32];
        snprintf(t, sizeof t, "m%lld", cases[i].used);
        license(t, "2024-03-15", "2025-03-14", 1000000, 10000, 1000000);
        env(t, "prod", "production");
        env(t, "dev", "development");
        /* Split over two environments and two days; a day before the
         * contract period and a day of another month do not count. */
        api(t, "prod", "2024-03-15", cases[i].used / 2);
        api(t, "dev", "2024-03-31", cases[i].used - cases[i].used / 2);
        api(t, "prod", "2024-03-14", 50000);
        api(t, "prod", "2024-04-01", 1);
        cr_assert_str_eq(status("monthly_api_calls_status", t), cases[i].status, "used %lld", cases[i].used);
        cr_assert_eq(mat_scalar(conn, "SELECT api_calls_month_peak FROM tally.compliance WHERE tenant_id = '%s'", t),
                     cases[i].used > 1 ? cases[i].used : 1);
        cr_assert_eq(mat_scalar(conn, "SELECT used FROM tally.compliance_detail WHERE tenant_id = '%s' AND metric = "
                                      "'monthly_api_calls' AND period_start = '2024-03-15' AND period_end = "
                                      "'2024-03-31'", t),
                     cases[i].used);
    }
    /* Twelve months and a half of a contract: 13 monthly rows. */
    cr_assert_eq(mat_scalar(conn, "SELECT count(*) FROM tally.compliance_detail WHERE tenant_id = 'm0' AND metric = "
                                  "'monthly_api_calls'"), 13);
    cr_assert_str_eq(mat_text(conn, "SELECT period_start || '..' || period_end FROM tally.compliance_detail WHERE "
                                    "tenant_id = 'm0' AND metric = 'monthly_api_calls' ORDER BY period_start DESC "
                                    "LIMIT 1"), "2025-03-01..2025-03-14");
}

Test(views, nonprod_daily_thresholds_and_production_excluded)
{
    for (size_t i = 0; i < N_CASES; i++) {
        char t[32];
        snprintf(t, sizeof t, "d%lld", cases[i].used);
        license(t, "2024-01-01", "2024-12-31", 1000000, 1000000000, 10000);
        env(t, "prod", "production");
        env(t, "stage", "staging");
        env(t, "dev", "development");
        api(t, "prod", "2024-05-01", 99999);            /* production has no daily limit */
        api(t, "stage", "2024-05-01", cases[i].used);
        api(t, "dev", "2024-05-02", 10);
        api(t, "stage", "2023-12-31", 99999);           /* before the contract */
        cr_assert_str_eq(status("nonprod_daily_status", t), cases[i].status, "used %lld", cases[i].used);
        cr_assert_eq(mat_scalar(conn, "SELECT nonprod_day_peak FROM tally.compliance WHERE tenant_id = '%s'", t),
                     cases[i].used > 10 ? cases[i].used : 10);
        cr_assert_str_eq(status("monthly_api_calls_status", t), "ok");
    }
    cr_assert_eq(mat_scalar(conn, "SELECT count(*) FROM tally.compliance_detail WHERE tenant_id = 'd8000' AND "
                                  "metric = 'daily_api_calls_nonprod'"), 2);
    cr_assert_str_eq(mat_text(conn, "SELECT string_agg(environment_id || ' ' || percent || ' ' || status, ', ' "
                                    "ORDER BY environment_id) FROM tally.compliance_detail WHERE tenant_id = "
                                    "'d10001' AND metric = 'daily_api_calls_nonprod'"),
                     "dev 0.10 ok, stage 100.01 over");
}

Test(views, seats_thresholds_and_overall_status)
{
    for (size_t i = 0; i < N_CASES; i++) {
        char t[32];
        snprintf(t, sizeof t, "s%lld", cases[i].used);
        license(t, "2024-01-01", "2024-12-31", 10000, 1000000000, 1000000000);
        sql("INSERT INTO tally.seat_usage_daily VALUES ('%s', '2024-06-01', 1, %lld, now(), 0, 0), "
            "('%s', '2024-06-02', 1, 3, now(), 0, 1), ('%s', '2025-01-01', 1, 99999, now(), 0, 2)",
            t, cases[i].used, t, t);
        cr_assert_str_eq(status("seats_status", t), cases[i].status, "used %lld", cases[i].used);
        cr_assert_str_eq(status("status", t), cases[i].status, "overall, used %lld", cases[i].used);
    }
    /* The worst status wins overall; nothing used against a maximum of 0 is ok. */
    license("mix", "2024-01-01", "2024-12-31", 0, 10000, 10000);
    env("mix", "stage", "staging");
    api("mix", "stage", "2024-02-01", 8500);
    cr_assert_str_eq(status("concat_ws(' ', monthly_api_calls_status, nonprod_daily_status, seats_status, status)",
                            "mix"),
                     "warning warning ok warning");
    sql("INSERT INTO tally.seat_usage_daily VALUES ('mix', '2024-03-01', 1, 1, now(), 0, 0)");
    cr_assert_str_eq(status("concat_ws(' ', seats_status, status)", "mix"), "over over");
}

Test(views, monthly_usage_and_product_analytics)
{
    env("t", "prod", "production");
    api("t", "prod", "2024-02-28", 5);
    api("t", "prod", "2024-02-29", 7);
    api("t", "prod", "2024-03-01", 11);
    api("t", "other", "2024-03-01", 13);   /* no Control Panel row yet: still shown */
    cr_assert_str_eq(mat_text(conn, "SELECT string_agg(concat_ws(' ', environment_id, environment_name, month, "
                                    "api_calls, days_reported), '; ' ORDER BY environment_id, month) FROM "
                                    "tally.monthly_usage"),
                     "other 2024-03-01 13 1; prod prod 2024-02-01 12 2; prod prod 2024-03-01 11 1");
    sql("INSERT INTO tally.product_daily VALUES ('2024-03-01', 'cli.init', 'CLI', '', 4, 2), "
        "('2024-03-01', 'cli.init', 'CLI', '1.0.0', 1, 1)");
    cr_assert_str_eq(mat_text(conn, "SELECT string_agg(concat_ws(' ', day, event, source, coalesce(version, "
                                    "'(null)'), events, installs), '; ' ORDER BY version NULLS FIRST) FROM "
                                    "tally.product_analytics_daily"),
                     "2024-03-01 cli.init CLI (null) 4 2; 2024-03-01 cli.init CLI 1.0.0 1 1");
}

/* Two saturated rollups of one tenant in a month: the views sum them. A sum
 * past the bigint range must not fail the query (that would hide every
 * tenant's figures): the figure saturates at INT64_MAX and shows "over". */
Test(views, saturated_tenant_breaks_no_view)
{
    license("sat", "2024-03-01", "2025-02-28", 10, 1000000, 1000000);
    env("sat", "prod", "production");
    env("sat", "dev", "development");
    api("sat", "prod", "2024-03-02", INT64_MAX);
    api("sat", "prod", "2024-03-03", INT64_MAX);
    api("sat", "dev", "2024-03-02", INT64_MAX - 1);
    sql("UPDATE tally.api_usage_daily SET status_4xx = api_calls, status_5xx = api_calls, exec_ms = api_calls "
        "WHERE tenant_id = 'sat'");
    sql("INSERT INTO tally.seat_usage_daily VALUES ('sat', '2024-03-02', %lld, %lld, now(), 0, 0)",
        (long long)INT64_MAX, (long long)INT64_MAX);
    license("fine", "2024-03-01", "2025-02-28", 10, 1000, 1000);
    env("fine", "prod", "production");
    api("fine", "prod", "2024-03-02", 100);
    api("fine", "prod", "2024-03-03", 200);

    cr_assert_str_eq(mat_text(conn, "SELECT string_agg(concat_ws(' ', tenant_id, environment_id, month, api_calls, "
                                    "status_4xx, status_5xx, exec_ms, days_reported), '; ' ORDER BY tenant_id, "
                                    "environment_id) FROM tally.monthly_usage"),
                     "fine prod 2024-03-01 300 0 0 0 2; "
                     "sat dev 2024-03-01 9223372036854775806 9223372036854775806 9223372036854775806 "
                     "9223372036854775806 1; "
                     "sat prod 2024-03-01 9223372036854775807 9223372036854775807 9223372036854775807 "
                     "9223372036854775807 2");
    cr_assert_str_eq(mat_text(conn, "SELECT string_agg(concat_ws(' ', tenant_id, api_calls_month_peak, "
                                    "monthly_api_calls_status, nonprod_day_peak, nonprod_daily_status, seats_peak, "
                                    "seats_status, status), '; ' ORDER BY tenant_id) FROM tally.compliance"),
                     "fine 300 ok 0 ok 0 ok ok; "
                     "sat 9223372036854775807 over 9223372036854775806 over 9223372036854775807 over over");
    cr_assert_eq(mat_scalar(conn, "SELECT count(*) FROM tally.compliance_detail WHERE status = 'over' AND "
                                  "tenant_id = 'sat' AND percent > 100"), 3);
    cr_assert_str_eq(mat_text(conn, "SELECT string_agg(metric || ' ' || used || ' ' || status, ', ' ORDER BY metric) "
                                    "FROM tally.compliance_detail WHERE tenant_id = 'fine' AND period_start = "
                                    "'2024-03-01'"),
                     "monthly_api_calls 300 ok, seats_peak 0 ok");
    /* The Control Panel reads them as tally_reader. */
    mat_exec(conn, "SET ROLE tally_reader");
    cr_assert_eq(mat_scalar(conn, "SELECT count(*) FROM tally.monthly_usage"), 3);
    cr_assert_eq(mat_scalar(conn, "SELECT count(*) FROM tally.compliance"), 2);
    mat_exec(conn, "RESET ROLE");
}

Test(views, tally_reader_reads_views_and_no_table)
{
    /* Rows everywhere, so a refusal cannot be mistaken for an empty table. */
    license("t", "2024-01-01", "2024-12-31", 1, 1, 1);
    api("t", "prod", "2024-01-02", 1);
    static const char *const views[] = {"monthly_usage", "monthly_seats", "compliance_detail", "compliance",
                                        "product_analytics_daily"};
    long long owner[sizeof views / sizeof views[0]];
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++)
        owner[i] = mat_scalar(conn, "SELECT count(*) FROM tally.%s", views[i]);
    cr_assert_eq(owner[0], 1, "monthly_usage shows the API row");
    mat_exec(conn, "SET ROLE tally_reader");
    PGresult *r = PQexec(conn, "SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname = 'tally' "
                               "ORDER BY 1");
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    int tables = PQntuples(r);
    cr_assert_geq(tables, 12, "the read model has its tables");
    for (int i = 0; i < tables; i++) {
        char q[256];
        const char *verbs[] = {"SELECT 1 FROM", "DELETE FROM", "TRUNCATE"};
        /* The console reads token hashes to sign members in (0008), and its
         * downloads (tally-replay export) read four tables without personal
         * data (0010), and its license pages the licenses (0011): SELECT only,
         * checked with the other verbs. */
        static const char *const readable[] = {"tally.console_tokens", "tally.tenants", "tally.api_usage_daily",
                                               "tally.seat_usage_daily", "tally.kafka_offsets", "tally.licenses"};
        int may_read = 0;
        for (size_t k = 0; k < sizeof readable / sizeof readable[0]; k++)
            may_read |= strcmp(PQgetvalue(r, i, 0), readable[k]) == 0;
        for (size_t v = may_read ? 1 : 0; v < sizeof verbs / sizeof verbs[0]; v++) {
            snprintf(q, sizeof q, "%s %s", verbs[v], PQgetvalue(r, i, 0));
            PGresult *x = PQexec(conn, q);
            cr_assert_eq(PQresultStatus(x), PGRES_FATAL_ERROR, "tally_reader may run: %s", q);
            cr_assert_str_eq(PQresultErrorField(x, PG_DIAG_SQLSTATE), "42501", "%s: %s", q,
                             PQresultErrorMessage(x));
            PQclear(x);
        }
    }
    PQclear(r);
    /* It sees every row of every view, as their owner does. */
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++)
        cr_assert_eq(mat_scalar(conn, "SELECT count(*) FROM tally.%s", views[i]), owner[i], "tally_reader's %s",
                     views[i]);
    cr_assert_eq(mat_scalar(conn, "SELECT count(*) FROM tally.compliance"), 1);
    /* Views are read-only for it too. */
    PGresult *x = PQexec(conn, "INSERT INTO tally.product_analytics_daily VALUES ('2024-01-01', 'e', 'CLI', 'v', 1, 1)");
    cr_assert_eq(PQresultStatus(x), PGRES_FATAL_ERROR);
    PQclear(x);
    x = PQexec(conn, "DELETE FROM tally.product_analytics_daily");
    cr_assert_str_eq(PQresultErrorField(x, PG_DIAG_SQLSTATE), "42501", "%s", PQresultErrorMessage(x));
    PQclear(x);
    mat_exec(conn, "RESET ROLE");
}
