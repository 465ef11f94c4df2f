/*
 * server_internal.h: what the files of the gateway's HTTP server share;
 * not for use outside them (the public API is server.h).
 *
 *   server.c         the daemon, the routing of each request, its lifetime
 *   server_admit.c   checks made from the headers: framing, size, media,
 *                    authentication, rate limit
 *   server_upload.c  reading the body into the request, or refusing it
 *   server_ingest.c  converting and producing a body's events, the answer
 *   server_status.c  /healthz, /readyz, /metrics
 *   server_wait.c    requests suspended until Kafka acknowledged them,
 *                    and answering them at shutdown
 *   server_answer.c  queueing answers, CORS
 *
 * Every function here runs on a libmicrohttpd thread for one request.
 */
#ifndef TALLY_GATEWAY_SERVER_INTERNAL_H
#define TALLY_GATEWAY_SERVER_INTERNAL_H

#include "body.h"
#include "keys.h"
#include "metrics.h"
#include "publisher.h"
#include "server.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define TALLY_SERVER_MAX_ORIGINS 32
/* Statuses counted per route in tally_gateway_requests_total. */
#define TALLY_SERVER_N_STATUS 15
/* Reasons of tally_gateway_events_rejected_total. */
#define TALLY_SERVER_N_REASONS 5

typedef enum {
    EP_PRODUCT, EP_USAGE, EP_SEATS, EP_CONTROLPANEL, EP_HEALTHZ, EP_READYZ, EP_METRICS, EP_OTHER, EP_COUNT,
} endpoint_t;

struct tally_server_t {
    tally_server_opts_t o;
    struct MHD_Daemon *mhd;
    int port;
    atomic_int draining;
    atomic_int inflight;
    atomic_size_t body_bytes;        /* memory held by request bodies */
    pthread_mutex_t wait_lock;       /* guards waiting and stopping */
    struct req_s *waiting;           /* requests suspended for their acks (server_wait.c) */
    int stopping;                    /* no request may start waiting any more */
    atomic_int suspended;            /* requests that waited and are not completed */
    tally_metric_t *body_bytes_gauge, *deadline_cut;
    char *origins[TALLY_SERVER_MAX_ORIGINS];
    size_t n_origins;
    int any_origin;
    char admin_hash[TALLY_KEYS_HEX_SIZE];
    tally_metric_t *requests[EP_COUNT][TALLY_SERVER_N_STATUS];
    tally_metric_t *accepted[TALLY_ROUTE_COUNT], *optout_dropped, *inflight_gauge;
    tally_metric_t *rejected[TALLY_SERVER_N_REASONS];
    pthread_mutex_t ws_lock;         /* guards the list of thread workspaces */
    struct thread_ws_t *workspaces;  /* see server_ingest.c */
};

/* REQ_DISCARDING: the body was refused while it was being read; the answer
 * waits until the client has sent it all (libmicrohttpd can only queue an
 * answer before the first body byte or after the last). */
typedef enum { REQ_READING, REQ_DISCARDING, REQ_WAITING, REQ_ANSWERED } req_state_t;

typedef struct req_s {
    tally_server_t *srv;
    struct MHD_Connection *conn;
    int64_t deadline_ms;             /* monotonic: the whole request must be in by then */
    int timeout_s;                   /* the connection's idle timeout as last set, 0: the daemon's */
    endpoint_t ep;
    req_state_t state;
    int gzip;
    tally_media_t media;
    char tenant[TALLY_KEYS_ID_SIZE], env[TALLY_KEYS_ID_SIZE];
    tally_keys_kind_t kind;          /* of the API key's environment */
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
    tally_pub_wait_t *wait;          /* owned; NULL unless acks were awaited */
    int waited;                      /* counted in srv->suspended */
    atomic_int abandoned;            /* answered "shutting down" instead of its acks */
    struct req_s *wprev, *wnext;     /* in srv->waiting while linked */
    int linked;
    struct {                         /* the answer of a body refused half way */
        int status, retry_after;
        const char *error;
        char detail[96];
        int64_t until_ms;            /* monotonic: stop reading the rest then */
    } refused;
} req_t;

/* ---- server.c ---------------------------------------------------------- */

/* Counts an answer queued with status in tally_gateway_requests_total. */
void tally_server_count_request(tally_server_t *srv, endpoint_t ep, int status);

/* ---- server_answer.c ---------------------------------------------------- */
/* Each queues the answer of r, counts it and marks r answered; returns
 * MHD_queue_response's result. Answers are JSON and never cached. */

