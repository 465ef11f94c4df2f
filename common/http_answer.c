#include "http_answer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *tally_http_error_json(const char *error, const char *detail, size_t *len)
{
    json_t *body = json_pack("{s:s,s:s}", "error", error ? error : "", "detail", detail ? detail : "");
    if (body == NULL) {   /* not UTF-8: say so rather than lose the answer */
        body = json_pack("{s:s,s:s}", "error", "bad request", "detail", "(error text is not valid UTF-8)");
        if (body == NULL)
            abort();
    }
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL) {
        fprintf(stderr, "tally: out of memory\n");
        abort();
    }
    if (len)
        *len = strlen(text);
    return text;
}

struct MHD_Response *tally_http_response(const char *ctype, const void *data, size_t len,
                                         enum MHD_ResponseMemoryMode mode, const char *const *headers)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)data, mode);
    if (resp == NULL) {
        fprintf(stderr, "tally: out of memory\n");
        abort();
    }
    int cache = 0;
    if (ctype)
        MHD_add_response_header(resp, "Content-Type", ctype);
    for (size_t i = 0; headers && headers[i]; i += 2) {
        if (strcasecmp(headers[i], "Cache-Control") == 0)
            cache = 1;
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    }
    if (!cache)
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    return resp;
}

enum MHD_Result tally_http_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *resp)
{
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

enum MHD_Result tally_http_answer_bytes(struct MHD_Connection *c, unsigned status, const char *ctype,
                                        const void *data, size_t len, enum MHD_ResponseMemoryMode mode,
                                        const char *const *headers)
{
    return tally_http_queue(c, status, tally_http_response(ctype, data, len, mode, headers));
}

enum MHD_Result tally_http_answer_text(struct MHD_Connection *c, unsigned status, const char *ctype,
                                       const char *text, const char *const *headers)
{
    return tally_http_answer_bytes(c, status, ctype, text, strlen(text), MHD_RESPMEM_MUST_COPY, headers);
}

enum MHD_Result tally_http_answer_error(struct MHD_Connection *c, unsigned status, const char *error,
                                        const char *detail, const char *const *headers)
{
    size_t len;
    char *text = tally_http_error_json(error, detail, &len);
    return tally_http_answer_bytes(c, status, "application/json", text, len, MHD_RESPMEM_MUST_FREE, headers);
}

enum MHD_Result tally_http_answer_method(struct MHD_Connection *c, const char *allow)
{
    char detail[96];
    snprintf(detail, sizeof detail, "use %s", allow);
    const char *const headers[] = {"Allow", allow, NULL};
    return tally_http_answer_error(c, 405, "method not allowed", detail, headers);
}
