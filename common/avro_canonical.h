/*
 * Avro Parsing Canonical Form and the CRC-64-AVRO (Rabin) fingerprint,
 * which avro-c lacks; the single-object encoding names a writer schema by
 * the fingerprint of its canonical form.
 *
 * Also the one schema rewrite the decoder needs ("widening"): avro-c's
 * resolved writer cannot fill reader fields from their defaults, so the
 * decoder resolves a writer schema that carries those fields too.
 */
#ifndef TALLY_AVRO_CANONICAL_H
#define TALLY_AVRO_CANONICAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* CRC-64-AVRO of len bytes at buf; 0xc15d213aa4d7a795 for no bytes.
 * Thread-safe (the table is built once). */
uint64_t tally_avro_fingerprint64(const void *buf, size_t len);

/* Parsing Canonical Form of the schema JSON text json[0..len).
 * On success *out is a NUL-terminated string the caller frees with free().
 * On error returns a negative code, *out is NULL and errbuf says why. */
int tally_avro_canonical_form(const char *json, size_t len, char **out,
                              char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Same, from an already parsed schema (borrowed). */
int tally_avro_canonical_json(const json_t *schema, char **out,
                              char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* A writer record that gained the reader's fields missing from it. */
typedef struct tally_avro_widened_t {
    char *record;          /* full name of the writer record */
    size_t writer_fields;  /* fields the writer really encodes */
    size_t added;          /* reader-only fields appended after them */
    json_t **defaults;     /* their default values, one reference each */
} tally_avro_widened_t;

/* Writes the writer schema (borrowed) in canonical style, appending to each
 * record the fields that the reader's record of the same name (borrowed)
 * has and the writer lacks, with the reader's types. *out (caller frees
 * with free()) parses with avro-c; *records and *nrecords (caller frees with
 * tally_avro_widened_free) list what was appended. A reader-only field
 * without a default is an error: no writer of this schema can be read. */
int tally_avro_widen(const json_t *writer, const json_t *reader, char **out,
                     tally_avro_widened_t **records, size_t *nrecords,
                     char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Frees what tally_avro_widen returned; NULL is a no-op. */
void tally_avro_widened_free(tally_avro_widened_t *records, size_t nrecords);

#endif
