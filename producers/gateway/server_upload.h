/*
 * server_upload.h: reading a request's body into it, charged against the
 * memory budget of all bodies, or refusing it half way (server_req.h shows
 * where it sits: it answers through server_answer).
 */
#ifndef TALLY_GATEWAY_SERVER_UPLOAD_H
#define TALLY_GATEWAY_SERVER_UPLOAD_H

#include "server_req.h"

#include <microhttpd.h>
#include <stddef.h>

/* Appends an upload chunk, or refuses the body (r->state says which). */
void tally_server_upload_append(req_t *r, const char *data, size_t n);

/* A chunk (*upload_size bytes, dropped) or the end (0) of a refused body:
 * at the end, queues the refusal. */
enum MHD_Result tally_server_upload_discard(req_t *r, size_t *upload_size);

/* Frees r's body and gives its memory back to the budget of all bodies. */
void tally_server_upload_free(req_t *r);

#endif /* TALLY_GATEWAY_SERVER_UPLOAD_H */
