/* The overview page on a real, migrated database, loaded as tally_reader
 * at a pinned clock (2026-11-20T12:00Z): this month's API calls, the
 * non-production daily peak, peak seats and the status with its reason
 * equal what SQL computes from the tables; the projection is the run rate's;
 * a contract starting mid-month counts from its first day; another
 * tenant's rows never appear; no contract, no tenant. */
#include "page_fixture.h"

TestSuite(pages_overview, .init = pf_setup, .fini = pf_teardown, .timeout = 60);

/* acme: warning (a non-production day at 90 %, seats at 90 %), 70,400
 * calls in November so far. globex: the same environment ids, over. */
static void seed(void)
{
    pf_tenant("acme", "Acme Corp");
    pf_env("acme", "prod", "Production", "production");
    pf_env("acme", "stage", "Staging", "staging");
    pf_env("acme", "dev", "Development", "development");
    pf_license("acme", "2026-03-01", "2027-02-28", 10, 100000, 5000);
    char day[16];
    for (int d = 1; d <= 20; d++) {
        snprintf(day, sizeof day, "2026-11-%02d", d);
        pf_api("acme", "prod", day, 3000, 30, 3);
        pf_api("acme", "stage", day, 200, 2, 0);
        pf_api("acme", "dev", day, d == 5 ? 4500 : 100, 1, 1);
        pf_seat("acme", day, 5, 6 + d % 3);
    }
    for (int d = 1; d <= 31; d++) {
        snprintf(day, sizeof day, "2026-10-%02d", d);
        pf_api("acme", "prod", day, 2000, 0, 0);
    }
    pf_seat("acme", "2026-09-14", 8, 9);
    pf_api("acme", "dev", "2026-02-27", 9999, 0, 0);   /* before the contract period */

    pf_tenant("globex", "Globex Corporation");
    pf_env("globex", "prod", "Production", "production");
    pf_env("globex", "dev", "Development", "development");
    pf_license("globex", "2026-01-01", "2026-12-31", 3, 1000, 100);
    pf_api("globex", "prod", "2026-11-02", 777777, 0, 0);
    pf_api("globex", "dev", "2026-11-03", 55555, 0, 0);
    pf_seat("globex", "2026-11-03", 44, 44);
}

