/* tally-gateway and ControlPanelEvent version 4: AlertRulesSet and
 * WebhookEndpointSet are accepted within their rules and arrive as v4
 * records; anything outside them (thresholds unsorted, repeated, out of
 * 1..1000 or more than 8; a URL that is not https, too long or carries
 * credentials; a sealed secret of the wrong size or not base64) is 422
 * naming the field, and nothing reaches Kafka. http:// to loopback only
 * with --webhook-allow-http-loopback. */
#include "codec.h"
#include "gateway_fixture.h"
#include "routes_fixture.h"
#include "json_avro.h"
#include "schema_catalog.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(gateway_alert_rules, .init = routes_setup, .fini = routes_teardown, .timeout = 120);

static long post_to(const tally_test_gateway_t *gw, const char *body, char *answer, size_t size)
{
    tally_test_response_t r = tally_test_gateway_post(gw, "/v1/controlpanel/events", "application/json",
                                                      TALLY_TEST_ADMIN_TOKEN, body, strlen(body));
    long st = r.status;
    snprintf(answer, size, "%s", r.body ? r.body : "");
    tally_test_response_free(&r);
    return st;
}

static long post(const char *body, char *answer, size_t size)
{
    return post_to(&routes_gw, body, answer, size);
}

static void rules(char *buf, size_t size, const char *api, const char *nonprod, const char *seats)
{
    snprintf(buf, size,
             "{\"tenant_id\":\"%s\",\"occurred_at\":%lld,\"payload\":{\"AlertRulesSet\":{\"api_calls_percent\":[%s],"
             "\"nonprod_daily_percent\":[%s],\"seats_percent\":[%s]}}}",
             TALLY_TEST_TENANT, tally_test_now_ms(), api, nonprod, seats);
}

/* Base64 of n random bytes (a stand-in sealed secret of that size). */
static void sealed_of(size_t n, char *out, size_t size)
{
    unsigned char bin[256];
    cr_assert(n <= sizeof bin);
    randombytes_buf(bin, n);
    sodium_bin2base64(out, size, bin, n, sodium_base64_VARIANT_ORIGINAL);
}

static void endpoint(char *buf, size_t size, const char *url, const char *sealed, const char *key_id)
{
    snprintf(buf, size,
             "{\"tenant_id\":\"%s\",\"occurred_at\":%lld,\"payload\":{\"WebhookEndpointSet\":{\"url\":\"%s\","
             "\"secret_sealed\":\"%s\",\"key_id\":\"%s\"}}}",
             TALLY_TEST_TENANT, tally_test_now_ms(), url, sealed, key_id);
}

/* Reads want records of gw's Control Panel topic; asserts each is a v4
 * record with the payload branch names[i]. */
static void expect_branches(const tally_test_gateway_t *gw, const char *const names[], size_t want)
{
    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(gw->controlpanel_topic, want, 1500, 30000, &recs);
    cr_assert_eq(n, want, "%zu records reached Kafka, want %zu", n, want);
    const tally_catalog_entry_t *v4 = tally_catalog_get(routes_cat, "ControlPanelEvent", 4);
    cr_assert_not_null(v4);
    tally_decoder_t *dec = tally_decoder_new_any(routes_cat);
    char err[512];
    for (size_t i = 0; i < n; i++) {
        avro_value_t *v, payload, branch;
        const tally_catalog_entry_t *w;
        cr_assert_eq(tally_decoder_decode(dec, recs[i].value, recs[i].len, &v, &w, err, sizeof err), 0, "%s", err);
        cr_assert_eq(w, v4, "record %zu written as ControlPanelEvent v4", i);
        cr_assert_eq(avro_value_get_by_name(v, "payload", &payload, NULL), 0);
        cr_assert_eq(avro_value_get_current_branch(&payload, &branch), 0);
        cr_assert_str_eq(avro_schema_type_name(avro_value_get_schema(&branch)), names[i]);
    }
    tally_decoder_free(dec);
    tally_test_records_free(recs, n);
}

