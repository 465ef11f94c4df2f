#include "changelog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void grow(tally_changelog_buf_t *b, size_t more)
{
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < more) {
        if (cap > SIZE_MAX / 2) {
            fputs("changelog: buffer too large\n", stderr);
            abort();
        }
        cap *= 2;
    }
    unsigned char *p = realloc(b->data, cap);
    if (p == NULL) {
        fprintf(stderr, "changelog: out of memory (%zu bytes)\n", cap);
        abort();
    }
    b->data = p;
    b->cap = cap;
}

/* Room for `more` bytes: once a buffer is grown, a plain check per field. */
static inline void reserve(tally_changelog_buf_t *b, size_t more)
{
    if (__builtin_expect(b->cap - b->len < more, 0))
        grow(b, more);
}

void tally_changelog_buf_reset(tally_changelog_buf_t *b)
{
    b->len = 0;
}

void tally_changelog_buf_free(tally_changelog_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static inline void put_byte(tally_changelog_buf_t *b, unsigned char c)
{
    reserve(b, 1);
    b->data[b->len++] = c;
}

/* Writes v at b->data + b->len; the caller reserved 10 bytes. */
static inline void write_uvarint(tally_changelog_buf_t *b, uint64_t v)
{
    unsigned char *p = b->data + b->len;
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    b->len = (size_t)(p - b->data);
}

static inline void put_uvarint(tally_changelog_buf_t *b, uint64_t v)
{
    reserve(b, 10);
    write_uvarint(b, v);
}

static inline void put_long(tally_changelog_buf_t *b, int64_t v)
{
    /* Zigzag without shifting a negative number. */
    uint64_t u = (uint64_t)v;
    put_uvarint(b, (u << 1) ^ (v < 0 ? UINT64_MAX : 0));
}

static inline void put_str(tally_changelog_buf_t *b, const char *s, size_t len)
{
    if (len > SIZE_MAX - 10) {
        fputs("changelog: string too large\n", stderr);
        abort();
    }
    reserve(b, 10 + len);
    write_uvarint(b, len);
    if (len)
        memcpy(b->data + b->len, s, len);
    b->len += len;
}

static inline void put_event(tally_changelog_buf_t *b, const tally_changelog_seat_event_t *e)
{
    unsigned char *p;
    uint64_t at = (uint64_t)e->at;
    reserve(b, TALLY_CHANGELOG_EVENT_LEN);
    p = b->data + b->len;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &at, 8);
#else
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(at >> (8 * i));
#endif
    memcpy(p + 8, e->id, TALLY_CHANGELOG_EVENT_ID_LEN);
    p[8 + TALLY_CHANGELOG_EVENT_ID_LEN] = e->op;
    b->len += TALLY_CHANGELOG_EVENT_LEN;
}

void tally_changelog_key_reporter(tally_changelog_buf_t *b, const char *tenant, size_t tenant_len,
                                  const char *env, size_t env_len, const char *reporter,
                                  size_t reporter_len)
{
    put_byte(b, TALLY_CHANGELOG_REPORTER);
    put_str(b, tenant, tenant_len);
    put_str(b, env, env_len);
    put_str(b, reporter, reporter_len);
}

void tally_changelog_key_api_day(tally_changelog_buf_t *b, const char *tenant, size_t tenant_len,
                                 const char *env, size_t env_len, int32_t day)
{
    put_byte(b, TALLY_CHANGELOG_API_DAY);
    put_str(b, tenant, tenant_len);
    put_str(b, env, env_len);
    put_long(b, day);
}

void tally_changelog_key_seat(tally_changelog_buf_t *b, const char *tenant, size_t tenant_len,
                              const char *seat_ref, size_t seat_ref_len)
{
    put_byte(b, TALLY_CHANGELOG_SEAT);
    put_str(b, tenant, tenant_len);
    put_str(b, seat_ref, seat_ref_len);
}

void tally_changelog_key_meta(tally_changelog_buf_t *b)
{
    put_byte(b, TALLY_CHANGELOG_META);
}

void tally_changelog_key_position(tally_changelog_buf_t *b)
{
    put_byte(b, TALLY_CHANGELOG_POSITION);
}

void tally_changelog_value_reporter(tally_changelog_buf_t *b, int64_t seq, const int64_t counters[4],
                                    int64_t last_observed_at)
{
    put_byte(b, TALLY_CHANGELOG_VERSION);
    put_long(b, seq);
    for (int i = 0; i < 4; i++)
        put_long(b, counters[i]);
    put_long(b, last_observed_at);
}

