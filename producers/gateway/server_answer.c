#include "server_answer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_cors(req_t *r, struct MHD_Response *resp)
{
    if (r->origin == NULL)
        return;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->srv->any_origin ? "*" : r->origin);
    if (!r->srv->any_origin)
        MHD_add_response_header(resp, "Vary", "Origin");
}

/* Queues resp (destroyed here) as the answer of r. */
static enum MHD_Result queue(req_t *r, int status, struct MHD_Response *resp)
{
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    if (rc == MHD_YES)
        tally_server_count_request(r->srv, r->ep, status);
    r->state = REQ_ANSWERED;
    return rc;
}

/* Queues the JSON text[0..len) (taken, malloc'd) as the answer, with
 * extra headers (name, value, name, value, ..., NULL; may be NULL). */
static enum MHD_Result answer_text_with(req_t *r, int status, char *text, size_t len, const char *const *headers)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL)
        abort();
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    for (size_t i = 0; headers && headers[i]; i += 2)
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    if (r->ep == EP_PRODUCT)
        add_cors(r, resp);
    return queue(r, status, resp);
}

/* Queues body (taken) as the answer, as answer_text_with. */
static enum MHD_Result answer_with(req_t *r, int status, json_t *body, const char *const *headers)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL)
        abort();
    return answer_text_with(r, status, text, strlen(text), headers);
}

static json_t *error_body(const char *error, const char *detail)
{
    return json_pack("{s:s,s:s}", "error", error, "detail", detail);
}

enum MHD_Result tally_server_answer(req_t *r, int status, json_t *body, int retry_after)
{
    char v[16];
    snprintf(v, sizeof v, "%d", retry_after);
    const char *const headers[] = {"Retry-After", v, NULL};
    return answer_with(r, status, body, retry_after > 0 ? headers : NULL);
}

enum MHD_Result tally_server_answer_error(req_t *r, int status, const char *error, const char *detail,
                                          int retry_after)
{
    return tally_server_answer(r, status, error_body(error, detail), retry_after);
}

enum MHD_Result tally_server_answer_unauthorized(req_t *r, const char *detail, const char *error_code)
{
    char challenge[96];
    snprintf(challenge, sizeof challenge, "Bearer realm=\"tally\"%s%s%s", error_code ? ", error=\"" : "",
             error_code ? error_code : "", error_code ? "\"" : "");
    const char *const headers[] = {"WWW-Authenticate", challenge, NULL};
    return answer_with(r, 401, error_body("unauthorized", detail), headers);
}

enum MHD_Result tally_server_answer_method(req_t *r, const char *allow)
{
    char detail[64];
    snprintf(detail, sizeof detail, "use %s", allow);
    const char *const headers[] = {"Allow", allow, NULL};
    return answer_with(r, 405, error_body("method not allowed", detail), headers);
}

/* The request's framing cannot be trusted, so neither can whatever
 * follows it on the connection. */
enum MHD_Result tally_server_answer_close(req_t *r, int status, const char *error, const char *detail)
{
    const char *const headers[] = {"Connection", "close", NULL};
    return answer_with(r, status, error_body(error, detail), headers);
}

enum MHD_Result tally_server_answer_json_text(req_t *r, int status, char *text, size_t len)
{
    return answer_text_with(r, status, text, len, NULL);
}

enum MHD_Result tally_server_answer_text(req_t *r, int status, const char *ctype, char *text,
                                         enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, mode);
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return queue(r, status, resp);
}

enum MHD_Result tally_server_answer_preflight(req_t *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    int status = 204;
    if (r->origin != NULL) {
        add_cors(r, resp);
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "POST, OPTIONS");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Content-Type, Content-Encoding");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
    } else {
        status = 403;
    }
    return queue(r, status, resp);
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
