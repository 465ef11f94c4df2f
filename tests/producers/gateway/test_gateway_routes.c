/* tally-gateway on the real broker: every route's happy path, with the
 * records read back from the topic and decoded equal to what was sent;
 * partial batches; NDJSON and gzip; authentication and scope; opt-out;
 * health, readiness and metrics. */
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
#include <zlib.h>

TestSuite(gateway_routes, .init = routes_setup, .fini = routes_teardown, .timeout = 120);

/* Decodes a record of topic into JSON with the writer's schema. */
static json_t *decode(const tally_test_record_t *rec, const char **schema_name)
{
    char err[512];
    tally_decoder_t *dec = tally_decoder_new_any(routes_cat);
    avro_value_t *v;
    const tally_catalog_entry_t *w;
    cr_assert_eq(tally_decoder_decode(dec, rec->value, rec->len, &v, &w, err, sizeof err), 0, "%s", err);
    tally_json_avro_t *conv = tally_json_avro_new(w->json, NULL, err, sizeof err);
    cr_assert_not_null(conv, "%s", err);
    json_t *j;
    cr_assert_eq(tally_json_avro_to_json(conv, v, &j, err, sizeof err), 0, "%s", err);
    *schema_name = w->name;
    tally_json_avro_free(conv);
    tally_decoder_free(dec);
    return j;
}

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    cr_assert_not_null(j, "not JSON: %s", text);
    return j;
}

static void assert_accepted(tally_test_response_t *r, long status, int accepted, int rejected)
{
    cr_assert_eq(r->status, status, "status %ld: %s", r->status, r->body);
    json_t *j = parse(r->body);
    cr_assert_eq(json_integer_value(json_object_get(j, "accepted")), accepted, "%s", r->body);
    cr_assert_eq(json_array_size(json_object_get(j, "rejected")), (size_t)rejected, "%s", r->body);
    json_decref(j);
}

static char *product_event(const char *event_id, const char *event, const char *project)
{
    char *s = malloc(1024);
    long long now = tally_test_now_ms();
    snprintf(s, 1024,
             "{%s%s%s\"source\":\"CLI\",\"event\":\"%s\",\"occurred_at\":%lld,"
             "\"install_id\":\"install-7f3a\",\"project_id\":\"%s\",\"version\":\"5.2.1\",\"ci\":false,"
             "\"properties\":{\"template\":\"blog\",\"language\":\"typescript\"}}",
             event_id ? "\"event_id\":\"" : "", event_id ? event_id : "", event_id ? "\"," : "", event, now - 1000,
             project);
    return s;
}

