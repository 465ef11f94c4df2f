/*
 * http_answer.h: queueing the answer of a libmicrohttpd request, the same
 * way in every process.
 *
 * Errors are JSON {"error":"...","detail":"..."} (texts escaped by
 * jansson, so a detail may quote input). Every answer gets Content-Type
 * and, unless the caller passes its own, `Cache-Control: no-store`, plus
 * the extra headers given as a NULL-terminated list of name, value pairs.
 * Each function returns what MHD_queue_response returned; the response is
 * always destroyed here. Out of memory aborts.
 */
#ifndef TALLY_HTTP_ANSWER_H
#define TALLY_HTTP_ANSWER_H

#include <stddef.h>

#include <microhttpd.h>

/* The JSON error body as a malloc'd NUL-terminated string (the caller
 * frees it) and its length in *len (may be NULL). */
char *tally_http_error_json(const char *error, const char *detail, size_t *len);

/* A response over data[0..len) with mode's ownership (MHD_RESPMEM_PERSISTENT:
 * borrowed for the response's life; MUST_FREE: taken, freed with free();
 * MUST_COPY: copied), its Content-Type, and headers (may be NULL). Adds
 * `Cache-Control: no-store` unless headers name Cache-Control. Returns an
 * owned response. */
struct MHD_Response *tally_http_response(const char *ctype, const void *data, size_t len,
                                         enum MHD_ResponseMemoryMode mode, const char *const *headers);

/* Queues resp (taken: destroyed here) with status. */
enum MHD_Result tally_http_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *resp);

/* Queues data[0..len) (ownership as tally_http_response) as the answer. */
enum MHD_Result tally_http_answer_bytes(struct MHD_Connection *c, unsigned status, const char *ctype,
                                        const void *data, size_t len, enum MHD_ResponseMemoryMode mode,
                                        const char *const *headers);

/* Queues the NUL-terminated text (copied) as the answer. */
enum MHD_Result tally_http_answer_text(struct MHD_Connection *c, unsigned status, const char *ctype,
                                       const char *text, const char *const *headers);

/* Queues the JSON error {"error","detail"} with status and headers. */
enum MHD_Result tally_http_answer_error(struct MHD_Connection *c, unsigned status, const char *error,
                                        const char *detail, const char *const *headers);

/* 405 with `Allow: allow` and the detail "use <allow>". */
enum MHD_Result tally_http_answer_method(struct MHD_Connection *c, const char *allow);

#endif
