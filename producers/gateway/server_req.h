/*
 * server_req.h: the state of the gateway's HTTP server and of one request,
 * which every file of the server shares; not for use outside them (the
 * public API is server.h). It is the bottom of the server's files, which
 * call each other downwards only (a DAG with server.c on top; no file
 * calls a function of server.c):
 *
 *   file              what                              calls functions of
 *   server.c          the daemon, the routing of each   admit, upload, ingest,
 *                     request, its lifetime             status, wait, answer, req
 *   server_admit.c    checks made from the headers:     answer
 *                     framing, size, media,
 *                     authentication, rate limit
 *   server_upload.c   reading the body into the         answer
 *                     request, or refusing it
 *   server_ingest.c   converting and producing a        wait, answer
 *                     body's events, the answer
 *   server_status.c   /healthz, /readyz, /metrics       answer
 *   server_wait.c     requests suspended until Kafka    (none)
 *                     acknowledged them, and answering
 *                     them at shutdown
 *   server_answer.c   queueing answers, CORS            req
 *   server_req.c      this header: the server's and     (none)
 *                     the request's state, the route
 *                     of a URL, the request counters
 *
 * Each file has its own header (server_<name>.h) and includes only the
 * headers of what it calls, and this one for the types.
 *
 * Every function of these files runs on a libmicrohttpd thread for one
 * request, unless its comment says otherwise.
 */
#ifndef TALLY_GATEWAY_SERVER_REQ_H
#define TALLY_GATEWAY_SERVER_REQ_H

#include "body.h"
#include "keys.h"
#include "metrics.h"
#include "publisher.h"
#include "server.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

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

/* The route of a URL path (borrowed); EP_OTHER when none matches. */
endpoint_t tally_server_endpoint_of(const char *url);

/* Registers the counters of tally_gateway_requests_total (route, status)
 * in srv->o.metrics; called once, by tally_server_new, before any request. */
void tally_server_requests_init(tally_server_t *srv);

/* Counts an answer queued with status in tally_gateway_requests_total. */
void tally_server_count_request(tally_server_t *srv, endpoint_t ep, int status);

#endif /* TALLY_GATEWAY_SERVER_REQ_H */