Test(gateway_routes, product_event_arrives_decoded_equal)
{
    char *body = product_event("0d9c3f3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "project.create.start", "project-1");
    tally_test_response_t r = tally_test_gateway_post(&routes_gw, "/v1/product/events", "application/json", NULL, body,
                                                      strlen(body));
    assert_accepted(&r, 202, 1, 0);
    tally_test_response_free(&r);

    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(routes_gw.product_topic, 1, 1000, 30000, &recs);
    cr_assert_eq(n, 1);
    const char *schema;
    json_t *got = decode(&recs[0], &schema), *sent = parse(body);
    cr_assert_str_eq(schema, "ProductEvent");
    const char *fields[] = {"event_id", "source", "event", "install_id", "project_id", "version"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        cr_assert_str_eq(json_string_value(json_object_get(got, fields[i])),
                         json_string_value(json_object_get(sent, fields[i])), "%s", fields[i]);
    cr_assert(json_equal(json_object_get(got, "properties"), json_object_get(sent, "properties")));
    cr_assert(json_is_false(json_object_get(got, "ci")));
    cr_assert(json_is_string(json_object_get(got, "received_at")), "the gateway sets received_at");
    cr_assert_eq(recs[0].key_len, 32, "the key is a hash, not the install id");
    cr_assert_null(strstr(recs[0].key, "install-7f3a"));
    json_decref(got);
    json_decref(sent);
    tally_test_records_free(recs, n);
    free(body);
}

Test(gateway_routes, usage_report_is_acknowledged_and_decoded_equal)
{
    long long now = tally_test_now_ms();
    char body[1024];
    snprintf(body, sizeof body,
             "{\"tenant_id\":\"%s\",\"environment_id\":\"%s\",\"reporter_id\":\"2F1C9A4E-8B7D-4C3A-9E21-5D6F7A8B9C0D\","
             "\"reporter_started_at\":%lld,\"seq\":3,\"observed_at\":\"2026-01-01T00:00:00Z\",\"api_calls\":1000,"
             "\"status_4xx\":10,\"status_5xx\":2,\"exec_ms\":12345}",
             TALLY_TEST_TENANT, TALLY_TEST_ENV, now - 3600000);
    /* observed_at far in the past is refused; use now. */
    char *at = strstr(body, "\"2026-01-01T00:00:00Z\"");
    char stamp[32];
    snprintf(stamp, sizeof stamp, "%lld", now - 500);
    memmove(at + strlen(stamp), at + 22, strlen(at + 22) + 1);
    memcpy(at, stamp, strlen(stamp));
    tally_test_response_t r = tally_test_gateway_post(&routes_gw, "/v1/usage/reports", "application/json",
                                                      TALLY_TEST_API_KEY, body, strlen(body));
    assert_accepted(&r, 202, 1, 0);
    tally_test_response_free(&r);

    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(routes_gw.usage_topic, 1, 500, 30000, &recs);
    cr_assert_eq(n, 1, "202 came after the broker's ack: the record is there");
    const char *schema;
    json_t *got = decode(&recs[0], &schema);
    cr_assert_str_eq(schema, "UsageReport");
    cr_assert_str_eq(recs[0].key, TALLY_TEST_TENANT);
    cr_assert_str_eq(json_string_value(json_object_get(got, "reporter_id")), "2f1c9a4e-8b7d-4c3a-9e21-5d6f7a8b9c0d");
    cr_assert_eq(json_integer_value(json_object_get(got, "seq")), 3);
    cr_assert_eq(json_integer_value(json_object_get(got, "api_calls")), 1000);
    cr_assert_eq(json_integer_value(json_object_get(got, "status_4xx")), 10);
    cr_assert_eq(json_integer_value(json_object_get(got, "status_5xx")), 2);
    cr_assert_eq(json_integer_value(json_object_get(got, "exec_ms")), 12345);
    json_decref(got);
    tally_test_records_free(recs, n);
}

Test(gateway_routes, seat_event_and_controlpanel_event_arrive)
{
    long long now = tally_test_now_ms();
    char body[1024];
    snprintf(body, sizeof body, "{\"tenant_id\":\"%s\",\"user_id\":\"user-42\",\"op\":\"ASSIGNED\",\"occurred_at\":%lld}",
             TALLY_TEST_TENANT, now);
    tally_test_response_t r = tally_test_gateway_post(&routes_gw, "/v1/usage/seats", "application/json",
                                                      TALLY_TEST_API_KEY, body, strlen(body));
    assert_accepted(&r, 202, 1, 0);
    tally_test_response_free(&r);

    snprintf(body, sizeof body,
             "{\"tenant_id\":\"%s\",\"occurred_at\":%lld,\"payload\":{\"MemberAdded\":{\"member_id\":\"m-1\","
             "\"first_name\":\"Ada\",\"last_name\":\"Lovelace\",\"email\":\"ada@example.com\",\"role\":\"admin\"}}}",
             TALLY_TEST_TENANT, now);
    r = tally_test_gateway_post(&routes_gw, "/v1/controlpanel/events", "application/json", TALLY_TEST_ADMIN_TOKEN, body,
                                strlen(body));
    assert_accepted(&r, 202, 1, 0);
    tally_test_response_free(&r);

    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(routes_gw.usage_topic, 1, 500, 30000, &recs);
    cr_assert_eq(n, 1);
    const char *schema;
    json_t *got = decode(&recs[0], &schema);
    cr_assert_str_eq(schema, "SeatEvent");
    cr_assert_str_eq(json_string_value(json_object_get(got, "op")), "ASSIGNED");
    cr_assert_str_eq(json_string_value(json_object_get(got, "user_id")), "user-42");
    cr_assert(json_is_string(json_object_get(got, "event_id")), "the gateway sets an event_id");
    json_decref(got);
    tally_test_records_free(recs, n);

    n = tally_test_topic_read(routes_gw.controlpanel_topic, 1, 500, 30000, &recs);
    cr_assert_eq(n, 1);
    got = decode(&recs[0], &schema);
    cr_assert_str_eq(schema, "ControlPanelEvent");
    json_t *member = json_object_get(json_object_get(got, "payload"), "MemberAdded");
    cr_assert_str_eq(json_string_value(json_object_get(member, "email")), "ada@example.com");
    json_decref(got);
    tally_test_records_free(recs, n);
}

Test(gateway_routes, batch_is_accepted_per_event)
{
    char *a = product_event(NULL, "deploy.start", "p-1"), *c = product_event(NULL, "deploy.end", "p-1");
    char body[4096];
    snprintf(body, sizeof body, "[%s, {\"source\":\"CLI\",\"event\":\"no.such.event\"}, 42, %s]", a, c);
    tally_test_response_t r = tally_test_gateway_post(&routes_gw, "/v1/product/events", "application/json", NULL, body,
                                                      strlen(body));
    assert_accepted(&r, 202, 2, 2);
    json_t *j = parse(r.body);
    json_t *rej = json_object_get(j, "rejected");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(rej, 0), "index")), 1);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(rej, 1), "index")), 2);
    json_decref(j);
    tally_test_response_free(&r);
    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(routes_gw.product_topic, 2, 1500, 30000, &recs);
    cr_assert_eq(n, 2, "only the good events are produced");
    tally_test_records_free(recs, n);
    free(a);
    free(c);
}

