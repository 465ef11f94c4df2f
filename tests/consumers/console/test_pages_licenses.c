/* The licenses pages on a real, migrated database, loaded as tally_reader,
 * with licenses written by the materializer's projection (license_seed.h):
 *   - licenses (a member): their own licenses only, with status; a "Get a
 *     license" form posting a fresh random idempotency_key to
 *     /t/{tenant}/licenses; a download for each license not revoked;
 *     ?issued= names a license of theirs (else nothing; malformed: 400);
 *     without license signing, no form and no download;
 *   - the same page for staff: every license of the tenant, revoke forms;
 *   - vendor-licenses (staff only): every license, ?tenant= filter, counts,
 *     a revoke form (field "reason") for each license not revoked;
 *   - every text from the database escaped. */
#include "page_fixture.h"

#include "license_seed.h"

TestSuite(pages_licenses, .init = pf_setup, .fini = pf_teardown, .timeout = 60);

#define NOW_S (PF_NOW / 1000)
#define DAY 86400
#define KEYS "2026-12 9f3a5c7e11223344556677889900aabbccddeeff00112233445566778899aabb\n"

enum { ADA, ADA_REVOKED, GRACE, HANK, ENV, N };
static char ids[N][TALLY_LICENSE_UUID_SIZE];

static void seed(void)
{
    pf_tenant("acme", "Acme <Corp>");
    pf_tenant("globex", "Globex");
    pf_member("acme", "m1", "Ada", "Lovelace", "ada@acme.example", "owner");
    pf_member("acme", "m2", "Grace", "Hopper", "grace@acme.example", "developer");
    pf_member("globex", "g1", "Hank", "Scorpio", "hank@globex.example", "owner");
    pf_env("acme", "prod", "Production", "production");
    char err[256];
    tally_license_keyring_t *ring = tally_license_keyring_parse(KEYS, strlen(KEYS), "test", err, sizeof err);
    cr_assert_not_null(ring, "%s", err);
    license_seed_t *s = license_seed_new(pf_db);
    const license_seed_spec_t spec[N] = {
        [ADA] = {"acme", "Acme <Corp>", "m1", NULL, "a", NOW_S - DAY, NOW_S + 29 * DAY},
        [ADA_REVOKED] = {"acme", "Acme <Corp>", "m1", NULL, "b", NOW_S - 2 * DAY, NOW_S + 28 * DAY},
        [GRACE] = {"acme", "Acme <Corp>", "m2", NULL, "c", NOW_S - 3 * DAY, NOW_S + 27 * DAY},
        [HANK] = {"globex", "Globex", "g1", NULL, "d", NOW_S - 40 * DAY, NOW_S - 10 * DAY},
        [ENV] = {"acme", "Acme <Corp>", NULL, "prod", "e", NOW_S - 5 * DAY, NOW_S + 360 * DAY},
    };
    for (int i = 0; i < N; i++) {
        tally_textbuf_t file = {0};
        license_seed_issue(s, ring, &spec[i], ids[i], &file);
        tally_textbuf_free(&file);
    }
    license_seed_revoke(s, "acme", ids[ADA_REVOKED], "<b>leaked</b>", (NOW_S - DAY) * 1000);
    license_seed_free(s);
    tally_license_keyring_free(ring);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

Test(pages_licenses, a_member_sees_their_own_with_a_form_and_downloads)
{
    seed();
    tally_page_query_t q = pf_query("acme", "m1");
    q.license_signing = 1;
    json_t *m = pf_load("licenses", &q);
    cr_assert_eq(json_array_size(pf_at(m, "licenses")), 2);
    cr_assert_str_eq(pf_str(m, "licenses.0.license_id"), ids[ADA]);
    cr_assert_str_eq(pf_str(m, "licenses.0.status"), "valid");
    cr_assert_str_eq(pf_str(m, "licenses.1.license_id"), ids[ADA_REVOKED]);
    cr_assert_str_eq(pf_str(m, "licenses.1.status"), "revoked");
    cr_assert_str_eq(pf_str(m, "tenant.name"), "Acme <Corp>");
    cr_assert_str_eq(pf_str(m, "form.action"), "/t/acme/licenses");
    const char *key = pf_str(m, "form.idempotency_key");
    cr_assert_eq(strlen(key), 32);
    cr_assert_eq(strspn(key, "0123456789abcdef"), 32, "%s", key);
    char *dump = pf_dump(m);
    for (int i = GRACE; i < N; i++)
        cr_assert(strstr(dump, ids[i]) == NULL, "license %d of someone else: %s", i, dump);
    cr_assert(strstr(dump, "leaked") == NULL, "a member sees no revoke reason: %s", dump);
    free(dump);

    char *html = pf_render("licenses", m, &q);
    cr_assert(strstr(html, "<form class=\"inline\" method=\"post\" action=\"/t/acme/licenses\">"), "%s", html);
    char hidden[128];
    snprintf(hidden, sizeof hidden, "<input type=\"hidden\" name=\"idempotency_key\" value=\"%s\">", key);
    cr_assert(strstr(html, hidden), "%s", html);
    cr_assert(strstr(html, "<button type=\"submit\">Get a license</button>"), "%s", html);
    char link[128];
    snprintf(link, sizeof link, "href=\"/api/v1/licenses/%s/file\"", ids[ADA]);
    cr_assert(strstr(html, link), "a download of the valid license: %s", html);
    snprintf(link, sizeof link, "href=\"/api/v1/licenses/%s/file\"", ids[ADA_REVOKED]);
    cr_assert(strstr(html, link) == NULL, "no download of a revoked license: %s", html);
    cr_assert(strstr(html, "<span class=\"badge badge-ok\">Valid</span>"), "%s", html);
    cr_assert(strstr(html, "<span class=\"badge badge-over\">Revoked</span>"), "%s", html);
    cr_assert(strstr(html, "Acme &lt;Corp&gt;") && !strstr(html, "<Corp>"), "escaped: %s", html);
    cr_assert(strstr(html, "/revoke") == NULL, "no revoke form for a member: %s", html);
    free(html);

    /* Every page shown gets a key of its own. */
    json_t *again = pf_load("licenses", &q);
    cr_assert_str_neq(pf_str(again, "form.idempotency_key"), key);
    json_decref(again);
    json_decref(m);

    /* Another member of the same tenant: theirs only. */
    q = pf_query("acme", "m2");
    m = pf_load("licenses", &q);
    cr_assert_eq(json_array_size(pf_at(m, "licenses")), 1);
    cr_assert_str_eq(pf_str(m, "licenses.0.license_id"), ids[GRACE]);
    json_decref(m);
    /* A tenant that does not exist is no page. */
    q = pf_query("initech", "m1");
    pf_load_rc("licenses", &q, TALLY_PAGE_NOT_FOUND);
}

Test(pages_licenses, issued_names_only_an_own_license_and_must_be_an_id)
{
    seed();
    tally_page_query_t q = pf_query("acme", "m1");
    q.license_signing = 1;
    q.issued = ids[ADA];
    json_t *m = pf_load("licenses", &q);
    cr_assert_str_eq(pf_str(m, "issued"), ids[ADA]);
    char *html = pf_render("licenses", m, &q);
    char want[160];
    snprintf(want, sizeof want, "<p class=\"notice\" role=\"status\">License <code>%s</code> issued.", ids[ADA]);
    cr_assert(strstr(html, want), "%s", html);
    free(html);
    json_decref(m);
    q.issued = ids[HANK];
    m = pf_load("licenses", &q);
    cr_assert(json_is_null(pf_at(m, "issued")), "another tenant's license is not announced");
    html = pf_render("licenses", m, &q);
    cr_assert(strstr(html, ids[HANK]) == NULL && strstr(html, "notice") == NULL, "%s", html);
    free(html);
    json_decref(m);
    static const char *const bad[] = {"", "x", "0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F0", "<script>",
                                      "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0'--"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        q.issued = bad[i];
        pf_load_rc("licenses", &q, TALLY_PAGE_BAD_QUERY);
    }
}

Test(pages_licenses, without_signing_there_is_no_form_and_no_download)
{
    seed();
    tally_page_query_t q = pf_query("acme", "m1");
    json_t *m = pf_load("licenses", &q);
    cr_assert(json_is_null(pf_at(m, "form")));
    char *html = pf_render("licenses", m, &q);
    cr_assert(strstr(html, "<form") == NULL && strstr(html, "/file") == NULL, "%s", html);
    cr_assert(strstr(html, "license signing is not configured"), "%s", html);
    cr_assert(strstr(html, ids[ADA]), "the licenses are still listed: %s", html);
    free(html);
    json_decref(m);
}

Test(pages_licenses, staff_on_a_tenant_page_see_all_its_licenses_with_revoke_forms)
{
    seed();
    tally_page_query_t q = pf_query("acme", NULL);
    q.license_signing = 1;
    json_t *m = pf_load("licenses", &q);
    cr_assert_eq(json_array_size(pf_at(m, "licenses")), 4);
    cr_assert(json_is_null(pf_at(m, "form")), "staff get no personal license");
    char *html = pf_render("licenses", m, &q);
    cr_assert_eq(count(html, "action=\"/vendor/licenses/"), 3, "one revoke form per license not revoked: %s", html);
    cr_assert(strstr(html, ids[HANK]) == NULL, "%s", html);
    cr_assert(strstr(html, "&lt;b&gt;leaked&lt;/b&gt;") && !strstr(html, "<b>leaked"), "%s", html);
    cr_assert(strstr(html, "Environment Production"), "%s", html);
    free(html);
    json_decref(m);
}

Test(pages_licenses, the_vendor_page_lists_every_license_and_filters_by_tenant)
{
    seed();
    tally_page_query_t q = pf_query(NULL, "m1");
    pf_load_rc("vendor-licenses", &q, TALLY_PAGE_NOT_FOUND);

    q = pf_query(NULL, NULL);
    q.license_signing = 1;
    json_t *m = pf_load("vendor-licenses", &q);
    cr_assert_eq(json_array_size(pf_at(m, "licenses")), N);
    cr_assert_eq(pf_int(m, "counts.valid"), 3);
    cr_assert_eq(pf_int(m, "counts.expired"), 1);
    cr_assert_eq(pf_int(m, "counts.revoked"), 1);
    cr_assert(json_is_null(pf_at(m, "tenant")));
    cr_assert_str_eq(pf_str(m, "tenants.0.id"), "acme", "by name: %s", pf_str(m, "tenants.0.name"));
    cr_assert_str_eq(pf_str(m, "licenses.1.license_id"), ids[ADA_REVOKED]);
    cr_assert_str_eq(pf_str(m, "licenses.1.revoke_reason"), "<b>leaked</b>");
    char *html = pf_render("vendor-licenses", m, &q);
    cr_assert_eq(count(html, "<form class=\"inline\" method=\"post\" action=\"/vendor/licenses/"), N - 1, "%s", html);
    cr_assert_eq(count(html, "<input type=\"text\" name=\"reason\" required"), N - 1, "%s", html);
    char action[128];
    snprintf(action, sizeof action, "action=\"/vendor/licenses/%s/revoke\"", ids[ADA_REVOKED]);
    cr_assert(strstr(html, action) == NULL, "a revoked license has no revoke form: %s", html);
    snprintf(action, sizeof action, "action=\"/vendor/licenses/%s/revoke\"", ids[HANK]);
    cr_assert(strstr(html, action), "an expired license can still be revoked: %s", html);
    cr_assert(strstr(html, "<option value=\"\">All tenants</option>"), "%s", html);
    cr_assert(strstr(html, "<option value=\"acme\">Acme &lt;Corp&gt;</option>"), "%s", html);
    cr_assert(strstr(html, "Member Ada Lovelace"), "%s", html);
    cr_assert(strstr(html, "3 valid, 1 expired, 1 revoked."), "%s", html);
    free(html);
    json_decref(m);

    q.tenant_filter = "globex";
    m = pf_load("vendor-licenses", &q);
    cr_assert_eq(json_array_size(pf_at(m, "licenses")), 1);
    cr_assert_str_eq(pf_str(m, "licenses.0.license_id"), ids[HANK]);
    cr_assert_str_eq(pf_str(m, "tenant"), "globex");
    html = pf_render("vendor-licenses", m, &q);
    cr_assert(strstr(html, "<option value=\"globex\" selected>Globex</option>"), "%s", html);
    free(html);
    json_decref(m);
    q.tenant_filter = "";
    m = pf_load("vendor-licenses", &q);
    cr_assert_eq(json_array_size(pf_at(m, "licenses")), N, "an empty filter is all tenants");
    json_decref(m);
    static const char *const bad[] = {"acme'--", "..", "a b", "<x>", "-x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        q.tenant_filter = bad[i];
        pf_load_rc("vendor-licenses", &q, TALLY_PAGE_BAD_QUERY);
    }
}
