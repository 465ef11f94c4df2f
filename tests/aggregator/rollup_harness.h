/*
 * rollup_harness.h: what the aggregator suites share (header-only, since
 * each test_*.c is its own program): a seeded PRNG, a byte-keyed map that
 * plays a compacted Kafka topic (the last value of a key wins, a tombstone
 * deletes), and helpers that produce a batch's changes into such topics
 * exactly as the process will, or rebuild a state from them.
 */
#ifndef TALLY_TESTS_ROLLUP_HARNESS_H
#define TALLY_TESTS_ROLLUP_HARNESS_H

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollup.h"
#include "timeutil.h"

/* ---- PRNG (splitmix64): reproducible from the printed seed ------------- */

typedef struct {
    uint64_t s;
} rng_t;

static inline uint64_t rng_next(rng_t *g)
{
    uint64_t z = (g->s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static inline uint64_t rng_below(rng_t *g, uint64_t n)
{
    return n ? rng_next(g) % n : 0;
}

static inline int64_t rng_range(rng_t *g, int64_t lo, int64_t hi)
{
    return lo + (int64_t)rng_below(g, (uint64_t)(hi - lo + 1));
}

static inline void rng_shuffle(rng_t *g, void *base, size_t n, size_t size)
{
    unsigned char *b = base, tmp[256];
    cr_assert(size <= sizeof tmp);
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(g, i);
        memcpy(tmp, b + (i - 1) * size, size);
        memcpy(b + (i - 1) * size, b + j * size, size);
        memcpy(b + j * size, tmp, size);
    }
}

/* ---- a byte-keyed map: a compacted topic -------------------------------- */

typedef struct map_entry_t {
    struct map_entry_t *next;
    size_t klen, vlen;
    unsigned char *key, *val;
} map_entry_t;

typedef struct {
    map_entry_t **buckets;
    size_t nbuckets, count;
} map_t;

static inline uint64_t map_hash(const void *k, size_t len)
{
    const unsigned char *p = k;
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * UINT64_C(1099511628211);
    return h ^ (h >> 29);
}

static inline void map_init(map_t *m)
{
    m->nbuckets = 1024;
    m->count = 0;
    m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
    cr_assert(m->buckets);
}

static inline void map_free(map_t *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (map_entry_t *e = m->buckets[i], *n; e; e = n) {
            n = e->next;
            free(e->key);
            free(e->val);
            free(e);
        }
    }
    free(m->buckets);
    m->buckets = NULL;
}

static inline map_entry_t *map_find(const map_t *m, const void *k, size_t klen)
{
    for (map_entry_t *e = m->buckets[map_hash(k, klen) % m->nbuckets]; e; e = e->next)
        if (e->klen == klen && memcmp(e->key, k, klen) == 0)
            return e;
    return NULL;
}