void tally_changelog_value_api_day(tally_changelog_buf_t *b, const int64_t sums[4],
                                   int64_t updated_at)
{
    put_byte(b, TALLY_CHANGELOG_VERSION);
    for (int i = 0; i < 4; i++)
        put_long(b, sums[i]);
    put_long(b, updated_at);
}

void tally_changelog_value_seat(tally_changelog_buf_t *b, const tally_changelog_seat_event_t *base,
                                size_t n_events)
{
    /* The whole value at once: its events then only check. */
    if (n_events <= (SIZE_MAX - 64) / TALLY_CHANGELOG_EVENT_LEN)
        reserve(b, 2 + TALLY_CHANGELOG_EVENT_LEN + 10 + n_events * TALLY_CHANGELOG_EVENT_LEN);
    put_byte(b, TALLY_CHANGELOG_VERSION);
    put_byte(b, base ? 1 : 0);
    if (base)
        put_event(b, base);
    put_uvarint(b, n_events);
}

void tally_changelog_value_seat_event(tally_changelog_buf_t *b,
                                      const tally_changelog_seat_event_t *event)
{
    put_event(b, event);
}

void tally_changelog_value_meta(tally_changelog_buf_t *b, bool has_closed_through,
                                int32_t api_closed_through)
{
    put_byte(b, TALLY_CHANGELOG_VERSION);
    put_byte(b, has_closed_through ? 1 : 0);
    if (has_closed_through)
        put_long(b, api_closed_through);
}

void tally_changelog_value_position(tally_changelog_buf_t *b, int64_t next_offset)
{
    put_byte(b, TALLY_CHANGELOG_VERSION);
    put_long(b, next_offset);
}

/* Decoding: a cursor over borrowed bytes. */
typedef struct {
    const unsigned char *p, *end;
    const char *what; /* the field being read, for the error */
} reader_t;

static int get_uvarint(reader_t *r, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p == r->end)
            return -1;
        unsigned char c = *r->p++;
        if (shift == 63 && (c & 0x7e))
            return -1; /* more than 64 bits */
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            if (c == 0 && shift > 0)
                return -1; /* overlong: keys must have one encoding */
            *out = v;
            return 0;
        }
    }
    return -1;
}

static int get_long(reader_t *r, int64_t *out)
{
    uint64_t u;
    if (get_uvarint(r, &u) != 0)
        return -1;
    uint64_t v = (u >> 1) ^ (0 - (u & 1));
    memcpy(out, &v, sizeof v);
    return 0;
}

static int get_str(reader_t *r, const char **s, size_t *len)
{
    uint64_t n;
    if (get_uvarint(r, &n) != 0 || n > (uint64_t)(r->end - r->p))
        return -1;
    *s = (const char *)r->p;
    *len = (size_t)n;
    r->p += n;
    return 0;
}

static int get_day(reader_t *r, int32_t *day)
{
    int64_t v;
    if (get_long(r, &v) != 0 || v < INT32_MIN || v > INT32_MAX)
        return -1;
    *day = (int32_t)v;
    return 0;
}

static void read_event(const unsigned char *p, tally_changelog_seat_event_t *e)
{
    uint64_t at = 0;
    for (int i = 0; i < 8; i++)
        at |= (uint64_t)p[i] << (8 * i);
    memcpy(&e->at, &at, sizeof at);
    memcpy(e->id, p + 8, TALLY_CHANGELOG_EVENT_ID_LEN);
    e->op = p[8 + TALLY_CHANGELOG_EVENT_ID_LEN];
}

static int get_event(reader_t *r, tally_changelog_seat_event_t *e)
{
    if (r->end - r->p < TALLY_CHANGELOG_EVENT_LEN)
        return -1;
    read_event(r->p, e);
    r->p += TALLY_CHANGELOG_EVENT_LEN;
    return e->op <= 1 ? 0 : -1;
}

