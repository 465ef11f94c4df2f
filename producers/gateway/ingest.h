#ifndef TALLY_GATEWAY_INGEST_H
#define TALLY_GATEWAY_INGEST_H

/* One JSON event of a route into one encoded Kafka record: server-set
 * fields, strict conversion to the route's Avro schema, the rules beyond
 * the schema (catalog, counters, timestamps), encoding. Per thread: an
 * ingest object reuses its values and buffers and is not shared. */

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "event_catalog.h"
#include "publisher.h"
#include "schema_catalog.h"

typedef enum {
    TALLY_ROUTE_PRODUCT,
    TALLY_ROUTE_USAGE,
    TALLY_ROUTE_SEATS,
    TALLY_ROUTE_CONTROLPANEL,
    TALLY_ROUTE_COUNT,
} tally_route_t;

typedef struct tally_optout_t tally_optout_t;

/* What every thread's ingest shares (all borrowed, read-only). */
typedef struct {
    const tally_catalog_t *schemas;
    const tally_event_catalog_t *events;
    tally_optout_t *optout;          /* may be NULL */
    int64_t max_past_ms;             /* oldest accepted event time, before now */
    int64_t max_future_ms;           /* clock skew accepted after now */
    size_t max_string;               /* longest string field, bytes */
} tally_ingest_rules_t;

typedef struct tally_ingest_t tally_ingest_t;

/* Results of tally_ingest_event besides 0 (record ready). */
enum {
    TALLY_INGEST_DROPPED = 1,        /* opted-out project: answered as accepted, not sent */
    TALLY_INGEST_REJECTED = -422,    /* fails the schema, the catalog or a rule */
};

typedef struct {
    tally_gw_topic_t topic;
    const void *key;                 /* borrowed from the ingest, valid until its next event */
    size_t key_len;
    const void *value;
    size_t len;
} tally_ingest_record_t;

/* Returns an owned ingest for one thread; aborts on a catalog without the
 * routes' schemas (a deployment error caught at start). */
tally_ingest_t *tally_ingest_new(const tally_ingest_rules_t *rules);

/* NULL is a no-op. */
void tally_ingest_free(tally_ingest_t *in);

/* Converts event (borrowed; the ingest may add event_id and received_at to
 * it) of route into *out. now_ms is the gateway's clock. On rejection,
 * reason gets a short machine-friendly kind ("schema", "catalog",
 * "timestamp", "counter") and why the detail; neither quotes a value. */
int tally_ingest_event(tally_ingest_t *in, tally_route_t route, json_t *event, int64_t now_ms,
                       tally_ingest_record_t *out, const char **reason, char *why, size_t whysize)
    __attribute__((warn_unused_result));

/* Whether the event's tenant_id (and environment_id for usage reports)
 * equal the authenticated scope; 0 when they differ or are missing. */
int tally_ingest_in_scope(tally_route_t route, const json_t *event, const char *tenant, const char *env);

#endif
