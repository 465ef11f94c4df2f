/*
 * server_internal.h: the request type the server_*.c files share, below all
 * of them (none calls back into server.c):
 *
 *   server.c         the daemon: start, dispatch by route and method,
 *                    drain, stop, metrics
 *   server_answer.c  every answer: security and caching headers, ETag and
 *                    304, errors (JSON or HTML), redirects, metrics
 *   server_auth.c    who is asking (cookie or bearer), sign-in, sign-out,
 *                    the root redirect
 *   server_page.c    pages, their API, downloads
 *   server_license.c the public license keys
 *   server_license_post.c  issuing and revoking licenses (license_issuer.h)
 *   server_body.c    the body of a request that writes (JSON object, Content-Type)
 *   server_alerts_post.c  the tenant's webhook and alert rules (alert_settings.h)
 */
#ifndef TALLY_CONSOLE_SERVER_INTERNAL_H
#define TALLY_CONSOLE_SERVER_INTERNAL_H

#include "server.h"

#include "route.h"
#include "textbuf.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>

/* The largest query string answered (more: 414). */
#define TALLY_CONSOLE_MAX_PARAMS 64
#define TALLY_CONSOLE_MAX_QUERY 2048
#define TALLY_CONSOLE_STR_(x) #x
#define TALLY_CONSOLE_STR(x) TALLY_CONSOLE_STR_(x)

/* Statuses counted per route in tally_console_requests_total. */
#define CS_N_STATUS 20
/* Labels of routes (tally_route_label) counted. */
#define CS_N_ROUTES 33

struct tally_console_server_t {
    tally_console_server_opts_t o;
    struct MHD_Daemon *mhd;
    int port;
    atomic_int inflight;
    atomic_int draining;
    atomic_int downloads;
    tally_metric_t *requests[CS_N_ROUTES][CS_N_STATUS];
    tally_metric_t *latency[CS_N_ROUTES];
    tally_metric_t *db_errors, *signins_ok, *signins_refused, *sessions_gauge, *sessions_evicted;
    tally_metric_t *inflight_gauge, *downloads_busy;
    tally_metric_t *licenses[4];            /* issued, handed out again, refused, failed */
    tally_metric_t *license_revocations[4]; /* revoked, revoked already, refused, failed */
    tally_metric_t *alert_settings[4];      /* webhook set, alert rules set, refused, failed */
};

typedef enum { CS_GET, CS_HEAD, CS_POST, CS_PUT, CS_OTHER } cs_method_t;

typedef struct console_req_t {
    tally_console_server_t *srv;
    struct MHD_Connection *conn;
    tally_route_t route;
    int route_index;                /* into the metrics' route labels */
    cs_method_t method;
    long long start_ms;             /* monotonic */
    int started;                    /* the access handler has seen it */
    int query_too_big;              /* more than TALLY_CONSOLE_MAX_PARAMS or _QUERY */
    int answered;
    int body_too_large;
    tally_textbuf_t body;
    PGconn *pg;                     /* borrowed from the pool for this request, or NULL */
    int pg_failed;
} console_req_t;

/* server_answer.c */
int tally_cs_route_index(const char *label);
const char *tally_cs_route_label_at(int i);
extern const int tally_cs_counted_status[CS_N_STATUS];
/* Queues body[0..len) (taken when must_free, else static) with ctype and
 * extra headers (name, value, ..., NULL), plus the security headers and
 * "Cache-Control: no-store" unless the extra headers set one. */
enum MHD_Result tally_cs_answer(console_req_t *r, int status, const char *ctype, char *body, size_t len,
                                int must_free, const char *const *headers);
/* JSON {"error","detail"} under /api/v1, the HTML error page elsewhere. */
enum MHD_Result tally_cs_error(console_req_t *r, int status, const char *error, const char *detail);
enum MHD_Result tally_cs_error_with(console_req_t *r, int status, const char *error, const char *detail,
                                    const char *const *headers);
