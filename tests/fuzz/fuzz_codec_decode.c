/*
 * fuzz_codec_decode.c: Avro single-object decoding (common/codec.c and
 * common/body_reader.c) of any bytes: the fingerprint lookup, then the
 * body against the writer schema, read as written (any-decoder) and as
 * each schema version of the catalog (reader decoders, with resolution).
 *
 * Input: one selector byte, then the message. Selector: bits 6-7 the
 * catalog (0-1 schemas/, 2 tests/data/resolution, 3 tests/data/hostile:
 * recursive and empty records), bit 5 set: the rest is the whole message
 * (magic and fingerprint included); clear: the rest is a body, behind the
 * header of catalog entry (bits 0-4) modulo the catalog's size.
 *
 * Properties (decoders live across inputs, as in a consumer):
 *   - nothing is read past the message (a heap copy of its exact size)
 *     and nothing crashes, leaks or allocates without bound;
 *   - a failure has a known code and a reason;
 *   - a decoded message re-encodes, and that encoding decodes and
 *     re-encodes to itself;
 *   - one byte more is refused as trailing bytes; one byte less is
 *     refused (the encoding is self-delimiting);
 *   - tally_decoder_decode_flat succeeds exactly when decode does, on a
 *     record of only strings, longs, ints and enums, with the same data;
 *   - a reader decoder that resolves the writer accepts the body exactly
 *     when the any-decoder does.
 */
#include "fuzz_util.h"

#include "codec.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct cat_t {
    const char *sub;
    const tally_catalog_t *cat;
    tally_decoder_t *any;
    tally_decoder_t **readers;   /* one per entry, reading as that entry */
    tally_encoder_t **encoders;  /* one per entry */
} cat_t;

static cat_t cats[3] = {{.sub = "schemas"}, {.sub = "tests/data/resolution"}, {.sub = "tests/data/hostile"}};

static void setup(cat_t *c)
{
    size_t n;

    c->cat = fuzz_catalog(c->sub);
    n = tally_catalog_count(c->cat);
    c->any = tally_decoder_new_any(c->cat);
    c->readers = calloc(n, sizeof *c->readers);
    c->encoders = calloc(n, sizeof *c->encoders);
    if (c->readers == NULL || c->encoders == NULL)
        fuzz_fail("out of memory");
    for (size_t i = 0; i < n; i++) {
        const tally_catalog_entry_t *e = tally_catalog_entry(c->cat, i);
        c->readers[i] = tally_decoder_new(c->cat, e);
        c->encoders[i] = tally_encoder_new(e);
    }
}

static bool known_error(int rc)
{
    return rc == TALLY_CODEC_ERR_SHORT || rc == TALLY_CODEC_ERR_MAGIC || rc == TALLY_CODEC_ERR_UNKNOWN_SCHEMA ||
           rc == TALLY_CODEC_ERR_UNRESOLVABLE || rc == TALLY_CODEC_ERR_BODY || rc == TALLY_CODEC_ERR_TRAILING ||
           rc == TALLY_CODEC_ERR_UNKNOWN_BRANCH;
}

static int decode(tally_decoder_t *dec, const uint8_t *msg, size_t len, avro_value_t **value,
                  const tally_catalog_entry_t **writer)
{
    char err[1024] = "";
    int rc = tally_decoder_decode(dec, msg, len, value, writer, err, sizeof err);

    if (rc != 0 && (!known_error(rc) || err[0] == '\0'))
        fuzz_fail("decode failed with %d (%s) and reason \"%s\"", rc, tally_codec_error_name(rc), err);
    return rc;
}

/* A copy of msg[0..len) with extra bytes of room (heap, exact size). */
static uint8_t *copy(const uint8_t *msg, size_t len, size_t extra)
{
    uint8_t *b = malloc(len + extra ? len + extra : 1);

    if (b == NULL)
        fuzz_fail("out of memory");
    memcpy(b, msg, len);
    return b;
}

/* Whether the writer's record is one decode_flat reads. */
static bool is_flat(const tally_catalog_entry_t *w)
{
    avro_schema_t r = w->schema;

    while (is_avro_link(r))
        r = avro_schema_link_target(r);
    if (!is_avro_record(r))
        return false;
    for (size_t i = 0; i < avro_schema_record_size(r); i++) {
        avro_schema_t f = avro_schema_record_field_get_by_index(r, (int)i);
        while (is_avro_link(f))
            f = avro_schema_link_target(f);
        avro_type_t t = avro_typeof(f);
        if (t != AVRO_STRING && t != AVRO_INT64 && t != AVRO_INT32 && t != AVRO_ENUM)
            return false;
    }
    return true;
}

/* The flat fields against the decoded value. */
static void same_flat(const tally_flat_field_t *fields, size_t n, avro_value_t *value)
{
    size_t count = 0;

    if (avro_value_get_size(value, &count) != 0 || count != n)
        fuzz_fail("flat decode gave %zu fields, the value has %zu", n, count);
    for (size_t i = 0; i < n; i++) {
        const tally_flat_field_t *f = &fields[i];
        avro_value_t v;
        const char *s;
        size_t size;
        int64_t l;
        int32_t i32;
        int e;
        bool same;

        if (avro_value_get_by_index(value, i, &v, NULL) != 0)
            fuzz_fail("no field %zu", i);
        switch (f->type) {
        case AVRO_STRING:
            same = avro_value_get_string(&v, &s, &size) == 0 && size == f->len + 1 &&
                   memcmp(s, f->str, f->len) == 0 && f->str[f->len] == '\0';
            break;
        case AVRO_INT64:
            same = avro_value_get_long(&v, &l) == 0 && l == f->number;
            break;
        case AVRO_INT32:
            same = avro_value_get_int(&v, &i32) == 0 && i32 == f->number;
            break;
        case AVRO_ENUM:
            same = avro_value_get_enum(&v, &e) == 0 && e == f->number;
            break;
        default:
            same = false;
        }
        if (!same)
            fuzz_fail("flat decode: field %zu differs from the decoded value", i);
    }
}

