/* The usage and seats pages on a real, migrated database, loaded as
 * tally_reader at a pinned clock (2026-11-20T12:00Z): every day of the
 * month, calls stacked by environment, 4xx and 5xx, per-environment totals
 * equal to tally.monthly_usage; seats per day against the maximum of the
 * contract period valid that day; ?period= validated (one month, the
 * current one or one of the 13 before it); another tenant's rows never appear. */
#include "page_fixture.h"

TestSuite(pages_usage, .init = pf_setup, .fini = pf_teardown, .timeout = 60);

static void seed(void)
{
    pf_tenant("acme", "Acme Corp");
    pf_env("acme", "prod", "Production", "production");
    pf_env("acme", "dev", "Development", "development");
    pf_env("acme", "stage", "Staging", "staging");
    char day[16];
    for (int d = 1; d <= 30; d += 2) {
        snprintf(day, sizeof day, "2026-09-%02d", d);
        pf_api("acme", "prod", day, 1000 + d, 10 + d, d % 4);
        if (d % 3 == 0)
            pf_api("acme", "dev", day, 50 * d, d, 0);
    }
    pf_api("acme", "stage", "2026-09-30", 7, 7, 0);
    pf_api("acme", "prod", "2026-08-31", 123456, 0, 0);   /* the month before */
    pf_api("acme", "prod", "2026-10-01", 654321, 0, 0);   /* the month after */
    /* globex: the same environment ids, the same days. */
    pf_tenant("globex", "Globex Corporation");
    pf_env("globex", "prod", "Globex Prod", "production");
    pf_api("globex", "prod", "2026-09-03", 999999, 9999, 999);
}

Test(pages_usage, days_environments_and_totals_equal_the_tables)
{
    seed();
    tally_page_query_t q = pf_query("acme", "m1");
    q.period = "2026-09";
    json_t *m = pf_load("usage", &q);
    cr_assert_str_eq(pf_str(m, "period"), "2026-09");
    cr_assert_str_eq(pf_str(m, "first_day"), "2026-09-01");
    cr_assert_str_eq(pf_str(m, "last_day"), "2026-09-30");
    cr_assert(json_is_false(pf_at(m, "truncated")));
    json_t *daily = pf_at(m, "daily"), *envs = pf_at(m, "environments");
    cr_assert_eq(json_array_size(daily), 30, "every day of September");
    cr_assert_eq(json_array_size(envs), 3);
    /* production, staging, development */
    cr_assert_str_eq(pf_str(m, "environments.0.id"), "prod");
    cr_assert_str_eq(pf_str(m, "environments.1.id"), "stage");
    cr_assert_str_eq(pf_str(m, "environments.2.id"), "dev");
    cr_assert_str_eq(pf_str(m, "environments.2.kind"), "development");
    cr_assert_str_eq(pf_str(m, "environments.0.name"), "Production");

    for (size_t e = 0; e < 3; e++) {
        json_t *env = json_array_get(envs, e);
        const char *id = json_string_value(json_object_get(env, "id"));
        static const char *const cols[] = {"api_calls", "status_4xx", "status_5xx", "exec_ms"};
        for (size_t c = 0; c < 4; c++)
            cr_assert_eq(json_integer_value(json_object_get(env, cols[c])),
                         pf_scalar("SELECT %s FROM tally.monthly_usage WHERE tenant_id = 'acme' AND "
                                   "environment_id = '%s' AND month = '2026-09-01'", cols[c], id),
                         "%s %s", id, cols[c]);
    }
    for (int d = 0; d < 30; d++) {
        char path[64], date[16];
        snprintf(date, sizeof date, "2026-09-%02d", d + 1);
        snprintf(path, sizeof path, "daily.%d.day", d);
        cr_assert_str_eq(pf_str(m, path), date);
        static const char *const cols[] = {"api_calls", "status_4xx", "status_5xx"};
        for (size_t c = 0; c < 3; c++) {
            snprintf(path, sizeof path, "daily.%d.%s", d, cols[c]);
            cr_assert_eq(pf_int(m, path),
                         pf_scalar("SELECT coalesce(sum(%s), 0) FROM tally.api_usage_daily WHERE tenant_id = 'acme' "
                                   "AND day = '%s'", cols[c], date),
                         "%s", path);
        }
        /* The stack adds up to the day, in the environments' order. */
        long long stacked = 0;
        for (int e = 0; e < 3; e++) {
            snprintf(path, sizeof path, "daily.%d.by_environment.%d", d, e);
            long long v = pf_int(m, path);
            stacked += v;
            cr_assert_eq(v, pf_scalar("SELECT coalesce(sum(api_calls), 0) FROM tally.api_usage_daily WHERE "
                                      "tenant_id = 'acme' AND day = '%s' AND environment_id = '%s'",
                                      date, pf_str(m, (snprintf(path, sizeof path, "environments.%d.id", e), path))));
        }
        snprintf(path, sizeof path, "daily.%d.api_calls", d);
        cr_assert_eq(stacked, pf_int(m, path));
    }
    cr_assert_eq(pf_int(m, "totals.api_calls"),
                 pf_scalar("SELECT sum(api_calls) FROM tally.monthly_usage WHERE tenant_id = 'acme' AND month = "
                           "'2026-09-01'"));
    char *dump = pf_dump(m);
    cr_assert(strstr(dump, "999999") == NULL && strstr(dump, "Globex") == NULL && strstr(dump, "123456") == NULL &&
                  strstr(dump, "654321") == NULL,
              "%s", dump);
    free(dump);
    json_decref(m);
}

