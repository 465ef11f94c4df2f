#include "dbpool.h"

#include "log.h"
#include "pg.h"
#include "timeutil.h"
#include "xalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define READY_CACHE_MS 1000

typedef struct {
    PGconn *conn;
    int busy;
} slot_t;

struct tally_dbpool_t {
    tally_dbpool_opts_t o;
    char *url, *app;
    pthread_mutex_t lock;
    pthread_cond_t freed;
    slot_t *slots;
    long long next_attempt_ms;   /* monotonic: no connection attempt before */
    long long backoff_ms;
    /* readiness */
    pthread_mutex_t ready_lock;
    PGconn *ready_conn;
    long long ready_at_ms;
    int ready_ok;
    char ready_why[256];
    tally_metric_t *reconnects, *connect_failures, *connected;
};

tally_dbpool_t *tally_dbpool_new(const tally_dbpool_opts_t *o)
{
    tally_dbpool_t *p = tally_xcalloc(1, sizeof *p);
    p->o = *o;
    if (p->o.size < 1)
        p->o.size = 1;
    p->url = tally_xstrdup(o->url);
    p->app = tally_xstrdup(o->application_name ? o->application_name : "tally-console");
    p->o.url = p->url;
    p->o.application_name = p->app;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    pthread_mutex_init(&p->ready_lock, NULL);
    p->slots = tally_xcalloc((size_t)p->o.size, sizeof *p->slots);
    p->backoff_ms = BACKOFF_MIN_MS;
    p->reconnects = tally_metrics_get(o->metrics, TALLY_METRIC_COUNTER, "tally_console_db_connects_total",
                                      "PostgreSQL connections opened (the first ones and every reconnect)", "",
                                      NULL, 0);
    p->connect_failures = tally_metrics_get(o->metrics, TALLY_METRIC_COUNTER,
                                            "tally_console_db_connect_failures_total",
                                            "PostgreSQL connection attempts that failed", "", NULL, 0);
    p->connected = tally_metrics_get(o->metrics, TALLY_METRIC_GAUGE, "tally_console_db_connections",
                                     "PostgreSQL connections open in the pool", "", NULL, 0);
    return p;
}

void tally_dbpool_free(tally_dbpool_t *p)
{
    if (p == NULL)
        return;
    for (int i = 0; i < p->o.size; i++)
        if (p->slots[i].conn)
            PQfinish(p->slots[i].conn);
    if (p->ready_conn)
        PQfinish(p->ready_conn);
    free(p->slots);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->ready_lock);
    free(p->url);
    free(p->app);
    free(p);
}

int tally_dbpool_broken(const PGconn *conn)
{
    return conn == NULL || PQstatus(conn) != CONNECTION_OK;
}

/* Opens a connection set up for the console, or NULL with why. */
static PGconn *open_conn(tally_dbpool_t *p, char *errbuf, size_t errsize)
{
    char timeout[32], options[96];
    long long secs = (p->o.connect_timeout_ms + 999) / 1000;
    snprintf(timeout, sizeof timeout, "%lld", secs < 1 ? 1 : secs);
    /* Set at connect: a reconnect sets them again, with no round trip. */
    snprintf(options, sizeof options, "-c statement_timeout=%lld -c default_transaction_read_only=on",
             (long long)p->o.statement_timeout_ms);
    const char *keys[] = {"dbname", "application_name", "connect_timeout", "options", NULL};
    const char *values[] = {p->url, p->app, timeout, options, NULL};
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    if (conn == NULL)
        abort();
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(errbuf, errsize, "postgres: cannot connect: %s", PQerrorMessage(conn));
        errbuf[strcspn(errbuf, "\n")] = '\0';
        PQfinish(conn);
        tally_metric_add(p->connect_failures, 1);
        return NULL;
    }
    tally_metric_add(p->reconnects, 1);
    return conn;
}

static void wait_until(pthread_cond_t *c, pthread_mutex_t *m, long long wait_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(wait_ms / 1000);
    ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(c, m, &ts);
}

