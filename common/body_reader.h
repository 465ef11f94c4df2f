/*
 * Reads Avro binary bodies written with one catalog schema into a value of
 * another (or the same) schema, checking every declared length against the
 * bytes that remain, so hostile input yields an error, never a huge
 * allocation or a crash. The codec's decoder keeps one per writer schema.
 */
#ifndef TALLY_BODY_READER_H
#define TALLY_BODY_READER_H

#include <stddef.h>

#include <avro.h>

#include "schema_catalog.h"

typedef struct tally_body_reader_t tally_body_reader_t;

/* A reader of bodies written with writer into dest, a value of reader's
 * schema; writer and reader (borrowed) must outlive it, dest is referenced
 * (avro_value_incref) until tally_body_reader_free. The same fingerprint
 * means no resolution. Returns an owned reader, or NULL with errbuf saying
 * why writer cannot be read as reader (TALLY_CODEC_ERR_UNRESOLVABLE). */
tally_body_reader_t *tally_body_reader_new(const tally_catalog_entry_t *writer,
                                           const tally_catalog_entry_t *reader,
                                           avro_value_t *dest, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Frees the reader and drops its reference to dest; NULL is a no-op. */
void tally_body_reader_free(tally_body_reader_t *br);

/* Reads the body buf[offset..len) (borrowed) into dest; all of it must be
 * used. Returns 0 or TALLY_CODEC_ERR_BODY, _UNRESOLVABLE (a datum with no
 * place in the reader schema), _TRAILING, or _UNKNOWN_BRANCH (a writer
 * union branch the reader lacks, in an otherwise sound body), with errbuf
 * giving the byte position in buf. dest is partly overwritten on error. */
int tally_body_reader_read(tally_body_reader_t *br, const void *buf, size_t len, size_t offset,
                           char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

#endif
