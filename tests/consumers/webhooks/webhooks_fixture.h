#ifndef TALLY_TEST_WEBHOOKS_FIXTURE_H
#define TALLY_TEST_WEBHOOKS_FIXTURE_H

/* The real tally-webhooks against the local broker: unique topics per
 * test (alerts, control panel, deliveries), UsageAlert and
 * ControlPanelEvent v4 records encoded with the catalog, the process
 * started with short backoffs, and the delivery states read back. */

#include <stddef.h>
#include <jansson.h>

#include "subprocess.h"

typedef struct wh_fixture_t {
    char alerts[160], cp[160], deliveries[160], prefix[96], group[128], keys_path[160], vendor_secret_path[160];
    char pubkey_id[65];
    unsigned char pubkey[32];
} wh_fixture_t;

/* Unique topics (partitions each; the control panel gets 1), a webhook
 * key file (mode 0600) and a vendor secret file holding vendor_secret. */
void wh_init(wh_fixture_t *f, int partitions, const char *vendor_secret);
void wh_cleanup(wh_fixture_t *f);

/* Produces one UsageAlert (alert_id a UUID-shaped id; key tenant). */
void wh_send_alert(wh_fixture_t *f, const char *alert_id, const char *tenant, int threshold);

/* Produces a WebhookEndpointSet for tenant: url and secret (plain
 * "whsec_...", sealed here to the fixture's webhook key). */
void wh_send_endpoint(wh_fixture_t *f, const char *tenant, const char *url, const char *secret);

/* Starts tally-webhooks with the fixture's topics and extra arguments
 * (NULL-terminated, borrowed) after the defaults: --backoff-min=100ms
 * --backoff-max=400ms --request-timeout=1s. */
tally_test_proc_t *wh_start(wh_fixture_t *f, const char *const extra[]);

/* The last state of every key of the deliveries topic: an object key ->
 * the state's JSON (owned by the caller). */
json_t *wh_states(wh_fixture_t *f);

/* A UUID-shaped alert id for n. */
void wh_alert_id(int n, char out[40]);

#endif