PGconn *tally_dbpool_acquire(tally_dbpool_t *p, char *errbuf, size_t errsize)
{
    long long deadline = tally_mono_ms() + p->o.wait_ms;
    pthread_mutex_lock(&p->lock);
    slot_t *s = NULL;
    for (;;) {
        /* A connected free slot first, then any free one. */
        for (int i = 0; i < p->o.size && s == NULL; i++)
            if (!p->slots[i].busy && p->slots[i].conn)
                s = &p->slots[i];
        for (int i = 0; i < p->o.size && s == NULL; i++)
            if (!p->slots[i].busy)
                s = &p->slots[i];
        if (s != NULL)
            break;
        long long left = deadline - tally_mono_ms();
        if (left <= 0) {
            pthread_mutex_unlock(&p->lock);
            snprintf(errbuf, errsize, "postgres: every connection busy for %lld ms", (long long)p->o.wait_ms);
            return NULL;
        }
        wait_until(&p->freed, &p->lock, left);
    }
    s->busy = 1;
    if (s->conn && !tally_dbpool_broken(s->conn)) {
        pthread_mutex_unlock(&p->lock);
        return s->conn;
    }
    if (s->conn) {
        PQfinish(s->conn);
        s->conn = NULL;
        tally_metric_gauge_add(p->connected, -1);
    }
    long long now = tally_mono_ms();
    if (now < p->next_attempt_ms) {
        s->busy = 0;
        pthread_cond_signal(&p->freed);
        pthread_mutex_unlock(&p->lock);
        snprintf(errbuf, errsize, "postgres: unreachable, next attempt in %lld ms", p->next_attempt_ms - now);
        return NULL;
    }
    pthread_mutex_unlock(&p->lock);
    PGconn *conn = open_conn(p, errbuf, errsize);
    pthread_mutex_lock(&p->lock);
    if (conn == NULL) {
        p->next_attempt_ms = tally_mono_ms() + p->backoff_ms;
        p->backoff_ms = p->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff_ms * 2;
        s->busy = 0;
        pthread_cond_signal(&p->freed);
    } else {
        if (p->backoff_ms > BACKOFF_MIN_MS)
            tally_log_info("console", "postgres: connected again");
        p->backoff_ms = BACKOFF_MIN_MS;
        p->next_attempt_ms = 0;
        s->conn = conn;
        tally_metric_gauge_add(p->connected, 1);
    }
    pthread_mutex_unlock(&p->lock);
    return conn;
}

void tally_dbpool_release(tally_dbpool_t *p, PGconn *conn, int failed)
{
    if (conn == NULL)
        return;
    if (failed && !tally_dbpool_broken(conn))
        tally_pg_rollback_quietly(conn);
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->o.size; i++)
        if (p->slots[i].conn == conn) {
            if (tally_dbpool_broken(conn)) {
                PQfinish(conn);
                p->slots[i].conn = NULL;
                tally_metric_gauge_add(p->connected, -1);
            }
            p->slots[i].busy = 0;
            break;
        }
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

int tally_dbpool_ready(tally_dbpool_t *p, char *why, size_t whysize)
{
    pthread_mutex_lock(&p->ready_lock);
    long long now = tally_mono_ms();
    if (p->ready_at_ms == 0 || now - p->ready_at_ms >= READY_CACHE_MS) {
        char err[256] = "";
        int ok = 0;
        if (p->ready_conn && tally_dbpool_broken(p->ready_conn)) {
            PQfinish(p->ready_conn);
            p->ready_conn = NULL;
        }
        if (p->ready_conn == NULL)
            p->ready_conn = open_conn(p, err, sizeof err);
        if (p->ready_conn) {
            ok = tally_pg_exec(p->ready_conn, "SELECT 1", err, sizeof err) == 0;
            if (!ok && tally_dbpool_broken(p->ready_conn)) {
                /* A restarted server: one fresh attempt before saying no. */
                PQfinish(p->ready_conn);
                p->ready_conn = open_conn(p, err, sizeof err);
                ok = p->ready_conn && tally_pg_exec(p->ready_conn, "SELECT 1", err, sizeof err) == 0;
            }
        }
        p->ready_ok = ok;
        snprintf(p->ready_why, sizeof p->ready_why, "%s%.200s",
                 ok || strncmp(err, "postgres", 8) == 0 ? "" : "postgres: ", ok ? "" : err);
        p->ready_at_ms = tally_mono_ms();
    }
    int ok = p->ready_ok;
    if (!ok)
        snprintf(why, whysize, "%s", p->ready_why);
    pthread_mutex_unlock(&p->ready_lock);
    return ok;
}
