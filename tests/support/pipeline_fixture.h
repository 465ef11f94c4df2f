#ifndef TALLY_TEST_PIPELINE_FIXTURE_H
#define TALLY_TEST_PIPELINE_FIXTURE_H

/* The whole pipeline as real processes on topics and a database of its own:
 * tally-materializer (it applies the migrations to a fresh database), then
 * the gateway (gateway_fixture.h) reading its API keys from that database
 * as tally_gateway (the keys are Control Panel events like any other),
 * tally-anonymizer and tally-aggregator. Data goes in through the gateway's
 * routes, as the `tally` client sends it, and lands in PostgreSQL. */

#include "gateway_fixture.h"

#include <libpq-fe.h>

typedef struct {
    tally_test_gateway_t gw;      /* ingest: gw.base_url, admin token TALLY_TEST_ADMIN_TOKEN */
    char controlpanel[128];       /* the gateway writes its Control Panel events here (not gw.controlpanel_topic) */
    char usage[128], product[128], rollups[128], changelog[128], dlq[128], group[128];
    char db[64];                  /* the database; tally_test_pg_url(db) as the superuser */
    char pseudonym_file[64];
    PGconn *pg;                   /* superuser connection, for the test's own queries */
    tally_test_proc_t *anonymizer, *aggregator, *materializer;
} tally_test_pipeline_t;

/* Starts everything; aborts the test when a process does not come up. */
void tally_test_pipeline_start(tally_test_pipeline_t *p);

/* POSTs body (NDJSON, one event per line) to the gateway's path with the
 * bearer token auth (NULL: none); asserts 202 (or 200) and returns nothing. */
void tally_test_pipeline_post(tally_test_pipeline_t *p, const char *path, const char *auth, const char *body);

/* Runs sql (no parameters) on p->pg and returns the first column of the
 * first row (static buffer; "" when no row). */
const char *tally_test_pipeline_value(tally_test_pipeline_t *p, const char *sql);

/* Waits up to timeout_ms until sql's value equals want; returns it (static). */
const char *tally_test_pipeline_wait_value(tally_test_pipeline_t *p, const char *sql, const char *want,
                                           int timeout_ms);

/* SIGTERM to every process, each must exit 0; drops the database. */
void tally_test_pipeline_stop(tally_test_pipeline_t *p);

#endif
