/*
 * Single-object encoding: round trips on the real schemas, the header,
 * every malformed or hostile input an error code (never a crash or a huge
 * allocation: run under ASan too), schema resolution between versions
 * ($TALLY_TEST_DATA/resolution), and no allocation on the hot path.
 */
#define _XOPEN_SOURCE 700   /* nftw */

#include <criterion/criterion.h>

#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <avro.h>

#include "codec.h"
#include "fixtures.h"
#include "schema_catalog.h"

/* ---- allocation counting (not under ASan, which owns malloc) ---------- */

#if !defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCATIONS 1
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t count, size_t n);
extern void *__libc_realloc(void *p, size_t n);
static _Thread_local int counting;
static _Thread_local size_t allocations;

void *malloc(size_t n)
{
    allocations += counting;
    return __libc_malloc(n);
}

void *calloc(size_t count, size_t n)
{
    allocations += counting;
    return __libc_calloc(count, n);
}

void *realloc(void *p, size_t n)
{
    allocations += counting;
    return __libc_realloc(p, n);
}
#endif

/* ---- helpers ---------------------------------------------------------- */

static tally_catalog_t *load(const char *which)
{
    char dir[4096], err[512] = "";
    tally_catalog_t *cat;

    if (strcmp(which, "schemas") == 0) {
        cr_assert_not_null(getenv("TALLY_SOURCE_DIR"), "TALLY_SOURCE_DIR is not set");
        snprintf(dir, sizeof dir, "%s/schemas", getenv("TALLY_SOURCE_DIR"));
    } else if (which[0] == '/') {
        snprintf(dir, sizeof dir, "%s", which);
    } else {
        cr_assert_not_null(getenv("TALLY_TEST_DATA"), "TALLY_TEST_DATA is not set");
        snprintf(dir, sizeof dir, "%s/%s", getenv("TALLY_TEST_DATA"), which);
    }
    cat = tally_catalog_load(dir, err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    return cat;
}

static const tally_catalog_entry_t *latest(const tally_catalog_t *cat, const char *name)
{
    const tally_catalog_entry_t *e = tally_catalog_latest(cat, name);
    cr_assert_not_null(e, "no schema %s", name);
    return e;
}

static avro_value_t field(avro_value_t *rec, const char *name)
{
    avro_value_t f;
    cr_assert_eq(avro_value_get_by_name(rec, name, &f, NULL), 0, "no field %s: %s", name, avro_strerror());
    return f;
}

static void set_string(avro_value_t *rec, const char *name, const char *s)
{
    avro_value_t f = field(rec, name);
    cr_assert_eq(avro_value_set_string(&f, s), 0);
}

static void set_long(avro_value_t *rec, const char *name, int64_t v)
{
    avro_value_t f = field(rec, name);
    cr_assert_eq(avro_value_set_long(&f, v), 0);
}

static void set_int(avro_value_t *rec, const char *name, int32_t v)
{
    avro_value_t f = field(rec, name);
    cr_assert_eq(avro_value_set_int(&f, v), 0);
}

static void set_enum(avro_value_t *rec, const char *name, const char *symbol)
{
    avro_value_t f = field(rec, name);
    int idx = avro_schema_enum_get_by_name(avro_value_get_schema(&f), symbol);
    cr_assert_geq(idx, 0, "no symbol %s", symbol);
    cr_assert_eq(avro_value_set_enum(&f, idx), 0);
}

static const char *get_string(avro_value_t *rec, const char *name)
{
    avro_value_t f = field(rec, name);
    const char *s = NULL;
    size_t n = 0;
    cr_assert_eq(avro_value_get_string(&f, &s, &n), 0, "%s is not a string", name);
    return s;
}

static int64_t get_long(avro_value_t *rec, const char *name)
{
    avro_value_t f = field(rec, name);
    int64_t v = 0;
    cr_assert_eq(avro_value_get_long(&f, &v), 0, "%s is not a long", name);
    return v;
}

static const char *get_enum(avro_value_t *rec, const char *name)
{
    avro_value_t f = field(rec, name);
    int idx = -1;
    cr_assert_eq(avro_value_get_enum(&f, &idx), 0);
    return avro_schema_enum_get(avro_value_get_schema(&f), idx);
}

/* The branch of a union field, with its discriminant. */
static avro_value_t branch(avro_value_t *rec, const char *name, int *disc)
{
    avro_value_t f = field(rec, name), b;
    cr_assert_eq(avro_value_get_discriminant(&f, disc), 0);
    cr_assert_eq(avro_value_get_current_branch(&f, &b), 0, "%s has no branch", name);
    return b;
}

static void fill_usage(avro_value_t *v, int64_t seq)
{
    set_string(v, "tenant_id", "tenant-42");
    set_string(v, "environment_id", "env-production");
    set_string(v, "reporter_id", "6f1c2d9e-8a7b-4c3d-9e0f-1a2b3c4d5e6f");
    set_long(v, "reporter_started_at", INT64_C(1700000000000));
    set_long(v, "seq", seq);
    set_long(v, "observed_at", INT64_C(1700000060000) + seq);
    set_long(v, "api_calls", 123456 + seq);
    set_long(v, "status_4xx", 12);
    set_long(v, "status_5xx", 3);
    set_long(v, "exec_ms", INT64_C(9876543210));
}

static void fill_seat(avro_value_t *v)
{
    set_string(v, "event_id", "0b7c9f3e-1111-4222-8333-944455556666");
    set_string(v, "tenant_id", "tenant-42");
    set_string(v, "seat_ref", "k1:3f9a");
    set_enum(v, "op", "RELEASED");
    set_long(v, "occurred_at", INT64_C(1700000123456));
}

/* ControlPanelEvent with payload branch 1 (EnvironmentCreated) or 5
 * (LicenseTermsSet, which holds an array). */
static void fill_control(avro_value_t *v, int which)
{
    avro_value_t payload = field(v, "payload"), b, features, item;

    set_string(v, "event_id", "5d6e7f80-aaaa-4bbb-8ccc-0123456789ab");
    set_string(v, "tenant_id", "tenant-42");
    set_long(v, "occurred_at", INT64_C(1700000000001));
    set_long(v, "received_at", INT64_C(1700000000002));
    cr_assert_eq(avro_value_set_branch(&payload, which, &b), 0);
    if (which == 1) {
        set_string(&b, "environment_id", "env-staging");
        set_string(&b, "name", "Staging \xc3\xa9t\xc3\xa9");
        set_enum(&b, "kind", "staging");
        set_string(&b, "owner", "member-7");
    } else {
        cr_assert_eq(which, 5);
        set_long(&b, "seats_max", 25);
        set_long(&b, "monthly_api_calls_max", 1000000);
        set_long(&b, "daily_api_calls_max_nonprod", 5000);
        features = field(&b, "features");
        cr_assert_eq(avro_value_reset(&features), 0);
        cr_assert_eq(avro_value_append(&features, &item, NULL), 0);
        cr_assert_eq(avro_value_set_string(&item, "sso"), 0);
        cr_assert_eq(avro_value_append(&features, &item, NULL), 0);
        cr_assert_eq(avro_value_set_string(&item, "audit-log"), 0);
        set_int(&b, "valid_from", 19700);
        set_int(&b, "valid_until", 20065);
    }
}

/* Encodes v and returns a malloc'd copy of the message. */
static uint8_t *encode(tally_encoder_t *enc, avro_value_t *v, size_t *len)
{
    const void *out = NULL;
    char err[512] = "";
    uint8_t *copy;

    cr_assert_eq(tally_encoder_encode(enc, v, &out, len, err, sizeof err), 0, "%s", err);
    copy = malloc(*len);
    memcpy(copy, out, *len);
    return copy;
}

static int decode(tally_decoder_t *dec, const void *buf, size_t len, avro_value_t **v,
                  const tally_catalog_entry_t **w, char *err, size_t errsize)
{
    return tally_decoder_decode(dec, buf, len, v, w, err, errsize);
}

/* Zig-zag varint into p; returns its length. */
static size_t put_long(uint8_t *p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;

    while (z >= 0x80) {
        p[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    p[n++] = (uint8_t)z;
    return n;
}

static size_t put_header(uint8_t *p, const tally_catalog_entry_t *e)
{
    p[0] = 0xC3;
    p[1] = 0x01;
    for (int i = 0; i < 8; i++)
        p[2 + i] = (uint8_t)(e->fingerprint >> (8 * i));
    return TALLY_CODEC_HEADER_LEN;
}

static void expect_code(tally_decoder_t *dec, const uint8_t *buf, size_t len, int want, const char *what)
{
    avro_value_t *v = NULL;
    char err[512] = "";
    int rc = decode(dec, buf, len, &v, NULL, err, sizeof err);

    cr_expect_eq(rc, want, "%s: got %d (%s), want %d (%s): %s", what, rc, tally_codec_error_name(rc),
                 want, tally_codec_error_name(want), err);
    if (rc != 0)
        cr_expect_neq(err[0], '\0', "%s: no message", what);
}

/* ---- round trips and header ------------------------------------------ */

Test(codec, usage_report_round_trip_and_header)
{
    tally_catalog_t *cat = load("schemas");
    const tally_catalog_entry_t *ur = latest(cat, "UsageReport"), *w = NULL;
    tally_encoder_t *enc = tally_encoder_new(ur);
    tally_decoder_t *dec = tally_decoder_new(cat, ur);
    avro_value_t v, *out = NULL;
    const void *raw1, *raw2;
    size_t len, len2;
    uint64_t fp = 0;
    char err[512] = "";
    uint8_t *msg;

    cr_assert_eq(tally_codec_value_new(ur, &v, err, sizeof err), 0, "%s", err);
    fill_usage(&v, 7);
    msg = encode(enc, &v, &len);
    cr_assert_gt(len, TALLY_CODEC_HEADER_LEN);
    cr_expect_eq(msg[0], 0xC3);
    cr_expect_eq(msg[1], 0x01);
    for (int i = 0; i < 8; i++)
        cr_expect_eq(msg[2 + i], (uint8_t)(ur->fingerprint >> (8 * i)), "fingerprint byte %d", i);
    cr_assert_eq(tally_codec_peek_fingerprint(msg, len, &fp, err, sizeof err), 0);
    cr_expect_eq(fp, ur->fingerprint);

    cr_assert_eq(decode(dec, msg, len, &out, &w, err, sizeof err), 0, "%s", err);
    cr_expect_eq(w, ur);
    cr_expect(avro_value_equal(&v, out), "decoded value differs");
    cr_expect_str_eq(get_string(out, "tenant_id"), "tenant-42");
    cr_expect_eq(get_long(out, "seq"), 7);
    cr_expect_eq(get_long(out, "exec_ms"), INT64_C(9876543210));

    /* The encoder's buffer is reused. */
    cr_assert_eq(tally_encoder_encode(enc, &v, &raw1, &len2, err, sizeof err), 0);
    fill_usage(&v, 8);
    cr_assert_eq(tally_encoder_encode(enc, &v, &raw2, &len2, err, sizeof err), 0);
    cr_expect_eq(raw1, raw2);
    cr_assert_eq(decode(dec, raw2, len2, &out, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(get_long(out, "seq"), 8);

    free(msg);
    avro_value_decref(&v);
    tally_decoder_free(dec);
    tally_encoder_free(enc);
    tally_catalog_free(cat);
}

Test(codec, control_panel_event_union_round_trip)
{
    tally_catalog_t *cat = load("schemas");
    const tally_catalog_entry_t *cpe = latest(cat, "ControlPanelEvent");
    tally_encoder_t *enc = tally_encoder_new(cpe);
    tally_decoder_t *dec = tally_decoder_new(cat, cpe);
    avro_value_t env, lic, *out = NULL, b;
    char err[512] = "";
    size_t len1, len5;
    uint8_t *m1, *m5;
    int disc = -1;

    cr_assert_eq(tally_codec_value_new(cpe, &env, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tally_codec_value_new(cpe, &lic, err, sizeof err), 0, "%s", err);
    fill_control(&env, 1);
    fill_control(&lic, 5);
    m1 = encode(enc, &env, &len1);
    m5 = encode(enc, &lic, &len5);

    /* Alternate branches through one decoder value. */
    for (int round = 0; round < 3; round++) {
        cr_assert_eq(decode(dec, m1, len1, &out, NULL, err, sizeof err), 0, "%s", err);
        cr_expect(avro_value_equal(&env, out));
        b = branch(out, "payload", &disc);
        cr_expect_eq(disc, 1);
        cr_expect_str_eq(get_enum(&b, "kind"), "staging");
        cr_expect_str_eq(get_string(&b, "name"), "Staging \xc3\xa9t\xc3\xa9");

        cr_assert_eq(decode(dec, m5, len5, &out, NULL, err, sizeof err), 0, "%s", err);
        cr_expect(avro_value_equal(&lic, out));
        b = branch(out, "payload", &disc);
        cr_expect_eq(disc, 5);
        cr_expect_eq(get_long(&b, "seats_max"), 25);
        {
            avro_value_t features = field(&b, "features");
            size_t n = 0;
            cr_assert_eq(avro_value_get_size(&features, &n), 0);
            cr_expect_eq(n, 2, "array items accumulate across decodes");
        }
    }
    free(m1);
    free(m5);
    avro_value_decref(&env);
    avro_value_decref(&lic);
    tally_decoder_free(dec);
    tally_encoder_free(enc);
    tally_catalog_free(cat);
}

Test(codec, any_decoder_reports_the_schema)
{
    tally_catalog_t *cat = load("schemas");
    const tally_catalog_entry_t *ur = latest(cat, "UsageReport"), *sc = latest(cat, "SeatEventClean");
    const tally_catalog_entry_t *w = NULL;
    tally_encoder_t *eu = tally_encoder_new(ur), *es = tally_encoder_new(sc);
    tally_decoder_t *dec = tally_decoder_new_any(cat);
    avro_value_t u, s, *out = NULL;
    char err[512] = "";
    size_t lu, ls;
    uint8_t *mu, *ms;

    cr_assert_eq(tally_codec_value_new(ur, &u, err, sizeof err), 0);
    cr_assert_eq(tally_codec_value_new(sc, &s, err, sizeof err), 0);
    fill_usage(&u, 1);
    fill_seat(&s);
    mu = encode(eu, &u, &lu);
    ms = encode(es, &s, &ls);
    for (int round = 0; round < 2; round++) {
        cr_assert_eq(decode(dec, mu, lu, &out, &w, err, sizeof err), 0, "%s", err);
        cr_expect_eq(w, ur);
        cr_expect_eq(avro_value_get_schema(out), ur->schema);
        cr_expect(avro_value_equal(&u, out));
        cr_assert_eq(decode(dec, ms, ls, &out, &w, err, sizeof err), 0, "%s", err);
        cr_expect_eq(w, sc);
        cr_expect_str_eq(get_enum(out, "op"), "RELEASED");
        cr_expect(avro_value_equal(&s, out));
    }
    free(mu);
    free(ms);
    avro_value_decref(&u);
    avro_value_decref(&s);
    tally_decoder_free(dec);
    tally_encoder_free(eu);
    tally_encoder_free(es);
    tally_catalog_free(cat);
}

/* ---- malformed input -------------------------------------------------- */

Test(codec, framing_errors)
{
    tally_catalog_t *cat = load("schemas");
    const tally_catalog_entry_t *ur = latest(cat, "UsageReport");
    tally_encoder_t *enc = tally_encoder_new(ur);
    tally_decoder_t *dec = tally_decoder_new(cat, ur);
    avro_value_t v, *out = NULL;
    char err[512] = "", hex[32];
    size_t len;
    uint8_t *msg, *longer;
    uint64_t fp = 0;

    cr_assert_eq(tally_codec_value_new(ur, &v, err, sizeof err), 0);
    fill_usage(&v, 3);
    msg = encode(enc, &v, &len);

    /* Every prefix: short below 10 bytes, a truncated body above. */
    for (size_t n = 0; n < len; n++)
        expect_code(dec, msg, n, n < TALLY_CODEC_HEADER_LEN ? TALLY_CODEC_ERR_SHORT : TALLY_CODEC_ERR_BODY,
                    "prefix");
    expect_code(dec, msg, len, 0, "whole message");

    longer = malloc(len + 1);
    memcpy(longer, msg, len);
    longer[len] = 0x00;
    expect_code(dec, longer, len + 1, TALLY_CODEC_ERR_TRAILING, "trailing byte");

    msg[1] = 0x02;
    expect_code(dec, msg, len, TALLY_CODEC_ERR_MAGIC, "C3 02");
    msg[1] = 0x01;
    msg[0] = 0x00;
    expect_code(dec, msg, len, TALLY_CODEC_ERR_MAGIC, "00 01");
    msg[0] = 0xC3;

    msg[2] ^= 0x5A;
    for (int i = 7; i >= 0; i--)
        fp = (fp << 8) | msg[2 + i];
    snprintf(hex, sizeof hex, "%016" PRIx64, fp);
    cr_assert_eq(decode(dec, msg, len, &out, NULL, err, sizeof err), TALLY_CODEC_ERR_UNKNOWN_SCHEMA);
    cr_expect(strstr(err, hex) != NULL, "message \"%s\" lacks %s", err, hex);

    free(longer);
    free(msg);
    avro_value_decref(&v);
    tally_decoder_free(dec);
    tally_encoder_free(enc);
    tally_catalog_free(cat);
}

Test(codec, hostile_lengths_and_numbers)
{
    tally_catalog_t *cat = load("schemas");
    const tally_catalog_entry_t *ur = latest(cat, "UsageReport");
    tally_decoder_t *dec = tally_decoder_new(cat, ur);
    static const int64_t lengths[] = {
        INT64_C(1) << 62, INT64_MAX, INT64_C(1) << 31, 1000, -1, -(INT64_C(1) << 62), INT64_MIN,
    };
    uint8_t buf[64] = { 0 };
    size_t n;

    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        n = put_header(buf, ur);
        n += put_long(buf + n, lengths[i]);
        memcpy(buf + n, "abc", 3);
        expect_code(dec, buf, n + 3, TALLY_CODEC_ERR_BODY, "string length");
    }
    /* Numbers longer than 64 bits. */
    n = put_header(buf, ur);
    memset(buf + n, 0xFF, 11);
    buf[n + 11] = 0x01;
    expect_code(dec, buf, n + 12, TALLY_CODEC_ERR_BODY, "11-byte varint");
    memset(buf + n, 0xFF, 9);
    buf[n + 9] = 0x7F;
    expect_code(dec, buf, n + 10, TALLY_CODEC_ERR_BODY, "varint over 64 bits");
    tally_decoder_free(dec);
    tally_catalog_free(cat);
}

/* ControlPanelEvent up to the payload's branch index. */
static size_t control_prefix(uint8_t *buf, const tally_catalog_entry_t *cpe, int64_t branch_index)
{
    size_t n = put_header(buf, cpe);
    buf[n++] = 0x00;   /* event_id "" */
    buf[n++] = 0x00;   /* tenant_id "" */
    buf[n++] = 0x00;   /* occurred_at 0 */
    buf[n++] = 0x00;   /* received_at 0 */
    return n + put_long(buf + n, branch_index);
}

Test(codec, hostile_blocks_unions_and_enums)
{
    tally_catalog_t *cat = load("schemas");
    const tally_catalog_entry_t *cpe = latest(cat, "ControlPanelEvent");
    tally_decoder_t *dec = tally_decoder_new(cat, cpe);
    static const int64_t counts[] = {
        INT64_C(1) << 31, INT64_C(1) << 62, INT64_MAX, INT64_MIN, -(INT64_C(1) << 40), 100,
    };
    uint8_t buf[128] = { 0 };
    size_t n;

    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        n = control_prefix(buf, cpe, 5);     /* LicenseTermsSet */
        buf[n++] = 0x00;                     /* seats_max */
        buf[n++] = 0x00;                     /* monthly_api_calls_max */
        buf[n++] = 0x00;                     /* daily_api_calls_max_nonprod */
        n += put_long(buf + n, counts[i]);   /* features: block count */
        if (counts[i] < 0)
            n += put_long(buf + n, INT64_C(1) << 40);   /* block size in bytes */
        buf[n++] = 0x02;
        buf[n++] = 'x';
        expect_code(dec, buf, n, TALLY_CODEC_ERR_BODY, "array block");
    }
    /* A negative block size. */
    n = control_prefix(buf, cpe, 5);
    memset(buf + n, 0, 3);
    n += 3;
    n += put_long(buf + n, -1);
    n += put_long(buf + n, -5);
    expect_code(dec, buf, n, TALLY_CODEC_ERR_BODY, "negative block size");

    n = control_prefix(buf, cpe, 8);
    expect_code(dec, buf, n + 1, TALLY_CODEC_ERR_BODY, "union branch 8 of 8");
    n = control_prefix(buf, cpe, -1);
    expect_code(dec, buf, n + 1, TALLY_CODEC_ERR_BODY, "union branch -1");

    n = control_prefix(buf, cpe, 1);         /* EnvironmentCreated */
    buf[n++] = 0x00;                         /* environment_id */
    buf[n++] = 0x00;                         /* name */
    n += put_long(buf + n, 3);               /* kind: 3 symbols */
    buf[n++] = 0x00;                         /* owner */
    expect_code(dec, buf, n, TALLY_CODEC_ERR_BODY, "enum index 3");
    buf[n - 2] = 0x04;                       /* kind 2: development */
    expect_code(dec, buf, n, 0, "enum index 2");

    tally_decoder_free(dec);
    tally_catalog_free(cat);
}

Test(codec, empty_items_and_deep_nesting_are_bounded)
{
    tally_catalog_t *cat = load("hostile");
    const tally_catalog_entry_t *empties = latest(cat, "Empties"), *node = latest(cat, "Node");
    tally_decoder_t *dec = tally_decoder_new_any(cat);
    avro_value_t *out = NULL, nulls;
    char err[512] = "";
    size_t n, count = 0;
    uint8_t *buf = malloc(200000);

    n = put_header(buf, empties);
    n += put_long(buf + n, INT64_C(1) << 40);   /* 2^40 nulls in 6 bytes */
    buf[n++] = 0x00;
    buf[n++] = 0x00;
    expect_code(dec, buf, n, TALLY_CODEC_ERR_BODY, "2^40 nulls");

    n = put_header(buf, empties);
    for (int i = 0; i < 1000; i++)                /* blocks past the per-message budget */
        n += put_long(buf + n, 1000);
    buf[n++] = 0x00;
    buf[n++] = 0x00;
    expect_code(dec, buf, n, TALLY_CODEC_ERR_BODY, "10^6 nulls in blocks");

    n = put_header(buf, empties);
    n += put_long(buf + n, 1000);
    buf[n++] = 0x00;
    n += put_long(buf + n, INT64_C(1) << 40);   /* map: every key takes a byte */
    buf[n++] = 0x00;
    expect_code(dec, buf, n, TALLY_CODEC_ERR_BODY, "2^40 map entries");

    n = put_header(buf, empties);
    n += put_long(buf + n, 1000);
    buf[n++] = 0x00;
    buf[n++] = 0x00;
    cr_assert_eq(decode(dec, buf, n, &out, NULL, err, sizeof err), 0, "%s", err);
    nulls = field(out, "nulls");
    cr_assert_eq(avro_value_get_size(&nulls, &count), 0);
    cr_expect_eq(count, 1000);

    n = put_header(buf, node);
    memset(buf + n, 0x02, 10);                  /* ten levels, then null */
    buf[n + 10] = 0x00;
    expect_code(dec, buf, n + 11, 0, "ten levels");
    memset(buf + n, 0x02, 150000);
    buf[n + 150000] = 0x00;
    expect_code(dec, buf, n + 150001, TALLY_CODEC_ERR_BODY, "150000 levels");

    free(buf);
    tally_decoder_free(dec);
    tally_catalog_free(cat);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

Test(codec, mutated_and_random_bodies_never_crash)
{
    tally_catalog_t *cat = load("schemas");
    const tally_catalog_entry_t *cpe = latest(cat, "ControlPanelEvent"), *ur = latest(cat, "UsageReport");
    tally_encoder_t *enc = tally_encoder_new(cpe);
    tally_decoder_t *any = tally_decoder_new_any(cat), *as_usage = tally_decoder_new(cat, ur);
    static const uint8_t values[] = { 0x00, 0x01, 0x02, 0x7F, 0x80, 0xFE, 0xFF };
    avro_value_t v, *out;
    char err[512];
    size_t len;
    uint8_t *msg, buf[256];

    cr_assert_eq(tally_codec_value_new(cpe, &v, err, sizeof err), 0);
    fill_control(&v, 5);
    msg = encode(enc, &v, &len);
    for (size_t pos = TALLY_CODEC_HEADER_LEN; pos < len; pos++) {
        uint8_t orig = msg[pos];
        for (size_t k = 0; k < sizeof values; k++) {
            msg[pos] = values[k];
            (void)decode(any, msg, len, &out, NULL, err, sizeof err);
            (void)decode(as_usage, msg, len, &out, NULL, err, sizeof err);
        }
        msg[pos] = orig;
    }
    for (int round = 0; round < 20000; round++) {
        const tally_catalog_entry_t *e = tally_catalog_entry(cat, rng() % tally_catalog_count(cat));
        size_t n = put_header(buf, e), body = rng() % 120;
        for (size_t i = 0; i < body; i++)
            buf[n + i] = (uint8_t)rng();
        (void)decode(any, buf, n + body, &out, NULL, err, sizeof err);
        (void)decode(as_usage, buf, n + body, &out, NULL, err, sizeof err);
    }
    free(msg);
    avro_value_decref(&v);
    tally_decoder_free(any);
    tally_decoder_free(as_usage);
    tally_encoder_free(enc);
    tally_catalog_free(cat);
}

/* ---- encoder errors --------------------------------------------------- */

Test(codec, encoder_refuses_bad_values)
{
    tally_catalog_t *cat = load("schemas");
    const tally_catalog_entry_t *ur = latest(cat, "UsageReport"), *cpe = latest(cat, "ControlPanelEvent");
    tally_encoder_t *enc = tally_encoder_new(ur), *ecpe = tally_encoder_new(cpe);
    avro_value_t seat, control;
    const void *out = NULL;
    size_t len = 0;
    char err[512] = "";

    cr_assert_eq(tally_codec_value_new(latest(cat, "SeatEventClean"), &seat, err, sizeof err), 0);
    fill_seat(&seat);
    cr_expect_eq(tally_encoder_encode(enc, &seat, &out, &len, err, sizeof err), TALLY_CODEC_ERR_ENCODE);
    cr_expect(strstr(err, "UsageReport") != NULL, "%s", err);

    /* A union with no branch chosen. */
    cr_assert_eq(tally_codec_value_new(cpe, &control, err, sizeof err), 0);
    err[0] = '\0';
    cr_expect_eq(tally_encoder_encode(ecpe, &control, &out, &len, err, sizeof err), TALLY_CODEC_ERR_ENCODE);
    cr_expect_neq(err[0], '\0');

    avro_value_decref(&seat);
    avro_value_decref(&control);
    tally_encoder_free(enc);
    tally_encoder_free(ecpe);
    tally_encoder_free(NULL);
    tally_decoder_free(NULL);
    tally_catalog_free(cat);
}

Test(codec, error_names_are_distinct)
{
    static const int codes[] = {
        TALLY_CODEC_ERR_SHORT, TALLY_CODEC_ERR_MAGIC, TALLY_CODEC_ERR_UNKNOWN_SCHEMA,
        TALLY_CODEC_ERR_UNRESOLVABLE, TALLY_CODEC_ERR_BODY, TALLY_CODEC_ERR_TRAILING,
        TALLY_CODEC_ERR_ENCODE,
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        cr_expect_lt(codes[i], 0);
        cr_expect_str_neq(tally_codec_error_name(codes[i]), "unknown");
        for (size_t j = 0; j < i; j++)
            cr_expect_str_neq(tally_codec_error_name(codes[i]), tally_codec_error_name(codes[j]));
    }
}

/* ---- resolution ------------------------------------------------------- */

static void fill_thing_v1(avro_value_t *v, int with_detail)
{
    avro_value_t tags = field(v, "tags"), item, detail = field(v, "detail"), b;

    set_string(v, "id", "thing-1");
    set_long(v, "count", 42);
    set_enum(v, "kind", "LARGE");
    cr_assert_eq(avro_value_reset(&tags), 0);
    cr_assert_eq(avro_value_append(&tags, &item, NULL), 0);
    cr_assert_eq(avro_value_set_string(&item, "a"), 0);
    cr_assert_eq(avro_value_append(&tags, &item, NULL), 0);
    cr_assert_eq(avro_value_set_string(&item, "b"), 0);
    cr_assert_eq(avro_value_set_branch(&detail, with_detail, &b), 0);
    if (with_detail)
        set_string(&b, "text", "hello");
    else
        cr_assert_eq(avro_value_set_null(&b), 0);
}

Test(codec, v1_record_read_as_v2_takes_defaults)
{
    tally_catalog_t *cat = load("resolution");
    const tally_catalog_entry_t *v1 = tally_catalog_get(cat, "Thing", 1), *v2 = tally_catalog_get(cat, "Thing", 2);
    const tally_catalog_entry_t *w = NULL;
    tally_encoder_t *enc;
    tally_decoder_t *dec;
    avro_value_t in, *out = NULL, b, labels, origin, tags;
    char err[512] = "";
    size_t len, n = 0;
    uint8_t *msg;
    int disc = -1;
    double score = 0;
    const char *s = NULL;

    cr_assert(v1 && v2);
    cr_assert_eq(tally_catalog_latest(cat, "Thing"), v2);
    enc = tally_encoder_new(v1);
    dec = tally_decoder_new(cat, v2);
    cr_assert_eq(tally_codec_value_new(v1, &in, err, sizeof err), 0);
    for (int round = 0; round < 3; round++) {
        int with_detail = round != 1;
        fill_thing_v1(&in, with_detail);
        msg = encode(enc, &in, &len);
        cr_assert_eq(decode(dec, msg, len, &out, &w, err, sizeof err), 0, "%s", err);
        cr_expect_eq(w, v1);
        cr_expect_eq(avro_value_get_schema(out), v2->schema);
        cr_expect_str_eq(get_string(out, "id"), "thing-1");
        cr_expect_eq(get_long(out, "count"), 42);
        cr_expect_str_eq(get_enum(out, "kind"), "LARGE");
        tags = field(out, "tags");
        cr_assert_eq(avro_value_get_size(&tags, &n), 0);
        cr_expect_eq(n, 2);
        /* New fields: their defaults. */
        branch(out, "note", &disc);
        cr_expect_eq(disc, 0, "note defaults to null");
        {
            avro_value_t p = field(out, "priority");
            int32_t prio = 0;
            cr_assert_eq(avro_value_get_int(&p, &prio), 0);
            cr_expect_eq(prio, 5);
        }
        labels = field(out, "labels");
        cr_assert_eq(avro_value_get_size(&labels, &n), 0);
        cr_expect_eq(n, 1);
        cr_assert_eq(avro_value_get_by_name(&labels, "origin", &origin, NULL), 0);
        cr_assert_eq(avro_value_get_string(&origin, &s, &n), 0);
        cr_expect_str_eq(s, "v1");
        /* And inside a union branch. */
        b = branch(out, "detail", &disc);
        cr_expect_eq(disc, with_detail);
        if (with_detail) {
            avro_value_t sc = field(&b, "score");
            cr_expect_str_eq(get_string(&b, "text"), "hello");
            cr_assert_eq(avro_value_get_double(&sc, &score), 0);
            cr_expect_eq(score, 1.5);
        }
        free(msg);
    }
    avro_value_decref(&in);
    tally_decoder_free(dec);
    tally_encoder_free(enc);
    tally_catalog_free(cat);
}

Test(codec, v2_record_read_as_v1_skips_new_fields)
{
    tally_catalog_t *cat = load("resolution");
    const tally_catalog_entry_t *v1 = tally_catalog_get(cat, "Thing", 1), *v2 = tally_catalog_get(cat, "Thing", 2);
    tally_encoder_t *enc = tally_encoder_new(v2);
    tally_decoder_t *old = tally_decoder_new(cat, v1), *same = tally_decoder_new(cat, v2);
    avro_value_t in, *out = NULL, note, b, detail, labels, item, tags;
    char err[512] = "";
    size_t len, n = 99;
    uint8_t *msg;
    int disc = -1;

    cr_assert_eq(tally_codec_value_new(v2, &in, err, sizeof err), 0);
    set_string(&in, "id", "thing-2");
    note = field(&in, "note");
    cr_assert_eq(avro_value_set_branch(&note, 1, &b), 0);
    cr_assert_eq(avro_value_set_string(&b, "a note the old reader never sees"), 0);
    set_long(&in, "count", -7);
    set_enum(&in, "kind", "SMALL");
    tags = field(&in, "tags");
    cr_assert_eq(avro_value_reset(&tags), 0);
    detail = field(&in, "detail");
    cr_assert_eq(avro_value_set_branch(&detail, 1, &b), 0);
    set_string(&b, "text", "inner");
    {
        avro_value_t sc = field(&b, "score");
        cr_assert_eq(avro_value_set_double(&sc, 9.5), 0);
    }
    set_int(&in, "priority", 1);
    labels = field(&in, "labels");
    cr_assert_eq(avro_value_add(&labels, "k", &item, NULL, NULL), 0);
    cr_assert_eq(avro_value_set_string(&item, "v"), 0);
    msg = encode(enc, &in, &len);

    cr_assert_eq(decode(old, msg, len, &out, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(avro_value_get_schema(out), v1->schema);
    cr_expect_str_eq(get_string(out, "id"), "thing-2");
    cr_expect_eq(get_long(out, "count"), -7);
    cr_expect_str_eq(get_enum(out, "kind"), "SMALL");
    tags = field(out, "tags");
    cr_assert_eq(avro_value_get_size(&tags, &n), 0);
    cr_expect_eq(n, 0);
    b = branch(out, "detail", &disc);
    cr_expect_eq(disc, 1);
    cr_expect_str_eq(get_string(&b, "text"), "inner");
    cr_assert_eq(avro_value_get_size(&b, &n), 0);
    cr_expect_eq(n, 1, "v1 Detail has one field");

    /* Same version: no resolution. */
    cr_assert_eq(decode(same, msg, len, &out, NULL, err, sizeof err), 0, "%s", err);
    cr_expect(avro_value_equal(&in, out));

    free(msg);
    avro_value_decref(&in);
    tally_decoder_free(old);
    tally_decoder_free(same);
    tally_encoder_free(enc);
    tally_catalog_free(cat);
}

Test(codec, other_record_is_not_resolvable)
{
    tally_catalog_t *cat = load("schemas");
    const tally_catalog_entry_t *ur = latest(cat, "UsageReport"), *sc = latest(cat, "SeatEventClean");
    tally_encoder_t *enc = tally_encoder_new(sc);
    tally_decoder_t *dec = tally_decoder_new(cat, ur);
    avro_value_t s, *out = NULL;
    char err[512] = "";
    size_t len;
    uint8_t *msg;

    cr_assert_eq(tally_codec_value_new(sc, &s, err, sizeof err), 0);
    fill_seat(&s);
    msg = encode(enc, &s, &len);
    for (int round = 0; round < 2; round++) {   /* the failure is remembered, not rebuilt */
        err[0] = '\0';
        cr_expect_eq(decode(dec, msg, len, &out, NULL, err, sizeof err), TALLY_CODEC_ERR_UNRESOLVABLE);
        cr_expect(strstr(err, "SeatEventClean") != NULL && strstr(err, "UsageReport") != NULL, "%s", err);
    }
    free(msg);
    avro_value_decref(&s);
    tally_decoder_free(dec);
    tally_encoder_free(enc);
    tally_catalog_free(cat);
}

/* A catalog in a temporary folder, for resolutions that must fail. */
static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tally-codec-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tmpdir(void)
{
    if (tmpdir[0] != '\0')
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void put(const char *folder, const char *file, const char *content)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", tmpdir, folder);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", tmpdir, folder, file);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(content, f);
    fclose(f);
}

#define R_V1 "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}," \
             "{\"name\":\"s\",\"type\":\"string\"}," \
             "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\",\"C\"]}}]}"
#define R_V2 "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"long\"}," \
             "{\"name\":\"s\",\"type\":\"string\"}," \
             "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"C\",\"B\"]}}," \
             "{\"name\":\"n\",\"type\":[\"null\",\"string\"],\"default\":null}," \
             "{\"name\":\"p\",\"type\":\"int\",\"default\":5}]}"
#define R_V3 "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}," \
             "{\"name\":\"s\",\"type\":\"string\"}," \
             "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\",\"C\"]}}," \
             "{\"name\":\"b\",\"type\":\"int\"}]}"

static uint8_t *encode_r(tally_encoder_t *enc, const tally_catalog_entry_t *v1, const char *symbol,
                         size_t *len)
{
    avro_value_t in;
    char err[512] = "";
    uint8_t *msg;

    cr_assert_eq(tally_codec_value_new(v1, &in, err, sizeof err), 0);
    set_int(&in, "a", 7);
    set_string(&in, "s", "text");
    set_enum(&in, "e", symbol);
    msg = encode(enc, &in, len);
    avro_value_decref(&in);
    return msg;
}

Test(codec, enum_symbols_resolve_by_name, .init = make_tmpdir, .fini = remove_tmpdir)
{
    tally_catalog_t *cat;
    const tally_catalog_entry_t *v1, *v2, *v3;
    tally_encoder_t *enc;
    tally_decoder_t *to_v2, *to_v3;
    avro_value_t *out = NULL;
    char err[512] = "";
    size_t len;
    uint8_t *b, *c, *a;

    put("R", "1.avsc", R_V1);
    put("R", "2.avsc", R_V2);
    put("R", "3.avsc", R_V3);
    cat = load(tmpdir);
    v1 = tally_catalog_get(cat, "R", 1);
    v2 = tally_catalog_get(cat, "R", 2);
    v3 = tally_catalog_get(cat, "R", 3);
    enc = tally_encoder_new(v1);
    to_v2 = tally_decoder_new(cat, v2);
    to_v3 = tally_decoder_new(cat, v3);
    b = encode_r(enc, v1, "B", &len);
    c = encode_r(enc, v1, "C", &len);
    a = encode_r(enc, v1, "A", &len);

    /* Writer index 1 (B) is reader index 1, writer 2 (C) reader 0. */
    cr_assert_eq(decode(to_v2, b, len, &out, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(get_enum(out, "e"), "B");
    cr_expect_eq(get_long(out, "a"), 7, "int promoted to long");
    cr_assert_eq(decode(to_v2, c, len, &out, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(get_enum(out, "e"), "C");
    /* A is not a reader symbol. */
    cr_expect_eq(decode(to_v2, a, len, &out, NULL, err, sizeof err), TALLY_CODEC_ERR_UNRESOLVABLE);
    cr_expect(strstr(err, "A") != NULL, "%s", err);

    /* v3 adds a field without a default: no v1 record can be read. */
    cr_expect_eq(decode(to_v3, b, len, &out, NULL, err, sizeof err), TALLY_CODEC_ERR_UNRESOLVABLE);
    cr_expect(strstr(err, "R.b") != NULL, "%s", err);

    free(a);
    free(b);
    free(c);
    tally_decoder_free(to_v2);
    tally_decoder_free(to_v3);
    tally_encoder_free(enc);
    tally_catalog_free(cat);
}

/* ---- the hot path ----------------------------------------------------- */

Test(codec, hot_path_does_not_allocate_after_warm_up, .init = make_tmpdir, .fini = remove_tmpdir)
{
#ifndef COUNT_ALLOCATIONS
    TALLY_TEST_SKIP("allocation counting is off under AddressSanitizer (the normal build runs it)");
#else
    tally_catalog_t *cat = load("schemas"), *rcat;
    const tally_catalog_entry_t *ur = latest(cat, "UsageReport"), *v1, *v2;
    tally_encoder_t *enc = tally_encoder_new(ur), *renc;
    tally_decoder_t *dec = tally_decoder_new(cat, ur), *any = tally_decoder_new_any(cat), *rdec;
    avro_value_t v, rv, *out = NULL;
    const void *msg = NULL;
    size_t len = 0;
    char err[512] = "";
    size_t seen;

    put("R", "1.avsc", R_V1);
    put("R", "2.avsc", R_V2);
    rcat = load(tmpdir);
    v1 = tally_catalog_get(rcat, "R", 1);
    v2 = tally_catalog_get(rcat, "R", 2);
    renc = tally_encoder_new(v1);
    rdec = tally_decoder_new(rcat, v2);
    cr_assert_eq(tally_codec_value_new(ur, &v, err, sizeof err), 0);
    cr_assert_eq(tally_codec_value_new(v1, &rv, err, sizeof err), 0);
    set_string(&rv, "s", "some text");
    set_enum(&rv, "e", "B");

    /* No Criterion assertion inside the counted rounds. */
    int failures = 0;
    fill_usage(&v, 0);
    for (int round = 0; round < 103; round++) {
        avro_value_t f;
        if (round == 3) {   /* warmed up */
            counting = 1;
            allocations = 0;
        }
        failures += avro_value_get_by_name(&v, "seq", &f, NULL) != 0 || avro_value_set_long(&f, round) != 0;
        failures += tally_encoder_encode(enc, &v, &msg, &len, err, sizeof err) != 0;
        failures += tally_decoder_decode(dec, msg, len, &out, NULL, err, sizeof err) != 0;
        failures += tally_decoder_decode(any, msg, len, &out, NULL, err, sizeof err) != 0;
        failures += avro_value_get_by_name(&rv, "a", &f, NULL) != 0 || avro_value_set_int(&f, round) != 0;
        failures += tally_encoder_encode(renc, &rv, &msg, &len, err, sizeof err) != 0;
        failures += tally_decoder_decode(rdec, msg, len, &out, NULL, err, sizeof err) != 0;
    }
    counting = 0;
    seen = allocations;
    cr_assert_eq(failures, 0, "%s", err);
    cr_expect_eq(seen, 0, "%zu allocations in 100 warm rounds", seen);
    cr_expect_eq(get_long(out, "a"), 102);

    avro_value_decref(&v);
    avro_value_decref(&rv);
    tally_decoder_free(dec);
    tally_decoder_free(any);
    tally_decoder_free(rdec);
    tally_encoder_free(enc);
    tally_encoder_free(renc);
    tally_catalog_free(cat);
    tally_catalog_free(rcat);
#endif
}
