#include "server.h"

#include "body.h"
#include "log.h"
#include "ratelimit.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_ORIGINS 32

/* Statuses counted per route in tally_gateway_requests_total. */
static const int counted_status[] = {200, 202, 204, 400, 401, 403, 404, 405, 413, 415, 422, 429, 431, 500, 503};
#define N_STATUS (sizeof counted_status / sizeof counted_status[0])

typedef enum {
    EP_PRODUCT, EP_USAGE, EP_SEATS, EP_CONTROLPANEL, EP_HEALTHZ, EP_READYZ, EP_METRICS, EP_OTHER, EP_COUNT,
} endpoint_t;

static const char *const endpoint_path[EP_COUNT] = {
    "/v1/product/events", "/v1/usage/reports", "/v1/usage/seats", "/v1/controlpanel/events",
    "/healthz", "/readyz", "/metrics", "other",
};

struct tally_server_t {
    tally_server_opts_t o;
    struct MHD_Daemon *mhd;
    int port;
    atomic_int draining;
    atomic_int inflight;
    atomic_size_t body_bytes;        /* memory held by request bodies */
    char *origins[MAX_ORIGINS];
    size_t n_origins;
    int any_origin;
    char admin_hash[TALLY_KEYS_HEX_SIZE];
    tally_metric_t *requests[EP_COUNT][N_STATUS];
    tally_metric_t *accepted[TALLY_ROUTE_COUNT], *optout_dropped, *inflight_gauge;
    tally_metric_t *rejected[5];     /* by reason, as reason_names */
    pthread_mutex_t ws_lock;         /* guards the list of thread workspaces */
    struct thread_ws_t *workspaces;
};

static const char *const reason_names[5] = {"schema", "catalog", "timestamp", "counter", "other"};

/* REQ_DISCARDING: the body was refused while it was being read; the answer
 * waits until the client has sent it all (libmicrohttpd can only queue an
 * answer before the first body byte or after the last). */
typedef enum { REQ_READING, REQ_DISCARDING, REQ_WAITING, REQ_ANSWERED } req_state_t;

typedef struct {
    tally_server_t *srv;
    struct MHD_Connection *conn;
    endpoint_t ep;
    req_state_t state;
    int gzip;
    tally_media_t media;
    char tenant[TALLY_KEYS_ID_SIZE], env[TALLY_KEYS_ID_SIZE];
    char *body;
    size_t len, cap;
    size_t content_length;           /* from the header (at most max_body), 0 if none */
    size_t accepted, sent;
    struct {                         /* the answer of a processed body, sent at once or after the acks */
        int status;
        char *text;                  /* owned until queued */
        size_t len;
    } result;
    const char *origin;              /* allowed Origin to echo, borrowed from MHD */
    tally_pub_wait_t wait;
    struct {                         /* the answer of a body refused half way */
        int status, retry_after;
        const char *error;
        char detail[96];
        int64_t until_ms;            /* monotonic: stop reading the rest then */
    } refused;
} req_t;

/* A converted event waiting to be produced: where its key and value sit
 * in the workspace's arena. */
typedef struct {
    size_t index;                    /* in the body */
    size_t key_off, key_len, value_off, len;
} staged_t;

/* Per MHD thread: the ingest, the inflate buffer, the item slots and the
 * records of one request (every event is converted and encoded into the
 * arena before any is produced, so a request that must be refused as a
 * whole produces nothing), so a request allocates none of them. The
 * arena grows to the largest request's records and is kept. */
typedef struct thread_ws_t {
    tally_ingest_t *ingest;
    char *inflated;
    tally_body_item_t *items;
    staged_t *staged;                /* max_batch */
    tally_pub_record_t *records;     /* max_batch */
    char *arena;
    size_t arena_cap;
    struct thread_ws_t *next;        /* in the server's list, freed with it */
} thread_ws_t;
static _Thread_local thread_ws_t *tls;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static thread_ws_t *workspace(tally_server_t *srv)
{
    if (tls == NULL) {
        thread_ws_t *ws = calloc(1, sizeof *ws);
        if (ws == NULL)
            abort();
        ws->ingest = tally_ingest_new(&srv->o.rules);
        ws->inflated = malloc(srv->o.max_inflated + 1);
        ws->items = calloc(srv->o.max_batch, sizeof *ws->items);
        ws->staged = calloc(srv->o.max_batch, sizeof *ws->staged);
        ws->records = calloc(srv->o.max_batch, sizeof *ws->records);
        if (ws->inflated == NULL || ws->items == NULL || ws->staged == NULL || ws->records == NULL)
            abort();
        pthread_mutex_lock(&srv->ws_lock);
        ws->next = srv->workspaces;
        srv->workspaces = ws;
        pthread_mutex_unlock(&srv->ws_lock);
        tls = ws;
    }
    return tls;
}

