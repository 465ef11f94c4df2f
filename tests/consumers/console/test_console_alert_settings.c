/* The alert settings routes end to end on the real gateway, broker,
 * materializer and PostgreSQL (license_pipeline.h), the console started
 * with a webhook public key of its own:
 *   - a member sets the tenant's webhook (PUT, POST, the page's form): 202
 *     with a fresh whsec_ secret, once per set; one WebhookEndpointSet in
 *     tally.controlpanel per set; the plain secret is nowhere in the topic's
 *     bytes, in a pg_dump of the database or in the console's log;
 *     url "" removes it (no secret);
 *   - staff set a tenant's alert rules (202); the gateway's rules on the
 *     values answer 422 with its reason and nothing is stored; a member
 *     gets the unknown route's 404;
 *   - hostile input (oversized, not JSON, wrong types, unknown fields, a
 *     URL to a private or link-local address, with credentials, http to
 *     a public host, another tenant, a cross-site form) is a 4xx and
 *     sends nothing;
 *   - without --webhook-public-key the webhook routes answer 503. */
#include "license_pipeline.h"

#include "webhook_seal.h"

#include <sys/stat.h>

static lic_env_t e;
static char pub_path[64];

TestSuite(console_alert_settings, .timeout = 240);

/* e with the console restarted holding a webhook public key. */
static void start(void)
{
    lic_start(&e);
    char err[256];
    static const char ring_text[] = "wh-1 2b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfe\n";
    tally_webhook_keyring_t *ring = tally_webhook_keyring_parse(ring_text, strlen(ring_text), "t", err, sizeof err);
    cr_assert_not_null(ring, "%s", err);
    tally_textbuf_t pub = {0};
    tally_webhook_keyring_write_public(ring, &pub);
    tally_webhook_keyring_free(ring);
    snprintf(pub_path, sizeof pub_path, "/tmp/tally-webhook-pub-XXXXXX");
    int fd = mkstemp(pub_path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, pub.data, pub.len), (ssize_t)pub.len);
    close(fd);
    tally_textbuf_free(&pub);
    cr_assert_eq(tally_test_console_stop(&e.c), 0);
    static char arg[96];
    snprintf(arg, sizeof arg, "--webhook-public-key=%s", pub_path);
    const char *const extra[] = {arg, NULL};
    lic_console_start(&e, NULL, extra);
}

static void stop(void)
{
    unlink(pub_path);
    lic_stop(&e);
}

