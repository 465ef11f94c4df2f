/*
 * writer.h: a batch into PostgreSQL, exactly once.
 *
 * One transaction per batch:
 *   1. claim the offsets: for every partition of the batch, kafka_offsets
 *      moves from the offset the batch started at to the one after its last
 *      record, or the row is created when there was none. Any other stored
 *      value means another writer (a zombie member, or a commit whose answer
 *      was lost with the connection) got there first: the transaction is
 *      rolled back and the caller rewinds to what is stored (FENCED);
 *   2. product events: COPY straight into product_events (inside a
 *      savepoint), then the batch's pre-aggregated share of product_daily
 *      and its distinct installs; when an event_id is already there (a
 *      client sent it twice) that COPY fails, and the batch goes through a
 *      temporary stage and one INSERT ... ON CONFLICT (event_id) DO NOTHING
 *      that adds only the rows it inserted to product_daily;
 *   3. rollups: COPY the pre-aggregated entries into a stage, then one
 *      multi-row upsert per table; a row moves only to a record at or after
 *      the one it holds (same partition: offset order; else updated_at);
 *   4. Control Panel events and usage alerts: their prepared statements,
 *      pipelined in offset order (one round trip for all);
 *   5. COMMIT.
 * Nothing is sent per event; the round trips per batch are a handful.
 *
 * Not thread-safe: one writer per thread.
 */
#ifndef TALLY_WRITER_H
#define TALLY_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"

/* Results of the fallible calls besides 0. */
enum {
    TALLY_WRITER_FAILED = -1, /* a statement failed; the connection is fine */
    TALLY_WRITER_FENCED = -2, /* stored offsets are not the batch's: rewind */
    TALLY_WRITER_LOST = -3,   /* no connection (or it broke): reconnect */
};

typedef struct {
    const char *conninfo;           /* URL or key=value string */
    const char *schema;             /* where the read model lives: "tally" */
    const char *group;              /* consumer group: the kafka_offsets key */
    const char *application_name;   /* shown in pg_stat_activity */
    const char *topics[TALLY_ROLE_COUNT]; /* by role; alerts may be NULL (not read) */
} tally_writer_opts_t;

typedef struct tally_writer_t tally_writer_t;

/* A partition's next offset as stored for the group. */
typedef struct tally_stored_offset_t {
    tally_topic_role_t role;
    int32_t partition;
    int64_t next_offset;
} tally_stored_offset_t;

/* Returns an owned writer (strings of o copied), not yet connected. Aborts
 * when out of memory. */
tally_writer_t *tally_writer_new(const tally_writer_opts_t *o);

/* Disconnects and frees; NULL is a no-op. */
void tally_writer_free(tally_writer_t *w);

/* (Re)connects: closes any old connection, opens a new one, creates the
 * session's stage tables and prepares the statements. Returns 0 or
 * TALLY_WRITER_LOST with errbuf. */
int tally_writer_connect(tally_writer_t *w, char *errbuf, size_t errsize) __attribute__((warn_unused_result));

/* Whether a connection is open and was fine at its last use. */
int tally_writer_connected(const tally_writer_t *w);

/* Closes the connection; the writer can connect again. */
void tally_writer_disconnect(tally_writer_t *w);

/* A round trip on the open connection: 0, or TALLY_WRITER_LOST with errbuf
 * (the connection is then closed). */
int tally_writer_ping(tally_writer_t *w, char *errbuf, size_t errsize) __attribute__((warn_unused_result));

/* Every offset stored for the group on the writer's topics. *rows is a
 * malloc'd array the caller frees (NULL when *n is 0). Returns 0 or an
 * error code with errbuf. */
int tally_writer_load_offsets(tally_writer_t *w, tally_stored_offset_t **rows, size_t *n, char *errbuf,
                              size_t errsize) __attribute__((warn_unused_result));

/* Writes b (borrowed; unchanged) in one transaction as above. Returns 0
 * when committed, or an error code with errbuf; on error nothing of the
 * batch is in the database (or, for LOST during COMMIT, maybe all of it:
 * the next write is then FENCED and the caller rewinds). */
int tally_writer_write(tally_writer_t *w, const tally_batch_t *b, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

#endif
