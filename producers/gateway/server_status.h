/*
 * server_status.h: /healthz, /readyz and /metrics on the gateway's public
 * port (server_req.h shows where it sits: it answers through
 * server_answer). The checks themselves are public, in server.h, for an
 * admin port of their own.
 */
#ifndef TALLY_GATEWAY_SERVER_STATUS_H
#define TALLY_GATEWAY_SERVER_STATUS_H

#include "server_req.h"

#include <microhttpd.h>

/* Answers a GET or HEAD of /healthz, /readyz or /metrics. */
enum MHD_Result tally_server_status_get(req_t *r);

#endif /* TALLY_GATEWAY_SERVER_STATUS_H */
