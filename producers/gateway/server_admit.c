#include "server_admit.h"

#include "server_answer.h"
#include "client_addr.h"
#include "ratelimit.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    int content_length, transfer_encoding, chunked;
} framing_t;

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    framing_t *f = cls;
    (void)kind;
    if (key && strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        f->content_length++;
    } else if (key && strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->transfer_encoding++;
        f->chunked = value && strcasecmp(value, "chunked") == 0;
    }
    return MHD_YES;
}

/* Where the body ends must be unambiguous (RFC 9112 section 6.3): a proxy
 * in front that reads the framing one way while the gateway reads it
 * another lets a client smuggle a request. libmicrohttpd 0.9.75 takes any
 * of these, so refuse them here. */
const char *tally_server_framing_error(struct MHD_Connection *c)
{
    framing_t f = {0, 0, 0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
    if (f.content_length > 1)
        return "more than one Content-Length";
    if (f.content_length && f.transfer_encoding)
        return "both Content-Length and Transfer-Encoding";
    if (f.transfer_encoding > 1 || (f.transfer_encoding && !f.chunked))
        return "Transfer-Encoding: only a single chunked coding is supported";
    return NULL;
}

/* Size, Content-Encoding and Content-Type. Returns 0, or 1 when an answer
 * was queued. */
static int check_body_headers(req_t *r, enum MHD_Result *rc)
{
    tally_server_t *srv = r->srv;
    struct MHD_Connection *c = r->conn;
    char why[200];
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long cl_value = cl ? strtoull(cl, NULL, 10) : 0;
    if (cl_value > srv->o.max_body) {
        snprintf(why, sizeof why, "the body is larger than %zu bytes", srv->o.max_body);
        *rc = tally_server_answer_error(r, 413, "body too large", why, 0);
        return 1;
    }
    r->content_length = (size_t)cl_value;
    const char *enc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
    if (enc && strcasecmp(enc, "gzip") == 0)
        r->gzip = 1;
    else if (enc && *enc && strcasecmp(enc, "identity") != 0) {
        *rc = tally_server_answer_error(r, 415, "unsupported Content-Encoding", "use gzip or no encoding", 0);
        return 1;
    }
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (tally_body_media(ct, r->ep == EP_PRODUCT, &r->media, why, sizeof why) != 0) {
        *rc = tally_server_answer_error(r, 415, "unsupported media type", why, 0);
        return 1;
    }
    return 0;
}

/* X-Forwarded-For lines may repeat (a proxy may add its own line rather
 * than append to the client's), and MHD_lookup_connection_value gives the
 * first only, which the client wrote: collect them all, keeping the last
 * XFF_LINES (the rightmost entries are the ones that count). */
#define XFF_LINES 16
typedef struct {
    const char *lines[XFF_LINES];
    size_t n;
} xff_t;

static enum MHD_Result collect_xff(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    xff_t *x = cls;
    (void)kind;
    if (key == NULL || value == NULL || strcasecmp(key, "X-Forwarded-For") != 0)
        return MHD_YES;
    if (x->n == XFF_LINES) {
        memmove(x->lines, x->lines + 1, (XFF_LINES - 1) * sizeof x->lines[0]);
        x->n--;
    }
    x->lines[x->n++] = value;
    return MHD_YES;
}

void tally_server_client_addr(req_t *r, struct sockaddr_storage *out)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *peer = ci ? ci->client_addr : NULL;
    xff_t x = {.n = 0};
    if (r->srv->o.trusted_proxies > 0)
        MHD_get_connection_values(r->conn, MHD_HEADER_KIND, collect_xff, &x);
    (void)tally_client_addr_resolve(peer, x.lines, x.n, r->srv->o.trusted_proxies, out);
}

/* Asks rl about a client address (tally_server_client_addr: the socket
 * address, or the X-Forwarded-For entry --trusted-proxies says to believe;
 * AF_UNSPEC: unknown). take: takes a token (tally_ratelimit_allow), else
 * only looks (tally_ratelimit_check). The address is hashed there, never
 * kept. */
