/*
 * Single-object decoding of malformed and hostile input: framing errors,
 * hostile lengths and numbers, blocks, unions and enums, empty items and
 * deep nesting, mutated and random bodies: every one an error code, never
 * a crash or a huge allocation (run under ASan too).
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

#include "codec_fixture.h"

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
