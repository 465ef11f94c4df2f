/*
 * rollup_record.h: ApiUsageRollup and SeatRollup as tally.rollups records:
 * the Kafka key and the value in the project's codec (Avro single-object
 * encoding of the latest schema version in the catalog).
 *
 * Keys (docs/architecture.md): "tenant|environment|day" and "tenant|day", the day as
 * YYYY-MM-DD (UTC). The topic is compacted, so two rollups must never
 * share a key: in the ids, '%' is written "%25" and '|' "%7C" (ids are
 * printable ASCII; usual ids contain neither and read as themselves).
 */
#ifndef TALLY_AGGREGATOR_ROLLUP_RECORD_H
#define TALLY_AGGREGATOR_ROLLUP_RECORD_H

#include <stddef.h>

#include "rollup.h"
#include "schema_catalog.h"

typedef struct tally_rollup_record_t tally_rollup_record_t;

/* A growable key buffer (zero-initialize; free with
 * tally_rollup_key_free). Allocation failure aborts. */
typedef struct tally_rollup_key_t {
    char *data;     /* NUL-terminated after each tally_rollup_key_* call */
    size_t len, cap;
} tally_rollup_key_t;

/* Write the key of a rollup into k, replacing what it held. */
void tally_rollup_key_api(tally_rollup_key_t *k, const char *tenant_id, const char *environment_id,
                          int32_t day);
void tally_rollup_key_seat(tally_rollup_key_t *k, const char *tenant_id, int32_t day);
void tally_rollup_key_free(tally_rollup_key_t *k);

/* An encoder of both record types, borrowing cat (which must outlive it).
 * Returns an owned encoder, or NULL with errbuf when the catalog lacks
 * ApiUsageRollup or SeatRollup. */
tally_rollup_record_t *tally_rollup_record_new(const tally_catalog_t *cat, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* NULL is a no-op. */
void tally_rollup_record_free(tally_rollup_record_t *rr);

/* Encodes r (borrowed). *key and *value point into rr: valid until the
 * next encode of the same type or the free. Returns 0, or -1 with errbuf
 * (a value the schema cannot hold). */
int tally_rollup_record_api(tally_rollup_record_t *rr, const tally_api_rollup_t *r, const char **key,
                            size_t *key_len, const void **value, size_t *len, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));
int tally_rollup_record_seat(tally_rollup_record_t *rr, const tally_seat_rollup_t *r, const char **key,
                             size_t *key_len, const void **value, size_t *len, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

#endif /* TALLY_AGGREGATOR_ROLLUP_RECORD_H */
