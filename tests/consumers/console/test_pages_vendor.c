/* The vendor pages on a real, migrated database, loaded as tally_reader:
 *   tenants  every tenant's compliance row of its period valid today,
 *            over, then warning, then ok; ?status= validated and applied;
 *            members get 404;
 *   product  events per day, installations per week and version, project
 *            creation success, errors by version and top messages, CI
 *            share, each equal to SQL over product_events; every figure
 *            from 4 installations is withheld (null, "suppressed"), from 5
 *            it is shown; an error message from 4 installations never
 *            leaves the database; members get 404. */
#include "page_fixture.h"

TestSuite(pages_vendor, .init = pf_setup, .fini = pf_teardown, .timeout = 60);

/* ---- tenants ------------------------------------------------------------ */

static void tenant_with(const char *id, const char *name, long long calls)
{
    pf_tenant(id, name);
    pf_env(id, "prod", "Production", "production");
    pf_env(id, "dev", "Development", "development");
    pf_license(id, "2026-01-01", "2026-12-31", 10, 1000, 100);
    pf_api(id, "prod", "2026-11-02", calls, 0, 0);
    pf_api(id, "dev", "2026-10-02", calls / 20, 0, 0);
    pf_api(id, "dev", "2026-10-03", calls / 10, 0, 0);
    pf_seat(id, "2026-09-09", 1, calls / 100);
}

static void seed_tenants(void)
{
    tenant_with("t-ok", "Alpha", 100);
    tenant_with("t-warn", "Beta", 850);
    tenant_with("t-over", "Zulu", 5000);
    tenant_with("t-over2", "Gamma", 1001);
    pf_tenant("t-old", "Expired");
    pf_license("t-old", "2025-01-01", "2025-12-31", 1, 1, 1);
    /* Two periods valid today: the later one counts. */
    tenant_with("t-two", "Delta", 10);
    pf_license("t-two", "2026-11-01", "2026-11-30", 10, 5, 100);
}

Test(pages_vendor, tenants_sorted_over_warning_ok)
{
    seed_tenants();
    tally_page_query_t q = pf_query(NULL, NULL);
    json_t *m = pf_load("tenants", &q);
    json_t *rows = pf_at(m, "tenants");
    cr_assert_eq(json_array_size(rows), 5, "the expired tenant has no row today");
    static const char *const order[] = {"t-two", "t-over2", "t-over", "t-warn", "t-ok"};
    for (size_t i = 0; i < 5; i++) {
        char path[64];
        snprintf(path, sizeof path, "tenants.%zu.id", i);
        cr_assert_str_eq(pf_str(m, path), order[i]);
        snprintf(path, sizeof path, "tenants.%zu.status", i);
        const char *want = pf_text("SELECT status FROM tally.compliance WHERE tenant_id = '%s' ORDER BY valid_from "
                                   "DESC LIMIT 1", order[i]);
        cr_assert_str_eq(pf_str(m, path), want, "%s", order[i]);
    }
    /* Every figure is tally.compliance's. */
    for (size_t i = 0; i < 5; i++) {
        char path[96];
        static const struct {
            const char *key, *used, *max, *status;
        } limits[] = {{"monthly_api_calls", "api_calls_month_peak", "monthly_api_calls_max", "monthly_api_calls_status"},
                      {"nonprod_daily_peak", "nonprod_day_peak", "daily_api_calls_max_nonprod", "nonprod_daily_status"},
                      {"seats_peak", "seats_peak", "seats_max", "seats_status"}};
        for (size_t l = 0; l < 3; l++) {
            snprintf(path, sizeof path, "tenants.%zu.%s.used", i, limits[l].key);
            cr_assert_eq(pf_int(m, path), pf_scalar("SELECT %s FROM tally.compliance WHERE tenant_id = '%s' ORDER BY "
                                                    "valid_from DESC LIMIT 1", limits[l].used, order[i]), "%s", path);
            snprintf(path, sizeof path, "tenants.%zu.%s.maximum", i, limits[l].key);
            cr_assert_eq(pf_int(m, path), pf_scalar("SELECT %s FROM tally.compliance WHERE tenant_id = '%s' ORDER BY "
                                                    "valid_from DESC LIMIT 1", limits[l].max, order[i]), "%s", path);
            snprintf(path, sizeof path, "tenants.%zu.%s.status", i, limits[l].key);
            cr_assert_str_eq(pf_str(m, path), pf_text("SELECT %s FROM tally.compliance WHERE tenant_id = '%s' ORDER "
                                                      "BY valid_from DESC LIMIT 1", limits[l].status, order[i]),
                             "%s", path);
        }
    }
    cr_assert_str_eq(pf_str(m, "tenants.1.name"), "Gamma");
    cr_assert_eq(pf_int(m, "tenants.1.monthly_api_calls.used"), 1001);
    cr_assert_eq(pf_int(m, "tenants.1.monthly_api_calls.maximum"), 1000);
    cr_assert_str_eq(pf_str(m, "tenants.0.valid_from"), "2026-11-01");
    cr_assert_eq(pf_int(m, "counts.over"), 3);
    cr_assert_eq(pf_int(m, "counts.warning"), 1);
    cr_assert_eq(pf_int(m, "counts.ok"), 1);
    json_decref(m);
}