/* body: taken. A Retry-After header when retry_after > 0. */
enum MHD_Result tally_server_answer(req_t *r, int status, json_t *body, int retry_after);

/* 401 {"error":"unauthorized","detail":detail} with the WWW-Authenticate
 * challenge RFC 9110 requires; error_code (RFC 6750: "invalid_token",
 * "invalid_request"; NULL when no credential came) goes into it. */
enum MHD_Result tally_server_answer_unauthorized(req_t *r, const char *detail, const char *error_code);

/* {"error":error,"detail":detail} (both borrowed). */
enum MHD_Result tally_server_answer_error(req_t *r, int status, const char *error, const char *detail,
                                          int retry_after);

/* 405 with the Allow header RFC 9110 requires (allow: borrowed). */
enum MHD_Result tally_server_answer_method(req_t *r, const char *allow);

/* An error answer after which the connection is closed. */
enum MHD_Result tally_server_answer_close(req_t *r, int status, const char *error, const char *detail);

/* text[0..len), JSON, taken (malloc'd). */
enum MHD_Result tally_server_answer_json_text(req_t *r, int status, char *text, size_t len);

/* A NUL-terminated text of type ctype; mode says who owns text. */
enum MHD_Result tally_server_answer_text(req_t *r, int status, const char *ctype, char *text,
                                         enum MHD_ResponseMemoryMode mode);

/* The answer to a CORS preflight (OPTIONS) of the product route. */
enum MHD_Result tally_server_answer_preflight(req_t *r);

/* origin (borrowed, may be NULL) when CORS allows it, else NULL. */
const char *tally_server_allowed_origin(const tally_server_t *srv, const char *origin);

/* ---- server_admit.c ----------------------------------------------------- */

/* NULL, or what makes the request's framing ambiguous (a constant). */
const char *tally_server_framing_error(struct MHD_Connection *c);

/* Checks made from the headers alone, before any body byte is read: fills
 * r's gzip, media, content_length and, for the usage routes, tenant and
 * env. Returns 0 to go on, or 1 when an answer was queued (*rc is
 * MHD_queue_response's result). */
int tally_server_admit(req_t *r, enum MHD_Result *rc);

/* ---- server_upload.c ---------------------------------------------------- */

/* Appends an upload chunk, or refuses the body (r->state says which). */
void tally_server_upload_append(req_t *r, const char *data, size_t n);

/* A chunk (*upload_size bytes, dropped) or the end (0) of a refused body:
 * at the end, queues the refusal. */
enum MHD_Result tally_server_upload_discard(req_t *r, size_t *upload_size);

/* Frees r's body and gives its memory back to the budget of all bodies. */
void tally_server_upload_free(req_t *r);

/* ---- server_ingest.c ---------------------------------------------------- */

/* Registers the event counters of srv->o.metrics. */
void tally_server_ingest_init(tally_server_t *srv);

/* Frees every thread's workspace; no request may be running. */
void tally_server_ingest_free(tally_server_t *srv);

/* The whole body is here: converts and produces its events, then answers,
 * at once or (usage, seats, Control Panel) once Kafka acknowledged them. */
enum MHD_Result tally_server_ingest_process(req_t *r);

/* Answers a request whose records were all acknowledged or failed. */
enum MHD_Result tally_server_ingest_acked(req_t *r);

/* ---- server_admit.c: the client ---------------------------------------- */

/* The client address of r: the socket's peer, or behind
 * --trusted-proxies the entry of X-Forwarded-For client_addr.h says. */
void tally_server_client_addr(req_t *r, struct sockaddr_storage *out);

/* ---- server_wait.c ------------------------------------------------------ */

/* Suspends r until its records' acks (r->wait armed after this); returns
 * 1 when r must be resumed by the caller at once (every record already
 * reported, or the server is stopping). */
int tally_server_wait_begin(req_t *r);

/* r completes: unlinks it and releases its wait (if any). */
void tally_server_wait_end(req_t *r);

/* Shutdown: every waiting request is resumed to answer 503, and no new one
 * may wait; then up to grace_ms for those answers to be sent. */
void tally_server_wait_abandon_all(tally_server_t *srv, int grace_ms);

/* ---- server_status.c ---------------------------------------------------- */

/* Answers a GET or HEAD of /healthz, /readyz or /metrics. */
enum MHD_Result tally_server_status_get(req_t *r);

#endif /* TALLY_GATEWAY_SERVER_INTERNAL_H */
