/* tally-console sign-in, sessions and tokens, against the real binary and
 * a real PostgreSQL database (tests/support/console_fixture.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "console_fixture.h"

static tally_test_console_t c;

static void setup(void)
{
    tally_test_console_db(&c);
}

static void teardown(void)
{
    tally_test_console_teardown(&c);
}

TestSuite(console_auth, .init = setup, .fini = teardown, .timeout = 120);

static long status_of(const char *method, const char *path, const char *cookie, const char *bearer)
{
    tally_test_response_t r = tally_test_console_request(&c, method, path, cookie, bearer);
    long st = r.status;
    tally_test_response_free(&r);
    return st;
}

static void expect_redirect(const char *path, const char *cookie, const char *location)
{
    tally_test_response_t r = tally_test_console_request(&c, "GET", path, cookie, NULL);
    cr_assert_eq(r.status, 303, "%s: %ld %s", path, r.status, r.body);
    const char *loc = tally_test_header(&r, "Location");
    cr_assert(loc && strcmp(loc, location) == 0, "%s: Location %s, not %s", path, loc ? loc : "(none)", location);
    tally_test_response_free(&r);
}

Test(console_auth, signin_link_sets_a_strict_session_cookie)
{
    char token[64], cookie[96];
    tally_test_console_token(&c, "acme", "m-acme", "now() + interval '1 day'", token, NULL);
    tally_test_console_start(&c, NULL);
    char path[128];
    snprintf(path, sizeof path, "/signin?token=%s", token);
    tally_test_response_t r = tally_test_console_request(&c, "GET", path, NULL, NULL);
    cr_assert_eq(r.status, 303, "%ld %s", r.status, r.body);
    cr_assert_str_eq(tally_test_header(&r, "Location"), "/t/acme/");
    const char *set = tally_test_header(&r, "Set-Cookie");
    cr_assert_not_null(set);
    cr_assert(strncmp(set, "tally_session=", 14) == 0 && strspn(set + 14, "0123456789abcdef") == 64, "%s", set);
    cr_assert(strstr(set, "; HttpOnly") && strstr(set, "; SameSite=Strict") && strstr(set, "; Path=/"), "%s", set);
    cr_assert(strstr(set, "; Max-Age=") != NULL, "%s", set);
    cr_assert(strstr(set, "Secure") == NULL, "--insecure-cookies: %s", set);
    cr_assert_str_eq(tally_test_header(&r, "Referrer-Policy"), "no-referrer");
    tally_test_response_free(&r);
    tally_test_console_signin(&c, token, cookie);
    cr_assert_eq(status_of("GET", "/t/acme/", cookie, NULL), 200);
    cr_assert_eq(status_of("GET", "/api/v1/tenants/acme/overview", cookie, NULL), 200);
    /* The token never reaches the log (it travels in the query string). */
    cr_assert(strstr(tally_test_log(c.proc), token) == NULL, "token logged:\n%s", tally_test_log(c.proc));
    cr_assert(strstr(tally_test_log(c.proc), "token=") == NULL, "query string logged");
    cr_assert_eq(tally_test_console_stop(&c), 0);

    /* Without --insecure-cookies the cookie is Secure. */
    static const char *const argv0[] = {"--insecure-cookies=false", NULL};
    tally_test_console_start(&c, argv0);
    r = tally_test_console_request(&c, "GET", path, NULL, NULL);
    cr_assert_eq(r.status, 303);
    set = tally_test_header(&r, "Set-Cookie");
    cr_assert(set && strstr(set, "; Secure") != NULL, "%s", set ? set : "(none)");
    tally_test_response_free(&r);
}

