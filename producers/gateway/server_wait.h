/*
 * server_wait.h: requests suspended until Kafka acknowledged their
 * records, and their answer at shutdown (server_req.h shows where it sits:
 * it uses server_req only; server_wait.c says how a wait is claimed).
 */
#ifndef TALLY_GATEWAY_SERVER_WAIT_H
#define TALLY_GATEWAY_SERVER_WAIT_H

#include "server_req.h"

/* Suspends r until its records' acks (r->wait armed after this); returns
 * 1 when r must be resumed by the caller at once (every record already
 * reported, or the server is stopping). */
int tally_server_wait_begin(req_t *r);

/* r completes: unlinks it and releases its wait (if any). */
void tally_server_wait_end(req_t *r);

/* Shutdown (the caller's thread, not libmicrohttpd's): every waiting
 * request is resumed to answer 503, and no new one may wait; then up to
 * grace_ms for those answers to be sent. */
void tally_server_wait_abandon_all(tally_server_t *srv, int grace_ms);

#endif /* TALLY_GATEWAY_SERVER_WAIT_H */
