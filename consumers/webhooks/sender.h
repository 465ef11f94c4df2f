/*
 * sender.h: webhook POSTs in parallel with one libcurl multi handle, on
 * the delivery thread. Each transfer: the URL with the pinned addresses
 * (CURLOPT_RESOLVE from common/webhook_url.h), no redirects, only the URL's
 * scheme allowed, a total timeout, the Standard Webhooks headers
 * (webhook-id, webhook-timestamp, webhook-signature, signed at the start
 * of this attempt) and Content-Type: application/json. The answer's body is
 * read and dropped (at most 64 KiB kept from being buffered: none is).
 * curl_global_init must have run (main).
 */
#ifndef TALLY_WEBHOOKS_SENDER_H
#define TALLY_WEBHOOKS_SENDER_H

#include <stddef.h>
#include <stdint.h>

#include "webhook_sign.h"

typedef struct tally_sender_t tally_sender_t;

typedef struct tally_sender_result_t {
    char key[384];      /* the delivery key given to start */
    long http_status;   /* 0: no answer */
    char error[200];    /* curl's message when no answer */
} tally_sender_result_t;

/* A new sender; timeout_ms bounds each transfer. Owned; free with
 * tally_sender_free (NULL: no-op; cancels what is in flight). */
tally_sender_t *tally_sender_new(long timeout_ms, const char *user_agent);
void tally_sender_free(tally_sender_t *s);

/* Starts one POST of body (copied) to url (copied) as webhook id, signed
 * with secret at now_s; pin ("" for none) is the CURLOPT_RESOLVE entry;
 * key (copied) names it in the result. Returns 0, or -1 with errbuf. */
int tally_sender_start(tally_sender_t *s, const char *key, const char *url, int https, const char *pin,
                       const tally_webhook_secret_t *secret, const char *id, int64_t now_s, const char *body,
                       char *errbuf, size_t errsize) __attribute__((warn_unused_result));

/* Transfers in flight. */
size_t tally_sender_in_flight(const tally_sender_t *s);

/* Drives the transfers, waiting up to wait_ms for activity. */
void tally_sender_run(tally_sender_t *s, int wait_ms);

/* The next finished transfer into *out: 1, or 0 when none. */
int tally_sender_next_result(tally_sender_t *s, tally_sender_result_t *out);

#endif /* TALLY_WEBHOOKS_SENDER_H */
