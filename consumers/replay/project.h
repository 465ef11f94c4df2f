/*
 * project.h: Kafka records into a read model schema with the
 * materializer's own code: inbound.h decodes and checks each record into a
 * batch (batch.h), writer.h writes each batch in one transaction together
 * with its offsets in that schema's kafka_offsets, under the group given.
 * The same rules as tally-materializer, so a projection of the same
 * records gives the same rows.
 *
 * What the materializer would send to its dead-letter topic is counted,
 * never sent: tally-replay writes nothing to Kafka.
 */
#ifndef TALLY_REPLAY_PROJECT_H
#define TALLY_REPLAY_PROJECT_H

#include <stddef.h>
#include <stdint.h>

#include "reader.h"
#include "schema_catalog.h"

/* Range tags: the materializer's topic roles (batch.h tally_topic_role_t). */
#define TALLY_PROJECT_ROLES 4

typedef struct tally_project_opts_t {
    const char *pg_url;
    const char *schema;                     /* where to write */
    const char *group;                      /* the kafka_offsets key */
    const char *topics[TALLY_PROJECT_ROLES]; /* rollups, product, Control Panel, alerts (NULL: not read) */
    const tally_catalog_t *catalog;         /* borrowed; must outlive the projection */
    int64_t batch_max_records, batch_max_bytes;
} tally_project_opts_t;

typedef struct tally_project_stats_t {
    uint64_t records[TALLY_PROJECT_ROLES];
    uint64_t refused;       /* what the materializer dead-letters */
    uint64_t skipped;       /* what it skips: unknown_branch (inbound.h) */
    uint64_t batches;
} tally_project_stats_t;

typedef struct tally_project_t tally_project_t;

/* Connects to PostgreSQL and prepares the writer on o->schema (which must
 * hold the read model tables). Strings of o are copied. Returns an owned
 * projection, or NULL with errbuf. */
tally_project_t *tally_project_new(const tally_project_opts_t *o, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* NULL is a no-op. */
void tally_project_free(tally_project_t *p);

/* A tally_replay_record_fn (ctx: the projection; each range's tag its
 * role): adds the record to the batch, writing the batch when it is full.
 * Returns 0, or -1 when a write failed (tally_project_error says why). */
int tally_project_record(void *ctx, const tally_replay_record_t *rec);

/* Writes what the batch holds. Returns 0 or -1 with errbuf. */
int tally_project_flush(tally_project_t *p, char *errbuf, size_t errsize) __attribute__((warn_unused_result));

/* Why the last call failed (borrowed). */
const char *tally_project_error(const tally_project_t *p);

/* The next offset stored for role/partition by this projection (what its
 * kafka_offsets row holds), or -1 when it wrote none. */
int64_t tally_project_next_offset(const tally_project_t *p, int role, int32_t partition);

void tally_project_stats(const tally_project_t *p, tally_project_stats_t *out);

#endif
