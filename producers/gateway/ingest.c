#include "ingest.h"

#include "codec.h"
#include "json_avro.h"
#include "optout.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per route: its schema, converter, reusable value and encoder. */
typedef struct {
    const tally_catalog_entry_t *schema;
    tally_json_avro_t *conv;
    avro_value_t value;
    tally_encoder_t *enc;
    tally_gw_topic_t topic;
} route_codec_t;

struct tally_ingest_t {
    tally_ingest_rules_t rules;
    route_codec_t routes[TALLY_ROUTE_COUNT];
    char key[72];
};

static const char *const route_schema[TALLY_ROUTE_COUNT] = {
    "ProductEvent", "UsageReport", "SeatEvent", "ControlPanelEvent",
};
static const tally_gw_topic_t route_topic[TALLY_ROUTE_COUNT] = {
    TALLY_TOPIC_PRODUCT_RAW, TALLY_TOPIC_USAGE_RAW, TALLY_TOPIC_USAGE_RAW, TALLY_TOPIC_CONTROLPANEL,
};

tally_ingest_t *tally_ingest_new(const tally_ingest_rules_t *rules)
{
    char err[512];
    tally_ingest_t *in = calloc(1, sizeof *in);
    if (in == NULL || sodium_init() < 0)
        abort();
    in->rules = *rules;
    tally_json_avro_options_t opts = {.max_string_bytes = rules->max_string};
    for (int r = 0; r < TALLY_ROUTE_COUNT; r++) {
        route_codec_t *rc = &in->routes[r];
        rc->schema = tally_catalog_latest(rules->schemas, route_schema[r]);
        if (rc->schema == NULL) {
            fprintf(stderr, "tally-gateway: the schema catalog has no %s\n", route_schema[r]);
            abort();
        }
        rc->conv = tally_json_avro_new(rc->schema->json, &opts, err, sizeof err);
        if (rc->conv == NULL || tally_json_avro_check_schema(rc->conv, rc->schema->schema, err, sizeof err) != 0 ||
            tally_codec_value_new(rc->schema, &rc->value, err, sizeof err) != 0) {
            fprintf(stderr, "tally-gateway: schema %s: %s\n", route_schema[r], err);
            abort();
        }
        rc->enc = tally_encoder_new(rc->schema);
        rc->topic = route_topic[r];
    }
    return in;
}

void tally_ingest_free(tally_ingest_t *in)
{
    if (in == NULL)
        return;
    for (int r = 0; r < TALLY_ROUTE_COUNT; r++) {
        route_codec_t *rc = &in->routes[r];
        tally_json_avro_free(rc->conv);
        if (rc->schema)
            avro_value_decref(&rc->value);
        tally_encoder_free(rc->enc);
    }
    free(in);
}

