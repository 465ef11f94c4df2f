/*
 * shadow.h: a second copy of the read model's tables in another schema
 * (the "shadow"), compared with the live one and swapped with it.
 *
 * The tables are those the materializer writes (tally_shadow_tables):
 * everything else of the live schema (views, grants on it, the migration
 * record, any other object) stays where it is.
 *
 * Creation copies each live table's definition, not the migrations: CREATE
 * TABLE ... (LIKE live.t INCLUDING ALL), its indexes renamed to the live
 * names, the live owner and grants. So the shadow matches whatever
 * migrations the live schema has had.
 *
 * The swap, in one transaction, exchanges the tables, not the schemas:
 * each live table moves out, its shadow twin moves in, and the old one
 * moves into the shadow schema (kept: swapping again undoes it). Renaming
 * the schemas instead would leave the views, the tally_reader grants and
 * schema_migrations behind in the renamed schema. Views hold tables by
 * identity, not by name, so every view on a swapped table is replaced in
 * the same transaction with its own definition (CREATE OR REPLACE VIEW:
 * same identity, owner and grants, now reading the new tables). Prepared
 * statements of running sessions (tally-materializer's) are planned again
 * on their next use, by name, so they write to the new tables.
 *
 * Locks: the swap first takes tally.kafka_offsets (every materializer
 * transaction starts there, so nothing can deadlock with it) and waits at
 * most lock_timeout for it; while it holds it, the materializer waits
 * before its next batch. The other tables are taken just before the move.
 */
#ifndef TALLY_REPLAY_SHADOW_H
#define TALLY_REPLAY_SHADOW_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

/* The tables the materializer writes (NULL-terminated). */
extern const char *const tally_shadow_tables[];

/* Whether name is a schema name tally-replay may create: [a-z_][a-z0-9_]*,
 * at most 63 bytes, not pg_*, public or information_schema. */
int tally_shadow_name_ok(const char *name);

/* Creates schema shadow with an empty copy of every table of
 * tally_shadow_tables from schema live, in one transaction. Returns 0, -1
 * with errbuf, or -2 when shadow already exists. conn borrowed. */
int tally_shadow_create(PGconn *conn, const char *live, const char *shadow, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* How one table of the two schemas compares (kafka_offsets aside: its
 * rows are the consumers' own). */
typedef struct tally_shadow_diff_t {
    const char *table;              /* static */
    int64_t live_rows, shadow_rows;
    int64_t only_live, only_shadow; /* rows (with duplicates) in one and not the other */
    char *samples;                  /* a few such rows as text, one a line, or NULL; owned */
} tally_shadow_diff_t;

/* Compares every table of tally_shadow_tables but kafka_offsets, with up
 * to samples rows each way. *out is malloc'd (free with
 * tally_shadow_diffs_free). Returns 0 or -1 with errbuf. */
int tally_shadow_compare(PGconn *conn, const char *live, const char *shadow, int samples, tally_shadow_diff_t **out,
                         size_t *n, char *errbuf, size_t errsize) __attribute__((warn_unused_result));

void tally_shadow_diffs_free(tally_shadow_diff_t *d, size_t n);

/* Starts the swap: BEGIN, then locks live.kafka_offsets, waiting at most
 * lock_timeout_ms. The caller may read it and catch up on what the live
 * materializer wrote meanwhile (other connections may write the shadow).
 * Returns 0, or -1 with errbuf (rolled back). */
int tally_shadow_swap_begin(PGconn *conn, const char *live, int lock_timeout_ms, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Finishes it: locks the rest, exchanges the tables, replaces the views
 * on them, commits. *views gets how many views were replaced. Returns 0,
 * or -1 with errbuf, everything rolled back. */
int tally_shadow_swap_finish(PGconn *conn, const char *live, const char *shadow, int *views, char *errbuf,
                             size_t errsize) __attribute__((warn_unused_result));

/* Rolls an open swap back (after a failure between begin and finish). */
void tally_shadow_swap_abort(PGconn *conn);

#endif
