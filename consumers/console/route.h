/*
 * route.h: what a console request path names, before anyone is asked who
 * sent it.
 *
 * The path is matched as it arrived, byte for byte: the server installs an
 * unescape callback that leaves it alone, so "%2e%2e", "%00" or "%2F" are
 * never decoded into something that routes. No route of the console needs
 * an escaped byte (tenant ids are [A-Za-z0-9._-]), so a path holding '%',
 * a byte outside [A-Za-z0-9._~/-], an empty segment ("//"), a "." or ".."
 * segment, or more than TALLY_ROUTE_PATH_MAX bytes is simply unknown:
 * TALLY_ROUTE_UNKNOWN, the same 404 as any other unknown path.
 *
 *   /                                          TALLY_ROUTE_ROOT
 *   /healthz /readyz /metrics                  TALLY_ROUTE_HEALTHZ ...
 *   /signin  /signout                          TALLY_ROUTE_SIGNIN, _SIGNOUT
 *   /t/{tenant}/ /t/{tenant}/{usage,seats,team}  TALLY_ROUTE_PAGE (html)
 *   /vendor/{tenants,product}                  TALLY_ROUTE_PAGE (html, staff)
 *   /api/v1/tenants/{tenant}/{overview,usage,seats,team}  TALLY_ROUTE_PAGE (api)
 *   /api/v1/vendor/{tenants,product}           TALLY_ROUTE_PAGE (api, staff)
 *   /t/{tenant}/usage.csv                      TALLY_ROUTE_DOWNLOAD (html face, csv)
 *   /api/v1/tenants/{tenant}/usage/export      TALLY_ROUTE_DOWNLOAD (api face)
 *   /api/v1/licenses/keys                     TALLY_ROUTE_LICENSE_KEYS (api, anyone)
 *   /api/v1/licenses                          TALLY_ROUTE_LICENSES (api: GET lists, POST issues)
 *   /api/v1/licenses/{license id}/file        TALLY_ROUTE_LICENSE_FILE (api)
 *   /api/v1/licenses/revoked                  TALLY_ROUTE_LICENSES_REVOKED (api, anyone)
 *   /t/{tenant}/licenses                      TALLY_ROUTE_PAGE "licenses" (html only; POST: the
 *                                             issue form, answered by the license POST handler)
 *   /vendor/licenses                          TALLY_ROUTE_PAGE "vendor-licenses" (html only, staff)
 *   /api/v1/licenses/{license id}/revoke      TALLY_ROUTE_LICENSE_REVOKE (api, license_id)
 *   /vendor/licenses/{license id}/revoke      TALLY_ROUTE_LICENSE_REVOKE (html, vendor, license_id)
 *   /api/v1/webhook                           TALLY_ROUTE_WEBHOOK (api: PUT/POST sets the tenant's webhook)
 *   /api/v1/alert-rules                       TALLY_ROUTE_ALERT_RULES (api: POST, staff)
 *   /t/{tenant}/webhook                       TALLY_ROUTE_PAGE "webhook" (html only; POST: its form)
 *   /api/v1/alerts                            TALLY_ROUTE_ALERTS (api: usage alerts of a month)
 *
 * A license id in a path is a lower-case UUID (8-4-4-4-12 hex digits);
 * anything else there is no route: the 404 of an unknown path.
 *
 * The page names are those of pages.h; whether a page by that name exists
 * is the server's question (tally_page_find), not this module's.
 */
#ifndef TALLY_CONSOLE_ROUTE_H
#define TALLY_CONSOLE_ROUTE_H

#include <stddef.h>

/* Longest path routed; longer ones are unknown. */
#define TALLY_ROUTE_PATH_MAX 256
/* Longest tenant id in a path. */
#define TALLY_ROUTE_TENANT_MAX 64

typedef enum tally_route_kind_t {
    TALLY_ROUTE_UNKNOWN = 0,
    TALLY_ROUTE_ROOT,
    TALLY_ROUTE_HEALTHZ,
    TALLY_ROUTE_READYZ,
    TALLY_ROUTE_METRICS,
    TALLY_ROUTE_SIGNIN,
    TALLY_ROUTE_SIGNOUT,
    TALLY_ROUTE_PAGE,
    TALLY_ROUTE_DOWNLOAD,
    TALLY_ROUTE_LICENSE_KEYS,
    TALLY_ROUTE_LICENSES,
    TALLY_ROUTE_LICENSE_FILE,
    TALLY_ROUTE_LICENSES_REVOKED,
    TALLY_ROUTE_LICENSE_REVOKE,
    TALLY_ROUTE_WEBHOOK,
    TALLY_ROUTE_ALERT_RULES,
    TALLY_ROUTE_ALERTS,
} tally_route_kind_t;

typedef struct tally_route_t {
    tally_route_kind_t kind;
    int api;                                   /* 1: under /api/v1 (JSON face) */
    int vendor;                                /* 1: a /vendor or /api/v1/vendor page */
    const char *page;                          /* PAGE: "overview", "usage", ... (static) */
    char tenant[TALLY_ROUTE_TENANT_MAX + 1];   /* PAGE and DOWNLOAD of a tenant; "" otherwise */
    char license_id[37];                       /* LICENSE_FILE, _REVOKE: the lower-case UUID; "" otherwise */
} tally_route_t;

/* Matches path (borrowed, NUL-terminated, not decoded) into *out. Returns
 * out->kind; TALLY_ROUTE_UNKNOWN for anything not in the table above.
 * Never reads past the NUL. */
tally_route_kind_t tally_route_parse(const char *path, tally_route_t *out);

/* Whether s is a tenant id the console accepts in a path. */
int tally_route_tenant_ok(const char *s, size_t len);

/* Whether s[0..len) is a license id as the console names one: a lower-case
 * UUID, 8-4-4-4-12 hex digits. */
int tally_route_license_id_ok(const char *s, size_t len);

/* A short, bounded label for metrics: "page:usage", "api:usage",
 * "download", "signin", "other"... (static). */
const char *tally_route_label(const tally_route_t *r);

#endif
