/* tally-gateway and ControlPanelEvent version 2: every Control Panel event
 * is written with the latest version (v4 since the alert branches), the console-token branches are
 * accepted and arrive as sent, and a token event the materializer could not
 * project (a hash that is not lower-case hex SHA-256, an expiry not after
 * the event or more than 30 days after it, a token id that is not a UUID,
 * an empty member) is refused with 422 and nothing reaches Kafka. */
#include "codec.h"
#include "gateway_fixture.h"
#include "routes_fixture.h"
#include "json_avro.h"
#include "schema_catalog.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_ID "7e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b"
#define DAY_MS 86400000LL

TestSuite(gateway_console_tokens, .init = routes_setup, .fini = routes_teardown, .timeout = 120);

static long post(const char *body, char *answer, size_t size)
{
    tally_test_response_t r = tally_test_gateway_post(&routes_gw, "/v1/controlpanel/events", "application/json",
                                                      TALLY_TEST_ADMIN_TOKEN, body, strlen(body));
    long st = r.status;
    snprintf(answer, size, "%s", r.body ? r.body : "");
    tally_test_response_free(&r);
    return st;
}

static void issued(char *buf, size_t size, long long occurred, const char *token_id, const char *member,
                   const char *sha, long long expires)
{
    snprintf(buf, size,
             "{\"tenant_id\":\"%s\",\"occurred_at\":%lld,\"payload\":{\"ConsoleTokenIssued\":{\"token_id\":\"%s\","
             "\"member_id\":\"%s\",\"token_sha256\":\"%s\",\"expires_at\":%lld}}}",
             TALLY_TEST_TENANT, occurred, token_id, member, sha, expires);
}

Test(gateway_console_tokens, every_control_panel_event_is_written_as_the_latest_version_and_the_token_branches_arrive)
{
    long long now = tally_test_now_ms();
    char body[1024], answer[1024], sha[65];
    const tally_catalog_entry_t *v2 = tally_catalog_latest(routes_cat, "ControlPanelEvent");
    cr_assert_not_null(v2);
    cr_assert_eq(v2->version, 4);
    tally_test_sha256_hex("tct_example-token", sha);

    snprintf(body, sizeof body,
             "{\"tenant_id\":\"%s\",\"occurred_at\":%lld,\"payload\":{\"MemberRemoved\":{\"member_id\":\"m-1\"}}}",
             TALLY_TEST_TENANT, now);
    cr_assert_eq(post(body, answer, sizeof answer), 202, "%s", answer);
    issued(body, sizeof body, now, TOKEN_ID, "m-1", sha, now + DAY_MS);
    cr_assert_eq(post(body, answer, sizeof answer), 202, "%s", answer);
    snprintf(body, sizeof body,
             "{\"tenant_id\":\"%s\",\"occurred_at\":%lld,\"payload\":{\"ConsoleTokenRevoked\":{\"token_id\":\"%s\"}}}",
             TALLY_TEST_TENANT, now + 1, TOKEN_ID);
    cr_assert_eq(post(body, answer, sizeof answer), 202, "%s", answer);

    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(routes_gw.controlpanel_topic, 3, 500, 30000, &recs);
    cr_assert_eq(n, 3);
    const char *want[3] = {"MemberRemoved", "ConsoleTokenIssued", "ConsoleTokenRevoked"};
    tally_decoder_t *dec = tally_decoder_new_any(routes_cat);
    tally_json_avro_t *conv = NULL;
    char err[512];
    for (size_t i = 0; i < n; i++) {
        avro_value_t *v;
        const tally_catalog_entry_t *w;
        uint64_t fp;
        cr_assert_eq(tally_codec_peek_fingerprint(recs[i].value, recs[i].len, &fp, err, sizeof err), 0);
        cr_assert_eq(fp, v2->fingerprint, "record %zu written as ControlPanelEvent v4", i);
        cr_assert_eq(tally_decoder_decode(dec, recs[i].value, recs[i].len, &v, &w, err, sizeof err), 0, "%s", err);
        cr_assert_eq(w, v2);
        if (conv == NULL)
            cr_assert_not_null(conv = tally_json_avro_new(w->json, NULL, err, sizeof err), "%s", err);
        json_t *j;
        cr_assert_eq(tally_json_avro_to_json(conv, v, &j, err, sizeof err), 0, "%s", err);
        json_t *p = json_object_get(json_object_get(j, "payload"), want[i]);
        cr_assert_not_null(p, "record %zu is a %s", i, want[i]);
        if (i == 1) {
            cr_assert_str_eq(json_string_value(json_object_get(p, "token_id")), TOKEN_ID);
            cr_assert_str_eq(json_string_value(json_object_get(p, "token_sha256")), sha);
            cr_assert_str_eq(json_string_value(json_object_get(p, "member_id")), "m-1");
        }
        json_decref(j);
    }
    tally_json_avro_free(conv);
    tally_decoder_free(dec);
    tally_test_records_free(recs, n);
}

Test(gateway_console_tokens, a_token_event_the_read_model_would_refuse_is_422_and_sends_nothing)
{
    long long now = tally_test_now_ms();
    char body[1024], answer[1024], sha[65], upper[65];
    tally_test_sha256_hex("tct_x", sha);
    for (int i = 0; i < 64; i++)
        upper[i] = (char)(sha[i] >= 'a' && sha[i] <= 'f' ? sha[i] - 32 : sha[i]);
    upper[64] = '\0';
    if (strcmp(upper, sha) == 0)
        upper[0] = 'A';
    struct {
        const char *token_id, *member, *sha;
        long long expires;
        const char *field;
    } bad[] = {
        {TOKEN_ID, "m-1", upper, now + DAY_MS, "token_sha256"},
        {TOKEN_ID, "m-1", sha + 1, now + DAY_MS, "token_sha256"},
        {TOKEN_ID, "m-1", "tct_the-token-itself-not-its-hash", now + DAY_MS, "token_sha256"},
        {TOKEN_ID, "m-1", sha, now, "expires_at"},
        {TOKEN_ID, "m-1", sha, now - DAY_MS, "expires_at"},
        {TOKEN_ID, "m-1", sha, now + 31 * DAY_MS, "expires_at"},
        {TOKEN_ID, "", sha, now + DAY_MS, "member_id"},
        {"not-a-uuid", "m-1", sha, now + DAY_MS, "token_id"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        issued(body, sizeof body, now, bad[i].token_id, bad[i].member, bad[i].sha, bad[i].expires);
        cr_assert_eq(post(body, answer, sizeof answer), 422, "case %zu: %s", i, answer);
        cr_assert(strstr(answer, bad[i].field) != NULL, "case %zu names %s: %s", i, bad[i].field, answer);
    }
    snprintf(body, sizeof body,
             "{\"tenant_id\":\"%s\",\"occurred_at\":%lld,\"payload\":{\"ConsoleTokenRevoked\":{\"token_id\":\"x\"}}}",
             TALLY_TEST_TENANT, now);
    cr_assert_eq(post(body, answer, sizeof answer), 422, "%s", answer);
    /* The boundary itself is accepted: 30 days exactly. */
    issued(body, sizeof body, now, TOKEN_ID, "m-1", sha, now + 30 * DAY_MS);
    cr_assert_eq(post(body, answer, sizeof answer), 202, "%s", answer);

    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(routes_gw.controlpanel_topic, 1, 1500, 10000, &recs);
    cr_assert_eq(n, 1, "only the valid event reached Kafka");
    tally_test_records_free(recs, n);
}
