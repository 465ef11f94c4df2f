/* docs/architecture.md: "Scaling out means more gateways behind the load balancer".
 * Two tally-gateway processes on the same topics, fed round-robin (as a
 * load balancer would) by concurrent clients: every usage report answered
 * 202 by either is in the topic exactly once, keyed by its tenant, and
 * nothing else is; the gateways share no state and need no coordination. */
#include "codec.h"
#include "gateway_fixture.h"
#include "schema_catalog.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENTS 4
#define BATCHES 40     /* per client */
#define PER_BATCH 25   /* reports per request */
#define REPORTS (CLIENTS * BATCHES * PER_BATCH)

static tally_test_gateway_t gw[2];

typedef struct {
    int client;
    int accepted, refused, per_gateway[2];
} client_t;

static void *feed(void *arg)
{
    client_t *c = arg;
    long long now = tally_test_now_ms();
    size_t cap = PER_BATCH * 400 + 16;
    char *body = malloc(cap);
    cr_assert_not_null(body);
    for (int b = 0; b < BATCHES; b++) {
        size_t n = 0;
        body[n++] = '[';
        for (int k = 0; k < PER_BATCH; k++) {
            int seq = b * PER_BATCH + k + 1;
            n += (size_t)snprintf(body + n, cap - n,
                                  "%s{\"tenant_id\":\"%s\",\"environment_id\":\"%s\","
                                  "\"reporter_id\":\"00000000-0000-4000-8000-00000000000%d\","
                                  "\"reporter_started_at\":%lld,\"seq\":%d,\"observed_at\":%lld,"
                                  "\"api_calls\":%d,\"status_4xx\":0,\"status_5xx\":0,\"exec_ms\":%d}",
                                  k ? "," : "", TALLY_TEST_TENANT, TALLY_TEST_ENV, c->client, now - 3600000, seq,
                                  now - 1000, seq * 10, seq);
        }
        body[n++] = ']';
        /* Round-robin over the two, as a load balancer spreads requests. */
        int g = (b + c->client) % 2;
        tally_test_response_t r = tally_test_gateway_post(&gw[g], "/v1/usage/reports", "application/json",
                                                          TALLY_TEST_API_KEY, body, n);
        if (r.status == 202) {
            c->accepted += PER_BATCH;
            c->per_gateway[g]++;
        } else {
            c->refused++;
            fprintf(stderr, "gateway %d answered %ld: %s\n", g, r.status, r.body ? r.body : "");
        }
        tally_test_response_free(&r);
    }
    free(body);
    return NULL;
}

Test(gateway_scale, two_gateways_behind_a_balancer_deliver_every_report_once, .timeout = 180)
{
    char err[512];
    tally_test_gateway_start(&gw[0], NULL);
    char product[160], usage[160], controlpanel[160], keys[160];
    snprintf(product, sizeof product, "--product-topic=%s", gw[0].product_topic);
    snprintf(usage, sizeof usage, "--usage-topic=%s", gw[0].usage_topic);
    snprintf(controlpanel, sizeof controlpanel, "--controlpanel-topic=%s", gw[0].controlpanel_topic);
    snprintf(keys, sizeof keys, "--keys-file=%s", gw[0].keys_file);
    const char *const same_topics[] = {product, usage, controlpanel, keys, NULL};
    tally_test_gateway_start(&gw[1], same_topics);

    /* libcurl's global set-up, once, before the threads. */
    tally_test_response_t r = tally_test_gateway_post(&gw[1], "/v1/usage/reports", "application/json",
                                                      TALLY_TEST_API_KEY, "[]", 2);
    tally_test_response_free(&r);

    client_t clients[CLIENTS];
    pthread_t threads[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = (client_t){.client = i};
        cr_assert_eq(pthread_create(&threads[i], NULL, feed, &clients[i]), 0);
    }
    int accepted = 0, per_gateway[2] = {0, 0};
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(threads[i], NULL);
        cr_assert_eq(clients[i].refused, 0, "client %d: %d requests refused", i, clients[i].refused);
        accepted += clients[i].accepted;
        per_gateway[0] += clients[i].per_gateway[0];
        per_gateway[1] += clients[i].per_gateway[1];
    }
    cr_assert_eq(accepted, REPORTS);
    cr_assert_eq(per_gateway[0], per_gateway[1], "the balancer split the requests evenly");

    /* Every report once: (reporter, seq) seen exactly once, nothing else. */
    tally_catalog_t *cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    tally_decoder_t *dec = tally_decoder_new_any(cat);
    tally_test_record_t *recs;
    size_t n = tally_test_topic_read_all(gw[0].usage_topic, 60000, &recs);
    cr_assert_eq(n, REPORTS, "%zu records for %d reports answered 202", n, REPORTS);
    static unsigned char seen[CLIENTS][BATCHES * PER_BATCH + 1];
    memset(seen, 0, sizeof seen);
    for (size_t i = 0; i < n; i++) {
        avro_value_t *v, f;
        const tally_catalog_entry_t *w;
        const char *reporter;
        size_t len;
        int64_t seq;
        cr_assert_eq(tally_decoder_decode(dec, recs[i].value, recs[i].len, &v, &w, err, sizeof err), 0, "%s", err);
        cr_assert_str_eq(w->name, "UsageReport");
        cr_assert_str_eq(recs[i].key, TALLY_TEST_TENANT, "keyed by tenant, whichever gateway took it");
        cr_assert_eq(avro_value_get_by_name(v, "reporter_id", &f, NULL), 0);
        cr_assert_eq(avro_value_get_string(&f, &reporter, &len), 0);
        cr_assert_eq(avro_value_get_by_name(v, "seq", &f, NULL), 0);
        cr_assert_eq(avro_value_get_long(&f, &seq), 0);
        int client = reporter[strlen(reporter) - 1] - '0';
        cr_assert(client >= 0 && client < CLIENTS && seq >= 1 && seq <= BATCHES * PER_BATCH, "%s seq %lld",
                  reporter, (long long)seq);
        cr_assert_eq(seen[client][seq]++, 0, "reporter %d seq %lld delivered twice", client, (long long)seq);
    }
    tally_test_records_free(recs, n);
    tally_decoder_free(dec);
    tally_catalog_free(cat);
    tally_test_gateway_stop(&gw[1]);
    tally_test_gateway_stop(&gw[0]);
}
