/* Hostile input to tally-console: paths, query strings, cookies, headers,
 * methods and bodies each get a clear 4xx (never a 5xx, never a crash),
 * and change nothing (no session, no sign-in). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console_fixture.h"
#include "services.h"

static tally_test_console_t c;
static char token[64], cookie[96];

static void setup(void)
{
    tally_test_console_db(&c);
    tally_test_console_member(&c, "acme", "m-acme", NULL, token, cookie);
}

static void teardown(void)
{
    tally_test_console_teardown(&c);
}

TestSuite(console_hostile, .init = setup, .fini = teardown, .timeout = 180);

static long send_with(const char *method, const char *path, const char *const extra[], const char *body, size_t len)
{
    char url[65536], cookie_h[128];
    snprintf(url, sizeof url, "%s%s", c.base_url, path);
    snprintf(cookie_h, sizeof cookie_h, "Cookie: %s", cookie);
    const char *headers[16];
    size_t n = 0;
    int has_cookie = 0;
    for (size_t i = 0; extra && extra[i] && n < 14; i++) {
        has_cookie |= strncmp(extra[i], "Cookie:", 7) == 0;
        headers[n++] = extra[i];
    }
    if (!has_cookie)
        headers[n++] = cookie_h;
    headers[n] = NULL;
    tally_test_response_t r = tally_test_http(method, url, headers, body, len, 1);
    long st = r.status;
    if (st >= 500)
        fprintf(stderr, "%s %.80s: %ld %s\n", method, path, st, r.body);
    tally_test_response_free(&r);
    return st;
}

static void expect(long want, const char *method, const char *path, const char *const extra[])
{
    long st = send_with(method, path, extra, NULL, 0);
    cr_assert_eq(st, want, "%s %.120s: %ld, not %ld", method, path, st, want);
}

static void still_serving(void)
{
    cr_assert(tally_test_pid_alive(tally_test_pid(c.proc)), "the console died:\n%s", tally_test_log(c.proc));
    expect(200, "GET", "/t/acme/", NULL);
    tally_test_response_t m = tally_test_console_request(&c, "GET", "/metrics", NULL, NULL);
    cr_assert(strstr(m.body, "status=\"500\"} 1") == NULL && strstr(m.body, "status=\"500\"} 2") == NULL,
              "a 500 was answered:\n%s", m.body);
    cr_assert(strstr(m.body, "tally_console_sessions 1\n") != NULL, "sessions changed:\n%s", m.body);
    tally_test_response_free(&m);
}

static char *repeat(const char *prefix, char ch, size_t n, const char *suffix)
{
    size_t pl = strlen(prefix), sl = strlen(suffix);
    char *s = malloc(pl + n + sl + 1);
    memcpy(s, prefix, pl);
    memset(s + pl, ch, n);
    memcpy(s + pl + n, suffix, sl + 1);
    return s;
}

/* A GET of prefix and 40 kB of fill is refused as too long: 414 or 431. */
static void expect_url_too_long(const char *prefix, char fill, const char *what)
{
    char *u = repeat(prefix, fill, 40000, "");
    long st = send_with("GET", u, NULL, NULL, 0);
    cr_assert(st == 414 || st == 431, "a 40 kB %s: %ld", what, st);
    free(u);
}

Test(console_hostile, paths)
{
    static const char *const not_found[] = {
        "/t/acme/../globex/", "/t/%2e%2e/globex/", "/t/acme%00/", "/t/acme/%2575sage", "/t/acme/usage%00.csv",
        "/t/acme/usage;x=1", "/./t/acme/", "/t/acme/./usage", "//t/acme/", "/t/acme%2fusage", "/t/ACME/",
        "/api/v1/tenants/acme/../../vendor/tenants", "/api/v1/tenants/acme%2F..%2Fglobex/overview",
        "/t/acme/usage/", "/t/acme", "/vendor/../t/globex/", "/%74/acme/", "/t/acme/%",
        "/t/acme/%zz", "/t/ac%20me/", "/admin", "/.env", "/t/acme/usage.csv/..", NULL};
    for (size_t i = 0; not_found[i]; i++)
        expect(404, "GET", not_found[i], NULL);
    char *p = repeat("/t/", 'a', 300, "/");
    expect(404, "GET", p, NULL);
    free(p);
    expect_url_too_long("/t/acme/", 'a', "path");
    still_serving();
}

