#include "server.h"

#include "http_server.h"
#include "log.h"
#include "server_internal.h"
#include "timeutil.h"
#include "xalloc.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const double latency_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

/* The path reaches the router exactly as sent (route.h): nothing is
 * decoded, so no escape can smuggle a '/', a ".." or a NUL past it. Query
 * values are not decoded either; the few parameters the console takes
 * need no escape (period, status, format), and the sign-in token is
 * decoded by the sign-in handler itself. */
static size_t unescape_nothing(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

typedef struct {
    int content_length, transfer_encoding;
} framing_t;

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    (void)value;
    framing_t *f = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        f->content_length++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
        f->transfer_encoding++;
    return MHD_YES;
}

static enum MHD_Result status_json(console_req_t *r, int ok, const char *word, const char *why)
{
    json_t *j = ok ? json_pack("{s:s}", "status", word) : json_pack("{s:s,s:s}", "status", "not ready", "detail", why);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (text == NULL)
        abort();
    return tally_cs_answer(r, ok ? 200 : 503, "application/json", text, strlen(text), 1, NULL);
}

static void refresh_gauges(tally_console_server_t *srv)
{
    tally_metric_set(srv->sessions_gauge, (int64_t)tally_sessions_count(srv->o.sessions));
    tally_metric_set(srv->inflight_gauge, atomic_load(&srv->inflight));
}

static enum MHD_Result dispatch(console_req_t *r)
{
    tally_console_server_t *srv = r->srv;
    char why[256] = "";
    switch (r->route.kind) {
    case TALLY_ROUTE_HEALTHZ:
        return status_json(r, 1, "ok", NULL);
    case TALLY_ROUTE_READYZ:
        if (atomic_load(&srv->draining))
            return status_json(r, 0, NULL, "draining");
        if (!tally_dbpool_ready(srv->o.db, why, sizeof why))
            return status_json(r, 0, NULL, why);
        return status_json(r, 1, "ready", NULL);
    case TALLY_ROUTE_METRICS: {
        refresh_gauges(srv);
        size_t len;
        char *text = tally_metrics_render(srv->o.metrics, &len);
        return tally_cs_answer(r, 200, "text/plain; version=0.0.4", text, len, 1, NULL);
    }
    case TALLY_ROUTE_ROOT:
        return tally_cs_root(r);
    case TALLY_ROUTE_SIGNIN:
        return tally_cs_signin(r);
    case TALLY_ROUTE_SIGNOUT:
        return tally_cs_signout(r);
    case TALLY_ROUTE_PAGE:
        /* The member licenses page takes its issue form's POST, the webhook
         * page its form's. */
        if (r->method == CS_POST)
            return strcmp(r->route.page, "webhook") == 0 ? tally_cs_alert_settings_post(r) : tally_cs_license_post(r);
        return tally_cs_page(r);
    case TALLY_ROUTE_DOWNLOAD:
        return tally_cs_download(r);
    case TALLY_ROUTE_LICENSE_KEYS:
        return tally_cs_license_keys(r);
    case TALLY_ROUTE_LICENSES:
        return r->method == CS_POST ? tally_cs_license_post(r) : tally_cs_licenses_list(r);
    case TALLY_ROUTE_LICENSE_FILE:
        return tally_cs_license_file(r);
    case TALLY_ROUTE_LICENSES_REVOKED:
        return tally_cs_licenses_revoked(r);
    case TALLY_ROUTE_LICENSE_REVOKE:
        return tally_cs_license_post(r);
    case TALLY_ROUTE_WEBHOOK:
    case TALLY_ROUTE_ALERT_RULES:
        return tally_cs_alert_settings_post(r);
    case TALLY_ROUTE_ALERTS:
        return tally_cs_alerts_list(r);
    default:
        return tally_cs_not_found(r);
    }
}