Test(pages_usage, an_empty_month_has_every_day_at_zero)
{
    seed();
    tally_page_query_t q = pf_query("acme", "m1");
    q.period = "2026-02";
    json_t *m = pf_load("usage", &q);
    cr_assert_eq(json_array_size(pf_at(m, "daily")), 28);
    cr_assert_eq(json_array_size(pf_at(m, "environments")), 0);
    cr_assert_eq(pf_int(m, "totals.api_calls"), 0);
    cr_assert_eq(pf_int(m, "daily.27.api_calls"), 0);
    json_decref(m);
    /* No period: the month of now. */
    q.period = NULL;
    m = pf_load("usage", &q);
    cr_assert_str_eq(pf_str(m, "period"), "2026-11");
    json_decref(m);
}

Test(pages_usage, the_period_is_one_month_of_the_last_thirteen)
{
    seed();
    static const char *const bad[] = {"2026-13", "2026-00", "2026-1",   "26-11",    "2026/11", "2026-11-01",
                                      "2026-12", "2027-01", "2025-09",  "1999-01",  " 2026-11", "2026-11 ",
                                      "+026-11", "2026-1a", "20261-1", "9999-12"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        static const char *const pages[] = {"usage", "seats"};
        for (size_t p = 0; p < 2; p++) {
            tally_page_query_t q = pf_query("acme", "m1");
            q.period = bad[i];
            pf_load_rc(pages[p], &q, TALLY_PAGE_BAD_QUERY);
        }
    }
    static const char *const good[] = {"2026-11", "2025-10", "2025-11", "2026-01"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        tally_page_query_t q = pf_query("acme", "m1");
        q.period = good[i];
        json_decref(pf_load("usage", &q));
        json_decref(pf_load("seats", &q));
    }
    tally_page_query_t q = pf_query("nobody", "m1");
    pf_load_rc("usage", &q, TALLY_PAGE_NOT_FOUND);
    pf_load_rc("seats", &q, TALLY_PAGE_NOT_FOUND);
}

Test(pages_usage, seats_per_day_against_the_maximum_of_the_day)
{
    seed();
    /* The contract changes on the 16th: 10 seats, then 20. */
    pf_license("acme", "2026-01-01", "2026-09-15", 10, 1000, 100);
    pf_license("acme", "2026-09-16", "2027-09-15", 20, 1000, 100);
    pf_seat("acme", "2026-09-02", 4, 7);
    pf_seat("acme", "2026-09-10", 8, 9);    /* 90 % of 10 */
    pf_seat("acme", "2026-09-20", 12, 15);  /* the month's peak, 75 % of 20 */
    pf_seat("acme", "2026-08-31", 40, 40);  /* the month before */
    pf_seat("globex", "2026-09-20", 99, 99);
    tally_page_query_t q = pf_query("acme", "m1");
    q.period = "2026-09";
    json_t *m = pf_load("seats", &q);
    cr_assert_eq(json_array_size(pf_at(m, "daily")), 30);
    /* No row on the 1st: the 31st's seats in use carried in, as its peak. */
    cr_assert_eq(pf_int(m, "daily.0.seats_in_use"), 40);
    cr_assert_eq(pf_int(m, "daily.0.seats_peak"), 40);
    cr_assert(json_is_true(pf_at(m, "daily.0.carried")));
    cr_assert(json_is_false(pf_at(m, "daily.1.carried")));
    /* The 3rd to the 9th carry the 2nd's 4 seats in use (not its peak). */
    cr_assert_eq(pf_int(m, "daily.2.seats_in_use"), 4);
    cr_assert_eq(pf_int(m, "daily.8.seats_peak"), 4);
    cr_assert(json_is_true(pf_at(m, "daily.8.carried")));
    cr_assert_eq(pf_int(m, "daily.29.seats_in_use"), 12);
    cr_assert_eq(pf_int(m, "daily.1.seats_in_use"), 4);
    cr_assert_eq(pf_int(m, "daily.1.seats_peak"), 7);
    cr_assert_eq(pf_int(m, "daily.1.seats_max"), 10);
    cr_assert_eq(pf_int(m, "daily.9.seats_peak"), 9);
    cr_assert_eq(pf_int(m, "daily.14.seats_max"), 10);
    cr_assert_eq(pf_int(m, "daily.15.seats_max"), 20);
    cr_assert_eq(pf_int(m, "daily.19.seats_peak"), 15);
    cr_assert_eq(pf_int(m, "peak.seats_peak"),
                 pf_scalar("SELECT seats_peak FROM tally.monthly_seats WHERE tenant_id = 'acme' AND month = "
                           "'2026-09-01'"));
    cr_assert_str_eq(pf_str(m, "peak.day"), "2026-09-20");
    cr_assert_eq(pf_int(m, "peak.seats_max"), 20);
    cr_assert_str_eq(pf_str(m, "peak.status"), "ok");
    char *dump = pf_dump(m);
    cr_assert(strstr(dump, "99") == NULL, "%s", dump);
    free(dump);
    json_decref(m);
}