Test(console_hostile, query_strings)
{
    expect(400, "GET", "/t/acme/usage?period=2026-11&period=2026-10", NULL);
    expect(400, "GET", "/api/v1/tenants/acme/usage?period=", NULL);
    expect(400, "GET", "/api/v1/tenants/acme/usage?period=2019-01", NULL);
    expect(400, "GET", "/api/v1/tenants/acme/usage?period=9999-99", NULL);
    expect(400, "GET", "/api/v1/tenants/acme/usage?period=%00", NULL);
    expect(400, "GET", "/api/v1/tenants/acme/usage?period=2026-1%31", NULL);
    expect(400, "GET", "/api/v1/tenants/acme/usage?period=2026-11%00", NULL);
    expect(400, "GET", "/api/v1/tenants/acme/usage?period='%20OR%201=1--", NULL);
    expect(400, "GET", "/t/acme/seats?period=2026-13", NULL);
    expect(400, "GET", "/api/v1/tenants/acme/usage/export?format=xml", NULL);
    expect(400, "GET", "/api/v1/tenants/acme/usage/export?period=2026-11&period=2026-11", NULL);
    const char *const staff[] = {"Authorization: Bearer " TALLY_TEST_STAFF_TOKEN, NULL};
    expect(400, "GET", "/api/v1/vendor/tenants?status=bogus", staff);
    expect(400, "GET", "/vendor/product?period=1999-12", staff);
    expect(200, "GET", "/api/v1/vendor/tenants?status=over", staff);
    /* Parameters a page does not take are ignored, up to 64 of them; more
     * (which libmicrohttpd could not hold) are refused. */
    char *q = malloc(8000);
    strcpy(q, "/t/acme/?");
    for (int i = 0; i < 60; i++)
        sprintf(q + strlen(q), "a%d=%d&", i, i);
    expect(200, "GET", q, NULL);
    for (int i = 60; i < 500; i++)
        sprintf(q + strlen(q), "a%d=%d&", i, i);
    expect(414, "GET", q, NULL);
    free(q);
    expect_url_too_long("/t/acme/usage?period=", '9', "query");
    still_serving();
}

Test(console_hostile, cookies)
{
    static const char *const nobody[] = {
        "Cookie: tally_session=garbage", "Cookie: tally_session=", "Cookie: tally_session",
        "Cookie: tally_session=\"0123\"; ;;=;", "Cookie: ;;;;", "Cookie: =", "Cookie: tally_session=%00",
        "Cookie: tally_session=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",
        NULL};
    for (size_t i = 0; nobody[i]; i++) {
        const char *const h[] = {nobody[i], NULL};
        long st = send_with("GET", "/t/acme/", h, NULL, 0);
        cr_assert(st == 303 || st == 400, "%s: %ld", nobody[i], st);
        st = send_with("GET", "/api/v1/tenants/acme/overview", h, NULL, 0);
        cr_assert(st == 401 || st == 400, "%s: %ld", nobody[i], st);
    }
    /* Many cookies around the real one. */
    char *many = malloc(16384);
    strcpy(many, "Cookie: ");
    for (int i = 0; i < 200; i++)
        sprintf(many + strlen(many), "c%d=%d; ", i, i);
    strcat(many, cookie);
    const char *const h_many[] = {many, NULL};
    expect(200, "GET", "/t/acme/", h_many);
    free(many);
    char *huge = repeat("Cookie: tally_session=", 'a', 40000, "");
    const char *const h_huge[] = {huge, NULL};
    expect(431, "GET", "/t/acme/", h_huge);
    free(huge);
    still_serving();
}

Test(console_hostile, headers_methods_and_bodies)
{
    char *big = repeat("X-Big: ", 'b', 40000, "");
    const char *const h_big[] = {big, NULL};
    expect(431, "GET", "/t/acme/", h_big);
    free(big);
    /* Many headers, each small: the same memory limit. */
    static char lines[12][4200];
    const char *h_many[13];
    for (int i = 0; i < 12; i++) {
        snprintf(lines[i], sizeof lines[i], "X-H%d: ", i);
        memset(lines[i] + strlen(lines[i]), 'h', 4000);
        lines[i][4100] = '\0';
        h_many[i] = lines[i];
    }
    h_many[12] = NULL;
    expect(431, "GET", "/t/acme/", h_many);

    static const char *const methods[] = {"PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO", NULL};
    for (size_t i = 0; methods[i]; i++) {
        expect(405, methods[i], "/t/acme/", NULL);
        expect(405, methods[i], "/api/v1/tenants/acme/usage", NULL);
        expect(405, methods[i], "/signout", NULL);
        expect(404, methods[i], "/no/such/route", NULL);
    }
    expect(405, "PUT", "/signin", NULL);
    expect(405, "GET", "/signout", NULL);
    expect(405, "POST", "/t/acme/", NULL);
    tally_test_response_t r = tally_test_console_request(&c, "PUT", "/t/acme/usage", cookie, NULL);
    cr_assert_str_eq(tally_test_header(&r, "Allow"), "GET, HEAD");
    tally_test_response_free(&r);
    r = tally_test_console_request(&c, "HEAD", "/t/acme/", cookie, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.len, 0);
    tally_test_response_free(&r);

    const char *const form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    char *body = repeat("token=", 'a', 100000, "");
    long st = send_with("POST", "/signin", form, body, strlen(body));
    cr_assert_eq(st, 413, "a 100 kB form: %ld", st);
    const char *const chunked[] = {"Content-Type: application/x-www-form-urlencoded", "Transfer-Encoding: chunked",
                                   NULL};
    st = send_with("POST", "/signin", chunked, body, strlen(body));
    cr_assert_eq(st, 413, "a 100 kB chunked form: %ld", st);
    free(body);
    const char *const twice[] = {"Content-Type: application/x-www-form-urlencoded", "Content-Length: 5",
                                 "Content-Length: 6", NULL};
    st = send_with("POST", "/signin", twice, "token", 5);
    cr_assert(st == 400, "two Content-Lengths: %ld", st);
    /* A GET with a body is answered as a GET. */
    expect(200, "GET", "/t/acme/", NULL);
    st = send_with("GET", "/t/acme/", NULL, "ignored", 7);
    cr_assert_eq(st, 200, "GET with a body: %ld", st);
    still_serving();
}
