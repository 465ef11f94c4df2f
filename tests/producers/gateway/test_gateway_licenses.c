/* tally-gateway and ControlPanelEvent version 3: a LicenseIssued whose
 * fields agree with the signed payload it carries, and a LicenseRevoked,
 * are accepted and arrive as sent (the payload byte for byte); one whose
 * payload_sha256 is not the payload's, whose payload is not a canonical
 * license payload of the event's tenant, or whose license_id, kind,
 * member_id / environment_id, validity window or key_id disagree with the
 * payload's, is refused with 422 naming the field, and nothing reaches
 * Kafka. */
#include "codec.h"
#include "gateway_fixture.h"
#include "json_avro.h"
#include "license.h"
#include "routes_fixture.h"
#include "schema_catalog.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LICENSE_ID "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0"
#define DAY_S 86400LL

TestSuite(gateway_licenses, .init = routes_setup, .fini = routes_teardown, .timeout = 120);

static long post_json(json_t *body, char *answer, size_t size)
{
    char *text = json_dumps(body, JSON_COMPACT);
    cr_assert_not_null(text);
    tally_test_response_t r = tally_test_gateway_post(&routes_gw, "/v1/controlpanel/events", "application/json",
                                                      TALLY_TEST_ADMIN_TOKEN, text, strlen(text));
    long st = r.status;
    snprintf(answer, size, "%s", r.body ? r.body : "");
    tally_test_response_free(&r);
    free(text);
    json_decref(body);
    return st;
}

/* A license of the test tenant valid from now (seconds) for 30 days. */
static tally_license_t license(long long now_s, int personal)
{
    tally_license_t l;
    memset(&l, 0, sizeof l);
    l.format = TALLY_LICENSE_FORMAT;
    snprintf(l.license_id, sizeof l.license_id, "%s", LICENSE_ID);
    snprintf(l.tenant_id, sizeof l.tenant_id, "%s", TALLY_TEST_TENANT);
    snprintf(l.tenant_name, sizeof l.tenant_name, "Acme \"Dév\"");
    l.kind = personal ? TALLY_LICENSE_PERSONAL_DEV : TALLY_LICENSE_ENVIRONMENT;
    snprintf(l.subject_id, sizeof l.subject_id, "%s", personal ? "m-1" : "prod");
    l.feature_count = 1;
    snprintf(l.features[0], sizeof l.features[0], "api");
    l.seats = 25;
    l.monthly_api_calls = 1000000;
    l.issued_at = l.valid_from = now_s;
    l.valid_until = now_s + 30 * DAY_S;
    snprintf(l.key_id, sizeof l.key_id, "2026-12");
    return l;
}

/* Canonical payload text of l (malloc'd) and its SHA-256. */
static char *payload_of(const tally_license_t *l, char sha[65])
{
    tally_textbuf_t out = {0};
    char err[256];
    cr_assert_eq(tally_license_payload(l, &out, err, sizeof err), 0, "%s", err);
    char *s = strndup(out.data, out.len);
    tally_textbuf_free(&out);
    tally_test_sha256_hex(s, sha);
    return s;
}

/* The event the console posts for l, exactly as the payload says. */
static json_t *issued_event(const tally_license_t *l, long long now_ms)
{
    char sha[65];
    char *payload = payload_of(l, sha);
    int personal = l->kind == TALLY_LICENSE_PERSONAL_DEV;
    json_t *ev = json_pack("{s:s, s:I, s:{s:{s:s, s:s, s:o, s:o, s:I, s:I, s:s, s:s, s:s}}}", "tenant_id",
                           TALLY_TEST_TENANT, "occurred_at", (json_int_t)now_ms, "payload", "LicenseIssued",
                           "license_id", l->license_id, "kind", personal ? "personal_dev" : "environment",
                           "member_id", personal ? json_string(l->subject_id) : json_null(), "environment_id",
                           personal ? json_null() : json_string(l->subject_id), "valid_from",
                           (json_int_t)(l->valid_from * 1000), "valid_until", (json_int_t)(l->valid_until * 1000),
                           "key_id", l->key_id, "payload_sha256", sha, "payload", payload);
    cr_assert_not_null(ev);
    free(payload);
    return ev;
}

static json_t *branch(json_t *ev)
{
    return json_object_get(json_object_get(ev, "payload"), "LicenseIssued");
}

