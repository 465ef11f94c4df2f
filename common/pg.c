#include "pg.h"

#include <stdio.h>
#include <string.h>

PGconn *tally_pg_connect(const char *conninfo, const char *application_name,
                         char *errbuf, size_t errsize)
{
    const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *values[] = {conninfo, application_name, "10", NULL};
    /* expand_dbname=1: dbname may be a whole URL or key=value string. */
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    if (conn == NULL) {
        snprintf(errbuf, errsize, "postgres: out of memory connecting");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(errbuf, errsize, "postgres: cannot connect: %s", PQerrorMessage(conn));
        /* libpq messages end with a newline; keep errors on one line. */
        errbuf[strcspn(errbuf, "\n")] = '\0';
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

int tally_pg_check(const PGresult *res, PGconn *conn, char *errbuf, size_t errsize)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return 0;
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);
    snprintf(errbuf, errsize, "%s", (msg && *msg) ? msg : PQresStatus(st));
    errbuf[strcspn(errbuf, "\n")] = '\0';
    return -1;
}

int tally_pg_exec(PGconn *conn, const char *sql, char *errbuf, size_t errsize)
{
    PGresult *res = PQexec(conn, sql);
    int rc = tally_pg_check(res, conn, errbuf, errsize);
    PQclear(res);
    return rc;
}

void tally_pg_rollback_quietly(PGconn *conn)
{
    if (PQtransactionStatus(conn) == PQTRANS_IDLE)
        return;
    PQclear(PQexec(conn, "ROLLBACK"));
}