/* The methods a route takes, for 405's Allow; NULL: any is fine. */
static const char *allowed(const console_req_t *r)
{
    if (r->method == CS_PUT && r->route.kind != TALLY_ROUTE_WEBHOOK) {
        /* PUT is taken by the webhook route alone: anywhere else, any other method. */
        console_req_t other = *r;
        other.method = CS_OTHER;
        return allowed(&other);
    }
    switch (r->route.kind) {
    case TALLY_ROUTE_SIGNIN:
        return r->method == CS_OTHER ? "GET, HEAD, POST" : NULL;
    case TALLY_ROUTE_SIGNOUT:
        return r->method == CS_POST ? NULL : "POST";
    case TALLY_ROUTE_LICENSES:   /* GET lists, POST issues */
        return r->method == CS_OTHER ? "GET, HEAD, POST" : NULL;
    case TALLY_ROUTE_LICENSE_REVOKE:
        return r->method == CS_POST ? NULL : "POST";
    case TALLY_ROUTE_WEBHOOK:
        return r->method == CS_POST || r->method == CS_PUT ? NULL : "PUT, POST";
    case TALLY_ROUTE_ALERT_RULES:
        return r->method == CS_POST ? NULL : "POST";
    case TALLY_ROUTE_PAGE:   /* the member licenses page also takes its issue form */
        if (strcmp(r->route.page, "licenses") == 0 || strcmp(r->route.page, "webhook") == 0)
            return r->method == CS_OTHER ? "GET, HEAD, POST" : NULL;
        return r->method == CS_GET || r->method == CS_HEAD ? NULL : "GET, HEAD";
    case TALLY_ROUTE_UNKNOWN:
        return NULL;
    default:
        return r->method == CS_GET || r->method == CS_HEAD ? NULL : "GET, HEAD";
    }
}

/* The first call, once the headers are in: only what cannot wait for a
 * body is answered here (an answer queued now closes the connection after
 * it: libmicrohttpd stops reading). */
static enum MHD_Result begin(console_req_t *r)
{
    tally_console_server_t *srv = r->srv;
    if (r->query_too_big)
        return tally_cs_error(r, 414, "query too long", "at most " TALLY_CONSOLE_STR(TALLY_CONSOLE_MAX_PARAMS)
                              " parameters and " TALLY_CONSOLE_STR(TALLY_CONSOLE_MAX_QUERY) " bytes");
    framing_t f = {0, 0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, count_framing, &f);
    if (f.content_length > 1 || (f.content_length && f.transfer_encoding) || f.transfer_encoding > 1) {
        const char *const headers[] = {"Connection", "close", NULL};
        return tally_cs_error_with(r, 400, "malformed request", "conflicting Content-Length/Transfer-Encoding",
                                   headers);
    }
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > srv->o.max_form)
        return tally_cs_error(r, 413, "body too large", "a form of a few hundred bytes is expected");
    return MHD_YES;
}

/* Once the body (if any) is in: route and answer. */
static enum MHD_Result finish(console_req_t *r)
{
    if (r->body_too_large)
        return tally_cs_error(r, 413, "body too large", "a form of a few hundred bytes is expected");
    if (r->route.kind == TALLY_ROUTE_UNKNOWN)
        return tally_cs_not_found(r);
    const char *allow = allowed(r);
    if (allow)
        return tally_cs_method(r, allow);
    return dispatch(r);
}

