/* The console in a real browser, on the whole pipeline: the gateway,
 * anonymizer, aggregator and materializer (pipeline_fixture.h) on topics and
 * a database of their own, and tally-console reading that database as
 * tally_reader. Two tenants' month so far goes in through the gateway as
 * the `tally` client sends it (Control Panel events with license terms,
 * environments, members and API keys; daily cumulative usage reports; seat
 * changes; product events): acme within its license, globex over it. An
 * acme member's console token is issued with `tally-console issue-token`
 * through the gateway's Control Panel route, as up.sh does.
 *
 * Headless Chromium (tests/support/browser.h) then signs in with the link
 * as a person would, loads every page, and the figures in the DOM are
 * checked against the same figures read from PostgreSQL with SQL; every
 * page of globex, and the vendor pages, must be the 404 of an unknown
 * route for the acme member (in the browser, and by status code with
 * curl); sign-out ends the session; staff sign in with the staff token and
 * see both tenants (over first) and the product analytics, where a count
 * of fewer than 5 installations shows as "< 5". A PNG of each page goes to
 * build/test-output/browser/.
 *
 * Licenses, on a pipeline of their own: the console signs with a key file
 * and sends its events through the gateway; the acme member gets a license
 * with the "Get a license" form of /t/acme/licenses (LicenseIssued through
 * the gateway and the materializer into tally.licenses), sees it valid,
 * downloads a file `tally license verify` accepts with the console's public
 * key; staff revoke it with the form of /vendor/licenses, and the console's
 * revocation list makes the client refuse the file. */
#include "browser.h"
#include "console_fixture.h"
#include "fixtures.h"
#include "http.h"
#include "pipeline_fixture.h"
#include "services.h"
#include "subprocess.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define STAFF_TOKEN TALLY_TEST_STAFF_TOKEN
#define DAY_MS 86400000LL

static tally_test_pipeline_t pipe_;
static tally_test_console_t console;   /* on the pipeline's database */
static tally_test_browser_t *browser;
static char console_url[64];

static void teardown(void)
{
    tally_test_browser_stop(browser);
    browser = NULL;
    int st = console.proc ? tally_test_console_stop(&console) : 0;
    tally_test_pipeline_stop(&pipe_);
    /* A console that did not drain cleanly fails the test (an assertion
     * in a .fini would not: abort, which Criterion counts as a crash). */
    if (st != 0) {
        fprintf(stderr, "test_browser: FAILED: tally-console exited with %d after SIGTERM, not 0\n", st);
        abort();
    }
}

TestSuite(console_browser, .fini = teardown, .timeout = 600);

/* ---- what goes in ------------------------------------------------------------------------- */

static long long month_start_ms(long long now)
{
    time_t t = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    return (long long)timegm(&tm) * 1000;
}

static void uuid_of(const char *seed, char out[37])
{
    char hex[65];
    tally_test_sha256_hex(seed, hex);
    snprintf(out, 37, "%.8s-%.4s-4%.3s-a%.3s-%.12s", hex, hex + 8, hex + 13, hex + 17, hex + 20);
}

static void key_of(const char *env, char *out, size_t size)
{
    snprintf(out, size, "tk_test_%s_0123456789abcdef0123", env);
}

typedef struct {
    const char *tenant, *name;
    int seats_max;
    long long monthly_max, nonprod_max;
} tenant_t;
typedef struct {
    const char *tenant, *env, *kind;
    long long calls_a_day;
} env_t;

static const tenant_t tenants[] = {
    {"acme", "Acme Corporation", 10, 1000000, 5000},
    {"globex", "Globex Corporation", 5, 500000, 5000},
};
static const env_t envs[] = {
    {"acme", "acme-prod", "production", 12345},
    {"acme", "acme-staging", "staging", 2100},
    {"globex", "globex-prod", "production", 260000},
};
#define N_ENVS (sizeof envs / sizeof envs[0])

static void cp_event(char **buf, size_t *len, size_t *cap, const char *tenant, long long at, const char *payload)
{
    char id[37], seed[1024], line[2048];
    snprintf(seed, sizeof seed, "cp %s %s", tenant, payload);
    uuid_of(seed, id);
    int n = snprintf(line, sizeof line, "{\"event_id\":\"%s\",\"tenant_id\":\"%s\",\"occurred_at\":%lld,\"payload\":%s}\n",
                     id, tenant, at, payload);
    if (*len + (size_t)n + 1 > *cap) {
        *cap = (*len + (size_t)n + 1) * 2;
        *buf = realloc(*buf, *cap);
        cr_assert_not_null(*buf);
    }
    memcpy(*buf + *len, line, (size_t)n + 1);
    *len += (size_t)n;
}

