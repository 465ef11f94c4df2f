#ifndef TALLY_ADMIN_HTTP_H
#define TALLY_ADMIN_HTTP_H

/* The admin port of a consumer process: GET /healthz (liveness), /readyz
 * (readiness) and /metrics (Prometheus text), on a small libmicrohttpd
 * server of its own thread. */

#include <stddef.h>

#include "metrics.h"

/* Returns 1 when healthy (or ready), else 0 with a reason in why. Called on
 * the admin thread: must be thread-safe and quick. */
typedef int (*tally_admin_check_fn)(void *arg, char *why, size_t whysize);

typedef struct {
    const char *bind;              /* IPv4 listen address */
    int port;                      /* 0: any free port */
    tally_metrics_t *metrics;      /* borrowed */
    tally_admin_check_fn healthy;  /* NULL: always healthy */
    tally_admin_check_fn ready;    /* NULL: always ready */
    void *arg;                     /* passed to the checks and refresh */
    void (*refresh)(void *arg);    /* NULL, or called before /metrics is rendered (gauges) */
} tally_admin_opts_t;

typedef struct tally_admin_t tally_admin_t;

/* Starts the server. Returns an owned server, or NULL with errbuf. */
tally_admin_t *tally_admin_start(const tally_admin_opts_t *opts, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* The port actually bound. */
int tally_admin_port(const tally_admin_t *admin);

/* Stops and frees; NULL is a no-op. */
void tally_admin_stop(tally_admin_t *admin);

#endif