/* The one 404 of an unknown route (JSON under /api/v1, HTML elsewhere). */
enum MHD_Result tally_cs_not_found(console_req_t *r);
enum MHD_Result tally_cs_method(console_req_t *r, const char *allow);
enum MHD_Result tally_cs_unavailable(console_req_t *r, const char *detail);
/* 303 to location, with a Set-Cookie value when set_cookie is not NULL. */
enum MHD_Result tally_cs_redirect(console_req_t *r, const char *location, const char *set_cookie);
/* Not signed in: 401 under /api/v1, a 303 to /signin elsewhere. */
enum MHD_Result tally_cs_unauthorized(console_req_t *r);
/* A cacheable 200 of body (taken, malloc'd): a strong ETag from its
 * SHA-256, 304 when If-None-Match matches, cache_control as given, Vary:
 * Cookie, Authorization. extra headers as tally_cs_answer. */
enum MHD_Result tally_cs_cached(console_req_t *r, const char *ctype, char *body, size_t len,
                                const char *cache_control, const char *const *headers);

/* server_auth.c */
/* Who asks: 1 with *p (signed in by cookie or bearer), 0 nobody, -1 the
 * database failed (an answer is then due: 503). May borrow r->pg. */
int tally_cs_principal(console_req_t *r, tally_principal_t *p);
enum MHD_Result tally_cs_signin(console_req_t *r);
enum MHD_Result tally_cs_signout(console_req_t *r);
enum MHD_Result tally_cs_root(console_req_t *r);
/* Whether a form POST comes from another site (Sec-Fetch-Site, else Origin
 * against Host): such a form is refused. */
int tally_cs_cross_site(console_req_t *r);
/* r->pg, borrowing one when there is none yet; NULL when the pool has
 * none (why in errbuf). */
PGconn *tally_cs_db(console_req_t *r, char *errbuf, size_t errsize);
/* Gives r->pg back (failed: a query on it failed). */
void tally_cs_db_release(console_req_t *r);
/* Wall clock of the request (with the configured offset). */
int64_t tally_cs_now_ms(const console_req_t *r);

/* server_page.c */
enum MHD_Result tally_cs_page(console_req_t *r);
enum MHD_Result tally_cs_download(console_req_t *r);

/* server_license.c: the license routes that read. */
enum MHD_Result tally_cs_license_keys(console_req_t *r);
/* GET /api/v1/licenses/revoked: the signed revocation list, to anyone. */
enum MHD_Result tally_cs_licenses_revoked(console_req_t *r);
/* GET /api/v1/licenses/{id}/file: the license file, signed again. */
enum MHD_Result tally_cs_license_file(console_req_t *r);
/* GET /api/v1/licenses: the licenses the principal may see. */
enum MHD_Result tally_cs_licenses_list(console_req_t *r);

/* server_alerts.c: GET /api/v1/alerts, the usage alerts the principal may see. */
enum MHD_Result tally_cs_alerts_list(console_req_t *r);

/* server_license_post.c: POST /api/v1/licenses, /api/v1/licenses/{id}/revoke,
 * /t/{tenant}/licenses (form), /vendor/licenses/{id}/revoke (form). */
enum MHD_Result tally_cs_license_post(console_req_t *r);

/* server_body.c: the body of a request that writes. */
/* Whether the request's Content-Type is type (parameters allowed). */
int tally_cs_content_type_is(console_req_t *r, const char *type);
/* Whether s[0..len) is 1..max characters of UTF-8 without control characters. */
int tally_cs_text_ok(const char *s, size_t len, size_t max);
/* The JSON body: an object whose members are all in allowed (NULL-ended),
 * owned by the caller; NULL with why otherwise. */
json_t *tally_cs_body_object(console_req_t *r, const char *const *allowed, char *why, size_t whysize);

/* server_alerts_post.c: PUT/POST /api/v1/webhook, POST /api/v1/alert-rules,
 * POST /t/{tenant}/webhook (form). */
enum MHD_Result tally_cs_alert_settings_post(console_req_t *r);

#endif
