#ifndef TALLY_TEST_PG_QUERY_H
#define TALLY_TEST_PG_QUERY_H

#include <libpq-fe.h>
#include <stdarg.h>

/* Checks straight on a database, for suites that verify what a role wrote
 * (independently of the code under test). Each formats its SQL (up to 8 KiB)
 * and fails the running Criterion test on any error. */

/* Runs a statement that returns no rows. */
void tally_test_pg_exec(PGconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tally_test_pg_execv(PGconn *c, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* The first column of the only row; -1 for NULL. */
long long tally_test_pg_scalar(PGconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
long long tally_test_pg_scalarv(PGconn *c, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* The first column of the first row as text, "(null)" or "(none)" (no row).
 * Returns a static buffer that the next call overwrites. */
const char *tally_test_pg_text(PGconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *tally_test_pg_textv(PGconn *c, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#endif
