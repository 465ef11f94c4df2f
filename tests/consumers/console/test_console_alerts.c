/* GET /api/v1/alerts and the overview's alerts on a real tally-console and
 * a real PostgreSQL (tests/support/console_fixture.h: tenants acme and
 * globex), the alerts stored in tally.alerts as the materializer writes
 * them:
 *   - a member gets their own tenant's alerts of the current month, newest
 *     first; ?period= picks another of the recent months; ?tenant= naming
 *     their own tenant changes nothing, naming another tenant is the 404
 *     of an unknown route;
 *   - staff get every tenant's, or ?tenant='s;
 *   - nobody signed in: 401;
 *   - hostile parameters (a bad, future, oversized or repeated period, a
 *     repeated or malformed tenant) get 400 and change nothing;
 *   - the overview page holds the alerts table. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console_fixture.h"
#include "markup.h"
#include "pg_query.h"

static tally_test_console_t c;
static char token[64], cookie[96];
static char month[8], last_month[8];

/* Current and previous month as PostgreSQL sees them (UTC). */
#define MONTH_SQL "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM')"
#define LAST_MONTH_SQL "to_char((now() AT TIME ZONE 'UTC') - interval '1 month', 'YYYY-MM')"
#define TODAY_SQL "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')"

static void setup(void)
{
    tally_test_console_db(&c);
    /* acme: 80 % and 100 % this month, a non-production day of this
     * month, 80 % of last month; globex: seats this month. The newest is
     * the daily one. */
    tally_test_console_exec(
        &c, "INSERT INTO tally.alerts VALUES "
            "('a1e70000-0000-4000-8000-000000000001', 'acme', NULL, 'MONTHLY_API_CALLS', 80, 80000, 100000, "
            " " MONTH_SQL ", 'TRIGGERED', now() - interval '3 hours', 0, 1),"
            "('a1e70000-0000-4000-8000-000000000002', 'acme', NULL, 'MONTHLY_API_CALLS', 100, 100000, 100000, "
            " " MONTH_SQL ", 'TRIGGERED', now() - interval '2 hours', 0, 2),"
            "('a1e70000-0000-4000-8000-000000000003', 'acme', 'env-dev', 'NONPROD_DAILY_API_CALLS', 100, 1200, 1000, "
            " " TODAY_SQL ", 'TRIGGERED', now() - interval '1 minute', 0, 3),"
            "('a1e70000-0000-4000-8000-000000000004', 'acme', NULL, 'MONTHLY_API_CALLS', 80, 80001, 100000, "
            " " LAST_MONTH_SQL ", 'TRIGGERED', now() - interval '40 days', 0, 4),"
            "('a1e70000-0000-4000-8000-000000000005', 'globex', NULL, 'SEATS_PEAK', 100, 6, 5, "
            " " MONTH_SQL ", 'TRIGGERED', now() - interval '1 hour', 1, 1)");
    snprintf(month, sizeof month, "%s", tally_test_pg_text(c.admin, "SELECT " MONTH_SQL));
    snprintf(last_month, sizeof last_month, "%s", tally_test_pg_text(c.admin, "SELECT " LAST_MONTH_SQL));
    tally_test_console_member(&c, "acme", "m-acme", NULL, token, cookie);
}

static void teardown(void)
{
    tally_test_console_teardown(&c);
}

TestSuite(console_alerts, .init = setup, .fini = teardown, .timeout = 120);

static tally_test_response_t get(const char *path, const char *ck, const char *bearer)
{
    return tally_test_console_request(&c, "GET", path, ck, bearer);
}

/* The alert ids of a 200 answer, comma-separated by their last digit. */
static const char *ids_of(const tally_test_response_t *r, const char *want_period)
{
    static char out[128];
    json_error_t e;
    cr_assert_eq(r->status, 200, "%ld %s", r->status, r->body);
    cr_assert_str_eq(tally_test_header(r, "Content-Type"), "application/json");
    json_t *j = json_loads(r->body, 0, &e);
    cr_assert_not_null(j, "%s: %s", e.text, r->body);
    cr_assert_str_eq(json_string_value(json_object_get(j, "period")), want_period);
    cr_assert(json_is_false(json_object_get(j, "truncated")));
    out[0] = '\0';
    json_t *a;
    size_t i;
    json_array_foreach(json_object_get(j, "alerts"), i, a)
    {
        const char *id = json_string_value(json_object_get(a, "alert_id"));
        cr_assert_not_null(id);
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", i ? "," : "", id + strlen(id) - 1);
    }
    json_decref(j);
    return out;
}

