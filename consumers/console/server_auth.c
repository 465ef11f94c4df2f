#include "server_internal.h"

#include "auth.h"
#include "html.h"
#include "layout.h"
#include "log.h"
#include "params.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define COOKIE_NAME "tally_session"

int64_t tally_cs_now_ms(const console_req_t *r)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + r->srv->o.clock_offset_ms;
}

PGconn *tally_cs_db(console_req_t *r, char *errbuf, size_t errsize)
{
    if (r->pg == NULL) {
        r->pg = tally_dbpool_acquire(r->srv->o.db, errbuf, errsize);
        r->pg_failed = 0;
        if (r->pg == NULL)
            tally_metric_add(r->srv->db_errors, 1);
    }
    return r->pg;
}

void tally_cs_db_release(console_req_t *r)
{
    if (r->pg == NULL)
        return;
    tally_dbpool_release(r->srv->o.db, r->pg, r->pg_failed);
    r->pg = NULL;
    r->pg_failed = 0;
}

/* Runs a token lookup on the request's connection; once more on a fresh
 * connection when the first one was found broken (a restarted server). */
static int lookup(console_req_t *r, const char *presented, const char *sha_hex, tally_principal_t *p)
{
    char err[512];
    char hex[TALLY_SESSION_ID_HEX + 1];
    if (presented != NULL) {
        /* The staff token needs no database; a text that is no token never reaches it. */
        if (tally_auth_is_staff(r->srv->o.auth, presented)) {
            memset(p, 0, sizeof *p);
            p->staff = 1;
            return 1;
        }
        if (!tally_auth_token_shaped(presented))
            return 0;
        tally_auth_sha256_hex(presented, hex);
        sha_hex = hex;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        PGconn *pg = tally_cs_db(r, err, sizeof err);
        if (pg == NULL) {
            tally_log_warn("console", "token check: %s", err);
            return -1;
        }
        int rc = tally_auth_lookup(pg, sha_hex, p, err, sizeof err);
        if (rc >= 0)
            return rc;
        r->pg_failed = 1;
        tally_metric_add(r->srv->db_errors, 1);
        int broken = tally_dbpool_broken(pg);
        tally_cs_db_release(r);
        if (!broken) {
            tally_log_warn("console", "token check: %s", err);
            return -1;
        }
    }
    tally_log_warn("console", "token check: the database connection broke twice");
    return -1;
}

/* The bearer token of an Authorization header, or NULL ("" when the
 * header is there but is no bearer token). */
static const char *bearer(console_req_t *r)
{
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h == NULL)
        return NULL;
    if (strncasecmp(h, "Bearer ", 7) != 0)
        return "";
    h += 7;
    while (*h == ' ')
        h++;
    return h;
}

int tally_cs_principal(console_req_t *r, tally_principal_t *p)
{
    const char *b = bearer(r);
    if (b != NULL) {
        /* An API client: the header decides, whatever the cookie says. */
        if (*b == '\0' || strlen(b) > TALLY_AUTH_STAFF_TOKEN_MAX)
            return 0;
        return lookup(r, b, NULL, p);
    }
    const char *id = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, COOKIE_NAME);
    if (id == NULL)
        return 0;
    int64_t now = tally_cs_now_ms(r);
    int st = tally_sessions_get(r->srv->o.sessions, id, now, p);
    if (st == TALLY_SESSION_NONE)
        return 0;
    if (st == TALLY_SESSION_OK)
        return 1;
    tally_principal_t fresh;
    int rc = lookup(r, NULL, p->token_sha256, &fresh);
    if (rc < 0)
        return -1;
    tally_sessions_checked(r->srv->o.sessions, id, rc == 1, now);
    if (rc == 0)
        tally_log_info("console", "a session ended: its console token no longer authenticates");
    return rc;
}

static const char *home_of(const tally_principal_t *p, char *buf, size_t size)
{
    if (p->staff)
        return "/vendor/tenants";
    snprintf(buf, size, "/t/%s/", p->tenant_id);
    return buf;
}

enum MHD_Result tally_cs_root(console_req_t *r)
{
    tally_principal_t p;
    int rc = tally_cs_principal(r, &p);
    if (rc < 0)
        return tally_cs_unavailable(r, "the database is unreachable");
    if (rc == 0)
        return tally_cs_redirect(r, "/signin", NULL);
    char home[TALLY_ROUTE_TENANT_MAX + 8];
    return tally_cs_redirect(r, home_of(&p, home, sizeof home), NULL);
}

/* The sign-in page, with a message (may be NULL). */
static enum MHD_Result signin_page(console_req_t *r, int status, const char *message)
{
    tally_textbuf_t doc = {0};
    tally_layout_t l = {.title = "Sign in"};
    tally_layout_begin(&doc, &l);
    tally_textbuf_puts(&doc, "<h1>Sign in to Tally</h1>");
    if (message) {
        tally_textbuf_puts(&doc, "<p role=\"alert\">");
        tally_html_text(&doc, message);
        tally_textbuf_puts(&doc, "</p>");
    }
    tally_textbuf_puts(&doc,
                       "<form method=\"post\" action=\"/signin\">"
                       "<label for=\"token\">Console token</label> "
                       "<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required> "
                       "<button type=\"submit\">Sign in</button></form>"
                       "<p>Ask your administrator for a sign-in link (console tokens expire after a day).</p>");
    tally_layout_end(&doc);
    return tally_cs_answer(r, status, "text/html; charset=utf-8", doc.data, doc.len, 1, NULL);
}