Test(pages_usage, seats_in_use_are_carried_up_to_today_only)
{
    /* Now is 2026-11-20 12:00: the 5th's seats in use are carried to the
     * 20th, the days after have no figure yet. */
    seed();
    pf_license("acme", "2026-01-01", "2026-12-31", 10, 1000, 100);
    pf_seat("acme", "2026-11-05", 3, 5);
    tally_page_query_t q = pf_query("acme", "m1");
    q.period = "2026-11";
    json_t *m = pf_load("seats", &q);
    cr_assert(json_is_null(pf_at(m, "daily.3.seats_in_use")), "before the first report: no figure");
    cr_assert(json_is_false(pf_at(m, "daily.3.carried")));
    cr_assert_eq(pf_int(m, "daily.4.seats_peak"), 5);
    cr_assert_eq(pf_int(m, "daily.19.seats_in_use"), 3);
    cr_assert_eq(pf_int(m, "daily.19.seats_peak"), 3);
    cr_assert(json_is_true(pf_at(m, "daily.19.carried")));
    cr_assert(json_is_null(pf_at(m, "daily.20.seats_in_use")), "tomorrow: no figure");
    cr_assert(json_is_null(pf_at(m, "daily.29.seats_peak")));
    cr_assert_eq(pf_int(m, "peak.seats_peak"), 5);
    char *html = pf_render("seats", m, &q);
    cr_assert(strstr(html, "2026-11-20</th><td class=\"num\">3</td><td class=\"num\">3</td>") != NULL, "%s", html);
    cr_assert(strstr(html, "2026-11-21</th><td class=\"num\">\xE2\x80\x93</td>") != NULL, "%s", html);
    cr_assert(strstr(html, "without a seat event shows the seats in use last reported") != NULL, "%s", html);
    free(html);
    json_decref(m);

    /* A month without a seat event carries the last value from before it;
     * its peak stays the views' (no reported day: none). */
    pf_seat("acme", "2026-10-28", 7, 7);
    pf_seat("acme", "2026-09-30", 2, 2);
    q.period = "2026-10";
    m = pf_load("seats", &q);
    cr_assert_eq(pf_int(m, "daily.0.seats_in_use"), 2);
    cr_assert(json_is_true(pf_at(m, "daily.0.carried")));
    cr_assert_eq(pf_int(m, "daily.26.seats_in_use"), 2);
    cr_assert_eq(pf_int(m, "daily.27.seats_in_use"), 7);
    cr_assert_eq(pf_int(m, "daily.30.seats_in_use"), 7);
    cr_assert_eq(pf_int(m, "peak.seats_peak"),
                 pf_scalar("SELECT seats_peak FROM tally.monthly_seats WHERE tenant_id = 'acme' AND month = "
                           "'2026-10-01'"));
    json_decref(m);
}