Test(pages_overview, figures_equal_the_tables)
{
    seed();
    tally_page_query_t q = pf_query("acme", "m1");
    json_t *m = pf_load("overview", &q);
    cr_assert_str_eq(pf_str(m, "tenant.id"), "acme");
    cr_assert_str_eq(pf_str(m, "tenant.name"), "Acme Corp");
    cr_assert_str_eq(pf_str(m, "today"), "2026-11-20");
    cr_assert_str_eq(pf_str(m, "contract.valid_from"), "2026-03-01");
    cr_assert_str_eq(pf_str(m, "contract.valid_until"), "2027-02-28");

    long long used = pf_scalar("SELECT sum(api_calls) FROM tally.api_usage_daily WHERE tenant_id = 'acme' AND day "
                               "BETWEEN '2026-11-01' AND '2026-11-30'");
    cr_assert_eq(used, 70400);
    cr_assert_eq(pf_int(m, "contract.api_calls.used"), used);
    cr_assert_eq(pf_int(m, "contract.api_calls.maximum"), 100000);
    cr_assert_str_eq(pf_str(m, "contract.api_calls.month"), "2026-11");
    cr_assert_str_eq(pf_str(m, "contract.api_calls.period_start"), "2026-11-01");
    cr_assert_str_eq(pf_str(m, "contract.api_calls.period_end"), "2026-11-30");
    cr_assert_str_eq(pf_str(m, "contract.api_calls.status"), "ok");
    cr_assert_float_eq(json_real_value(pf_at(m, "contract.api_calls.percent")), 70.4, 1e-9);

    cr_assert_eq(pf_int(m, "contract.nonprod_daily_peak.used"),
                 pf_scalar("SELECT max(a.api_calls) FROM tally.api_usage_daily a JOIN tally.environments e USING "
                           "(tenant_id, environment_id) WHERE a.tenant_id = 'acme' AND e.kind <> 'production' AND "
                           "a.day BETWEEN '2026-03-01' AND '2027-02-28'"));
    cr_assert_eq(pf_int(m, "contract.nonprod_daily_peak.used"), 4500);
    cr_assert_eq(pf_int(m, "contract.nonprod_daily_peak.maximum"), 5000);
    cr_assert_str_eq(pf_str(m, "contract.nonprod_daily_peak.day"), "2026-11-05");
    cr_assert_str_eq(pf_str(m, "contract.nonprod_daily_peak.environment_id"), "dev");
    cr_assert_str_eq(pf_str(m, "contract.nonprod_daily_peak.status"), "warning");

    cr_assert_eq(pf_int(m, "contract.seats_peak.used"),
                 pf_scalar("SELECT max(seats_peak) FROM tally.seat_usage_daily WHERE tenant_id = 'acme' AND day "
                           "BETWEEN '2026-03-01' AND '2027-02-28'"));
    cr_assert_eq(pf_int(m, "contract.seats_peak.used"), 9);
    cr_assert_eq(pf_int(m, "contract.seats_peak.maximum"), 10);
    cr_assert_str_eq(pf_str(m, "contract.seats_peak.status"), "warning");

    /* The badge is the Control Panel's own status. */
    cr_assert_str_eq(pf_str(m, "contract.status"), pf_text("SELECT status FROM tally.compliance WHERE tenant_id = "
                                                           "'acme'"));
    cr_assert_str_eq(pf_str(m, "contract.status"), "warning");
    cr_assert(strstr(pf_str(m, "contract.reason"), "Non-production") != NULL, "%s", pf_str(m, "contract.reason"));
    cr_assert(strstr(pf_str(m, "contract.reason"), "4,500 of 5,000 (90.0\xC2\xA0%)") != NULL, "%s",
              pf_str(m, "contract.reason"));
    /* The same figures as numbers, for API clients. */
    cr_assert_str_eq(pf_str(m, "contract.reason_detail.metric"), "daily_api_calls_nonprod");
    cr_assert_str_eq(pf_str(m, "contract.reason_detail.status"), "warning");
    cr_assert_eq(pf_int(m, "contract.reason_detail.used"), 4500);
    cr_assert_eq(pf_int(m, "contract.reason_detail.maximum"), 5000);
    cr_assert_float_eq(json_real_value(pf_at(m, "contract.reason_detail.percent")), 90.0, 1e-9);
    cr_assert_str_eq(pf_str(m, "contract.reason_detail.environment_id"), "dev");
    cr_assert_str_eq(pf_str(m, "contract.reason_detail.period_start"), "2026-11-05");

    /* 70,400 in 19.5 days; 30 days -> 108,307; 100,001 is passed 8.2 days
     * after now, on the 28th. */
    cr_assert_eq(pf_int(m, "contract.projection.projected"),
                 pf_scalar("SELECT floor(%lld * 30 / 19.5)", used));
    cr_assert_str_eq(pf_str(m, "contract.projection.state"), "reaches");
    cr_assert_str_eq(pf_str(m, "contract.projection.reach_day"),
                     pf_text("SELECT ('2026-11-20 12:00'::timestamp + (100001 - %lld) * 19.5 / %lld * interval "
                             "'1 day')::date", used, used));
    cr_assert_str_eq(pf_str(m, "contract.projection.reach_day"), "2026-11-28");
    json_decref(m);
}

Test(pages_overview, another_tenants_rows_never_appear)
{
    seed();
    tally_page_query_t q = pf_query("acme", "m1");
    json_t *m = pf_load("overview", &q);
    char *dump = pf_dump(m);
    cr_assert(strstr(dump, "globex") == NULL && strstr(dump, "Globex") == NULL, "%s", dump);
    cr_assert(strstr(dump, "777777") == NULL && strstr(dump, "55555") == NULL && strstr(dump, "44") == NULL, "%s",
              dump);
    free(dump);
    json_decref(m);
}

Test(pages_overview, over_says_why)
{
    seed();
    tally_page_query_t q = pf_query("globex", NULL);   /* staff */
    json_t *m = pf_load("overview", &q);
    cr_assert_str_eq(pf_str(m, "contract.status"), "over");
    cr_assert_str_eq(pf_str(m, "contract.api_calls.status"), "over");
    cr_assert_eq(pf_int(m, "contract.api_calls.used"), 777777 + 55555);
    cr_assert_str_eq(pf_str(m, "contract.projection.state"), "over");
    cr_assert(json_is_null(pf_at(m, "contract.projection.reach_day")));
    /* 777,777 on the 2nd alone passed the 1,000: over since then. */
    cr_assert_str_eq(pf_str(m, "contract.projection.over_since"), "2026-11-02");
    char *html = pf_render("overview", m, &q);
    cr_assert(strstr(html, "already exceeded (since <strong>2026-11-02</strong>)") != NULL, "%s", html);
    free(html);
    cr_assert_str_eq(pf_str(m, "contract.seats_peak.status"), "over");
    /* The worst row is the month at 83,333 % (the seats are at 1,466 %). */
    const char *reason = pf_str(m, "contract.reason");
    cr_assert(strstr(reason, "over the monthly maximum") != NULL, "%s", reason);
    cr_assert(strstr(reason, "833,332 of 1,000 (83,333.2\xC2\xA0%)") != NULL, "%s", reason);
    cr_assert_eq(pf_int(m, "contract.reason_detail.used"), 833332);
    cr_assert_eq(pf_int(m, "contract.reason_detail.maximum"), 1000);
    /* The page shows the sentence as the model has it, grouped like its other figures. */
    char *page = pf_render("overview", m, &q);
    cr_assert(strstr(page, "833,332 of 1,000 (83,333.2\xC2\xA0%)") != NULL, "%s", page);
    cr_assert(strstr(page, "833332") == NULL, "%s", page);
    free(page);
    json_decref(m);
}