static const char *table_digest(void)
{
    return tally_test_pg_text(c.admin, "SELECT count(*) || ':' || md5(string_agg(a::text, ',' ORDER BY alert_id)) "
                                       "FROM tally.alerts a");
}

Test(console_alerts, a_member_gets_their_tenants_alerts_of_the_month_newest_first)
{
    tally_test_response_t r = get("/api/v1/alerts", cookie, NULL);
    cr_assert_str_eq(ids_of(&r, month), "3,2,1", "acme's this month, newest first: %s", r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    json_t *first = json_array_get(json_object_get(j, "alerts"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(first, "tenant_id")), "acme");
    cr_assert_str_eq(json_string_value(json_object_get(first, "environment_id")), "env-dev");
    cr_assert_str_eq(json_string_value(json_object_get(first, "metric")), "NONPROD_DAILY_API_CALLS");
    cr_assert_eq(json_integer_value(json_object_get(first, "threshold")), 100);
    cr_assert_eq(json_integer_value(json_object_get(first, "value")), 1200);
    cr_assert_eq(json_integer_value(json_object_get(first, "limit")), 1000);
    cr_assert_str_eq(json_string_value(json_object_get(first, "state")), "TRIGGERED");
    cr_assert_null(json_object_get(first, "kafka_offset"), "no Kafka position in the API");
    json_decref(j);
    tally_test_response_free(&r);

    /* By bearer token, and with ?tenant= naming their own tenant: the same. */
    r = get("/api/v1/alerts?tenant=acme", NULL, token);
    cr_assert_str_eq(ids_of(&r, month), "3,2,1");
    tally_test_response_free(&r);
    char path[96];
    snprintf(path, sizeof path, "/api/v1/alerts?period=%s", last_month);
    r = get(path, cookie, NULL);
    cr_assert_str_eq(ids_of(&r, last_month), "4");
    tally_test_response_free(&r);
}

Test(console_alerts, another_tenants_alerts_are_the_unknown_routes_404)
{
    tally_test_response_t unknown = get("/api/v1/no/such/route", cookie, NULL);
    const char *const paths[] = {"/api/v1/alerts?tenant=globex", "/api/v1/alerts?tenant=no-such-tenant", NULL};
    for (int i = 0; paths[i]; i++) {
        tally_test_response_t r = get(paths[i], cookie, NULL);
        cr_assert_eq(r.status, 404, "%s: %ld %s", paths[i], r.status, r.body);
        cr_assert_str_eq(r.body, unknown.body, "%s", paths[i]);
        tally_test_response_free(&r);
    }
    tally_test_response_free(&unknown);
    /* Nobody signed in. */
    tally_test_response_t r = get("/api/v1/alerts", NULL, NULL);
    cr_assert_eq(r.status, 401, "%ld", r.status);
    cr_assert_not_null(tally_test_header(&r, "WWW-Authenticate"));
    tally_test_response_free(&r);
    /* The member of globex sees only globex's. */
    char gtoken[64];
    tally_test_console_token(&c, "globex", "m-globex", "now() + interval '1 day'", gtoken, NULL);
    r = get("/api/v1/alerts", NULL, gtoken);
    cr_assert_str_eq(ids_of(&r, month), "5");
    tally_test_response_free(&r);
}

Test(console_alerts, staff_get_every_tenants_or_one)
{
    tally_test_response_t r = get("/api/v1/alerts", NULL, TALLY_TEST_STAFF_TOKEN);
    cr_assert_str_eq(ids_of(&r, month), "3,5,2,1");
    tally_test_response_free(&r);
    r = get("/api/v1/alerts?tenant=globex", NULL, TALLY_TEST_STAFF_TOKEN);
    cr_assert_str_eq(ids_of(&r, month), "5");
    tally_test_response_free(&r);
    r = get("/api/v1/alerts?tenant=no-such-tenant", NULL, TALLY_TEST_STAFF_TOKEN);
    cr_assert_str_eq(ids_of(&r, month), "");
    tally_test_response_free(&r);
}

Test(console_alerts, hostile_parameters_get_400_and_change_nothing)
{
    char before[128], long_period[400], long_tenant[120], path[600];
    snprintf(before, sizeof before, "%s", table_digest());
    memset(long_period, '9', sizeof long_period - 1);
    long_period[sizeof long_period - 1] = '\0';
    memset(long_tenant, 'a', sizeof long_tenant - 1);
    long_tenant[sizeof long_tenant - 1] = '\0';
    const char *const hostile[] = {
        "/api/v1/alerts?period=2026-13",
        "/api/v1/alerts?period=abc",
        "/api/v1/alerts?period=9999-01",                  /* the future */
        "/api/v1/alerts?period=2001-01",                  /* older than 13 months */
        "/api/v1/alerts?period=2026-1",
        "/api/v1/alerts?period=%27%3B%20DROP%20TABLE%20tally.alerts%3B--",
        "/api/v1/alerts?period=2026-11&period=2026-10",   /* repeated */
        "/api/v1/alerts?tenant=acme&tenant=acme",
        "/api/v1/alerts?tenant=ac%20me",
        "/api/v1/alerts?tenant=..%2Fglobex",
        "/api/v1/alerts?tenant=",
        NULL,
    };
    for (int who = 0; who < 2; who++)
        for (int i = 0; hostile[i]; i++) {
            tally_test_response_t r = get(hostile[i], who ? NULL : cookie, who ? TALLY_TEST_STAFF_TOKEN : NULL);
            cr_assert_eq(r.status, 400, "%s (%s): %ld %s", hostile[i], who ? "staff" : "member", r.status, r.body);
            cr_assert_str_eq(tally_test_header(&r, "Content-Type"), "application/json");
            tally_test_response_free(&r);
        }
    snprintf(path, sizeof path, "/api/v1/alerts?period=%s", long_period);
    tally_test_response_t r = get(path, cookie, NULL);
    cr_assert_eq(r.status, 400, "an oversized period: %ld", r.status);
    tally_test_response_free(&r);
    snprintf(path, sizeof path, "/api/v1/alerts?tenant=%s", long_tenant);
    r = get(path, NULL, TALLY_TEST_STAFF_TOKEN);
    cr_assert_eq(r.status, 400, "an oversized tenant: %ld", r.status);
    tally_test_response_free(&r);
    cr_assert_str_eq(table_digest(), before, "the alerts are unchanged");
    /* And the console still answers. */
    r = get("/api/v1/alerts", cookie, NULL);
    cr_assert_str_eq(ids_of(&r, month), "3,2,1");
    tally_test_response_free(&r);
}

Test(console_alerts, the_overview_shows_the_alerts_table)
{
    tally_test_response_t r = get("/t/acme/", cookie, NULL);
    cr_assert_eq(r.status, 200, "%ld", r.status);
    char err[256], caption[64];
    cr_assert_eq(tally_test_markup_check(r.body, err, sizeof err), 0, "%s", err);
    const char *t = strstr(r.body, "<table class=\"alerts\">");
    cr_assert_not_null(t, "%s", r.body);
    snprintf(caption, sizeof caption, "<caption>Usage alerts of %s</caption>", month);
    cr_assert_not_null(strstr(t, caption), "%s", t);
    const char *a = strstr(t, "1200 / 1000"), *b = strstr(t, "100000 / 100000"), *d = strstr(t, "80000 / 100000");
    cr_assert(a && b && d && a < b && b < d, "newest first: %s", t);
    cr_assert_null(strstr(t, "6 / 5"), "globex's alert on acme's page");
    cr_assert_null(strstr(t, "80001 / 100000"), "last month's alert on this month's page");
    tally_test_response_free(&r);
}
