/*
 * dbpool.h: the console's PostgreSQL connections (as tally_reader), which
 * outlive a database restart.
 *
 * A fixed number of connections, opened lazily. A request borrows one
 * (waiting at most wait_ms for a free one) and gives it back, saying
 * whether a query failed: a connection that a failure left broken
 * (PQstatus CONNECTION_BAD: the server restarted, the backend was killed)
 * is closed and reopened by the next borrower. While the database refuses
 * connections, attempts back off from 100 ms to 2 s for the whole pool and
 * borrowers are refused at once (the server answers 503), so a dead
 * database costs no request more than one connect timeout. Every
 * connection runs with statement_timeout and read-only transactions.
 *
 * No prepared statement outlives a borrow: the queries are sent with
 * PQexecParams, so a reconnect loses nothing.
 *
 * The readiness check has a connection of its own (so a busy pool does not
 * look like a dead database) and caches its answer for a second.
 */
#ifndef TALLY_CONSOLE_DBPOOL_H
#define TALLY_CONSOLE_DBPOOL_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "metrics.h"

typedef struct tally_dbpool_opts_t {
    const char *url;                /* borrowed; a postgresql:// URL or key=value string */
    const char *application_name;   /* borrowed */
    int size;                       /* connections at most */
    int64_t connect_timeout_ms;     /* one connection attempt at most (whole seconds, at least 1) */
    int64_t statement_timeout_ms;   /* each query at most */
    int64_t wait_ms;                /* how long a borrower waits for a free connection */
    tally_metrics_t *metrics;       /* borrowed, may be NULL */
} tally_dbpool_opts_t;

typedef struct tally_dbpool_t tally_dbpool_t;

/* Returns an owned pool; connects nothing yet. Strings are copied. */
tally_dbpool_t *tally_dbpool_new(const tally_dbpool_opts_t *opts);

/* Closes every connection and frees; no connection may be borrowed. NULL
 * is a no-op. */
void tally_dbpool_free(tally_dbpool_t *pool);

/* Borrows a connected connection (opening it if need be). Returns it, or
 * NULL with why in errbuf (none free within wait_ms, or the database is
 * unreachable). */
PGconn *tally_dbpool_acquire(tally_dbpool_t *pool, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Gives conn back. failed: a query on it failed (it is then closed if it
 * is broken, and an open transaction is rolled back). */
void tally_dbpool_release(tally_dbpool_t *pool, PGconn *conn, int failed);

/* Whether conn is broken (the next use would fail). */
int tally_dbpool_broken(const PGconn *conn);

/* Readiness: 1 when "SELECT 1" succeeded within the last second (cached),
 * else 0 with why. Thread-safe. */
int tally_dbpool_ready(tally_dbpool_t *pool, char *why, size_t whysize);

#endif
