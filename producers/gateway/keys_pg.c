#include "keys_pg.h"

#include "xalloc.h"
#include "timeutil.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEYS_PG_APPLICATION "tally-gateway-keys"

struct tally_keys_pg_t {
    char *conninfo;
    PGconn *conn;
};

/* libpq's message, on one line. */
static void conn_error(PGconn *conn, const char *what, char *errbuf, size_t errsize)
{
    snprintf(errbuf, errsize, "%s: %s", what, conn ? PQerrorMessage(conn) : "out of memory");
    errbuf[strcspn(errbuf, "\n")] = '\0';
}

/* Waits until sock is ready for events, the deadline passes or stop_fd is
 * readable. Returns 0 when ready, else -1 with the reason in errbuf. */
static int wait_socket(int sock, short events, int64_t deadline, int64_t timeout_ms, int stop_fd, char *errbuf,
                       size_t errsize)
{
    for (;;) {
        int64_t left = deadline - tally_mono_ms();
        if (left <= 0) {
            snprintf(errbuf, errsize, "no answer within %" PRId64 " ms", timeout_ms);
            return -1;
        }
        struct pollfd pfd[2] = {{.fd = sock, .events = events}, {.fd = stop_fd, .events = POLLIN}};
        int n = poll(pfd, stop_fd >= 0 ? 2 : 1, left > 1000 ? 1000 : (int)left);
        if (n < 0 && errno != EINTR) {
            snprintf(errbuf, errsize, "poll: %s", strerror(errno));
            return -1;
        }
        if (n > 0 && stop_fd >= 0 && (pfd[1].revents & POLLIN)) {
            snprintf(errbuf, errsize, "stopped");
            return -1;
        }
        if (n > 0 && pfd[0].revents != 0)
            return 0;
    }
}

static int connect_async(tally_keys_pg_t *pg, int64_t deadline, int64_t timeout_ms, int stop_fd, char *errbuf,
                         size_t errsize)
{
    const char *keys[] = {"dbname", "application_name", NULL};
    const char *values[] = {pg->conninfo, KEYS_PG_APPLICATION, NULL};
    char why[256];
    /* expand_dbname=1: dbname may be a whole URL or key=value string. */
    pg->conn = PQconnectStartParams(keys, values, 1);
    if (pg->conn == NULL || PQstatus(pg->conn) == CONNECTION_BAD) {
        conn_error(pg->conn, "cannot connect", errbuf, errsize);
        return -1;
    }
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED) {
            conn_error(pg->conn, "cannot connect", errbuf, errsize);
            return -1;
        }
        if (wait_socket(PQsocket(pg->conn), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline, timeout_ms,
                        stop_fd, why, sizeof why) != 0) {
            snprintf(errbuf, errsize, "cannot connect: %s", why);
            return -1;
        }
        st = PQconnectPoll(pg->conn);
    }
    if (PQsetnonblocking(pg->conn, 1) != 0) {
        conn_error(pg->conn, "cannot connect", errbuf, errsize);
        return -1;
    }
    return 0;
}

/* Sends sql and collects its last result. Returns it, or NULL with errbuf. */
static PGresult *run(tally_keys_pg_t *pg, const char *sql, int64_t deadline, int64_t timeout_ms, int stop_fd,
                     char *errbuf, size_t errsize)
{
    PGconn *c = pg->conn;
    PGresult *last = NULL;
    char why[256];
    if (!PQsendQuery(c, sql)) {
        conn_error(c, "query", errbuf, errsize);
        return NULL;
    }
    int f;
    while ((f = PQflush(c)) == 1) {
        if (wait_socket(PQsocket(c), POLLOUT | POLLIN, deadline, timeout_ms, stop_fd, why, sizeof why) != 0) {
            snprintf(errbuf, errsize, "query: %s", why);
            return NULL;
        }
        if (!PQconsumeInput(c)) {
            conn_error(c, "query", errbuf, errsize);
            return NULL;
        }
    }
    if (f < 0) {
        conn_error(c, "query", errbuf, errsize);
        return NULL;
    }
    for (;;) {
        while (PQisBusy(c)) {
            if (wait_socket(PQsocket(c), POLLIN, deadline, timeout_ms, stop_fd, why, sizeof why) != 0) {
                snprintf(errbuf, errsize, "query: %s", why);
                PQclear(last);
                return NULL;
            }
            if (!PQconsumeInput(c)) {
                conn_error(c, "query", errbuf, errsize);
                PQclear(last);
                return NULL;
            }
        }
        PGresult *r = PQgetResult(c);
        if (r == NULL)
            break;
        PQclear(last);
        last = r;
    }
    ExecStatusType st = last ? PQresultStatus(last) : PGRES_FATAL_ERROR;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        const char *msg = last ? PQresultErrorMessage(last) : PQerrorMessage(c);
        snprintf(errbuf, errsize, "%s", (msg && *msg) ? msg : PQresStatus(st));
        errbuf[strcspn(errbuf, "\n")] = '\0';
        PQclear(last);
        return NULL;
    }
    return last;
}

tally_keys_pg_t *tally_keys_pg_new(const char *conninfo)
{
    tally_keys_pg_t *pg = tally_xcalloc(1, sizeof *pg);
    pg->conninfo = tally_xstrdup(conninfo);
    return pg;
}

void tally_keys_pg_free(tally_keys_pg_t *pg)
{
    if (pg == NULL)
        return;
    if (pg->conn)
        PQfinish(pg->conn);
    sodium_memzero(pg->conninfo, strlen(pg->conninfo));
    free(pg->conninfo);
    free(pg);
}

PGresult *tally_keys_pg_query(tally_keys_pg_t *pg, const char *sql, int64_t timeout_ms, int stop_fd,
                              char *errbuf, size_t errsize)
{
    int64_t deadline = tally_mono_ms() + timeout_ms;
    PGresult *res = NULL;
    if (pg->conn != NULL && PQstatus(pg->conn) != CONNECTION_OK) {
        PQfinish(pg->conn);
        pg->conn = NULL;
    }
    if (pg->conn == NULL) {
        char set[64];
        if (connect_async(pg, deadline, timeout_ms, stop_fd, errbuf, errsize) != 0)
            goto fail;
        /* A live but slow server stops the query on its side as well. */
        snprintf(set, sizeof set, "SET statement_timeout = %" PRId64, timeout_ms);
        res = run(pg, set, deadline, timeout_ms, stop_fd, errbuf, errsize);
        if (res == NULL)
            goto fail;
        PQclear(res);
    }
    res = run(pg, sql, deadline, timeout_ms, stop_fd, errbuf, errsize);
    if (res != NULL)
        return res;
fail:
    /* Closing never blocks: the connection is non-blocking (or not up). */
    if (pg->conn)
        PQfinish(pg->conn);
    pg->conn = NULL;
    return NULL;
}

int tally_keys_pg_connected(const tally_keys_pg_t *pg)
{
    return pg->conn != NULL;
}
