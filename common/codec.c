/*
 * Single-object encoding and decoding: the framing, the encoder, and the
 * decoder's cache of body readers (body_reader.c), one per writer schema,
 * built on the first message of that schema.
 */
#include "codec.h"

#include "body_reader.h"
#include "errbuf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t magic[2] = { 0xC3, 0x01 };

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        fprintf(stderr, "codec: out of memory (%zu bytes)\n", n);
        abort();
    }
    return q;
}

static void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size);
    if (p == NULL) {
        fprintf(stderr, "codec: out of memory (%zu x %zu bytes)\n", count, size);
        abort();
    }
    return p;
}

const char *tally_codec_error_name(int code)
{
    switch (code) {
    case TALLY_CODEC_ERR_SHORT: return "short";
    case TALLY_CODEC_ERR_MAGIC: return "bad_magic";
    case TALLY_CODEC_ERR_UNKNOWN_SCHEMA: return "unknown_schema";
    case TALLY_CODEC_ERR_UNRESOLVABLE: return "unresolvable";
    case TALLY_CODEC_ERR_BODY: return "undecodable";
    case TALLY_CODEC_ERR_TRAILING: return "trailing_bytes";
    case TALLY_CODEC_ERR_ENCODE: return "encode";
    case TALLY_CODEC_ERR_UNKNOWN_BRANCH: return "unknown_branch";
    default: return "unknown";
    }
}

int tally_codec_peek_fingerprint(const void *buf, size_t len, uint64_t *fingerprint,
                                 char *errbuf, size_t errsize)
{
    const uint8_t *b = buf;
    uint64_t fp = 0;

    if (len < TALLY_CODEC_HEADER_LEN) {
        tally_errbuf_set(errbuf, errsize, "message of %zu bytes is shorter than the %d-byte single-object header",
                  len, TALLY_CODEC_HEADER_LEN);
        return TALLY_CODEC_ERR_SHORT;
    }
    if (b[0] != magic[0] || b[1] != magic[1]) {
        tally_errbuf_set(errbuf, errsize, "bad magic %02X %02X, expected C3 01 (Avro single-object encoding)",
                  b[0], b[1]);
        return TALLY_CODEC_ERR_MAGIC;
    }
    for (int i = 9; i >= 2; i--)
        fp = (fp << 8) | b[i];
    *fingerprint = fp;
    return 0;
}

int tally_codec_value_new(const tally_catalog_entry_t *schema, avro_value_t *value,
                          char *errbuf, size_t errsize)
{
    if (avro_generic_value_new(schema->iface, value) != 0) {
        tally_errbuf_set(errbuf, errsize, "cannot create a %s value: %s", schema->name, avro_strerror());
        return TALLY_CODEC_ERR_ENCODE;
    }
    return 0;
}

/* ---- encoder ---------------------------------------------------------- */

struct tally_encoder_t {
    const tally_catalog_entry_t *schema;
    uint8_t *buf;
    size_t cap;
    avro_writer_t writer;   /* memory writer over buf, retargeted per call */
};

tally_encoder_t *tally_encoder_new(const tally_catalog_entry_t *schema)
{
    tally_encoder_t *enc = xcalloc(1, sizeof *enc);

    enc->schema = schema;
    return enc;
}

void tally_encoder_free(tally_encoder_t *enc)
{
    if (enc == NULL)
        return;
    if (enc->writer != NULL)
        avro_writer_free(enc->writer);
    free(enc->buf);
    free(enc);
}

int tally_encoder_encode(tally_encoder_t *enc, avro_value_t *value, const void **out,
                         size_t *out_len, char *errbuf, size_t errsize)
{
    const tally_catalog_entry_t *s = enc->schema;
    avro_schema_t vs = avro_value_get_schema(value);
    size_t size = 0, need;
    uint64_t fp = s->fingerprint;

    /* A value of another schema under this fingerprint would poison the topic. */
    if (vs != s->schema && (vs == NULL || !avro_schema_equal(vs, s->schema))) {
        tally_errbuf_set(errbuf, errsize, "value is not of schema %s v%d", s->name, s->version);
        return TALLY_CODEC_ERR_ENCODE;
    }
    if (avro_value_sizeof(value, &size) != 0) {
        tally_errbuf_set(errbuf, errsize, "cannot size %s value: %s", s->name, avro_strerror());
        return TALLY_CODEC_ERR_ENCODE;
    }
    need = TALLY_CODEC_HEADER_LEN + size;
    if (need > enc->cap) {
        /* Headroom, so records growing by a byte do not reallocate. */
        size_t cap = enc->cap ? enc->cap : 512;
        while (cap < need)
            cap *= 2;
        enc->buf = xrealloc(enc->buf, cap);
        enc->cap = cap;
    }
    enc->buf[0] = magic[0];
    enc->buf[1] = magic[1];
    for (int i = 2; i < TALLY_CODEC_HEADER_LEN; i++, fp >>= 8)
        enc->buf[i] = (uint8_t)(fp & 0xff);
    if (enc->writer == NULL) {
        enc->writer = avro_writer_memory((const char *)enc->buf + TALLY_CODEC_HEADER_LEN, (int64_t)size);
        if (enc->writer == NULL) {
            fprintf(stderr, "codec: out of memory (avro writer)\n");
            abort();
        }
    } else {
        avro_writer_memory_set_dest(enc->writer, (const char *)enc->buf + TALLY_CODEC_HEADER_LEN,
                                    (int64_t)size);
    }
    if (avro_value_write(enc->writer, value) != 0) {
        tally_errbuf_set(errbuf, errsize, "cannot encode %s value: %s", s->name, avro_strerror());
        return TALLY_CODEC_ERR_ENCODE;
    }
    if ((size_t)avro_writer_tell(enc->writer) != size) {
        tally_errbuf_set(errbuf, errsize, "%s value encoded to %" PRId64 " bytes, sized %zu",
                  s->name, avro_writer_tell(enc->writer), size);
        return TALLY_CODEC_ERR_ENCODE;
    }
    *out = enc->buf;
    *out_len = need;
    return 0;
}

