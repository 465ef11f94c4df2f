/* The usage alerts on the console's pages, on a real, migrated database
 * loaded as tally_reader (tally.alerts as the materializer writes it, read
 * through tally.console_alerts and tally.console_open_alerts):
 *   overview  the tenant's alerts of the current month (PF_NOW: 2026-11),
 *             monthly ones of the month and daily ones of its days, newest
 *             first; never another tenant's, never another month's; shown
 *             as a real <table> (metric, threshold, value / limit, state,
 *             when), and an empty table that says so;
 *   tenants   each tenant's count of open alerts of the current month:
 *             thresholds whose latest alert is TRIGGERED (trigger, resolve,
 *             trigger again: open); last month's still TRIGGERED 80 % is
 *             not counted (nothing resolves an alert when its month ends). */
#include "page_fixture.h"

#include "markup.h"

TestSuite(pages_alerts, .init = pf_setup, .fini = pf_teardown, .timeout = 60);

static int serial;

/* One alert as the materializer stores it; env NULL for none. */
static void alert(const char *tenant, const char *metric, const char *env, const char *period, int threshold,
                  long long value, long long limit, const char *state, const char *at)
{
    char env_sql[80];
    snprintf(env_sql, sizeof env_sql, env ? "'%s'" : "NULL", env);
    serial++;
    pf_sql("INSERT INTO tally.alerts VALUES ('a1e70000-0000-4000-8000-%012d', '%s', %s, '%s', %d, %lld, %lld, "
           "'%s', '%s', '%s', 0, %d)",
           serial, tenant, env_sql, metric, threshold, value, limit, period, state, at, serial);
}

static void tenant(const char *id, const char *name)
{
    pf_tenant(id, name);
    pf_env(id, "prod", "Production", "production");
    pf_license(id, "2026-01-01", "2026-12-31", 10, 1000, 100);
}

/* acme: 80 % and 100 % of November, 100 % resolved then triggered again,
 * a non-production day of November, and October's 80 %; globex: seats. */
static void seed(void)
{
    tenant("acme", "Acme");
    tenant("globex", "Globex");
    alert("acme", "MONTHLY_API_CALLS", NULL, "2026-10", 80, 800, 1000, "TRIGGERED", "2026-10-20T10:00:00Z");
    alert("acme", "MONTHLY_API_CALLS", NULL, "2026-11", 80, 810, 1000, "TRIGGERED", "2026-11-10T10:00:00Z");
    alert("acme", "MONTHLY_API_CALLS", NULL, "2026-11", 100, 1000, 1000, "TRIGGERED", "2026-11-15T10:00:00Z");
    alert("acme", "MONTHLY_API_CALLS", NULL, "2026-11", 100, 990, 1000, "RESOLVED", "2026-11-16T10:00:00Z");
    alert("acme", "NONPROD_DAILY_API_CALLS", "dev", "2026-11-17", 100, 120, 100, "TRIGGERED",
          "2026-11-17T23:00:00Z");
    alert("acme", "MONTHLY_API_CALLS", NULL, "2026-11", 100, 1010, 1000, "TRIGGERED", "2026-11-19T10:00:00Z");
    alert("globex", "SEATS_PEAK", NULL, "2026-11", 100, 11, 10, "TRIGGERED", "2026-11-18T10:00:00Z");
}