/* A random (version 4) UUID, as event ids are. */
static json_t *new_uuid(void)
{
    unsigned char b[16];
    char s[37];
    randombytes_buf(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(s, sizeof s, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return json_string(s);
}

static int get_long(avro_value_t *rec, const char *field, int64_t *v)
{
    avro_value_t f;
    return avro_value_get_by_name(rec, field, &f, NULL) == 0 && avro_value_get_long(&f, v) == 0 ? 0 : -1;
}

static int check_time(const tally_ingest_rules_t *rules, avro_value_t *rec, const char *field, int64_t now,
                      char *why, size_t whysize)
{
    int64_t t;
    if (get_long(rec, field, &t) != 0) {
        snprintf(why, whysize, "%s: missing", field);
        return -1;
    }
    if (t > now + rules->max_future_ms) {
        snprintf(why, whysize, "%s: more than %" PRId64 " s in the future", field, rules->max_future_ms / 1000);
        return -1;
    }
    if (t < now - rules->max_past_ms) {
        snprintf(why, whysize, "%s: older than %" PRId64 " days", field, rules->max_past_ms / 86400000);
        return -1;
    }
    return 0;
}

static int check_usage(avro_value_t *rec, char *why, size_t whysize)
{
    static const char *const counters[] = {"seq", "api_calls", "status_4xx", "status_5xx", "exec_ms"};
    int64_t v[5];
    for (int i = 0; i < 5; i++) {
        if (get_long(rec, counters[i], &v[i]) != 0 || v[i] < 0) {
            snprintf(why, whysize, "%s: must be a non-negative integer", counters[i]);
            return -1;
        }
    }
    if (v[2] > v[1] || v[3] > v[1] || v[2] + v[3] > v[1]) {
        snprintf(why, whysize, "status_4xx + status_5xx: more than api_calls");
        return -1;
    }
    int64_t started, observed;
    if (get_long(rec, "reporter_started_at", &started) != 0 || get_long(rec, "observed_at", &observed) != 0 ||
        started > observed) {
        snprintf(why, whysize, "reporter_started_at: after observed_at");
        return -1;
    }
    return 0;
}

/* A key that spreads product events by installation without putting the
 * raw install id in a Kafka key. */
static size_t install_key(tally_ingest_t *in, const json_t *event)
{
    const char *id = json_string_value(json_object_get(event, "install_id"));
    unsigned char h[16];
    crypto_generichash(h, sizeof h, (const unsigned char *)(id ? id : ""), id ? strlen(id) : 0, NULL, 0);
    sodium_bin2hex(in->key, sizeof in->key, h, sizeof h);
    return 2 * sizeof h;
}

int tally_ingest_in_scope(tally_route_t route, const json_t *event, const char *tenant, const char *env)
{
    const char *t = json_string_value(json_object_get(event, "tenant_id"));
    if (t == NULL || strcmp(t, tenant) != 0)
        return 0;
    if (route == TALLY_ROUTE_USAGE) {
        const char *e = json_string_value(json_object_get(event, "environment_id"));
        if (e == NULL || strcmp(e, env) != 0)
            return 0;
    }
    return 1;
}

int tally_ingest_event(tally_ingest_t *in, tally_route_t route, json_t *event, int64_t now_ms,
                       tally_ingest_record_t *out, const char **reason, char *why, size_t whysize)
{
    route_codec_t *rc = &in->routes[route];
    const tally_ingest_rules_t *rules = &in->rules;
    *reason = "schema";

    if (route == TALLY_ROUTE_PRODUCT && rules->optout) {
        const json_t *project = json_object_get(event, "project_id");
        if (json_is_string(project) &&
            tally_optout_contains_n(rules->optout, json_string_value(project), json_string_length(project)))
            return TALLY_INGEST_DROPPED;
    }
    /* Server-set fields: received_at always, event_id when the client sent none. */
    if (route != TALLY_ROUTE_USAGE) {
        if (json_object_get(event, "event_id") == NULL)
            json_object_set_new(event, "event_id", new_uuid());
        if (route != TALLY_ROUTE_SEATS)
            json_object_set_new(event, "received_at", json_integer(now_ms));
    }
    avro_value_reset(&rc->value);
    if (tally_json_avro_from_json(rc->conv, event, &rc->value, why, whysize) != 0)
        return TALLY_INGEST_REJECTED;

    switch (route) {
    case TALLY_ROUTE_PRODUCT: {
        const char *name = json_string_value(json_object_get(event, "event"));
        const char *source = json_string_value(json_object_get(event, "source"));
        int ev = tally_event_catalog_find(rules->events, name, strlen(name));
        *reason = "catalog";
        if (ev < 0) {
            snprintf(why, whysize, "event: not an event of the catalog");
            return TALLY_INGEST_REJECTED;
        }
        if (!tally_event_catalog_source_allowed(rules->events, ev,
                                                strcmp(source, "CLI") == 0 ? TALLY_SOURCE_CLI : TALLY_SOURCE_ADMIN)) {
            snprintf(why, whysize, "source: this event is not sent by %s", source);
            return TALLY_INGEST_REJECTED;
        }
        *reason = "timestamp";
        if (check_time(rules, &rc->value, "occurred_at", now_ms, why, whysize) != 0)
            return TALLY_INGEST_REJECTED;
        out->key_len = install_key(in, event);
        break;
    }
    case TALLY_ROUTE_USAGE:
        *reason = "counter";
        if (check_usage(&rc->value, why, whysize) != 0)
            return TALLY_INGEST_REJECTED;
        *reason = "timestamp";
        if (check_time(rules, &rc->value, "observed_at", now_ms, why, whysize) != 0)
            return TALLY_INGEST_REJECTED;
        break;
    case TALLY_ROUTE_SEATS:
    case TALLY_ROUTE_CONTROLPANEL:
        *reason = "timestamp";
        if (check_time(rules, &rc->value, "occurred_at", now_ms, why, whysize) != 0)
            return TALLY_INGEST_REJECTED;
        break;
    default:
        abort();
    }
    if (route != TALLY_ROUTE_PRODUCT) {
        const char *tenant = json_string_value(json_object_get(event, "tenant_id"));
        out->key_len = (size_t)snprintf(in->key, sizeof in->key, "%s", tenant);
        if (out->key_len >= sizeof in->key) {
            *reason = "schema";
            snprintf(why, whysize, "tenant_id: longer than %zu bytes", sizeof in->key - 1);
            return TALLY_INGEST_REJECTED;
        }
    }
    *reason = "other";
    if (tally_encoder_encode(rc->enc, &rc->value, &out->value, &out->len, why, whysize) != 0)
        return TALLY_INGEST_REJECTED;
    out->key = in->key;
    out->topic = rc->topic;
    *reason = NULL;
    return 0;
}
