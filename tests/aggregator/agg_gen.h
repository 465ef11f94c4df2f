/*
 * agg_gen.h: builds clean usage records (UsageReport, SeatEventClean) the
 * way tally-anonymizer writes them, with the project's codec, and decodes
 * the rollups tally-aggregator writes; for the aggregator's suites and its
 * benchmark helper. Header-only (static functions), no Criterion.
 */
#ifndef TALLY_TEST_AGG_GEN_H
#define TALLY_TEST_AGG_GEN_H

#include "codec.h"
#include "rollup.h"
#include "schema_catalog.h"

#include <avro.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct agg_gen_t {
    const tally_catalog_entry_t *usage, *seat;
    avro_value_t uv, sv;
    tally_encoder_t *uenc, *senc;
} agg_gen_t;

static inline int agg_gen_init(agg_gen_t *g, const tally_catalog_t *cat)
{
    char err[256];
    memset(g, 0, sizeof *g);
    g->usage = tally_catalog_latest(cat, "UsageReport");
    g->seat = tally_catalog_latest(cat, "SeatEventClean");
    if (!g->usage || !g->seat || tally_codec_value_new(g->usage, &g->uv, err, sizeof err) ||
        tally_codec_value_new(g->seat, &g->sv, err, sizeof err))
        return -1;
    g->uenc = tally_encoder_new(g->usage);
    g->senc = tally_encoder_new(g->seat);
    return 0;
}

static inline void agg_gen_done(agg_gen_t *g)
{
    avro_value_decref(&g->uv);
    avro_value_decref(&g->sv);
    tally_encoder_free(g->uenc);
    tally_encoder_free(g->senc);
}

static inline int agg_set_str(avro_value_t *rec, const char *field, const char *s)
{
    avro_value_t f;
    return avro_value_get_by_name(rec, field, &f, NULL) || avro_value_set_string(&f, s);
}

static inline int agg_set_long(avro_value_t *rec, const char *field, int64_t v)
{
    avro_value_t f;
    return avro_value_get_by_name(rec, field, &f, NULL) || avro_value_set_long(&f, v);
}

/* Encodes r (reporter_started_at: its first observed_at is good enough);
 * *out points into g until its next call. */
static inline int agg_gen_report(agg_gen_t *g, const tally_rollup_report_t *r, const void **out, size_t *len)
{
    char err[256];
    avro_value_t *v = &g->uv;
    avro_value_reset(v);
    if (agg_set_str(v, "tenant_id", r->tenant_id) || agg_set_str(v, "environment_id", r->environment_id) ||
        agg_set_str(v, "reporter_id", r->reporter_id) || agg_set_long(v, "reporter_started_at", r->observed_at) ||
        agg_set_long(v, "seq", r->seq) || agg_set_long(v, "observed_at", r->observed_at) ||
        agg_set_long(v, "api_calls", r->api_calls) || agg_set_long(v, "status_4xx", r->status_4xx) ||
        agg_set_long(v, "status_5xx", r->status_5xx) || agg_set_long(v, "exec_ms", r->exec_ms))
        return -1;
    return tally_encoder_encode(g->uenc, v, out, len, err, sizeof err);
}

static inline int agg_gen_seat(agg_gen_t *g, const tally_rollup_seat_event_t *e, const void **out, size_t *len)
{
    char err[256];
    avro_value_t *v = &g->sv, f;
    avro_value_reset(v);
    if (agg_set_str(v, "event_id", e->event_id) || agg_set_str(v, "tenant_id", e->tenant_id) ||
        agg_set_str(v, "seat_ref", e->seat_ref) || avro_value_get_by_name(v, "op", &f, NULL) ||
        avro_value_set_enum(&f, e->op == TALLY_SEAT_ASSIGNED ? 0 : 1) ||
        agg_set_long(v, "occurred_at", e->occurred_at))
        return -1;
    return tally_encoder_encode(g->senc, v, out, len, err, sizeof err);
}

/* A UUID made from (tag, n), distinct for distinct pairs (test data). */
static inline void agg_uuid(char out[37], uint64_t tag, uint64_t n)
{
    snprintf(out, 37, "%08x-%04x-4%03x-8%03x-%012llx", (unsigned)(tag & 0xffffffffu), (unsigned)((n >> 48) & 0xffff),
             (unsigned)((n >> 36) & 0xfff), (unsigned)((n >> 24) & 0xfff), (unsigned long long)(n & 0xffffffffffffULL));
}

/* One decoded rollup record of tally.rollups. */
typedef struct agg_rollup_t {
    int seat;                   /* 0: ApiUsageRollup, 1: SeatRollup */
    char tenant[128], env[128];
    int32_t day;
    int64_t v[4];               /* api_calls, 4xx, 5xx, exec_ms; or seats_in_use, seats_peak */
    int64_t updated_at;
} agg_rollup_t;

static inline int agg_get_long(avro_value_t *rec, const char *field, int64_t *out)
{
    avro_value_t f;
    return avro_value_get_by_name(rec, field, &f, NULL) || avro_value_get_long(&f, out);
}

/* Decodes a tally.rollups value with an any-decoder. Returns 0 or -1. */
static inline int agg_rollup_decode(tally_decoder_t *dec, const void *buf, size_t len, agg_rollup_t *out)
{
    char err[256];
    avro_value_t *v, f;
    const tally_catalog_entry_t *w;
    const char *s;
    size_t n;
    memset(out, 0, sizeof *out);
    if (tally_decoder_decode(dec, buf, len, &v, &w, err, sizeof err) != 0)
        return -1;
    out->seat = strcmp(w->name, "SeatRollup") == 0;
    if (!out->seat && strcmp(w->name, "ApiUsageRollup") != 0)
        return -1;
    if (avro_value_get_by_name(v, "tenant_id", &f, NULL) || avro_value_get_string(&f, &s, &n))
        return -1;
    snprintf(out->tenant, sizeof out->tenant, "%s", s);
    if (!out->seat) {
        if (avro_value_get_by_name(v, "environment_id", &f, NULL) || avro_value_get_string(&f, &s, &n))
            return -1;
        snprintf(out->env, sizeof out->env, "%s", s);
    }
    if (avro_value_get_by_name(v, "day", &f, NULL) || avro_value_get_int(&f, &out->day))
        return -1;
    if (out->seat)
        return agg_get_long(v, "seats_in_use", &out->v[0]) || agg_get_long(v, "seats_peak", &out->v[1]) ||
               agg_get_long(v, "updated_at", &out->updated_at);
    return agg_get_long(v, "api_calls", &out->v[0]) || agg_get_long(v, "status_4xx", &out->v[1]) ||
           agg_get_long(v, "status_5xx", &out->v[2]) || agg_get_long(v, "exec_ms", &out->v[3]) ||
           agg_get_long(v, "updated_at", &out->updated_at);
}

#endif /* TALLY_TEST_AGG_GEN_H */