/* The Control Panel's events of both tenants, as the Control Panel sends them. */
static void send_control_panel(long long month0, const char *valid_from)
{
    char *buf = NULL, payload[1024], hash[65], key[128];
    size_t len = 0, cap = 0;
    long long at = month0 + 3600000;
    for (size_t i = 0; i < sizeof tenants / sizeof tenants[0]; i++) {
        const tenant_t *t = &tenants[i];
        snprintf(payload, sizeof payload, "{\"TenantRegistered\":{\"name\":\"%s\"}}", t->name);
        cp_event(&buf, &len, &cap, t->tenant, at, payload);
        snprintf(payload, sizeof payload,
                 "{\"MemberAdded\":{\"member_id\":\"%s-owner\",\"first_name\":\"Dana\",\"last_name\":\"Owner\","
                 "\"email\":\"owner@%s.example\",\"role\":\"owner\"}}", t->tenant, t->tenant);
        cp_event(&buf, &len, &cap, t->tenant, at, payload);
        snprintf(payload, sizeof payload,
                 "{\"MemberAdded\":{\"member_id\":\"%s-dev\",\"first_name\":\"Sam\",\"last_name\":\"Developer\","
                 "\"email\":\"dev@%s.example\",\"role\":\"developer\"}}", t->tenant, t->tenant);
        cp_event(&buf, &len, &cap, t->tenant, at, payload);
        snprintf(payload, sizeof payload,
                 "{\"LicenseTermsSet\":{\"seats_max\":%d,\"monthly_api_calls_max\":%lld,"
                 "\"daily_api_calls_max_nonprod\":%lld,\"features\":[\"sso\"],\"valid_from\":\"%s\","
                 "\"valid_until\":\"2099-12-31\"}}", t->seats_max, t->monthly_max, t->nonprod_max, valid_from);
        cp_event(&buf, &len, &cap, t->tenant, at, payload);
    }
    for (size_t i = 0; i < N_ENVS; i++) {
        const env_t *e = &envs[i];
        snprintf(payload, sizeof payload,
                 "{\"EnvironmentCreated\":{\"environment_id\":\"%s\",\"name\":\"%s\",\"kind\":\"%s\","
                 "\"owner\":\"%s-owner\"}}", e->env, e->env, e->kind, e->tenant);
        cp_event(&buf, &len, &cap, e->tenant, at, payload);
        key_of(e->env, key, sizeof key);
        tally_test_sha256_hex(key, hash);
        snprintf(payload, sizeof payload,
                 "{\"ApiKeyIssued\":{\"key_id\":\"key-%s\",\"environment_id\":\"%s\",\"key_sha256\":\"%s\"}}",
                 e->env, e->env, hash);
        cp_event(&buf, &len, &cap, e->tenant, at, payload);
    }
    tally_test_pipeline_post(&pipe_, "/v1/controlpanel/events", TALLY_TEST_ADMIN_TOKEN, buf);
    free(buf);
}

/* Daily cumulative usage reports, one reporter per environment, on the
 * month's days so far (at most 3); seat changes; product events. */
static void send_usage(long long month0, long long now, int days)
{
    char body[1024], key[128], reporter[37], seed[128], id[37];
    for (size_t i = 0; i < N_ENVS; i++) {
        const env_t *e = &envs[i];
        key_of(e->env, key, sizeof key);
        snprintf(seed, sizeof seed, "reporter %s", e->env);
        uuid_of(seed, reporter);
        for (int d = 1; d <= days; d++) {
            long long at = month0 + (d - 1) * DAY_MS + 43200000;
            if (at > now - 60000)
                at = now - 60000 + d;
            long long c = e->calls_a_day * d;
            snprintf(body, sizeof body,
                     "{\"tenant_id\":\"%s\",\"environment_id\":\"%s\",\"reporter_id\":\"%s\",\"reporter_started_at\":%lld,"
                     "\"seq\":%d,\"observed_at\":%lld,\"api_calls\":%lld,\"status_4xx\":%lld,\"status_5xx\":%lld,"
                     "\"exec_ms\":%lld}\n",
                     e->tenant, e->env, reporter, month0, d, at, c, c / 100, c / 1000, c * 12);
            tally_test_pipeline_post(&pipe_, "/v1/usage/reports", key, body);
        }
    }
    /* Seats: acme 4 of 10, globex 7 of 5. */
    const struct { const char *tenant, *env; int users; } seats[] = {{"acme", "acme-prod", 4}, {"globex", "globex-prod", 7}};
    for (size_t s = 0; s < 2; s++) {
        char all[4096] = "";
        size_t n = 0;
        for (int u = 1; u <= seats[s].users; u++) {
            snprintf(seed, sizeof seed, "seat %s %d", seats[s].tenant, u);
            uuid_of(seed, id);
            n += (size_t)snprintf(all + n, sizeof all - n,
                                  "{\"event_id\":\"%s\",\"tenant_id\":\"%s\",\"user_id\":\"u%d@%s.example\","
                                  "\"op\":\"ASSIGNED\",\"occurred_at\":%lld}\n",
                                  id, seats[s].tenant, u, seats[s].tenant, month0 + 36000000 > now - 60000 ? now - 60000 : month0 + 36000000);
        }
        key_of(seats[s].env, key, sizeof key);
        tally_test_pipeline_post(&pipe_, "/v1/usage/seats", key, all);
    }
    /* Product: 9 installations start a project 5 times each (45 events, a
     * figure of 9 installations: shown), 2 of them deploy (fewer than 5:
     * shown as "< 5"). */
    char all[32768] = "";
    size_t n = 0;
    long long at = month0 + 7200000 > now - 60000 ? now - 60000 : month0 + 7200000;
    for (int i = 1; i <= 45; i++) {
        snprintf(seed, sizeof seed, "product start %d", i);
        uuid_of(seed, id);
        n += (size_t)snprintf(all + n, sizeof all - n,
                              "{\"event_id\":\"%s\",\"source\":\"CLI\",\"event\":\"project.create.start\",\"occurred_at\":%lld,"
                              "\"install_id\":\"browser-install-%d\",\"version\":\"7.0.0\",\"ci\":false,"
                              "\"properties\":{\"template\":\"blog\"}}\n", id, at + i, (i - 1) % 9 + 1);
    }
    for (int i = 1; i <= 2; i++) {
        snprintf(seed, sizeof seed, "product deploy %d", i);
        uuid_of(seed, id);
        n += (size_t)snprintf(all + n, sizeof all - n,
                              "{\"event_id\":\"%s\",\"source\":\"CLI\",\"event\":\"deploy.start\",\"occurred_at\":%lld,"
                              "\"install_id\":\"browser-install-%d\",\"project_id\":\"p-%d\",\"version\":\"7.0.0\",\"ci\":true,"
                              "\"properties\":{\"region\":\"eu\"}}\n", id, at + 100 + i, i, i);
    }
    tally_test_pipeline_post(&pipe_, "/v1/product/events", NULL, all);
}