Test(pages_overview, a_contract_starting_mid_month_counts_from_its_first_day)
{
    pf_tenant("hooli", "Hooli");
    pf_env("hooli", "prod", "Production", "production");
    pf_license("hooli", "2026-11-10", "2027-11-09", 5, 21000, 10);
    pf_api("hooli", "prod", "2026-11-05", 50000, 0, 0);   /* before the period */
    pf_api("hooli", "prod", "2026-11-12", 5000, 0, 0);
    pf_api("hooli", "prod", "2026-11-19", 5000, 0, 0);
    tally_page_query_t q = pf_query("hooli", "m1");
    json_t *m = pf_load("overview", &q);
    cr_assert_eq(pf_int(m, "contract.api_calls.used"), 10000);
    cr_assert_str_eq(pf_str(m, "contract.api_calls.period_start"), "2026-11-10");
    cr_assert_str_eq(pf_str(m, "contract.status"), "ok");
    /* 10,000 in 10.5 days of a 21-day window: 20,000, under 21,000. */
    cr_assert_eq(pf_int(m, "contract.projection.projected"), 20000);
    cr_assert_eq(pf_int(m, "contract.projection.window_ms"), 21 * TALLY_MS_PER_DAY);
    cr_assert_str_eq(pf_str(m, "contract.projection.state"), "never");
    cr_assert_str_eq(pf_str(m, "contract.reason"), "Every limit is below 80 % of its maximum.");
    /* No non-production environment, no seat rows: nothing used, against the
     * contract's maxima. */
    cr_assert_eq(pf_int(m, "contract.nonprod_daily_peak.used"), 0);
    cr_assert_eq(pf_int(m, "contract.nonprod_daily_peak.maximum"), 10);
    cr_assert(json_is_null(pf_at(m, "contract.nonprod_daily_peak.day")));
    cr_assert_eq(pf_int(m, "contract.seats_peak.used"), 0);
    cr_assert_eq(pf_int(m, "contract.seats_peak.maximum"), 5);
    json_decref(m);
}

Test(pages_overview, no_contract_and_no_tenant)
{
    seed();
    pf_tenant("initech", "Initech");
    pf_license("initech", "2025-01-01", "2025-12-31", 1, 1, 1);   /* expired */
    tally_page_query_t q = pf_query("initech", "m1");
    json_t *m = pf_load("overview", &q);
    cr_assert(json_is_null(pf_at(m, "contract")));
    cr_assert_str_eq(pf_str(m, "tenant.name"), "Initech");
    json_decref(m);

    q = pf_query("umbrella", "m1");
    pf_load_rc("overview", &q, TALLY_PAGE_NOT_FOUND);
    q = pf_query(NULL, NULL);
    pf_load_rc("overview", &q, TALLY_PAGE_NOT_FOUND);
    /* A tenant id is a parameter, never SQL. */
    q = pf_query("acme' OR '1'='1", "m1");
    pf_load_rc("overview", &q, TALLY_PAGE_NOT_FOUND);
    /* Not UTF-8, or too long: no tenant either (not the database's error). */
    static char long_id[300];
    memset(long_id, 'a', sizeof long_id - 1);
    static const char *const hostile[] = {"acme\xff", "\xc0\xaf", "", long_id};
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        static const char *const pages[] = {"overview", "usage", "seats", "team"};
        for (size_t p = 0; p < 4; p++) {
            q = pf_query(hostile[i], "m1");
            pf_load_rc(pages[p], &q, TALLY_PAGE_NOT_FOUND);
        }
    }
}

