/*
 * issue_token.h: `tally-console issue-token` and `revoke-token` as library
 * calls. A console token is issued as a ControlPanelEvent (version 2,
 * branch ConsoleTokenIssued) sent through the gateway's Control Panel
 * route with the admin token (gateway_event.h), so the console needs no
 * Kafka client; the materializer projects it into tally.console_tokens.
 *
 * The token is made here (token.h) and only its SHA-256 is sent: the token
 * text exists in the caller's buffer only, and only after the gateway
 * accepted the event (202 with accepted = 1). These functions log nothing
 * and never put the token in an error text. The caller must have called
 * curl_global_init once (in main, before threads).
 */
#ifndef TALLY_CONSOLE_ISSUE_TOKEN_H
#define TALLY_CONSOLE_ISSUE_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "gateway_event.h"
#include "token.h"

/* A token's life: 24 h unless asked, at most 30 days (the gateway refuses
 * longer: producers/gateway/cp_rules.h). */
#define TALLY_CONSOLE_TOKEN_TTL_DEFAULT_MS (INT64_C(24) * 3600000)
#define TALLY_CONSOLE_TOKEN_TTL_MAX_MS (INT64_C(30) * 86400000)

/* Errors (negative). */
enum {
    TALLY_CONSOLE_TOKEN_ERR_USAGE = TALLY_GATEWAY_EVENT_ERR_USAGE,         /* an option is missing or out of range */
    TALLY_CONSOLE_TOKEN_ERR_TRANSPORT = TALLY_GATEWAY_EVENT_ERR_TRANSPORT, /* the gateway could not be reached or timed out */
    TALLY_CONSOLE_TOKEN_ERR_REFUSED = TALLY_GATEWAY_EVENT_ERR_REFUSED,     /* it answered, but not 202 with the event accepted */
};

typedef struct tally_issue_token_opts_t {
    const char *gateway_url;   /* e.g. "http://127.0.0.1:8080" */
    const char *admin_token;   /* the gateway's --admin-token (secret, never logged) */
    const char *tenant_id;
    const char *member_id;     /* must be a current member of the tenant, or the
                                  materializer stores nothing (projection.h) */
    int64_t ttl_ms;            /* 0: TALLY_CONSOLE_TOKEN_TTL_DEFAULT_MS */
    int64_t now_ms;            /* the event's occurred_at; 0: the wall clock */
    long timeout_ms;           /* the whole request; 0: 10 s */
} tally_issue_token_opts_t;

typedef struct tally_revoke_token_opts_t {
    const char *gateway_url;
    const char *admin_token;
    const char *tenant_id;
    const char *token_id;      /* a UUID, as issue-token printed it */
    int64_t now_ms;            /* 0: the wall clock */
    long timeout_ms;           /* 0: 10 s */
} tally_revoke_token_opts_t;

/* Makes a token, sends its ConsoleTokenIssued event and, once the gateway
 * accepted it, writes the token into token_out (token_size bytes, at least
 * TALLY_CONSOLE_TOKEN_SIZE), its id into token_id_out
 * (TALLY_CONSOLE_TOKEN_ID_SIZE bytes) and its expiry (ms since the epoch)
 * into *expires_ms. Returns 0, or a TALLY_CONSOLE_TOKEN_ERR_* code with
 * errbuf saying why and token_out, token_id_out emptied. */
int tally_console_issue_token(const tally_issue_token_opts_t *o, char *token_out, size_t token_size,
                              char *token_id_out, int64_t *expires_ms, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Sends ConsoleTokenRevoked for o->token_id. Returns 0 once the gateway
 * accepted it, or a TALLY_CONSOLE_TOKEN_ERR_* code with errbuf. */
int tally_console_revoke_token(const tally_revoke_token_opts_t *o, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

#endif