/* ---- decoder ---------------------------------------------------------- */

/* A writer record of only strings, ints, longs and enums, as
 * tally_decoder_decode_flat reads it. */
typedef struct flat_t {
    int state;                  /* 0 not tried, 1 flat, -1 not flat */
    size_t n;
    tally_flat_field_t *fields; /* type and schema set once; the rest per read */
} flat_t;

typedef struct slot_t {
    int state;                  /* 0 not tried, 1 ready, -1 unresolvable */
    tally_body_reader_t *br;
    avro_value_t value;         /* any-decoder: the value of this schema */
    char *error;                /* why state is -1 */
    flat_t flat;
} slot_t;

struct tally_decoder_t {
    const tally_catalog_t *cat;
    const tally_catalog_entry_t *reader;  /* NULL: any-decoder */
    avro_value_t value;                   /* reader-decoder: the reader value */
    slot_t *slots;                        /* one per writer entry of cat */
    char *strings;                        /* flat reads: NUL-terminated copies */
    size_t strings_cap;
};

static tally_decoder_t *decoder_new(const tally_catalog_t *cat, const tally_catalog_entry_t *reader)
{
    tally_decoder_t *dec = xcalloc(1, sizeof *dec);

    dec->cat = cat;
    dec->reader = reader;
    dec->slots = xcalloc(tally_catalog_count(cat), sizeof *dec->slots);
    if (reader != NULL && avro_generic_value_new(reader->iface, &dec->value) != 0) {
        fprintf(stderr, "codec: cannot create a %s value: %s\n", reader->name, avro_strerror());
        abort();
    }
    return dec;
}

tally_decoder_t *tally_decoder_new(const tally_catalog_t *cat, const tally_catalog_entry_t *reader)
{
    return decoder_new(cat, reader);
}

tally_decoder_t *tally_decoder_new_any(const tally_catalog_t *cat)
{
    return decoder_new(cat, NULL);
}

void tally_decoder_free(tally_decoder_t *dec)
{
    if (dec == NULL)
        return;
    for (size_t i = 0; i < tally_catalog_count(dec->cat); i++) {
        slot_t *s = &dec->slots[i];
        tally_body_reader_free(s->br);
        if (s->value.iface != NULL)
            avro_value_decref(&s->value);
        free(s->error);
        free(s->flat.fields);
    }
    if (dec->value.iface != NULL)
        avro_value_decref(&dec->value);
    free(dec->slots);
    free(dec->strings);
    free(dec);
}

/* Builds the body reader for writer w; remembers a failure. */
static void slot_build(tally_decoder_t *dec, slot_t *s, const tally_catalog_entry_t *w)
{
    char err[1024] = "";
    avro_value_t *dest = &dec->value;

    if (dec->reader == NULL) {
        if (avro_generic_value_new(w->iface, &s->value) != 0) {
            fprintf(stderr, "codec: cannot create a %s value: %s\n", w->name, avro_strerror());
            abort();
        }
        dest = &s->value;
    }
    s->br = tally_body_reader_new(w, dec->reader ? dec->reader : w, dest, err, sizeof err);
    if (s->br == NULL) {
        size_t n = strlen(err) + 1;
        s->error = memcpy(xrealloc(NULL, n), err, n);
        s->state = -1;
        return;
    }
    s->state = 1;
}