/* libmicrohttpd 0.9.75 stores every query parameter in the connection's
 * memory and, when they do not fit, neither answers nor closes: the
 * connection hangs until its idle timeout. So the request is created here,
 * where the raw URI is seen before it is parsed: a query of more than
 * TALLY_CONSOLE_MAX_PARAMS parameters or TALLY_CONSOLE_MAX_QUERY bytes is
 * folded into a single parameter (its '&' overwritten in place) and the
 * request answered 414. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    tally_console_server_t *srv = cls;
    console_req_t *r = tally_xcalloc(1, sizeof *r);
    r->srv = srv;
    r->conn = c;
    r->start_ms = tally_mono_ms();
    const char *q = strchr(uri, '?');
    if (q != NULL) {
        size_t params = 1;
        for (const char *p = q; *p; p++)
            params += *p == '&';
        if (params > TALLY_CONSOLE_MAX_PARAMS || strlen(q) > TALLY_CONSOLE_MAX_QUERY) {
            r->query_too_big = 1;
            for (char *p = (char *)q; *p; p++)
                if (*p == '&')
                    *p = '_';
        }
    }
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size,
                                  void **con_cls)
{
    (void)version;
    tally_console_server_t *srv = cls;
    console_req_t *r = *con_cls;
    if (r == NULL) {                /* on_uri made it; this is in case it did not */
        r = tally_xcalloc(1, sizeof *r);
        r->srv = srv;
        r->conn = c;
        r->start_ms = tally_mono_ms();
        *con_cls = r;
    }
    if (!r->started) {
        r->started = 1;
        tally_route_parse(url, &r->route);
        if (r->route.kind == TALLY_ROUTE_HEALTHZ || r->route.kind == TALLY_ROUTE_READYZ ||
            r->route.kind == TALLY_ROUTE_METRICS)
            r->route.api = 1;   /* machine routes answer errors in JSON */
        r->route_index = tally_cs_route_index(tally_route_label(&r->route));
        r->method = strcmp(method, "GET") == 0    ? CS_GET
                    : strcmp(method, "HEAD") == 0 ? CS_HEAD
                    : strcmp(method, "POST") == 0 ? CS_POST
                    : strcmp(method, "PUT") == 0  ? CS_PUT
                                                  : CS_OTHER;
        *con_cls = r;
        atomic_fetch_add(&srv->inflight, 1);
        return begin(r);
    }
    if (r->answered) {
        *upload_size = 0;     /* what follows an early answer is dropped */
        return MHD_YES;
    }
    if (*upload_size > 0) {
        /* Only a POST has a use for its body; any other is dropped. */
        if (r->body.len + *upload_size > srv->o.max_form)
            r->body_too_large = r->method == CS_POST || r->method == CS_PUT;
        else if (r->method == CS_POST || r->method == CS_PUT)
            tally_textbuf_append(&r->body, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    return finish(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)c;
    tally_console_server_t *srv = cls;
    console_req_t *r = *con_cls;
    if (r == NULL)
        return;
    tally_cs_db_release(r);
    if (r->started) {
        double secs = (double)(tally_mono_ms() - r->start_ms) / 1000.0;
        tally_metric_observe(srv->latency[r->route_index], secs);
        /* Never the path or the query: a sign-in link carries a token, a
         * path a tenant id. */
        if (tally_log_enabled(TALLY_LOG_DEBUG))
            tally_log_debug("console", "%s %s %d %.1f ms%s",
                            r->method == CS_GET    ? "GET"
                            : r->method == CS_HEAD ? "HEAD"
                            : r->method == CS_POST ? "POST"
                            : r->method == CS_PUT  ? "PUT"
                                                   : "other",
                            tally_cs_route_label_at(r->route_index), r->answered, secs * 1000.0,
                            toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (cut)");
        atomic_fetch_sub(&srv->inflight, 1);
    }
    tally_textbuf_free(&r->body);
    free(r);
    *con_cls = NULL;
}

static void register_metrics(tally_console_server_t *srv)
{
    tally_metrics_t *m = srv->o.metrics;
    for (int i = 0; i < CS_N_ROUTES; i++) {
        char labels[96];
        for (int s = 0; s < CS_N_STATUS; s++) {
            if (tally_cs_counted_status[s] == 0)
                continue;
            snprintf(labels, sizeof labels, "route=\"%s\",status=\"%d\"", tally_cs_route_label_at(i),
                     tally_cs_counted_status[s]);
            srv->requests[i][s] = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_console_requests_total",
                                                    "HTTP requests answered, by route and status", labels, NULL, 0);
        }
        snprintf(labels, sizeof labels, "route=\"%s\"", tally_cs_route_label_at(i));
        srv->latency[i] = tally_metrics_get(m, TALLY_METRIC_HISTOGRAM, "tally_console_request_seconds",
                                            "Time from the request's headers to the end of its answer", labels,
                                            latency_buckets, sizeof latency_buckets / sizeof latency_buckets[0]);
    }
    srv->db_errors = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_console_db_errors_total",
                                       "Database failures met by requests (no connection, or a query failed)", "",
                                       NULL, 0);
    srv->signins_ok = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_console_signins_total",
                                        "Sign-ins, by result", "result=\"ok\"", NULL, 0);
    srv->signins_refused = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_console_signins_total",
                                             "Sign-ins, by result", "result=\"refused\"", NULL, 0);
    srv->sessions_gauge = tally_metrics_get(m, TALLY_METRIC_GAUGE, "tally_console_sessions",
                                            "Sessions held in this instance", "", NULL, 0);
    srv->sessions_evicted = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_console_sessions_evicted_total",
                                              "Sessions ended early to make room (--max-sessions)", "", NULL, 0);
    srv->inflight_gauge = tally_metrics_get(m, TALLY_METRIC_GAUGE, "tally_console_requests_in_flight",
                                            "Requests accepted and not yet answered", "", NULL, 0);
    srv->downloads_busy = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_console_downloads_refused_total",
                                            "Downloads refused with 503 (--downloads-max at once)", "", NULL, 0);
    static const char *const results[4] = {"result=\"issued\"", "result=\"again\"", "result=\"refused\"",
                                           "result=\"failed\""};
    static const char *const revoked[4] = {"result=\"revoked\"", "result=\"again\"", "result=\"refused\"",
                                           "result=\"failed\""};
    for (int i = 0; i < 4; i++) {
        srv->licenses[i] = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_console_licenses_total",
                                             "POSTs of a license: issued, handed out again (a retry), refused (4xx), "
                                             "failed (5xx)", results[i], NULL, 0);
        srv->license_revocations[i] =
            tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_console_license_revocations_total",
                              "Revocations: revoked, revoked already, refused (4xx), failed (5xx)", revoked[i], NULL, 0);
        static const char *const settings[4] = {"result=\"webhook\"", "result=\"rules\"", "result=\"refused\"",
                                                "result=\"failed\""};
        srv->alert_settings[i] =
            tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_console_alert_settings_total",
                              "Alert settings sent: a webhook set, alert rules set, refused (4xx), failed (5xx)",
                              settings[i], NULL, 0);
    }
}

