#ifndef TALLY_GATEWAY_SERVER_H
#define TALLY_GATEWAY_SERVER_H

/* The gateway's HTTP server (libmicrohttpd, epoll thread pool): routes,
 * limits, authentication, CORS, and the answer of each request
 * (server_req.h says which file does what). */

#include <stddef.h>
#include <stdint.h>

#include "ingest.h"
#include "keys.h"
#include "metrics.h"
#include "publisher.h"

typedef struct tally_ratelimit_t tally_ratelimit_t;

typedef struct {
    const char *bind;               /* listen address, e.g. "127.0.0.1" or "0.0.0.0" */
    int port;                       /* 0: any free port (see tally_server_port) */
    int threads;
    int connection_limit;
    int per_client_connection_limit;
    int timeout_s;                  /* idle connection timeout */
    int64_t request_deadline_ms;    /* a request's whole body must arrive within this */
    size_t max_body;                /* bytes as sent (compressed or not) */
    size_t max_inflated;            /* bytes after gzip */
    size_t max_batch;               /* events per request */
    size_t memory_budget;           /* all request bodies together */
    const char *cors_origins;       /* comma-separated, "*" for any, "" none */
    const char *admin_token;        /* Control Panel route; NULL disables it */
    int trusted_proxies;            /* proxies in front whose X-Forwarded-For entries count (client_addr.h) */
    int admin_elsewhere;            /* /healthz, /readyz, /metrics are on an admin port: 404 here */
    tally_ingest_rules_t rules;
    tally_publisher_t *publisher;   /* borrowed, like the rest */
    tally_keys_t *keys;
    tally_ratelimit_t *ratelimit;   /* may be NULL: no limit */
    tally_ratelimit_t *auth_failures; /* 401s per client; may be NULL: no limit */
    tally_metrics_t *metrics;
} tally_server_opts_t;

typedef struct tally_server_t tally_server_t;

/* Starts listening. Returns an owned server or NULL with errbuf. */
tally_server_t *tally_server_new(const tally_server_opts_t *opts, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* The port actually bound. */
int tally_server_port(const tally_server_t *srv);

/* Graceful shutdown, step 1: stop accepting connections, answer /readyz
 * with 503; requests in flight go on. */
void tally_server_drain(tally_server_t *srv);

/* Requests accepted and not yet answered. */
int tally_server_inflight(const tally_server_t *srv);

/* Stops the threads and frees. Requests still waiting for Kafka's
 * acknowledgement are answered first (503, "shutting down"), and given up
 * to 2 s to be sent. NULL is a no-op. */
void tally_server_free(tally_server_t *srv);

/* The checks of /healthz and /readyz, for an admin port of their own
 * (tally_admin_check_fn: arg is the server); 1 when healthy or ready,
 * else 0 with why. */
int tally_server_check_healthy(void *srv, char *why, size_t whysize);
int tally_server_check_ready(void *srv, char *why, size_t whysize);

/* Updates the gauges /metrics shows (arg: the server). */
void tally_server_refresh_gauges(void *srv);

#endif
