/*
 * Single-object encoding: round trips on the real schemas, the header,
 * the encoder's errors, and no allocation on the hot path. Malformed and
 * hostile input is test_codec_hostile.c's, schema resolution between
 * versions test_codec_resolution.c's; codec_fixture.h holds what they
 * share.
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

#include "catalog_dir.h"
#include "codec_fixture.h"

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
