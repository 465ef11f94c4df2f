#ifndef TALLY_PG_MIGRATE_H
#define TALLY_PG_MIGRATE_H

#include <stddef.h>
#include <libpq-fe.h>

/* Applies the migrations of dir (files NNNN_name.sql, in name order) that the
 * database has not recorded yet, each in its own transaction together with its
 * row in tally.schema_migrations (name, SHA-256, time). A migration must not
 * contain transaction control of its own.
 *
 * Refuses, naming the file, and changes nothing when: a file name does not
 * follow NNNN_name.sql; a recorded migration's file is missing; a recorded
 * migration's file changed since (checksum); a new file sorts before the last
 * applied one. A migration that fails is rolled back and named with the
 * server's message; those before it stay applied.
 *
 * Concurrent runners serialize on an advisory lock. Borrows conn.
 * On success returns 0 and the number applied in *applied (may be NULL). */
int tally_migrate_apply(PGconn *conn, const char *dir, int *applied,
                        char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

#endif
