/*
 * fuzz_json_avro.c: JSON events to Avro (common/json_avro*.c) for every
 * schema version of schemas/, each input tried against all of them.
 * Whatever JSON a converter accepts must round-trip:
 *
 *   JSON --from_text--> value --encode--> single-object bytes
 *        --decode--> value' (equal to value) --to_json--> JSON'
 *        --from_json--> value'' --encode--> the same bytes.
 *
 * A refusal must say why. The input is a heap copy of its exact size, so
 * the reader cannot look past it unseen.
 *
 * Then the same with the fields a gateway sets (ingest.c): received_at
 * always, event_id only when the event has none. What converts without
 * them converts with them, the value holds the set received_at, and it
 * round-trips the same way.
 *
 * With TALLY_FUZZ_DUMP_DIR set, each accepted event's encoding is written
 * there as an input of fuzz_codec_decode (selector 0x20, the message):
 * how corpus/codec_decode got its messages from corpus/json_avro.
 */
#include "fuzz_util.h"

#include "codec.h"
#include "json_avro.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct target_t {
    const tally_catalog_entry_t *entry;
    tally_json_avro_t *conv;
    avro_value_t value, again;
    tally_encoder_t *enc;
    tally_json_avro_fill_t fill[2];   /* as a gateway sets them */
    size_t n_fill;
    int received_at;                  /* its field index, or -1 */
} target_t;

#define RECEIVED_AT 1714566896123LL

static void make_uuid(void *arg, char *buf, size_t size)
{
    (void)arg;
    snprintf(buf, size, "\"00000000-0000-4000-8000-00000000cafe\"");
}

static target_t *targets;
static size_t n_targets;
static tally_decoder_t *decoder;

static void setup(void)
{
    const tally_catalog_t *cat = fuzz_catalog("schemas");
    char err[1024] = "";

    n_targets = tally_catalog_count(cat);
    targets = calloc(n_targets, sizeof *targets);
    if (targets == NULL)
        fuzz_fail("out of memory");
    for (size_t i = 0; i < n_targets; i++) {
        target_t *t = &targets[i];

        t->entry = tally_catalog_entry(cat, i);
        t->conv = tally_json_avro_new(t->entry->json, NULL, err, sizeof err);
        if (t->conv == NULL || tally_json_avro_check_schema(t->conv, t->entry->schema, err, sizeof err) != 0)
            fuzz_fail("%s v%d: no converter: %s", t->entry->name, t->entry->version, err);
        if (tally_codec_value_new(t->entry, &t->value, err, sizeof err) != 0 ||
            tally_codec_value_new(t->entry, &t->again, err, sizeof err) != 0)
            fuzz_fail("%s", err);
        t->enc = tally_encoder_new(t->entry);
        t->received_at = avro_schema_record_field_get_index(t->entry->schema, "received_at");
        if (t->received_at >= 0)
            t->fill[t->n_fill++] = (tally_json_avro_fill_t){"received_at", "1714566896123", NULL, NULL, true};
        if (avro_schema_record_field_get_index(t->entry->schema, "event_id") >= 0)
            t->fill[t->n_fill++] = (tally_json_avro_fill_t){"event_id", NULL, make_uuid, NULL, false};
    }
    decoder = tally_decoder_new_any(cat);
}

/* FNV-1a, to name dumped files by their content. */
static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = UINT64_C(14695981039346656037);

    while (n-- > 0)
        h = (h ^ *p++) * UINT64_C(1099511628211);
    return h;
}

static void dump(const target_t *t, const uint8_t *msg, size_t len)
{
    const char *dir = getenv("TALLY_FUZZ_DUMP_DIR");
    char path[4096];
    FILE *f;

    if (dir == NULL || *dir == '\0')
        return;
    snprintf(path, sizeof path, "%s/%s-v%d-%016llx", dir, t->entry->name, t->entry->version,
             (unsigned long long)fnv1a(msg, len));
    f = fopen(path, "wb");
    if (f == NULL || fputc(0x20, f) == EOF || fwrite(msg, 1, len, f) != len || fclose(f) != 0)
        fuzz_fail("cannot write %s", path);
}

