/*
 * server_answer.h: queueing the answer of a request of the gateway's HTTP
 * server, and CORS (server_req.h shows where it sits among the server's
 * files: it uses server_req only). Each function queues the answer of r,
 * counts it and marks r answered; returns MHD_queue_response's result.
 * Answers are JSON and never cached.
 */
#ifndef TALLY_GATEWAY_SERVER_ANSWER_H
#define TALLY_GATEWAY_SERVER_ANSWER_H

#include "server_req.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>

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

#endif /* TALLY_GATEWAY_SERVER_ANSWER_H */
