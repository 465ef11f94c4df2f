/*
 * chaos_model.h: the model of the chaos suite (chaos_model.c; chaos.h shows
 * the suite's files): the tables expected from what the clients sent,
 * their comparison with the run's database, and the copies of each record
 * in Kafka.
 */
#ifndef TALLY_TEST_CHAOS_MODEL_H
#define TALLY_TEST_CHAOS_MODEL_H

#include "chaos.h"

typedef struct api_cell_t {
    int present;
    int64_t v[4];
} api_cell_t;

typedef struct seat_cell_t {
    int present;
    int64_t in_use, peak;
} seat_cell_t;

typedef struct model_t {
    api_cell_t api[MAX_TENANTS][ENVS][DAYS];
    seat_cell_t seat[MAX_TENANTS][DAYS];
} model_t;

/* The expected tables, from what every client sent. */
void chaos_model_build(model_t *m);

typedef struct diff_t {
    int n;
    char text[4096];
} diff_t;

/* Compares the tables of the run's database with m into d (d->n: how many
 * differ). */
void chaos_compare(const model_t *m, diff_t *d);

typedef struct copies_t {
    uint64_t key;                /* reporter << 32 | seq, or 1 << 63 | seat event id */
    uint16_t posts, acks;
    uint32_t raw, clean;
} copies_t;

/* qsort/bsearch order of copies_t by key. */
int chaos_copies_cmp(const void *a, const void *b);

/* Counts the copies of every sent record in topic into raw or clean;
 * returns how many records were not ours. */
size_t chaos_count_copies(const char *topic, copies_t *sent, size_t n_sent, int clean);

/* Waits until the tables equal m and every watched topic (raw and clean
 * usage, rollups, Control Panel) stood still for 5 s, calling supervise
 * between checks; fails the test (after diagnose) when they differ at
 * CONVERGE_MS after t_sent, or while the topics stood still for
 * STILL_MAX_MS. Returns when they first were equal (mono ms). */
long long chaos_converge(const model_t *m, long long t_sent, void (*supervise)(void), void (*diagnose)(void));

/* Asserts the copies of every sent record in Kafka: in raw at least one per
 * answer 202 and at most one per POST (exactly one per 202 when no POST
 * of it was ambiguous), and as many in the clean topic as in raw. Sets the
 * records in raw, the copies beyond the answers 202, and the records with
 * an ambiguous POST. */
void chaos_verify_copies(size_t *total_raw, size_t *extra_copies, size_t *ambiguous);

#endif /* TALLY_TEST_CHAOS_MODEL_H */
