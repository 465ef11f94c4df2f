/*
 * gateway_event.h: one Control Panel event sent through the gateway's
 * Control Panel route (POST /v1/controlpanel/events with the admin token),
 * so the console writes nothing itself: every change it makes (a console
 * token, a license, a revocation) is an event in the log first, and the
 * materializer projects it (projection.h).
 *
 * Success is the gateway's 202 with {"accepted": 1} and no rejection:
 * only then is the event durable in the topic (the gateway answers 202
 * after Kafka's delivery report). Nothing here logs; the admin token is
 * never put in an error text. The caller must have called
 * curl_global_init once (in main, before threads).
 */
#ifndef TALLY_CONSOLE_GATEWAY_EVENT_H
#define TALLY_CONSOLE_GATEWAY_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Errors (negative). */
enum {
    TALLY_GATEWAY_EVENT_ERR_USAGE = -1,      /* the URL or token is missing or too long, a text not UTF-8 */
    TALLY_GATEWAY_EVENT_ERR_TRANSPORT = -2,  /* the gateway could not be reached or timed out */
    TALLY_GATEWAY_EVENT_ERR_REFUSED = -3,    /* it answered, but not 202 with the event accepted */
    TALLY_GATEWAY_EVENT_ERR_INVALID = -4,    /* tally_gateway_event_post_rules: it answered 422 (errbuf: its reason) */
};

/* The whole request at most, when the caller gives 0. */
#define TALLY_GATEWAY_EVENT_TIMEOUT_MS 10000L

/* The event's JSON text {"tenant_id","occurred_at","payload"} (malloc'd,
 * the caller frees), taking payload (may be NULL: an allocation or a
 * json_pack that failed). NULL, with errbuf, when a text is not UTF-8
 * (jansson refuses it) or payload is NULL. */
char *tally_gateway_event_text(const char *tenant_id, int64_t occurred_at_ms, json_t *payload, char *errbuf,
                               size_t errsize) __attribute__((warn_unused_result));

/* POSTs the event text body (borrowed) to gateway_url's Control Panel
 * route with admin_token as the bearer (both borrowed); timeout_ms bounds
 * the whole request (0: TALLY_GATEWAY_EVENT_TIMEOUT_MS). Returns 0 only
 * for a 202 that accepted it, else a TALLY_GATEWAY_EVENT_ERR_* code with
 * errbuf saying why (the gateway's status and the start of its answer). */
int tally_gateway_event_post(const char *gateway_url, const char *admin_token, long timeout_ms, const char *body,
                             char *errbuf, size_t errsize) __attribute__((warn_unused_result));

/* The same, but a 422 (the event breaks one of the gateway's rules, e.g.
 * producers/gateway/cp_rules.c) is TALLY_GATEWAY_EVENT_ERR_INVALID with
 * errbuf holding the gateway's reason alone, for the caller's own 422. */
int tally_gateway_event_post_rules(const char *gateway_url, const char *admin_token, long timeout_ms,
                                   const char *body, char *errbuf, size_t errsize) __attribute__((warn_unused_result));

#endif
