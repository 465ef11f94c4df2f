/* POST /api/v1/licenses for a member, end to end on the real gateway,
 * broker, materializer and PostgreSQL (license_pipeline.h):
 *   - a member gets a personal-dev license for themselves: 201 with the
 *     file, which the real `tally license verify` accepts with the keys the
 *     console publishes; its row in tally.licenses came from one
 *     LicenseIssued event;
 *   - a retry with the same Idempotency-Key gets 200 and the same bytes,
 *     and sends nothing; another key is another license; `tally license
 *     fetch` gets one too;
 *   - the license never outlives the contract; no license while the tenant
 *     is over its limits or has no contract today (409);
 *   - a member of globex cannot issue for acme (404, as any route of
 *     another tenant);
 *   - hostile input (no credential, bad JSON, unknown field, bad key, wrong
 *     type, too large) is a 4xx that changes nothing: no row, no event;
 *     a gateway or database that is down is a 503 that hands out nothing. */
#include "license_pipeline.h"

#include "license.h"

#include <sys/wait.h>

static lic_env_t e;

TestSuite(console_license_post, .timeout = 240);

static tally_test_response_t member_post(const char *token, const char *key, const char *body)
{
    return lic_post(&e, "/api/v1/licenses", "application/json", token, NULL, key, body, NULL);
}

static long long metric(const char *result)
{
    char series[96];
    snprintf(series, sizeof series, "tally_console_licenses_total{result=\"%s\"}", result);
    return lic_metric(&e, series);
}

Test(console_license_post, a_member_gets_a_verifiable_personal_dev_license_once_per_key)
{
    lic_start(&e);
    char id[37], out[1024], sql[256];
    lic_id("acme", "m-acme", "first-key", id);

    tally_test_response_t r = member_post(e.member_token, "first-key", "{}");
    cr_assert_eq(r.status, 201, "%ld %s\nconsole log:\n%s", r.status, r.body, tally_test_log(e.c.proc));
    cr_assert_str_eq(tally_test_header(&r, "Content-Type"), "application/x-tally-license");
    char where[128];
    snprintf(where, sizeof where, "/api/v1/licenses/%s/file", id);
    cr_assert_str_eq(tally_test_header(&r, "Location"), where);
    tally_license_t lic = lic_parsed(&r);
    cr_assert_str_eq(lic.license_id, id, "the id derived from the Idempotency-Key");
    cr_assert_eq(lic.kind, TALLY_LICENSE_PERSONAL_DEV);
    cr_assert_str_eq(lic.subject_id, "m-acme");
    cr_assert_str_eq(lic.tenant_id, "acme");
    cr_assert_str_eq(lic.tenant_name, "Acme <Corp>");
    cr_assert_str_eq(lic.key_id, "lic-2026-12", "the newest key signs");
    cr_assert_eq(lic.seats, 10);
    cr_assert_eq(lic.monthly_api_calls, 100000);
    cr_assert_eq(lic.valid_until - lic.valid_from, TALLY_LICENSE_PERSONAL_DEV_MAX_S, "30 days: the contract runs on");
    long long now_s = tally_test_now_ms() / 1000;
    cr_assert(lic.issued_at <= now_s && lic.issued_at > now_s - 60);

    /* The real verifier accepts it with the published keys. */
    cr_assert_eq(lic_verify(&e, r.body, r.len, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "valid: license ") && strstr(out, id) && strstr(out, "personal-dev") &&
                  strstr(out, "member m-acme"),
              "%s", out);

    /* Its row: from the event, with the payload's SHA-256. */
    cr_assert_eq(lic_rows(&e, id), 1);
    snprintf(sql, sizeof sql,
             "SELECT kind || ' ' || member_id || ' ' || key_id || ' ' || (payload_sha256 = encode(sha256("
             "convert_to(payload, 'UTF8')), 'hex')) FROM tally.licenses WHERE license_id = '%s'", id);
    cr_assert_str_eq(mat_text(e.c.admin, "%s", sql), "personal_dev m-acme lic-2026-12 true");
    cr_assert_eq(lic_events(&e, id, 500), 1, "one LicenseIssued event");

    /* The retry: 200, the same bytes, nothing sent. */
    tally_test_response_t again = member_post(e.member_token, "first-key", "{}");
    cr_assert_eq(again.status, 200, "%ld %s", again.status, again.body);
    cr_assert_eq(again.len, r.len);
    cr_assert_eq(memcmp(again.body, r.body, r.len), 0, "the same file");
    tally_test_response_free(&again);
    cr_assert_eq(lic_rows(&e, id), 1);
    cr_assert_eq(lic_events(&e, id, 500), 1, "the retry sent nothing");

    /* Another key: another license. */
    tally_test_response_t other = member_post(e.member_token, "second-key", "{}");
    cr_assert_eq(other.status, 201, "%ld %s", other.status, other.body);
    cr_assert_str_neq(lic_parsed(&other).license_id, id);
    tally_test_response_free(&other);
    cr_assert_eq(lic_rows(&e, NULL), 2);
    cr_assert_eq(metric("issued"), 2);
    cr_assert_eq(metric("again"), 1);

    /* The client's `tally license fetch` against the real console. */
    char cmd[1024], path[] = "/tmp/tally-lic-fetch-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "'%s' license fetch --console-url %s --token %s --out %s --force >/dev/null 2>&1",
             tally_test_bin("tally"), e.c.base_url, e.member_token, path);
    int st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fetch: %d", st);
    unlink(path);
    cr_assert_eq(lic_rows(&e, NULL), 3, "fetch issued a license");
    /* The console logs neither the admin token nor a license id. */
    cr_assert(strstr(tally_test_log(e.c.proc), TALLY_TEST_ADMIN_TOKEN) == NULL);
    cr_assert(strstr(tally_test_log(e.c.proc), id) == NULL);
    cr_assert(strstr(tally_test_log(e.c.proc), "a license was issued") != NULL);
    tally_test_response_free(&r);
    lic_stop(&e);
}