Test(pages_vendor, tenants_status_filter)
{
    seed_tenants();
    tally_page_query_t q = pf_query(NULL, NULL);
    q.status = "warning";
    json_t *m = pf_load("tenants", &q);
    cr_assert_eq(json_array_size(pf_at(m, "tenants")), 1);
    cr_assert_str_eq(pf_str(m, "tenants.0.id"), "t-warn");
    cr_assert_str_eq(pf_str(m, "status"), "warning");
    cr_assert_eq(pf_int(m, "counts.over"), 3, "counts are of every tenant");
    json_decref(m);
    q.status = "over";
    m = pf_load("tenants", &q);
    cr_assert_eq(json_array_size(pf_at(m, "tenants")), 3);
    json_decref(m);

    static const char *const bad[] = {"OVER", "x", "ok;", "over' OR '1'='1", "ok ", "warnings"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        q.status = bad[i];
        pf_load_rc("tenants", &q, TALLY_PAGE_BAD_QUERY);
    }
}

Test(pages_vendor, tenants_filter_matching_nothing)
{
    tenant_with("t-ok", "Alpha", 1);
    tally_page_query_t q = pf_query(NULL, NULL);
    q.status = "over";
    json_t *m = pf_load("tenants", &q);
    cr_assert_eq(json_array_size(pf_at(m, "tenants")), 0);
    cr_assert_eq(pf_int(m, "counts.ok"), 1);
    json_decref(m);
}

Test(pages_vendor, members_get_not_found)
{
    seed_tenants();
    tally_page_query_t q = pf_query("t-ok", "m1");
    pf_load_rc("tenants", &q, TALLY_PAGE_NOT_FOUND);
    pf_load_rc("product", &q, TALLY_PAGE_NOT_FOUND);
    pf_load_rc("vendor-licenses", &q, TALLY_PAGE_NOT_FOUND);
    cr_assert(tally_page_find("vendor-licenses")->staff_only);
    cr_assert_not(tally_page_find("licenses")->staff_only);
    cr_assert(tally_page_find("tenants")->staff_only);
    cr_assert(tally_page_find("product")->staff_only);
    cr_assert_not(tally_page_find("overview")->staff_only);
    size_t n;
    const tally_page_t *all = tally_page_all(&n);
    cr_assert_eq(n, 9);
    static const char *const names[] = {"overview", "usage", "seats", "team", "licenses", "webhook", "tenants",
                                        "product", "vendor-licenses"};
    cr_assert_not(tally_page_find("webhook")->staff_only);
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_eq(all[i].name, names[i]);
        cr_assert_eq(tally_page_find(names[i]), &all[i]);
        cr_assert_not_null(all[i].title);
    }
    cr_assert_null(tally_page_find("nope"));
    cr_assert_null(tally_page_find(NULL));
}

/* ---- product analytics ------------------------------------------------- */

/* n installations (prefix-1..prefix-n) each send event once at at. */
static void installs_send(int n, const char *prefix, const char *source, const char *event, const char *at,
                          const char *version, const char *ci, const char *error)
{
    for (int i = 1; i <= n; i++) {
        char install[64];
        snprintf(install, sizeof install, "%s-%d", prefix, i);
        pf_product(source, event, at, install, version, ci, error);
    }
}

