/*
 * server.h: tally-console's HTTP server (libmicrohttpd, a thread pool):
 * routes (route.h), sign-in and sessions (session.h, auth.h), the tenant
 * check, pages and their API (pages.h), downloads, caching headers,
 * security headers and errors. server_internal.h says which file does
 * what; docs/console.md is the user's description of every route.
 *
 * The rules every answer follows:
 *   - a member of tenant A asking for anything of tenant B, or for a vendor
 *     page, gets exactly the 404 of an unknown route (JSON under /api/v1,
 *     the HTML error page elsewhere): never 403;
 *   - not signed in: /api/v1 answers 401 (WWW-Authenticate: Bearer), HTML
 *     routes a 303 to /signin;
 *   - 400 malformed parameter, 405 (with Allow), 413/431 oversized, 503
 *     database down (Retry-After);
 *   - every answer carries Content-Security-Policy, X-Content-Type-Options,
 *     Referrer-Policy: no-referrer and X-Frame-Options; query strings are
 *     never logged (a sign-in link carries a token).
 */
#ifndef TALLY_CONSOLE_SERVER_H
#define TALLY_CONSOLE_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "dbpool.h"
#include "metrics.h"
#include "pages.h"
#include "session.h"
#include "textbuf.h"

/* A usage export for a download route: the tenant's usage of period as
 * CSV (json 0) or JSON (json 1) into out. Returns 0, or a TALLY_PAGE_*
 * code (pages.h) with errbuf set. Called on a server thread, at most
 * downloads_max at once. */
typedef int (*tally_console_download_fn)(void *arg, const char *tenant_id, const char *period, int json,
                                         tally_textbuf_t *out, char *errbuf, size_t errsize);

struct tally_license_pubkeys_t;
struct tally_license_keyring_t;
struct tally_alert_seal_key_t;

typedef struct tally_console_server_opts_t {
    const char *bind;               /* IPv4 address */
    int port;                       /* 0: any free port */
    int threads;
    int connection_limit;
    int per_client_connection_limit; /* 0: none */
    int timeout_s;                  /* idle connection timeout */
    size_t header_memory;           /* per connection; headers past it get 431 */
    size_t max_form;                /* largest POST body (sign-in form) */
    int insecure_cookies;           /* 1: no Secure attribute (plain-HTTP local use) */
    int api_max_age_s;              /* Cache-Control max-age of /api/v1 answers */
    int downloads_max;              /* downloads at once; more get 503 */
    int64_t clock_offset_ms;        /* added to the wall clock (tests pin the month) */
    const tally_page_t *pages;      /* borrowed table (tally_page_all) */
    size_t n_pages;
    tally_dbpool_t *db;             /* borrowed, like the rest */
    tally_auth_t *auth;
    tally_sessions_t *sessions;
    tally_metrics_t *metrics;
    tally_console_download_fn download;   /* NULL: downloads answer 503 */
    void *download_arg;
    const struct tally_license_pubkeys_t *license_keys; /* public keys of --license-keys; NULL: 503 */
    const struct tally_license_keyring_t *license_ring; /* --license-keys: signs; NULL: license POSTs 503 */
    const char *gateway_url;        /* where LicenseIssued/LicenseRevoked go (gateway_event.h) */
    const char *admin_token;        /* the gateway's admin token (secret); NULL: license POSTs 503 */
    int64_t license_wait_ms;        /* how long an issue waits for its tally.licenses row */
    int license_member_max;         /* active personal-dev licenses per member at most (0: no limit) */
    const struct tally_alert_seal_key_t *webhook_key; /* --webhook-public-key: seals; NULL: webhook routes 503 */
    int webhook_allow_http_loopback;  /* local mode: http:// to a loopback literal (as the gateway's flag) */
} tally_console_server_opts_t;

typedef struct tally_console_server_t tally_console_server_t;

/* Starts listening. Returns an owned server, or NULL with errbuf. */
tally_console_server_t *tally_console_server_new(const tally_console_server_opts_t *opts, char *errbuf,
                                                 size_t errsize)
    __attribute__((warn_unused_result));

/* The port actually bound. */
int tally_console_server_port(const tally_console_server_t *srv);

/* Stop accepting connections; /readyz answers 503; requests in flight go
 * on and are answered with Connection: close. */
void tally_console_server_drain(tally_console_server_t *srv);

/* Requests accepted and not yet answered. */
int tally_console_server_inflight(const tally_console_server_t *srv);

/* Housekeeping, from the main loop: expired sessions, gauges. */
void tally_console_server_tick(tally_console_server_t *srv);

/* Stops the threads (closing idle connections) and frees. NULL is a no-op. */
void tally_console_server_free(tally_console_server_t *srv);

#endif
