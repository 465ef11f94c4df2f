/* Unit tests of aggregator/rollup on a generated workload: a
 * 100,000-report randomized run with aborted transactions, crashes and
 * sweeps, checked against a separate model of the documented rules, and
 * against totals that need no model at all. */
#include "rollup_fixture.h"

#include "changelog.h"

TestSuite(rollup);

/* A separate model of the documented rules, with plain maps. */
typedef struct {
    int64_t seq, mark[4], last;
} model_reporter_t;

typedef struct {
    map_t reporters, api;
    bool has_wm;
    int64_t wm;
    int32_t open_days;
    int64_t idle_ms;
} model_t;

static int32_t floor_day(int64_t ms)
{
    return (int32_t)(ms >= 0 ? ms / TALLY_MS_PER_DAY : -((-ms + TALLY_MS_PER_DAY - 1) / TALLY_MS_PER_DAY));
}

static tally_rollup_outcome_t model_apply(model_t *m, const tally_rollup_report_t *u)
{
    int32_t day = floor_day(u->observed_at);
    if (m->has_wm && day < floor_day(m->wm) - (m->open_days - 1))
        return TALLY_ROLLUP_TOO_LATE;
    char k[256];
    size_t kl = (size_t)snprintf(k, sizeof k, "%s\x1f%s\x1f%s", u->tenant_id, u->environment_id,
                                 u->reporter_id);
    map_entry_t *e = map_find(&m->reporters, k, kl);
    model_reporter_t rp = {0, {0, 0, 0, 0}, u->observed_at};
    if (e) {
        model_reporter_t old;
        memcpy(&old, e->val, sizeof old);
        bool expired = m->idle_ms > 0 && old.last < m->wm - m->idle_ms;
        if (!expired) {
            if (u->seq == old.seq)
                return TALLY_ROLLUP_DUPLICATE;
            if (u->seq < old.seq)
                return TALLY_ROLLUP_STALE;
            rp = old;
            if (u->observed_at > rp.last)
                rp.last = u->observed_at;
        }
    }
    const int64_t now[4] = {u->api_calls, u->status_4xx, u->status_5xx, u->exec_ms};
    char ak[256];
    size_t akl = api_key(ak, sizeof ak, u->tenant_id, u->environment_id, day);
    map_entry_t *ae = map_find(&m->api, ak, akl);
    api_val_t v = {{0, 0, 0, 0}, INT64_MIN};
    if (ae)
        memcpy(&v, ae->val, sizeof v);
    for (int i = 0; i < 4; i++) {
        if (now[i] > rp.mark[i]) {
            v.v[i] += now[i] - rp.mark[i];
            rp.mark[i] = now[i];
        }
    }
    if (u->observed_at > v.updated_at)
        v.updated_at = u->observed_at;
    rp.seq = u->seq;
    map_put(&m->reporters, k, kl, &rp, sizeof rp);
    map_put(&m->api, ak, akl, &v, sizeof v);
    if (!m->has_wm || u->observed_at > m->wm)
        m->wm = u->observed_at;
    m->has_wm = true;
    return TALLY_ROLLUP_APPLIED;
}

/* 100,000 reports from 667 reporters of 25 tenants, with duplicates,
 * delays, some reports too late, glitches and silences that expire
 * reporters, processed the way the aggregator will: batches of random
 * size, each a "transaction" that may abort (the state is then restored
 * from the committed changelog and the batch redone), crashes after a
 * commit (restore), sweeps at random. The rollups topic must end equal to
 * the model's, every outcome must be the model's, and the open rollups the
 * state still holds must be the model's. */
