/*
 * license_issuer.h: issuing and revoking licenses (docs/licenses.md,
 * "Issuing"), the work behind the console's license POST routes, without
 * HTTP.
 *
 * The console writes nothing itself. An issue is:
 *
 *   1. the license id is derived from (tenant, member, Idempotency-Key)
 *      (license_id.h; an environment license uses "env:<environment id>"
 *      as its member). When tally.licenses has that id, its stored payload
 *      is signed again with the key it names (the same file, Ed25519 is
 *      deterministic) and nothing is sent: a retry gets the license of the
 *      first request;
 *   2. otherwise the tenant's contract valid today (tally.console_license_terms)
 *      must exist, a member must hold fewer than member_max personal-dev
 *      licenses that are valid now and not revoked (else CONFLICT), and the
 *      tenant's status for it (tally.compliance) must not
 *      be "over"; an environment license needs the tenant's environment;
 *   3. the payload is built (features and limits copied from the terms; a
 *      personal-dev license lasts tally_license_personal_dev_window, an
 *      environment license until the contract's end or the valid_until
 *      asked, never past it) and signed with the newest key;
 *   4. LicenseIssued goes through the gateway (gateway_event.h); anything
 *      but its 202 throws the file away;
 *   5. after the 202, tally.licenses is polled for the id until wait_ms;
 *      the file handed out is made from THAT ROW's payload (the first issue
 *      of an id wins, so two racing retries hand out the same bytes).
 *
 * So a file is only ever handed out when its LicenseIssued event is in the
 * log and projected: a crash anywhere before leaves no license, or one the
 * retry (same key) finds in step 1.
 *
 * A revocation is LicenseRevoked{license_id, reason} through the gateway,
 * then a wait for revoked_at; an id already revoked is answered from the
 * row (the first revocation wins) and nothing is sent.
 *
 * Both borrow pg (as tally_reader: SELECT only) for the whole call,
 * including the wait. Thread-safe: the keyring is only read.
 */
#ifndef TALLY_CONSOLE_LICENSE_ISSUER_H
#define TALLY_CONSOLE_LICENSE_ISSUER_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "license.h"
#include "license_keys.h"
#include "textbuf.h"

/* How an issuer reaches the log (borrowed; configuration of the console). */
typedef struct tally_license_issuer_t {
    const tally_license_keyring_t *ring; /* signs with its newest key */
    const char *gateway_url;
    const char *admin_token;             /* secret, never logged */
    long gateway_timeout_ms;             /* 0: gateway_event.h's default */
    int64_t wait_ms;                     /* how long the row may take after the gateway's 202 */
    int member_max;                      /* personal-dev licenses valid and unrevoked per member at
                                            most (0: no limit); one more is a CONFLICT */
} tally_license_issuer_t;

/* One request (borrowed). Exactly one of member_id and environment_id. */
typedef struct tally_license_ask_t {
    const char *tenant_id;
    const char *member_id;       /* personal-dev: the signed-in member */
    const char *environment_id;  /* environment (staff) */
    const char *idempotency_key; /* already checked: tally_console_idempotency_key_ok */
    int64_t valid_until;         /* environment only: seconds; 0: the contract's end */
    int64_t now_ms;              /* the console's clock */
} tally_license_ask_t;

/* Results: the two successes, then the errors (negative). */
enum {
    TALLY_LICENSE_ISSUE_NEW = 1,           /* issued now: 201 */
    TALLY_LICENSE_ISSUE_AGAIN = 2,         /* the id was there (a retry): 200, nothing sent */
    TALLY_LICENSE_ISSUE_NOT_FOUND = -1,    /* no such environment / license: 404 */
    TALLY_LICENSE_ISSUE_CONFLICT = -2,     /* no contract today, status over, terms unfit: 409 */
    TALLY_LICENSE_ISSUE_BAD = -3,          /* valid_until not in (now, end of the contract]: 400 */
    TALLY_LICENSE_ISSUE_DB = -4,           /* the database failed: 503 */
    TALLY_LICENSE_ISSUE_GATEWAY = -5,      /* the gateway did not accept the event: 503 */
    TALLY_LICENSE_ISSUE_NOT_RECORDED = -6, /* accepted, not in tally.licenses within wait_ms: 503, retry */
    TALLY_LICENSE_ISSUE_KEY_RETIRED = -7,  /* the stored license's key left the ring: 410 */
};

/* Issues (or finds) the license of ask. On success appends the license
 * file to file_out and writes the license id into license_id; returns a
 * TALLY_LICENSE_ISSUE_* code, with errbuf saying why on an error (a text
 * for the user: no secret, no SQL). */
int tally_license_issue(PGconn *pg, const tally_license_issuer_t *is, const tally_license_ask_t *ask,
                        tally_textbuf_t *file_out, char license_id[TALLY_LICENSE_UUID_SIZE], char *errbuf,
                        size_t errsize) __attribute__((warn_unused_result));

/* Revokes license_id (a lower-case UUID) for reason (1-200 characters,
 * checked by the caller) at now_ms. On success writes the row's revoked_at
 * (RFC 3339, TALLY_LICENSE_TIME_SIZE) and the reason that stands (the
 * first one: reason_out, reason_size bytes) and returns
 * TALLY_LICENSE_ISSUE_NEW (revoked now) or TALLY_LICENSE_ISSUE_AGAIN
 * (revoked before: nothing sent); else NOT_FOUND, DB, GATEWAY or
 * NOT_RECORDED with errbuf. */
int tally_license_revoke(PGconn *pg, const tally_license_issuer_t *is, const char *license_id, const char *reason,
                         int64_t now_ms, char revoked_at[TALLY_LICENSE_TIME_SIZE], char *reason_out,
                         size_t reason_size, char *errbuf, size_t errsize) __attribute__((warn_unused_result));

#endif
