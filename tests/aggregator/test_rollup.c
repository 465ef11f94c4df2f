/* Unit tests of aggregator/rollup: usage reports (duplicates, stale seqs,
 * reporter restarts, UTC day boundaries, counter decreases, late reports,
 * expiry) and change tracking. The randomized run against a model is in
 * test_rollup_workload.c, idempotence and the changelog round trip in
 * test_rollup_idempotence.c, seat events in test_rollup_seats.c;
 * rollup_fixture.h holds what they share. */
#include "rollup_fixture.h"

#include "changelog.h"

TestSuite(rollup);

/* ---- the basic rules ---------------------------------------------------- */

Test(rollup, first_report_adds_full_counters_then_deltas)
{
    tally_rollup_t *r = new_state(&plain);
    tally_api_rollup_t a;

    tally_rollup_report_t u = report("t1", "prod", "r1", 1, T0 + 1000, 100, 7, 3, 4500);
    cr_assert_eq(tally_rollup_apply_usage(r, &u), TALLY_ROLLUP_APPLIED);
    cr_assert(tally_rollup_get_api(r, "t1", "prod", D0, &a));
    cr_assert_eq(a.api_calls, 100);
    cr_assert_eq(a.status_4xx, 7);
    cr_assert_eq(a.status_5xx, 3);
    cr_assert_eq(a.exec_ms, 4500);
    cr_assert_eq(a.updated_at, T0 + 1000);
    cr_assert(!a.closed);

    u = report("t1", "prod", "r1", 2, T0 + 61000, 130, 9, 3, 5000);
    cr_assert_eq(tally_rollup_apply_usage(r, &u), TALLY_ROLLUP_APPLIED);
    cr_assert(tally_rollup_get_api(r, "t1", "prod", D0, &a));
    cr_assert_eq(a.api_calls, 130);
    cr_assert_eq(a.status_4xx, 9);
    cr_assert_eq(a.status_5xx, 3);
    cr_assert_eq(a.exec_ms, 5000);
    cr_assert_eq(a.updated_at, T0 + 61000);
    tally_rollup_free(r);
}

Test(rollup, duplicate_report_changes_nothing)
{
    tally_rollup_t *r = new_state(&plain);

    cr_assert_eq(apply(r, "t1", "prod", "r1", 5, T0, 100), TALLY_ROLLUP_APPLIED);
    tally_rollup_clear_changes(r);
    cr_assert_eq(apply(r, "t1", "prod", "r1", 5, T0, 100), TALLY_ROLLUP_DUPLICATE);
    /* Even a "duplicate" carrying other counters: seq decides. */
    cr_assert_eq(apply(r, "t1", "prod", "r1", 5, T0 + 5, 900), TALLY_ROLLUP_DUPLICATE);
    cr_assert_eq(calls_on(r, "t1", "prod", D0), 100);
    cr_assert_eq(pending_api(r), 0);
    cr_assert_eq(pending_entries(r), 0);
    tally_rollup_stats_t st;
    tally_rollup_stats(r, &st);
    cr_assert_eq(st.reports_duplicate, 2);
    tally_rollup_free(r);
}

