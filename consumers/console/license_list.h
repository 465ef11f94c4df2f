/*
 * license_list.h: the issued licenses a principal may see, read from
 * tally.licenses (the materializer's projection of LicenseIssued and
 * LicenseRevoked, migration 0011) as one JSON list: what
 * GET /api/v1/licenses answers and what the licenses pages (the member's
 * /t/{tenant}/licenses and staff's /vendor/licenses) render, so the API and
 * the pages cannot show different licenses.
 *
 * Who sees what is the query's: a member only their own personal-dev
 * licenses (tenant AND member), staff every license, or one tenant's. A
 * row left by a revocation read before its issue (no payload yet) is no
 * license and is not listed (the revocation list still names it).
 *
 * One item:
 *   {"license_id", "tenant_id", "tenant_name", "kind" ("personal-dev" or
 *    "environment", the payload's spelling), "member_id", "member_name",
 *    "environment_id", "environment_name" (null when not of the kind, or
 *    the member or environment is gone), "valid_from", "valid_until",
 *    "issued_at", "revoked_at" ("YYYY-MM-DDTHH:MM:SSZ" or null), "key_id",
 *    "status", "file" (the download route), and for staff only
 *    "revoke_reason"}
 * newest issue first, at most TALLY_LICENSE_LIST_MAX items.
 */
#ifndef TALLY_CONSOLE_LICENSE_LIST_H
#define TALLY_CONSOLE_LICENSE_LIST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#define TALLY_LICENSE_LIST_MAX 1000

/* What to list (strings borrowed for the call). */
typedef struct tally_license_list_query_t {
    const char *tenant_id;   /* one tenant; NULL: every tenant (staff) */
    const char *member_id;   /* non-NULL: only this member's licenses (a member's view) */
    int staff;               /* 1: the revoke reason is shown */
    int64_t now_ms;          /* for the status */
} tally_license_list_query_t;

/* A license's status at now_ms (milliseconds, as the window's bounds):
 * "revoked" when revoked (whatever the window), else "not yet valid"
 * before valid_from, "expired" from valid_until on, else "valid". The
 * console's own clock is the issuer's: no skew allowance here (that is
 * the offline verifier's, TALLY_LICENSE_SKEW_S). Static text. */
const char *tally_license_list_status(int64_t now_ms, int64_t valid_from_ms, int64_t valid_until_ms, int revoked);

/* Loads {"licenses": [items], "truncated": bool} for q on pg (borrowed;
 * the console's role may only SELECT). Returns 0 with *out owned by the
 * caller, or TALLY_PAGE_DB_ERROR (pages.h) with errbuf set. */
int tally_license_list_load(PGconn *pg, const tally_license_list_query_t *q, json_t **out, char *errbuf,
                            size_t errsize) __attribute__((warn_unused_result));

#endif