/* ---- the console ------------------------------------------------------------------------- */

/* more: further options (NULL-terminated, may be NULL). */
static void start_console(const char *const *more)
{
    /* The usage downloads read the pipeline's own clean usage log. */
    char brokers[160], usage[160];
    snprintf(brokers, sizeof brokers, "--brokers=%s", tally_test_brokers());
    snprintf(usage, sizeof usage, "--usage-topic=%s", pipe_.usage);
    const char *extra[8] = {brokers, usage, NULL};
    for (size_t i = 0; more && more[i] && i + 3 < sizeof extra / sizeof extra[0]; i++)
        extra[i + 2] = more[i];
    snprintf(console.db, sizeof console.db, "%s", pipe_.db);
    tally_test_console_start(&console, extra);
    snprintf(console_url, sizeof console_url, "%s", console.base_url);
}

/* `tally-console issue-token` through the gateway; returns the token (static). */
static const char *issue_token(const char *tenant, const char *member)
{
    static char token[128];
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "TALLY_ADMIN_TOKEN=%s %s issue-token --gateway-url=%s --tenant=%s --member=%s",
             TALLY_TEST_ADMIN_TOKEN, tally_test_bin("tally-console"), pipe_.gw.base_url, tenant, member);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    char out[4096];
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    cr_assert_eq(st, 0, "issue-token exited with %d: %s", st, out);
    const char *t = strstr(out, "tct_");
    cr_assert_not_null(t, "issue-token printed no token: %s", out);
    size_t len = strspn(t, "tct_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-");
    cr_assert_eq(len, 47, "a token is tct_ and 43 base64url characters: %s", out);
    snprintf(token, sizeof token, "%.*s", (int)len, t);
    return token;
}

/* ---- checking the DOM --------------------------------------------------------------------- */

/* Whether text shows the number v: plain, or grouped by thousands with a
 * comma, a space, a no-break or a narrow no-break space, not as a part of
 * a longer number. */
static int shows_number(const char *text, long long v)
{
    char plain[32];
    snprintf(plain, sizeof plain, "%lld", v);
    const char *seps[] = {"", ",", " ", "\xc2\xa0", "\xe2\x80\xaf"};
    for (size_t s = 0; s < sizeof seps / sizeof seps[0]; s++) {
        char f[96] = "";
        size_t len = strlen(plain), o = 0;
        for (size_t i = 0; i < len; i++) {
            if (i > 0 && (len - i) % 3 == 0)
                o += (size_t)snprintf(f + o, sizeof f - o, "%s", seps[s]);
            f[o++] = plain[i];
            f[o] = '\0';
        }
        for (const char *p = strstr(text, f); p; p = strstr(p + 1, f)) {
            char before = p > text ? p[-1] : ' ', after = p[strlen(f)];
            if (!isdigit((unsigned char)before) && !isdigit((unsigned char)after) &&
                !(after == ',' && isdigit((unsigned char)p[strlen(f) + 1])) &&
                !(before == ',' && p - 1 > text && isdigit((unsigned char)p[-2])))
                return 1;
        }
    }
    return 0;
}

/* A number column of one row of tally.monthly_usage, tally.compliance...:
 * select column from relation where tenant_id = tenant and filter. */
/* Whether text has w as a word of its own (case-insensitive): the status
 * "over" is not the "over" of "overview". */