static tally_test_response_t send_json(const char *method, const char *path, const char *bearer, const char *body)
{
    char url[512], auth[700];
    snprintf(url, sizeof url, "%s%s", e.c.base_url, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
    const char *const headers[] = {"Content-Type: application/json", auth, NULL};
    return tally_test_http(method, url, headers, body, strlen(body), 1);
}

/* The "secret" of a 202's body (asserting one), into out. */
static void secret_of(const tally_test_response_t *r, char *out, size_t size)
{
    json_t *j = json_loads(r->body, 0, NULL);
    const char *s = json_string_value(json_object_get(j, "secret"));
    cr_assert_not_null(s, "%s", r->body);
    snprintf(out, size, "%s", s);
    json_decref(j);
}

/* Whether text is anywhere in a pg_dump of the test database (which must
 * hold what marker names, so the dump is not empty). */
static int in_pg_dump(const char *text, const char *marker)
{
    char cmd[512], path[] = "/tmp/tally-dump-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "pg_dump '%s' >%s 2>&1", tally_test_pg_url(e.c.db), path);
    cr_assert_eq(system(cmd), 0, "pg_dump failed");
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    tally_textbuf_t dump = {0};
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        tally_textbuf_append(&dump, buf, n);
    fclose(f);
    unlink(path);
    tally_textbuf_puts(&dump, "");
    cr_assert(strstr(dump.data, marker), "the dump holds %s", marker);
    int found = strstr(dump.data, text) != NULL;
    tally_textbuf_free(&dump);
    return found;
}

Test(console_alert_settings, a_member_sets_the_webhook_and_gets_its_secret_once_sealed_everywhere_else)
{
    start();
    char s1[128], s2[128], s3[128];
    tally_test_response_t r = send_json("PUT", "/api/v1/webhook", e.member_token,
                                        "{\"url\":\"https://hooks.example.com/tally-acme\"}");
    cr_assert_eq(r.status, 202, "%ld %s\nconsole log:\n%s", r.status, r.body, tally_test_log(e.c.proc));
    cr_assert(strstr(r.body, "\"tenant_id\":\"acme\"") && strstr(r.body, "\"key_id\":\"wh-1\""), "%s", r.body);
    cr_assert_str_eq(tally_test_header(&r, "Cache-Control"), "no-store");
    secret_of(&r, s1, sizeof s1);
    cr_assert_eq(strncmp(s1, "whsec_", 6), 0, "%s", s1);
    tally_test_response_free(&r);
    cr_assert_eq(lic_events(&e, "hooks.example.com/tally-acme", 500), 1, "one WebhookEndpointSet");

    /* Again (POST, and the same body): a new secret, a new event; the
     * latest wins. */
    r = send_json("POST", "/api/v1/webhook", e.member_token, "{\"url\":\"https://hooks.example.com/tally-acme\"}");
    cr_assert_eq(r.status, 202, "%ld %s", r.status, r.body);
    secret_of(&r, s2, sizeof s2);
    cr_assert_str_neq(s1, s2);
    tally_test_response_free(&r);
    cr_assert_eq(lic_events(&e, "hooks.example.com/tally-acme", 500), 2);

    /* Staff set globex's. */
    r = send_json("PUT", "/api/v1/webhook", TALLY_TEST_STAFF_TOKEN,
                  "{\"tenant_id\":\"globex\",\"url\":\"https://hooks.example.com/globex\"}");
    cr_assert_eq(r.status, 202, "%ld %s", r.status, r.body);
    secret_of(&r, s3, sizeof s3);
    tally_test_response_free(&r);
    cr_assert_eq(lic_events(&e, "hooks.example.com/globex", 500), 1);

    /* The plain secrets: in no record of the topic, no table, no log. */
    const char *secrets[] = {s1, s2, s3};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(lic_events(&e, secrets[i], 300), 0, "secret %zu in tally.controlpanel", i);
        cr_assert_eq(lic_events(&e, secrets[i] + 6, 300), 0, "its base64 part in tally.controlpanel");
        cr_assert_not(in_pg_dump(secrets[i] + 6, "m-acme"), "secret %zu in the database", i);
        cr_assert_null(strstr(tally_test_log(e.c.proc), secrets[i] + 6));
    }
    cr_assert_not_null(strstr(tally_test_log(e.c.proc), "a webhook was set"));

    /* Removed: no secret in the answer. */
    size_t before = lic_events(&e, NULL, 300);
    r = send_json("PUT", "/api/v1/webhook", e.member_token, "{\"url\":\"\"}");
    cr_assert_eq(r.status, 202, "%ld %s", r.status, r.body);
    cr_assert_null(strstr(r.body, "whsec_"), "%s", r.body);
    cr_assert_null(strstr(r.body, "\"secret\""), "%s", r.body);
    tally_test_response_free(&r);
    cr_assert_eq(lic_events(&e, NULL, 500), before + 1);
    cr_assert_eq(lic_metric(&e, "tally_console_alert_settings_total{result=\"webhook\"}"), 4);
    cr_assert_eq(lic_metric(&e, "tally_console_alert_settings_total{result=\"refused\"}"), 0);
    stop();
}

