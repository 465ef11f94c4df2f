/*
 * pg_query.c: formatted checks straight on a database for the suites
 * (see pg_query.h).
 */
#include "pg_query.h"

#include "pg.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

void tally_test_pg_execv(PGconn *c, const char *fmt, va_list ap)
{
    char sql[8192], err[1024];
    vsnprintf(sql, sizeof sql, fmt, ap);
    cr_assert_eq(tally_pg_exec(c, sql, err, sizeof err), 0, "%s: %s", sql, err);
}

void tally_test_pg_exec(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tally_test_pg_execv(c, fmt, ap);
    va_end(ap);
}

/* Runs the formatted query; the caller owns the (tuples) result. */
static PGresult *query(PGconn *c, const char *fmt, va_list ap, char *sql, size_t sqlsize)
{
    vsnprintf(sql, sqlsize, fmt, ap);
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(r));
    return r;
}

long long tally_test_pg_scalarv(PGconn *c, const char *fmt, va_list ap)
{
    char sql[8192];
    PGresult *r = query(c, fmt, ap, sql, sizeof sql);
    cr_assert_eq(PQntuples(r), 1, "%s: %d rows", sql, PQntuples(r));
    long long v = PQgetisnull(r, 0, 0) ? -1 : atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

long long tally_test_pg_scalar(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    long long v = tally_test_pg_scalarv(c, fmt, ap);
    va_end(ap);
    return v;
}

const char *tally_test_pg_textv(PGconn *c, const char *fmt, va_list ap)
{
    static char out[8192];
    char sql[8192];
    PGresult *r = query(c, fmt, ap, sql, sizeof sql);
    if (PQntuples(r) == 0)
        snprintf(out, sizeof out, "(none)");
    else if (PQgetisnull(r, 0, 0))
        snprintf(out, sizeof out, "(null)");
    else
        snprintf(out, sizeof out, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return out;
}

const char *tally_test_pg_text(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *out = tally_test_pg_textv(c, fmt, ap);
    va_end(ap);
    return out;
}
