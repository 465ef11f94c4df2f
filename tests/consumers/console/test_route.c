/* route: what a path names, byte for byte (no decoding), and every hostile
 * shape is simply unknown. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "route.h"

static tally_route_t r;

Test(route, tenant_pages_and_their_api)
{
    cr_assert_eq(tally_route_parse("/t/acme/", &r), TALLY_ROUTE_PAGE);
    cr_assert_str_eq(r.page, "overview");
    cr_assert_str_eq(r.tenant, "acme");
    cr_assert_eq(r.api, 0);
    cr_assert_eq(tally_route_parse("/t/acme-2.x_y/usage", &r), TALLY_ROUTE_PAGE);
    cr_assert_str_eq(r.page, "usage");
    cr_assert_str_eq(r.tenant, "acme-2.x_y");
    cr_assert_eq(tally_route_parse("/t/acme/seats", &r), TALLY_ROUTE_PAGE);
    cr_assert_eq(tally_route_parse("/t/acme/team", &r), TALLY_ROUTE_PAGE);
    cr_assert_eq(tally_route_parse("/api/v1/tenants/acme/overview", &r), TALLY_ROUTE_PAGE);
    cr_assert_str_eq(r.page, "overview");
    cr_assert_eq(r.api, 1);
    cr_assert_eq(r.vendor, 0);
    cr_assert_eq(tally_route_parse("/api/v1/tenants/acme/team", &r), TALLY_ROUTE_PAGE);
    cr_assert_str_eq(tally_route_label(&r), "api:team");
}

Test(route, vendor_pages_downloads_and_the_rest)
{
    cr_assert_eq(tally_route_parse("/vendor/tenants", &r), TALLY_ROUTE_PAGE);
    cr_assert(r.vendor && !r.api && r.tenant[0] == '\0');
    cr_assert_eq(tally_route_parse("/api/v1/vendor/product", &r), TALLY_ROUTE_PAGE);
    cr_assert(r.vendor && r.api);
    cr_assert_str_eq(r.page, "product");
    cr_assert_eq(tally_route_parse("/t/acme/usage.csv", &r), TALLY_ROUTE_DOWNLOAD);
    cr_assert_str_eq(r.tenant, "acme");
    cr_assert_eq(r.api, 0);
    cr_assert_eq(tally_route_parse("/api/v1/tenants/acme/usage/export", &r), TALLY_ROUTE_DOWNLOAD);
    cr_assert_eq(r.api, 1);
    cr_assert_eq(tally_route_parse("/", &r), TALLY_ROUTE_ROOT);
    cr_assert_eq(tally_route_parse("/signin", &r), TALLY_ROUTE_SIGNIN);
    cr_assert_eq(tally_route_parse("/signout", &r), TALLY_ROUTE_SIGNOUT);
    cr_assert_eq(tally_route_parse("/healthz", &r), TALLY_ROUTE_HEALTHZ);
    cr_assert_eq(tally_route_parse("/readyz", &r), TALLY_ROUTE_READYZ);
    cr_assert_eq(tally_route_parse("/metrics", &r), TALLY_ROUTE_METRICS);
    cr_assert_eq(tally_route_parse("/api/v1/licenses/keys", &r), TALLY_ROUTE_LICENSE_KEYS);
    cr_assert(r.api && !r.vendor && r.tenant[0] == '\0');
    cr_assert_eq(tally_route_parse("/api/v1/licenses/keys/", &r), TALLY_ROUTE_UNKNOWN);
    cr_assert_eq(tally_route_parse("/api/v1/licenses/key", &r), TALLY_ROUTE_UNKNOWN);
    cr_assert_eq(r.api, 1);
}

Test(route, hostile_and_unknown_paths_are_unknown)
{
    static const char *const bad[] = {
        "", "x", "//", "/t//usage", "/t/acme//usage", "/t/../usage", "/t/./usage", "/t/acme/../globex/",
        "/t/%2e%2e/", "/t/acme%00/", "/t/acme%2Fglobex/", "/t/acme/usage%3F", "/t/ac me/", "/t/acme/usage/",
        "/t/acme", "/t/acme/overview", "/t/.hidden/", "/t/-x/", "/vendor/tenants/", "/vendor/", "/vendor",
        "/api/v1/tenants/acme/nope", "/api/v1/tenants/acme/usage/export/", "/api/v2/vendor/tenants",
        "/api/v1/vendor", "/signin/", "/healthz/", "/t/acme/usage.json", "/T/acme/", "/t/acme/usage?x",
        "/t/\xc3\xa9/", "/t/acme\\x/", "http://evil/t/acme/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(tally_route_parse(bad[i], &r), TALLY_ROUTE_UNKNOWN, "%s routed", bad[i]);
    /* An unknown path under /api/v1 is still answered as the API (JSON). */
    cr_assert_eq(tally_route_parse("/api/v1/tenants/acme/nope", &r), TALLY_ROUTE_UNKNOWN);
    cr_assert_eq(r.api, 1);
    cr_assert_eq(tally_route_parse("/api/v1/tenants/%2e%2e/overview", &r), TALLY_ROUTE_UNKNOWN);
    cr_assert_eq(r.api, 1);
}