Test(console_alert_settings, the_webhook_form_shows_the_secret_once_and_refuses_other_sites)
{
    start();
    char cookie[96], url[256];
    tally_test_console_signin(&e.c, e.member_token, cookie);
    tally_test_response_t r = tally_test_console_request(&e.c, "GET", "/t/acme/webhook", cookie, NULL);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert(strstr(r.body, "<form method=\"post\" action=\"/t/acme/webhook\"") && strstr(r.body, "name=\"url\""),
              "%s", strstr(r.body, "<main") ? strstr(r.body, "<main") : r.body);
    cr_assert_null(strstr(r.body, "whsec_"));
    tally_test_response_free(&r);
    /* Another tenant's page: the unknown route's 404. */
    r = tally_test_console_request(&e.c, "GET", "/t/globex/webhook", cookie, NULL);
    cr_assert_eq(r.status, 404);
    tally_test_response_free(&r);

    char h_cookie[128];
    snprintf(h_cookie, sizeof h_cookie, "Cookie: %s", cookie);
    snprintf(url, sizeof url, "%s/t/acme/webhook", e.c.base_url);
    const char *body = "url=https%3A%2F%2Fhooks.example.com%2Ffrom-the-form";
    const char *const cross[] = {"Content-Type: application/x-www-form-urlencoded", "Sec-Fetch-Site: cross-site",
                                 h_cookie, NULL};
    r = tally_test_http("POST", url, cross, body, strlen(body), 1);
    cr_assert_eq(r.status, 400, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    cr_assert_eq(lic_events(&e, "from-the-form", 500), 0, "the cross-site form sent nothing");

    const char *const same[] = {"Content-Type: application/x-www-form-urlencoded", "Sec-Fetch-Site: same-origin",
                                h_cookie, NULL};
    r = tally_test_http("POST", url, same, body, strlen(body), 1);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_str_eq(tally_test_header(&r, "Cache-Control"), "no-store");
    const char *s = strstr(r.body, "whsec_");
    cr_assert_not_null(s, "%s", r.body);
    char secret[64];
    size_t n = strcspn(s, "<");
    cr_assert(n > 6 && n < sizeof secret);
    memcpy(secret, s, n);
    secret[n] = '\0';
    cr_assert(strstr(r.body, "https://hooks.example.com/from-the-form"), "%s", r.body);
    tally_test_response_free(&r);
    cr_assert_eq(lic_events(&e, "from-the-form", 500), 1);
    cr_assert_eq(lic_events(&e, secret + 6, 300), 0, "the secret is not in the topic");
    /* Shown once: the page again has no secret. */
    r = tally_test_console_request(&e.c, "GET", "/t/acme/webhook", cookie, NULL);
    cr_assert_null(strstr(r.body, secret + 6));
    tally_test_response_free(&r);

    /* A refused URL from the form: 422, nothing sent. */
    const char *bad = "url=https%3A%2F%2F192.168.1.10%2Fhook";
    r = tally_test_http("POST", url, same, bad, strlen(bad), 1);
    cr_assert_eq(r.status, 422, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    cr_assert_eq(lic_events(&e, "192.168.1.10", 500), 0);
    stop();
}

Test(console_alert_settings, staff_set_alert_rules_and_the_gateway_rules_apply)
{
    start();
    const char *ok = "{\"tenant_id\":\"acme\",\"api_calls_percent\":[50,90,100],\"nonprod_daily_percent\":[],"
                     "\"seats_percent\":[100]}";
    tally_test_response_t r = send_json("POST", "/api/v1/alert-rules", TALLY_TEST_STAFF_TOKEN, ok);
    cr_assert_eq(r.status, 202, "%ld %s\nconsole log:\n%s", r.status, r.body, tally_test_log(e.c.proc));
    cr_assert_str_eq(r.body, "{\"api_calls_percent\":[50,90,100],\"nonprod_daily_percent\":[],"
                             "\"seats_percent\":[100],\"tenant_id\":\"acme\"}");
    tally_test_response_free(&r);
    size_t events = lic_events(&e, NULL, 500);
    cr_assert_eq(lic_events(&e, "acme", 300), events, "every event so far is acme's");

    /* The gateway's rules: 422 naming the field, nothing stored. */
    static const char *const refused[] = {
        "{\"tenant_id\":\"acme\",\"api_calls_percent\":[90,50],\"nonprod_daily_percent\":[],\"seats_percent\":[]}",
        "{\"tenant_id\":\"acme\",\"api_calls_percent\":[80,80],\"nonprod_daily_percent\":[],\"seats_percent\":[]}",
        "{\"tenant_id\":\"acme\",\"api_calls_percent\":[0],\"nonprod_daily_percent\":[],\"seats_percent\":[]}",
        "{\"tenant_id\":\"acme\",\"api_calls_percent\":[],\"nonprod_daily_percent\":[1001],\"seats_percent\":[]}",
        "{\"tenant_id\":\"acme\",\"api_calls_percent\":[1,2,3,4,5,6,7,8,9],\"nonprod_daily_percent\":[],"
        "\"seats_percent\":[]}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        r = send_json("POST", "/api/v1/alert-rules", TALLY_TEST_STAFF_TOKEN, refused[i]);
        cr_assert_eq(r.status, 422, "%s: %ld %s", refused[i], r.status, r.body);
        cr_assert(strstr(r.body, "_percent"), "names the field: %s", r.body);
        tally_test_response_free(&r);
    }
    /* Malformed: 400; a member: 404; an unknown tenant: 404. */
    static const char *const malformed[] = {
        "{\"tenant_id\":\"acme\",\"api_calls_percent\":[\"80\"],\"nonprod_daily_percent\":[],\"seats_percent\":[]}",
        "{\"tenant_id\":\"acme\",\"api_calls_percent\":[80]}",
        "{\"tenant_id\":\"acme\",\"api_calls_percent\":80,\"nonprod_daily_percent\":[],\"seats_percent\":[]}",
        "{\"api_calls_percent\":[80],\"nonprod_daily_percent\":[],\"seats_percent\":[]}",
        "{\"tenant_id\":\"acme\",\"api_calls_percent\":[],\"nonprod_daily_percent\":[],\"seats_percent\":[],\"x\":1}",
        "[1,2]",
        "{\"tenant_id\":",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        r = send_json("POST", "/api/v1/alert-rules", TALLY_TEST_STAFF_TOKEN, malformed[i]);
        cr_assert_eq(r.status, 400, "%s: %ld %s", malformed[i], r.status, r.body);
        tally_test_response_free(&r);
    }
    r = send_json("POST", "/api/v1/alert-rules", e.member_token, ok);
    cr_assert_eq(r.status, 404, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    r = send_json("POST", "/api/v1/alert-rules", TALLY_TEST_STAFF_TOKEN,
                  "{\"tenant_id\":\"nosuch\",\"api_calls_percent\":[],\"nonprod_daily_percent\":[],"
                  "\"seats_percent\":[]}");
    cr_assert_eq(r.status, 404, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    r = send_json("PUT", "/api/v1/alert-rules", TALLY_TEST_STAFF_TOKEN, ok);
    cr_assert_eq(r.status, 405, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    cr_assert_eq(lic_events(&e, NULL, 500), events, "nothing refused was sent");
    stop();
}

Test(console_alert_settings, hostile_webhook_bodies_get_a_4xx_and_send_nothing)
{
    start();
    size_t events = lic_events(&e, NULL, 500);
    static const struct {
        const char *body;
        long status;
    } cases[] = {
        {"{\"url\":5}", 400},
        {"{\"url\":null}", 400},
        {"{\"url\":[\"https://hooks.example.com/\"]}", 400},
        {"{}", 400},
        {"{\"url\":\"https://hooks.example.com/\",\"secret\":\"whsec_x\"}", 400},
        {"{\"url\":\"https://hooks.example.com/\",\"url\":\"https://a.example.com/\"}", 400},
        {"not json", 400},
        {"{\"url\":\"https://10.0.0.1/hook\"}", 422},
        {"{\"url\":\"https://192.168.0.5/hook\"}", 422},
        {"{\"url\":\"https://169.254.169.254/latest/meta-data\"}", 422},
        {"{\"url\":\"https://[fd00::1]/hook\"}", 422},
        {"{\"url\":\"https://100.64.0.1/hook\"}", 422},
        {"{\"url\":\"https://127.0.0.1/hook\"}", 422},
        {"{\"url\":\"http://127.0.0.1:9999/hook\"}", 422},   /* no local mode here */
        {"{\"url\":\"https://0x7f.1/hook\"}", 422},
        {"{\"url\":\"https://user:pass@hooks.example.com/hook\"}", 422},
        {"{\"url\":\"http://hooks.example.com/hook\"}", 422},
        {"{\"url\":\"ftp://hooks.example.com/hook\"}", 422},
        {"{\"url\":\"https://localhost/hook\"}", 422},
        {"{\"url\":\"https://hooks.example.com/a b\"}", 422},
        {"{\"url\":\"https://hooks.example.com/\\u0000x\"}", 400},   /* jansson refuses NUL */
        {"{\"url\":\"https://hooks.example.com/\\u0001x\"}", 422},
        {"{\"tenant_id\":\"globex\",\"url\":\"https://hooks.example.com/\"}", 404},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tally_test_response_t r = send_json("PUT", "/api/v1/webhook", e.member_token, cases[i].body);
        cr_assert_eq(r.status, cases[i].status, "%s: %ld %s", cases[i].body, r.status, r.body);
        tally_test_response_free(&r);
    }
    /* A URL past 2048 bytes (in a body the console takes). */
    char big[2300];
    int k = snprintf(big, sizeof big, "{\"url\":\"https://hooks.example.com/");
    memset(big + k, 'a', 2100);
    snprintf(big + k + 2100, sizeof big - (size_t)k - 2100, "\"}");
    tally_test_response_t r = send_json("PUT", "/api/v1/webhook", e.member_token, big);
    cr_assert_eq(r.status, 422, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    /* An oversized body: 413. */
    static char huge[64 * 1024];
    memset(huge, ' ', sizeof huge - 1);
    memcpy(huge, "{\"url\":\"\"}", 10);
    r = send_json("PUT", "/api/v1/webhook", e.member_token, huge);
    cr_assert_eq(r.status, 413, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    /* No credential: 401; not JSON: 415; GET: 405. */
    char url[256];
    snprintf(url, sizeof url, "%s/api/v1/webhook", e.c.base_url);
    const char *const anon[] = {"Content-Type: application/json", NULL};
    r = tally_test_http("PUT", url, anon, "{\"url\":\"\"}", 10, 1);
    cr_assert_eq(r.status, 401, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    char auth[128];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", e.member_token);
    const char *const text[] = {"Content-Type: text/plain", auth, NULL};
    r = tally_test_http("PUT", url, text, "{\"url\":\"\"}", 10, 1);
    cr_assert_eq(r.status, 415, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    r = tally_test_console_request(&e.c, "GET", "/api/v1/webhook", NULL, e.member_token);
    cr_assert_eq(r.status, 405, "%ld %s", r.status, r.body);
    cr_assert_str_eq(tally_test_header(&r, "Allow"), "PUT, POST");
    tally_test_response_free(&r);
    /* PUT anywhere else is refused as before. */
    const char *const put_page[] = {auth, NULL};
    snprintf(url, sizeof url, "%s/api/v1/licenses", e.c.base_url);
    r = tally_test_http("PUT", url, put_page, "{}", 2, 1);
    cr_assert_eq(r.status, 405, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    cr_assert_eq(lic_events(&e, NULL, 500), events, "nothing refused was sent");
    cr_assert_eq(lic_metric(&e, "tally_console_alert_settings_total{result=\"webhook\"}"), 0);
    cr_assert_gt(lic_metric(&e, "tally_console_alert_settings_total{result=\"refused\"}"), 20);
    stop();
}

Test(console_alert_settings, without_a_webhook_public_key_the_webhook_routes_answer_503)
{
    lic_start(&e);
    size_t events = lic_events(&e, NULL, 500);
    tally_test_response_t r = send_json("PUT", "/api/v1/webhook", e.member_token,
                                        "{\"url\":\"https://hooks.example.com/x\"}");
    cr_assert_eq(r.status, 503, "%ld %s", r.status, r.body);
    tally_test_response_free(&r);
    cr_assert_eq(lic_events(&e, NULL, 500), events);
    lic_stop(&e);
}