Test(gateway_alert_rules, valid_rules_and_endpoints_arrive_as_v4_records)
{
    char body[8192], answer[1024], sealed[256];
    cr_assert_eq(tally_catalog_latest(routes_cat, "ControlPanelEvent")->version, 4);
    rules(body, sizeof body, "80,100,150", "100", "100");
    cr_assert_eq(post(body, answer, sizeof answer), 202, "%s", answer);
    rules(body, sizeof body, "", "", "");   /* no alerts at all */
    cr_assert_eq(post(body, answer, sizeof answer), 202, "%s", answer);
    rules(body, sizeof body, "1,2,3,4,5,6,7,1000", "50", "");
    cr_assert_eq(post(body, answer, sizeof answer), 202, "%s", answer);
    sealed_of(crypto_box_SEALBYTES + 32, sealed, sizeof sealed);
    endpoint(body, sizeof body, "https://hooks.example.com/tally?x=1", sealed, "wh-1");
    cr_assert_eq(post(body, answer, sizeof answer), 202, "%s", answer);
    sealed_of(crypto_box_SEALBYTES + 64, sealed, sizeof sealed);
    endpoint(body, sizeof body, "https://hooks.example.com/", sealed, "wh-1");
    cr_assert_eq(post(body, answer, sizeof answer), 202, "%s", answer);
    endpoint(body, sizeof body, "", "", "");   /* removed */
    cr_assert_eq(post(body, answer, sizeof answer), 202, "%s", answer);

    const char *const names[] = {"AlertRulesSet", "AlertRulesSet", "AlertRulesSet",
                                 "WebhookEndpointSet", "WebhookEndpointSet", "WebhookEndpointSet"};
    expect_branches(&routes_gw, names, 6);
}