Test(gateway_licenses, an_agreeing_issue_and_a_revocation_arrive_as_sent)
{
    long long now = tally_test_now_ms();
    char answer[2048], sha[65];
    tally_license_t personal = license(now / 1000, 1), env = license(now / 1000, 0);
    char *want_payload = payload_of(&personal, sha);

    cr_assert_eq(post_json(issued_event(&personal, now), answer, sizeof answer), 202, "%s", answer);
    cr_assert_eq(post_json(issued_event(&env, now), answer, sizeof answer), 202, "%s", answer);
    cr_assert_eq(post_json(json_pack("{s:s, s:I, s:{s:{s:s, s:s}}}", "tenant_id", TALLY_TEST_TENANT, "occurred_at",
                                     (json_int_t)now, "payload", "LicenseRevoked", "license_id", LICENSE_ID,
                                     "reason", "left the team"),
                           answer, sizeof answer),
                 202, "%s", answer);

    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(routes_gw.controlpanel_topic, 3, 500, 30000, &recs);
    cr_assert_eq(n, 3);
    const tally_catalog_entry_t *v3 = tally_catalog_latest(routes_cat, "ControlPanelEvent");
    cr_assert_not_null(v3);
    tally_decoder_t *dec = tally_decoder_new_any(routes_cat);
    tally_json_avro_t *conv = tally_json_avro_new(v3->json, NULL, answer, sizeof answer);
    cr_assert_not_null(conv, "%s", answer);
    const char *want[3] = {"LicenseIssued", "LicenseIssued", "LicenseRevoked"};
    for (size_t i = 0; i < n; i++) {
        avro_value_t *v;
        const tally_catalog_entry_t *w;
        cr_assert_eq(tally_decoder_decode(dec, recs[i].value, recs[i].len, &v, &w, answer, sizeof answer), 0, "%s",
                     answer);
        cr_assert_eq(w, v3, "record %zu written as the latest ControlPanelEvent", i);
        json_t *j;
        cr_assert_eq(tally_json_avro_to_json(conv, v, &j, answer, sizeof answer), 0, "%s", answer);
        json_t *p = json_object_get(json_object_get(j, "payload"), want[i]);
        cr_assert_not_null(p, "record %zu is a %s", i, want[i]);
        if (i == 0) {
            cr_assert_str_eq(json_string_value(json_object_get(p, "payload")), want_payload);
            cr_assert_str_eq(json_string_value(json_object_get(p, "payload_sha256")), sha);
            cr_assert_str_eq(json_string_value(json_object_get(p, "kind")), "personal_dev");
            cr_assert_str_eq(json_string_value(json_object_get(p, "member_id")), "m-1");
            cr_assert(json_is_null(json_object_get(p, "environment_id")));
        }
        if (i == 1)
            cr_assert_str_eq(json_string_value(json_object_get(p, "environment_id")), "prod");
        json_decref(j);
    }
    tally_json_avro_free(conv);
    tally_decoder_free(dec);
    tally_test_records_free(recs, n);
    free(want_payload);
}