static void seed_product(void)
{
    /* 2026-11-03: deploy.start from 5 installations (one twice), deploy.end
     * from 4. */
    installs_send(5, "a", "CLI", "deploy.start", "2026-11-03T10:00:00Z", "1.0.0", "false", NULL);
    pf_product("CLI", "deploy.start", "2026-11-03T11:00:00Z", "a-1", "1.0.0", "false", NULL);
    installs_send(4, "a", "CLI", "deploy.end", "2026-11-03T10:05:00Z", "1.0.0", "false", NULL);
    /* Project creation: 2.0.0 from 5 and 5 (rate 4/5 of 6 starts...),
     * 1.9.0 ends from 4 installations. */
    installs_send(6, "b", "CLI", "project.create.start", "2026-11-04T09:00:00Z", "2.0.0", "true", NULL);
    installs_send(5, "b", "CLI", "project.create.end", "2026-11-04T09:01:00Z", "2.0.0", "true", NULL);
    installs_send(5, "c", "CLI", "project.create.start", "2026-11-05T09:00:00Z", "1.9.0", "false", NULL);
    installs_send(4, "c", "CLI", "project.create.end", "2026-11-05T09:01:00Z", "1.9.0", "false", NULL);
    /* Errors: one message from 5 installations, one from 4. */
    installs_send(5, "d", "CLI", "project.create.error", "2026-11-06T12:00:00Z", "2.0.0", "false",
                  "ENOENT: no such file or directory");
    installs_send(4, "e", "CLI", "project.create.error", "2026-11-06T12:00:00Z", "2.0.0", "false",
                  "EACCES: rare message of four");
    /* The Admin app: 3 installations, CI unknown... and known for 3. */
    installs_send(3, "f", "ADMIN", "admin.started", "2026-11-07T08:00:00Z", "5.1.0", "false", NULL);
    /* Outside the month. */
    installs_send(9, "z", "CLI", "deploy.start", "2026-10-31T23:59:59Z", "1.0.0", "true", "late");
    installs_send(9, "z", "CLI", "deploy.start", "2026-12-01T00:00:00Z", "1.0.0", "true", "early");
}

/* The row of array path whose key equals value (or NULL). */
static json_t *row_where(const json_t *m, const char *path, const char *key, const char *value, const char *key2,
                         const char *value2)
{
    size_t i;
    json_t *row;
    json_array_foreach(pf_at(m, path), i, row)
    {
        json_t *v = json_object_get(row, key), *v2 = key2 ? json_object_get(row, key2) : NULL;
        if (json_is_string(v) && strcmp(json_string_value(v), value) == 0 &&
            (key2 == NULL || (json_is_string(v2) && strcmp(json_string_value(v2), value2) == 0)))
            return row;
    }
    return NULL;
}