int tally_decoder_decode(tally_decoder_t *dec, const void *buf, size_t len, avro_value_t **value,
                         const tally_catalog_entry_t **writer, char *errbuf, size_t errsize)
{
    const tally_catalog_entry_t *w;
    slot_t *s;
    uint64_t fp;
    int rc;

    if ((rc = tally_codec_peek_fingerprint(buf, len, &fp, errbuf, errsize)) != 0)
        return rc;
    w = tally_catalog_find(dec->cat, fp);
    if (w == NULL) {
        tally_errbuf_set(errbuf, errsize, "unknown writer schema fingerprint %016" PRIx64, fp);
        return TALLY_CODEC_ERR_UNKNOWN_SCHEMA;
    }
    s = &dec->slots[w->index];
    if (s->state == 0)
        slot_build(dec, s, w);
    if (s->state < 0) {
        tally_errbuf_set(errbuf, errsize, "%s", s->error);
        return TALLY_CODEC_ERR_UNRESOLVABLE;
    }
    rc = tally_body_reader_read(s->br, buf, len, TALLY_CODEC_HEADER_LEN, errbuf, errsize);
    if (rc != 0)
        return rc;
    *value = dec->reader ? &dec->value : &s->value;
    if (writer != NULL)
        *writer = w;
    return 0;
}

/* ---- flat records ----------------------------------------------------- */

static avro_schema_t deref(avro_schema_t s)
{
    while (is_avro_link(s))
        s = avro_schema_link_target(s);
    return s;
}

/* Whether w's schema is a flat record; if so, its field types. */
static void flat_plan(flat_t *f, const tally_catalog_entry_t *w)
{
    avro_schema_t r = deref(w->schema);

    f->state = -1;
    if (!is_avro_record(r))
        return;
    f->n = avro_schema_record_size(r);
    f->fields = xcalloc(f->n, sizeof *f->fields);
    for (size_t i = 0; i < f->n; i++) {
        avro_schema_t fs = deref(avro_schema_record_field_get_by_index(r, (int)i));
        avro_type_t t = avro_typeof(fs);
        if (t != AVRO_STRING && t != AVRO_INT64 && t != AVRO_INT32 && t != AVRO_ENUM) {
            free(f->fields);
            f->fields = NULL;
            f->n = 0;
            return;
        }
        f->fields[i].type = t;
        f->fields[i].schema = fs;
    }
    f->state = 1;
}

/* A zig-zag varint as body_reader.c reads it; -1 where it reports an
 * error. */
static int flat_long(const uint8_t **pp, const uint8_t *end, int64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;

    for (int shift = 0; shift < 64; shift += 7) {
        if (p == end)
            return -1;
        uint8_t b = *p++;
        if (shift == 63 && b > 1)
            return -1;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)((v >> 1) ^ (0 - (v & 1)));
            *pp = p;
            return 0;
        }
    }
    return -1;
}

int tally_decoder_decode_flat(tally_decoder_t *dec, const void *buf, size_t len,
                              const tally_flat_field_t **fields, size_t *n_fields,
                              const tally_catalog_entry_t **writer)
{
    const uint8_t *b = buf, *p, *end = b + len;
    const tally_catalog_entry_t *w;
    uint64_t fp = 0;
    size_t used = 0;

    if (dec->reader != NULL || len < TALLY_CODEC_HEADER_LEN || b[0] != magic[0] || b[1] != magic[1])
        return 1;
    for (int i = 9; i >= 2; i--)
        fp = (fp << 8) | b[i];
    if ((w = tally_catalog_find(dec->cat, fp)) == NULL)
        return 1;
    flat_t *f = &dec->slots[w->index].flat;
    if (f->state == 0)
        flat_plan(f, w);
    if (f->state < 0)
        return 1;
    /* Every string fits in the body, each with a NUL added. */
    if (len + f->n > dec->strings_cap) {
        size_t cap = dec->strings_cap ? dec->strings_cap : 256;
        while (cap < len + f->n)
            cap *= 2;
        dec->strings = xrealloc(dec->strings, cap);
        dec->strings_cap = cap;
    }
    p = b + TALLY_CODEC_HEADER_LEN;
    for (size_t i = 0; i < f->n; i++) {
        tally_flat_field_t *x = &f->fields[i];
        int64_t v;
        if (flat_long(&p, end, &v) != 0)
            return 1;
        switch (x->type) {
        case AVRO_INT64:
            x->number = v;
            break;
        case AVRO_INT32:
            if (v < INT32_MIN || v > INT32_MAX)
                return 1;
            x->number = v;
            break;
        case AVRO_ENUM:
            if (v < 0 || v > INT32_MAX || v >= avro_schema_enum_number_of_symbols(x->schema))
                return 1;
            x->number = v;
            break;
        case AVRO_STRING:
            if (v < 0 || (uint64_t)v > (uint64_t)(end - p))
                return 1;
            x->str = memcpy(dec->strings + used, p, (size_t)v);
            dec->strings[used + (size_t)v] = '\0';
            x->len = (size_t)v;
            used += (size_t)v + 1;
            p += v;
            break;
        default:
            return 1;
        }
    }
    if (p != end)
        return 1;
    *fields = f->fields;
    *n_fields = f->n;
    *writer = w;
    return 0;
}
