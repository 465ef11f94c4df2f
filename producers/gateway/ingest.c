#include "ingest.h"

#include "codec.h"
#include "cp_rules.h"
#include "json_avro.h"
#include "json_reader.h"
#include "optout.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Random bytes for event ids, fetched this many ids at a time. */
#define UUID_POOL 64
/* Room for a tenant, environment or project id read from an event. */
#define ID_SIZE 256

/* Per route: its schema, converter, reusable value and encoder, and where
 * the fields the gateway reads sit in its records (-1: not in it). */
typedef struct {
    const tally_catalog_entry_t *schema;
    tally_json_avro_t *conv;
    avro_value_t value;
    tally_encoder_t *enc;
    tally_gw_topic_t topic;
    int event, source, project, install, tenant, env, event_id, received_at;
    int time;                        /* the event time the rules check: occurred_at or observed_at */
    int counters[5];                 /* usage reports: as counter_names */
    int started;                     /* usage reports: reporter_started_at */
} route_codec_t;

static const char *const counter_names[5] = {"seq", "api_calls", "status_4xx", "status_5xx", "exec_ms"};

struct tally_ingest_t {
    tally_ingest_rules_t rules;
    route_codec_t routes[TALLY_ROUTE_COUNT];
    char key[72];
    unsigned char pool[16 * UUID_POOL];
    size_t pool_left;                /* unused ids left in pool */
    int64_t now_ms;                  /* the clock now_text holds */
    char now_text[24];
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
    in->now_ms = -1;
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
        avro_schema_t s = rc->schema->schema;
        rc->event = avro_schema_record_field_get_index(s, "event");
        rc->source = avro_schema_record_field_get_index(s, "source");
        rc->project = avro_schema_record_field_get_index(s, "project_id");
        rc->install = avro_schema_record_field_get_index(s, "install_id");
        rc->tenant = avro_schema_record_field_get_index(s, "tenant_id");
        rc->env = avro_schema_record_field_get_index(s, "environment_id");
        rc->event_id = avro_schema_record_field_get_index(s, "event_id");
        rc->received_at = avro_schema_record_field_get_index(s, "received_at");
        int product = r == TALLY_ROUTE_PRODUCT, usage = r == TALLY_ROUTE_USAGE, missing = 0;
        rc->time = avro_schema_record_field_get_index(s, usage ? "observed_at" : "occurred_at");
        for (int k = 0; k < 5; k++)
            if ((rc->counters[k] = usage ? avro_schema_record_field_get_index(s, counter_names[k]) : 0) < 0)
                missing = 1;
        rc->started = usage ? avro_schema_record_field_get_index(s, "reporter_started_at") : 0;
        if ((product && (rc->event < 0 || rc->source < 0 || rc->project < 0 || rc->install < 0)) ||
            (!product && rc->tenant < 0) || (usage && (rc->env < 0 || rc->started < 0)) || rc->time < 0 ||
            missing) {
            fprintf(stderr, "tally-gateway: schema %s lacks a field the gateway reads\n", route_schema[r]);
            abort();
        }
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

/* A random (version 4) UUID as a JSON string, as event ids are: a fill's
 * make (arg: the ingest), so only events without an id draw random bytes,
 * which come in pools (one system call per UUID_POOL ids). */
static void make_uuid(void *arg, char *buf, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    tally_ingest_t *in = arg;
    if (size < 39)
        abort();
    if (in->pool_left == 0) {
        randombytes_buf(in->pool, sizeof in->pool);
        in->pool_left = UUID_POOL;
    }
    unsigned char *b = in->pool + 16 * --in->pool_left;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    char *o = buf;
    *o++ = '"';
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 15];
    }
    *o++ = '"';
    *o = '\0';
}

/* Field i of rec as a string (s[0..len), NUL-terminated); -1 when it is
 * not a string (or a ["null", "string"] union holding null). */
static int get_string(avro_value_t *rec, int i, const char **s, size_t *len)
{
    avro_value_t f, b;
    size_t size;
    if (i < 0 || avro_value_get_by_index(rec, (size_t)i, &f, NULL) != 0)
        return -1;
    if (avro_value_get_type(&f) == AVRO_UNION) {
        if (avro_value_get_current_branch(&f, &b) != 0)
            return -1;
        f = b;
    }
    if (avro_value_get_type(&f) != AVRO_STRING || avro_value_get_string(&f, s, &size) != 0 || size == 0)
        return -1;
    *len = size - 1;
    return 0;
}