static inline void map_grow(map_t *m)
{
    size_t n = m->nbuckets * 4;
    map_entry_t **b = calloc(n, sizeof *b);
    cr_assert(b);
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (map_entry_t *e = m->buckets[i], *next; e; e = next) {
            next = e->next;
            size_t j = map_hash(e->key, e->klen) % n;
            e->next = b[j];
            b[j] = e;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

/* Sets key to a copy of val, or deletes key when val is NULL. */
static inline void map_put(map_t *m, const void *k, size_t klen, const void *val, size_t vlen)
{
    map_entry_t **pp = &m->buckets[map_hash(k, klen) % m->nbuckets];
    for (; *pp; pp = &(*pp)->next) {
        map_entry_t *e = *pp;
        if (e->klen == klen && memcmp(e->key, k, klen) == 0) {
            if (val == NULL) {
                *pp = e->next;
                free(e->key);
                free(e->val);
                free(e);
                m->count--;
                return;
            }
            free(e->val);
            e->val = malloc(vlen ? vlen : 1);
            cr_assert(e->val);
            memcpy(e->val, val, vlen);
            e->vlen = vlen;
            return;
        }
    }
    if (val == NULL)
        return;
    if (m->count > m->nbuckets * 2) {
        map_grow(m);
        map_put(m, k, klen, val, vlen);
        return;
    }
    map_entry_t *e = calloc(1, sizeof *e);
    cr_assert(e);
    e->key = malloc(klen ? klen : 1);
    e->val = malloc(vlen ? vlen : 1);
    cr_assert(e->key && e->val);
    memcpy(e->key, k, klen);
    memcpy(e->val, val, vlen);
    e->klen = klen;
    e->vlen = vlen;
    size_t j = map_hash(k, klen) % m->nbuckets;
    e->next = m->buckets[j];
    m->buckets[j] = e;
    m->count++;
}

/* Whether a and b hold the same keys with the same values; names the
 * first difference in why. */
static inline bool map_equal(const map_t *a, const map_t *b, char *why, size_t whysize)
{
    if (a->count != b->count) {
        snprintf(why, whysize, "%zu entries against %zu", a->count, b->count);
        return false;
    }
    for (size_t i = 0; i < a->nbuckets; i++) {
        for (map_entry_t *e = a->buckets[i]; e; e = e->next) {
            map_entry_t *f = map_find(b, e->key, e->klen);
            if (f == NULL || f->vlen != e->vlen || memcmp(f->val, e->val, e->vlen) != 0) {
                snprintf(why, whysize, "key %.*s... %s", (int)(e->klen < 40 ? e->klen : 40),
                         (const char *)e->key, f ? "has another value" : "is missing");
                return false;
            }
        }
    }
    return true;
}

/* ---- rollup values as map entries --------------------------------------- */

typedef struct {
    int64_t v[4];
    int64_t updated_at;
} api_val_t;

typedef struct {
    int64_t in_use, peak, updated_at;
} seat_val_t;

static inline size_t api_key(char *buf, size_t size, const char *tenant, const char *env, int32_t day)
{
    return (size_t)snprintf(buf, size, "%s|%s|%" PRId32, tenant, env, day);
}

static inline size_t seat_key(char *buf, size_t size, const char *tenant, int32_t day)
{
    return (size_t)snprintf(buf, size, "%s|%" PRId32, tenant, day);
}

/* The simulated topics of one partition. */
typedef struct {
    map_t api;        /* tally.rollups, ApiUsageRollup */
    map_t seat;       /* tally.rollups, SeatRollup */
    map_t changelog;  /* tally.aggregator.changelog */
    uint64_t produced;
} topics_t;

static inline void topics_init(topics_t *t)
{
    map_init(&t->api);
    map_init(&t->seat);
    map_init(&t->changelog);
    t->produced = 0;
}

static inline void topics_free(topics_t *t)
{
    map_free(&t->api);
    map_free(&t->seat);
    map_free(&t->changelog);
}

static inline int produce_api(void *ctx, const tally_api_rollup_t *a)
{
    topics_t *t = ctx;
    char k[512];
    size_t kl = api_key(k, sizeof k, a->tenant_id, a->environment_id, a->day);
    api_val_t v = {{a->api_calls, a->status_4xx, a->status_5xx, a->exec_ms}, a->updated_at};
    map_entry_t *old = map_find(&t->api, k, kl);
    if (old) {
        /* Cumulative: what the topic holds for a key never goes down. */
        const api_val_t *o = (const api_val_t *)old->val;
        for (int i = 0; i < 4; i++)
            cr_assert_geq(v.v[i], o->v[i], "%s: counter %d went from %" PRId64 " to %" PRId64, k, i,
                          o->v[i], v.v[i]);
        cr_assert_geq(v.updated_at, o->updated_at);
    }
    map_put(&t->api, k, kl, &v, sizeof v);
    t->produced++;
    return 0;
}

static inline int produce_seat(void *ctx, const tally_seat_rollup_t *s)
{
    topics_t *t = ctx;
    char k[512];
    size_t kl = seat_key(k, sizeof k, s->tenant_id, s->day);
    seat_val_t v = {s->seats_in_use, s->seats_peak, s->updated_at};
    cr_assert_geq(v.peak, v.in_use, "%s: peak below in use", k);
    cr_assert_geq(v.in_use, 0, "%s: negative seats", k);
    map_put(&t->seat, k, kl, &v, sizeof v);
    t->produced++;
    return 0;
}

static inline int produce_entry(void *ctx, const tally_changelog_record_t *rec)
{
    map_t *m = ctx;
    map_put(m, rec->key, rec->key_len, rec->value, rec->value_len);
    return 0;
}

/* One committed transaction: the batch's changes into the topics. */
static inline void commit_batch(tally_rollup_t *r, topics_t *t)
{
    cr_assert_eq(tally_rollup_each_changed_api(r, produce_api, t), 0);
    cr_assert_eq(tally_rollup_each_changed_seat(r, produce_seat, t), 0);
    cr_assert_eq(tally_rollup_each_changed_entry(r, produce_entry, &t->changelog), 0);
    tally_rollup_clear_changes(r);
}

static inline tally_rollup_t *new_state(const tally_rollup_config_t *cfg)
{
    char err[256];
    tally_rollup_t *r = tally_rollup_new(cfg, err, sizeof err);
    cr_assert(r, "%s", err);
    return r;
}

/* A fresh state rebuilt from a compacted changelog, as on assignment. */
static inline tally_rollup_t *restore_state(const tally_rollup_config_t *cfg, const map_t *changelog)
{
    tally_rollup_t *r = new_state(cfg);
    char err[256];
    for (size_t i = 0; i < changelog->nbuckets; i++) {
        for (map_entry_t *e = changelog->buckets[i]; e; e = e->next) {
            tally_changelog_record_t rec = {e->key, e->klen, e->val, e->vlen};
            cr_assert_eq(tally_rollup_restore(r, &rec, err, sizeof err), 0, "%s", err);
        }
    }
    tally_rollup_restore_done(r);
    return r;
}

/* Everything a state holds, as maps: its changelog snapshot, its API and
 * seat rollups (all held, or open ones only). */
typedef struct {
    map_t entries, api, seat;
} state_dump_t;

static inline int dump_api(void *ctx, const tally_api_rollup_t *a)
{
    state_dump_t *d = ctx;
    char k[512];
    size_t kl = api_key(k, sizeof k, a->tenant_id, a->environment_id, a->day);
    api_val_t v = {{a->api_calls, a->status_4xx, a->status_5xx, a->exec_ms}, a->updated_at};
    if (!a->closed)
        map_put(&d->api, k, kl, &v, sizeof v);
    return 0;
}

static inline int dump_seat(void *ctx, const tally_seat_rollup_t *s)
{
    state_dump_t *d = ctx;
    char k[512];
    size_t kl = seat_key(k, sizeof k, s->tenant_id, s->day);
    seat_val_t v = {s->seats_in_use, s->seats_peak, s->updated_at};
    if (!s->closed)
        map_put(&d->seat, k, kl, &v, sizeof v);
    return 0;
}

/* The state's changelog snapshot and open rollups. */
static inline void dump_state(tally_rollup_t *r, state_dump_t *d)
{
    map_init(&d->entries);
    map_init(&d->api);
    map_init(&d->seat);
    cr_assert_eq(tally_rollup_snapshot(r, produce_entry, &d->entries), 0);
    cr_assert_eq(tally_rollup_each_api(r, dump_api, d), 0);
    cr_assert_eq(tally_rollup_each_seat(r, dump_seat, d), 0);
}

static inline void dump_free(state_dump_t *d)
{
    map_free(&d->entries);
    map_free(&d->api);
    map_free(&d->seat);
}

static inline void assert_same_state(tally_rollup_t *a, tally_rollup_t *b, const char *what)
{
    state_dump_t da, db;
    char why[256];
    dump_state(a, &da);
    dump_state(b, &db);
    cr_assert(map_equal(&da.entries, &db.entries, why, sizeof why), "%s: changelog: %s", what, why);
    cr_assert(map_equal(&da.api, &db.api, why, sizeof why), "%s: API rollups: %s", what, why);
    cr_assert(map_equal(&da.seat, &db.seat, why, sizeof why), "%s: seat rollups: %s", what, why);
    dump_free(&da);
    dump_free(&db);
}

/* ---- times -------------------------------------------------------------- */

#define MS_HOUR INT64_C(3600000)
#define MS_MIN INT64_C(60000)

/* ms of y-m-d h:mi:s.ms UTC */
static inline int64_t utc_ms(int y, unsigned mo, unsigned d, int h, int mi, int s, int ms)
{
    return tally_days_from_civil(y, mo, d) * TALLY_MS_PER_DAY + h * MS_HOUR + mi * MS_MIN +
           s * INT64_C(1000) + ms;
}

static inline int32_t utc_day_of(int y, unsigned mo, unsigned d)
{
    return (int32_t)tally_days_from_civil(y, mo, d);
}

#endif /* TALLY_TESTS_ROLLUP_HARNESS_H */
