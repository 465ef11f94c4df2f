#ifndef TALLY_GATEWAY_INGEST_H
#define TALLY_GATEWAY_INGEST_H

/* One JSON event of a route into one encoded Kafka record: strict
 * conversion of its text to the route's Avro schema with the server-set
 * fields, the API key's scope, the rules beyond the schema (catalog,
 * counters, timestamps), encoding. No JSON tree is built: what the rules
 * read comes from the Avro value. Per thread: an ingest object reuses its
 * values and buffers and is not shared. */

#include <stddef.h>
#include <stdint.h>

#include "cp_rules.h"
#include "event_catalog.h"
#include "publisher.h"
#include "schema_catalog.h"

/* The largest value of a usage report's counters (api_calls, status_4xx,
 * status_5xx, exec_ms) the gateway accepts: 2^50, about 1.1e15. Far above
 * any real count (a million calls a second for 35 years), well under 2^53
 * (so any JSON reader holds it exactly) and under 2^62, so that a sum of
 * two bounded counters, or of thousands of rollups, cannot overflow int64.
 * A larger value is refused with 422 naming the field. */
#define TALLY_USAGE_COUNTER_MAX ((int64_t)1 << 50)

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
    tally_cp_rules_t cp;             /* what Control Panel events may carry beyond the fixed rules */
} tally_ingest_rules_t;

typedef struct tally_ingest_t tally_ingest_t;

/* Results of tally_ingest_event besides 0 (record ready). */
enum {
    TALLY_INGEST_DROPPED = 1,        /* opted-out project: answered as accepted, not sent */
    TALLY_INGEST_REJECTED = -422,    /* fails the schema, the catalog or a rule */
    TALLY_INGEST_FORBIDDEN = -403,   /* speaks for another tenant or environment than the scope */
};

/* The tenant and environment an API key may speak for (borrowed). */
typedef struct {
    const char *tenant;
    const char *env;
} tally_ingest_scope_t;

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

/* Converts the event text[0..len) (borrowed: one JSON object, as
 * tally_body_split gives it) of route into *out, setting received_at
 * (always) and event_id (when the text has none). now_ms is the gateway's
 * clock. scope (may be NULL: no check) is the API key's: the event's
 * tenant_id, and environment_id for usage reports, must be its, whether
 * or not the event is otherwise valid (TALLY_INGEST_FORBIDDEN). A product
 * event of an opted-out project is DROPPED, valid or not. On rejection,
 * reason gets a short machine-friendly kind ("schema", "catalog",
 * "timestamp", "counter") and why the detail; neither quotes a value. */
int tally_ingest_event(tally_ingest_t *in, tally_route_t route, const char *text, size_t len, int64_t now_ms,
                       const tally_ingest_scope_t *scope, tally_ingest_record_t *out, const char **reason,
                       char *why, size_t whysize)
    __attribute__((warn_unused_result));

#endif
