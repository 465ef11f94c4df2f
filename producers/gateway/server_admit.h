/*
 * server_admit.h: the checks of the gateway's HTTP server made from a
 * request's headers alone, before any body byte is read: framing, size,
 * encoding, media type, authentication and rate limits (server_req.h shows
 * where it sits: it answers through server_answer).
 */
#ifndef TALLY_GATEWAY_SERVER_ADMIT_H
#define TALLY_GATEWAY_SERVER_ADMIT_H

#include "server_req.h"

#include <microhttpd.h>
#include <sys/socket.h>

/* NULL, or what makes the request's framing ambiguous (a constant). */
const char *tally_server_framing_error(struct MHD_Connection *c);

/* Fills r's gzip, media, content_length and, for the usage routes, tenant
 * and env. Returns 0 to go on, or 1 when an answer was queued (*rc is
 * MHD_queue_response's result). */
int tally_server_admit(req_t *r, enum MHD_Result *rc);

/* The client address of r: the socket's peer, or behind
 * --trusted-proxies the entry of X-Forwarded-For client_addr.h says. */
void tally_server_client_addr(req_t *r, struct sockaddr_storage *out);

#endif /* TALLY_GATEWAY_SERVER_ADMIT_H */