Test(rollup, stale_seq_changes_nothing)
{
    tally_rollup_t *r = new_state(&plain);

    cr_assert_eq(apply(r, "t1", "prod", "r1", 7, T0 + 7000, 70), TALLY_ROLLUP_APPLIED);
    tally_rollup_clear_changes(r);
    cr_assert_eq(apply(r, "t1", "prod", "r1", 6, T0 + 6000, 60), TALLY_ROLLUP_STALE);
    cr_assert_eq(apply(r, "t1", "prod", "r1", -1, T0 + 1, 1), TALLY_ROLLUP_STALE);
    cr_assert_eq(calls_on(r, "t1", "prod", D0), 70);
    cr_assert_eq(pending_entries(r), 0);
    /* A lost report costs nothing: the next one carries the total. */
    cr_assert_eq(apply(r, "t1", "prod", "r1", 9, T0 + 9000, 95), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(calls_on(r, "t1", "prod", D0), 95);
    tally_rollup_free(r);
}

Test(rollup, reporter_restart_is_a_new_reporter)
{
    tally_rollup_t *r = new_state(&plain);

    cr_assert_eq(apply(r, "t1", "prod", "r1", 1, T0, 100), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(apply(r, "t1", "prod", "r1", 2, T0 + 1000, 250), TALLY_ROLLUP_APPLIED);
    /* The process restarts: new reporter_id, counters from zero, seq from 1. */
    cr_assert_eq(apply(r, "t1", "prod", "r2", 1, T0 + 2000, 30), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(apply(r, "t1", "prod", "r2", 2, T0 + 3000, 45), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(calls_on(r, "t1", "prod", D0), 295);
    /* The old reporter's last report, delivered late, is stale or adds
     * only what it did not report yet. */
    cr_assert_eq(apply(r, "t1", "prod", "r1", 2, T0 + 1000, 250), TALLY_ROLLUP_DUPLICATE);
    cr_assert_eq(apply(r, "t1", "prod", "r1", 3, T0 + 1500, 260), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(calls_on(r, "t1", "prod", D0), 305);
    tally_rollup_free(r);
}

Test(rollup, reporter_is_scoped_by_tenant_and_environment)
{
    tally_rollup_t *r = new_state(&plain);

    cr_assert_eq(apply(r, "t1", "prod", "same-id", 3, T0, 100), TALLY_ROLLUP_APPLIED);
    /* Another tenant or environment reusing the id does not collide. */
    cr_assert_eq(apply(r, "t1", "staging", "same-id", 1, T0, 10), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(apply(r, "t2", "prod", "same-id", 1, T0, 20), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(calls_on(r, "t1", "prod", D0), 100);
    cr_assert_eq(calls_on(r, "t1", "staging", D0), 10);
    cr_assert_eq(calls_on(r, "t2", "prod", D0), 20);
    tally_rollup_stats_t st;
    tally_rollup_stats(r, &st);
    cr_assert_eq(st.reporters, 3);
    cr_assert_eq(st.api_rollups, 3);
    tally_rollup_free(r);
}

Test(rollup, utc_day_boundary)
{
    tally_rollup_t *r = new_state(&plain);
    int64_t last_ms = utc_ms(2024, 2, 29, 23, 59, 59, 999), midnight = utc_ms(2024, 3, 1, 0, 0, 0, 0);
    int32_t feb29 = utc_day_of(2024, 2, 29), mar1 = utc_day_of(2024, 3, 1);
    tally_api_rollup_t a;

    cr_assert_eq(feb29 + 1, mar1);
    cr_assert_eq(apply(r, "t1", "prod", "r1", 1, last_ms - 60000, 40), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(apply(r, "t1", "prod", "r1", 2, last_ms, 50), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(apply(r, "t1", "prod", "r1", 3, midnight, 58), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(apply(r, "t1", "prod", "r1", 4, midnight + 1, 60), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(calls_on(r, "t1", "prod", feb29), 50);
    cr_assert_eq(calls_on(r, "t1", "prod", mar1), 10);
    cr_assert(tally_rollup_get_api(r, "t1", "prod", feb29, &a));
    cr_assert_eq(a.updated_at, last_ms);
    cr_assert(tally_rollup_get_api(r, "t1", "prod", mar1, &a));
    cr_assert_eq(a.updated_at, midnight + 1);
    tally_rollup_free(r);

    /* Before 1970 days are negative and the boundary still holds. */
    r = new_state(&plain);
    cr_assert_eq(apply(r, "t1", "prod", "r1", 1, -1, 5), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(apply(r, "t1", "prod", "r1", 2, 0, 7), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(calls_on(r, "t1", "prod", -1), 5);
    cr_assert_eq(calls_on(r, "t1", "prod", 0), 2);
    tally_rollup_free(r);
}

Test(rollup, counter_decrease_adds_nothing_and_keeps_the_mark)
{
    tally_rollup_t *r = new_state(&plain);
    tally_rollup_stats_t st;

    cr_assert_eq(apply(r, "t1", "prod", "r1", 1, T0, 100), TALLY_ROLLUP_APPLIED);
    /* A glitched low report, then a normal one: 120 in all, not 170. */
    cr_assert_eq(apply(r, "t1", "prod", "r1", 2, T0 + 1000, 50), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(calls_on(r, "t1", "prod", D0), 100);
    cr_assert_eq(apply(r, "t1", "prod", "r1", 3, T0 + 2000, 120), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(calls_on(r, "t1", "prod", D0), 120);
    tally_rollup_stats(r, &st);
    cr_assert_eq(st.counter_decreases, 1);

    /* Each counter has its own mark. */
    tally_rollup_report_t u = report("t1", "prod", "r1", 4, T0 + 3000, 130, 0, 50, 9);
    cr_assert_eq(tally_rollup_apply_usage(r, &u), TALLY_ROLLUP_APPLIED);
    tally_api_rollup_t a;
    cr_assert(tally_rollup_get_api(r, "t1", "prod", D0, &a));
    cr_assert_eq(a.api_calls, 130);
    cr_assert_eq(a.status_4xx, 12); /* 10 from the first report, 12 from the third */
    cr_assert_eq(a.status_5xx, 50);
    cr_assert_eq(a.exec_ms, 360);
    /* Negative counters (the gateway refuses them) add nothing. */
    u = report("t1", "prod", "r9", 1, T0, -5, -5, -5, -5);
    cr_assert_eq(tally_rollup_apply_usage(r, &u), TALLY_ROLLUP_APPLIED);
    cr_assert(tally_rollup_get_api(r, "t1", "prod", D0, &a));
    cr_assert_eq(a.api_calls, 130);
    tally_rollup_free(r);
}

Test(rollup, counters_never_decrease)
{
    /* Random walks with resets, glitches, stale and duplicate seqs: the
     * rollups produced for a key never go down (checked in produce_api). */
    rng_t g = {42};
    for (int round = 0; round < 50; round++) {
        tally_rollup_t *r = new_state(&plain);
        topics_t t;
        topics_init(&t);
        int64_t c = 0, seq = 0;
        for (int i = 0; i < 400; i++) {
            switch (rng_below(&g, 6)) {
            case 0:
                c = rng_range(&g, 0, c); /* decrease */
                break;
            case 1:
                seq -= rng_range(&g, 0, 3); /* stale or duplicate */
                break;
            default:
                c += rng_range(&g, 0, 1000);
            }
            seq++;
            apply(r, "t", "e", rng_below(&g, 10) ? "r1" : "r2", seq, T0 + i * 60000, c);
            if (rng_below(&g, 10) == 0)
                commit_batch(r, &t);
        }
        commit_batch(r, &t);
        cr_assert_gt(t.produced, 0);
        topics_free(&t);
        tally_rollup_free(r);
    }
}

Test(rollup, sums_saturate)
{
    tally_rollup_t *r = new_state(&plain);

    tally_rollup_report_t u = report("t", "e", "r1", 1, T0, INT64_MAX, 1, 1, INT64_MAX);
    tally_api_rollup_t a;

    cr_assert_eq(tally_rollup_apply_usage(r, &u), TALLY_ROLLUP_APPLIED);
    u.reporter_id = "r2";
    cr_assert_eq(tally_rollup_apply_usage(r, &u), TALLY_ROLLUP_APPLIED);
    cr_assert(tally_rollup_get_api(r, "t", "e", D0, &a));
    cr_assert_eq(a.api_calls, INT64_MAX);
    cr_assert_eq(a.exec_ms, INT64_MAX);
    cr_assert_eq(a.status_4xx, 2);
    tally_rollup_free(r);
}

/* The gateway bounds each counter far below INT64_MAX (around 2^50), but an
 * API rollup adds the deltas of every reporter of its environment and day:
 * 8200 reporters at 2^50 each pass 2^63. The sums saturate, never wrap
 * negative (nor trip UBSan), and later deltas keep them saturated. */
Test(rollup, many_reporters_at_the_counter_bound_saturate)
{
    tally_rollup_t *r = new_state(&plain);
    const int64_t bound = INT64_C(1) << 50;
    const int reporters = 8200;
    tally_api_rollup_t a;
    char id[32];

    for (int i = 0; i < reporters; i++) {
        snprintf(id, sizeof id, "r%d", i);
        tally_rollup_report_t u = report("t", "e", id, 1, T0 + i, bound, 1, bound, bound);
        cr_assert_eq(tally_rollup_apply_usage(r, &u), TALLY_ROLLUP_APPLIED);
        cr_assert(tally_rollup_get_api(r, "t", "e", D0, &a));
        cr_assert_geq(a.api_calls, bound, "reporter %d: api_calls %lld", i, (long long)a.api_calls);
    }
    cr_assert_eq(a.api_calls, INT64_MAX);
    cr_assert_eq(a.status_5xx, INT64_MAX);
    cr_assert_eq(a.exec_ms, INT64_MAX);
    cr_assert_eq(a.status_4xx, reporters);
    /* A later report of a reporter adds its delta to a saturated sum. */
    tally_rollup_report_t u = report("t", "e", "r0", 2, T0 + reporters, bound + 5, 2, bound, INT64_MAX);
    cr_assert_eq(tally_rollup_apply_usage(r, &u), TALLY_ROLLUP_APPLIED);
    cr_assert(tally_rollup_get_api(r, "t", "e", D0, &a));
    cr_assert_eq(a.api_calls, INT64_MAX);
    cr_assert_eq(a.exec_ms, INT64_MAX);
    cr_assert_eq(a.status_4xx, reporters + 1);
    tally_rollup_free(r);
}

Test(rollup, invalid_records)
{
    tally_rollup_t *r = new_state(&plain);
    tally_rollup_report_t u = report("t", "e", "r", 1, T0, 1, 0, 0, 0);
    tally_rollup_stats_t st;

    u.tenant_id = "";
    cr_assert_eq(tally_rollup_apply_usage(r, &u), TALLY_ROLLUP_INVALID);
    u.tenant_id = "t";
    u.environment_id = NULL;
    cr_assert_eq(tally_rollup_apply_usage(r, &u), TALLY_ROLLUP_INVALID);
    u.environment_id = "e";
    u.reporter_id = "";
    cr_assert_eq(tally_rollup_apply_usage(r, &u), TALLY_ROLLUP_INVALID);
    u.reporter_id = "r";
    u.observed_at = TALLY_TIME_MAX_MS + 1;
    cr_assert_eq(tally_rollup_apply_usage(r, &u), TALLY_ROLLUP_INVALID);
    u.observed_at = INT64_MIN;
    cr_assert_eq(tally_rollup_apply_usage(r, &u), TALLY_ROLLUP_INVALID);
    u.observed_at = TALLY_TIME_MAX_MS;
    cr_assert_eq(tally_rollup_apply_usage(r, &u), TALLY_ROLLUP_APPLIED);
    tally_rollup_stats(r, &st);
    cr_assert_eq(st.invalid, 5);
    cr_assert_str_eq(tally_rollup_outcome_name(TALLY_ROLLUP_TOO_LATE), "too_late");
    tally_rollup_free(r);
}

Test(rollup, config_is_checked)
{
    char err[256];
    tally_rollup_config_t c = {.open_days = -1};
    cr_assert_null(tally_rollup_new(&c, err, sizeof err));
    cr_assert(strstr(err, "open days"), "%s", err);
    c = (tally_rollup_config_t){.open_days = TALLY_ROLLUP_MAX_OPEN_DAYS + 1};
    cr_assert_null(tally_rollup_new(&c, err, sizeof err));
    c = (tally_rollup_config_t){.reporter_idle_ms = -1};
    cr_assert_null(tally_rollup_new(&c, err, sizeof err));
    cr_assert(strstr(err, "idle"), "%s", err);
    c = (tally_rollup_config_t){.size_hint = 100000};
    tally_rollup_t *r = tally_rollup_new(&c, err, sizeof err);
    cr_assert(r, "%s", err);
    tally_rollup_free(r);
    tally_rollup_free(NULL);
}

/* ---- open days and expiry ----------------------------------------------- */

Test(rollup, too_late_report_is_like_a_lost_one)
{
    tally_rollup_config_t c = {.open_days = 2};
    tally_rollup_t *r = new_state(&c);
    int64_t day = TALLY_MS_PER_DAY;

    cr_assert_eq(apply(r, "t", "e", "r1", 1, T0, 10), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(apply(r, "t", "e", "r2", 1, T0 + 2 * day, 5), TALLY_ROLLUP_APPLIED);
    /* Day D0 is now closed (open: D0+1, D0+2); r1's report of D0 is late. */
    cr_assert_eq(apply(r, "t", "e", "r1", 2, T0 + 3600000, 30), TALLY_ROLLUP_TOO_LATE);
    cr_assert_eq(apply(r, "t", "e", "r1", 3, T0 + day, 45), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(calls_on(r, "t", "e", D0), 10);
    cr_assert_eq(calls_on(r, "t", "e", D0 + 1), 35);
    tally_api_rollup_t a;
    cr_assert(tally_rollup_get_api(r, "t", "e", D0, &a));
    cr_assert(a.closed);
    cr_assert(tally_rollup_get_api(r, "t", "e", D0 + 1, &a));
    cr_assert(!a.closed);
    tally_rollup_stats_t st;
    tally_rollup_stats(r, &st);
    cr_assert_eq(st.reports_too_late, 1);
    tally_rollup_free(r);
}

typedef struct {
    int tombstones, values, meta;
} entry_counts_t;

static int classify_entry(void *ctx, const tally_changelog_record_t *rec)
{
    entry_counts_t *c = ctx;
    if (((const unsigned char *)rec->key)[0] == 'M')
        c->meta++;
    else if (rec->value == NULL)
        c->tombstones++;
    else
        c->values++;
    return 0;
}

Test(rollup, expire_removes_idle_reporters_and_closed_days_with_tombstones)
{
    tally_rollup_config_t c = {.open_days = 2, .reporter_idle_ms = 6 * MS_HOUR};
    tally_rollup_t *r = new_state(&c);
    topics_t t;
    tally_rollup_stats_t st;
    entry_counts_t ec = {0};

    topics_init(&t);
    cr_assert_eq(apply(r, "t", "e", "old", 1, T0, 10), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(apply(r, "t", "e", "live", 1, T0 + 3 * TALLY_MS_PER_DAY, 5), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(tally_rollup_expire(r, 0), 2); /* "old" and day D0 */
    tally_rollup_stats(r, &st);
    cr_assert_eq(st.reporters, 1);
    cr_assert_eq(st.api_rollups, 1);
    /* Both changed in this batch and are then removed: the API rollup of
     * D0 is still produced (its last value), the entries as tombstones. */
    cr_assert_eq(pending_api(r), 2);
    cr_assert_eq(tally_rollup_each_changed_entry(r, classify_entry, &ec), 0);
    cr_assert_eq(ec.tombstones, 2);
    cr_assert_eq(ec.values, 2);
    cr_assert_eq(ec.meta, 1);
    commit_batch(r, &t);
    cr_assert_eq(t.changelog.count, 3); /* live, its day, meta */
    cr_assert_eq(calls_on(r, "t", "e", D0), -1);
    cr_assert_eq(tally_rollup_expire(r, 0), 0);

    /* The state restored from that changelog behaves the same. */
    tally_rollup_t *back = restore_state(&c, &t.changelog);
    assert_same_state(r, back, "after expiry");
    cr_assert_eq(apply(back, "t", "e", "old", 2, T0 + 3 * TALLY_MS_PER_DAY, 12), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(apply(r, "t", "e", "old", 2, T0 + 3 * TALLY_MS_PER_DAY, 12), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(calls_on(back, "t", "e", D0 + 3), 17); /* expired: counted as new */
    assert_same_state(r, back, "after a revived reporter");
    tally_rollup_free(back);
    topics_free(&t);
    tally_rollup_free(r);
}

/* The same input with and without sweeps, and sweeps at any moment, gives
 * the same results: expiry is decided by the records, not by the sweep. */
Test(rollup, expiry_is_independent_of_sweeps)
{
    tally_rollup_config_t c = {.open_days = 3, .reporter_idle_ms = 2 * MS_HOUR};
    rng_t g = {7};
    enum { N = 4000 };
    static tally_rollup_report_t in[N];
    static char names[N][16];

    for (int i = 0; i < N; i++) {
        int rep = (int)rng_below(&g, 12);
        snprintf(names[i], sizeof names[i], "r%d", rep);
        /* Bursty reporters: long silences make some of them expire. */
        int64_t at = T0 + i * 3 * MS_MIN + (rep % 3 == 0 ? 0 : (int64_t)rng_below(&g, 5) * MS_HOUR);
        in[i] = report(rep % 2 ? "t1" : "t2", "e", names[i], i, at, (int64_t)i * 10, 0, 0, i);
    }
    tally_rollup_t *never = new_state(&c), *often = new_state(&c);
    topics_t tn, to;
    topics_init(&tn);
    topics_init(&to);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(tally_rollup_apply_usage(never, &in[i]), tally_rollup_apply_usage(often, &in[i]),
                     "record %d", i);
        if (rng_below(&g, 5) == 0)
            tally_rollup_expire(often, rng_below(&g, 8));
        if (rng_below(&g, 7) == 0) {
            commit_batch(never, &tn);
            commit_batch(often, &to);
        }
    }
    commit_batch(never, &tn);
    commit_batch(often, &to);
    char why[256];
    cr_assert(map_equal(&tn.api, &to.api, why, sizeof why), "%s", why);
    tally_rollup_stats_t st;
    tally_rollup_stats(never, &st);
    cr_assert_gt(st.reporters_revived, 0, "the input should revive expired reporters");
    topics_free(&tn);
    topics_free(&to);
    tally_rollup_free(never);
    tally_rollup_free(often);
}

/* ---- change tracking ---------------------------------------------------- */

typedef struct {
    char keys[16][64];
    int n;
} key_list_t;

static int list_api(void *ctx, const tally_api_rollup_t *a)
{
    key_list_t *l = ctx;
    cr_assert_lt(l->n, 16);
    snprintf(l->keys[l->n++], 64, "%s|%s|%d=%" PRId64, a->tenant_id, a->environment_id, (int)a->day,
             a->api_calls);
    return 0;
}

static int stop_at_first(void *ctx, const tally_api_rollup_t *a)
{
    (void)ctx;
    (void)a;
    return 7;
}

Test(rollup, changes_are_listed_once_in_order_with_current_values)
{
    tally_rollup_t *r = new_state(&plain);
    key_list_t l = {.n = 0};

    apply(r, "t2", "e", "r1", 1, T0, 1);
    apply(r, "t1", "e", "r2", 1, T0, 2);
    apply(r, "t2", "e", "r1", 2, T0 + 10, 5);
    apply(r, "t2", "e", "r1", 3, T0 + TALLY_MS_PER_DAY, 6);
    apply(r, "t2", "e", "r1", 3, T0 + TALLY_MS_PER_DAY, 6); /* duplicate */
    cr_assert_eq(tally_rollup_each_changed_api(r, list_api, &l), 0);
    cr_assert_eq(l.n, 3);
    cr_assert_str_eq(l.keys[0], "t2|e|19844=5");
    cr_assert_str_eq(l.keys[1], "t1|e|19844=2");
    cr_assert_str_eq(l.keys[2], "t2|e|19845=1");
    cr_assert_eq(tally_rollup_each_changed_api(r, stop_at_first, NULL), 7);
    cr_assert_eq(pending_entries(r), 5); /* 2 reporters, 3 days */
    tally_rollup_stats_t st;
    tally_rollup_stats(r, &st);
    cr_assert_eq(st.changed_api, 3);
    cr_assert_eq(st.changed_entries, 5);

    tally_rollup_clear_changes(r);
    cr_assert_eq(pending_api(r), 0);
    cr_assert_eq(pending_entries(r), 0);
    /* A heartbeat with nothing new still moves updated_at: produced. */
    apply(r, "t1", "e", "r2", 2, T0 + 50, 2);
    cr_assert_eq(pending_api(r), 1);
    cr_assert_eq(pending_entries(r), 2);
    tally_rollup_clear_changes(r);
    /* An older heartbeat changes the reporter only. */
    apply(r, "t1", "e", "r2", 3, T0 + 40, 2);
    cr_assert_eq(pending_api(r), 0);
    cr_assert_eq(pending_entries(r), 1);
    tally_rollup_free(r);
}
