/* Requests suspended until Kafka acknowledged their records, and their
 * answer at shutdown. libmicrohttpd aborts in MHD_stop_daemon while a
 * connection is suspended, and a delivery report may come long after the
 * request is gone, so:
 *   - each waiting request is on srv->waiting;
 *   - its wait (publisher.h) is claimed once: by the last delivery report
 *     (which resumes the connection: the acks' answer), by the request's
 *     own arming when every report came first, or by the shutdown, which
 *     detaches it and resumes the connection itself (the answer is then a
 *     503 "shutting down");
 *   - the wait outlives the request until its last record is reported. */
#include "server_wait.h"

#include "timeutil.h"
#include "xalloc.h"

#include <stdlib.h>
#include <time.h>

static void unlink_req(tally_server_t *srv, req_t *r)
{
    if (!r->linked)
        return;
    if (r->wprev)
        r->wprev->wnext = r->wnext;
    else
        srv->waiting = r->wnext;
    if (r->wnext)
        r->wnext->wprev = r->wprev;
    r->wprev = r->wnext = NULL;
    r->linked = 0;
}

int tally_server_wait_begin(req_t *r)
{
    tally_server_t *srv = r->srv;
    r->state = REQ_WAITING;
    r->waited = 1;
    atomic_fetch_add(&srv->suspended, 1);
    /* Suspend first, so the last delivery report can only resume a
     * suspended connection. */
    MHD_suspend_connection(r->conn);
    pthread_mutex_lock(&srv->wait_lock);
    int stopping = srv->stopping;
    if (!stopping) {
        r->wnext = srv->waiting;
        if (srv->waiting)
            srv->waiting->wprev = r;
        srv->waiting = r;
        r->linked = 1;
    }
    pthread_mutex_unlock(&srv->wait_lock);
    if (stopping) {
        /* Not armed yet, so no report could claim it: this detach wins. */
        if (tally_pub_wait_detach(r->wait))
            atomic_store(&r->abandoned, 1);
        return 1;
    }
    return tally_pub_wait_arm(r->wait);
}

void tally_server_wait_end(req_t *r)
{
    tally_server_t *srv = r->srv;
    if (r->waited) {
        pthread_mutex_lock(&srv->wait_lock);
        unlink_req(srv, r);
        pthread_mutex_unlock(&srv->wait_lock);
        atomic_fetch_sub(&srv->suspended, 1);
        r->waited = 0;
    }
    tally_pub_wait_release(r->wait);   /* also when nothing was sent to wait for */
    r->wait = NULL;
}

void tally_server_wait_abandon_all(tally_server_t *srv, int grace_ms)
{
    struct MHD_Connection **resume = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&srv->wait_lock);
    srv->stopping = 1;
    while (srv->waiting) {
        req_t *r = srv->waiting;
        unlink_req(srv, r);
        /* Lost to a delivery report: that one resumes it. */
        if (!tally_pub_wait_detach(r->wait))
            continue;
        atomic_store(&r->abandoned, 1);
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            resume = tally_xrealloc(resume, cap, sizeof *resume);
        }
        resume[n++] = r->conn;
    }
    pthread_mutex_unlock(&srv->wait_lock);
    /* Outside the lock (libmicrohttpd takes its own); each is still
     * suspended and nobody else resumes it. */
    for (size_t i = 0; i < n; i++)
        MHD_resume_connection(resume[i]);
    free(resume);
    for (int waited = 0; atomic_load(&srv->suspended) > 0 && waited < grace_ms; waited += 10)
        tally_sleep_ms(10);
}