Test(route, overlong_paths_and_tenants)
{
    char path[TALLY_ROUTE_PATH_MAX + 64], tenant[TALLY_ROUTE_TENANT_MAX + 2];
    memset(tenant, 'a', sizeof tenant - 1);
    tenant[sizeof tenant - 1] = '\0';
    snprintf(path, sizeof path, "/t/%s/", tenant);
    cr_assert_eq(tally_route_parse(path, &r), TALLY_ROUTE_UNKNOWN, "a tenant id of %zu bytes", strlen(tenant));
    tenant[TALLY_ROUTE_TENANT_MAX] = '\0';
    snprintf(path, sizeof path, "/t/%s/", tenant);
    cr_assert_eq(tally_route_parse(path, &r), TALLY_ROUTE_PAGE);
    cr_assert_eq(strlen(r.tenant), TALLY_ROUTE_TENANT_MAX);
    memset(path, 'a', sizeof path);
    path[0] = '/';
    path[TALLY_ROUTE_PATH_MAX + 1] = '\0';
    cr_assert_eq(tally_route_parse(path, &r), TALLY_ROUTE_UNKNOWN);
}

Test(route, labels_are_bounded)
{
    tally_route_parse("/t/acme/usage.csv", &r);
    cr_assert_str_eq(tally_route_label(&r), "html:usage.csv");
    tally_route_parse("/nope", &r);
    cr_assert_str_eq(tally_route_label(&r), "other");
    tally_route_parse("/vendor/tenants", &r);
    cr_assert_str_eq(tally_route_label(&r), "html:tenants");
    tally_route_parse("/api/v1/licenses/keys", &r);
    cr_assert_str_eq(tally_route_label(&r), "api:license-keys");
}

Test(route, license_routes_and_pages)
{
    cr_assert_eq(tally_route_parse("/api/v1/licenses", &r), TALLY_ROUTE_LICENSES);
    cr_assert(r.api && !r.vendor && r.tenant[0] == '\0' && r.license_id[0] == '\0');
    cr_assert_str_eq(tally_route_label(&r), "api:licenses");
    cr_assert_eq(tally_route_parse("/api/v1/licenses/revoked", &r), TALLY_ROUTE_LICENSES_REVOKED);
    cr_assert_str_eq(tally_route_label(&r), "api:licenses-revoked");
    cr_assert_eq(tally_route_parse("/api/v1/licenses/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0/file", &r),
                 TALLY_ROUTE_LICENSE_FILE);
    cr_assert_str_eq(r.license_id, "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0");
    cr_assert_eq(r.api, 1);
    cr_assert_str_eq(tally_route_label(&r), "api:license-file");
    cr_assert_eq(tally_route_parse("/t/acme/licenses", &r), TALLY_ROUTE_PAGE);
    cr_assert_str_eq(r.page, "licenses");
    cr_assert_str_eq(r.tenant, "acme");
    cr_assert(!r.api && !r.vendor);
    cr_assert_str_eq(tally_route_label(&r), "html:licenses");
    cr_assert_eq(tally_route_parse("/vendor/licenses", &r), TALLY_ROUTE_PAGE);
    cr_assert_str_eq(r.page, "vendor-licenses");
    cr_assert(r.vendor && !r.api && r.tenant[0] == '\0');
    cr_assert_str_eq(tally_route_label(&r), "html:vendor-licenses");

    /* A license id is a lower-case UUID, and the pages have no API face. */
    static const char *const bad[] = {
        "/api/v1/licenses/", "/api/v1/licenses/revoked/", "/api/v1/licenses/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0",
        "/api/v1/licenses/0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F0/file",
        "/api/v1/licenses/0f1e2d3c4b5a49788695a4b3c2d1e0f0/file",
        "/api/v1/licenses/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f/file",
        "/api/v1/licenses/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f00/file",
        "/api/v1/licenses/0f1e2d3c-4b5a-4978-8695_a4b3c2d1e0f0/file", "/api/v1/licenses/../file",
        "/api/v1/licenses/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0/file/", "/api/v1/licenses/x/file",
        "/api/v1/licenses/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0g0/file", "/api/v1/tenants/acme/licenses",
        "/api/v1/vendor/licenses", "/vendor/vendor-licenses", "/t/acme/vendor-licenses", "/t/acme/licenses/",
        "/vendor/licenses/", "/t/acme/licenses/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(tally_route_parse(bad[i], &r), TALLY_ROUTE_UNKNOWN, "%s routed", bad[i]);
        cr_assert_eq(r.license_id[0], '\0');
    }
    cr_assert(tally_route_license_id_ok("00000000-0000-0000-0000-000000000000", 36));
    cr_assert(!tally_route_license_id_ok("00000000-0000-0000-0000-000000000000", 35));
}