static int get_long(avro_value_t *rec, int i, int64_t *v)
{
    avro_value_t f;
    return avro_value_get_by_index(rec, (size_t)i, &f, NULL) == 0 && avro_value_get_long(&f, v) == 0 ? 0 : -1;
}

static int check_time(const tally_ingest_rules_t *rules, route_codec_t *rc, int64_t now, char *why, size_t whysize)
{
    const char *field = avro_schema_record_field_name(rc->schema->schema, rc->time);
    int64_t t;
    if (get_long(&rc->value, rc->time, &t) != 0) {
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

static int check_usage(route_codec_t *rc, char *why, size_t whysize)
{
    int64_t v[5];
    for (int i = 0; i < 5; i++) {
        if (get_long(&rc->value, rc->counters[i], &v[i]) != 0 || v[i] < 0) {
            snprintf(why, whysize, "%s: must be a non-negative integer", counter_names[i]);
            return -1;
        }
        /* seq (0) is an order, never summed: any non-negative value. */
        if (i > 0 && v[i] > TALLY_USAGE_COUNTER_MAX) {
            snprintf(why, whysize, "%s: larger than %" PRId64 " (2^50), the largest counter accepted",
                     counter_names[i], TALLY_USAGE_COUNTER_MAX);
            return -1;
        }
    }
    /* Each is at most 2^50 here, so the sum cannot overflow. */
    if (v[2] + v[3] > v[1]) {
        snprintf(why, whysize, "status_4xx + status_5xx: more than api_calls");
        return -1;
    }
    int64_t started, observed;
    if (get_long(&rc->value, rc->started, &started) != 0 || get_long(&rc->value, rc->time, &observed) != 0 ||
        started > observed) {
        snprintf(why, whysize, "reporter_started_at: after observed_at");
        return -1;
    }
    return 0;
}

/* A key that spreads product events by installation without putting the
 * raw install id in a Kafka key. */
static size_t install_key(tally_ingest_t *in, const char *id, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char h[16];
    crypto_generichash(h, sizeof h, (const unsigned char *)id, len, NULL, 0);
    for (size_t i = 0; i < sizeof h; i++) {
        in->key[2 * i] = hex[h[i] >> 4];
        in->key[2 * i + 1] = hex[h[i] & 15];
    }
    return 2 * sizeof h;
}

static int same(const char *s, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(s, want, len) == 0;
}

/* Whether the event is within scope: from the converted value, or, when
 * the event did not convert, from its text (the answer is then 403 rather
 * than 422 when it speaks for someone else, whatever else is wrong). */
static int in_scope(route_codec_t *rc, tally_route_t route, int converted, const char *text, size_t len,
                    const tally_ingest_scope_t *scope)
{
    char buf[ID_SIZE];
    const char *s;
    size_t n;
    if (converted) {
        if (get_string(&rc->value, rc->tenant, &s, &n) != 0 || !same(s, n, scope->tenant))
            return 0;
        if (route == TALLY_ROUTE_USAGE && (get_string(&rc->value, rc->env, &s, &n) != 0 || !same(s, n, scope->env)))
            return 0;
        return 1;
    }
    if (tally_json_reader_find_string(text, len, "tenant_id", buf, sizeof buf, &n) != 1 || n >= sizeof buf ||
        !same(buf, n, scope->tenant))
        return 0;
    if (route == TALLY_ROUTE_USAGE &&
        (tally_json_reader_find_string(text, len, "environment_id", buf, sizeof buf, &n) != 1 || n >= sizeof buf ||
         !same(buf, n, scope->env)))
        return 0;
    return 1;
}

/* Whether a product event that did not convert belongs to an opted-out
 * project: it is dropped, not rejected, as a valid one would be. */
static int opted_out_text(tally_optout_t *optout, const char *text, size_t len)
{
    char buf[ID_SIZE];
    size_t n;
    return tally_json_reader_find_string(text, len, "project_id", buf, sizeof buf, &n) == 1 && n < sizeof buf &&
           tally_optout_contains_n(optout, buf, n);
}

int tally_ingest_event(tally_ingest_t *in, tally_route_t route, const char *text, size_t len, int64_t now_ms,
                       const tally_ingest_scope_t *scope, tally_ingest_record_t *out, const char **reason,
                       char *why, size_t whysize)
{
    route_codec_t *rc = &in->routes[route];
    const tally_ingest_rules_t *rules = &in->rules;
    tally_json_avro_fill_t fill[2];
    size_t n_fill = 0;
    *reason = "schema";

    /* Server-set fields: received_at always, event_id when the client sent none. */
    if (rc->received_at >= 0) {
        if (now_ms != in->now_ms) {
            snprintf(in->now_text, sizeof in->now_text, "%" PRId64, now_ms);
            in->now_ms = now_ms;
        }
        fill[n_fill++] = (tally_json_avro_fill_t){"received_at", in->now_text, NULL, NULL, true};
    }
    if (rc->event_id >= 0)
        fill[n_fill++] = (tally_json_avro_fill_t){"event_id", NULL, make_uuid, in, false};
    /* No reset: the conversion overwrites the whole value (json_avro.h). */
    int converted = tally_json_avro_from_text(rc->conv, text, len, &rc->value, fill, n_fill, why, whysize) == 0;
    if (scope != NULL && !in_scope(rc, route, converted, text, len, scope))
        return TALLY_INGEST_FORBIDDEN;
    if (!converted) {
        if (route == TALLY_ROUTE_PRODUCT && rules->optout && opted_out_text(rules->optout, text, len))
            return TALLY_INGEST_DROPPED;
        return TALLY_INGEST_REJECTED;
    }

    const char *s;
    size_t n;
    switch (route) {
    case TALLY_ROUTE_PRODUCT: {
        if (rules->optout && get_string(&rc->value, rc->project, &s, &n) == 0 &&
            tally_optout_contains_n(rules->optout, s, n))
            return TALLY_INGEST_DROPPED;
        avro_value_t f;
        int sym;
        if (get_string(&rc->value, rc->event, &s, &n) != 0 ||
            avro_value_get_by_index(&rc->value, (size_t)rc->source, &f, NULL) != 0 ||
            avro_value_get_enum(&f, &sym) != 0)
            abort(); /* the converter filled both: a bug otherwise */
        const char *source = avro_schema_enum_get(avro_value_get_schema(&f), sym);
        int ev = tally_event_catalog_find(rules->events, s, n);
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
        if (check_time(rules, rc, now_ms, why, whysize) != 0)
            return TALLY_INGEST_REJECTED;
        if (get_string(&rc->value, rc->install, &s, &n) != 0)
            abort();
        out->key_len = install_key(in, s, n);
        break;
    }
    case TALLY_ROUTE_USAGE:
        *reason = "counter";
        if (check_usage(rc, why, whysize) != 0)
            return TALLY_INGEST_REJECTED;
        *reason = "timestamp";
        if (check_time(rules, rc, now_ms, why, whysize) != 0)
            return TALLY_INGEST_REJECTED;
        break;
    case TALLY_ROUTE_SEATS:
    case TALLY_ROUTE_CONTROLPANEL:
        *reason = "timestamp";
        if (check_time(rules, rc, now_ms, why, whysize) != 0)
            return TALLY_INGEST_REJECTED;
        *reason = "schema";
        if (route == TALLY_ROUTE_CONTROLPANEL && tally_cp_rules_check(&rc->value, &rules->cp, why, whysize) != 0)
            return TALLY_INGEST_REJECTED;
        break;
    default:
        abort();
    }
    if (route != TALLY_ROUTE_PRODUCT) {
        if (get_string(&rc->value, rc->tenant, &s, &n) != 0)
            abort();
        if (n >= sizeof in->key) {
            *reason = "schema";
            snprintf(why, whysize, "tenant_id: longer than %zu bytes", sizeof in->key - 1);
            return TALLY_INGEST_REJECTED;
        }
        memcpy(in->key, s, n);
        out->key_len = n;
    }
    *reason = "other";
    if (tally_encoder_encode(rc->enc, &rc->value, &out->value, &out->len, why, whysize) != 0)
        return TALLY_INGEST_REJECTED;
    out->key = in->key;
    out->topic = rc->topic;
    *reason = NULL;
    return 0;
}
