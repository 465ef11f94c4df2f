/*
 * alert_settings.h: the Control Panel payloads of a tenant's usage alert
 * settings, as the console sends them through the gateway
 * (gateway_event.h; schemas/ControlPanelEvent/4.avsc):
 *
 *   WebhookEndpointSet {url, secret_sealed, key_id}: a fresh webhook
 *   secret ("whsec_" + base64 of 32 random bytes, libsodium) sealed with
 *   the delivery worker's public key (common/webhook_seal.h). The plain
 *   secret goes back to the caller alone, to be shown once: it is never
 *   stored, sent to the gateway or logged. url "" removes the webhook (no
 *   secret, secret_sealed and key_id empty).
 *
 *   AlertRulesSet {api_calls_percent, nonprod_daily_percent,
 *   seats_percent}: three arrays of integers, copied from a request body.
 *   Only their JSON shape is checked here; the rules on the values
 *   (ascending, distinct, 1..1000, at most 8) are the gateway's
 *   (producers/gateway/cp_rules.c), answered 422.
 */
#ifndef TALLY_CONSOLE_ALERT_SETTINGS_H
#define TALLY_CONSOLE_ALERT_SETTINGS_H

#include <stddef.h>

#include <jansson.h>

#include "key_lines.h"
#include "webhook_seal.h"
#include "webhook_sign.h"

/* The webhook public key the console seals with (--webhook-public-key). */
typedef struct tally_alert_seal_key_t {
    char key_id[TALLY_KEY_ID_SIZE];
    unsigned char pk[TALLY_WEBHOOK_PUBLIC_KEY_BYTES];
} tally_alert_seal_key_t;

/* Loads the public key file at path (not secret: "<key id> <hex public
 * key>" lines, the last one seals; tally-webhooks --print-public-key
 * writes it). Returns 0, or -1 with errbuf. */
int tally_alert_seal_key_load(const char *path, tally_alert_seal_key_t *out, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* The WebhookEndpointSet payload ({"WebhookEndpointSet": {...}}, owned,
 * into *payload) of url (borrowed; "" removes). For a url, a new secret
 * is made and sealed with key: its text goes into secret (wiped by the
 * caller after use); for "", secret is "". Returns 0, or -1 with errbuf
 * (a url that is not UTF-8). */
int tally_alert_webhook_payload(const char *url, const tally_alert_seal_key_t *key,
                                char secret[TALLY_WEBHOOK_SECRET_TEXT_SIZE], json_t **payload, char *errbuf,
                                size_t errsize) __attribute__((warn_unused_result));

/* The AlertRulesSet payload (owned, into *payload) of the three arrays of
 * body (borrowed): each must be there, an array of at most
 * TALLY_ALERT_RULES_ITEMS_MAX integers in the int range. Returns 0, or -1
 * with why naming the field. */
#define TALLY_ALERT_RULES_ITEMS_MAX 64
int tally_alert_rules_payload(const json_t *body, json_t **payload, char *why, size_t whysize)
    __attribute__((warn_unused_result));

#endif
