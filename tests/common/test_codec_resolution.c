/*
 * Schema resolution between versions ($TALLY_TEST_DATA/resolution): a v1
 * record read as v2 takes the defaults, a v2 record read as v1 skips the
 * new fields, another record is not resolvable, enum symbols resolve by
 * name.
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