static bool limit_client(const struct sockaddr_storage *client, tally_ratelimit_t *rl, bool take, int *retry)
{
    const struct sockaddr *addr = client->ss_family == AF_UNSPEC ? NULL : (const struct sockaddr *)client;
    int64_t now = tally_ratelimit_now_ms();
    return take ? tally_ratelimit_allow(rl, addr, now, retry) : tally_ratelimit_check(rl, addr, now, retry);
}

/* limit_client for the request's own client, worked out once per call. */
static bool limit_request(req_t *r, tally_ratelimit_t *rl, bool take, int *retry)
{
    struct sockaddr_storage client;
    tally_server_client_addr(r, &client);
    bool ok = limit_client(&client, rl, take, retry);
    sodium_memzero(&client, sizeof client);
    return ok;
}

/* Whether token (len bytes) is the admin token; constant time (the SHA-256
 * of both compared with sodium_memcmp). */
static bool is_admin_token(const tally_server_t *srv, const char *token, size_t len)
{
    char hash[TALLY_KEYS_HEX_SIZE];
    if (srv->o.admin_token == NULL)
        return false;
    tally_keys_hash_hex(token, len, hash);
    bool same = sodium_memcmp(hash, srv->admin_hash, TALLY_KEYS_HEX_SIZE - 1) == 0;
    sodium_memzero(hash, sizeof hash);
    return same;
}

/* The RFC 6750 error code of a 401 for a tally_keys_status_t. */
static const char *challenge_code(int status)
{
    return status == TALLY_KEYS_MISSING ? NULL : status == TALLY_KEYS_MALFORMED ? "invalid_request" : "invalid_token";
}

/* The usage and seat routes: an API key, whose tenant, environment and
 * kind go into r. Seat events need a production key (keys.h says why).
 * Returns 0, or 1 when an answer was queued; *failed when it was a 401. */
static int authenticate_key(req_t *r, const char *auth, size_t auth_len, enum MHD_Result *rc, bool *failed)
{
    tally_server_t *srv = r->srv;
    tally_keys_identity_t id;
    char why[160];
    int k = tally_keys_identify_n(srv->o.keys, auth, auth_len, &id);
    if (k == TALLY_KEYS_UNAVAILABLE || k == TALLY_KEYS_STALE) {
        *rc = tally_server_answer_error(r, 503, "unavailable", tally_keys_describe(k), 5);
        return 1;
    }
    if (k == TALLY_KEYS_UNKNOWN) {
        const char *token = NULL;
        size_t token_len = 0;
        if (tally_keys_parse_bearer(auth, auth_len, &token, &token_len) == TALLY_KEYS_OK &&
            is_admin_token(srv, token, token_len)) {
            *rc = tally_server_answer_error(r, 403, "forbidden",
                                            "the admin token is for the Control Panel route; usage and seat "
                                            "events need an API key", 0);
            return 1;
        }
    }
    if (k != TALLY_KEYS_OK) {
        *failed = true;
        *rc = tally_server_answer_unauthorized(r, tally_keys_describe(k), challenge_code(k));
        return 1;
    }
    if (r->ep == EP_SEATS && id.kind != TALLY_KEYS_PRODUCTION) {
        snprintf(why, sizeof why,
                 "seat events need an API key of a production environment; this key is of a %s environment",
                 tally_keys_kind_name(id.kind));
        *rc = tally_server_answer_error(r, 403, "forbidden", why, 0);
        return 1;
    }
    memcpy(r->tenant, id.tenant, sizeof r->tenant);
    memcpy(r->env, id.env, sizeof r->env);
    r->kind = id.kind;
    return 0;
}

/* The Control Panel route: the admin token. An API key there is a valid
 * credential out of its scope (403); anything else is a 401. Returns 0, or
 * 1 when an answer was queued; *failed when it was a 401. */