static int decode_key(reader_t *r, tally_changelog_entry_t *out)
{
    r->what = "key kind";
    if (r->p == r->end)
        return -1;
    out->kind = (tally_changelog_kind_t)*r->p++;
    switch (out->kind) {
    case TALLY_CHANGELOG_REPORTER:
    case TALLY_CHANGELOG_API_DAY:
        r->what = "tenant_id";
        if (get_str(r, &out->tenant, &out->tenant_len) != 0)
            return -1;
        r->what = "environment_id";
        if (get_str(r, &out->environment, &out->environment_len) != 0)
            return -1;
        if (out->kind == TALLY_CHANGELOG_REPORTER) {
            r->what = "reporter_id";
            return get_str(r, &out->name, &out->name_len);
        }
        r->what = "day";
        return get_day(r, &out->day);
    case TALLY_CHANGELOG_SEAT:
        r->what = "tenant_id";
        if (get_str(r, &out->tenant, &out->tenant_len) != 0)
            return -1;
        r->what = "seat_ref";
        return get_str(r, &out->name, &out->name_len);
    case TALLY_CHANGELOG_META:
    case TALLY_CHANGELOG_POSITION:
        return 0;
    }
    return -1;
}

static int decode_value(reader_t *r, tally_changelog_entry_t *out)
{
    r->what = "version";
    if (r->p == r->end || *r->p != TALLY_CHANGELOG_VERSION)
        return -1;
    r->p++;
    switch (out->kind) {
    case TALLY_CHANGELOG_REPORTER:
    case TALLY_CHANGELOG_API_DAY:
        /* A reporter has a seq before the counters and time they share. */
        r->what = "seq";
        if (out->kind == TALLY_CHANGELOG_REPORTER && get_long(r, &out->seq) != 0)
            return -1;
        r->what = "counters";
        for (int i = 0; i < 4; i++)
            if (get_long(r, &out->counters[i]) != 0)
                return -1;
        r->what = "time";
        return get_long(r, &out->time);
    case TALLY_CHANGELOG_SEAT: {
        uint64_t n;
        r->what = "seat flags";
        if (r->p == r->end || (*r->p & ~1u))
            return -1;
        out->has_base = *r->p++ & 1;
        r->what = "seat base event";
        if (out->has_base && get_event(r, &out->base) != 0)
            return -1;
        r->what = "seat event count";
        if (get_uvarint(r, &n) != 0 || n > (uint64_t)(r->end - r->p) / TALLY_CHANGELOG_EVENT_LEN)
            return -1;
        out->n_events = (size_t)n;
        out->events = r->p;
        r->what = "seat event";
        for (size_t i = 0; i < out->n_events; i++) {
            tally_changelog_seat_event_t e;
            if (get_event(r, &e) != 0)
                return -1;
        }
        return 0;
    }
    case TALLY_CHANGELOG_META:
        r->what = "meta flags";
        if (r->p == r->end || (*r->p & ~1u))
            return -1;
        out->has_closed_through = *r->p++ & 1;
        r->what = "api_closed_through";
        return out->has_closed_through ? get_day(r, &out->api_closed_through) : 0;
    case TALLY_CHANGELOG_POSITION:
        r->what = "next_offset";
        return get_long(r, &out->next_offset) != 0 || out->next_offset < 0 ? -1 : 0;
    }
    return -1;
}

int tally_changelog_decode(const void *key, size_t key_len, const void *value, size_t value_len,
                           tally_changelog_entry_t *out, char *errbuf, size_t errsize)
{
    reader_t r = {.p = key, .end = (const unsigned char *)key + key_len};

    memset(out, 0, sizeof *out);
    if (key == NULL || decode_key(&r, out) != 0) {
        snprintf(errbuf, errsize, "changelog key: bad %s", r.what ? r.what : "key");
        return -1;
    }
    if (r.p != r.end) {
        snprintf(errbuf, errsize, "changelog key: trailing bytes");
        return -1;
    }
    if (value == NULL) {
        out->tombstone = true;
        return 0;
    }
    r = (reader_t){.p = value, .end = (const unsigned char *)value + value_len};
    if (decode_value(&r, out) != 0) {
        snprintf(errbuf, errsize, "changelog value (kind %c): bad %s", (char)out->kind, r.what);
        return -1;
    }
    if (r.p != r.end) {
        snprintf(errbuf, errsize, "changelog value (kind %c): trailing bytes", (char)out->kind);
        return -1;
    }
    return 0;
}

void tally_changelog_seat_event(const tally_changelog_entry_t *e, size_t i,
                                tally_changelog_seat_event_t *out)
{
    read_event(e->events + i * TALLY_CHANGELOG_EVENT_LEN, out);
}
