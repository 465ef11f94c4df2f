/*
 * rollup_fixture.h: what the suites of aggregator/rollup's usage reports
 * share (test_rollup.c: the rules, expiry and change tracking;
 * test_rollup_workload.c: a generated workload against a model;
 * test_rollup_idempotence.c: idempotence and the changelog round trip):
 * reports built and applied in one call, what a state holds and has
 * pending, and a generated workload of many reporters.
 */
#ifndef TALLY_TESTS_ROLLUP_FIXTURE_H
#define TALLY_TESTS_ROLLUP_FIXTURE_H

#include "rollup_harness.h"

#include <stdbool.h>

/* 35 open days, nothing else set. */
extern const tally_rollup_config_t plain;

static const int64_t T0 = INT64_C(1714521600000); /* 2024-05-01T00:00:00Z */
static const int32_t D0 = 19844;                  /* its day */

/* Reports of many reporters over `days` days, time-ordered, then
 * delivered with delays, duplicates and reordering. */
typedef struct {
    tally_rollup_report_t *recs;
    size_t n;
    char (*tenants)[16], (*envs)[16], (*reporters)[40];
    int64_t *final_counts; /* per reporter: counters of its highest seq, api_calls */
    int64_t *reporter_tenant;
    size_t n_reporters;
} workload_t;

tally_rollup_report_t report(const char *tenant, const char *env, const char *reporter,
                             int64_t seq, int64_t at, int64_t calls, int64_t c4, int64_t c5,
                             int64_t ms);

tally_rollup_outcome_t apply(tally_rollup_t *r, const char *tenant, const char *env,
                             const char *reporter, int64_t seq, int64_t at, int64_t calls);

int64_t calls_on(tally_rollup_t *r, const char *tenant, const char *env, int32_t day);

int pending_api(tally_rollup_t *r);

int pending_entries(tally_rollup_t *r);

/* glitches: let some reports carry lower counters; late_share_per_mille:
 * deliveries delayed by up to 60 h. */
void make_workload(workload_t *w, rng_t *g, size_t target, int days, bool glitches,
                   int late_per_mille);

void free_workload(workload_t *w);

#endif /* TALLY_TESTS_ROLLUP_FIXTURE_H */