/* Returns whether text converted. */
static bool round_trip(target_t *t, const char *text, size_t len, bool filled)
{
    const char *name = t->entry->name;
    const tally_catalog_entry_t *writer = NULL;
    avro_value_t *decoded;
    const void *out;
    size_t out_len, first_len;
    uint8_t *first;
    json_t *json = NULL;
    char err[1024] = "";
    int rc;

    rc = tally_json_avro_from_text(t->conv, text, len, &t->value, filled ? t->fill : NULL,
                                   filled ? t->n_fill : 0, err, sizeof err);
    if (rc != 0) {
        if (err[0] == '\0')
            fuzz_fail("%s: refused (%d) without a reason", name, rc);
        if (rc == TALLY_JSON_AVRO_ERR_INTERNAL)
            fuzz_fail("%s: internal error on input: %s", name, err);
        return false;
    }
    if (filled && t->received_at >= 0) {
        avro_value_t f;
        int64_t at = 0;
        if (avro_value_get_by_index(&t->value, (size_t)t->received_at, &f, NULL) != 0 ||
            avro_value_get_long(&f, &at) != 0 || at != RECEIVED_AT)
            fuzz_fail("%s: received_at is %lld, not the one set", name, (long long)at);
    }
    if (tally_encoder_encode(t->enc, &t->value, &out, &out_len, err, sizeof err) != 0)
        fuzz_fail("%s: an accepted event does not encode: %s", name, err);
    first = malloc(out_len);
    if (first == NULL)
        fuzz_fail("out of memory");
    memcpy(first, out, out_len);
    first_len = out_len;
    dump(t, first, first_len);

    rc = tally_decoder_decode(decoder, first, first_len, &decoded, &writer, err, sizeof err);
    if (rc != 0)
        fuzz_fail("%s: its encoding does not decode: %s: %s", name, tally_codec_error_name(rc), err);
    if (writer == NULL || writer->fingerprint != t->entry->fingerprint)
        fuzz_fail("%s: decoded as another schema", name);
    if (!avro_value_equal(&t->value, decoded))
        fuzz_fail("%s: the decoded value differs from the encoded one", name);
    rc = tally_json_avro_to_json(t->conv, decoded, &json, err, sizeof err);
    if (rc != 0)
        fuzz_fail("%s: a decoded event has no JSON form: %s", name, err);
    rc = tally_json_avro_from_json(t->conv, json, &t->again, err, sizeof err);
    if (rc != 0) {
        char *s = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY);
        fuzz_fail("%s: its own JSON form is refused: %s\n%s", name, err, s ? s : "?");
    }
    if (tally_encoder_encode(t->enc, &t->again, &out, &out_len, err, sizeof err) != 0)
        fuzz_fail("%s: the converted-again event does not encode: %s", name, err);
    if (out_len != first_len || memcmp(out, first, first_len) != 0) {
        char *s = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY);
        fuzz_fail("%s: JSON -> Avro -> JSON -> Avro gives other bytes (%zu, then %zu); JSON form:\n%s", name,
                  first_len, out_len, s ? s : "?");
    }
    json_decref(json);
    free(first);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;

    if (targets == NULL)
        setup();
    text = malloc(size ? size : 1);
    if (text == NULL)
        fuzz_fail("out of memory");
    memcpy(text, data, size);
    for (size_t i = 0; i < n_targets; i++) {
        target_t *t = &targets[i];
        bool plain = round_trip(t, text, size, false);
        if (t->n_fill > 0 && !round_trip(t, text, size, true) && plain)
            fuzz_fail("%s: converts, but not with the fields a gateway sets", t->entry->name);
    }
    free(text);
    return 0;
}
