/*
 * Avro single-object encoding of Kafka record values: C3 01, the 8-byte
 * little-endian CRC-64-AVRO fingerprint of the writer schema's Parsing
 * Canonical Form, then the Avro binary body.
 *
 * Encoders and decoders are per thread and reuse their buffers and values,
 * so after the first messages the hot path does not allocate (avro-c itself
 * still allocates when a union changes branch and for array/map items).
 * The catalog they borrow must outlive them.
 */
#ifndef TALLY_CODEC_H
#define TALLY_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <avro.h>

#include "schema_catalog.h"

/* Size of the single-object header: magic (2) + fingerprint (8). */
#define TALLY_CODEC_HEADER_LEN 10

/* Errors (negative); tally_codec_error_name gives each a stable name. */
enum {
    TALLY_CODEC_ERR_SHORT = -1,          /* fewer than 10 bytes */
    TALLY_CODEC_ERR_MAGIC = -2,          /* does not start with C3 01 */
    TALLY_CODEC_ERR_UNKNOWN_SCHEMA = -3, /* fingerprint not in the catalog */
    TALLY_CODEC_ERR_UNRESOLVABLE = -4,   /* writer schema cannot be read as the reader's */
    TALLY_CODEC_ERR_BODY = -5,           /* body truncated or undecodable */
    TALLY_CODEC_ERR_TRAILING = -6,       /* bytes left after the body */
    TALLY_CODEC_ERR_ENCODE = -7,         /* value cannot be encoded */
    TALLY_CODEC_ERR_UNKNOWN_BRANCH = -8, /* a well-formed body whose union branch the reader
                                          * schema lacks (a newer writer version): skip it */
};

/* "short", "bad_magic", "unknown_schema", "unresolvable", "undecodable",
 * "trailing_bytes", "encode", "unknown_branch" or "unknown" (static
 * strings, e.g. for DLQ headers). */
const char *tally_codec_error_name(int code);

/* The writer fingerprint of a single-object message, without decoding it. */
int tally_codec_peek_fingerprint(const void *buf, size_t len, uint64_t *fingerprint,
                                 char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* A new generic value of schema (borrowed), for building records to encode;
 * the caller owns *value, reuses it with avro_value_reset and releases it
 * with avro_value_decref. */
int tally_codec_value_new(const tally_catalog_entry_t *schema, avro_value_t *value,
                          char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

typedef struct tally_encoder_t tally_encoder_t;

/* An encoder for values of schema (borrowed). Returns an owned encoder
 * (free with tally_encoder_free); aborts if out of memory. */
tally_encoder_t *tally_encoder_new(const tally_catalog_entry_t *schema);

/* Frees the encoder; NULL is a no-op. */
void tally_encoder_free(tally_encoder_t *enc);

/* Encodes value (borrowed; its schema must be the encoder's). *out points
 * into the encoder's buffer: valid until the next encode or free. */
int tally_encoder_encode(tally_encoder_t *enc, avro_value_t *value, const void **out,
                         size_t *out_len, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

typedef struct tally_decoder_t tally_decoder_t;

/* A decoder that reads any writer schema of cat (borrowed) whose record
 * resolves to reader (borrowed, an entry of cat): missing reader fields
 * take their defaults, extra writer fields are skipped. Returns an owned
 * decoder (free with tally_decoder_free); aborts if out of memory. */
tally_decoder_t *tally_decoder_new(const tally_catalog_t *cat, const tally_catalog_entry_t *reader);

/* A decoder that reads every schema of cat (borrowed) as written, without
 * resolution, for topics that carry several record types. */
tally_decoder_t *tally_decoder_new_any(const tally_catalog_t *cat);

/* Frees the decoder and its values; NULL is a no-op. */
void tally_decoder_free(tally_decoder_t *dec);

/* Decodes one single-object message buf[0..len) (borrowed). On success
 * *value is the decoder's value (reader schema, or the writer's for an
 * any-decoder) and *writer (may be NULL) the writer's catalog entry; both
 * are borrowed and *value is valid until the next decode or free. On error
 * returns a TALLY_CODEC_ERR_* code and errbuf says why.
 *
 * Schema evolution: a newer writer version that appends branches to a
 * union (ControlPanelEvent v2 over v1) resolves to an older reader. A
 * record of an old branch decodes as usual; a record of a branch the
 * reader lacks returns TALLY_CODEC_ERR_UNKNOWN_BRANCH, and only when the
 * whole body is otherwise well formed (a damaged one is _BODY or
 * _TRAILING), so a reader may skip it as "not for me" rather than treat it
 * as corrupt. *value is then unspecified; the decoder stays usable. */
int tally_decoder_decode(tally_decoder_t *dec, const void *buf, size_t len, avro_value_t **value,
                         const tally_catalog_entry_t **writer, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* One field of a flat record (see tally_decoder_decode_flat). */
typedef struct tally_flat_field_t {
    avro_type_t type;       /* AVRO_STRING, AVRO_INT64, AVRO_INT32 or AVRO_ENUM */
    avro_schema_t schema;   /* the field's schema, links followed (borrowed) */
    int64_t number;         /* INT64, INT32; ENUM: the symbol index */
    const char *str;        /* STRING: its bytes and a NUL (may hold others) */
    size_t len;             /* STRING: bytes before that last NUL */
} tally_flat_field_t;

/* tally_decoder_decode without building the value, for an any-decoder and
 * a writer schema that is a record of only strings, ints, longs and enums:
 * returns 0 with the writer's fields in order (*fields, n_fields of them,
 * borrowed until the next decode or free) and *writer, exactly when
 * tally_decoder_decode would succeed, with the same data. Otherwise (another
 * decoder or schema, or anything wrong with buf) returns 1, and
 * tally_decoder_decode gives the result and the error. The decoder's value
 * is left as it was. */
int tally_decoder_decode_flat(tally_decoder_t *dec, const void *buf, size_t len,
                              const tally_flat_field_t **fields, size_t *n_fields,
                              const tally_catalog_entry_t **writer)
    __attribute__((warn_unused_result));

#endif