tally_console_server_t *tally_console_server_new(const tally_console_server_opts_t *o, char *errbuf, size_t errsize)
{
    if (sodium_init() < 0) {
        snprintf(errbuf, errsize, "libsodium failed to initialise");
        return NULL;
    }
    tally_console_server_t *srv = tally_xcalloc(1, sizeof *srv);
    srv->o = *o;
    register_metrics(srv);
    tally_http_opts_t ho = {
        .bind = o->bind, .port = o->port, .threads = (unsigned)o->threads,
        .connection_limit = (unsigned)o->connection_limit,
        .per_client_connection_limit = (unsigned)o->per_client_connection_limit,
        .timeout_s = (unsigned)o->timeout_s, .memory_limit = o->header_memory, .name = "--bind",
        .handler = on_request, .handler_cls = srv, .completed = on_completed, .completed_cls = srv,
        .unescape = unescape_nothing, .uri_log = on_uri, .uri_log_cls = srv,
    };
    srv->mhd = tally_http_start(&ho, &srv->port, errbuf, errsize);
    if (srv->mhd == NULL) {
        free(srv);
        return NULL;
    }
    return srv;
}

int tally_console_server_port(const tally_console_server_t *srv)
{
    return srv->port;
}

void tally_console_server_drain(tally_console_server_t *srv)
{
    atomic_store(&srv->draining, 1);
    tally_http_quiesce(srv->mhd);
}

int tally_console_server_inflight(const tally_console_server_t *srv)
{
    return atomic_load(&((tally_console_server_t *)srv)->inflight);
}

void tally_console_server_tick(tally_console_server_t *srv)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + srv->o.clock_offset_ms;
    tally_sessions_sweep(srv->o.sessions, now);
    refresh_gauges(srv);
}

void tally_console_server_free(tally_console_server_t *srv)
{
    if (srv == NULL)
        return;
    tally_http_stop(srv->mhd);
    free(srv);
}