Test(gateway_routes, ndjson_gzip_and_sendbeacon_bodies)
{
    char *a = product_event(NULL, "admin.started", "p-2"), *b = product_event(NULL, "telemetry.enabled", "p-2");
    /* admin.started is an ADMIN event: fix the source. */
    char *src = strstr(a, "\"CLI\"");
    memmove(src + 7, src + 5, strlen(src + 5) + 1);
    memcpy(src, "\"ADMIN\"", 7);
    char nd[4096];
    int len = snprintf(nd, sizeof nd, "%s\n\n%s\n", a, b);
    unsigned char gz[4096];
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    cr_assert_eq(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)nd;
    zs.avail_in = (uInt)len;
    zs.next_out = gz;
    zs.avail_out = sizeof gz;
    cr_assert_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t gzlen = zs.total_out;
    deflateEnd(&zs);

    char url[128];
    snprintf(url, sizeof url, "%s/v1/product/events", routes_gw.base_url);
    const char *h[] = {"Content-Type: application/x-ndjson", "Content-Encoding: gzip", NULL};
    tally_test_response_t r = tally_test_http("POST", url, h, gz, gzlen, 0);
    assert_accepted(&r, 202, 2, 0);
    tally_test_response_free(&r);

    const char *beacon[] = {"Content-Type: text/plain;charset=UTF-8", "Origin: https://admin.example.com", NULL};
    r = tally_test_http("POST", url, beacon, b, strlen(b), 0);
    assert_accepted(&r, 202, 1, 0);
    cr_assert_str_eq(tally_test_header(&r, "Access-Control-Allow-Origin"), "https://admin.example.com");
    tally_test_response_free(&r);

    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(routes_gw.product_topic, 3, 1500, 30000, &recs);
    cr_assert_eq(n, 3);
    tally_test_records_free(recs, n);
    free(a);
    free(b);
}