Test(gateway_alert_rules, rules_outside_the_bounds_are_422_naming_the_field_and_send_nothing)
{
    char body[8192], answer[1024];
    struct {
        const char *api, *nonprod, *seats, *field;
    } bad[] = {
        {"100,80", "100", "100", "api_calls_percent"},
        {"80,80", "100", "100", "api_calls_percent"},
        {"0,80", "100", "100", "api_calls_percent"},
        {"80,1001", "100", "100", "api_calls_percent"},
        {"-5", "100", "100", "api_calls_percent"},
        {"1,2,3,4,5,6,7,8,9", "100", "100", "api_calls_percent"},
        {"80", "100,50", "100", "nonprod_daily_percent"},
        {"80", "100", "0", "seats_percent"},
        {"80", "100", "100,100", "seats_percent"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rules(body, sizeof body, bad[i].api, bad[i].nonprod, bad[i].seats);
        cr_assert_eq(post(body, answer, sizeof answer), 422, "case %zu: %s", i, answer);
        cr_assert(strstr(answer, bad[i].field) != NULL, "case %zu names %s: %s", i, bad[i].field, answer);
    }
    /* Not an int array at all: the schema conversion refuses it. */
    rules(body, sizeof body, "\"80\"", "100", "100");
    cr_assert_eq(post(body, answer, sizeof answer), 422, "%s", answer);
    rules(body, sizeof body, "80.5", "100", "100");
    cr_assert_eq(post(body, answer, sizeof answer), 422, "%s", answer);
    expect_branches(&routes_gw, NULL, 0);
}

Test(gateway_alert_rules, endpoints_outside_the_policy_are_422_naming_the_field_and_send_nothing)
{
    char body[8192], answer[1024], ok[256], short_s[256], long_s[256], url[2100];
    sealed_of(crypto_box_SEALBYTES + 40, ok, sizeof ok);
    sealed_of(crypto_box_SEALBYTES + 31, short_s, sizeof short_s);
    sealed_of(crypto_box_SEALBYTES + 65, long_s, sizeof long_s);
    memcpy(url, "https://h.example/", 18);
    memset(url + 18, 'a', 2049 - 18);
    url[2049] = '\0';   /* 2049 bytes */
    struct {
        const char *url, *sealed, *key_id, *field;
    } bad[] = {
        {"http://hooks.example.com/x", ok, "wh-1", "url"},
        {"http://127.0.0.1:9000/x", ok, "wh-1", "url"},   /* loopback, but not allowed here */
        {"http://[::1]:9000/x", ok, "wh-1", "url"},
        {"ftp://hooks.example.com/x", ok, "wh-1", "url"},
        {"hooks.example.com", ok, "wh-1", "url"},
        {"https://", ok, "wh-1", "url"},
        {"https://user:pw@hooks.example.com/", ok, "wh-1", "url"},
        {"https://hooks.example.com/a b", ok, "wh-1", "url"},
        {url, ok, "wh-1", "url"},
        /* The shared policy (common/webhook_url.h): spellings a resolver
         * takes for addresses, localhost names, fragments, zero addresses. */
        {"https://2130706433/x", ok, "wh-1", "url"},
        {"https://0x7f.0.0.1/x", ok, "wh-1", "url"},
        {"https://0177.0.0.1/x", ok, "wh-1", "url"},
        {"https://localhost/x", ok, "wh-1", "url"},
        {"https://hooks.localhost/x", ok, "wh-1", "url"},
        {"https://0.0.0.0/x", ok, "wh-1", "url"},
        {"https://hooks.example.com/x#frag", ok, "wh-1", "url"},
        {"https://[fe80::1%25eth0]/x", ok, "wh-1", "url"},
        {"https://hooks.example.com/", "", "wh-1", "secret_sealed"},
        {"https://hooks.example.com/", short_s, "wh-1", "secret_sealed"},
        {"https://hooks.example.com/", long_s, "wh-1", "secret_sealed"},
        {"https://hooks.example.com/", "not base64!", "wh-1", "secret_sealed"},
        {"https://hooks.example.com/", "the-plain-secret-itself-not-sealed-at-all-xxxxxxxxxxxxxxxx", "wh-1",
         "secret_sealed"},
        {"https://hooks.example.com/", ok, "", "key_id"},
        {"https://hooks.example.com/", ok, "k234567890123456789012345678901234567890123456789012345678901234x",
         "key_id"},
        {"", ok, "wh-1", "secret_sealed"},   /* removal carries no secret */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        endpoint(body, sizeof body, bad[i].url, bad[i].sealed, bad[i].key_id);
        cr_assert_eq(post(body, answer, sizeof answer), 422, "case %zu: %s", i, answer);
        cr_assert(strstr(answer, bad[i].field) != NULL, "case %zu names %s: %s", i, bad[i].field, answer);
    }
    /* The boundary is accepted: a URL of exactly 2048 bytes. */
    url[2048] = '\0';
    endpoint(body, sizeof body, url, ok, "wh-1");
    cr_assert_eq(post(body, answer, sizeof answer), 202, "%s", answer);
    const char *const names[] = {"WebhookEndpointSet"};
    expect_branches(&routes_gw, names, 1);
}

Test(gateway_alert_rules, http_to_loopback_only_with_the_local_mode_flag)
{
    tally_test_gateway_t gw;
    const char *const args[] = {"--webhook-allow-http-loopback", NULL};
    char body[8192], answer[1024], ok[256];
    tally_test_gateway_start(&gw, args);
    sealed_of(crypto_box_SEALBYTES + 32, ok, sizeof ok);
    endpoint(body, sizeof body, "http://127.0.0.1:9000/hook", ok, "wh-1");
    cr_assert_eq(post_to(&gw, body, answer, sizeof answer), 202, "%s", answer);
    endpoint(body, sizeof body, "http://[::1]:9000/hook", ok, "wh-1");
    cr_assert_eq(post_to(&gw, body, answer, sizeof answer), 202, "%s", answer);
    endpoint(body, sizeof body, "http://hooks.example.com/hook", ok, "wh-1");
    cr_assert_eq(post_to(&gw, body, answer, sizeof answer), 422, "%s", answer);
    cr_assert(strstr(answer, "url") != NULL, "%s", answer);
    const char *const refused[] = {"http://10.0.0.1/hook", "http://127.evil.example/hook",
                                   "http://127.0.0.1.evil.example/", "http://[::1].evil.example/"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        endpoint(body, sizeof body, refused[i], ok, "wh-1");
        cr_assert_eq(post_to(&gw, body, answer, sizeof answer), 422, "%s: %s", refused[i], answer);
    }
    const char *const names[] = {"WebhookEndpointSet", "WebhookEndpointSet"};
    expect_branches(&gw, names, 2);
    tally_test_gateway_stop(&gw);
}
