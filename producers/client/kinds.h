#ifndef TALLY_CLIENT_KINDS_H
#define TALLY_CLIENT_KINDS_H

/* The four kinds of event the gateway takes, their routes and credentials,
 * the keys the client cannot fill in, and the ones it does fill in. */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum tally_kind_t {
    TALLY_KIND_PRODUCT = 0,   /* POST /v1/product/events, no credential */
    TALLY_KIND_USAGE,         /* POST /v1/usage/reports, API key */
    TALLY_KIND_SEAT,          /* POST /v1/usage/seats, API key */
    TALLY_KIND_CONTROLPANEL,  /* POST /v1/controlpanel/events, admin token */
    TALLY_KIND_COUNT
} tally_kind_t;

typedef enum tally_credential_t {
    TALLY_CREDENTIAL_NONE = 0,
    TALLY_CREDENTIAL_API_KEY,
    TALLY_CREDENTIAL_ADMIN_TOKEN,
} tally_credential_t;

/* "product", "usage", "seat", "controlpanel" -> *kind; -1 otherwise. */
int tally_kind_parse(const char *name, tally_kind_t *kind)
    __attribute__((warn_unused_result));
const char *tally_kind_name(tally_kind_t kind);
const char *tally_kind_path(tally_kind_t kind);
tally_credential_t tally_kind_credential(tally_kind_t kind);

/* What the client fills in when the event lacks it. */
typedef struct tally_fill_t {
    int64_t now_ms;          /* occurred_at, observed_at */
    const char *install_id;  /* product: install_id (borrowed) */
    bool new_user;           /* product: new_user, when install_id is filled in */
    bool ci;                 /* product: ci */
} tally_fill_t;

/* Checks that event (borrowed, modified) has the keys only its sender can
 * know, then fills in the others:
 *   product       event required; fills event_id, source "CLI", occurred_at,
 *                 install_id (with new_user), ci
 *   usage         tenant_id, environment_id, reporter_id, reporter_started_at,
 *                 seq, api_calls, status_4xx, status_5xx, exec_ms required;
 *                 fills observed_at
 *   seat          tenant_id, user_id, op required; fills event_id, occurred_at
 *   controlpanel  tenant_id, payload required; fills event_id, occurred_at
 * The event_id is a new random UUID, assigned before the event is spooled so
 * every retry carries the same id and the pipeline counts it once. An
 * event_id the caller gave must be a UUID. The gateway checks everything
 * else against the schema. Returns 0, or -1 with "missing key \"op\"" or
 * similar in errbuf (never a value). */
int tally_kind_prepare(tally_kind_t kind, json_t *event, const tally_fill_t *fill, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Whether this process runs in CI, from the usual variables (CI,
 * CONTINUOUS_INTEGRATION, BUILD_NUMBER, RUN_ID). */
bool tally_kind_detect_ci(void);

#endif