/* The license POST routes: the collection (API and a tenant's form) and a
 * license's revoke (API and the vendor's form), its id a lower-case UUID. */
Test(route, license_write_routes)
{
    static const char id[] = "5c01a4f5-c4d4-8bd7-aad9-490785c73afa";
    char path[128];
    cr_assert_eq(tally_route_parse("/api/v1/licenses", &r), TALLY_ROUTE_LICENSES);
    cr_assert(r.api && !r.vendor && r.tenant[0] == '\0');
    cr_assert_str_eq(tally_route_label(&r), "api:licenses");
    /* The tenant's form posts to its licenses page (the server sends a POST there to the issuer). */
    cr_assert_eq(tally_route_parse("/t/acme/licenses", &r), TALLY_ROUTE_PAGE);
    cr_assert(!r.api && !r.vendor);
    cr_assert_str_eq(r.page, "licenses");
    cr_assert_str_eq(r.tenant, "acme");
    cr_assert_str_eq(tally_route_label(&r), "html:licenses");
    snprintf(path, sizeof path, "/api/v1/licenses/%s/revoke", id);
    cr_assert_eq(tally_route_parse(path, &r), TALLY_ROUTE_LICENSE_REVOKE);
    cr_assert(r.api && !r.vendor);
    cr_assert_str_eq(r.license_id, id);
    cr_assert_str_eq(tally_route_label(&r), "api:license-revoke");
    snprintf(path, sizeof path, "/vendor/licenses/%s/revoke", id);
    cr_assert_eq(tally_route_parse(path, &r), TALLY_ROUTE_LICENSE_REVOKE);
    cr_assert(!r.api && r.vendor);
    cr_assert_str_eq(r.license_id, id);
    cr_assert_str_eq(tally_route_label(&r), "html:license-revoke");
    static const char *const bad[] = {
        "/api/v1/licenses/", "/t/acme/licenses/", "/t/../licenses", "/api/v1/licenses/x/revoke",
        "/api/v1/licenses/5C01A4F5-C4D4-8BD7-AAD9-490785C73AFA/revoke",
        "/api/v1/licenses/5c01a4f5-c4d4-8bd7-aad9-490785c73afa0/revoke",
        "/api/v1/licenses/5c01a4f5c4d48bd7aad9490785c73afa----/revoke",
        "/api/v1/licenses/5c01a4f5-c4d4-8bd7-aad9-490785c73afa/revoke/",
        "/api/v1/licenses/5c01a4f5-c4d4-8bd7-aad9-490785c73afa/revok",
        "/vendor/licenses/5c01a4f5-c4d4-8bd7-aad9-490785c73afg/revoke", "/vendor/licenses//revoke",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(tally_route_parse(bad[i], &r), TALLY_ROUTE_UNKNOWN, "%s routed", bad[i]);
}

Test(route, alerts_route)
{
    cr_assert_eq(tally_route_parse("/api/v1/alerts", &r), TALLY_ROUTE_ALERTS);
    cr_assert(r.api && !r.vendor && r.tenant[0] == '\0' && r.page == NULL);
    cr_assert_str_eq(tally_route_label(&r), "api:alerts");
    /* Only that path: no trailing slash, no sub-path, no HTML face. */
    cr_assert_eq(tally_route_parse("/api/v1/alerts/", &r), TALLY_ROUTE_UNKNOWN);
    cr_assert_eq(r.api, 1, "still answered as the API");
    cr_assert_eq(tally_route_parse("/api/v1/alerts/x", &r), TALLY_ROUTE_UNKNOWN);
    cr_assert_eq(tally_route_parse("/t/acme/alerts", &r), TALLY_ROUTE_UNKNOWN);
    cr_assert_eq(tally_route_parse("/api/v1/Alerts", &r), TALLY_ROUTE_UNKNOWN);
}