Test(gateway_licenses, an_issue_that_disagrees_with_its_payload_is_422_naming_the_field_and_sends_nothing)
{
    long long now = tally_test_now_ms();
    char answer[2048], sha[65];
    tally_license_t l = license(now / 1000, 1);
    char *payload = payload_of(&l, sha);
    char upper[65];
    for (int i = 0; i < 65; i++)
        upper[i] = (char)(sha[i] >= 'a' && sha[i] <= 'f' ? sha[i] - 32 : sha[i]);
    if (strcmp(upper, sha) == 0)
        upper[0] = 'A';
    tally_license_t other_tenant = l;
    snprintf(other_tenant.tenant_id, sizeof other_tenant.tenant_id, "tenant-globex");
    char other_sha[65];
    char *other_payload = payload_of(&other_tenant, other_sha);
    char *spaced = malloc(strlen(payload) + 2);
    spaced[0] = ' ';
    strcpy(spaced + 1, payload);
    char spaced_sha[65];
    tally_test_sha256_hex(spaced, spaced_sha);

    for (int i = 0;; i++) {
        json_t *ev = issued_event(&l, now), *b = branch(ev);
        const char *field;
        switch (i) {
        case 0: json_object_set_new(b, "payload_sha256", json_string(upper)); field = "payload_sha256"; break;
        case 1: json_object_set_new(b, "payload_sha256", json_string(sha + 1)); field = "payload_sha256"; break;
        case 2: json_object_set_new(b, "payload_sha256", json_string(other_sha)); field = "payload_sha256"; break;
        case 3:
            json_object_set_new(b, "payload", json_string(spaced));
            json_object_set_new(b, "payload_sha256", json_string(spaced_sha));
            field = "canonical";
            break;
        case 4:
            json_object_set_new(b, "payload", json_string(other_payload));
            json_object_set_new(b, "payload_sha256", json_string(other_sha));
            field = "tenant_id";
            break;
        case 5:
            json_object_set_new(b, "license_id", json_string("00000000-0000-4000-8000-000000000001"));
            field = "license_id";
            break;
        case 6: json_object_set_new(b, "kind", json_string("environment")); field = "kind"; break;
        case 7: json_object_set_new(b, "member_id", json_string("m-2")); field = "member_id"; break;
        case 8: json_object_set_new(b, "member_id", json_null()); field = "member_id"; break;
        case 9: json_object_set_new(b, "environment_id", json_string("prod")); field = "environment_id"; break;
        case 10:
            json_object_set_new(b, "valid_until", json_integer((l.valid_until + 1) * 1000));
            field = "valid_until";
            break;
        case 11:
            json_object_set_new(b, "valid_from", json_integer((l.valid_from - 1) * 1000));
            field = "valid_from";
            break;
        case 12: json_object_set_new(b, "key_id", json_string("2027-01")); field = "key_id"; break;
        case 13: json_object_set_new(b, "payload", json_string("")); field = "payload"; break;
        default: json_decref(ev); field = NULL; break;
        }
        if (field == NULL)
            break;
        cr_assert_eq(post_json(ev, answer, sizeof answer), 422, "case %d: %s", i, answer);
        cr_assert(strstr(answer, field) != NULL, "case %d names %s: %s", i, field, answer);
    }
    cr_assert_eq(post_json(json_pack("{s:s, s:I, s:{s:{s:s, s:s}}}", "tenant_id", TALLY_TEST_TENANT, "occurred_at",
                                     (json_int_t)now, "payload", "LicenseRevoked", "license_id", LICENSE_ID,
                                     "reason", ""),
                           answer, sizeof answer),
                 422, "%s", answer);
    cr_assert(strstr(answer, "reason") != NULL, "%s", answer);
    /* The agreeing event itself is accepted. */
    cr_assert_eq(post_json(issued_event(&l, now), answer, sizeof answer), 202, "%s", answer);

    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(routes_gw.controlpanel_topic, 1, 1500, 10000, &recs);
    cr_assert_eq(n, 1, "only the valid event reached Kafka");
    tally_test_records_free(recs, n);
    free(payload);
    free(other_payload);
    free(spaced);
}

/* docs/licenses.md's test vector, posted as the console posts an issue
 * (the event shape the report and docs show): accepted, the payload
 * arriving byte for byte. */
Test(gateway_licenses, the_test_vectors_issue_event_is_accepted)
{
    long long now = tally_test_now_ms();
    char answer[2048], sha[65];
    json_error_t je;
    FILE *f = fopen(tally_test_source_path("tests/data/licenses/vector.payload.json"), "rb");
    cr_assert_not_null(f);
    char payload[4096];
    size_t n = fread(payload, 1, sizeof payload - 1, f);
    fclose(f);
    payload[n] = '\0';
    tally_test_sha256_hex(payload, sha);
    cr_assert_str_eq(sha, "23122cba1449404b3f365858dbbfce346456d8e6d291f49ba842eb5bb999c23c");
    json_t *ev = json_loads("{\"tenant_id\": \"acme\", \"occurred_at\": 0, \"payload\": {\"LicenseIssued\": {"
                            "\"license_id\": \"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0\", \"kind\": \"personal_dev\","
                            " \"member_id\": \"m-ada\", \"environment_id\": null,"
                            " \"valid_from\": \"2026-12-07T00:00:00Z\", \"valid_until\": 1799193600000,"
                            " \"key_id\": \"test-2026-12\", \"payload_sha256\": \""
                            "23122cba1449404b3f365858dbbfce346456d8e6d291f49ba842eb5bb999c23c\"}}}",
                            0, &je);
    cr_assert_not_null(ev, "%s", je.text);
    json_object_set_new(ev, "occurred_at", json_integer(now));
    json_object_set_new(json_object_get(json_object_get(ev, "payload"), "LicenseIssued"), "payload",
                        json_string(payload));
    cr_assert_eq(post_json(ev, answer, sizeof answer), 202, "%s", answer);

    tally_test_record_t *recs;
    size_t got = tally_test_topic_read(routes_gw.controlpanel_topic, 1, 500, 30000, &recs);
    cr_assert_eq(got, 1);
    int found = 0;
    for (size_t i = 0; !found && i + n <= recs[0].len; i++)
        found = memcmp((const char *)recs[0].value + i, payload, n) == 0;
    cr_assert(found, "the payload arrives byte for byte");
    tally_test_records_free(recs, got);
}
