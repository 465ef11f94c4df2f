#ifndef TALLY_PG_H
#define TALLY_PG_H

#include <stddef.h>
#include <libpq-fe.h>

/* Opens a connection to conninfo (a postgresql:// URL or key=value list),
 * tagged with application_name. Returns an owned connection (PQfinish it),
 * or NULL with the reason in errbuf. */
PGconn *tally_pg_connect(const char *conninfo, const char *application_name,
                         char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Runs sql (one or several statements, no parameters) and discards any rows.
 * Returns 0, or -1 with the server's message in errbuf. Borrows conn. */
int tally_pg_exec(PGconn *conn, const char *sql, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Checks a result: 0 when its status is PGRES_COMMAND_OK or PGRES_TUPLES_OK,
 * else -1 with the message copied into errbuf. Does not clear res. */
int tally_pg_check(const PGresult *res, PGconn *conn, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Rolls back the open transaction, if any, ignoring errors: for cleanup paths. */
void tally_pg_rollback_quietly(PGconn *conn);

#endif