Test(pages_vendor, product_figures_from_five_installations_are_shown)
{
    seed_product();
    tally_page_query_t q = pf_query(NULL, NULL);
    q.period = "2026-11";
    json_t *m = pf_load("product", &q);
    cr_assert_eq(pf_int(m, "min_installs"), 5);
    cr_assert_str_eq(pf_str(m, "weeks_from"), "2026-10-26");
    cr_assert_str_eq(pf_str(m, "weeks_until"), "2026-12-06");

    json_t *r = row_where(m, "events_daily", "event", "deploy.start", "day", "2026-11-03");
    cr_assert_not_null(r);
    cr_assert(json_is_false(json_object_get(r, "suppressed")));
    cr_assert_eq(json_integer_value(json_object_get(r, "events")),
                 pf_scalar("SELECT count(*) FROM tally.product_events WHERE event = 'deploy.start' AND "
                           "(occurred_at AT TIME ZONE 'UTC')::date = '2026-11-03'"));
    cr_assert_eq(json_integer_value(json_object_get(r, "events")), 6);
    cr_assert_eq(json_integer_value(json_object_get(r, "installs")), 5);
    cr_assert_null(row_where(m, "events_daily", "day", "2026-10-31", NULL, NULL), "outside the month");
    cr_assert_null(row_where(m, "events_daily", "day", "2026-12-01", NULL, NULL), "outside the month");

    r = row_where(m, "project_create", "version", "2.0.0", NULL, NULL);
    cr_assert_not_null(r);
    cr_assert(json_is_false(json_object_get(r, "suppressed")));
    cr_assert_eq(json_integer_value(json_object_get(r, "starts")), 6);
    cr_assert_eq(json_integer_value(json_object_get(r, "ends")), 5);
    cr_assert_float_eq(json_real_value(json_object_get(r, "success_rate")), 5.0 / 6.0, 1e-12);

    r = row_where(m, "errors_by_version", "version", "2.0.0", "source", "CLI");
    cr_assert_not_null(r);
    long long events = pf_scalar("SELECT count(*) FROM tally.product_events WHERE version = '2.0.0' AND occurred_at "
                                 ">= '2026-11-01T00:00:00Z' AND occurred_at < '2026-12-01T00:00:00Z'");
    long long errors = pf_scalar("SELECT count(*) FROM tally.product_events WHERE version = '2.0.0' AND "
                                 "error_message IS NOT NULL AND occurred_at >= '2026-11-01T00:00:00Z' AND "
                                 "occurred_at < '2026-12-01T00:00:00Z'");
    cr_assert_eq(json_integer_value(json_object_get(r, "events")), events);
    cr_assert_eq(json_integer_value(json_object_get(r, "errors")), errors);
    cr_assert_eq(errors, 9);
    cr_assert_float_eq(json_real_value(json_object_get(r, "error_rate")), (double)errors / (double)events, 1e-12);

    cr_assert_eq(json_array_size(pf_at(m, "top_errors")), 1);
    cr_assert_str_eq(pf_str(m, "top_errors.0.message"), "ENOENT: no such file or directory");
    cr_assert_eq(pf_int(m, "top_errors.0.installs"), 5);
    cr_assert_eq(pf_int(m, "top_errors.0.events"), 5);

    r = row_where(m, "ci", "source", "CLI", NULL, NULL);
    cr_assert_not_null(r);
    long long ci = pf_scalar("SELECT count(*) FROM tally.product_events WHERE source = 'CLI' AND ci AND occurred_at "
                             ">= '2026-11-01T00:00:00Z' AND occurred_at < '2026-12-01T00:00:00Z'");
    long long known = pf_scalar("SELECT count(*) FROM tally.product_events WHERE source = 'CLI' AND ci IS NOT NULL "
                                "AND occurred_at >= '2026-11-01T00:00:00Z' AND occurred_at < '2026-12-01T00:00:00Z'");
    cr_assert_eq(json_integer_value(json_object_get(r, "ci_events")), ci);
    cr_assert_eq(json_integer_value(json_object_get(r, "events")), known);
    cr_assert_float_eq(json_real_value(json_object_get(r, "ci_share")), (double)ci / (double)known, 1e-12);

    /* Week of 2026-11-02: version 2.0.0 from 6 + 5 + 4 distinct installs
     * (b-1..6, d-1..5, e-1..4). */
    r = row_where(m, "versions_weekly", "version", "2.0.0", "week", "2026-11-02");
    cr_assert_not_null(r);
    cr_assert_eq(json_integer_value(json_object_get(r, "installs")), 15);
    json_decref(m);
}

Test(pages_vendor, product_figures_from_four_installations_are_withheld)
{
    seed_product();
    tally_page_query_t q = pf_query(NULL, NULL);
    q.period = "2026-11";
    json_t *m = pf_load("product", &q);
    json_t *r = row_where(m, "events_daily", "event", "deploy.end", "day", "2026-11-03");
    cr_assert_not_null(r);
    cr_assert(json_is_true(json_object_get(r, "suppressed")));
    cr_assert(json_is_null(json_object_get(r, "events")));
    cr_assert(json_is_null(json_object_get(r, "installs")));

    r = row_where(m, "project_create", "version", "1.9.0", NULL, NULL);
    cr_assert_not_null(r);
    cr_assert(json_is_true(json_object_get(r, "suppressed")), "ends from 4 installations");
    cr_assert(json_is_null(json_object_get(r, "starts")));
    cr_assert(json_is_null(json_object_get(r, "ends")));
    cr_assert(json_is_null(json_object_get(r, "success_rate")));

    r = row_where(m, "ci", "source", "ADMIN", NULL, NULL);
    cr_assert_not_null(r);
    cr_assert(json_is_true(json_object_get(r, "suppressed")));
    cr_assert(json_is_null(json_object_get(r, "ci_share")));
    r = row_where(m, "versions_weekly", "version", "5.1.0", NULL, NULL);
    cr_assert_not_null(r);
    cr_assert(json_is_true(json_object_get(r, "suppressed")));
    cr_assert(json_is_null(json_object_get(r, "installs")));
    r = row_where(m, "errors_by_version", "version", "5.1.0", NULL, NULL);
    cr_assert(json_is_true(json_object_get(r, "suppressed")));

    /* Nothing in the whole model gives the withheld figures away. */
    char *dump = pf_dump(m);
    cr_assert(strstr(dump, "EACCES") == NULL, "a message from 4 installations: %s", dump);
    cr_assert(strstr(dump, "\"installs\":4") == NULL && strstr(dump, "\"installs\":3") == NULL, "%s", dump);
    cr_assert(strstr(dump, "late") == NULL && strstr(dump, "early") == NULL, "%s", dump);
    free(dump);
    json_decref(m);

    /* One more installation: the same figures appear. */
    pf_product("CLI", "deploy.end", "2026-11-03T10:05:00Z", "a-5", "1.0.0", "false", NULL);
    installs_send(5, "e", "CLI", "project.create.error", "2026-11-08T12:00:00Z", "2.0.0", "false",
                  "EACCES: rare message of four");
    m = pf_load("product", &q);
    r = row_where(m, "events_daily", "event", "deploy.end", "day", "2026-11-03");
    cr_assert(json_is_false(json_object_get(r, "suppressed")));
    cr_assert_eq(json_integer_value(json_object_get(r, "events")), 5);
    cr_assert_not_null(row_where(m, "top_errors", "message", "EACCES: rare message of four", NULL, NULL));
    json_decref(m);
}

