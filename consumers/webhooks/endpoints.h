/*
 * endpoints.h: the tenants' webhook endpoints, from the WebhookEndpointSet
 * events of tally.controlpanel (schemas/ControlPanelEvent v4): the latest
 * event of a tenant wins; a url "" removes the endpoint. The sealed secret
 * is kept sealed (common/webhook_seal.h) and opened at each delivery.
 *
 * tally.controlpanel is not co-partitioned with tally.alerts (3 partitions
 * against 6, keyed by tenant), so every instance reads it whole, as a
 * global table (endpoints_reader.h). Thread-safe: the engine's thread asks
 * whether a tenant has an endpoint while the delivery thread updates and
 * reads it.
 */
#ifndef TALLY_WEBHOOKS_ENDPOINTS_H
#define TALLY_WEBHOOKS_ENDPOINTS_H

#include <avro.h>
#include <stddef.h>

#include "key_lines.h"
#include "webhook_seal.h"
#include "webhook_url.h"

typedef struct tally_endpoints_t tally_endpoints_t;

typedef struct tally_endpoint_t {
    char url[TALLY_WEBHOOK_URL_MAX + 1];
    unsigned char sealed[TALLY_WEBHOOK_SEALED_MAX];
    size_t sealed_len;
    char key_id[TALLY_KEY_ID_SIZE];
} tally_endpoint_t;

/* An empty owned table; free with tally_endpoints_free (NULL: no-op). */
tally_endpoints_t *tally_endpoints_new(void);
void tally_endpoints_free(tally_endpoints_t *t);

/* Applies one decoded ControlPanelEvent record (borrowed). Returns 1 when
 * it was a WebhookEndpointSet (set or removed), 0 for other branches, -1
 * with errbuf for one whose fields are malformed (the table unchanged; the
 * event is skipped: the gateway refuses such events, so it is logged). */
int tally_endpoints_apply(tally_endpoints_t *t, avro_value_t *event, char *errbuf, size_t errsize);

/* Sets (url non-empty) or removes (url "") the endpoint of tenant; for
 * tests and for apply. sealed_b64 is standard base64. Returns 0 or -1. */
int tally_endpoints_set(tally_endpoints_t *t, const char *tenant, const char *url, const char *sealed_b64,
                        const char *key_id, char *errbuf, size_t errsize) __attribute__((warn_unused_result));

/* Copies the endpoint of tenant into *out. Returns 1 when there is one, 0
 * when not. */
int tally_endpoints_get(tally_endpoints_t *t, const char *tenant, tally_endpoint_t *out);

/* Tenants with an endpoint. */
size_t tally_endpoints_count(tally_endpoints_t *t);

#endif /* TALLY_WEBHOOKS_ENDPOINTS_H */