Test(console_auth, signin_form_post)
{
    char token[64], body[256];
    tally_test_console_token(&c, "acme", "m-acme", "now() + interval '1 day'", token, NULL);
    tally_test_console_start(&c, NULL);
    char url[128];
    snprintf(url, sizeof url, "%s/signin", c.base_url);
    snprintf(body, sizeof body, "token=%s&submit=", token);
    const char *const form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    tally_test_response_t r = tally_test_http("POST", url, form, body, strlen(body), 0);
    cr_assert_eq(r.status, 303, "%ld %s", r.status, r.body);
    cr_assert_str_eq(tally_test_header(&r, "Location"), "/t/acme/");
    cr_assert_not_null(tally_test_header(&r, "Set-Cookie"));
    tally_test_response_free(&r);
    /* The same from another site's page: refused. */
    const char *const cross[] = {"Content-Type: application/x-www-form-urlencoded", "Origin: https://evil.example",
                                 NULL};
    r = tally_test_http("POST", url, cross, body, strlen(body), 0);
    cr_assert_eq(r.status, 400, "%ld", r.status);
    cr_assert_null(tally_test_header(&r, "Set-Cookie"));
    tally_test_response_free(&r);
    /* A browser's cross-site form says so in Sec-Fetch-Site, whatever the Origin. */
    const char *const fetch_cross[] = {"Content-Type: application/x-www-form-urlencoded", "Sec-Fetch-Site: cross-site",
                                       "Origin: null", NULL};
    r = tally_test_http("POST", url, fetch_cross, body, strlen(body), 0);
    cr_assert_eq(r.status, 400, "%ld", r.status);
    cr_assert_null(tally_test_header(&r, "Set-Cookie"));
    tally_test_response_free(&r);
    /* Without Sec-Fetch-Site, an opaque origin is no proof of this site. */
    const char *const null_origin[] = {"Content-Type: application/x-www-form-urlencoded", "Origin: null", NULL};
    r = tally_test_http("POST", url, null_origin, body, strlen(body), 0);
    cr_assert_eq(r.status, 400, "%ld", r.status);
    tally_test_response_free(&r);
    /* This site's own form under Referrer-Policy: no-referrer, as Chromium
     * sends it: Origin null, Sec-Fetch-Site same-origin. */
    const char *const own[] = {"Content-Type: application/x-www-form-urlencoded", "Sec-Fetch-Site: same-origin",
                               "Origin: null", NULL};
    r = tally_test_http("POST", url, own, body, strlen(body), 0);
    cr_assert_eq(r.status, 303, "%ld %s", r.status, r.body);
    cr_assert_not_null(tally_test_header(&r, "Set-Cookie"));
    tally_test_response_free(&r);
    const char *const json[] = {"Content-Type: application/json", NULL};
    r = tally_test_http("POST", url, json, body, strlen(body), 0);
    cr_assert_eq(r.status, 415);
    tally_test_response_free(&r);
    r = tally_test_http("POST", url, form, "nothing=here", 12, 0);
    cr_assert_eq(r.status, 400);
    cr_assert(strstr(r.body, "<form") != NULL, "the form again");
    tally_test_response_free(&r);
    snprintf(body, sizeof body, "token=%s&token=%s", token, token);
    r = tally_test_http("POST", url, form, body, strlen(body), 0);
    cr_assert_eq(r.status, 400);
    tally_test_response_free(&r);
}

