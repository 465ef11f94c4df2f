/*
 * auth.h: who a console token or the staff token stands for.
 *
 * A console token is "tct_" and 43 base64url characters (32 random bytes,
 * no padding); PostgreSQL knows only its SHA-256 (lower-case hex), in
 * tally.console_tokens. It authenticates while it is neither expired nor
 * revoked and its member is still a member (in tally.console_members:
 * tally.members.removed_at is NULL). Anything else, including a text that is not token-shaped (which
 * never reaches the database), does not: the caller cannot tell which.
 *
 * The staff token is configuration (--staff-token): compared in constant
 * time, through SHA-256 so that its length does not show either.
 */
#ifndef TALLY_CONSOLE_AUTH_H
#define TALLY_CONSOLE_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "session.h"

#define TALLY_AUTH_TOKEN_PREFIX "tct_"
#define TALLY_AUTH_TOKEN_LEN 47       /* "tct_" + 43 */
#define TALLY_AUTH_STAFF_TOKEN_MIN 32
#define TALLY_AUTH_STAFF_TOKEN_MAX 512

/* Whether s has the shape of a console token. */
int tally_auth_token_shaped(const char *s);

/* The lower-case hex SHA-256 of s (NUL-terminated), into hex. */
void tally_auth_sha256_hex(const char *s, char hex[TALLY_SESSION_ID_HEX + 1]);

/* Checks a configured staff token: 0, or -1 with why (never the token). */
int tally_auth_staff_token_check(const char *token, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

typedef struct tally_auth_t tally_auth_t;

/* staff_token (borrowed for the call, may be NULL: no staff sign-in) is
 * kept only as its SHA-256. Returns an owned object. */
tally_auth_t *tally_auth_new(const char *staff_token);
void tally_auth_free(tally_auth_t *a);

/* Whether presented (NUL-terminated) is the staff token; constant time. */
int tally_auth_is_staff(const tally_auth_t *a, const char *presented);

/* Looks the console token with SHA-256 sha_hex up on pg (borrowed).
 * Returns 1 with *p filled when it authenticates, 0 when it does not,
 * -1 when the database failed (errbuf says why). */
int tally_auth_lookup(PGconn *pg, const char *sha_hex, tally_principal_t *p, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* The whole check of a presented secret: the staff token, or a console
 * token looked up on pg. Returns 1 (authenticated, *p filled), 0 (not),
 * -1 (database failure). */
int tally_auth_authenticate(const tally_auth_t *a, PGconn *pg, const char *presented, tally_principal_t *p,
                            char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

#endif