static int authenticate_admin(req_t *r, const char *auth, size_t auth_len, enum MHD_Result *rc, bool *failed)
{
    tally_server_t *srv = r->srv;
    const char *token = NULL;
    size_t token_len = 0;
    tally_keys_identity_t id;
    int p = tally_keys_parse_bearer(auth, auth_len, &token, &token_len);
    if (p == TALLY_KEYS_OK && is_admin_token(srv, token, token_len))
        return 0;
    if (p == TALLY_KEYS_OK && tally_keys_identify_n(srv->o.keys, auth, auth_len, &id) == TALLY_KEYS_OK) {
        *rc = tally_server_answer_error(r, 403, "forbidden",
                                        "an API key cannot send Control Panel events; use the admin token", 0);
        return 1;
    }
    *failed = true;
    *rc = tally_server_answer_unauthorized(r,
                                           p == TALLY_KEYS_MISSING ? "missing Control Panel admin token"
                                           : p == TALLY_KEYS_MALFORMED
                                               ? "malformed Authorization header: expected \"Bearer <admin token>\""
                                               : "the admin token is not valid",
                                           challenge_code(p == TALLY_KEYS_OK ? TALLY_KEYS_UNKNOWN : p));
    return 1;
}

/* The credential of the usage, seat and Control Panel routes. A client
 * address with too many recent 401s gets 429 until its bucket refills
 * (--auth-failures per --auth-failure-window), whatever it sends: guessing
 * keys or the admin token gets slow, while other addresses go on. Returns
 * 0, or 1 when an answer was queued. */
static int authenticate(req_t *r, enum MHD_Result *rc)
{
    tally_server_t *srv = r->srv;
    const char *auth = NULL;
    size_t auth_len = 0;
    bool failed = false;
    int retry = 1, answered;
    if (r->ep != EP_USAGE && r->ep != EP_SEATS && r->ep != EP_CONTROLPANEL)
        return 0;
    /* The client is worked out once: checked here, charged on a 401. */
    struct sockaddr_storage client;
    if (srv->o.auth_failures) {
        tally_server_client_addr(r, &client);
        if (!limit_client(&client, srv->o.auth_failures, false, &retry)) {
            sodium_memzero(&client, sizeof client);
            *rc = tally_server_answer_error(r, 429, "rate limited",
                                            "too many failed authentications from this client", retry);
            return 1;
        }
    }
    if (MHD_lookup_connection_value_n(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION,
                                      strlen(MHD_HTTP_HEADER_AUTHORIZATION), &auth, &auth_len) != MHD_YES)
        auth = NULL;
    if (auth == NULL)
        auth_len = 0;
    if (r->ep == EP_CONTROLPANEL)
        answered = authenticate_admin(r, auth, auth_len, rc, &failed);
    else
        answered = authenticate_key(r, auth, auth_len, rc, &failed);
    if (srv->o.auth_failures) {
        if (failed)
            (void)limit_client(&client, srv->o.auth_failures, true, NULL);
        sodium_memzero(&client, sizeof client);
    }
    return answered;
}

/* The product route's limit per client, and its refusal when the event
 * queue is full. Returns 0, or 1 when an answer was queued. */
static int rate_limit(req_t *r, enum MHD_Result *rc)
{
    tally_server_t *srv = r->srv;
    int retry = 1;
    if (!limit_request(r, srv->o.ratelimit, true, &retry)) {
        *rc = tally_server_answer_error(r, 429, "rate limited", "too many requests from this client", retry);
        return 1;
    }
    int q = tally_publisher_queue_len(srv->o.publisher);
    if (!tally_publisher_ready(srv->o.publisher, NULL, 0) && q > 0) {
        *rc = tally_server_answer_error(r, 503, "overloaded", "the event queue is full; retry later", 5);
        return 1;
    }
    return 0;
}

int tally_server_admit(req_t *r, enum MHD_Result *rc)
{
    tally_server_t *srv = r->srv;
    char why[200];
    if (atomic_load(&srv->draining)) {
        *rc = tally_server_answer_error(r, 503, "shutting down", "this gateway is draining; retry on another", 1);
        return 1;
    }
    if (check_body_headers(r, rc) || authenticate(r, rc))
        return 1;
    if ((r->ep == EP_USAGE || r->ep == EP_SEATS || r->ep == EP_CONTROLPANEL) &&
        !tally_publisher_ready(srv->o.publisher, why, sizeof why)) {
        *rc = tally_server_answer_error(r, 503, "unavailable", why, 5);
        return 1;
    }
    if (r->ep == EP_PRODUCT && srv->o.ratelimit)
        return rate_limit(r, rc);
    return 0;
}
