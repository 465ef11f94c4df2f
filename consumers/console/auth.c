#include "auth.h"

#include "pg.h"
#include "xalloc.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tally_auth_t {
    int has_staff;
    unsigned char staff_hash[crypto_hash_sha256_BYTES];
};

int tally_auth_token_shaped(const char *s)
{
    if (s == NULL || strlen(s) != TALLY_AUTH_TOKEN_LEN || strncmp(s, TALLY_AUTH_TOKEN_PREFIX, 4) != 0)
        return 0;
    for (const char *c = s + 4; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
              *c == '_'))
            return 0;
    return 1;
}

void tally_auth_sha256_hex(const char *s, char hex[TALLY_SESSION_ID_HEX + 1])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)s, strlen(s));
    sodium_bin2hex(hex, TALLY_SESSION_ID_HEX + 1, h, sizeof h);
}

int tally_auth_staff_token_check(const char *token, char *errbuf, size_t errsize)
{
    size_t len = strlen(token);
    if (len < TALLY_AUTH_STAFF_TOKEN_MIN || len > TALLY_AUTH_STAFF_TOKEN_MAX) {
        snprintf(errbuf, errsize, "the staff token is %zu characters long; %d to %d are required "
                 "(e.g. head -c 32 /dev/urandom | base64)", len, TALLY_AUTH_STAFF_TOKEN_MIN,
                 TALLY_AUTH_STAFF_TOKEN_MAX);
        return -1;
    }
    for (const char *c = token; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr("-._~+/=", *c) != NULL)) {
            snprintf(errbuf, errsize, "the staff token may hold only letters, digits and - . _ ~ + / =: "
                     "a client could not send it as a bearer token");
            return -1;
        }
    if (strncmp(token, TALLY_AUTH_TOKEN_PREFIX, 4) == 0) {
        snprintf(errbuf, errsize, "the staff token must not start with \"%s\" (the console tokens' prefix)",
                 TALLY_AUTH_TOKEN_PREFIX);
        return -1;
    }
    return 0;
}

tally_auth_t *tally_auth_new(const char *staff_token)
{
    if (sodium_init() < 0)
        abort();
    tally_auth_t *a = tally_xcalloc(1, sizeof *a);
    if (staff_token && *staff_token) {
        a->has_staff = 1;
        crypto_hash_sha256(a->staff_hash, (const unsigned char *)staff_token, strlen(staff_token));
    }
    return a;
}

void tally_auth_free(tally_auth_t *a)
{
    if (a == NULL)
        return;
    sodium_memzero(a, sizeof *a);
    free(a);
}

int tally_auth_is_staff(const tally_auth_t *a, const char *presented)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)presented, strlen(presented));
    int same = sodium_memcmp(h, a->staff_hash, sizeof h) == 0;
    return a->has_staff && same;
}

/* Valid at the database's clock: not expired, not revoked, its member still
 * a member (tally.console_members, 0009, holds current members only). */
static const char lookup_sql[] =
    "SELECT t.tenant_id, t.member_id, (extract(epoch FROM t.expires_at) * 1000)::bigint "
    "FROM tally.console_tokens t "
    "JOIN tally.console_members m ON m.tenant_id = t.tenant_id AND m.member_id = t.member_id "
    "WHERE t.token_sha256 = $1 AND t.revoked_at IS NULL AND t.expires_at > now()";

int tally_auth_lookup(PGconn *pg, const char *sha_hex, tally_principal_t *p, char *errbuf, size_t errsize)
{
    const char *params[1] = {sha_hex};
    PGresult *res = PQexecParams(pg, lookup_sql, 1, NULL, params, NULL, NULL, 0);
    int rc = -1;
    if (tally_pg_check(res, pg, errbuf, errsize) != 0)
        goto cleanup;
    rc = 0;
    if (PQntuples(res) != 1)
        goto cleanup;
    const char *tenant = PQgetvalue(res, 0, 0), *member = PQgetvalue(res, 0, 1);
    if (strlen(tenant) > TALLY_ROUTE_TENANT_MAX || strlen(member) > TALLY_MEMBER_ID_MAX ||
        !tally_route_tenant_ok(tenant, strlen(tenant)))
        goto cleanup;      /* a tenant no route can name cannot sign in */
    memset(p, 0, sizeof *p);
    snprintf(p->tenant_id, sizeof p->tenant_id, "%s", tenant);
    snprintf(p->member_id, sizeof p->member_id, "%s", member);
    snprintf(p->token_sha256, sizeof p->token_sha256, "%s", sha_hex);
    p->token_expires_ms = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    rc = 1;
cleanup:
    PQclear(res);
    return rc;
}

int tally_auth_authenticate(const tally_auth_t *a, PGconn *pg, const char *presented, tally_principal_t *p,
                            char *errbuf, size_t errsize)
{
    if (tally_auth_is_staff(a, presented)) {
        memset(p, 0, sizeof *p);
        p->staff = 1;
        return 1;
    }
    if (!tally_auth_token_shaped(presented))
        return 0;
    char hex[TALLY_SESSION_ID_HEX + 1];
    tally_auth_sha256_hex(presented, hex);
    return tally_auth_lookup(pg, hex, p, errbuf, errsize);
}