Test(pages_overview, render_shows_the_figures_in_a_table_and_escapes_names)
{
    seed();
    pf_sql("UPDATE tally.tenants SET name = 'Acme <script>alert(\"x\")</script> & Co' WHERE tenant_id = 'acme'");
    tally_page_query_t q = pf_query("acme", "m1");
    json_t *m = pf_load("overview", &q);
    char *html = pf_render("overview", m, &q);
    cr_assert(strstr(html, "<table") != NULL && strstr(html, "<svg") != NULL, "%s", html);
    cr_assert(strstr(html, "<h1>Overview: Acme &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co</h1>") != NULL,
              "%s", html);
    cr_assert(strstr(html, "<script") == NULL, "%s", html);
    /* The same figures as the model, formatted. */
    cr_assert(strstr(html, "70,400") != NULL && strstr(html, "100,000") != NULL, "%s", html);
    cr_assert(strstr(html, "4,500") != NULL && strstr(html, "5,000") != NULL, "%s", html);
    cr_assert(strstr(html, "108,307") != NULL && strstr(html, "2026-11-28") != NULL, "%s", html);
    cr_assert(strstr(html, "badge-warning") != NULL, "%s", html);
    cr_assert(strstr(html, "Non-production API calls of environment dev on 2026-11-05") != NULL, "%s", html);
    cr_assert(strstr(html, "777,777") == NULL && strstr(html, "Globex") == NULL, "%s", html);
    free(html);
    json_decref(m);

    /* No contract: says so. */
    pf_tenant("initech", "Initech");
    q = pf_query("initech", "m1");
    m = pf_load("overview", &q);
    html = pf_render("overview", m, &q);
    cr_assert(strstr(html, "No contract period covers today (2026-11-20)") != NULL, "%s", html);
    free(html);
    json_decref(m);
}

Test(pages_overview, over_since_is_the_day_the_running_total_passed_the_maximum)
{
    pf_tenant("wayne", "Wayne");
    pf_env("wayne", "prod", "Production", "production");
    pf_env("wayne", "dev", "Development", "development");
    pf_license("wayne", "2026-01-01", "2026-12-31", 5, 1000, 100000);
    pf_api("wayne", "prod", "2026-10-31", 5000, 0, 0);   /* last month */
    pf_api("wayne", "prod", "2026-11-01", 600, 0, 0);
    pf_api("wayne", "dev", "2026-11-03", 300, 0, 0);
    pf_api("wayne", "prod", "2026-11-04", 100, 0, 0);    /* 1,000: at the maximum, not over */
    pf_api("wayne", "dev", "2026-11-05", 1, 0, 0);       /* 1,001 */
    pf_api("wayne", "prod", "2026-11-09", 50, 0, 0);
    tally_page_query_t q = pf_query("wayne", "m1");
    json_t *m = pf_load("overview", &q);
    cr_assert_eq(pf_int(m, "contract.api_calls.used"), 1051);
    cr_assert_str_eq(pf_str(m, "contract.projection.state"), "over");
    cr_assert_str_eq(pf_str(m, "contract.projection.over_since"), "2026-11-05");
    json_decref(m);
}

Test(pages_overview, the_worst_row_of_the_period_gives_status_and_reason)
{
    /* Over in September, fine in November: the period is over, and says
     * where. */
    pf_tenant("stark", "Stark");
    pf_env("stark", "prod", "Production", "production");
    pf_license("stark", "2026-09-01", "2027-08-31", 5, 1000, 100);
    pf_api("stark", "prod", "2026-09-10", 1500, 0, 0);
    pf_api("stark", "prod", "2026-11-10", 100, 0, 0);
    tally_page_query_t q = pf_query("stark", "m1");
    json_t *m = pf_load("overview", &q);
    cr_assert_str_eq(pf_str(m, "contract.status"), pf_text("SELECT status FROM tally.compliance WHERE tenant_id = "
                                                           "'stark'"));
    cr_assert_str_eq(pf_str(m, "contract.status"), "over");
    cr_assert_str_eq(pf_str(m, "contract.api_calls.status"), "ok");
    cr_assert(strstr(pf_str(m, "contract.reason"), "from 2026-09-01 to 2026-09-30") != NULL, "%s",
              pf_str(m, "contract.reason"));
    json_decref(m);

    /* A maximum of 0 with seats in use: no percentage, over, and that is
     * the reason (it outranks a month at 150 %). */
    pf_tenant("oscorp", "Oscorp");
    pf_env("oscorp", "prod", "Production", "production");
    pf_license("oscorp", "2026-09-01", "2027-08-31", 0, 1000, 100);
    pf_api("oscorp", "prod", "2026-11-10", 1500, 0, 0);
    pf_seat("oscorp", "2026-11-10", 1, 1);
    q = pf_query("oscorp", "m1");
    m = pf_load("overview", &q);
    cr_assert_str_eq(pf_str(m, "contract.status"), "over");
    cr_assert_str_eq(pf_str(m, "contract.seats_peak.status"), "over");
    cr_assert_str_eq(pf_str(m, "contract.reason"), "Peak seats are over the maximum: 1 of 0.");
    cr_assert(json_is_null(pf_at(m, "contract.reason_detail.percent")));
    json_decref(m);
}