Test(console_auth, refused_tokens_get_no_session)
{
    char ok[64], expired[64], revoked[64], removed[64], rid[40], path[160];
    tally_test_console_token(&c, "acme", "m-acme", "now() + interval '1 day'", ok, NULL);
    tally_test_console_token(&c, "acme", "m-acme", "now() - interval '1 second'", expired, NULL);
    tally_test_console_token(&c, "acme", "m-acme", "now() + interval '1 day'", revoked, rid);
    tally_test_console_token(&c, "acme", "m-acme-2", "now() + interval '1 day'", removed, NULL);
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE tally.console_tokens SET revoked_at = now() WHERE token_id = '%s'", rid);
    tally_test_console_exec(&c, sql);
    tally_test_console_exec(&c, "UPDATE tally.members SET removed_at = now() WHERE member_id = 'm-acme-2'");
    tally_test_console_start(&c, NULL);
    char unknown[64];
    snprintf(unknown, sizeof unknown, "%s", ok);
    unknown[10] = unknown[10] == 'A' ? 'B' : 'A';
    const char *const refused[] = {expired, revoked, removed, unknown, "tct_short", "not-a-token", "",
                                   "tct_%00aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL};
    for (size_t i = 0; refused[i]; i++) {
        snprintf(path, sizeof path, "/signin?token=%s", refused[i]);
        tally_test_response_t r = tally_test_console_request(&c, "GET", path, NULL, NULL);
        cr_assert(r.status == 401 || r.status == 400, "token %zu: %ld", i, r.status);
        cr_assert_null(tally_test_header(&r, "Set-Cookie"), "token %zu got a cookie", i);
        tally_test_response_free(&r);
        cr_assert_eq(status_of("GET", "/api/v1/tenants/acme/overview", NULL, refused[i][0] ? refused[i] : "x"), 401,
                     "bearer %zu", i);
    }
    cr_assert_eq(status_of("GET", "/api/v1/tenants/acme/overview", NULL, ok), 200);
    tally_test_response_t m = tally_test_console_request(&c, "GET", "/metrics", NULL, NULL);
    cr_assert(strstr(m.body, "tally_console_sessions 0\n") != NULL, "a refused token made a session:\n%s", m.body);
    cr_assert(strstr(m.body, "tally_console_signins_total{result=\"ok\"} 0\n") != NULL, "%s", m.body);
    tally_test_response_free(&m);
}

Test(console_auth, revocation_and_removal_end_live_sessions_within_seconds)
{
    char t1[64], t2[64], id1[40], cookie1[96], cookie2[96], sql[256];
    tally_test_console_token(&c, "acme", "m-acme", "now() + interval '1 day'", t1, id1);
    tally_test_console_token(&c, "acme", "m-acme-2", "now() + interval '1 day'", t2, NULL);
    static const char *const args[] = {"--session-recheck=1s", NULL};
    tally_test_console_start(&c, args);
    tally_test_console_signin(&c, t1, cookie1);
    tally_test_console_signin(&c, t2, cookie2);
    cr_assert_eq(status_of("GET", "/t/acme/usage", cookie1, NULL), 200);
    cr_assert_eq(status_of("GET", "/t/acme/usage", cookie2, NULL), 200);
    snprintf(sql, sizeof sql, "UPDATE tally.console_tokens SET revoked_at = now() WHERE token_id = '%s'", id1);
    tally_test_console_exec(&c, sql);
    tally_test_console_exec(&c, "UPDATE tally.members SET removed_at = now() WHERE member_id = 'm-acme-2'");
    long long start = tally_test_mono_ms();
    int ended1 = 0, ended2 = 0;
    while ((!ended1 || !ended2) && tally_test_mono_ms() - start < 5000) {
        ended1 = ended1 || status_of("GET", "/api/v1/tenants/acme/overview", cookie1, NULL) == 401;
        ended2 = ended2 || status_of("GET", "/api/v1/tenants/acme/overview", cookie2, NULL) == 401;
        usleep(100 * 1000);
    }
    cr_assert(ended1, "the revoked token's session lived on for 5 s");
    cr_assert(ended2, "the removed member's session lived on for 5 s");
    /* Ended for good: the HTML face sends to the sign-in page. */
    expect_redirect("/t/acme/", cookie1, "/signin");
    cr_assert_eq(status_of("GET", "/api/v1/tenants/acme/overview", NULL, t1), 401, "and the bearer is refused");
}

Test(console_auth, signout_ends_the_session)
{
    char token[64], cookie[96];
    tally_test_console_member(&c, "acme", "m-acme", NULL, token, cookie);
    cr_assert_eq(status_of("GET", "/t/acme/", cookie, NULL), 200);
    cr_assert_eq(status_of("GET", "/signout", cookie, NULL), 405, "sign-out is a POST");
    tally_test_response_t r = tally_test_console_request(&c, "POST", "/signout", cookie, NULL);
    cr_assert_eq(r.status, 303);
    cr_assert_str_eq(tally_test_header(&r, "Location"), "/signin");
    const char *set = tally_test_header(&r, "Set-Cookie");
    cr_assert(set && strstr(set, "Max-Age=0") != NULL, "%s", set ? set : "(none)");
    tally_test_response_free(&r);
    expect_redirect("/t/acme/", cookie, "/signin");
    cr_assert_eq(status_of("GET", "/api/v1/tenants/acme/overview", cookie, NULL), 401);
    /* The token itself still signs in again (it is not the session). */
    tally_test_console_signin(&c, token, cookie);
    cr_assert_eq(status_of("GET", "/t/acme/", cookie, NULL), 200);
}

Test(console_auth, staff_token_and_the_root_redirect)
{
    char token[64], cookie[96], staff_cookie[96];
    tally_test_console_token(&c, "acme", "m-acme", "now() + interval '1 day'", token, NULL);
    tally_test_console_start(&c, NULL);
    expect_redirect("/", NULL, "/signin");
    tally_test_console_signin(&c, token, cookie);
    expect_redirect("/", cookie, "/t/acme/");
    char path[160];
    snprintf(path, sizeof path, "/signin?token=%s", TALLY_TEST_STAFF_TOKEN);
    tally_test_response_t r = tally_test_console_request(&c, "GET", path, NULL, NULL);
    cr_assert_eq(r.status, 303);
    cr_assert_str_eq(tally_test_header(&r, "Location"), "/vendor/tenants");
    const char *set = tally_test_header(&r, "Set-Cookie");
    snprintf(staff_cookie, sizeof staff_cookie, "%.*s", (int)strcspn(set, ";"), set);
    tally_test_response_free(&r);
    expect_redirect("/", staff_cookie, "/vendor/tenants");
    cr_assert_eq(status_of("GET", "/vendor/tenants", staff_cookie, NULL), 200);
    cr_assert_eq(status_of("GET", "/t/globex/", staff_cookie, NULL), 200, "staff see every tenant");
    cr_assert_eq(status_of("GET", "/api/v1/tenants/globex/overview", NULL, TALLY_TEST_STAFF_TOKEN), 200);
    cr_assert_eq(status_of("GET", "/api/v1/vendor/tenants", NULL, TALLY_TEST_STAFF_TOKEN), 200);
    /* Almost the staff token is nothing. */
    char almost[64];
    snprintf(almost, sizeof almost, "%s", TALLY_TEST_STAFF_TOKEN);
    almost[strlen(almost) - 1] ^= 1;
    cr_assert_eq(status_of("GET", "/api/v1/vendor/tenants", NULL, almost), 401);
    cr_assert_eq(status_of("GET", "/api/v1/vendor/tenants", NULL, token), 404, "a member: no vendor route");
    /* The sign-in page itself. */
    r = tally_test_console_request(&c, "GET", "/signin", NULL, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "<form method=\"post\" action=\"/signin\"") != NULL, "%s", r.body);
    tally_test_response_free(&r);
}

Test(console_auth, a_bad_staff_token_or_a_superuser_is_refused_at_start)
{
    char out[4096];
    snprintf(out, sizeof out, "'%s' --staff-token=short --port=0 >/dev/null 2>&1", tally_test_bin("tally-console"));
    int st = tally_test_system("tally-console", out);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "short staff token: %d", st);
    snprintf(out, sizeof out, "'%s' --pg-url='%s' --port=0 >/dev/null 2>&1", tally_test_bin("tally-console"),
             tally_test_pg_url(c.db));
    st = tally_test_system("tally-console", out);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "superuser URL: %d", st);
    snprintf(out, sizeof out, "'%s' --help | grep -q -- '--staff-token'", tally_test_bin("tally-console"));
    cr_assert_eq(tally_test_system("tally-console", out), 0, "--help names the options");
}
