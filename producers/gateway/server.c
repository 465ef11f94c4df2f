#include "server.h"

#include "http_server.h"
#include "log.h"
#include "server_admit.h"
#include "server_answer.h"
#include "server_ingest.h"
#include "server_req.h"
#include "server_status.h"
#include "server_upload.h"
#include "server_wait.h"
#include "timeutil.h"
#include "xalloc.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The per-request deadline (--request-deadline): libmicrohttpd has only an
 * idle timeout, which a client trickling a byte now and then resets
 * forever. So the connection's idle timeout is set to what is left until
 * the deadline (whole seconds, at least 1) whenever the request is called,
 * and a request called past its deadline is closed. Returns 0 when the
 * deadline passed. */
static int within_deadline(req_t *r)
{
    int64_t left = r->deadline_ms - tally_mono_ms();
    if (left <= 0) {
        tally_metric_add(r->srv->deadline_cut, 1);
        return 0;
    }
    int64_t s = (left + 999) / 1000;
    if (s > r->srv->o.timeout_s)
        s = r->srv->o.timeout_s;
    if (s < 1)
        s = 1;
    if (s != r->timeout_s) {        /* it takes a lock of libmicrohttpd's: only on a change */
        MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned int)s);
        r->timeout_s = (int)s;
    }
    return 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size,
                                  void **con_cls)
{
    tally_server_t *srv = cls;
    req_t *r = *con_cls;
    enum MHD_Result rc = MHD_YES;
    if (r == NULL) {
        r = tally_xcalloc(1, sizeof *r);
        r->srv = srv;
        r->conn = c;
        r->ep = tally_server_endpoint_of(url);
        r->deadline_ms = tally_mono_ms() + srv->o.request_deadline_ms;
        *con_cls = r;
        atomic_fetch_add(&srv->inflight, 1);
        if (r->ep == EP_PRODUCT)
            r->origin = tally_server_allowed_origin(srv, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin"));
        const char *framing = tally_server_framing_error(c);
        if (framing)
            return tally_server_answer_close(r, 400, "malformed request", framing);
        if (r->ep == EP_OTHER || (r->ep >= EP_HEALTHZ && srv->o.admin_elsewhere))
            return tally_server_answer_error(r, 404, "not found", "no such route", 0);
        int is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
        if (r->ep >= EP_HEALTHZ)
            return is_get ? tally_server_status_get(r) : tally_server_answer_method(r, "GET, HEAD");
        if (r->ep == EP_PRODUCT && strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0)
            return tally_server_answer_preflight(r);
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
            return tally_server_answer_method(r, r->ep == EP_PRODUCT ? "POST, OPTIONS" : "POST");
        if (r->ep == EP_CONTROLPANEL && srv->o.admin_token == NULL)
            return tally_server_answer_error(r, 404, "not found", "the Control Panel route is not enabled", 0);
        if (tally_server_admit(r, &rc))
            return rc;
        within_deadline(r);
        return MHD_YES;
    }
    if (r->state == REQ_ANSWERED) {
        *upload_size = 0;     /* discard what follows an early answer */
        return MHD_YES;
    }
    if (r->state == REQ_WAITING)
        return tally_server_ingest_acked(r);
    /* Reading or discarding a body: closed without an answer past the
     * deadline (libmicrohttpd 0.9 cannot queue one before the body's end),
     * which frees the body and its share of the memory budget. */
    if (!within_deadline(r))
        return MHD_NO;
    if (r->state == REQ_DISCARDING)
        return tally_server_upload_discard(r, upload_size);
    if (*upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        tally_server_upload_append(r, upload_data, n);
        return MHD_YES;
    }
    return tally_server_ingest_process(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    tally_server_t *srv = cls;
    req_t *r = *con_cls;
    if (r == NULL)
        return;
    tally_server_wait_end(r);
    tally_server_upload_free(r);
    free(r->result.text);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->inflight, 1);
}

static void parse_origins(tally_server_t *srv, const char *list)
{
    if (list == NULL)
        return;
    char *copy = tally_xstrdup(list), *save = NULL;
    for (char *t = strtok_r(copy, ", ", &save); t && srv->n_origins < TALLY_SERVER_MAX_ORIGINS;
         t = strtok_r(NULL, ", ", &save)) {
        if (strcmp(t, "*") == 0)
            srv->any_origin = 1;
        else
            srv->origins[srv->n_origins++] = tally_xstrdup(t);
    }
    free(copy);
}

tally_server_t *tally_server_new(const tally_server_opts_t *o, char *errbuf, size_t errsize)
{
    if (sodium_init() < 0) {
        snprintf(errbuf, errsize, "libsodium failed to initialise");
        return NULL;
    }
    tally_server_t *srv = tally_xcalloc(1, sizeof *srv);
    srv->o = *o;
    pthread_mutex_init(&srv->ws_lock, NULL);
    pthread_mutex_init(&srv->wait_lock, NULL);
    parse_origins(srv, o->cors_origins);
    if (o->admin_token)
        tally_keys_hash_hex(o->admin_token, strlen(o->admin_token), srv->admin_hash);
    tally_server_requests_init(srv);
    tally_server_ingest_init(srv);
    srv->inflight_gauge = tally_metrics_get(o->metrics, TALLY_METRIC_GAUGE, "tally_gateway_requests_in_flight",
                                            "Requests accepted and not yet answered", "", NULL, 0);
    srv->body_bytes_gauge = tally_metrics_get(o->metrics, TALLY_METRIC_GAUGE, "tally_gateway_body_bytes",
                                              "Memory held by request bodies (of --memory-budget)", "", NULL, 0);
    srv->deadline_cut = tally_metrics_get(o->metrics, TALLY_METRIC_COUNTER, "tally_gateway_deadline_closed_total",
                                          "Requests closed unanswered at --request-deadline", "", NULL, 0);

    tally_http_opts_t h = {
        .bind = o->bind,
        .port = o->port,
        .threads = (unsigned)o->threads,
        .connection_limit = (unsigned)o->connection_limit,
        .per_client_connection_limit = (unsigned)o->per_client_connection_limit,
        .timeout_s = (unsigned)o->timeout_s,
        .memory_limit = 32 * 1024,   /* headers of one request: a header flood gets 431 */
        .suspend_resume = 1,         /* requests wait for their acks (server_wait.c) */
        .name = "--bind",
        .handler = on_request,
        .handler_cls = srv,
        .completed = on_completed,
        .completed_cls = srv,
    };
    srv->mhd = tally_http_start(&h, &srv->port, errbuf, errsize);
    if (srv->mhd == NULL)
        goto err;
    return srv;
err:
    tally_server_free(srv);
    return NULL;
}

int tally_server_port(const tally_server_t *srv)
{
    return srv->port;
}

void tally_server_drain(tally_server_t *srv)
{
    atomic_store(&srv->draining, 1);
    tally_http_quiesce(srv->mhd);
}

int tally_server_inflight(const tally_server_t *srv)
{
    return atomic_load(&((tally_server_t *)srv)->inflight);
}

void tally_server_free(tally_server_t *srv)
{
    if (srv == NULL)
        return;
    if (srv->mhd) {
        /* tally_http_stop must not meet a suspended connection. */
        tally_server_wait_abandon_all(srv, 2000);
        if (atomic_load(&srv->suspended) > 0)
            tally_log_warn("gateway", "%d answer(s) to requests that waited for Kafka not sent at exit",
                           atomic_load(&srv->suspended));
        tally_http_stop(srv->mhd);
    }
    tally_server_ingest_free(srv);
    for (size_t i = 0; i < srv->n_origins; i++)
        free(srv->origins[i]);
    pthread_mutex_destroy(&srv->ws_lock);
    pthread_mutex_destroy(&srv->wait_lock);
    free(srv);
}