static void count_request(tally_server_t *srv, endpoint_t ep, int status)
{
    for (size_t i = 0; i < N_STATUS; i++)
        if (counted_status[i] == status) {
            tally_metric_add(srv->requests[ep][i], 1);
            return;
        }
}

static void add_cors(req_t *r, struct MHD_Response *resp)
{
    if (r->origin == NULL)
        return;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->srv->any_origin ? "*" : r->origin);
    if (!r->srv->any_origin)
        MHD_add_response_header(resp, "Vary", "Origin");
}

/* Queues the JSON text[0..len) (taken, malloc'd) as the answer, with
 * extra headers (name, value, name, value, ..., NULL; may be NULL). */
static enum MHD_Result answer_text_with(req_t *r, int status, char *text, size_t len, const char *const *headers)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL)
        abort();
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    for (size_t i = 0; headers && headers[i]; i += 2)
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    if (r->ep == EP_PRODUCT)
        add_cors(r, resp);
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    if (rc == MHD_YES)
        count_request(r->srv, r->ep, status);
    r->state = REQ_ANSWERED;
    return rc;
}

/* Queues body (taken) as the answer, as answer_text_with. */
static enum MHD_Result answer_with(req_t *r, int status, json_t *body, const char *const *headers)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL)
        abort();
    return answer_text_with(r, status, text, strlen(text), headers);
}

static enum MHD_Result answer(req_t *r, int status, json_t *body, int retry_after)
{
    char v[16];
    snprintf(v, sizeof v, "%d", retry_after);
    const char *const headers[] = {"Retry-After", v, NULL};
    return answer_with(r, status, body, retry_after > 0 ? headers : NULL);
}

static enum MHD_Result answer_error(req_t *r, int status, const char *error, const char *detail, int retry_after)
{
    return answer(r, status, json_pack("{s:s,s:s}", "error", error, "detail", detail), retry_after);
}

/* 405 with the Allow header RFC 9110 requires. */
static enum MHD_Result answer_method(req_t *r, const char *allow)
{
    char detail[64];
    snprintf(detail, sizeof detail, "use %s", allow);
    const char *const headers[] = {"Allow", allow, NULL};
    return answer_with(r, 405, json_pack("{s:s,s:s}", "error", "method not allowed", "detail", detail), headers);
}

/* An answer after which the connection is closed: the request's framing
 * cannot be trusted, so neither can whatever follows it on the connection. */
static enum MHD_Result answer_close(req_t *r, int status, const char *error, const char *detail)
{
    const char *const headers[] = {"Connection", "close", NULL};
    return answer_with(r, status, json_pack("{s:s,s:s}", "error", error, "detail", detail), headers);
}

static enum MHD_Result answer_text(req_t *r, int status, const char *ctype, char *text, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, mode);
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    if (rc == MHD_YES)
        count_request(r->srv, r->ep, status);
    r->state = REQ_ANSWERED;
    return rc;
}

static endpoint_t find_endpoint(const char *url)
{
    for (int e = 0; e < EP_OTHER; e++)
        if (strcmp(url, endpoint_path[e]) == 0)
            return (endpoint_t)e;
    return EP_OTHER;
}

static int route_of(endpoint_t ep)
{
    switch (ep) {
    case EP_PRODUCT: return TALLY_ROUTE_PRODUCT;
    case EP_USAGE: return TALLY_ROUTE_USAGE;
    case EP_SEATS: return TALLY_ROUTE_SEATS;
    case EP_CONTROLPANEL: return TALLY_ROUTE_CONTROLPANEL;
    default: return -1;
    }
}

