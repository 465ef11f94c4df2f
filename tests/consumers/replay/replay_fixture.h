/*
 * replay_fixture.h: what the suites of tally-replay share (test_replay.c:
 * audit and errors; test_replay_rebuild.c: rebuild and swap;
 * test_replay_export.c: export): unique topics and a fresh database per
 * test, usage, seat, product and Control Panel records produced with the
 * codec, the real pipeline (tally-aggregator, then tally-materializer) run
 * over them, and tally-replay run as a binary. Each suite declares
 *   TestSuite(replay, .init = replay_setup, .fini = replay_teardown, .timeout = 240);
 */
#ifndef TALLY_TEST_REPLAY_FIXTURE_H
#define TALLY_TEST_REPLAY_FIXTURE_H

#include "../../aggregator/agg_gen.h"
#include "../../aggregator/agg_kafka.h"
#include "../materializer/mat_fixture.h"

#include "kafka_topics.h"
#include "usage_record.h"

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#define DAY_MS 86400000LL
#define HOUR_MS 3600000LL
/* 2024-03-01T00:00:00Z */
#define T0 ((int64_t)MAT_DAY(2024, 3, 1) * DAY_MS)
#define AT(day, hour) (T0 + (int64_t)((day) - 1) * DAY_MS + (int64_t)(hour) * HOUR_MS)

typedef struct rep_t {
    const char *tenant, *env;
    char id[37];
    int64_t started_at, seq;
    int64_t c[4];
} rep_t;

typedef struct pipe_t {
    agg_env_t agg;              /* usage in, rollups, changelog, dlq */
    mat_env_t mat;              /* database; topics[0] is agg.rollups */
    tally_catalog_t *cat;
    agg_gen_t gen;
    agg_producer_t prod;
    mat_producer_t matp;        /* product and Control Panel records */
    size_t usage, product, cp;  /* records produced */
    size_t alerts;              /* usage alerts produced (and one duplicate) */
} pipe_t;

/* The pipeline of the running test (opened by replay_setup). */
extern pipe_t P;
/* A materializer a failed test left: killed by replay_teardown. */
extern tally_test_proc_t *running;

typedef struct run_t {
    int status;
    char *out;      /* the report (--output) */
    char *log;      /* stderr */
} run_t;

void replay_setup(void);

void replay_setup_forever(void);

void replay_teardown(void);

void rep_init(rep_t *r, const char *tenant, const char *env, uint64_t n, int64_t started_at);

/* Sends r's report at observed_at as is (a duplicate or stale one: the
 * caller sets seq and counters); ts: the record's timestamp (0: now). */
void send_report_raw(pipe_t *p, const rep_t *r, int64_t at, int64_t ts);

/* The reporter's next report: its counters grow by step's amounts. */
void send_report(pipe_t *p, rep_t *r, int64_t at, int64_t ts, int step);

void send_seat(pipe_t *p, const char *tenant, const char *seat, uint64_t n, int assigned, int64_t at,
               int64_t ts);

/* Four days of March 2024: two tenants, a reporter restart, a staging
 * environment, a duplicate and a stale report, seats assigned and released. */
void basic_usage(pipe_t *p);

/* Product events and Control Panel events for the rebuild. */
void basic_materializer_input(pipe_t *p);

/* Where the materializer will be once it has everything produced so far
 * (the next offsets it stores per topic, summed over partitions): after the
 * last record of each rollups partition (the topic is transactional:
 * offsets have gaps), and every product and Control Panel record. */
void pipe_want(const pipe_t *p, long long want[3]);

/* Runs the pipeline over everything produced so far and stops it: the
 * aggregator until it committed every usage record, the materializer until
 * it stored the offsets of every rollup, product and Control Panel record. */
void pipe_run(pipe_t *p);

void run_free(run_t *r);

/* Runs tally-replay on p's topics and database with args (NULL-terminated:
 * the command and its flags, after the defaults), without the defaults
 * when bare. */
run_t replay_args(const pipe_t *p, int bare, const char *const *args);

json_t *parse_json(const run_t *r);

/* Whether some line of text holds every one of words (NULL-terminated). */
int line_with(const char *text, const char *const *words);

/* The difference of an audit's JSON for (kind, tenant, environment or NULL,
 * day), or NULL. */
json_t *find_diff(json_t *audit, const char *kind, const char *tenant, const char *env, const char *day);

/* expected and materialized of one field of a difference. */
void diff_field(json_t *d, const char *field, json_t **expected, json_t **materialized);

long long rows_in(const pipe_t *p, const char *table);

#define REPLAY(p, ...) replay_args((p), 0, (const char *const[]){__VA_ARGS__, NULL})
#define REPLAY_BARE(...) replay_args(NULL, 1, (const char *const[]){__VA_ARGS__, NULL})
#define LINE_WITH(text, ...) line_with((text), (const char *const[]){__VA_ARGS__, NULL})

#endif /* TALLY_TEST_REPLAY_FIXTURE_H */