Test(gateway_routes, authentication_and_scope)
{
    long long now = tally_test_now_ms();
    char body[1024];
    snprintf(body, sizeof body,
             "{\"tenant_id\":\"%s\",\"environment_id\":\"%s\",\"reporter_id\":\"2f1c9a4e-8b7d-4c3a-9e21-5d6f7a8b9c0d\","
             "\"reporter_started_at\":%lld,\"seq\":1,\"observed_at\":%lld,\"api_calls\":1,\"status_4xx\":0,"
             "\"status_5xx\":0,\"exec_ms\":1}",
             TALLY_TEST_TENANT, TALLY_TEST_ENV, now - 1000, now);
    tally_test_response_t r = tally_test_gateway_post(&routes_gw, "/v1/usage/reports", "application/json", NULL, body,
                                                      strlen(body));
    cr_assert_eq(r.status, 401, "no key: %s", r.body);
    tally_test_response_free(&r);
    r = tally_test_gateway_post(&routes_gw, "/v1/usage/reports", "application/json", "tk_wrong_key", body,
                                strlen(body));
    cr_assert_eq(r.status, 401, "unknown key: %s", r.body);
    cr_assert_null(strstr(r.body, "tk_wrong_key"), "the answer never echoes the key");
    tally_test_response_free(&r);
    /* The staging key may not report for the production environment. */
    r = tally_test_gateway_post(&routes_gw, "/v1/usage/reports", "application/json", TALLY_TEST_API_KEY_STAGING, body,
                                strlen(body));
    cr_assert_eq(r.status, 403, "other environment: %s", r.body);
    tally_test_response_free(&r);
    /* Another tenant, in a batch with a good one: nothing goes through. */
    char batch[2200];
    char *other = strdup(body);
    char *t = strstr(other, TALLY_TEST_TENANT);
    memcpy(t, "tenant-evil", 11);
    snprintf(batch, sizeof batch, "[%s,%s]", body, other);
    r = tally_test_gateway_post(&routes_gw, "/v1/usage/reports", "application/json", TALLY_TEST_API_KEY, batch,
                                strlen(batch));
    cr_assert_eq(r.status, 403, "%s", r.body);
    tally_test_response_free(&r);
    free(other);
    /* An unknown admin token is no credential (401); an API key is one,
     * out of its scope (403). */
    r = tally_test_gateway_post(&routes_gw, "/v1/controlpanel/events", "application/json", "not-the-admin-token", body,
                                strlen(body));
    cr_assert_eq(r.status, 401, "%s", r.body);
    cr_assert_not_null(tally_test_header(&r, "WWW-Authenticate"));
    tally_test_response_free(&r);
    r = tally_test_gateway_post(&routes_gw, "/v1/controlpanel/events", "application/json", TALLY_TEST_API_KEY, body,
                                strlen(body));
    cr_assert_eq(r.status, 403, "%s", r.body);
    tally_test_response_free(&r);

    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(routes_gw.usage_topic, 0, 1500, 5000, &recs);
    cr_assert_eq(n, 0, "nothing unauthorised reaches Kafka");
    tally_test_records_free(recs, n);
    n = tally_test_topic_read(routes_gw.controlpanel_topic, 0, 500, 3000, &recs);
    cr_assert_eq(n, 0);
    tally_test_records_free(recs, n);
}

Test(gateway_routes, opted_out_project_is_answered_but_dropped)
{
    char *body = product_event(NULL, "deploy.start", TALLY_TEST_OPTED_OUT_PROJECT);
    tally_test_response_t r = tally_test_gateway_post(&routes_gw, "/v1/product/events", "application/json", NULL, body,
                                                      strlen(body));
    assert_accepted(&r, 202, 1, 0);
    tally_test_response_free(&r);
    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(routes_gw.product_topic, 0, 1500, 5000, &recs);
    cr_assert_eq(n, 0);
    tally_test_records_free(recs, n);
    char url[128];
    snprintf(url, sizeof url, "%s/metrics", routes_gw.base_url);
    r = tally_test_http("GET", url, NULL, NULL, 0, 0);
    cr_assert(strstr(r.body, "tally_gateway_optout_dropped_total 1\n") != NULL, "%s", r.body);
    tally_test_response_free(&r);
    free(body);
}