typedef struct {
    int count;
    const char *value;
} arg_count_t;

static enum MHD_Result count_token(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    arg_count_t *c = cls;
    if (strcmp(key, "token") == 0) {
        c->count++;
        c->value = value ? value : "";
    }
    return MHD_YES;
}

/* A POST from another site (a login forced on the user) is refused.
 * Whether a form POST comes from another site: browsers say so in
 * Sec-Fetch-Site; with Referrer-Policy: no-referrer, Chromium sends
 * `Origin: null` even for this site's own forms, so that header is read
 * first and Origin only when it is absent (older browsers). A request with
 * neither (curl, scripts) is not a browser's cross-site form. */
int tally_cs_cross_site(console_req_t *r)
{
    const char *site = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
    if (site != NULL)
        return strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0;
    const char *origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (origin == NULL)
        return 0;
    const char *rest = strncmp(origin, "http://", 7) == 0    ? origin + 7
                       : strncmp(origin, "https://", 8) == 0 ? origin + 8
                                                             : NULL;
    return rest == NULL || host == NULL || strcmp(rest, host) != 0;
}

static enum MHD_Result sign_in_with(console_req_t *r, const char *token)
{
    tally_principal_t p;
    int rc = strlen(token) > TALLY_AUTH_STAFF_TOKEN_MAX ? 0 : lookup(r, token, NULL, &p);
    tally_cs_db_release(r);
    if (rc < 0)
        return tally_cs_unavailable(r, "the database is unreachable; try again in a moment");
    if (rc == 0) {
        tally_metric_add(r->srv->signins_refused, 1);
        tally_log_info("console", "sign-in refused: unknown, expired or revoked token");
        return signin_page(r, 401, "That token is not valid: it is unknown, expired or revoked, or its member "
                                   "left the team. Ask for a new sign-in link.");
    }
    char id[TALLY_SESSION_ID_HEX + 1], cookie[256], home[TALLY_ROUTE_TENANT_MAX + 8];
    int64_t max_age = 0;
    if (tally_sessions_create(r->srv->o.sessions, &p, tally_cs_now_ms(r), id, &max_age))
        tally_metric_add(r->srv->sessions_evicted, 1);
    snprintf(cookie, sizeof cookie, COOKIE_NAME "=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Strict%s", id,
             (long long)max_age, r->srv->o.insecure_cookies ? "" : "; Secure");
    sodium_memzero(id, sizeof id);
    tally_metric_add(r->srv->signins_ok, 1);
    tally_metric_set(r->srv->sessions_gauge, (int64_t)tally_sessions_count(r->srv->o.sessions));
    tally_log_info("console", "signed in: %s", p.staff ? "staff" : "a member");
    enum MHD_Result res = tally_cs_redirect(r, home_of(&p, home, sizeof home), cookie);
    sodium_memzero(cookie, sizeof cookie);
    return res;
}

enum MHD_Result tally_cs_signin(console_req_t *r)
{
    char token[TALLY_AUTH_STAFF_TOKEN_MAX + 2];
    enum MHD_Result res;
    if (r->method == CS_POST) {
        if (tally_cs_cross_site(r))
            return tally_cs_error(r, 400, "bad request", "a sign-in form must be sent from this site");
        const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0 ||
            (ct[33] != '\0' && ct[33] != ';' && ct[33] != ' '))
            return tally_cs_error(r, 415, "unsupported media type",
                                  "send the form as application/x-www-form-urlencoded");
        int found = tally_params_form_value(r->body.data ? r->body.data : "", r->body.len, "token", token,
                                            sizeof token);
        if (found != 1)
            return signin_page(r, 400, found == 0 ? "Enter your console token." : "That form is malformed.");
        res = sign_in_with(r, token);
        sodium_memzero(token, sizeof token);
        return res;
    }
    arg_count_t c = {0, NULL};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, count_token, &c);
    if (c.count == 0)
        return signin_page(r, 200, NULL);
    if (c.count > 1 || tally_params_decode(c.value, strlen(c.value), 0, token, sizeof token) < 0)
        return signin_page(r, 400, "That sign-in link is malformed.");
    res = sign_in_with(r, token);
    sodium_memzero(token, sizeof token);
    return res;
}

enum MHD_Result tally_cs_signout(console_req_t *r)
{
    if (tally_cs_cross_site(r))
        return tally_cs_error(r, 400, "bad request", "sign out from this site");
    const char *id = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, COOKIE_NAME);
    if (id && tally_sessions_end(r->srv->o.sessions, id))
        tally_log_info("console", "signed out");
    tally_metric_set(r->srv->sessions_gauge, (int64_t)tally_sessions_count(r->srv->o.sessions));
    char cookie[160];
    snprintf(cookie, sizeof cookie, COOKIE_NAME "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s",
             r->srv->o.insecure_cookies ? "" : "; Secure");
    return tally_cs_redirect(r, "/signin", cookie);
}