Test(rollup, randomized_100k_reports_with_aborts_and_crashes, .timeout = 300)
{
    uint64_t seed = 20240501;
    rng_t g = {seed};
    workload_t w;
    make_workload(&w, &g, 100000, 9, true, 3);
    cr_assert_geq(w.n, 100000);

    tally_rollup_config_t cfg = {.open_days = 2, .reporter_idle_ms = 4 * MS_HOUR, .size_hint = 64};
    model_t m = {.open_days = cfg.open_days, .idle_ms = cfg.reporter_idle_ms};
    map_init(&m.reporters);
    map_init(&m.api);
    tally_rollup_outcome_t *expected = calloc(w.n, sizeof *expected);
    cr_assert(expected);
    uint64_t counts[5] = {0};
    for (size_t i = 0; i < w.n; i++)
        counts[expected[i] = model_apply(&m, &w.recs[i])]++;
    cr_log_info("model: %" PRIu64 " applied, %" PRIu64 " duplicate, %" PRIu64 " stale, %" PRIu64
                " too late", counts[0], counts[1], counts[2], counts[3]);
    cr_assert_gt(counts[TALLY_ROLLUP_DUPLICATE], 1000);
    cr_assert_gt(counts[TALLY_ROLLUP_STALE], 100);
    cr_assert_gt(counts[TALLY_ROLLUP_TOO_LATE], 10);

    topics_t t;
    topics_init(&t);
    tally_rollup_t *r = new_state(&cfg);
    int aborts = 0, crashes = 0;
    for (size_t at = 0; at < w.n;) {
        size_t len = 1 + rng_below(&g, 400), end = at + len < w.n ? at + len : w.n;
        for (size_t i = at; i < end; i++) {
            tally_rollup_outcome_t o = tally_rollup_apply_usage(r, &w.recs[i]);
            cr_assert_eq(o, expected[i], "seed %" PRIu64 ", record %zu: %s, model says %s", seed, i,
                         tally_rollup_outcome_name(o), tally_rollup_outcome_name(expected[i]));
        }
        if (rng_below(&g, 3) == 0)
            tally_rollup_expire(r, rng_below(&g, 4) ? rng_below(&g, 64) : 0);
        if (rng_below(&g, 40) == 0) {
            /* The transaction aborts: nothing was produced; start over
             * from the committed changelog and redo the batch. */
            tally_rollup_free(r);
            r = restore_state(&cfg, &t.changelog);
            aborts++;
            continue;
        }
        commit_batch(r, &t);
        at = end;
        if (rng_below(&g, 60) == 0) {
            tally_rollup_free(r);
            r = restore_state(&cfg, &t.changelog);
            crashes++;
        }
    }
    cr_assert_gt(aborts, 0);
    cr_assert_gt(crashes, 0);

    char why[256];
    cr_assert(map_equal(&t.api, &m.api, why, sizeof why), "seed %" PRIu64 ": rollups topic: %s", seed,
              why);

    /* The open rollups still held are the model's. */
    state_dump_t d;
    dump_state(r, &d);
    cr_assert_gt(d.api.count, 0);
    for (size_t i = 0; i < d.api.nbuckets; i++)
        for (map_entry_t *e = d.api.buckets[i]; e; e = e->next) {
            map_entry_t *f = map_find(&m.api, e->key, e->klen);
            cr_assert(f && memcmp(f->val, e->val, sizeof(api_val_t)) == 0, "%.*s", (int)e->klen,
                      (const char *)e->key);
        }
    dump_free(&d);
    tally_rollup_stats_t st;
    tally_rollup_stats(r, &st);
    cr_assert_lt(st.reporters, w.n_reporters, "idle reporters should have been swept");

    /* The whole log replayed in one go by an audit (no sweeps, no
     * batches) gives the same rollups. */
    tally_rollup_t *audit = new_state(&cfg);
    for (size_t i = 0; i < w.n; i++)
        tally_rollup_apply_usage(audit, &w.recs[i]);
    topics_t at2;
    topics_init(&at2);
    cr_assert_eq(tally_rollup_each_api(audit, produce_api, &at2), 0); /* closed days too */
    cr_assert(map_equal(&at2.api, &m.api, why, sizeof why), "audit: %s", why);
    topics_free(&at2);
    tally_rollup_free(audit);

    tally_rollup_free(r);
    topics_free(&t);
    map_free(&m.reporters);
    map_free(&m.api);
    free(expected);
    free_workload(&w);
}

/* No model at all: when every report arrives while its day is open and no
 * counter glitches, a tenant's total over all days and environments is
 * the sum of its reporters' final counters, whatever the order. */
Test(rollup, totals_equal_final_counters_of_every_reporter)
{
    rng_t g = {99};
    workload_t w;
    make_workload(&w, &g, 30000, 4, false, 0);
    tally_rollup_config_t cfg = {.open_days = 35};
    tally_rollup_t *r = new_state(&cfg);
    topics_t t;
    topics_init(&t);
    for (size_t i = 0; i < w.n; i++) {
        tally_rollup_outcome_t o = tally_rollup_apply_usage(r, &w.recs[i]);
        cr_assert_neq(o, TALLY_ROLLUP_TOO_LATE);
        if (rng_below(&g, 100) == 0)
            commit_batch(r, &t);
    }
    commit_batch(r, &t);

    int64_t expected[25] = {0}, got[25] = {0};
    for (size_t rep = 0; rep < w.n_reporters; rep++)
        expected[w.reporter_tenant[rep]] += w.final_counts[rep];
    for (size_t i = 0; i < t.api.nbuckets; i++)
        for (map_entry_t *e = t.api.buckets[i]; e; e = e->next) {
            int tenant;
            cr_assert_eq(sscanf((const char *)e->key, "tenant-%d|", &tenant), 1);
            got[tenant] += ((const api_val_t *)e->val)->v[0];
        }
    for (int i = 0; i < 25; i++)
        cr_assert_eq(got[i], expected[i], "tenant %d", i);
    topics_free(&t);
    tally_rollup_free(r);
    free_workload(&w);
}