static const char *allowed_origin(tally_server_t *srv, const char *origin)
{
    if (origin == NULL)
        return NULL;
    if (srv->any_origin)
        return origin;
    for (size_t i = 0; i < srv->n_origins; i++)
        if (strcmp(srv->origins[i], origin) == 0)
            return origin;
    return NULL;
}

static enum MHD_Result answer_get(req_t *r)
{
    tally_server_t *srv = r->srv;
    char why[160];
    switch (r->ep) {
    case EP_HEALTHZ:
        if (tally_publisher_failed(srv->o.publisher))
            return answer_error(r, 500, "unhealthy", "the Kafka producer failed fatally; restart the gateway", 0);
        return answer(r, 200, json_pack("{s:s}", "status", "ok"), 0);
    case EP_READYZ:
        if (atomic_load(&srv->draining))
            return answer(r, 503, json_pack("{s:s,s:s}", "status", "not ready", "detail", "shutting down"), 5);
        if (!tally_publisher_ready(srv->o.publisher, why, sizeof why))
            return answer(r, 503, json_pack("{s:s,s:s}", "status", "not ready", "detail", why), 5);
        return answer(r, 200, json_pack("{s:s}", "status", "ready"), 0);
    case EP_METRICS: {
        tally_keys_stats_t ks;
        tally_keys_stats(srv->o.keys, &ks);
        tally_metric_set(tally_metrics_get(srv->o.metrics, TALLY_METRIC_GAUGE, "tally_gateway_api_keys_active",
                                           "Active API keys known to the gateway", "", NULL, 0),
                         (int64_t)ks.active);
        tally_metric_set(srv->inflight_gauge, atomic_load(&srv->inflight));
        size_t len;
        char *text = tally_metrics_render(srv->o.metrics, &len);
        return answer_text(r, 200, "text/plain; version=0.0.4", text, MHD_RESPMEM_MUST_FREE);
    }
    default:
        return answer_error(r, 404, "not found", "no such route", 0);
    }
}

static enum MHD_Result answer_preflight(req_t *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    int status = 204;
    if (r->origin != NULL) {
        add_cors(r, resp);
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "POST, OPTIONS");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Content-Type, Content-Encoding");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
    } else {
        status = 403;
    }
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    if (rc == MHD_YES)
        count_request(r->srv, r->ep, status);
    r->state = REQ_ANSWERED;
    return rc;
}

typedef struct {
    int content_length, transfer_encoding, chunked;
} framing_t;

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    framing_t *f = cls;
    (void)kind;
    if (key && strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        f->content_length++;
    } else if (key && strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->transfer_encoding++;
        f->chunked = value && strcasecmp(value, "chunked") == 0;
    }
    return MHD_YES;
}

/* Where the body ends must be unambiguous (RFC 9112 section 6.3): a proxy
 * in front that reads the framing one way while the gateway reads it
 * another lets a client smuggle a request. libmicrohttpd 0.9.75 takes any
 * of these, so refuse them here. Returns NULL or what is wrong. */
