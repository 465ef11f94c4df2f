#include "server_upload.h"

#include "server_answer.h"
#include "timeutil.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Refuses the body being read: the answer goes out once the client has
 * sent the rest, which is read and dropped for at most --timeout. */
static void refuse_body(req_t *r, int status, const char *error, const char *detail, int retry_after)
{
    r->refused.status = status;
    r->refused.error = error;
    snprintf(r->refused.detail, sizeof r->refused.detail, "%s", detail);
    r->refused.retry_after = retry_after;
    r->refused.until_ms = tally_mono_ms() + (int64_t)r->srv->o.timeout_s * 1000;
    if (r->refused.until_ms > r->deadline_ms)
        r->refused.until_ms = r->deadline_ms;
    r->state = REQ_DISCARDING;
}

/* What the bodies of r's route may hold together. The product route needs
 * no credential, so it may not take the last quarter of the budget: usage,
 * seat and Control Panel requests (authenticated) always find room, however
 * many product uploads hold memory. */
static size_t budget_of(const req_t *r)
{
    size_t b = r->srv->o.memory_budget;
    return r->ep == EP_PRODUCT ? b - b / 4 : b;
}

/* Memory is charged as the body arrives, never for the Content-Length
 * announced: a client announcing 1 MiB and trickling a byte holds 4 KiB.
 * Before, the whole Content-Length was charged on the first body byte, and
 * no guard stopped that (measured with 1 and with 8 client addresses, 70
 * connections announcing 1 MiB each: usage answered 503). What hides it
 * from a probe: nothing is charged before the first body byte (libmicrohttpd
 * calls the handler with a body only then), a chunked body has no length
 * to charge, and the per-client connection limit (64) refuses a probe's own
 * request sent from the uploaders' address (an empty reply, not a 503).
 * A body grows by doubling, up to its Content-Length and --max-body. */
void tally_server_upload_append(req_t *r, const char *data, size_t n)
{
    tally_server_t *srv = r->srv;
    if (r->len + n > srv->o.max_body) {
        char why[96];
        snprintf(why, sizeof why, "the body is larger than %zu bytes", srv->o.max_body);
        refuse_body(r, 413, "body too large", why, 0);
        return;
    }
    if (r->len + n > r->cap) {
        size_t need = r->len + n;
        size_t cap = r->cap ? 2 * r->cap : 4096;
        while (cap < need)
            cap *= 2;
        if (r->content_length >= need && cap > r->content_length)
            cap = r->content_length;
        if (cap > srv->o.max_body)
            cap = srv->o.max_body;
        size_t grow = cap - r->cap;
        /* Every request's buffer counts against one budget. */
        if (atomic_fetch_add(&srv->body_bytes, grow) + grow > budget_of(r)) {
            atomic_fetch_sub(&srv->body_bytes, grow);
            refuse_body(r, 503, "overloaded", "too many large requests in flight; retry later", 1);
            return;
        }
        r->body = tally_xrealloc(r->body, cap, 1);
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
}

enum MHD_Result tally_server_upload_discard(req_t *r, size_t *upload_size)
{
    if (*upload_size == 0)
        return tally_server_answer_error(r, r->refused.status, r->refused.error, r->refused.detail,
                                         r->refused.retry_after);
    *upload_size = 0;
    /* A client still sending past the deadline is cut off unanswered. */
    return tally_mono_ms() < r->refused.until_ms ? MHD_YES : MHD_NO;
}

void tally_server_upload_free(req_t *r)
{
    atomic_fetch_sub(&r->srv->body_bytes, r->cap);
    free(r->body);
    r->body = NULL;
    r->len = r->cap = 0;
}