static int shows_word(const char *text, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = text; *p; p++)
        if (strncasecmp(p, w, n) == 0 && (p == text || !isalpha((unsigned char)p[-1])) && !isalpha((unsigned char)p[n]))
            return 1;
    return 0;
}

static long long sql_ll(const char *column, const char *relation, const char *tenant, const char *filter)
{
    char sql[1024];
    snprintf(sql, sizeof sql, "select %s from %s where tenant_id = '%s' and %s", column, relation, tenant, filter);
    const char *v = tally_test_pipeline_value(&pipe_, sql);
    cr_assert(*v, "no row: %s", sql);
    return atoll(v);
}

static void load(const char *path, tally_test_browser_page_t *page)
{
    char url[640];
    snprintf(url, sizeof url, "%s%s", console_url, path);
    tally_test_browser_load(browser, url, page);
}

#define EXPECT_NUMBER(page, what, v)                                                                       \
    cr_expect(shows_number((page)->text, (v)), "%s: the page does not show %s = %lld (PostgreSQL); it reads:\n%s", \
              (page)->url, (what), (long long)(v), (page)->text)
#define EXPECT_TEXT(page, s)                                                                                \
    cr_expect(strstr((page)->text, (s)) != NULL, "%s: the page does not show \"%s\"; it reads:\n%s", (page)->url, \
              (s), (page)->text)

/* Loads path and requires a 200. */
static void open_page(const char *path, tally_test_browser_page_t *page)
{
    load(path, page);
    cr_assert_eq(page->status, 200, "%s: %s", page->url, page->text);
}

/* Keeps a screenshot of the page as shot (see browser.h) and frees it. */
static void close_page(tally_test_browser_page_t *page, const char *shot)
{
    tally_test_browser_screenshot(browser, shot);
    tally_test_browser_page_free(page);
}

/* Every cell of the two rows PostgreSQL answers to sql is shown on page. */
static void expect_rows_shown(const tally_test_browser_page_t *page, const char *sql)
{
    PGresult *res = PQexec(pipe_.pg, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(pipe_.pg));
    cr_expect_eq(PQntuples(res), 2);
    for (int i = 0; i < PQntuples(res); i++)
        for (int j = 0; j < PQnfields(res); j++)
            EXPECT_TEXT(page, PQgetvalue(res, i, j));
    PQclear(res);
}

/* ---- the test ----------------------------------------------------------------------------- */

