/*
 * worker.h: the delivery thread of tally-webhooks. It owns:
 *   - the pending deliveries of the partitions this instance holds,
 *     handed over by the engine's thread (webhooks.h) once the transaction
 *     that wrote them committed, or restored from tally.webhooks.deliveries;
 *   - the endpoint table's reader: tally.controlpanel read whole, from the
 *     beginning, read_committed (endpoints.h); nothing is sent before it
 *     reached the end it had when the worker started;
 *   - one libcurl multi handle (sender.h) and an idempotent producer of
 *     state records to tally.webhooks.deliveries (the alert's partition).
 *
 * Each turn: take what was handed over; read the control panel; start the
 * due deliveries (at most max_in_flight at once): the tenant's endpoint or
 * the vendor's URL, checked by the URL policy and resolved and pinned
 * (common/webhook_url.h), the secret opened (common/webhook_seal.h) or the
 * vendor's; a URL refused, a secret that does not open or an endpoint
 * removed is dead at once with the reason; drive the transfers; apply the
 * outcomes (delivery.h); produce the new states and wait for the broker to
 * acknowledge them before the next turn, so a delivered alert is known as
 * delivered before anything else is sent (a crash between a 2xx and that
 * acknowledgement sends it once more, with the same webhook-id).
 */
#ifndef TALLY_WEBHOOKS_WORKER_H
#define TALLY_WEBHOOKS_WORKER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "delivery.h"
#include "endpoints.h"
#include "metrics.h"
#include "schema_catalog.h"
#include "webhook_seal.h"
#include "webhook_sign.h"

typedef struct tally_worker_t tally_worker_t;

typedef struct tally_worker_opts_t {
    const char *brokers;
    const char *controlpanel_topic;
    const char *deliveries_topic;
    const char *client_id;
    const tally_config_t *cfg;                 /* -X pairs; borrowed */
    const tally_catalog_t *schemas;            /* borrowed */
    tally_endpoints_t *endpoints;              /* borrowed; the worker fills it */
    const tally_webhook_keyring_t *keys;       /* borrowed; NULL: tenant secrets cannot open */
    const char *vendor_url;                    /* NULL or "": no vendor target */
    const tally_webhook_secret_t *vendor_secret; /* borrowed; with vendor_url */
    unsigned url_flags;                        /* TALLY_WEBHOOK_URL_ALLOW_* */
    tally_delivery_policy_t policy;
    long timeout_ms;                           /* per attempt */
    int max_in_flight;
    tally_metrics_t *metrics;                  /* borrowed; may be NULL */
    volatile sig_atomic_t *stop;               /* borrowed; may be NULL: set when the thread fails, so
                                                  the process stops (and is restarted) rather than
                                                  idling with deliveries it cannot record */
} tally_worker_opts_t;

/* Creates the clients (strings copied, the rest borrowed). Returns an
 * owned worker, or NULL with errbuf. */
tally_worker_t *tally_worker_new(const tally_worker_opts_t *opts, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Starts the thread. Returns 0 or -1 with errbuf. */
int tally_worker_start(tally_worker_t *w, char *errbuf, size_t errsize) __attribute__((warn_unused_result));

/* Stops the thread (in-flight transfers are abandoned: still pending),
 * flushes the producer and frees. NULL is a no-op. */
void tally_worker_free(tally_worker_t *w);

/* Hands d over (taken: its body too; d is cleared), for partition. */
void tally_worker_add(tally_worker_t *w, tally_delivery_t *d, int32_t partition);

/* Forgets the pending deliveries of partition (revoked). */
void tally_worker_drop_partition(tally_worker_t *w, int32_t partition);

/* Whether the control panel was read to the end it had at start. */
int tally_worker_endpoints_ready(tally_worker_t *w);

/* Whether the thread runs and no fatal error happened (why says). After
 * a failure the process should exit non-zero: tally_worker_failed. */
int tally_worker_healthy(tally_worker_t *w, char *why, size_t whysize);

/* Whether the delivery thread stopped on an error. */
int tally_worker_failed(tally_worker_t *w);

#endif /* TALLY_WEBHOOKS_WORKER_H */