Test(console_license_post, never_past_the_contract_and_none_while_over_or_without_one)
{
    lic_start(&e);
    /* The contract ends in 3 days: the license ends with it, at 00:00Z of
     * the day after its last day. */
    tally_test_console_exec(&e.c, "UPDATE tally.license_terms SET valid_until = current_date + 3 WHERE tenant_id = 'acme'");
    tally_test_response_t r = member_post(e.member_token, "short-contract", "{}");
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    tally_license_t lic = lic_parsed(&r);
    long long end = mat_scalar(e.c.admin, "SELECT extract(epoch FROM (current_date + 4)::timestamp)::bigint");
    cr_assert_eq(lic.valid_until, end, "ends with the contract, not 30 days later");
    char out[1024];
    cr_assert_eq(lic_verify(&e, r.body, r.len, out, sizeof out), 0, "%s", out);
    tally_test_response_free(&r);
    long long rows = lic_rows(&e, NULL);

    /* Over its limits: 409, nothing issued, nothing sent. */
    size_t events = lic_events(&e, NULL, 300);
    tally_test_console_exec(&e.c, "UPDATE tally.api_usage_daily SET api_calls = 1000000 WHERE tenant_id = 'acme'");
    r = member_post(e.member_token, "while-over", "{}");
    cr_assert_eq(r.status, 409, "%ld %s", r.status, r.body);
    cr_assert(strstr(r.body, "\"error\":\"conflict\"") && strstr(r.body, "over"), "%s", r.body);
    tally_test_response_free(&r);

    /* No contract valid today: 409. */
    tally_test_console_exec(&e.c, "UPDATE tally.api_usage_daily SET api_calls = 1 WHERE tenant_id = 'acme';"
                                  "UPDATE tally.license_terms SET valid_until = current_date - 1, "
                                  "valid_from = current_date - 10 WHERE tenant_id = 'acme'");
    r = member_post(e.member_token, "no-contract", "{}");
    cr_assert_eq(r.status, 409, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    cr_assert_eq(lic_rows(&e, NULL), rows);
    cr_assert_eq(lic_events(&e, NULL, 500), events, "nothing sent");
    lic_stop(&e);
}

/* --license-member-max: a member holds at most that many valid, unrevoked
 * personal-dev licenses; one more is 409 and sends nothing, a retry of an
 * issued one still answers, and a revocation makes room. */
Test(console_license_post, a_member_holds_at_most_license_member_max_licenses)
{
    lic_start(&e);
    cr_assert_eq(tally_test_console_stop(&e.c), 0);
    const char *const cap[] = {"--license-member-max=2", NULL};
    lic_console_start(&e, NULL, cap);
    char id[37], path[96];
    for (int i = 0; i < 2; i++) {
        char key[16];
        snprintf(key, sizeof key, "cap-%d", i);
        tally_test_response_t r = member_post(e.member_token, key, "{}");
        cr_assert_eq(r.status, 201, "%s: %ld %s", key, r.status, r.body);
        tally_test_response_free(&r);
    }
    size_t events = lic_events(&e, NULL, 300);
    tally_test_response_t r = member_post(e.member_token, "cap-2", "{}");
    cr_assert_eq(r.status, 409, "%ld %s", r.status, r.body);
    cr_assert(strstr(r.body, "\"error\":\"conflict\"") && strstr(r.body, "at most 2"), "%s", r.body);
    tally_test_response_free(&r);
    cr_assert_eq(lic_rows(&e, NULL), 2);
    cr_assert_eq(lic_events(&e, NULL, 500), events, "nothing sent for the refused one");
    /* A retry of an issued one is not a new license: still 200. */
    r = member_post(e.member_token, "cap-0", "{}");
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    /* Staff revoke one of the two: room for one more. */
    lic_id("acme", "m-acme", "cap-0", id);
    snprintf(path, sizeof path, "/api/v1/licenses/%s/revoke", id);
    r = lic_post(&e, path, "application/json", TALLY_TEST_STAFF_TOKEN, NULL, NULL, "{\"reason\":\"left the team\"}",
                 NULL);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    r = member_post(e.member_token, "cap-2", "{}");
    cr_assert_eq(r.status, 201, "after a revocation: %ld %s", r.status, r.body);
    tally_test_response_free(&r);
    cr_assert_eq(lic_rows(&e, NULL), 3);
    lic_stop(&e);
}

Test(console_license_post, a_member_of_globex_cannot_issue_for_acme)
{
    lic_start(&e);
    tally_test_response_t unknown = tally_test_console_request(&e.c, "GET", "/api/v1/no-such-route", NULL, NULL);
    tally_test_response_t r = member_post(e.globex_token, "cross", "{\"tenant_id\":\"acme\"}");
    cr_assert_eq(r.status, 404, "%ld %s", r.status, r.body);
    cr_assert_str_eq(r.body, unknown.body, "the unknown route's 404");
    tally_test_response_free(&r);
    /* The form of acme's page with globex's session. */
    char cookie[96];
    tally_test_console_signin(&e.c, e.globex_token, cookie);
    r = lic_post(&e, "/t/acme/licenses", "application/x-www-form-urlencoded", NULL, cookie, NULL,
                 "idempotency_key=cross-form", NULL);
    cr_assert_eq(r.status, 404, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    /* globex's own license names globex and its member only (the seed has
     * globex over its monthly calls: brought under them first). */
    tally_test_console_exec(&e.c, "UPDATE tally.api_usage_daily SET api_calls = 1 WHERE tenant_id = 'globex'");
    r = member_post(e.globex_token, "own", "{\"tenant_id\":\"globex\"}");
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    tally_license_t lic = lic_parsed(&r);
    cr_assert_str_eq(lic.tenant_id, "globex");
    cr_assert_str_eq(lic.subject_id, "m-globex");
    tally_test_response_free(&r);
    cr_assert_eq(mat_scalar(e.c.admin, "SELECT count(*) FROM tally.licenses WHERE tenant_id = 'acme'"), 0);
    cr_assert_eq(lic_rows(&e, NULL), 1);
    tally_test_response_free(&unknown);
    lic_stop(&e);
}

Test(console_license_post, hostile_input_is_a_4xx_that_changes_nothing)
{
    lic_start(&e);
    char big[6000], long_key[80];
    memset(big, ' ', sizeof big - 3);
    big[0] = '{';
    big[sizeof big - 3] = '}';
    big[sizeof big - 2] = '\0';
    memset(long_key, 'k', 65);
    long_key[65] = '\0';
    const char *tok = e.member_token;
    const struct {
        const char *ctype, *bearer, *key, *body;
        long status;
        const char *what;
    } cases[] = {
        {"application/json", NULL, "k1", "{}", 401, "no credential"},
        {"application/json", "tct_not-a-real-token-at-all-0000000000000000000", "k1", "{}", 401, "a wrong token"},
        {"application/json", tok, NULL, "{}", 400, "no Idempotency-Key"},
        {"application/json", tok, "", "{}", 400, "an empty key"},
        {"application/json", tok, long_key, "{}", 400, "a 65-character key"},
        {"application/json", tok, "a/../b", "{}", 400, "a key with / and ."},
        {"application/json", tok, "k%20x", "{}", 400, "a key with %"},
        {"application/json", tok, "k1", "{", 400, "JSON that does not parse"},
        {"application/json", tok, "k1", "", 400, "no body"},
        {"application/json", tok, "k1", "[]", 400, "an array"},
        {"application/json", tok, "k1", "{\"member_id\":\"m-acme-2\"}", 400, "an unknown field"},
        {"application/json", tok, "k1", "{\"environment_id\":\"env-prod\"}", 400, "a staff field from a member"},
        {"application/json", tok, "k1", "{\"tenant_id\":1}", 404, "a tenant that is no string"},
        {"application/json", tok, "k1", "{\"a\":1,\"a\":2}", 400, "a duplicate key"},
        {"text/plain", tok, "k1", "{}", 415, "not JSON"},
        {NULL, tok, "k1", "{}", 415, "no Content-Type"},
        {"application/json", tok, "k1", big, 413, "a body over --max-form"},
        {"application/json", TALLY_TEST_STAFF_TOKEN, "k1", "{}", 400, "staff without a tenant"},
        {"application/json", TALLY_TEST_STAFF_TOKEN, "k1", "{\"tenant_id\":\"acme\",\"environment_id\":\"e\\u0001\"}",
         400, "a control character"},
        {"application/json", TALLY_TEST_STAFF_TOKEN, "k1", "{\"tenant_id\":\"../x\",\"environment_id\":\"env-prod\"}",
         400, "a tenant id that is not one"},
        {"application/json", TALLY_TEST_STAFF_TOKEN, "k1",
         "{\"tenant_id\":\"acme\",\"environment_id\":\"env-prod\",\"valid_until\":\"tomorrow\"}", 400, "a bad time"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tally_test_response_t r =
            lic_post(&e, "/api/v1/licenses", cases[i].ctype, cases[i].bearer, NULL, cases[i].key, cases[i].body, NULL);
        cr_assert_eq(r.status, cases[i].status, "%s: %ld %s", cases[i].what, r.status, r.body);
        if (r.status != 413)
            cr_assert(strstr(r.body, "\"error\"") != NULL, "%s: a JSON error: %s", cases[i].what, r.body);
        tally_test_response_free(&r);
    }
    /* Another method: 405 with Allow. */
    tally_test_response_t r = tally_test_console_request(&e.c, "PUT", "/api/v1/licenses", NULL, tok);
    cr_assert_eq(r.status, 405);
    tally_test_response_free(&r);
    cr_assert_eq(lic_rows(&e, NULL), 0, "no row");
    cr_assert_eq(lic_events(&e, NULL, 1000), 0, "no event");
    cr_assert_geq(metric("refused"), 15);
    /* The control: the same pipeline issues a well-formed request. */
    r = member_post(tok, "k1", "{}");
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    lic_stop(&e);
}

Test(console_license_post, a_gateway_or_database_that_is_down_is_a_503_and_no_license)
{
    lic_start(&e);
    cr_assert_eq(tally_test_console_stop(&e.c), 0);
    /* Nothing listens on port 1: the event cannot be sent. */
    lic_console_start(&e, "http://127.0.0.1:1", NULL);
    tally_test_response_t r = member_post(e.member_token, "gw-down", "{}");
    cr_assert_eq(r.status, 503, "%ld %s", r.status, r.body);
    cr_assert(strstr(r.body, "-----BEGIN") == NULL);
    cr_assert_not_null(tally_test_header(&r, "Retry-After"));
    tally_test_response_free(&r);
    cr_assert_eq(tally_test_console_stop(&e.c), 0);

    /* No database (staff need none to sign in): 503. */
    static char pg[128];
    snprintf(pg, sizeof pg, "--pg-url=postgresql://tally_reader@127.0.0.1:1/%s", e.c.db);
    const char *const args[] = {pg, "--pg-connect-timeout=1s", NULL};
    lic_console_start(&e, NULL, args);
    r = lic_post(&e, "/api/v1/licenses", "application/json", TALLY_TEST_STAFF_TOKEN, NULL, "db-down",
                 "{\"tenant_id\":\"acme\",\"environment_id\":\"env-prod\"}", NULL);
    cr_assert_eq(r.status, 503, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    cr_assert_eq(tally_test_console_stop(&e.c), 0);

    /* Without an admin token the license POSTs are not configured: 503. */
    static char no_admin[] = "--admin-token=";
    const char *const none[] = {no_admin, NULL};
    lic_console_start(&e, NULL, none);
    r = member_post(e.member_token, "no-admin", "{}");
    cr_assert_eq(r.status, 503, "%ld %s", r.status, r.body);
    cr_assert(strstr(r.body, "not configured"), "%s", r.body);
    tally_test_response_free(&r);
    cr_assert_eq(lic_rows(&e, NULL), 0);
    cr_assert_eq(lic_events(&e, NULL, 1000), 0);
    lic_stop(&e);
}