Test(console_browser, a_member_and_staff_see_the_figures_of_postgresql_and_nothing_of_another_tenant)
{
    long long now = tally_test_now_ms(), month0 = month_start_ms(now);
    int days = (int)((now - month0) / DAY_MS) + 1;
    if (days > 3)
        days = 3;
    char valid_from[16], month[16], sql[1024];
    time_t m0 = (time_t)(month0 / 1000);
    strftime(valid_from, sizeof valid_from, "%Y-%m-%d", gmtime(&m0));
    strftime(month, sizeof month, "%Y-%m", gmtime(&m0));

    tally_test_pipeline_start(&pipe_);
    send_control_panel(month0, valid_from);
    /* The gateway learns the keys from PostgreSQL within its refresh. */
    cr_assert_str_eq(tally_test_pipeline_wait_value(&pipe_, "select count(*) from tally.gateway_keys", "3", 60000), "3",
                     "the API keys did not reach tally.gateway_keys");
    sleep(2);
    send_usage(month0, now, days);

    /* Wait until every figure has landed (what was sent, computed here). */
    long long acme_calls = (12345 + 2100) * (long long)days, globex_calls = 260000LL * days;
    snprintf(sql, sizeof sql,
             "select string_agg(tenant_id || ' ' || api_calls_month_peak || ' ' || seats_peak || ' ' || status, ',' "
             "order by tenant_id) from tally.compliance where valid_from = '%s'", valid_from);
    char want[256];
    snprintf(want, sizeof want, "acme %lld 4 ok,globex %lld 7 over", acme_calls, globex_calls);
    cr_assert_str_eq(tally_test_pipeline_wait_value(&pipe_, sql, want, 180000), want,
                     "the pipeline did not land the month in tally.compliance");
    cr_assert_str_eq(tally_test_pipeline_wait_value(
                         &pipe_, "select coalesce(sum(events), 0) from tally.product_analytics_daily where version = '7.0.0'",
                         "47", 120000), "47", "the product events did not land");
    start_console(NULL);

    const char *acme_token = issue_token("acme", "acme-owner");
    char hash[65];
    tally_test_sha256_hex(acme_token, hash);
    snprintf(sql, sizeof sql, "select count(*) from tally.console_tokens where token_sha256 = '%s'", hash);
    cr_assert_str_eq(tally_test_pipeline_wait_value(&pipe_, sql, "1", 60000), "1",
                     "the token did not land in tally.console_tokens");

    browser = tally_test_browser_start(1280, 900);
    tally_test_browser_page_t page;

    /* Not signed in: the overview sends the browser to the sign-in page. */
    load("/t/acme/", &page);
    cr_expect(strstr(page.url, "/signin") != NULL, "not signed in, /t/acme/ ends at %s", page.url);
    tally_test_browser_page_free(&page);

    /* The sign-in link: 303 to the overview, a session cookie. */
    char path[512];
    snprintf(path, sizeof path, "/signin?token=%s", acme_token);
    load(path, &page);
    char want_url[128];
    snprintf(want_url, sizeof want_url, "%s/t/acme/", console_url);
    cr_assert_str_eq(page.url, want_url, "the sign-in link leads to the tenant's overview, not %s (%ld):\n%s", page.url,
                     page.status, page.text);
    cr_assert_eq(page.status, 200);
    char session[128];
    tally_test_cookie_flags_t flags;
    cr_assert_eq(tally_test_browser_cookie(browser, console_url, "tally_session", session, sizeof session, &flags), 1,
                 "no tally_session cookie after signing in");
    cr_expect(flags.http_only, "the session cookie must be HttpOnly");
    cr_expect_str_eq(flags.same_site, "Strict");
    cr_expect(!flags.secure, "--insecure-cookies: no Secure on plain HTTP");

    /* Overview: this month's API calls, seats, status, against the license. */
    char period_filter[64], month_filter[64];
    snprintf(period_filter, sizeof period_filter, "valid_from = '%s'", valid_from);
    snprintf(month_filter, sizeof month_filter, "month = '%s-01'", month);
    EXPECT_TEXT(&page, "Acme Corporation");
    EXPECT_NUMBER(&page, "API calls this month", sql_ll("api_calls_month_peak", "tally.compliance", "acme", period_filter));
    EXPECT_NUMBER(&page, "monthly_api_calls_max", sql_ll("monthly_api_calls_max", "tally.compliance", "acme", period_filter));
    EXPECT_NUMBER(&page, "seats peak", sql_ll("seats_peak", "tally.compliance", "acme", period_filter));
    EXPECT_NUMBER(&page, "seats_max", sql_ll("seats_max", "tally.compliance", "acme", period_filter));
    cr_expect(shows_word(page.text, "ok") && !shows_word(page.text, "over") && !shows_word(page.text, "warning"),
              "acme's status badge reads ok (PostgreSQL: %s), and nothing reads over or warning:\n%s",
              tally_test_pipeline_value(&pipe_, "select status from tally.compliance where tenant_id = 'acme'"), page.text);
    cr_expect(strstr(page.html, "<svg") != NULL, "the overview draws its bars as inline SVG");
    cr_expect(strstr(page.html, "<table") != NULL, "a real <table> behind every chart");
    cr_expect(strstr(page.html, "<script") == NULL, "no JavaScript");
    close_page(&page, "acme-overview");

    /* Usage: the per-environment table. */
    snprintf(path, sizeof path, "/t/acme/usage?period=%s", month);
    open_page(path, &page);
    for (size_t i = 0; i < 2; i++) {
        const char *env = envs[i].env;
        EXPECT_TEXT(&page, env);
        char filter[160];
        snprintf(filter, sizeof filter, "environment_id = '%s' and %s", env, month_filter);
        EXPECT_NUMBER(&page, "api_calls", sql_ll("api_calls", "tally.monthly_usage", "acme", filter));
        EXPECT_NUMBER(&page, "status_4xx", sql_ll("status_4xx", "tally.monthly_usage", "acme", filter));
        EXPECT_NUMBER(&page, "status_5xx", sql_ll("status_5xx", "tally.monthly_usage", "acme", filter));
    }
    cr_expect(strstr(page.html, "globex") == NULL, "acme's usage page names nothing of globex");
    close_page(&page, "acme-usage");

    /* Seats: the peak against seats_max. */
    snprintf(path, sizeof path, "/t/acme/seats?period=%s", month);
    open_page(path, &page);
    snprintf(sql, sizeof sql, "select seats_peak from tally.monthly_seats where tenant_id = 'acme' and month = '%s-01'",
             month);
    EXPECT_NUMBER(&page, "seats peak", atoll(tally_test_pipeline_value(&pipe_, sql)));
    EXPECT_NUMBER(&page, "seats_max", 10);
    close_page(&page, "acme-seats");

    /* Team: environments with their kind, members with their role. */
    open_page("/t/acme/team", &page);
    expect_rows_shown(&page, "select environment_id, kind from tally.environments where tenant_id = 'acme'");
    expect_rows_shown(&page, "select email, role from tally.members where tenant_id = 'acme'");
    cr_expect(strstr(page.text, "owner@globex.example") == NULL, "another tenant's member on acme's team page");
    close_page(&page, "acme-team");

    /* Nothing of globex, nothing of the vendor: the 404 of an unknown route. */
    tally_test_browser_page_t unknown;
    load("/no/such/page", &unknown);
    cr_assert_eq(unknown.status, 404);
    const char *foreign[] = {"/t/globex/", "/t/globex/usage", "/t/globex/seats", "/t/globex/team",
                             "/t/globex/usage?period=2020-01", "/vendor/tenants", "/vendor/product"};
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
        load(foreign[i], &page);
        cr_expect_eq(page.status, 404, "acme's member on %s: status %ld", foreign[i], page.status);
        cr_expect_str_eq(page.text, unknown.text, "acme's member on %s: not the unknown route's page", foreign[i]);
        cr_expect(strstr(page.text, "Globex") == NULL && strstr(page.text, "globex") == NULL,
                  "the 404 names globex: %s", page.text);
        if (i == 0)
            tally_test_browser_screenshot(browser, "acme-member-on-globex-404");
        tally_test_browser_page_free(&page);
    }
    tally_test_browser_page_free(&unknown);

    /* The same by status code, with the browser's session cookie and with
     * the token as a bearer, on the HTML routes and their API. */
    char cookie[256], bearer[256];
    snprintf(cookie, sizeof cookie, "Cookie: tally_session=%s", session);
    snprintf(bearer, sizeof bearer, "Authorization: Bearer %s", acme_token);
    const char *api_foreign[] = {"/t/globex/", "/t/globex/team", "/api/v1/tenants/globex/overview",
                                 "/api/v1/tenants/globex/usage", "/api/v1/tenants/globex/seats",
                                 "/api/v1/tenants/globex/team", "/api/v1/vendor/tenants", "/api/v1/vendor/product"};
    for (int who = 0; who < 2; who++)
        for (size_t i = 0; i < sizeof api_foreign / sizeof api_foreign[0]; i++) {
            char url[512];
            snprintf(url, sizeof url, "%s%s", console_url, api_foreign[i]);
            const char *h[] = {who ? bearer : cookie, NULL};
            tally_test_response_t r = tally_test_http("GET", url, h, NULL, 0, 0);
            cr_expect_eq(r.status, 404, "%s with the acme member's %s: %ld", api_foreign[i], who ? "token" : "cookie",
                         r.status);
            tally_test_response_free(&r);
        }
    {
        char url[512];
        snprintf(url, sizeof url, "%s/api/v1/tenants/acme/overview", console_url);
        const char *h[] = {bearer, NULL};
        tally_test_response_t r = tally_test_http("GET", url, h, NULL, 0, 0);
        cr_expect_eq(r.status, 200, "acme's own API overview: %ld %s", r.status, r.body);
        cr_expect(shows_number(r.body, acme_calls), "the API serves the same API calls (%lld): %s", acme_calls, r.body);
        cr_expect_not_null(tally_test_header(&r, "ETag"), "the API sends an ETag");
        tally_test_response_free(&r);
    }

    /* Sign-out, with the page's own button: the session ends on the server,
     * not only in this browser (the old cookie opens nothing). */
    {
        load("/t/acme/", &page);
        tally_test_browser_page_free(&page);
        tally_test_browser_click(browser, "form[action='/signout'] button, form[action='/signout'] input[type=submit]",
                                 &page);
        cr_expect(strstr(page.url, "/signin") != NULL || page.status == 200, "after sign-out: %s (%ld)", page.url,
                  page.status);
        tally_test_browser_page_free(&page);
        load("/t/acme/", &page);
        cr_expect(strstr(page.url, "/signin") != NULL, "after sign-out /t/acme/ ends at %s", page.url);
        tally_test_browser_page_free(&page);
        char url[512];
        snprintf(url, sizeof url, "%s/t/acme/", console_url);
        const char *h[] = {cookie, NULL};
        tally_test_response_t r = tally_test_http("GET", url, h, NULL, 0, 0);
        cr_expect_eq(r.status, 303, "the signed-out session's cookie on /t/acme/: %ld", r.status);
        tally_test_response_free(&r);
    }

    /* Staff: every tenant, over first; product analytics; globex's overview. */
    load("/signin?token=" STAFF_TOKEN, &page);
    snprintf(want_url, sizeof want_url, "%s/vendor/tenants", console_url);
    cr_assert_str_eq(page.url, want_url, "the staff sign-in leads to the vendor's tenants page, not %s (%ld):\n%s",
                     page.url, page.status, page.text);
    EXPECT_TEXT(&page, "Globex Corporation");
    EXPECT_TEXT(&page, "Acme Corporation");
    cr_expect(shows_word(page.text, "over"), "%s: no status reads over:\n%s", page.url, page.text);
    const char *g = strstr(page.text, "Globex Corporation"), *a = strstr(page.text, "Acme Corporation");
    cr_expect(g && a && g < a, "over (globex) is listed before ok (acme)");
    EXPECT_NUMBER(&page, "globex's API calls", globex_calls);
    close_page(&page, "staff-tenants");

    load("/vendor/tenants?status=over", &page);
    EXPECT_TEXT(&page, "Globex Corporation");
    cr_expect(strstr(page.text, "Acme Corporation") == NULL, "?status=over lists acme: %s", page.text);
    tally_test_browser_page_free(&page);

    snprintf(path, sizeof path, "/vendor/product?period=%s", month);
    open_page(path, &page);
    EXPECT_TEXT(&page, "project.create.start");
    EXPECT_TEXT(&page, "deploy.start");
    EXPECT_NUMBER(&page, "project.create.start events",
                  atoll(tally_test_pipeline_value(
                      &pipe_, "select sum(events) from tally.product_analytics_daily where event = 'project.create.start' "
                               "and version = '7.0.0'")));
    EXPECT_TEXT(&page, "< 5");
    close_page(&page, "staff-product");

    load("/t/globex/", &page);
    cr_assert_eq(page.status, 200, "staff on globex's overview: %s", page.text);
    EXPECT_TEXT(&page, "Globex Corporation");
    cr_expect(shows_word(page.text, "over"), "%s: no status reads over:\n%s", page.url, page.text);
    EXPECT_NUMBER(&page, "globex's API calls", globex_calls);
    EXPECT_NUMBER(&page, "globex's seats peak", 7);
    close_page(&page, "staff-globex-overview");
}