Test(pages_alerts, overview_lists_the_tenants_alerts_of_this_month_newest_first)
{
    seed();
    tally_page_query_t q = pf_query("acme", "m1");
    json_t *m = pf_load("overview", &q);
    cr_assert_str_eq(pf_str(m, "alerts.period"), "2026-11");
    json_t *list = pf_at(m, "alerts.alerts");
    cr_assert_eq(json_array_size(list), 5, "acme's five November alerts, not October's, not globex's");
    static const char *const at[] = {"2026-11-19T10:00:00Z", "2026-11-17T23:00:00Z", "2026-11-16T10:00:00Z",
                                     "2026-11-15T10:00:00Z", "2026-11-10T10:00:00Z"};
    for (size_t i = 0; i < 5; i++) {
        char path[64];
        snprintf(path, sizeof path, "alerts.alerts.%zu.at", i);
        cr_assert_str_eq(pf_str(m, path), at[i]);
        snprintf(path, sizeof path, "alerts.alerts.%zu.tenant_id", i);
        cr_assert_str_eq(pf_str(m, path), "acme");
    }
    cr_assert_str_eq(pf_str(m, "alerts.alerts.1.metric"), "NONPROD_DAILY_API_CALLS");
    cr_assert_str_eq(pf_str(m, "alerts.alerts.1.environment_id"), "dev");
    cr_assert_str_eq(pf_str(m, "alerts.alerts.1.period"), "2026-11-17");
    cr_assert_eq(pf_int(m, "alerts.alerts.0.value"), 1010);
    cr_assert_eq(pf_int(m, "alerts.alerts.0.limit"), 1000);
    cr_assert_eq(pf_int(m, "alerts.alerts.0.threshold"), 100);
    cr_assert_str_eq(pf_str(m, "alerts.alerts.2.state"), "RESOLVED");
    cr_assert(json_is_false(pf_at(m, "alerts.truncated")));
    /* The same list as SQL over the table, independently. */
    cr_assert_eq(pf_scalar("SELECT count(*) FROM tally.alerts WHERE tenant_id = 'acme' AND left(period, 7) = "
                           "'2026-11'"),
                 5);

    char *html = pf_render("overview", m, &q);
    char err[256];
    cr_assert_eq(tally_test_markup_check(html, err, sizeof err), 0, "%s", err);
    const char *t = strstr(html, "<table class=\"alerts\">");
    cr_assert_not_null(t, "a real table of alerts:\n%s", html);
    cr_assert_not_null(strstr(t, "<caption>Usage alerts of 2026-11</caption>"), "%s", t);
    const char *end = strstr(t, "</table>");
    cr_assert_not_null(end);
    char *table = strndup(t, (size_t)(end - t));
    cr_assert_eq(tally_test_count(table, "<tr>"), 6, "a header and five rows:\n%s", table);
    /* Newest first, each with its value over its limit and its state. */
    const char *r1 = strstr(table, "1010 / 1000"), *r2 = strstr(table, "120 / 100"), *r3 = strstr(table, "990 / 1000");
    const char *r4 = strstr(table, "1000 / 1000"), *r5 = strstr(table, "810 / 1000");
    cr_assert(r1 && r2 && r3 && r4 && r5, "%s", table);
    cr_assert(r1 < r2 && r2 < r3 && r3 < r4 && r4 < r5, "newest first:\n%s", table);
    cr_assert_not_null(strstr(table, "Non-production API calls of a day (dev, 2026-11-17)"), "%s", table);
    cr_assert_eq(tally_test_count(table, ">resolved<"), 1, "%s", table);
    cr_assert_eq(tally_test_count(table, ">triggered<"), 4, "%s", table);
    cr_assert_null(strstr(table, "800 / 1000"), "October's alert is not this month's");
    cr_assert_null(strstr(table, "11 / 10"), "globex's alert is not acme's");
    free(table);
    free(html);
    json_decref(m);
}

Test(pages_alerts, overview_without_alerts_says_so)
{
    seed();
    tenant("initech", "Initech");
    tally_page_query_t q = pf_query("initech", "m1");
    json_t *m = pf_load("overview", &q);
    cr_assert_eq(json_array_size(pf_at(m, "alerts.alerts")), 0);
    char *html = pf_render("overview", m, &q);
    cr_assert_not_null(strstr(html, "<table class=\"alerts\">"), "%s", html);
    cr_assert_not_null(strstr(html, "No usage alert this month"), "%s", html);
    free(html);
    json_decref(m);
}

Test(pages_alerts, vendor_tenants_count_each_tenants_open_alerts)
{
    seed();
    tenant("initech", "Initech");
    tally_page_query_t q = pf_query(NULL, NULL);
    json_t *m = pf_load("tenants", &q);
    json_t *rows = pf_at(m, "tenants");
    /* acme: November's 80 %, November's 100 % (triggered, resolved,
     * triggered again) and the day's cap: 3 open (not October's 80 %);
     * globex 1; initech none. */
    int seen = 0;
    for (size_t i = 0; i < json_array_size(rows); i++) {
        const json_t *r = json_array_get(rows, i);
        const char *id = json_string_value(json_object_get(r, "id"));
        long long open = (long long)json_integer_value(json_object_get(r, "open_alerts"));
        long long want = strcmp(id, "acme") == 0 ? 3 : strcmp(id, "globex") == 0 ? 1 : 0;
        cr_assert_eq(open, want, "%s: %lld open alerts", id, open);
        seen++;
    }
    cr_assert_eq(seen, 3);
    /* A resolution closes one. */
    alert("acme", "MONTHLY_API_CALLS", NULL, "2026-11", 100, 900, 1000, "RESOLVED", "2026-11-20T10:00:00Z");
    json_decref(m);
    m = pf_load("tenants", &q);
    char *html = pf_render("tenants", m, &q);
    cr_assert_not_null(strstr(html, "<th scope=\"col\" class=\"num\">Open alerts</th>"), "%s", html);
    for (size_t i = 0; i < json_array_size(pf_at(m, "tenants")); i++) {
        const json_t *r = json_array_get(pf_at(m, "tenants"), i);
        if (strcmp(json_string_value(json_object_get(r, "id")), "acme") == 0)
            cr_assert_eq(json_integer_value(json_object_get(r, "open_alerts")), 2);
    }
    free(html);
    json_decref(m);
}
