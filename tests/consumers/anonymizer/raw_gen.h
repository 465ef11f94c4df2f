/*
 * raw_gen.h: builds raw records (ProductEvent, SeatEvent, UsageReport) the
 * way the gateway writes them, with the project's codec, for the
 * anonymizer's tests and benchmark. Header-only (static functions) so that
 * both the Criterion suites and tests/bench can include it; no Criterion.
 */
#ifndef TALLY_TEST_RAW_GEN_H
#define TALLY_TEST_RAW_GEN_H

#include "codec.h"
#include "schema_catalog.h"

#include <avro.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct raw_gen_t {
    const tally_catalog_entry_t *product, *seat, *usage;
    avro_value_t pv, sv, uv;
    tally_encoder_t *penc, *senc, *uenc;
} raw_gen_t;

typedef struct raw_product_t {
    const char *event_id, *source, *event, *install_id;
    const char *project_id, *version;          /* NULL: null */
    int64_t occurred_at, received_at;
    int ci, new_user;                          /* -1: null */
    const char *const *props;                  /* key, value, key, value, ... */
    size_t n_props;                            /* pairs */
    const char *error_message, *error_stack;   /* NULL: no error / no stack */
} raw_product_t;

static inline int raw_gen_init(raw_gen_t *g, const tally_catalog_t *cat)
{
    char err[256];
    memset(g, 0, sizeof *g);
    g->product = tally_catalog_latest(cat, "ProductEvent");
    g->seat = tally_catalog_latest(cat, "SeatEvent");
    g->usage = tally_catalog_latest(cat, "UsageReport");
    if (!g->product || !g->seat || !g->usage || tally_codec_value_new(g->product, &g->pv, err, sizeof err) ||
        tally_codec_value_new(g->seat, &g->sv, err, sizeof err) ||
        tally_codec_value_new(g->usage, &g->uv, err, sizeof err))
        return -1;
    g->penc = tally_encoder_new(g->product);
    g->senc = tally_encoder_new(g->seat);
    g->uenc = tally_encoder_new(g->usage);
    return 0;
}

static inline void raw_gen_done(raw_gen_t *g)
{
    avro_value_decref(&g->pv);
    avro_value_decref(&g->sv);
    avro_value_decref(&g->uv);
    tally_encoder_free(g->penc);
    tally_encoder_free(g->senc);
    tally_encoder_free(g->uenc);
}

static inline int raw_set_str(avro_value_t *rec, const char *field, const char *s)
{
    avro_value_t f;
    return avro_value_get_by_name(rec, field, &f, NULL) || avro_value_set_string(&f, s);
}

static inline int raw_set_long(avro_value_t *rec, const char *field, int64_t v)
{
    avro_value_t f;
    return avro_value_get_by_name(rec, field, &f, NULL) || avro_value_set_long(&f, v);
}

static inline int raw_set_enum(avro_value_t *rec, const char *field, const char *symbol)
{
    avro_value_t f;
    if (avro_value_get_by_name(rec, field, &f, NULL))
        return -1;
    int i = avro_schema_enum_get_by_name(avro_value_get_schema(&f), symbol);
    return i < 0 || avro_value_set_enum(&f, i);
}

/* ["null", string] */
static inline int raw_set_opt_str(avro_value_t *rec, const char *field, const char *s)
{
    avro_value_t f, b;
    if (avro_value_get_by_name(rec, field, &f, NULL))
        return -1;
    if (s == NULL)
        return avro_value_set_branch(&f, 0, &b) || avro_value_set_null(&b);
    return avro_value_set_branch(&f, 1, &b) || avro_value_set_string(&b, s);
}

static inline int raw_set_opt_bool(avro_value_t *rec, const char *field, int v)
{
    avro_value_t f, b;
    if (avro_value_get_by_name(rec, field, &f, NULL))
        return -1;
    if (v < 0)
        return avro_value_set_branch(&f, 0, &b) || avro_value_set_null(&b);
    return avro_value_set_branch(&f, 1, &b) || avro_value_set_boolean(&b, v);
}

