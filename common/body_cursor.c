/* The reading layer under body_reader.c's walker (body_cursor.h). */
#include "body_cursor.h"

#include "codec.h"
#include "errbuf.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *tally_body_scratch(tally_body_reader_t *br, size_t n)
{
    if (n > br->scratch_cap) {
        br->scratch_cap = n > 2 * br->scratch_cap ? n : 2 * br->scratch_cap;
        br->scratch = tally_xrealloc(br->scratch, br->scratch_cap, 1);
    }
    return br->scratch;
}

int tally_body_error(cursor_t *c, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tally_errbuf_set(c->errbuf, c->errsize, "undecodable body at byte %zu: %s",
              (size_t)(c->p - c->start), msg);
    return TALLY_CODEC_ERR_BODY;
}

int tally_body_store_error(cursor_t *c, const char *what)
{
    tally_errbuf_set(c->errbuf, c->errsize, "cannot store %s at byte %zu: %s", what,
              (size_t)(c->p - c->start), avro_strerror());
    return c->resolved ? TALLY_CODEC_ERR_UNRESOLVABLE : TALLY_CODEC_ERR_BODY;
}

int tally_body_default_error(cursor_t *c, const char *why)
{
    tally_errbuf_set(c->errbuf, c->errsize, "reader default does not fit its field: %s", why);
    return TALLY_CODEC_ERR_UNRESOLVABLE;
}

avro_schema_t tally_body_deref(avro_schema_t s)
{
    while (is_avro_link(s))
        s = avro_schema_link_target(s);
    return s;
}

int tally_body_take(cursor_t *c, size_t n, const uint8_t **ptr, const char *what)
{
    if ((size_t)(c->end - c->p) < n)
        return tally_body_error(c, "truncated: %s needs %zu bytes, %zu remain", what, n,
                          (size_t)(c->end - c->p));
    *ptr = c->p;
    c->p += n;
    return 0;
}

int tally_body_read_long(cursor_t *c, int64_t *out)
{
    uint64_t v = 0;

    for (int shift = 0; shift < 64; shift += 7) {
        uint8_t b;
        if (c->p == c->end)
            return tally_body_error(c, "truncated inside a number");
        b = *c->p++;
        if (shift == 63 && b > 1)
            return tally_body_error(c, "number does not fit 64 bits");
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)((v >> 1) ^ (0 - (v & 1)));
            return 0;
        }
    }
    return tally_body_error(c, "number longer than 10 bytes");
}

int tally_body_read_int(cursor_t *c, int32_t *out)
{
    int64_t v;
    int rc = tally_body_read_long(c, &v);

    if (rc != 0)
        return rc;
    if (v < INT32_MIN || v > INT32_MAX)
        return tally_body_error(c, "int %" PRId64 " out of range", v);
    *out = (int32_t)v;
    return 0;
}

int tally_body_read_span(cursor_t *c, const uint8_t **ptr, size_t *n, const char *what)
{
    int64_t len;
    int rc = tally_body_read_long(c, &len);

    if (rc != 0)
        return rc;
    if (len < 0)
        return tally_body_error(c, "%s with negative length %" PRId64, what, len);
    if ((uint64_t)len > (uint64_t)(c->end - c->p))
        return tally_body_error(c, "%s of %" PRId64 " bytes but only %zu remain", what, len,
                          (size_t)(c->end - c->p));
    *ptr = c->p;
    *n = (size_t)len;
    c->p += len;
    return 0;
}

uint64_t tally_body_le_bytes(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

int tally_body_can_be_empty(avro_schema_t s, int depth)
{
    switch (avro_typeof(s)) {
    case AVRO_NULL:
    case AVRO_LINK:
        return 1;
    case AVRO_FIXED:
        return avro_schema_fixed_size(s) == 0;
    case AVRO_RECORD:
        if (depth > TALLY_BODY_MAX_DEPTH)
            return 1;
        for (size_t i = 0; i < avro_schema_record_size(s); i++)
            if (!tally_body_can_be_empty(avro_schema_record_field_get_by_index(s, (int)i), depth + 1))
                return 0;
        return 1;
    default:
        return 0;
    }
}

const rec_plan_t *tally_body_rec_plan(const cursor_t *c, avro_schema_t record)
{
    for (size_t i = 0; i < c->br->nrecs; i++)
        if (c->br->recs[i].record == record)
            return &c->br->recs[i];
    return NULL;
}

int tally_body_to_reader_symbol(cursor_t *c, avro_schema_t wenum, int32_t *idx)
{
    for (size_t i = 0; i < c->br->nenums; i++) {
        if (c->br->enums[i].writer != wenum)
            continue;
        if (c->br->enums[i].to_reader[*idx] < 0)
            break;
        *idx = c->br->enums[i].to_reader[*idx];
        return 0;
    }
    tally_errbuf_set(c->errbuf, c->errsize, "symbol %s of enum %s at byte %zu is not in the reader schema",
              avro_schema_enum_get(wenum, *idx), avro_schema_name(wenum), (size_t)(c->p - c->start));
    return TALLY_CODEC_ERR_UNRESOLVABLE;
}
