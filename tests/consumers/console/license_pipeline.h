/*
 * license_pipeline.h: what the license POST suites share: the console's
 * test database (console_fixture.h: tenants acme and globex, their members,
 * environments and license terms), the real gateway (gateway_fixture.h)
 * whose Control Panel topic the real tally-materializer projects into that
 * same database, and tally-console signing with a key file of its own and
 * sending its events to that gateway. Nothing is faked: a license exists
 * in tally.licenses only when its LicenseIssued event went through the
 * gateway, the topic and the materializer.
 */
#ifndef TALLY_TEST_LICENSE_PIPELINE_H
#define TALLY_TEST_LICENSE_PIPELINE_H

#include "../materializer/mat_fixture.h"

#include "console_fixture.h"
#include "gateway_fixture.h"
#include "license.h"

typedef struct {
    tally_test_console_t c;    /* c.db, c.admin (superuser), the console process */
    tally_test_gateway_t gw;
    mat_env_t mat_env;         /* the materializer's topics: [2] is the gateway's Control Panel topic */
    tally_test_proc_t *mat;
    char keys_path[64];        /* the console's signing key file (0600) */
    char member_token[TALLY_TEST_CONSOLE_TOKEN_LEN + 1]; /* m-acme of acme */
    char globex_token[TALLY_TEST_CONSOLE_TOKEN_LEN + 1]; /* m-globex of globex */
} lic_env_t;

/* The database, the gateway, the materializer and the console (pointed at
 * the gateway), and a console token for m-acme and m-globex. */
void lic_start(lic_env_t *e);

/* Starts the console (after lic_start or a kill) with its gateway URL
 * (NULL: the pipeline's gateway) and extra arguments (may be NULL). */
void lic_console_start(lic_env_t *e, const char *gateway_url, const char *const extra[]);

/* Starts / stops (SIGTERM, exit 0) the materializer. */
void lic_mat_start(lic_env_t *e);
void lic_mat_stop(lic_env_t *e);

/* Stops everything (each must exit cleanly) and drops the database. */
void lic_stop(lic_env_t *e);

/* POSTs body (may be NULL) to path with Content-Type ctype (NULL: none),
 * the bearer token or cookie (NULL: none), an Idempotency-Key (NULL: none)
 * and one more header line (NULL: none). Transport errors are status 0. */
tally_test_response_t lic_post(const lic_env_t *e, const char *path, const char *ctype, const char *bearer,
                               const char *cookie, const char *idempotency_key, const char *body,
                               const char *extra_header);

/* Rows of tally.licenses (all, when license_id is NULL). */
long long lic_rows(const lic_env_t *e, const char *license_id);

/* Records of the gateway's Control Panel topic holding text (e.g. a
 * license id; NULL: every record), read until idle for idle_ms. */
size_t lic_events(const lic_env_t *e, const char *text, int idle_ms);

/* Waits up to timeout_ms until sql (a count, on the test database) is want. */
void lic_wait_count(const lic_env_t *e, const char *sql, long long want, int timeout_ms);

/* Runs the real `tally license verify` on the license text[0..len) with
 * the public keys the console publishes (GET /api/v1/licenses/keys?format=pub)
 * and returns its exit code; its stdout goes into out (outsize bytes). */
int lic_verify(const lic_env_t *e, const char *text, size_t len, char *out, size_t outsize);

/* The value of the console's metric line "<series> " (e.g.
 * "tally_console_licenses_total{result=\"issued\"}"), or -1 when absent. */
long long lic_metric(const lic_env_t *e, const char *series);

/* The payload of the license file in a response body (asserting it parses). */
tally_license_t lic_parsed(const tally_test_response_t *r);

/* The license id the console derives for (tenant, member, key). */
void lic_id(const char *tenant, const char *member, const char *key, char out[37]);

#endif
