/*
 * delivery.h: the state of one webhook delivery and the retry policy, pure
 * (no Kafka, no libcurl), so the policy is unit-tested on its own.
 *
 * A delivery is one alert to one target ("tenant": the tenant's endpoint;
 * "vendor": --vendor-url). Its key in the compacted topic
 * tally.webhooks.deliveries is "<alert_id>/<target>"; the last record of a
 * key is its state:
 *
 *   pending    attempts made so far, first_at (when it became pending),
 *              next_at (when to try next), last_error, and the body to
 *              send (the alert as JSON, fixed once, so every attempt sends
 *              the same bytes);
 *   delivered  a 2xx came back (status, at, attempts);
 *   dead       given up (reason, at, attempts): 410 ("endpoint gone"),
 *              no endpoint any more, a URL refused by the policy
 *              (common/webhook_url.h) or a secret that does not open, or
 *              retry_for passed since first_at.
 *
 * Values are JSON objects {"v":1,"state":...} (the body is kept as a JSON
 * string, byte for byte). Decoding refuses another version, an unknown
 * state, a missing field or a key not of the form above.
 *
 * Retries: exponential backoff with full jitter: after the n-th failed
 * attempt the wait is uniform in [0, min(max, min_wait * 2^(n-1))] (rand01
 * picks the point, so tests choose it); a failure whose next attempt would
 * come later than first_at + retry_for makes the delivery dead instead.
 */
#ifndef TALLY_WEBHOOKS_DELIVERY_H
#define TALLY_WEBHOOKS_DELIVERY_H

#include <stddef.h>
#include <stdint.h>

#include "textbuf.h"

#define TALLY_DELIVERY_KEY_MAX 320
#define TALLY_DELIVERY_REASON_MAX 200

typedef enum tally_delivery_state_t {
    TALLY_DELIVERY_PENDING = 0,
    TALLY_DELIVERY_DELIVERED,
    TALLY_DELIVERY_DEAD,
} tally_delivery_state_t;

typedef struct tally_delivery_t {
    char key[TALLY_DELIVERY_KEY_MAX + 1];       /* "<alert_id>/<target>" */
    char tenant_id[128];
    tally_delivery_state_t state;
    int attempts;
    int64_t first_at, next_at, at;             /* ms since the epoch */
    int status;                                 /* delivered: the HTTP status */
    char reason[TALLY_DELIVERY_REASON_MAX + 1]; /* dead: why; pending: the last error */
    char *body;                                 /* pending: owned JSON text; else NULL */
} tally_delivery_t;

typedef struct tally_delivery_policy_t {
    int64_t backoff_min_ms; /* 5 s */
    int64_t backoff_max_ms; /* 1 h */
    int64_t retry_for_ms;   /* 24 h */
} tally_delivery_policy_t;

/* What one attempt gave. */
typedef struct tally_delivery_outcome_t {
    int http_status;   /* 0 when no answer came */
    const char *error; /* borrowed: curl's message when no answer came, or why it was not sent */
    int permanent;     /* 1: do not retry (URL refused, secret unusable, no endpoint) */
} tally_delivery_outcome_t;

/* Builds "<alert_id>/<target>" into key. Returns 0, or -1 when too long. */
int tally_delivery_key(const char *alert_id, const char *target, char key[TALLY_DELIVERY_KEY_MAX + 1])
    __attribute__((warn_unused_result));

/* The target part of a key ("tenant" or "vendor"), borrowed from key; NULL
 * when the key is not of the form above. */
const char *tally_delivery_key_target(const char *key);

/* A new pending delivery of body (copied) due at now. d is overwritten;
 * free its body with tally_delivery_clear. */
void tally_delivery_init_pending(tally_delivery_t *d, const char *key, const char *tenant_id, const char *body,
                                 int64_t now);

/* Frees the body; d may be reused. */
void tally_delivery_clear(tally_delivery_t *d);

/* The wait after the n-th failed attempt (n >= 1), full jitter. */
int64_t tally_delivery_backoff_ms(int n, const tally_delivery_policy_t *p, double rand01);

/* Applies an attempt's outcome at now: 2xx -> delivered; 410 or permanent
 * -> dead; else attempts + 1 and next_at after the backoff, or dead when
 * that passes first_at + retry_for. A body that is no longer needed is
 * freed. */
void tally_delivery_apply(tally_delivery_t *d, const tally_delivery_outcome_t *o, int64_t now,
                          const tally_delivery_policy_t *p, double rand01);

/* Writes d's value (JSON) into out (reset first). */
void tally_delivery_encode(const tally_delivery_t *d, tally_textbuf_t *out);

/* Decodes key[0..key_len) and value[0..len) (borrowed) into d (overwritten;
 * owns a body for pending). Returns 0, or -1 with errbuf. */
int tally_delivery_decode(const void *key, size_t key_len, const void *value, size_t len, tally_delivery_t *d,
                          char *errbuf, size_t errsize) __attribute__((warn_unused_result));

/* "pending", "delivered", "dead". */
const char *tally_delivery_state_name(tally_delivery_state_t s);

#endif /* TALLY_WEBHOOKS_DELIVERY_H */
