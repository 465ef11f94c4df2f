/* The staff's license POSTs and the two HTML forms, end to end on the real
 * gateway, broker, materializer and PostgreSQL (license_pipeline.h):
 *   - staff issue an environment license for any tenant's environment
 *     (until the contract's end, or an earlier valid_until; never past it),
 *     which `tally license verify` accepts; a retry gets the same bytes;
 *   - staff revoke a license: LicenseRevoked through the gateway, revoked_at
 *     in tally.licenses, 200 JSON; revoking again changes nothing; members
 *     get the unknown route's 404; a bad reason is a 400 that changes
 *     nothing;
 *   - the member's "Get a license" form and the staff's revoke form answer
 *     303, from this site only. */
#include "license_pipeline.h"

#include "license.h"

static lic_env_t e;

TestSuite(console_license_staff, .timeout = 240);

static tally_test_response_t staff_post(const char *path, const char *key, const char *body)
{
    return lic_post(&e, path, "application/json", TALLY_TEST_STAFF_TOKEN, NULL, key, body, NULL);
}

static const char env_body[] = "{\"tenant_id\":\"acme\",\"environment_id\":\"env-prod\"}";

Test(console_license_staff, staff_issue_an_environment_license_until_the_contract_ends)
{
    lic_start(&e);
    char id[37], out[1024], body[256];
    lic_id("acme", "env:env-prod", "env-key", id);
    tally_test_response_t r = staff_post("/api/v1/licenses", "env-key", env_body);
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    tally_license_t lic = lic_parsed(&r);
    cr_assert_str_eq(lic.license_id, id, "derived with member \"env:env-prod\"");
    cr_assert_eq(lic.kind, TALLY_LICENSE_ENVIRONMENT);
    cr_assert_str_eq(lic.subject_id, "env-prod");
    long long end = mat_scalar(e.c.admin, "SELECT extract(epoch FROM (valid_until + 1)::timestamp)::bigint "
                                          "FROM tally.license_terms WHERE tenant_id = 'acme'");
    cr_assert_eq(lic.valid_until, end, "until the contract's end");
    cr_assert_eq(lic_verify(&e, r.body, r.len, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "environment env-prod"), "%s", out);
    cr_assert_str_eq(mat_text(e.c.admin, "SELECT kind || ' ' || environment_id || ' ' || (member_id IS NULL) FROM "
                                         "tally.licenses WHERE license_id = '%s'", id),
                     "environment env-prod true");
    tally_test_response_t again = staff_post("/api/v1/licenses", "env-key", env_body);
    cr_assert_eq(again.status, 200, "%ld %s", again.status, again.body);
    cr_assert(again.len == r.len && memcmp(again.body, r.body, r.len) == 0, "the same file");
    tally_test_response_free(&again);
    tally_test_response_free(&r);

    /* An earlier end is kept; past the contract or not after now is a 400. */
    long long soon = tally_test_now_ms() / 1000 + 7 * 86400;
    char when[TALLY_LICENSE_TIME_SIZE];
    cr_assert_eq(tally_license_time_format(soon, when), 0);
    snprintf(body, sizeof body, "{\"tenant_id\":\"acme\",\"environment_id\":\"env-dev\",\"valid_until\":\"%s\"}", when);
    r = staff_post("/api/v1/licenses", "env-dev-week", body);
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    cr_assert_eq(lic_parsed(&r).valid_until, soon);
    tally_test_response_free(&r);
    long long rows = lic_rows(&e, NULL);
    size_t events = lic_events(&e, NULL, 300);
    cr_assert_eq(tally_license_time_format(end + 1, when), 0);
    snprintf(body, sizeof body, "{\"tenant_id\":\"acme\",\"environment_id\":\"env-dev\",\"valid_until\":\"%s\"}", when);
    r = staff_post("/api/v1/licenses", "past-contract", body);
    cr_assert_eq(r.status, 400, "one second past the contract: %ld %s", r.status, r.body);
    tally_test_response_free(&r);
    r = staff_post("/api/v1/licenses", "in-the-past",
                   "{\"tenant_id\":\"acme\",\"environment_id\":\"env-dev\",\"valid_until\":\"2020-01-01T00:00:00Z\"}");
    cr_assert_eq(r.status, 400, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    /* Another tenant's environment, or an unknown tenant: 404. */
    r = staff_post("/api/v1/licenses", "wrong-env", "{\"tenant_id\":\"globex\",\"environment_id\":\"env-dev\"}");
    cr_assert_eq(r.status, 404, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    r = staff_post("/api/v1/licenses", "no-tenant", "{\"tenant_id\":\"initech\",\"environment_id\":\"env-prod\"}");
    cr_assert_eq(r.status, 404, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    cr_assert_eq(lic_rows(&e, NULL), rows, "nothing issued");
    cr_assert_eq(lic_events(&e, NULL, 500), events, "nothing sent");
    lic_stop(&e);
}

Test(console_license_staff, staff_revoke_once_and_nobody_else_can)
{
    lic_start(&e);
    tally_test_response_t r = lic_post(&e, "/api/v1/licenses", "application/json", e.member_token, NULL, "to-revoke",
                                       "{}", NULL);
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    char id[37], path[128];
    snprintf(id, sizeof id, "%s", lic_parsed(&r).license_id);
    tally_test_response_free(&r);
    snprintf(path, sizeof path, "/api/v1/licenses/%s/revoke", id);

    /* Nobody but staff: 401 without a credential, the unknown route's 404
     * for the license's own member and for another tenant's. */
    tally_test_response_t unknown = tally_test_console_request(&e.c, "GET", "/api/v1/no-such-route", NULL, NULL);
    r = lic_post(&e, path, "application/json", NULL, NULL, NULL, "{\"reason\":\"x\"}", NULL);
    cr_assert_eq(r.status, 401, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    const char *members[2] = {e.member_token, e.globex_token};
    for (int i = 0; i < 2; i++) {
        r = lic_post(&e, path, "application/json", members[i], NULL, NULL, "{\"reason\":\"x\"}", NULL);
        cr_assert_eq(r.status, 404, "%ld %s", r.status, r.body);
        cr_assert_str_eq(r.body, unknown.body);
        tally_test_response_free(&r);
    }
    tally_test_response_free(&unknown);
    /* Bad reasons change nothing. */
    char long_reason[260] = "{\"reason\":\"";
    memset(long_reason + strlen(long_reason), 'r', 201);
    strcpy(long_reason + 11 + 201, "\"}");
    const char *const bad[] = {"{}", "{\"reason\":\"\"}", "{\"reason\":\"a\\nb\"}", "{\"reason\":7}", long_reason,
                               "{\"reason\":\"ok\",\"extra\":1}", "{\"reason\":", "[\"reason\"]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = staff_post(path, NULL, bad[i]);
        cr_assert_eq(r.status, 400, "%s: %ld %s", bad[i], r.status, r.body);
        tally_test_response_free(&r);
    }
    cr_assert_eq(mat_scalar(e.c.admin, "SELECT count(*) FROM tally.licenses WHERE revoked_at IS NOT NULL"), 0);
    cr_assert_eq(lic_events(&e, "left the company", 300), 0);

    r = staff_post(path, NULL, "{\"reason\":\"left the company\"}");
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert(strstr(r.body, id) && strstr(r.body, "\"reason\":\"left the company\"") && strstr(r.body, "revoked_at"),
              "%s", r.body);
    tally_test_response_free(&r);
    cr_assert_str_eq(mat_text(e.c.admin, "SELECT revoke_reason FROM tally.licenses WHERE license_id = '%s' AND "
                                         "revoked_at IS NOT NULL", id),
                     "left the company");
    cr_assert_eq(lic_events(&e, "left the company", 500), 1, "one LicenseRevoked");
    /* Again: the first revocation stands, nothing is sent. */
    r = staff_post(path, NULL, "{\"reason\":\"another reason\"}");
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert(strstr(r.body, "left the company"), "%s", r.body);
    tally_test_response_free(&r);
    cr_assert_eq(lic_events(&e, "another reason", 500), 0);
    cr_assert_eq(lic_metric(&e, "tally_console_license_revocations_total{result=\"revoked\"}"), 1);
    cr_assert_eq(lic_metric(&e, "tally_console_license_revocations_total{result=\"again\"}"), 1);
    cr_assert_geq(lic_metric(&e, "tally_console_license_revocations_total{result=\"refused\"}"), 8);
    /* An id no license has: 404. */
    r = staff_post("/api/v1/licenses/00000000-0000-4000-8000-000000000000/revoke", NULL, "{\"reason\":\"x\"}");
    cr_assert_eq(r.status, 404, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    lic_stop(&e);
}

Test(console_license_staff, the_forms_answer_303_from_this_site_only)
{
    lic_start(&e);
    char cookie[96], staff_cookie[96], id[37], where[160], path[128];
    tally_test_console_signin(&e.c, e.member_token, cookie);
    tally_test_console_signin(&e.c, TALLY_TEST_STAFF_TOKEN, staff_cookie);
    const char *form = "application/x-www-form-urlencoded";

    /* Refused, nothing issued: another site, no key, not a form, no session. */
    tally_test_response_t r = lic_post(&e, "/t/acme/licenses", form, NULL, cookie, NULL, "idempotency_key=form-1",
                                       "Sec-Fetch-Site: cross-site");
    cr_assert_eq(r.status, 400, "cross-site: %ld", r.status);
    tally_test_response_free(&r);
    r = lic_post(&e, "/t/acme/licenses", form, NULL, cookie, NULL, "idempotency_key=", NULL);
    cr_assert_eq(r.status, 400, "%ld", r.status);
    tally_test_response_free(&r);
    r = lic_post(&e, "/t/acme/licenses", "text/plain", NULL, cookie, NULL, "idempotency_key=form-1", NULL);
    cr_assert_eq(r.status, 415, "%ld", r.status);
    tally_test_response_free(&r);
    r = lic_post(&e, "/t/acme/licenses", form, NULL, NULL, NULL, "idempotency_key=form-1", NULL);
    cr_assert_eq(r.status, 303, "%ld", r.status);
    cr_assert_str_eq(tally_test_header(&r, "Location"), "/signin");
    tally_test_response_free(&r);
    r = lic_post(&e, "/t/acme/licenses", form, NULL, staff_cookie, NULL, "idempotency_key=form-1", NULL);
    cr_assert_eq(r.status, 404, "staff have no personal license: %ld", r.status);
    tally_test_response_free(&r);
    cr_assert_eq(lic_rows(&e, NULL), 0);

    /* The form from this site: 303 to the page naming the license. */
    r = lic_post(&e, "/t/acme/licenses", form, NULL, cookie, NULL, "idempotency_key=form-1",
                 "Sec-Fetch-Site: same-origin");
    cr_assert_eq(r.status, 303, "%ld %s", r.status, r.body);
    lic_id("acme", "m-acme", "form-1", id);
    snprintf(where, sizeof where, "/t/acme/licenses?issued=%s", id);
    cr_assert_str_eq(tally_test_header(&r, "Location"), where);
    tally_test_response_free(&r);
    cr_assert_eq(lic_rows(&e, id), 1);
    /* Sent twice (a double click): the same license. */
    r = lic_post(&e, "/t/acme/licenses", form, NULL, cookie, NULL, "idempotency_key=form-1", NULL);
    cr_assert_eq(r.status, 303, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    cr_assert_eq(lic_rows(&e, NULL), 1);

    /* The staff's revoke form. */
    snprintf(path, sizeof path, "/vendor/licenses/%s/revoke", id);
    r = lic_post(&e, path, form, NULL, staff_cookie, NULL, "reason=lost+laptop", "Sec-Fetch-Site: cross-site");
    cr_assert_eq(r.status, 400, "%ld", r.status);
    tally_test_response_free(&r);
    r = lic_post(&e, path, form, NULL, cookie, NULL, "reason=lost+laptop", NULL);
    cr_assert_eq(r.status, 404, "a member: %ld", r.status);
    tally_test_response_free(&r);
    r = lic_post(&e, path, form, NULL, staff_cookie, NULL, "reason=", NULL);
    cr_assert_eq(r.status, 400, "%ld", r.status);
    tally_test_response_free(&r);
    cr_assert_eq(mat_scalar(e.c.admin, "SELECT count(*) FROM tally.licenses WHERE revoked_at IS NOT NULL"), 0);
    r = lic_post(&e, path, form, NULL, staff_cookie, NULL, "reason=lost+laptop", "Sec-Fetch-Site: same-origin");
    cr_assert_eq(r.status, 303, "%ld %s", r.status, r.body);
    cr_assert_str_eq(tally_test_header(&r, "Location"), "/vendor/licenses");
    tally_test_response_free(&r);
    cr_assert_str_eq(mat_text(e.c.admin, "SELECT revoke_reason FROM tally.licenses WHERE license_id = '%s'", id),
                     "lost laptop");
    lic_stop(&e);
}
