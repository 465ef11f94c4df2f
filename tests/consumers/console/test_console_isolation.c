/* Tenant isolation, route by route: for every page of tally_page_all()
 * (its HTML route and its API route) and every download, a member of acme
 * asking for globex's, or for a vendor page, gets exactly the 404 of an
 * unknown route; nobody signed in gets 401 (API) or a redirect to /signin
 * (HTML); staff get through. A new page is in the table by construction;
 * a new route of another kind must be added to extra_routes below. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "console_fixture.h"
#include "pages.h"
#include "route.h"

static tally_test_console_t c;

static void setup(void)
{
    tally_test_console_db(&c);
}

static void teardown(void)
{
    tally_test_console_teardown(&c);
}

TestSuite(console_isolation, .init = setup, .fini = teardown, .timeout = 120);

typedef struct {
    char path[128];
    int api, vendor, download;
} route_case_t;

/* Routes that are no page of tally_page_all(): {tenant} is replaced. */
static const struct {
    const char *pattern;
    int api, download;
} extra_routes[] = {
    {"/t/{tenant}/usage.csv", 0, 1},
    {"/api/v1/tenants/{tenant}/usage/export?format=csv", 1, 1},
    {"/api/v1/tenants/{tenant}/usage/export?format=json", 1, 1},
    {"/api/v1/alerts?tenant={tenant}", 1, 0},
};

static void fill(route_case_t *rc, const char *pattern, const char *tenant)
{
    const char *at = strstr(pattern, "{tenant}");
    if (at)
        snprintf(rc->path, sizeof rc->path, "%.*s%s%s", (int)(at - pattern), pattern, tenant, at + 8);
    else
        snprintf(rc->path, sizeof rc->path, "%s", pattern);
}

/* Every route of the console that shows data, for tenant. */
static size_t all_routes(const char *tenant, route_case_t *out, size_t max)
{
    size_t n_pages = 0, n = 0;
    const tally_page_t *pages = tally_page_all(&n_pages);
    cr_assert_geq(n_pages, 6, "pages.h lists six pages");
    for (size_t i = 0; i < n_pages && n + 2 <= max; i++) {
        const tally_page_t *p = &pages[i];
        char html[128], api[128];
        if (p->staff_only) {
            /* vendor-licenses is routed at /vendor/licenses */
            snprintf(html, sizeof html, "/vendor/%s", strncmp(p->name, "vendor-", 7) == 0 ? p->name + 7 : p->name);
            snprintf(api, sizeof api, "/api/v1/vendor/%s", p->name);
        } else {
            snprintf(html, sizeof html, strcmp(p->name, "overview") == 0 ? "/t/{tenant}/" : "/t/{tenant}/%s", p->name);
            snprintf(api, sizeof api, "/api/v1/tenants/{tenant}/%s", p->name);
        }
        for (int face = 0; face < (p->html_only ? 1 : 2); face++) {   /* html_only: no API face */
            route_case_t *rc = &out[n++];
            memset(rc, 0, sizeof *rc);
            fill(rc, face ? api : html, tenant);
            rc->api = face;
            rc->vendor = p->staff_only;
            /* The router knows it, as this page. */
            tally_route_t r;
            cr_assert_eq(tally_route_parse(rc->path, &r), TALLY_ROUTE_PAGE, "%s is not routed", rc->path);
            cr_assert_str_eq(r.page, p->name, "%s", rc->path);
        }
    }
    for (size_t i = 0; i < sizeof extra_routes / sizeof extra_routes[0] && n < max; i++) {
        route_case_t *rc = &out[n++];
        memset(rc, 0, sizeof *rc);
        fill(rc, extra_routes[i].pattern, tenant);
        rc->api = extra_routes[i].api;
        rc->download = extra_routes[i].download;
    }
    return n;
}

static tally_test_response_t get(const char *path, const char *cookie, const char *bearer)
{
    return tally_test_console_request(&c, "GET", path, cookie, bearer);
}

