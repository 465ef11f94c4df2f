/*
 * keys_pg.h: the gateway's reads of its API keys from PostgreSQL, cut short
 * by a deadline or a stop request.
 *
 * A database that accepts connections and never answers (a hung server, a
 * half-open link, a firewall dropping packets) would block a plain libpq
 * call for as long as TCP lets it. Here every step runs on libpq's
 * non-blocking interface under poll(2): the connection, the session setup
 * and the query share one deadline (timeout_ms), and a byte readable on
 * stop_fd ends the wait at once. The session also sets statement_timeout to
 * timeout_ms, so a live but slow server stops the query on its side too.
 * Resolving a host name is the one step that can still block (libpq calls
 * getaddrinfo): give an address, or a name the local resolver answers.
 *
 * One reader per object, not thread-safe; the caller serializes.
 */
#ifndef TALLY_GATEWAY_KEYS_PG_H
#define TALLY_GATEWAY_KEYS_PG_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tally_keys_pg_t tally_keys_pg_t;

/* Returns an owned reader of conninfo (copied; a postgresql:// URL or a
 * key=value list). Connects on the first query. Never NULL. */
tally_keys_pg_t *tally_keys_pg_new(const char *conninfo);

/* Closes the connection, wipes the conninfo (it may hold a password),
 * frees. NULL is a no-op. */
void tally_keys_pg_free(tally_keys_pg_t *pg);

/* Runs sql (one statement returning rows) within timeout_ms, connecting
 * first if needed. Returns an owned result (PQclear it), or NULL with the
 * reason in errbuf: the server's message, "no answer within N ms", or
 * "stopped" when stop_fd (may be -1) became readable. After a failure the
 * connection is closed, and the next query opens a fresh one. */
PGresult *tally_keys_pg_query(tally_keys_pg_t *pg, const char *sql, int64_t timeout_ms, int stop_fd,
                              char *errbuf, size_t errsize) __attribute__((warn_unused_result));

/* Whether a connection is open now (for tests). */
int tally_keys_pg_connected(const tally_keys_pg_t *pg);

#endif /* TALLY_GATEWAY_KEYS_PG_H */
