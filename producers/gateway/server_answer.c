/* The gateway's answers, queued through common/http_answer (Content-Type,
 * `Cache-Control: no-store`, the JSON error body); what is the gateway's
 * own is here: CORS on the product route, the request counters and the
 * request's state. */
#include "server_answer.h"

#include "http_answer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The caller's extra headers (at most three pairs), the two CORS ones and
 * the NULL. */
#define MAX_EXTRA 3
typedef struct {
    const char *h[2 * (MAX_EXTRA + 2) + 1];
} headers_t;

/* extra (name, value, ..., NULL; may be NULL), and on the product route
 * the CORS headers of r's allowed origin. */
static const char *const *with_cors(const req_t *r, const char *const *extra, headers_t *out)
{
    size_t n = 0;
    for (size_t i = 0; extra && extra[i] && n < 2 * MAX_EXTRA; i += 2) {
        out->h[n++] = extra[i];
        out->h[n++] = extra[i + 1];
    }
    if (r->ep == EP_PRODUCT && r->origin != NULL) {
        out->h[n++] = "Access-Control-Allow-Origin";
        out->h[n++] = r->srv->any_origin ? "*" : r->origin;
        if (!r->srv->any_origin) {
            out->h[n++] = "Vary";
            out->h[n++] = "Origin";
        }
    }
    out->h[n] = NULL;
    return out->h;
}

/* Every answer of r ends here: counted when queued, r answered. */
static enum MHD_Result answered(req_t *r, int status, enum MHD_Result rc)
{
    if (rc == MHD_YES)
        tally_server_count_request(r->srv, r->ep, status);
    r->state = REQ_ANSWERED;
    return rc;
}

/* Queues the JSON text[0..len) (taken, malloc'd) as the answer, with
 * extra headers (as with_cors). */
static enum MHD_Result answer_text_with(req_t *r, int status, char *text, size_t len, const char *const *headers)
{
    headers_t h;
    return answered(r, status,
                    tally_http_answer_bytes(r->conn, (unsigned)status, "application/json", text, len,
                                            MHD_RESPMEM_MUST_FREE, with_cors(r, headers, &h)));
}

/* Queues {"error":error,"detail":detail} with extra headers. */
static enum MHD_Result answer_error_with(req_t *r, int status, const char *error, const char *detail,
                                         const char *const *headers)
{
    size_t len;
    char *text = tally_http_error_json(error, detail, &len);
    return answer_text_with(r, status, text, len, headers);
}

enum MHD_Result tally_server_answer(req_t *r, int status, json_t *body, int retry_after)
{
    char v[16];
    snprintf(v, sizeof v, "%d", retry_after);
    const char *const headers[] = {"Retry-After", v, NULL};
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL)
        abort();
    return answer_text_with(r, status, text, strlen(text), retry_after > 0 ? headers : NULL);
}

enum MHD_Result tally_server_answer_error(req_t *r, int status, const char *error, const char *detail,
                                          int retry_after)
{
    char v[16];
    snprintf(v, sizeof v, "%d", retry_after);
    const char *const headers[] = {"Retry-After", v, NULL};
    return answer_error_with(r, status, error, detail, retry_after > 0 ? headers : NULL);
}

enum MHD_Result tally_server_answer_unauthorized(req_t *r, const char *detail, const char *error_code)
{
    char challenge[96];
    snprintf(challenge, sizeof challenge, "Bearer realm=\"tally\"%s%s%s", error_code ? ", error=\"" : "",
             error_code ? error_code : "", error_code ? "\"" : "");
    const char *const headers[] = {"WWW-Authenticate", challenge, NULL};
    return answer_error_with(r, 401, "unauthorized", detail, headers);
}

enum MHD_Result tally_server_answer_method(req_t *r, const char *allow)
{
    char detail[64];
    snprintf(detail, sizeof detail, "use %s", allow);
    const char *const headers[] = {"Allow", allow, NULL};
    return answer_error_with(r, 405, "method not allowed", detail, headers);
}

/* The request's framing cannot be trusted, so neither can whatever
 * follows it on the connection. */
enum MHD_Result tally_server_answer_close(req_t *r, int status, const char *error, const char *detail)
{
    const char *const headers[] = {"Connection", "close", NULL};
    return answer_error_with(r, status, error, detail, headers);
}

enum MHD_Result tally_server_answer_json_text(req_t *r, int status, char *text, size_t len)
{
    return answer_text_with(r, status, text, len, NULL);
}

enum MHD_Result tally_server_answer_text(req_t *r, int status, const char *ctype, char *text,
                                         enum MHD_ResponseMemoryMode mode)
{
    return answered(r, status,
                    tally_http_answer_bytes(r->conn, (unsigned)status, ctype, text, strlen(text), mode, NULL));
}

/* An empty answer without Content-Type or Cache-Control (a preflight's
 * caching is Access-Control-Max-Age's). */
enum MHD_Result tally_server_answer_preflight(req_t *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        abort();
    int status = 403;
    if (r->origin != NULL) {
        static const char *const allow[] = {"Access-Control-Allow-Methods", "POST, OPTIONS",
                                            "Access-Control-Allow-Headers", "Content-Type, Content-Encoding",
                                            "Access-Control-Max-Age", "86400", NULL};
        headers_t h;
        const char *const *headers = with_cors(r, allow, &h);
        for (size_t i = 0; headers[i]; i += 2)
            MHD_add_response_header(resp, headers[i], headers[i + 1]);
        status = 204;
    }
    return answered(r, status, tally_http_queue(r->conn, (unsigned)status, resp));
}

const char *tally_server_allowed_origin(const tally_server_t *srv, const char *origin)
{
    if (origin == NULL)
        return NULL;
    if (srv->any_origin)
        return origin;
    for (size_t i = 0; i < srv->n_origins; i++)
        if (strcmp(srv->origins[i], origin) == 0)
            return origin;
    return NULL;
}