static void check(cat_t *c, const uint8_t *msg, size_t len)
{
    const tally_catalog_entry_t *writer = NULL, *flat_writer = NULL;
    const tally_flat_field_t *fields = NULL;
    avro_value_t *value;
    size_t n_fields = 0;
    char err[1024] = "";
    const void *out;
    size_t out_len;
    int rc, flat;

    flat = tally_decoder_decode_flat(c->any, msg, len, &fields, &n_fields, &flat_writer);
    if (flat != 0 && flat != 1)
        fuzz_fail("decode_flat returned %d", flat);
    rc = decode(c->any, msg, len, &value, &writer);
    if (flat == 0) {
        if (rc != 0)
            fuzz_fail("decode_flat accepted what decode refuses (%s)", tally_codec_error_name(rc));
        if (flat_writer != writer)
            fuzz_fail("decode_flat and decode name other writers");
        same_flat(fields, n_fields, value);
    } else if (rc == 0 && is_flat(writer)) {
        fuzz_fail("decode_flat refused a flat %s that decode accepts", writer->name);
    }

    /* Reader decoders: where they resolve the writer, the same verdict. */
    for (size_t i = 0; i < tally_catalog_count(c->cat); i++) {
        avro_value_t *rv;
        int rrc;

        rrc = decode(c->readers[i], msg, len, &rv, NULL);
        if (rrc == TALLY_CODEC_ERR_UNRESOLVABLE || rc == TALLY_CODEC_ERR_UNRESOLVABLE)
            continue;
        /* A branch the older reader lacks: only ever said of a sound record. */
        if (rrc == TALLY_CODEC_ERR_UNKNOWN_BRANCH) {
            if (rc != 0)
                fuzz_fail("read as %s: unknown_branch, but as written: %s", tally_catalog_entry(c->cat, i)->name,
                          tally_codec_error_name(rc));
            continue;
        }
        if ((rrc == 0) != (rc == 0))
            fuzz_fail("as written: %s; read as %s: %s", rc ? tally_codec_error_name(rc) : "ok",
                      tally_catalog_entry(c->cat, i)->name, rrc ? tally_codec_error_name(rrc) : "ok");
    }
    if (rc != 0)
        return;

    /* Re-encode, decode that, re-encode: a fixed point. */
    tally_encoder_t *enc = c->encoders[writer->index];
    if (tally_encoder_encode(enc, value, &out, &out_len, err, sizeof err) != 0)
        fuzz_fail("a decoded %s does not encode: %s", writer->name, err);
    uint8_t *first = copy(out, out_len, 0);
    size_t first_len = out_len;
    if (decode(c->any, first, first_len, &value, NULL) != 0)
        fuzz_fail("the re-encoded %s does not decode", writer->name);
    if (tally_encoder_encode(enc, value, &out, &out_len, err, sizeof err) != 0 || out_len != first_len ||
        memcmp(out, first, first_len) != 0)
        fuzz_fail("the re-encoded %s re-encodes to other bytes", writer->name);
    free(first);

    /* One byte more, one byte less. */
    uint8_t *longer = copy(msg, len, 1);
    longer[len] = 0;
    rc = decode(c->any, longer, len + 1, &value, NULL);
    if (rc != TALLY_CODEC_ERR_TRAILING)
        fuzz_fail("a %s with a byte more: %s, not trailing_bytes", writer->name,
                  rc ? tally_codec_error_name(rc) : "accepted");
    if (len > TALLY_CODEC_HEADER_LEN && decode(c->any, longer, len - 1, &value, NULL) == 0)
        fuzz_fail("a %s with a byte less decodes", writer->name);
    free(longer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *msg;
    size_t len;

    if (size < 1)
        return 0;
    cat_t *c = &cats[data[0] >> 6 == 3 ? 2 : data[0] >> 6 == 2 ? 1 : 0];
    if (c->cat == NULL)
        setup(c);
    if (data[0] & 0x20) {
        len = size - 1;
        msg = copy(data + 1, len, 0);
    } else {
        const tally_catalog_entry_t *e = tally_catalog_entry(c->cat, (data[0] & 0x1f) % tally_catalog_count(c->cat));
        uint64_t fp = e->fingerprint;

        len = TALLY_CODEC_HEADER_LEN + size - 1;
        msg = copy(data + 1, 0, len);
        msg[0] = 0xC3;
        msg[1] = 0x01;
        for (int i = 2; i < TALLY_CODEC_HEADER_LEN; i++, fp >>= 8)
            msg[i] = (uint8_t)(fp & 0xff);
        memcpy(msg + TALLY_CODEC_HEADER_LEN, data + 1, size - 1);
    }
    check(c, msg, len);
    free(msg);
    return 0;
}
