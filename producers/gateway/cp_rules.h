/*
 * cp_rules.h: what the gateway checks in a Control Panel event beyond its
 * schema, so that a record the materializer would dead-letter is refused
 * with 422 at the door instead.
 *
 *   ConsoleTokenIssued  token_sha256 is 64 lower-case hex digits (the
 *                       SHA-256 of the token; never the token itself);
 *                       member_id is not empty; expires_at is after
 *                       occurred_at and at most TALLY_CONSOLE_TOKEN_TTL_MAX_MS
 *                       after it.
 *   LicenseIssued       payload_sha256 is 64 lower-case hex digits and the
 *                       SHA-256 of payload; payload is a license payload in
 *                       canonical form (tally_license_payload_parse) whose
 *                       tenant_id is the event's and whose license_id, kind
 *                       ("personal-dev" for personal_dev), member_id or
 *                       environment_id (exactly the one of its kind, the
 *                       other null), valid_from, valid_until (as
 *                       milliseconds) and key_id are the event's;
 *                       valid_until after valid_from.
 *   LicenseRevoked      reason is not empty.
 *   AlertRulesSet       each of api_calls_percent, nonprod_daily_percent,
 *                       seats_percent: at most TALLY_ALERT_RULES_MAX
 *                       entries, each 1..TALLY_ALERT_PERCENT_MAX, sorted
 *                       ascending and distinct (may be empty).
 *   WebhookEndpointSet  url at most TALLY_WEBHOOK_URL_MAX bytes, "" (the
 *                       endpoint removed) or a URL that passes
 *                       common/webhook_url.h's syntax check (https://, or
 *                       http:// to a loopback literal when
 *                       webhook_allow_http_loopback; no credentials, no
 *                       control characters or spaces, canonical hosts;
 *                       addresses are judged at delivery). With a url,
 *                       secret_sealed is padded standard base64 of
 *                       crypto_box_SEALBYTES + 32..64 bytes and key_id is
 *                       1..64 bytes; without one, secret_sealed is empty.
 *   every other branch  nothing more (token_id, a uuid, is checked by the
 *                       schema conversion).
 */
#ifndef TALLY_GATEWAY_CP_RULES_H
#define TALLY_GATEWAY_CP_RULES_H

#include <stddef.h>
#include <stdint.h>

#include <avro.h>

#include "webhook_url.h" /* TALLY_WEBHOOK_URL_MAX */

/* The longest life of a console token: 30 days. */
#define TALLY_CONSOLE_TOKEN_TTL_MAX_MS (INT64_C(30) * 86400000)

/* Thresholds per metric in an AlertRulesSet, and their largest percent. */
#define TALLY_ALERT_RULES_MAX 8
#define TALLY_ALERT_PERCENT_MAX 1000

/* What the deployment allows beyond the fixed rules. */
typedef struct {
    int webhook_allow_http_loopback;  /* http:// to a loopback literal (local mode) */
} tally_cp_rules_t;

/* Checks event (borrowed: a converted ControlPanelEvent, version 2 or
 * later) under opts (borrowed). Returns 0, or -1 with the field and the
 * reason in why. */
int tally_cp_rules_check(avro_value_t *event, const tally_cp_rules_t *opts, char *why, size_t whysize)
    __attribute__((warn_unused_result));

#endif
