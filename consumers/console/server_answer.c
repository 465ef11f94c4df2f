#include "server_internal.h"

#include "http_answer.h"
#include "layout.h"
#include "log.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const int tally_cs_counted_status[CS_N_STATUS] = {200, 201, 202, 303, 304, 400, 401, 404, 405, 408,
                                                  409, 410, 413, 414, 415, 422, 431, 500, 503, 0};

static const char *const route_labels[CS_N_ROUTES] = {
    "root", "healthz", "readyz", "metrics", "signin", "signout",
    "html:overview", "html:usage", "html:seats", "html:team", "html:tenants", "html:product",
    "api:overview", "api:usage", "api:seats", "api:team", "api:tenants", "api:product",
    "html:usage.csv", "api:export", "api:license-keys", "api:licenses", "api:license-file", "api:licenses-revoked",
    "html:licenses", "html:vendor-licenses", "api:license-revoke", "html:license-revoke", "api:alerts",
    "api:webhook", "api:alert-rules", "html:webhook", "other",
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
        tally_http_response(ctype, body, len, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT, headers);
    MHD_add_response_header(resp, "Content-Security-Policy", csp);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    if (atomic_load(&r->srv->draining))
        MHD_add_response_header(resp, "Connection", "close");
    enum MHD_Result rc = tally_http_queue(r->conn, (unsigned)status, resp);
    count(r, status);
    r->answered = status;
    return rc;
}

static const char *html_title(int status)
{
    switch (status) {
    case 400:
        return "Bad request";
    case 404:
        return "Not found";
    case 405:
        return "Method not allowed";
    case 413:
        return "Too large";
    case 414:
        return "Address too long";
    case 415:
        return "Unsupported form";
    case 503:
        return "Unavailable";
    default:
        return "Error";
    }
}

/* The HTML error page carries no navigation: the same body for every
 * principal (the 404 of another tenant's route is the unknown route's). */
static enum MHD_Result html_error(console_req_t *r, int status, const char *detail, const char *const *headers)
{
    tally_textbuf_t doc = {0};
    char message[256];
    snprintf(message, sizeof message, "%s%s", detail, detail[0] && detail[strlen(detail) - 1] != '.' ? "." : "");
    if (message[0] >= 'a' && message[0] <= 'z')
        message[0] = (char)(message[0] - 'a' + 'A');
    tally_layout_error_page(&doc, status, html_title(status), message, NULL);
    return tally_cs_answer(r, status, "text/html; charset=utf-8", doc.data, doc.len, 1, headers);
}

static enum MHD_Result json_error(console_req_t *r, int status, const char *error, const char *detail,
                                  const char *const *headers)
{
    size_t len;
    char *text = tally_http_error_json(error, detail, &len);
    return tally_cs_answer(r, status, "application/json", text, len, 1, headers);
}

enum MHD_Result tally_cs_error_with(console_req_t *r, int status, const char *error, const char *detail,
                                  const char *const *headers)
{
    return r->route.api ? json_error(r, status, error, detail, headers) : html_error(r, status, detail, headers);
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
