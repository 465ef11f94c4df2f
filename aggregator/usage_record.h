/*
 * usage_record.h: a decoded tally.usage record (UsageReport or
 * SeatEventClean, any version of either: fields are found by name) as the
 * rollup library's input, so tally-aggregator and tally-replay read the
 * topic the same way.
 */
#ifndef TALLY_AGGREGATOR_USAGE_RECORD_H
#define TALLY_AGGREGATOR_USAGE_RECORD_H

#include <stddef.h>

#include <avro.h>

#include "codec.h"
#include "rollup.h"
#include "schema_catalog.h"

typedef enum tally_usage_record_kind_t {
    TALLY_USAGE_RECORD_REPORT = 1,
    TALLY_USAGE_RECORD_SEAT = 2,
} tally_usage_record_kind_t;

typedef struct tally_usage_record_t {
    tally_usage_record_kind_t kind;
    tally_rollup_report_t report;   /* when kind is REPORT */
    tally_rollup_seat_event_t seat; /* when kind is SEAT */
} tally_usage_record_t;

/* Reads value (borrowed), a record of the schema named schema_name
 * ("UsageReport" or "SeatEventClean", e.g. the writer's catalog entry
 * name), into *out; its strings borrow from value (valid until the value
 * is reset or decoded over). Returns 0, or -1 with the reason in errbuf:
 * another schema, a missing or mistyped field, a string holding a NUL, an
 * unknown seat op. */
int tally_usage_record_read(const char *schema_name, avro_value_t *value,
                            tally_usage_record_t *out, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* A reader that resolves, once per writer schema, where the fields are:
 * the index of each field and the op symbols, for the few schemas (versions
 * of UsageReport and SeatEventClean) a topic carries. Same results and
 * errors as tally_usage_record_read, without a lookup by name per field and
 * record. Not thread-safe: one per thread. */
typedef struct tally_usage_reader_t tally_usage_reader_t;

/* Returns an owned reader (free with tally_usage_reader_free); aborts if
 * out of memory. */
tally_usage_reader_t *tally_usage_reader_new(void);

/* Frees the reader and drops its references to the schemas it saw; NULL is
 * a no-op. */
void tally_usage_reader_free(tally_usage_reader_t *rd);

/* tally_usage_record_read through rd: the first record of a schema (the
 * value's, referenced by rd until it is evicted or rd freed) resolves its
 * field indexes; later ones read by index and allocate nothing. */
int tally_usage_reader_read(tally_usage_reader_t *rd, const char *schema_name, avro_value_t *value,
                            tally_usage_record_t *out, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Decodes buf[0..len) (borrowed) with dec (an any-decoder, borrowed) and
 * reads it with rd: the results and errors of tally_decoder_decode then
 * tally_usage_reader_read, faster for the flat records UsageReport and
 * SeatEventClean are (no Avro value is built for them). Returns 0 with
 * *out (strings borrowed from dec or its value until its next decode) and
 * *writer; a TALLY_CODEC_ERR_* code (< 0) when buf cannot be decoded; or 1
 * when it is not a usage record (*writer set). errbuf says why. */
int tally_usage_reader_decode(tally_usage_reader_t *rd, tally_decoder_t *dec, const void *buf, size_t len,
                              tally_usage_record_t *out, const tally_catalog_entry_t **writer,
                              char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Applies rec (borrowed) to r with tally_rollup_apply_usage or _seat. */
tally_rollup_outcome_t tally_usage_record_apply(tally_rollup_t *r, const tally_usage_record_t *rec);

#endif /* TALLY_AGGREGATOR_USAGE_RECORD_H */
