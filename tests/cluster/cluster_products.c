/* The product-event client of the broker-loss suite (cluster_products.h). */
#include "cluster_products.h"

#include "chaos_clients.h"
#include "fixtures.h"
#include "gateway_fixture.h"
#include "http.h"
#include "pg.h"

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

cluster_products_t cluster_products;

/* Sends product events until the faults are over (and 2 s more), each
 * POSTed until answered 202 (a transport error, 408, 429 and 5xx are tried
 * again after the client's backoff; anything else fails). */
void *cluster_product_client_main(void *arg)
{
    (void)arg;
    uint64_t rng = cx.seed ^ UINT64_C(0x2545f4914f6cdd1d);
    char url[128], body[1024];
    snprintf(url, sizeof url, "%s/v1/product/events", cx.base_url);
    const char *h[] = {"Content-Type: application/json", NULL};
    long long stop_at = 0;
    while (cluster_products.failure[0] == '\0' && !atomic_load(&cx.abort)) {
        if (atomic_load(&cx.chaos_done)) {
            if (stop_at == 0)
                stop_at = tally_test_mono_ms() + 2000;
            else if (tally_test_mono_ms() > stop_at)
                break;
        }
        long n = ++cluster_products.events;
        snprintf(body, sizeof body,
                 "{\"event_id\":\"00000000-0000-4000-b000-%012ld\",\"source\":\"CLI\",\"event\":"
                 "\"project.create.start\",\"occurred_at\":%lld,\"install_id\":\"install-%ld\",\"project_id\":"
                 "\"project-%ld\",\"version\":\"5.2.1\",\"ci\":false,\"properties\":{}}",
                 n, (long long)tally_test_now_ms() - 1000, n % 17, n % 5);
        for (int failures = 0;; failures++) {
            cluster_products.posts++;
            tally_test_response_t r = tally_test_http("POST", url, h, body, strlen(body), 1);
            long st = r.status;
            int accepted = st == 202 && r.body && strstr(r.body, "\"accepted\":1") != NULL;
            if (!accepted && !(st == 0 || st == 408 || st == 429 || st >= 500))
                snprintf(cluster_products.failure, sizeof cluster_products.failure, "product event %ld: HTTP %ld: %.300s", n, st,
                         r.body ? r.body : "");
            tally_test_response_free(&r);
            if (accepted) {
                cluster_products.acks++;
                break;
            }
            if (cluster_products.failure[0] != '\0' || atomic_load(&cx.abort))
                break;
            cluster_products.retryable++;
            int64_t cap = 100LL << (failures < 5 ? failures : 5);
            cap = cap > 2000 ? 2000 : cap;
            usleep((useconds_t)(cap / 2 + chaos_rnd_below(&rng, cap / 2 + 1)) * 1000);
        }
        usleep((useconds_t)(30 + chaos_rnd_below(&rng, 60)) * 1000);
    }
    return NULL;
}

/* The product events in the run's database: rows, and their sum in
 * tally.product_daily. */
void cluster_product_stored(const char *pg_url, long *rows, long *daily)
{
    char err[256];
    *rows = *daily = -1;
    PGconn *c = tally_pg_connect(pg_url, "tally-test-cluster", err, sizeof err);
    if (c == NULL)
        return;
    PGresult *r = PQexec(c, "SELECT (SELECT count(*) FROM tally.product_events), "
                            "(SELECT coalesce(sum(events), 0) FROM tally.product_daily)");
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        *rows = atol(PQgetvalue(r, 0, 0));
        *daily = atol(PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    PQfinish(c);
}