/* ---- licenses ----------------------------------------------------------------------------- */

/* Runs `tally license verify <file> --public-key <pub> [extra]` on the
 * license text; returns the exit code, the output into out. */
static int verify_license(const char *dir, const char *text, size_t len, const char *pub, const char *extra, char *out,
                          size_t outsize)
{
    char lic[128], key[128], log[128], cmd[1024];
    snprintf(lic, sizeof lic, "%s/got.license", dir);
    snprintf(key, sizeof key, "%s/console.pub", dir);
    snprintf(log, sizeof log, "%s/verify.out", dir);
    FILE *f = fopen(lic, "w");
    cr_assert_not_null(f);
    fwrite(text, 1, len, f);
    fclose(f);
    f = fopen(key, "w");
    cr_assert_not_null(f);
    fputs(pub, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' license verify '%s' --public-key '%s' %s >'%s' 2>&1", tally_test_bin("tally"), lic,
             key, extra ? extra : "", log);
    int st = tally_test_system("tally", cmd);
    f = fopen(log, "r");
    cr_assert_not_null(f);
    out[fread(out, 1, outsize - 1, f)] = '\0';
    fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* GET path on the console with the header h (NULL: none). */
static tally_test_response_t console_get(const char *path, const char *h)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", console_url, path);
    const char *headers[] = {h, NULL};
    return tally_test_http("GET", url, h ? headers : NULL, NULL, 0, 0);
}

