#include "server_internal.h"

#include "log.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const int tally_cs_counted_status[CS_N_STATUS] = {200, 303, 304, 400, 401, 404, 405, 408,
                                                  413, 414, 415, 431, 500, 503, 0, 0};

static const char *const route_labels[CS_N_ROUTES] = {
    "root", "healthz", "readyz", "metrics", "signin", "signout",
    "html:overview", "html:usage", "html:seats", "html:team", "html:tenants", "html:product",
    "api:overview", "api:usage", "api:seats", "api:team", "api:tenants", "api:product",
    "html:usage.csv", "api:export", "other",
};

int tally_cs_route_index(const char *label)
{
    for (int i = 0; i < CS_N_ROUTES; i++)
        if (route_labels[i] && strcmp(route_labels[i], label) == 0)
            return i;
    return CS_N_ROUTES - 1;   /* "other" */
}

const char *tally_cs_route_label_at(int i)
{
    return i >= 0 && i < CS_N_ROUTES ? route_labels[i] : "other";
}

/* Every answer: what a browser may do with it. */
static const char csp[] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
                          "frame-ancestors 'none'; base-uri 'none'";

static void count(console_req_t *r, int status)
{
    tally_console_server_t *srv = r->srv;
    int route = r->route_index;
    for (int i = 0; i < CS_N_STATUS; i++)
        if (tally_cs_counted_status[i] == status) {
            tally_metric_add(srv->requests[route][i], 1);
            return;
        }
}

enum MHD_Result tally_cs_answer(console_req_t *r, int status, const char *ctype, char *body, size_t len,
                                int must_free, const char *const *headers)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        abort();
    int has_cache = 0;
    for (size_t i = 0; headers && headers[i]; i += 2) {
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
        has_cache |= strcmp(headers[i], "Cache-Control") == 0;
    }
    if (ctype)
        MHD_add_response_header(resp, "Content-Type", ctype);
    if (!has_cache)
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "Content-Security-Policy", csp);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    if (atomic_load(&r->srv->draining))
        MHD_add_response_header(resp, "Connection", "close");
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    count(r, status);
    r->answered = status;
    return rc;
}

void tally_cs_html_escape(tally_textbuf_t *out, const char *s)
{
    for (; s && *s; s++)
        switch (*s) {
        case '&':
            tally_textbuf_puts(out, "&amp;");
            break;
        case '<':
            tally_textbuf_puts(out, "&lt;");
            break;
        case '>':
            tally_textbuf_puts(out, "&gt;");
            break;
        case '"':
            tally_textbuf_puts(out, "&quot;");
            break;
        case '\'':
            tally_textbuf_puts(out, "&#39;");
            break;
        default:
            tally_textbuf_putc(out, *s);
        }
}

void tally_cs_html_document(console_req_t *r, const char *title, const char *main_html, tally_textbuf_t *out)
{
    (void)r;
    tally_textbuf_puts(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>");
    tally_cs_html_escape(out, title);
    tally_textbuf_puts(out, " · Tally</title></head><body><main>");
    tally_textbuf_puts(out, main_html);
    tally_textbuf_puts(out, "</main></body></html>\n");
}

static enum MHD_Result html_error(console_req_t *r, int status, const char *error, const char *detail,
                                  const char *const *headers)
{
    tally_textbuf_t main_html = {0}, doc = {0};
    tally_textbuf_puts(&main_html, "<h1>");
    tally_cs_html_escape(&main_html, error);
    tally_textbuf_puts(&main_html, "</h1><p>");
    tally_cs_html_escape(&main_html, detail);
    tally_textbuf_puts(&main_html, "</p><p><a href=\"/\">Home</a></p>");
    tally_cs_html_document(r, error, main_html.data, &doc);
    tally_textbuf_free(&main_html);
    return tally_cs_answer(r, status, "text/html; charset=utf-8", doc.data, doc.len, 1, headers);
}

static enum MHD_Result json_error(console_req_t *r, int status, const char *error, const char *detail,
                                  const char *const *headers)
{
    json_t *j = json_pack("{s:s,s:s}", "error", error, "detail", detail);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (text == NULL)
        abort();
    return tally_cs_answer(r, status, "application/json", text, strlen(text), 1, headers);
}

enum MHD_Result tally_cs_error_with(console_req_t *r, int status, const char *error, const char *detail,
                                  const char *const *headers)
{
    return r->route.api ? json_error(r, status, error, detail, headers) : html_error(r, status, error, detail, headers);
}

enum MHD_Result tally_cs_error(console_req_t *r, int status, const char *error, const char *detail)
{
    return tally_cs_error_with(r, status, error, detail, NULL);
}

enum MHD_Result tally_cs_not_found(console_req_t *r)
{
    return tally_cs_error_with(r, 404, "not found", "no such page", NULL);
}

enum MHD_Result tally_cs_method(console_req_t *r, const char *allow)
{
    char detail[64];
    snprintf(detail, sizeof detail, "use %s", allow);
    const char *const headers[] = {"Allow", allow, NULL};
    return tally_cs_error_with(r, 405, "method not allowed", detail, headers);
}

enum MHD_Result tally_cs_unavailable(console_req_t *r, const char *detail)
{
    const char *const headers[] = {"Retry-After", "2", NULL};
    return tally_cs_error_with(r, 503, "unavailable", detail, headers);
}

enum MHD_Result tally_cs_redirect(console_req_t *r, const char *location, const char *set_cookie)
{
    const char *const with_cookie[] = {"Location", location, "Set-Cookie", set_cookie, NULL};
    const char *const plain[] = {"Location", location, NULL};
    return tally_cs_answer(r, 303, NULL, "", 0, 0, set_cookie ? with_cookie : plain);
}

enum MHD_Result tally_cs_unauthorized(console_req_t *r)
{
    if (!r->route.api)
        return tally_cs_redirect(r, "/signin", NULL);
    const char *const headers[] = {"WWW-Authenticate", "Bearer realm=\"tally-console\"", NULL};
    return json_error(r, 401, "unauthorized", "sign in, or send Authorization: Bearer <console token>", headers);
}

/* Whether the If-None-Match list (borrowed) names etag ("\"...\"");
 * weak comparison, as RFC 9110 asks of If-None-Match. */
static int etag_matches(const char *list, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return 1;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *e = end;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - p) == elen && memcmp(p, etag, elen) == 0)
            return 1;
        p = end;
    }
    return 0;
}

enum MHD_Result tally_cs_cached(console_req_t *r, const char *ctype, char *body, size_t len,
                                const char *cache_control, const char *const *extra)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    char hex[2 * sizeof h + 1], etag[48];
    crypto_hash_sha256(h, (const unsigned char *)body, len);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    snprintf(etag, sizeof etag, "\"%.32s\"", hex);
    const char *headers[16];
    size_t n = 0;
    headers[n++] = "ETag";
    headers[n++] = etag;
    headers[n++] = "Cache-Control";
    headers[n++] = cache_control;
    headers[n++] = "Vary";
    headers[n++] = "Cookie, Authorization";
    for (size_t i = 0; extra && extra[i] && n + 3 < sizeof headers / sizeof headers[0]; i += 2) {
        headers[n++] = extra[i];
        headers[n++] = extra[i + 1];
    }
    headers[n] = NULL;
    const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-None-Match");
    if (inm && etag_matches(inm, etag)) {
        free(body);
        return tally_cs_answer(r, 304, NULL, "", 0, 0, headers);
    }
    return tally_cs_answer(r, 200, ctype, body, len, 1, headers);
}
