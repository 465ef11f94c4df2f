/*
 * inbound.h: one Kafka record of an input topic into the batch.
 *
 * A record's writer schema (from its fingerprint) says what it is, and it is
 * read as the latest version of that schema in the catalog, except Control
 * Panel events, read as TALLY_PROJECTION_CP_VERSION when the catalog has
 * it (the latest otherwise):
 *   rollups topic       ApiUsageRollup, SeatRollup   -> pre-aggregated rollups
 *   product topic       ProductEventClean            -> a COPY text row
 *   Control Panel topic ControlPanelEvent            -> projection.h
 *   alerts topic        UsageAlert                   -> alert.h
 * Anything else, an undecodable body, or a value PostgreSQL would refuse is
 * reported with a stable error name for the dead-letter topic; the batch is
 * left as it was. A decoder and its values are reused: no allocation per
 * record once warm.
 */
#ifndef TALLY_INBOUND_H
#define TALLY_INBOUND_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "schema_catalog.h"

/* Results of tally_inbound_add besides 0 (added) and -1 (refused). */
#define TALLY_INBOUND_SKIPPED 1   /* a tombstone (no value): nothing to do */
/* A sound record of a newer schema version whose union branch the reader
 * lacks (a Control Panel event this projection does not know): skipped,
 * not dead-lettered, since nothing is wrong with it; *error is
 * "unknown_branch" and errbuf names the branch. Counting and logging it is
 * the caller's. A record whose writer schema the catalog lacks altogether
 * is unknown_schema (-1): it may be anything, so it is dead-lettered. */
#define TALLY_INBOUND_UNKNOWN_BRANCH 2

typedef struct tally_inbound_t tally_inbound_t;

/* Returns an owned decoder over cat (borrowed, must outlive it), or NULL
 * with errbuf when cat lacks one of the five schemas. */
tally_inbound_t *tally_inbound_new(const tally_catalog_t *cat, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Frees; NULL is a no-op. */
void tally_inbound_free(tally_inbound_t *in);

/* Adds the record value[0..len) (borrowed) read from role at
 * partition/offset to b. Returns 0, TALLY_INBOUND_SKIPPED,
 * TALLY_INBOUND_UNKNOWN_BRANCH, or -1 with a
 * static error name in *error ("unknown_schema", "unexpected_schema",
 * "invalid", or the codec's name) and the reason in errbuf. Does not track
 * the offset: the caller does, whatever the outcome. */
int tally_inbound_add(tally_inbound_t *in, tally_batch_t *b, tally_topic_role_t role, int32_t partition,
                      int64_t offset, const void *value, size_t len, const char **error, char *errbuf,
                      size_t errsize) __attribute__((warn_unused_result));

#endif