Test(console_browser, a_member_gets_a_license_with_the_form_and_staff_revoke_it)
{
    long long now = tally_test_now_ms(), month0 = month_start_ms(now);
    char valid_from[16], sql[512], dir[] = "/tmp/tally-browser-licenses-XXXXXX", keys[160], path[256];
    time_t m0 = (time_t)(month0 / 1000);
    strftime(valid_from, sizeof valid_from, "%Y-%m-%d", gmtime(&m0));
    cr_assert_not_null(mkdtemp(dir));
    snprintf(keys, sizeof keys, "%s/license.keys", dir);
    FILE *f = fopen(keys, "w");
    cr_assert_not_null(f);
    fputs("browser-2026-12 9f3a5c7e11223344556677889900aabbccddeeff00112233445566778899aabb\n", f);
    fclose(f);
    cr_assert_eq(chmod(keys, 0600), 0);

    tally_test_pipeline_start(&pipe_);
    send_control_panel(month0, valid_from);
    cr_assert_str_eq(tally_test_pipeline_wait_value(&pipe_, "select count(*) from tally.license_terms", "2", 60000), "2",
                     "the license terms did not land");
    char key_arg[200], gateway[160], admin[128];
    snprintf(key_arg, sizeof key_arg, "--license-keys=%s", keys);
    snprintf(gateway, sizeof gateway, "--gateway-url=%s", pipe_.gw.base_url);
    snprintf(admin, sizeof admin, "--admin-token=%s", TALLY_TEST_ADMIN_TOKEN);
    const char *const more[] = {key_arg, gateway, admin, "--license-wait=30s", NULL};
    start_console(more);
    const char *acme_token = issue_token("acme", "acme-owner");
    char hash[65];
    tally_test_sha256_hex(acme_token, hash);
    snprintf(sql, sizeof sql, "select count(*) from tally.console_tokens where token_sha256 = '%s'", hash);
    cr_assert_str_eq(tally_test_pipeline_wait_value(&pipe_, sql, "1", 60000), "1", "the token did not land");

    browser = tally_test_browser_start(1280, 900);
    tally_test_browser_page_t page;
    snprintf(path, sizeof path, "/signin?token=%s", acme_token);
    load(path, &page);
    cr_assert_eq(page.status, 200, "%s", page.text);
    tally_test_browser_page_free(&page);

    /* The member's page: the navigation leads there; no license yet. */
    open_page("/t/acme/licenses", &page);
    EXPECT_TEXT(&page, "No license");
    cr_expect(strstr(page.html, "href=\"/t/acme/licenses\" aria-current=\"page\"") != NULL, "not in the navigation");
    tally_test_browser_page_free(&page);

    /* "Get a license": LicenseIssued through the gateway and the
     * materializer, then back to the page, which shows it. */
    tally_test_browser_click(browser, "form[action='/t/acme/licenses'] button", &page);
    cr_assert_eq(page.status, 200, "%s: %s", page.url, page.text);
    const char *at = strstr(page.url, "/t/acme/licenses?issued=");
    cr_assert_not_null(at, "the form leads to %s", page.url);
    char id[37];
    snprintf(id, sizeof id, "%s", at + strlen("/t/acme/licenses?issued="));
    snprintf(sql, sizeof sql,
             "select member_id || ' ' || kind || ' ' || (revoked_at is null) from tally.licenses where license_id = '%s'",
             id);
    cr_assert_str_eq(tally_test_pipeline_value(&pipe_, sql), "acme-owner personal_dev true");
    EXPECT_TEXT(&page, id);
    EXPECT_TEXT(&page, "issued");
    cr_expect(strstr(page.html, "<span class=\"badge badge-ok\">Valid</span>") != NULL,
              "the license just issued does not read valid:\n%s", page.text);
    EXPECT_TEXT(&page, "browser-2026-12");
    cr_expect(strstr(page.html, "Download it") != NULL, "no download link in the notice");
    close_page(&page, "acme-licenses");

    /* The download, with the browser's session: verifies with the console's
     * published key, and is the payload recorded in tally.licenses. */
    char session[128], cookie[256], out[1024];
    cr_assert_eq(tally_test_browser_cookie(browser, console_url, "tally_session", session, sizeof session, NULL), 1);
    snprintf(cookie, sizeof cookie, "Cookie: tally_session=%s", session);
    snprintf(path, sizeof path, "/api/v1/licenses/%s/file", id);
    tally_test_response_t file = console_get(path, cookie);
    cr_assert_eq(file.status, 200, "%ld %s", file.status, file.body);
    tally_test_response_t pub = console_get("/api/v1/licenses/keys?format=pub", NULL);
    cr_assert_eq(pub.status, 200);
    cr_assert_eq(verify_license(dir, file.body, file.len, pub.body, NULL, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, id) && strstr(out, "member acme-owner"), "%s", out);

    /* A member on staff's page: the unknown route's 404. */
    load("/vendor/licenses", &page);
    cr_expect_eq(page.status, 404, "the member on /vendor/licenses: %ld", page.status);
    tally_test_browser_page_free(&page);

    /* Staff: the license among every license; revoke it with a reason. */
    load("/signin?token=" STAFF_TOKEN, &page);
    tally_test_browser_page_free(&page);
    open_page("/vendor/licenses", &page);
    EXPECT_TEXT(&page, id);
    EXPECT_TEXT(&page, "Acme Corporation");
    EXPECT_TEXT(&page, "Dana Owner");
    cr_expect(strstr(page.html, "href=\"/vendor/licenses\" aria-current=\"page\"") != NULL, "not in the navigation");
    tally_test_browser_page_free(&page);
    char form[128], selector[200], want_url[128];
    snprintf(form, sizeof form, "form[action='/vendor/licenses/%s/revoke']", id);
    snprintf(selector, sizeof selector, "%s input[name=reason]", form);
    tally_test_browser_fill(browser, selector, "left the team");
    tally_test_browser_screenshot(browser, "staff-licenses-revoking");
    snprintf(selector, sizeof selector, "%s button", form);
    tally_test_browser_click(browser, selector, &page);
    cr_assert_eq(page.status, 200, "%s: %s", page.url, page.text);
    snprintf(want_url, sizeof want_url, "%s/vendor/licenses", console_url);
    cr_expect_str_eq(page.url, want_url, "the revoke form leads back to the staff page");
    snprintf(sql, sizeof sql, "select revoke_reason from tally.licenses where license_id = '%s'", id);
    cr_assert_str_eq(tally_test_pipeline_value(&pipe_, sql), "left the team",
                     "revoked in tally.licenses by the time the page shows");
    EXPECT_TEXT(&page, "Revoked");
    EXPECT_TEXT(&page, "left the team");
    snprintf(selector, sizeof selector, "action=\"/vendor/licenses/%s/revoke\"", id);
    cr_expect(strstr(page.html, selector) == NULL, "a revoke form for a revoked license");
    close_page(&page, "staff-licenses");

    /* The revocation list now names it: the client refuses the file. */
    tally_test_response_t list = console_get("/api/v1/licenses/revoked", NULL);
    cr_assert_eq(list.status, 200);
    char revoked[128], extra[192];
    snprintf(revoked, sizeof revoked, "%s/revoked.list", dir);
    f = fopen(revoked, "w");
    cr_assert_not_null(f);
    fwrite(list.body, 1, list.len, f);
    fclose(f);
    snprintf(extra, sizeof extra, "--revoked '%s'", revoked);
    cr_expect_eq(verify_license(dir, file.body, file.len, pub.body, extra, out, sizeof out), 7, "%s", out);
    tally_test_response_free(&list);
    tally_test_response_free(&pub);
    tally_test_response_free(&file);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    cr_expect_eq(system(path), 0);
}
