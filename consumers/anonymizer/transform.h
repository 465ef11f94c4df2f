/*
 * transform.h: one raw record in, one clean record or one DLQ verdict out,
 * with no Kafka and no I/O (the pipeline produces what this decides).
 *
 *   ProductEvent  -> ProductEventClean, to the product topic, key install_ref:
 *                    install_id and project_id become keyed pseudonyms;
 *                    properties the event catalog does not allow for the
 *                    event are dropped (and counted); version, property
 *                    values and the error's message and stack are scrubbed
 *   SeatEvent     -> SeatEventClean, to the usage topic, key tenant_id:
 *                    user_id becomes seat_ref
 *   UsageReport   -> the same bytes, to the usage topic, key tenant_id
 *                    (raw and clean share the schema; nothing to remove)
 *   anything else -> DLQ: undecodable bytes or an unknown fingerprint
 *                    (stage "decode", error from tally_codec_error_name), a
 *                    record of another schema ("route", unexpected_schema),
 *                    or an event that breaks the rules below ("validate")
 *
 * Validation: event_id must be a UUID, install_id, tenant_id and user_id
 * non-empty, the event name in the catalog and allowed for its source.
 *
 * The transformer reuses its decoders, values, encoders and scrubber, so
 * after warm-up it allocates only where avro-c does (map entries).
 */
#ifndef TALLY_ANONYMIZER_TRANSFORM_H
#define TALLY_ANONYMIZER_TRANSFORM_H

#include <stddef.h>

#include "event_catalog.h"
#include "metrics.h"
#include "pseudonym.h"
#include "schema_catalog.h"

typedef enum tally_anon_dest_t {
    TALLY_ANON_PRODUCT,   /* the clean product topic */
    TALLY_ANON_USAGE,     /* the clean usage topic */
    TALLY_ANON_DLQ,       /* the dead-letter topic, with the verdict as headers */
} tally_anon_dest_t;

/* What to produce for one raw record. Pointers are borrowed from the
 * transformer (or from the input, for a usage report) and valid until the
 * next tally_transform_record. */
typedef struct tally_anon_result_t {
    tally_anon_dest_t dest;
    const void *key;
    size_t key_len;
    const void *value;          /* DLQ: NULL (see anonymizer.h) */
    size_t len;
    /* DLQ only: */
    const char *error;          /* stable name, e.g. "unknown_schema", "unknown_event" */
    const char *stage;          /* "decode", "route", "validate" ("transform": a bug) */
    char detail[256];           /* why, naming fields and schemas, never values */
    const tally_catalog_entry_t *writer;  /* writer schema when known, else NULL */
} tally_anon_result_t;

typedef struct tally_transform_opts_t {
    const tally_catalog_t *schemas;        /* borrowed */
    const tally_event_catalog_t *events;   /* borrowed */
    const tally_pseudonym_t *pseudonyms;   /* borrowed */
    tally_metrics_t *metrics;              /* borrowed; may be NULL */
} tally_transform_opts_t;

typedef struct tally_transform_t tally_transform_t;

/* Builds the decoders (ProductEvent, SeatEvent, UsageReport: their latest
 * versions as readers) and the clean values and encoders (latest
 * ProductEventClean and SeatEventClean). Refuses clean schemas with fields
 * this code does not fill. The options' objects must outlive it. Returns
 * an owned transformer, or NULL with errbuf. One per thread. */
tally_transform_t *tally_transform_new(const tally_transform_opts_t *opts, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* NULL is a no-op. */
void tally_transform_free(tally_transform_t *tr);

/* Transforms the raw record value buf[0..len) (borrowed) into *out. Never
 * fails: a record that cannot become clean gets a DLQ verdict. */
void tally_transform_record(tally_transform_t *tr, const void *buf, size_t len, tally_anon_result_t *out);

/* Publishes the counts kept since the last call (records by type,
 * pseudonyms, dropped properties, redactions) to the metrics; also done
 * every 1024 records. DLQ verdicts are counted at once. */
void tally_transform_flush_metrics(tally_transform_t *tr);

#endif /* TALLY_ANONYMIZER_TRANSFORM_H */
