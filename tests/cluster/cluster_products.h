/*
 * cluster_products.h: the product-event client of the broker-loss suite
 * (test_cluster.c): product events sent through the balancer while the
 * faults happen, and what of them the read model holds.
 */
#ifndef TALLY_TEST_CLUSTER_PRODUCTS_H
#define TALLY_TEST_CLUSTER_PRODUCTS_H

typedef struct {
    long events, posts, acks, retryable;
    char failure[512];
} cluster_products_t;

/* What the client sent (its thread writes, the test reads once it ended). */
extern cluster_products_t cluster_products;

/* The client thread: sends product events to cx.base_url until the faults
 * are over (and 2 s more), each POSTed until answered 202 (a transport
 * error, 408, 429 and 5xx are tried again after the client's backoff;
 * anything else is a failure, in cluster_products.failure). */
void *cluster_product_client_main(void *arg);

/* The rows of tally.product_events and the sum of tally.product_daily's
 * events in the database at pg_url (-1 when unreadable). */
void cluster_product_stored(const char *pg_url, long *rows, long *daily);

#endif /* TALLY_TEST_CLUSTER_PRODUCTS_H */