/* Encodes p; *out points into the generator (valid until its next call). */
static inline int raw_gen_product(raw_gen_t *g, const raw_product_t *p, const void **out, size_t *len)
{
    char err[256];
    avro_value_t *v = &g->pv, f, b, e;
    avro_value_reset(v);
    if (raw_set_str(v, "event_id", p->event_id) || raw_set_enum(v, "source", p->source) ||
        raw_set_str(v, "event", p->event) || raw_set_long(v, "occurred_at", p->occurred_at) ||
        raw_set_long(v, "received_at", p->received_at) || raw_set_str(v, "install_id", p->install_id) ||
        raw_set_opt_str(v, "project_id", p->project_id) || raw_set_opt_str(v, "version", p->version) ||
        raw_set_opt_bool(v, "ci", p->ci) || raw_set_opt_bool(v, "new_user", p->new_user) ||
        avro_value_get_by_name(v, "properties", &f, NULL))
        return -1;
    for (size_t i = 0; i < p->n_props; i++) {
        avro_value_t item;
        if (avro_value_add(&f, p->props[2 * i], &item, NULL, NULL) ||
            avro_value_set_string(&item, p->props[2 * i + 1]))
            return -1;
    }
    if (avro_value_get_by_name(v, "error", &f, NULL))
        return -1;
    if (p->error_message == NULL) {
        if (avro_value_set_branch(&f, 0, &b) || avro_value_set_null(&b))
            return -1;
    } else if (avro_value_set_branch(&f, 1, &e) || raw_set_str(&e, "message", p->error_message) ||
               raw_set_opt_str(&e, "stack", p->error_stack)) {
        return -1;
    }
    return tally_encoder_encode(g->penc, v, out, len, err, sizeof err);
}

static inline int raw_gen_seat(raw_gen_t *g, const char *event_id, const char *tenant, const char *user,
                               const char *op, int64_t occurred_at, const void **out, size_t *len)
{
    char err[256];
    avro_value_t *v = &g->sv;
    avro_value_reset(v);
    if (raw_set_str(v, "event_id", event_id) || raw_set_str(v, "tenant_id", tenant) ||
        raw_set_str(v, "user_id", user) || raw_set_enum(v, "op", op) || raw_set_long(v, "occurred_at", occurred_at))
        return -1;
    return tally_encoder_encode(g->senc, v, out, len, err, sizeof err);
}

static inline int raw_gen_usage(raw_gen_t *g, const char *tenant, const char *env, const char *reporter_id,
                                int64_t started_at, int64_t seq, int64_t observed_at, int64_t api_calls,
                                const void **out, size_t *len)
{
    char err[256];
    avro_value_t *v = &g->uv;
    avro_value_reset(v);
    if (raw_set_str(v, "tenant_id", tenant) || raw_set_str(v, "environment_id", env) ||
        raw_set_str(v, "reporter_id", reporter_id) || raw_set_long(v, "reporter_started_at", started_at) ||
        raw_set_long(v, "seq", seq) || raw_set_long(v, "observed_at", observed_at) ||
        raw_set_long(v, "api_calls", api_calls) || raw_set_long(v, "status_4xx", api_calls / 10) ||
        raw_set_long(v, "status_5xx", api_calls / 100) || raw_set_long(v, "exec_ms", api_calls * 3))
        return -1;
    return tally_encoder_encode(g->uenc, v, out, len, err, sizeof err);
}

/* A UUID made from n, distinct for distinct n (test data, not random). */
static inline void raw_uuid(char out[37], uint64_t tag, uint64_t n)
{
    snprintf(out, 37, "%08x-%04x-4%03x-8%03x-%012llx", (unsigned)(tag & 0xffffffffu), (unsigned)((n >> 48) & 0xffff),
             (unsigned)((n >> 36) & 0xfff), (unsigned)((n >> 24) & 0xfff), (unsigned long long)(n & 0xffffffffffffULL));
}

#endif /* TALLY_TEST_RAW_GEN_H */