static const char *bad_framing(struct MHD_Connection *c)
{
    framing_t f = {0, 0, 0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
    if (f.content_length > 1)
        return "more than one Content-Length";
    if (f.content_length && f.transfer_encoding)
        return "both Content-Length and Transfer-Encoding";
    if (f.transfer_encoding > 1 || (f.transfer_encoding && !f.chunked))
        return "Transfer-Encoding: only a single chunked coding is supported";
    return NULL;
}

/* Checks made from the headers alone, before any body byte is read.
 * Returns 0 to go on, or 1 when an answer was queued. */
static int check_headers(req_t *r, enum MHD_Result *rc)
{
    tally_server_t *srv = r->srv;
    struct MHD_Connection *c = r->conn;
    char why[200];
    if (atomic_load(&srv->draining)) {
        *rc = answer_error(r, 503, "shutting down", "this gateway is draining; retry on another", 1);
        return 1;
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long cl_value = cl ? strtoull(cl, NULL, 10) : 0;
    if (cl_value > srv->o.max_body) {
        snprintf(why, sizeof why, "the body is larger than %zu bytes", srv->o.max_body);
        *rc = answer_error(r, 413, "body too large", why, 0);
        return 1;
    }
    r->content_length = (size_t)cl_value;
    const char *enc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
    if (enc && strcasecmp(enc, "gzip") == 0)
        r->gzip = 1;
    else if (enc && *enc && strcasecmp(enc, "identity") != 0) {
        *rc = answer_error(r, 415, "unsupported Content-Encoding", "use gzip or no encoding", 0);
        return 1;
    }
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (tally_body_media(ct, r->ep == EP_PRODUCT, &r->media, why, sizeof why) != 0) {
        *rc = answer_error(r, 415, "unsupported media type", why, 0);
        return 1;
    }
    const char *auth = NULL;
    size_t auth_len = 0;
    if (MHD_lookup_connection_value_n(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION,
                                      strlen(MHD_HTTP_HEADER_AUTHORIZATION), &auth, &auth_len) != MHD_YES)
        auth = NULL;
    if (r->ep == EP_USAGE || r->ep == EP_SEATS) {
        int k = tally_keys_lookup_n(srv->o.keys, auth, auth ? auth_len : 0, r->tenant, sizeof r->tenant, r->env,
                                    sizeof r->env);
        if (k == TALLY_KEYS_UNAVAILABLE) {
            *rc = answer_error(r, 503, "unavailable", tally_keys_describe(k), 5);
            return 1;
        }
        if (k != TALLY_KEYS_OK) {
            *rc = answer_error(r, k == TALLY_KEYS_TOO_SMALL ? 500 : 401, "unauthorized", tally_keys_describe(k), 0);
            return 1;
        }
    } else if (r->ep == EP_CONTROLPANEL) {
        char hash[TALLY_KEYS_HEX_SIZE];
        const char *tok = NULL;
        if (srv->o.admin_token && auth && auth_len > 7 && auth_len < TALLY_KEYS_HEADER_MAX &&
            strncasecmp(auth, "Bearer ", 7) == 0 && memchr(auth, '\0', auth_len) == NULL)
            tok = auth + 7;
        if (tok == NULL) {
            *rc = answer_error(r, 401, "unauthorized", "missing Control Panel admin token", 0);
            return 1;
        }
        tally_keys_hash_hex(tok, auth_len - 7, hash);
        if (sodium_memcmp(hash, srv->admin_hash, TALLY_KEYS_HEX_SIZE - 1) != 0) {
            *rc = answer_error(r, 403, "forbidden", "the admin token is not valid", 0);
            return 1;
        }
    }
    if ((r->ep == EP_USAGE || r->ep == EP_SEATS || r->ep == EP_CONTROLPANEL) &&
        !tally_publisher_ready(srv->o.publisher, why, sizeof why)) {
        *rc = answer_error(r, 503, "unavailable", why, 5);
        return 1;
    }
    if (r->ep == EP_PRODUCT && srv->o.ratelimit) {
        int retry = 1;
        bool allowed;
        const char *xff = srv->o.trust_forwarded_for
                              ? MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For") : NULL;
        if (xff) {
            /* The rightmost entry is the one our trusted proxy appended; the
             * ones before it are whatever the client chose to send. */
            char last[64];
            const char *comma = strrchr(xff, ',');
            const char *from = comma ? comma + 1 : xff;
            snprintf(last, sizeof last, "%s", from);
            allowed = tally_ratelimit_allow_str(srv->o.ratelimit, last, tally_ratelimit_now_ms(), &retry);
        } else {
            const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
            allowed = tally_ratelimit_allow(srv->o.ratelimit, ci ? ci->client_addr : NULL,
                                            tally_ratelimit_now_ms(), &retry);
        }
        if (!allowed) {
            *rc = answer_error(r, 429, "rate limited", "too many requests from this client", retry);
            return 1;
        }
        int q = tally_publisher_queue_len(srv->o.publisher);
        if (!tally_publisher_ready(srv->o.publisher, NULL, 0) && q > 0) {
            *rc = answer_error(r, 503, "overloaded", "the event queue is full; retry later", 5);
            return 1;
        }
    }
    return 0;
}

/* Refuses the body being read: the answer goes out once the client has
 * sent the rest, which is read and dropped for at most --timeout. */
static void refuse_body(req_t *r, int status, const char *error, const char *detail, int retry_after)
{
    r->refused.status = status;
    r->refused.error = error;
    snprintf(r->refused.detail, sizeof r->refused.detail, "%s", detail);
    r->refused.retry_after = retry_after;
    r->refused.until_ms = mono_ms() + (int64_t)r->srv->o.timeout_s * 1000;
    r->state = REQ_DISCARDING;
}

/* Appends an upload chunk, or refuses the body (r->state says which). */
static void append_body(req_t *r, const char *data, size_t n)
{
    tally_server_t *srv = r->srv;
    if (r->len + n > srv->o.max_body) {
        char why[96];
        snprintf(why, sizeof why, "the body is larger than %zu bytes", srv->o.max_body);
        refuse_body(r, 413, "body too large", why, 0);
        return;
    }
    if (r->len + n > r->cap) {
        /* The announced length at once (it is at most max_body), else grow. */
        size_t cap = r->cap ? r->cap : r->content_length >= r->len + n ? r->content_length : 4096;
        while (cap < r->len + n)
            cap *= 2;
        if (cap > srv->o.max_body)
            cap = srv->o.max_body;
        size_t grow = cap - r->cap;
        if (atomic_fetch_add(&srv->body_bytes, grow) + grow > srv->o.memory_budget) {
            atomic_fetch_sub(&srv->body_bytes, grow);
            refuse_body(r, 503, "overloaded", "too many large requests in flight; retry later", 1);
            return;
        }
        char *b = realloc(r->body, cap);
        if (b == NULL)
            abort();
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
}

static void on_acked(void *arg)
{
    req_t *r = arg;
    MHD_resume_connection(r->conn);
}

/* A growing text buffer for answers; allocation failure aborts. */
typedef struct {
    char *p;
    size_t len, cap;
} text_t;

static void text_add(text_t *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *p = realloc(t->p, cap);
        if (p == NULL)
            abort();
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void text_str(text_t *t, const char *s)
{
    text_add(t, s, strlen(s));
}

/* s as a JSON string: the gateway's own messages (ASCII, never a value
 * from the request), quotes and control characters escaped. */
static void text_json_string(text_t *t, const char *s)
{
    text_add(t, "\"", 1);
    for (const char *run = s;; s++) {
        unsigned char c = (unsigned char)*s;
        if (c != '\0' && c != '"' && c != '\\' && c >= 0x20)
            continue;
        text_add(t, run, (size_t)(s - run));
        if (c == '\0')
            break;
        char esc[8];
        snprintf(esc, sizeof esc, c == '"' || c == '\\' ? "\\%c" : "\\u%04x", c);
        text_str(t, esc);
        run = s + 1;
    }
    text_add(t, "\"", 1);
}

/* The answer of a processed body: {"accepted":n,"rejected":[{"index":i,
 * "error":"..."}...]} (202), or, when every event was rejected, the same
 * under {"error":"invalid events","detail":<the first one's error>} (422).
 * Rejected items are those without text, in index order. */
static void render_result(req_t *r, const tally_body_item_t *items, size_t count)
{
    text_t t = {0};
    char num[48];
    const char *first = NULL;
    for (size_t i = 0; i < count && first == NULL; i++)
        if (items[i].text == NULL)
            first = items[i].error;
    if (r->accepted == 0 && first != NULL) {
        r->result.status = 422;
        text_str(&t, "{\"error\":\"invalid events\",\"detail\":");
        text_json_string(&t, first);
        text_str(&t, ",\"accepted\":0,\"rejected\":[");
    } else {
        r->result.status = 202;
        snprintf(num, sizeof num, "{\"accepted\":%zu,\"rejected\":[", r->accepted);
        text_str(&t, num);
    }
    for (size_t i = 0, n = 0; i < count; i++) {
        if (items[i].text != NULL)
            continue;
        snprintf(num, sizeof num, "%s{\"index\":%zu,\"error\":", n++ ? "," : "", i);
        text_str(&t, num);
        text_json_string(&t, items[i].error);
        text_add(&t, "}", 1);
    }
    text_str(&t, "]}");
    r->result.text = t.p;
    r->result.len = t.len;
}

static enum MHD_Result answer_result(req_t *r)
{
    char *text = r->result.text;
    r->result.text = NULL;
    return answer_text_with(r, r->result.status, text, r->result.len, NULL);
}

static void reject_item(tally_body_item_t *it, const char *why)
{
    it->text = NULL;
    snprintf(it->error, sizeof it->error, "%s", why);
}

/* Copies a converted record into the workspace's arena. */
static void stage(thread_ws_t *ws, size_t at, size_t *used, size_t index, const tally_ingest_record_t *rec)
{
    size_t need = *used + rec->key_len + rec->len;
    if (need > ws->arena_cap) {
        size_t cap = ws->arena_cap ? ws->arena_cap : 64 * 1024;
        while (cap < need)
            cap *= 2;
        char *p = realloc(ws->arena, cap);
        if (p == NULL)
            abort();
        ws->arena = p;
        ws->arena_cap = cap;
    }
    staged_t *st = &ws->staged[at];
    st->index = index;
    st->key_off = *used;
    st->key_len = rec->key_len;
    memcpy(ws->arena + *used, rec->key, rec->key_len);
    *used += rec->key_len;
    st->value_off = *used;
    st->len = rec->len;
    memcpy(ws->arena + *used, rec->value, rec->len);
    *used += rec->len;
}

/* The whole body is here: split, convert every event, then produce. */
static enum MHD_Result process(req_t *r)
{
    tally_server_t *srv = r->srv;
    thread_ws_t *ws = workspace(srv);
    char why[256];
    const char *body = r->body ? r->body : "";
    size_t len = r->len;
    if (r->gzip) {
        int g = tally_body_gunzip(body, len, ws->inflated, srv->o.max_inflated, &len, why, sizeof why);
        if (g != 0)
            return answer_error(r, g == TALLY_BODY_ERR_TOO_LARGE ? 413 : 400,
                                g == TALLY_BODY_ERR_TOO_LARGE ? "body too large" : "malformed body", why, 0);
        body = ws->inflated;
    }
    size_t count = 0;
    int s = tally_body_split(body, len, r->media, ws->items, srv->o.max_batch, &count, why, sizeof why);
    if (s != 0)
        return answer_error(r, s == TALLY_BODY_ERR_TOO_LARGE ? 413 : 400,
                            s == TALLY_BODY_ERR_TOO_LARGE ? "batch too large" : "malformed body", why, 0);
    tally_route_t route = (tally_route_t)route_of(r->ep);
    /* Scope: a body that speaks for another tenant produces nothing, so
     * every event is converted before any is produced. */
    tally_ingest_scope_t scope = {r->tenant, r->env};
    const tally_ingest_scope_t *in_scope =
        route == TALLY_ROUTE_USAGE || route == TALLY_ROUTE_SEATS ? &scope : NULL;
    int64_t now = now_ms();
    uint64_t rejected_by[5] = {0};
    size_t staged = 0, used = 0, dropped = 0;
    tally_gw_topic_t topic = TALLY_TOPIC_PRODUCT_RAW;
    for (size_t i = 0; i < count; i++) {
        tally_body_item_t *it = &ws->items[i];
        if (it->text == NULL)
            continue;
        tally_ingest_record_t rec;
        const char *reason = NULL;
        int e = tally_ingest_event(ws->ingest, route, it->text, it->len, now, in_scope, &rec, &reason, why,
                                   sizeof why);
        if (e == TALLY_INGEST_FORBIDDEN) {
            snprintf(why, sizeof why, "event %zu is for another tenant or environment than the API key's", i);
            return answer_error(r, 403, "forbidden", why, 0);
        }
        if (e == TALLY_INGEST_DROPPED) {
            dropped++;
            continue;
        }
        if (e != 0) {
            size_t k = 0;
            while (k < 4 && (reason == NULL || strcmp(reason, reason_names[k]) != 0))
                k++;
            rejected_by[k]++;
            reject_item(it, why);
            continue;
        }
        topic = rec.topic;
        stage(ws, staged++, &used, i, &rec);
    }
    for (int k = 0; k < 5; k++)
        if (rejected_by[k])
            tally_metric_add(srv->rejected[k], rejected_by[k]);
    tally_metric_add(srv->optout_dropped, dropped);
    r->accepted = dropped;

    int ack = route != TALLY_ROUTE_PRODUCT;
    if (ack)
        tally_pub_wait_init(&r->wait, on_acked, r);
    for (size_t j = 0; j < staged; j++) {
        const staged_t *st = &ws->staged[j];
        ws->records[j] = (tally_pub_record_t){ws->arena + st->key_off, st->key_len, ws->arena + st->value_off,
                                              st->len, 0};
    }
    r->sent = staged ? tally_publisher_send_batch(srv->o.publisher, topic, ws->records, staged,
                                                  ack ? &r->wait : NULL)
                     : 0;
    int overloaded = 0;
    for (size_t j = 0; j < staged; j++) {
        if (ws->records[j].failed) {
            overloaded = 1;
            reject_item(&ws->items[ws->staged[j].index], "overloaded: the event queue is full; retry this event");
        }
    }
    r->accepted += r->sent;
    tally_metric_add(srv->accepted[route], r->accepted);
    if (overloaded && r->accepted == 0)
        return answer_error(r, 503, "overloaded", "the event queue is full; retry later", 1);
    render_result(r, ws->items, count);
    if (!ack || r->sent == 0)
        return answer_result(r);
    /* Wait for the broker: suspend first, so the last delivery report can
     * only resume a suspended connection. */
    r->state = REQ_WAITING;
    MHD_suspend_connection(r->conn);
    if (tally_pub_wait_arm(&r->wait))
        MHD_resume_connection(r->conn);
    return MHD_YES;
}

static enum MHD_Result answer_acked(req_t *r)
{
    int failed = atomic_load(&r->wait.failed);
    if (failed > 0) {
        char why[160];
        snprintf(why, sizeof why, "%d of %zu records were not acknowledged by Kafka; retry the whole request",
                 failed, r->sent);
        return answer_error(r, 503, "not acknowledged", why, 2);
    }
    return answer_result(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size,
                                  void **con_cls)
{
    tally_server_t *srv = cls;
    req_t *r = *con_cls;
    enum MHD_Result rc = MHD_YES;
    if (r == NULL) {
        r = calloc(1, sizeof *r);
        if (r == NULL)
            abort();
        r->srv = srv;
        r->conn = c;
        r->ep = find_endpoint(url);
        *con_cls = r;
        atomic_fetch_add(&srv->inflight, 1);
        if (r->ep == EP_PRODUCT)
            r->origin = allowed_origin(srv, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin"));
        const char *framing = bad_framing(c);
        if (framing)
            return answer_close(r, 400, "malformed request", framing);
        if (r->ep == EP_OTHER)
            return answer_error(r, 404, "not found", "no such route", 0);
        int is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
        if (r->ep >= EP_HEALTHZ)
            return is_get ? answer_get(r) : answer_method(r, "GET, HEAD");
        if (r->ep == EP_PRODUCT && strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0)
            return answer_preflight(r);
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
            return answer_method(r, r->ep == EP_PRODUCT ? "POST, OPTIONS" : "POST");
        if (r->ep == EP_CONTROLPANEL && srv->o.admin_token == NULL)
            return answer_error(r, 404, "not found", "the Control Panel route is not enabled", 0);
        if (check_headers(r, &rc))
            return rc;
        return MHD_YES;
    }
    if (r->state == REQ_ANSWERED) {
        *upload_size = 0;     /* discard what follows an early answer */
        return MHD_YES;
    }
    if (r->state == REQ_WAITING)
        return answer_acked(r);
    if (r->state == REQ_DISCARDING) {
        if (*upload_size == 0)
            return answer_error(r, r->refused.status, r->refused.error, r->refused.detail, r->refused.retry_after);
        *upload_size = 0;
        /* A client still sending past the deadline is cut off unanswered. */
        return mono_ms() < r->refused.until_ms ? MHD_YES : MHD_NO;
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        append_body(r, upload_data, n);
        return MHD_YES;
    }
    return process(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    tally_server_t *srv = cls;
    req_t *r = *con_cls;
    if (r == NULL)
        return;
    atomic_fetch_sub(&srv->body_bytes, r->cap);
    free(r->body);
    free(r->result.text);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->inflight, 1);
}

static void parse_origins(tally_server_t *srv, const char *list)
{
    if (list == NULL)
        return;
    char *copy = strdup(list), *save = NULL;
    if (copy == NULL)
        abort();
    for (char *t = strtok_r(copy, ", ", &save); t && srv->n_origins < MAX_ORIGINS; t = strtok_r(NULL, ", ", &save)) {
        if (strcmp(t, "*") == 0)
            srv->any_origin = 1;
        else if ((srv->origins[srv->n_origins++] = strdup(t)) == NULL)
            abort();
    }
    free(copy);
}

tally_server_t *tally_server_new(const tally_server_opts_t *o, char *errbuf, size_t errsize)
{
    if (sodium_init() < 0) {
        snprintf(errbuf, errsize, "libsodium failed to initialise");
        return NULL;
    }
    tally_server_t *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        abort();
    srv->o = *o;
    pthread_mutex_init(&srv->ws_lock, NULL);
    parse_origins(srv, o->cors_origins);
    if (o->admin_token)
        tally_keys_hash_hex(o->admin_token, strlen(o->admin_token), srv->admin_hash);
    for (int e = 0; e < EP_COUNT; e++)
        for (size_t s = 0; s < N_STATUS; s++) {
            char labels[128];
            snprintf(labels, sizeof labels, "route=\"%s\",status=\"%d\"", endpoint_path[e], counted_status[s]);
            srv->requests[e][s] = tally_metrics_get(o->metrics, TALLY_METRIC_COUNTER, "tally_gateway_requests_total",
                                                    "HTTP requests answered, by route and status", labels, NULL, 0);
        }
    static const char *const route_names[TALLY_ROUTE_COUNT] = {"product", "usage", "seats", "controlpanel"};
    for (int rt = 0; rt < TALLY_ROUTE_COUNT; rt++) {
        char labels[64];
        snprintf(labels, sizeof labels, "route=\"%s\"", route_names[rt]);
        srv->accepted[rt] = tally_metrics_get(o->metrics, TALLY_METRIC_COUNTER, "tally_gateway_events_accepted_total",
                                              "Events accepted, by route", labels, NULL, 0);
    }
    for (int k = 0; k < 5; k++) {
        char labels[64];
        snprintf(labels, sizeof labels, "reason=\"%s\"", reason_names[k]);
        srv->rejected[k] = tally_metrics_get(o->metrics, TALLY_METRIC_COUNTER, "tally_gateway_events_rejected_total",
                                             "Events rejected, by reason", labels, NULL, 0);
    }
    srv->optout_dropped = tally_metrics_get(o->metrics, TALLY_METRIC_COUNTER, "tally_gateway_optout_dropped_total",
                                            "Product events of opted-out projects, dropped", "", NULL, 0);
    srv->inflight_gauge = tally_metrics_get(o->metrics, TALLY_METRIC_GAUGE, "tally_gateway_requests_in_flight",
                                            "Requests accepted and not yet answered", "", NULL, 0);

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)o->port);
    if (inet_pton(AF_INET, o->bind, &sa.sin_addr) != 1) {
        snprintf(errbuf, errsize, "--bind: not an IPv4 address: %.64s", o->bind);
        goto err;
    }
    srv->mhd = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME, (uint16_t)o->port, NULL, NULL, on_request, srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)o->threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)o->connection_limit,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)o->per_client_connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)o->timeout_s,
        /* Headers of one request must fit here: a header flood gets 431. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
        /* RFC 9112: an HTTP/1.1 request without Host is a 400. */
        MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_END);
    if (srv->mhd == NULL) {
        snprintf(errbuf, errsize, "cannot listen on %s:%d (in use, or not allowed)", o->bind, o->port);
        goto err;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : o->port;
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
    MHD_socket s = MHD_quiesce_daemon(srv->mhd);
    if (s != MHD_INVALID_SOCKET)
        close(s);
}

int tally_server_inflight(const tally_server_t *srv)
{
    return atomic_load(&((tally_server_t *)srv)->inflight);
}

void tally_server_free(tally_server_t *srv)
{
    if (srv == NULL)
        return;
    if (srv->mhd)
        MHD_stop_daemon(srv->mhd);
    for (thread_ws_t *ws = srv->workspaces, *next; ws; ws = next) {
        next = ws->next;
        tally_ingest_free(ws->ingest);
        free(ws->inflated);
        free(ws->items);
        free(ws->staged);
        free(ws->records);
        free(ws->arena);
        free(ws);
    }
    for (size_t i = 0; i < srv->n_origins; i++)
        free(srv->origins[i]);
    pthread_mutex_destroy(&srv->ws_lock);
    free(srv);
}
