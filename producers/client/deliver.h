#ifndef TALLY_CLIENT_DELIVER_H
#define TALLY_CLIENT_DELIVER_H

/* Delivery: events go to the spool first, then to the gateway in batches;
 * each event leaves the spool once the gateway answered for it.
 *
 * What an answer means for an event:
 *   DELIVERED  202 and not in "rejected": done.
 *   REJECTED   the event itself is bad (400, 413 for one event, 415, 422,
 *              or named in a 202's "rejected"): reported and dropped, since
 *              sending it again cannot succeed.
 *   DEFERRED   no answer (connection refused, timeout, DNS), 408, 429, 5xx,
 *              or rejected as "overloaded": kept and retried later.
 *   REFUSED    401/403 (credential), 404/405 or a redirect (wrong --gateway):
 *              kept, because the event is fine and only the client's
 *              configuration is wrong; retried once that is fixed. After a
 *              401/403 the segment may be tried with any credential (its
 *              own was wrong, or it is another tenant's), and the run skips
 *              the other segments of the refused credential.
 * A batch the gateway finds too large (413) is split in halves. */

#include "kinds.h"
#include "spool.h"
#include "transport.h"

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum tally_outcome_t {
    TALLY_OUTCOME_DELIVERED = 0,
    TALLY_OUTCOME_REJECTED,
    TALLY_OUTCOME_DEFERRED,
    TALLY_OUTCOME_REFUSED,
} tally_outcome_t;

/* What one run delivered; counts are events. */
typedef struct tally_deliver_stats_t {
    size_t delivered;
    size_t rejected;     /* dropped as bad */
    size_t deferred;     /* kept for a retry */
    size_t refused;      /* kept until the configuration is fixed */
    size_t discarded;    /* spooled product events dropped because analytics are off */
    size_t waiting;      /* spooled events for another credential than the one given */
    size_t lost;         /* not delivered and not spooled (the spool failed) */
    size_t requests;
    bool interrupted;         /* a signal stopped the run: the rest stays spooled */
    int64_t retry_after_ms;   /* largest Retry-After, -1 none */
    char last_error[256];     /* the last DEFERRED or REFUSED answer */
} tally_deliver_stats_t;

typedef struct tally_deliver_t {
    tally_transport_t *transport;     /* borrowed; unused with dry_run */
    tally_spool_t *spool;             /* borrowed; NULL: no safety net */
    const char *base_url;             /* borrowed, for --dry-run output */
    const char *api_key;              /* borrowed secrets, may be NULL */
    const char *admin_token;
    size_t batch_size;
    bool product_allowed;             /* false: spooled product events are discarded */
    bool any_credential;              /* flush: try every segment with the credential given */
    FILE *dry_run;                    /* print requests there instead of sending; spool untouched */
    FILE *debug;                      /* --debug: events spooled without a try are shown there too */
    bool verbose;
    volatile sig_atomic_t *stop;      /* set by a signal: finish the request in flight, then stop */
    tally_deliver_stats_t stats;
} tally_deliver_t;

/* Resets the stats (call before a run). */
void tally_deliver_reset(tally_deliver_t *d);

/* The outcome of each of the n events of a request that got resp
 * (outcomes: n slots, caller-owned; reasons: a JSON array, borrowed, that
 * gets n strings or nulls, the gateway's reason per event). Returns the
 * worst for the request as a whole (REFUSED > DEFERRED > DELIVERED;
 * REJECTED events do not stop a flush) and a one-line summary. */
tally_outcome_t tally_deliver_classify(const tally_response_t *resp, size_t n, tally_outcome_t *outcomes,
                                       json_t *reasons, char *summary, size_t summarysize);

/* Sends events (a JSON array of prepared events of kind, borrowed):
 * spooled first in segments of batch_size, then sent unless attempt is
 * false (the gateway is in backoff: they wait in the spool). Stops
 * sending at the first DEFERRED or REFUSED request; what is left stays
 * spooled. Returns 0, or -1 when an event could be neither spooled nor
 * delivered (counted as lost). */
int tally_deliver_new(tally_deliver_t *d, tally_kind_t kind, json_t *events, int64_t now_ms, bool attempt)
    __attribute__((warn_unused_result));

/* Sends what the spool holds, oldest first: segments spooled with a
 * credential other than the one given wait (unless any_credential);
 * product segments are
 * discarded when analytics are off. Stops at the first DEFERRED or
 * REFUSED request. 0 or -1 (spool unreadable). */
int tally_deliver_flush(tally_deliver_t *d)
    __attribute__((warn_unused_result));

/* Discards every spooled product event (analytics were turned off). */
int tally_deliver_purge_product(tally_deliver_t *d)
    __attribute__((warn_unused_result));

#endif
