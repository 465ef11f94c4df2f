/* The fixture of the codec suites (codec_fixture.h). */
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

#include "codec_fixture.h"

tally_catalog_t *load(const char *which)
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

const tally_catalog_entry_t *latest(const tally_catalog_t *cat, const char *name)
{
    const tally_catalog_entry_t *e = tally_catalog_latest(cat, name);
    cr_assert_not_null(e, "no schema %s", name);
    return e;
}

avro_value_t field(avro_value_t *rec, const char *name)
{
    avro_value_t f;
    cr_assert_eq(avro_value_get_by_name(rec, name, &f, NULL), 0, "no field %s: %s", name, avro_strerror());
    return f;
}

void set_string(avro_value_t *rec, const char *name, const char *s)
{
    avro_value_t f = field(rec, name);
    cr_assert_eq(avro_value_set_string(&f, s), 0);
}

void set_long(avro_value_t *rec, const char *name, int64_t v)
{
    avro_value_t f = field(rec, name);
    cr_assert_eq(avro_value_set_long(&f, v), 0);
}

void set_int(avro_value_t *rec, const char *name, int32_t v)
{
    avro_value_t f = field(rec, name);
    cr_assert_eq(avro_value_set_int(&f, v), 0);
}

void set_enum(avro_value_t *rec, const char *name, const char *symbol)
{
    avro_value_t f = field(rec, name);
    int idx = avro_schema_enum_get_by_name(avro_value_get_schema(&f), symbol);
    cr_assert_geq(idx, 0, "no symbol %s", symbol);
    cr_assert_eq(avro_value_set_enum(&f, idx), 0);
}

const char *get_string(avro_value_t *rec, const char *name)
{
    avro_value_t f = field(rec, name);
    const char *s = NULL;
    size_t n = 0;
    cr_assert_eq(avro_value_get_string(&f, &s, &n), 0, "%s is not a string", name);
    return s;
}

int64_t get_long(avro_value_t *rec, const char *name)
{
    avro_value_t f = field(rec, name);
    int64_t v = 0;
    cr_assert_eq(avro_value_get_long(&f, &v), 0, "%s is not a long", name);
    return v;
}

const char *get_enum(avro_value_t *rec, const char *name)
{
    avro_value_t f = field(rec, name);
    int idx = -1;
    cr_assert_eq(avro_value_get_enum(&f, &idx), 0);
    return avro_schema_enum_get(avro_value_get_schema(&f), idx);
}

avro_value_t branch(avro_value_t *rec, const char *name, int *disc)
{
    avro_value_t f = field(rec, name), b;
    cr_assert_eq(avro_value_get_discriminant(&f, disc), 0);
    cr_assert_eq(avro_value_get_current_branch(&f, &b), 0, "%s has no branch", name);
    return b;
}

void fill_usage(avro_value_t *v, int64_t seq)
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

void fill_seat(avro_value_t *v)
{
    set_string(v, "event_id", "0b7c9f3e-1111-4222-8333-944455556666");
    set_string(v, "tenant_id", "tenant-42");
    set_string(v, "seat_ref", "k1:3f9a");
    set_enum(v, "op", "RELEASED");
    set_long(v, "occurred_at", INT64_C(1700000123456));
}

void fill_control(avro_value_t *v, int which)
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

uint8_t *encode(tally_encoder_t *enc, avro_value_t *v, size_t *len)
{
    const void *out = NULL;
    char err[512] = "";
    uint8_t *copy;

    cr_assert_eq(tally_encoder_encode(enc, v, &out, len, err, sizeof err), 0, "%s", err);
    copy = malloc(*len);
    memcpy(copy, out, *len);
    return copy;
}

int decode(tally_decoder_t *dec, const void *buf, size_t len, avro_value_t **v,
           const tally_catalog_entry_t **w, char *err, size_t errsize)
{
    return tally_decoder_decode(dec, buf, len, v, w, err, errsize);
}

size_t put_long(uint8_t *p, int64_t v)
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

size_t put_header(uint8_t *p, const tally_catalog_entry_t *e)
{
    p[0] = 0xC3;
    p[1] = 0x01;
    for (int i = 0; i < 8; i++)
        p[2 + i] = (uint8_t)(e->fingerprint >> (8 * i));
    return TALLY_CODEC_HEADER_LEN;
}

void expect_code(tally_decoder_t *dec, const uint8_t *buf, size_t len, int want, const char *what)
{
    avro_value_t *v = NULL;
    char err[512] = "";
    int rc = decode(dec, buf, len, &v, NULL, err, sizeof err);

    cr_expect_eq(rc, want, "%s: got %d (%s), want %d (%s): %s", what, rc, tally_codec_error_name(rc),
                 want, tally_codec_error_name(want), err);
    if (rc != 0)
        cr_expect_neq(err[0], '\0', "%s: no message", what);
}
