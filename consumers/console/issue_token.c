#include "issue_token.h"

#include "gateway_event.h"

#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int missing(const char *s)
{
    return s == NULL || *s == '\0';
}

static int check_common(const char *gateway_url, const char *admin_token, const char *tenant_id, char *errbuf,
                        size_t errsize)
{
    if (missing(gateway_url) || missing(admin_token) || missing(tenant_id)) {
        snprintf(errbuf, errsize, "%s is required",
                 missing(gateway_url) ? "the gateway URL" : missing(admin_token) ? "the admin token" : "the tenant");
        return TALLY_CONSOLE_TOKEN_ERR_USAGE;
    }
    return 0;
}

int tally_console_issue_token(const tally_issue_token_opts_t *o, char *token_out, size_t token_size,
                              char *token_id_out, int64_t *expires_ms, char *errbuf, size_t errsize)
{
    char token[TALLY_CONSOLE_TOKEN_SIZE], id[TALLY_CONSOLE_TOKEN_ID_SIZE], sha[TALLY_CONSOLE_SHA256_SIZE];
    int64_t ttl = o->ttl_ms ? o->ttl_ms : TALLY_CONSOLE_TOKEN_TTL_DEFAULT_MS;
    int64_t now = o->now_ms ? o->now_ms : wall_ms();
    int rc;

    if (token_size > 0)
        token_out[0] = '\0';
    token_id_out[0] = '\0';
    if ((rc = check_common(o->gateway_url, o->admin_token, o->tenant_id, errbuf, errsize)) != 0)
        return rc;
    if (missing(o->member_id)) {
        snprintf(errbuf, errsize, "the member is required");
        return TALLY_CONSOLE_TOKEN_ERR_USAGE;
    }
    if (ttl <= 0 || ttl > TALLY_CONSOLE_TOKEN_TTL_MAX_MS) {
        snprintf(errbuf, errsize, "a token lives more than 0 and at most %d days",
                 (int)(TALLY_CONSOLE_TOKEN_TTL_MAX_MS / 86400000));
        return TALLY_CONSOLE_TOKEN_ERR_USAGE;
    }
    if (token_size < TALLY_CONSOLE_TOKEN_SIZE) {
        snprintf(errbuf, errsize, "token buffer of %zu bytes, %d needed", token_size, TALLY_CONSOLE_TOKEN_SIZE);
        return TALLY_CONSOLE_TOKEN_ERR_USAGE;
    }
    tally_console_token_new(token, id);
    tally_console_token_sha256(token, strlen(token), sha);
    json_t *payload = json_pack("{s:{s:s, s:s, s:s, s:I}}", "ConsoleTokenIssued", "token_id", id, "member_id",
                                o->member_id, "token_sha256", sha, "expires_at", (json_int_t)(now + ttl));
    char *text = tally_gateway_event_text(o->tenant_id, now, payload, errbuf, errsize);
    rc = text ? tally_gateway_event_post(o->gateway_url, o->admin_token, o->timeout_ms, text, errbuf, errsize)
              : TALLY_CONSOLE_TOKEN_ERR_USAGE;
    free(text);
    if (rc == 0) {
        memcpy(token_out, token, sizeof token);
        memcpy(token_id_out, id, sizeof id);
        *expires_ms = now + ttl;
    }
    sodium_memzero(token, sizeof token);
    return rc;
}

int tally_console_revoke_token(const tally_revoke_token_opts_t *o, char *errbuf, size_t errsize)
{
    int rc;
    if ((rc = check_common(o->gateway_url, o->admin_token, o->tenant_id, errbuf, errsize)) != 0)
        return rc;
    if (missing(o->token_id)) {
        snprintf(errbuf, errsize, "the token id is required");
        return TALLY_CONSOLE_TOKEN_ERR_USAGE;
    }
    json_t *payload = json_pack("{s:{s:s}}", "ConsoleTokenRevoked", "token_id", o->token_id);
    char *text = tally_gateway_event_text(o->tenant_id, o->now_ms ? o->now_ms : wall_ms(), payload, errbuf, errsize);
    rc = text ? tally_gateway_event_post(o->gateway_url, o->admin_token, o->timeout_ms, text, errbuf, errsize)
              : TALLY_CONSOLE_TOKEN_ERR_USAGE;
    free(text);
    return rc;
}