Test(pages_vendor, product_period_is_validated_and_bounded)
{
    tally_page_query_t q = pf_query(NULL, NULL);
    static const char *const bad[] = {"2026-12", "2025-09", "2026-13", "x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        q.period = bad[i];
        pf_load_rc("product", &q, TALLY_PAGE_BAD_QUERY);
    }
    /* The database refuses an unbounded range whoever asks. */
    PGresult *r = PQexec(pf_reader, "SELECT * FROM tally.console_product_errors('2020-01-01', '2026-01-01')");
    cr_assert_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    cr_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "22023");
    PQclear(r);
    /* The console's role plans without JIT here (0009): a compile would
     * cost more than its queries. */
    r = PQexec(pf_reader, "SHOW jit");
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    cr_assert_str_eq(PQgetvalue(r, 0, 0), "off");
    PQclear(r);
    /* And tally_reader still reads no table. */
    r = PQexec(pf_reader, "SELECT install_ref FROM tally.product_daily_installs");
    cr_assert_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    cr_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42501");
    PQclear(r);
}

Test(pages_vendor, render_tenants_and_product)
{
    seed_tenants();
    pf_sql("UPDATE tally.tenants SET name = '<b>Zulu</b>' WHERE tenant_id = 't-over'");
    tally_page_query_t q = pf_query(NULL, NULL);
    json_t *m = pf_load("tenants", &q);
    char *html = pf_render("tenants", m, &q);
    cr_assert(strstr(html, "<table") != NULL, "%s", html);
    cr_assert(strstr(html, "href=\"/t/t-over2/\"") != NULL, "%s", html);
    cr_assert(strstr(html, "&lt;b&gt;Zulu&lt;/b&gt;") != NULL && strstr(html, "<b>") == NULL, "%s", html);
    cr_assert(strstr(html, "Over (3)") != NULL && strstr(html, "status=warning") != NULL, "%s", html);
    /* Nine columns: the narrow table style (layout.c), so it fits 1,280 px. */
    cr_assert(strstr(html, "<table class=\"wide\"><caption>Tenants") != NULL, "%s", html);
    free(html);
    json_decref(m);

    seed_product();
    q.period = "2026-11";
    m = pf_load("product", &q);
    html = pf_render("product", m, &q);
    cr_assert(strstr(html, "<table") != NULL && strstr(html, "<svg") != NULL, "%s", html);
    /* The withheld figures, as html.h writes them ("<", a no-break space, "5"). */
    cr_assert(strstr(html, "<td class=\"num\">&lt;\xC2\xA0" "5</td>") != NULL, "%s", html);
    cr_assert(strstr(html, "EACCES") == NULL, "%s", html);
    cr_assert(strstr(html, "ENOENT: no such file or directory") != NULL, "%s", html);
    cr_assert(strstr(html, "83.3\xC2\xA0%") != NULL, "5 of 6 project creations: %s", html);
    free(html);
    json_decref(m);
}