Test(pages_usage, the_seats_status_is_the_views_rule)
{
    /* The page's status of a peak against a maximum says what
     * tally.compliance says for the same figures, around each threshold. */
    static const long long cases[][2] = {{0, 0}, {1, 0}, {0, 10}, {7, 10}, {8, 10}, {10, 10}, {11, 10}, {799, 1000},
                                         {800, 1000}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char t[32];
        snprintf(t, sizeof t, "t%zu", i);
        pf_tenant(t, t);
        pf_license(t, "2026-09-01", "2026-09-30", cases[i][1], 1000000, 1000000);
        pf_seat(t, "2026-09-05", 0, cases[i][0]);
        tally_page_query_t q = pf_query(t, "m1");
        q.period = "2026-09";
        json_t *m = pf_load("seats", &q);
        cr_assert_str_eq(pf_str(m, "peak.status"),
                         pf_text("SELECT seats_status FROM tally.compliance WHERE tenant_id = '%s'", t), "%lld of %lld",
                         cases[i][0], cases[i][1]);
        json_decref(m);
    }
}

Test(pages_usage, render_has_charts_tables_downloads_and_escapes)
{
    seed();
    pf_sql("UPDATE tally.environments SET name = 'Prod <i>&</i>' WHERE tenant_id = 'acme' AND environment_id = "
           "'prod'");
    pf_tenant("we ird/é", "Weird");
    tally_page_query_t q = pf_query("acme", "m1");
    q.period = "2026-09";
    json_t *m = pf_load("usage", &q);
    cr_assert_str_eq(pf_str(m, "downloads.csv"), "/t/acme/usage.csv?period=2026-09");
    cr_assert_str_eq(pf_str(m, "downloads.json"), "/api/v1/tenants/acme/usage/export?period=2026-09&format=json");
    char *html = pf_render("usage", m, &q);
    cr_assert(strstr(html, "<svg") != NULL && strstr(html, "<table") != NULL, "%s", html);
    cr_assert(strstr(html, "href=\"/t/acme/usage.csv?period=2026-09\"") != NULL, "%s", html);
    cr_assert(strstr(html, "usage/export?period=2026-09&amp;format=json") != NULL, "%s", html);
    cr_assert(strstr(html, "Prod &lt;i&gt;&amp;&lt;/i&gt; (production)") != NULL, "%s", html);
    cr_assert(strstr(html, "<i>") == NULL, "%s", html);
    /* The month's total for prod, formatted, as in the model. */
    char total[64];
    snprintf(total, sizeof total, "%lld", pf_int(m, "environments.0.api_calls"));
    cr_assert_eq(strlen(total), 5);
    char grouped[80];
    snprintf(grouped, sizeof grouped, "%.2s,%s", total, total + 2);
    cr_assert(strstr(html, grouped) != NULL, "%s in %s", grouped, html);
    cr_assert(strstr(html, "999,999") == NULL, "globex: %s", html);
    /* September 2026 at 2026-11-20: both neighbours are in range. */
    cr_assert(strstr(html, "href=\"/t/acme/usage?period=2026-08\"") != NULL, "%s", html);
    cr_assert(strstr(html, "href=\"/t/acme/usage?period=2026-10\"") != NULL, "%s", html);
    free(html);
    json_decref(m);

    /* A tenant id that needs encoding stays one path segment. */
    q = pf_query("we ird/é", "m1");
    q.period = "2026-09";
    m = pf_load("usage", &q);
    cr_assert_str_eq(pf_str(m, "downloads.csv"), "/t/we%20ird%2F%C3%A9/usage.csv?period=2026-09");
    json_decref(m);
}

Test(pages_usage, seats_render)
{
    seed();
    pf_license("acme", "2026-01-01", "2026-12-31", 10, 1000, 100);
    pf_seat("acme", "2026-09-10", 8, 1234);
    tally_page_query_t q = pf_query("acme", "m1");
    q.period = "2026-09";
    json_t *m = pf_load("seats", &q);
    char *html = pf_render("seats", m, &q);
    cr_assert(strstr(html, "<svg") != NULL && strstr(html, "<table") != NULL, "%s", html);
    cr_assert(strstr(html, "1,234") != NULL && strstr(html, "badge-over") != NULL, "%s", html);
    free(html);
    json_decref(m);
    /* The current month has no next one; 13 months back has no previous. */
    q.period = "2026-11";
    m = pf_load("seats", &q);
    html = pf_render("seats", m, &q);
    cr_assert(strstr(html, "period=2026-10") != NULL && strstr(html, "period=2026-12") == NULL, "%s", html);
    free(html);
    json_decref(m);
    q.period = "2025-10";
    m = pf_load("seats", &q);
    html = pf_render("seats", m, &q);
    cr_assert(strstr(html, "period=2025-11") != NULL && strstr(html, "period=2025-09") == NULL, "%s", html);
    cr_assert(strstr(html, "without a seat event") == NULL, "nothing carried, no note: %s", html);
    free(html);
    json_decref(m);
}