Test(console_isolation, every_route_is_404_to_another_tenant_and_401_to_nobody)
{
    char token[64], cookie[96];
    tally_test_console_member(&c, "acme", "m-acme", NULL, token, cookie);
    tally_test_response_t html404 = get("/no/such/route", cookie, NULL);
    tally_test_response_t api404 = get("/api/v1/no/such/route", cookie, NULL);
    cr_assert_eq(html404.status, 404);
    cr_assert_eq(api404.status, 404);

    route_case_t routes[64];
    size_t n = all_routes("globex", routes, 64);
    cr_assert_geq(n, 15);
    for (size_t i = 0; i < n; i++) {
        const route_case_t *rc = &routes[i];
        const tally_test_response_t *want = rc->api ? &api404 : &html404;
        /* A member of acme, by cookie and by bearer token, for globex. */
        for (int how = 0; how < 2; how++) {
            tally_test_response_t r = get(rc->path, how ? NULL : cookie, how ? token : NULL);
            cr_assert_eq(r.status, 404, "%s (%s): %ld", rc->path, how ? "bearer" : "cookie", r.status);
            cr_assert_eq(r.len, want->len, "%s: a 404 unlike an unknown route's:\n%s\n%s", rc->path, r.body, want->body);
            cr_assert_eq(memcmp(r.body, want->body, r.len), 0, "%s: %s", rc->path, r.body);
            cr_assert_str_eq(tally_test_header(&r, "Content-Type"), rc->api ? "application/json"
                                                                             : "text/html; charset=utf-8");
            tally_test_response_free(&r);
        }
        /* Nobody signed in. */
        tally_test_response_t r = get(rc->path, NULL, NULL);
        if (rc->api) {
            cr_assert_eq(r.status, 401, "%s unauthenticated: %ld", rc->path, r.status);
            cr_assert_not_null(tally_test_header(&r, "WWW-Authenticate"), "%s", rc->path);
        } else {
            cr_assert_eq(r.status, 303, "%s unauthenticated: %ld", rc->path, r.status);
            cr_assert_str_eq(tally_test_header(&r, "Location"), "/signin");
        }
        tally_test_response_free(&r);
        /* A garbage cookie is nobody. */
        r = get(rc->path, "tally_session=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", NULL);
        cr_assert_eq(r.status, rc->api ? 401 : 303, "%s garbage cookie: %ld", rc->path, r.status);
        tally_test_response_free(&r);
    }
    tally_test_response_free(&html404);
    tally_test_response_free(&api404);
}

Test(console_isolation, own_tenant_pages_answer_and_staff_sees_all)
{
    char token[64], cookie[96];
    tally_test_console_member(&c, "acme", "m-acme", NULL, token, cookie);
    route_case_t routes[64];
    size_t n = all_routes("acme", routes, 64);
    for (size_t i = 0; i < n; i++) {
        const route_case_t *rc = &routes[i];
        if (rc->download)
            continue;   /* the export reads Kafka: test_console_download */
        tally_test_response_t r = get(rc->path, cookie, NULL);
        cr_assert_eq(r.status, rc->vendor ? 404 : 200, "%s as acme: %ld %s", rc->path, r.status, r.body);
        tally_test_response_free(&r);
        r = get(rc->path, NULL, TALLY_TEST_STAFF_TOKEN);
        cr_assert_eq(r.status, 200, "%s as staff: %ld %s", rc->path, r.status, r.body);
        tally_test_response_free(&r);
    }
    n = all_routes("globex", routes, 64);
    for (size_t i = 0; i < n; i++)
        if (!routes[i].download) {
            tally_test_response_t r = get(routes[i].path, NULL, TALLY_TEST_STAFF_TOKEN);
            cr_assert_eq(r.status, 200, "%s as staff: %ld", routes[i].path, r.status);
            tally_test_response_free(&r);
        }
}

Test(console_isolation, an_unknown_tenant_is_the_same_404)
{
    char token[64], cookie[96];
    tally_test_console_member(&c, "acme", "m-acme", NULL, token, cookie);
    tally_test_response_t unknown = get("/api/v1/no/such/route", cookie, NULL);
    tally_test_response_t other = get("/api/v1/tenants/globex/overview", cookie, NULL);
    tally_test_response_t none = get("/api/v1/tenants/no-such-tenant/overview", cookie, NULL);
    cr_assert_eq(other.status, 404);
    cr_assert_eq(none.status, 404);
    cr_assert_str_eq(other.body, unknown.body);
    cr_assert_str_eq(none.body, unknown.body, "an existing and a missing tenant look alike");
    tally_test_response_free(&unknown);
    tally_test_response_free(&other);
    tally_test_response_free(&none);
}