Test(gateway_routes, health_readiness_metrics_and_preflight)
{
    char url[128];
    snprintf(url, sizeof url, "%s/healthz", routes_gw.base_url);
    tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 0);
    cr_assert_eq(r.status, 200);
    tally_test_response_free(&r);
    snprintf(url, sizeof url, "%s/readyz", routes_gw.base_url);
    r = tally_test_http("GET", url, NULL, NULL, 0, 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    tally_test_response_free(&r);
    snprintf(url, sizeof url, "%s/metrics", routes_gw.base_url);
    r = tally_test_http("GET", url, NULL, NULL, 0, 0);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "# TYPE tally_gateway_requests_total counter") != NULL);
    const char *ready = strstr(r.body, "tally_gateway_requests_total{route=\"/readyz\",status=\"200\"} ");
    cr_assert(ready != NULL && atoi(strchr(ready, '}') + 2) >= 1, "readiness checks are counted: %s", r.body);
    cr_assert(strstr(r.body, "tally_gateway_queue_depth") != NULL);
    cr_assert(strstr(r.body, "tally_gateway_api_keys_active 2\n") != NULL, "%s", r.body);
    cr_assert(strstr(r.body, "tally_gateway_api_keys_age_seconds ") != NULL, "%s", r.body);
    cr_assert(strstr(r.body, "tally_gateway_produce_latency_seconds_bucket") != NULL);
    tally_test_response_free(&r);

    snprintf(url, sizeof url, "%s/v1/product/events", routes_gw.base_url);
    const char *ok[] = {"Origin: https://admin.example.com", "Access-Control-Request-Method: POST", NULL};
    r = tally_test_http("OPTIONS", url, ok, NULL, 0, 0);
    cr_assert_eq(r.status, 204);
    cr_assert_str_eq(tally_test_header(&r, "Access-Control-Allow-Origin"), "https://admin.example.com");
    cr_assert_not_null(tally_test_header(&r, "Access-Control-Allow-Methods"));
    tally_test_response_free(&r);
    const char *bad[] = {"Origin: https://evil.example.net", "Access-Control-Request-Method: POST", NULL};
    r = tally_test_http("OPTIONS", url, bad, NULL, 0, 0);
    cr_assert_eq(r.status, 403);
    cr_assert_null(tally_test_header(&r, "Access-Control-Allow-Origin"));
    tally_test_response_free(&r);
}

/* Readiness also means "the producer queue has room" (architecture.md):
 * with records held back by a long linger, a queue filled past 90 % of
 * --queue-max-messages makes /readyz answer 503 and say why, so a load
 * balancer sends traffic elsewhere before requests start to fail. */
Test(gateway_readiness, saturated_producer_queue_fails_readiness, .timeout = 120)
{
    tally_test_gateway_t g;
    const char *args[] = {"--queue-max-messages=100", "--ack-timeout=120s", "-X", "linger.ms=60000", NULL};
    tally_test_gateway_start(&g, args);
    char url[128];
    snprintf(url, sizeof url, "%s/readyz", g.base_url);
    tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 0);
    cr_assert_eq(r.status, 200, "ready before the queue fills: %s", r.body);
    tally_test_response_free(&r);

    size_t cap = 95 * 400, len = 0;
    char *body = malloc(cap);
    cr_assert_not_null(body);
    body[len++] = '[';
    for (int i = 0; i < 95; i++) {
        char *e = product_event(NULL, "deploy.start", "p-queue");
        len += (size_t)snprintf(body + len, cap - len, "%s%s", i ? "," : "", e);
        free(e);
        cr_assert_lt(len, cap - 2);
    }
    body[len++] = ']';
    r = tally_test_gateway_post(&g, "/v1/product/events", "application/json", NULL, body, len);
    assert_accepted(&r, 202, 95, 0);
    tally_test_response_free(&r);
    free(body);

    r = tally_test_http("GET", url, NULL, NULL, 0, 0);
    cr_assert_eq(r.status, 503, "95 of 100 records queued: not ready (%ld %s)", r.status, r.body);
    cr_assert(strstr(r.body, "saturated") != NULL, "/readyz says why: %s", r.body);
    tally_test_response_free(&r);
    /* SIGTERM flushes (the linger is cut short): every record is delivered
     * and the gateway exits 0, which the fixture checks. */
    tally_test_gateway_stop(&g);
    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(g.product_topic, 95, 1000, 30000, &recs);
    cr_assert_eq(n, 95, "the queued records were delivered at shutdown");
    tally_test_records_free(recs, n);
}
