/* Unit tests of aggregator/rollup: usage reports (duplicates, stale seqs,
 * reporter restarts, UTC day boundaries, counter decreases, late reports,
 * expiry), change tracking, the changelog round trip, idempotence, and a
 * 100,000-report randomized run with aborted transactions, crashes and
 * sweeps, checked against a separate model of the documented rules and
 * against totals that need no model at all. Seat events are in
 * test_rollup_seats.c. */
#include "rollup_harness.h"

#include "changelog.h"

TestSuite(rollup);

static const tally_rollup_config_t plain = {.open_days = 35};

static tally_rollup_report_t report(const char *tenant, const char *env, const char *reporter,
                                    int64_t seq, int64_t at, int64_t calls, int64_t c4, int64_t c5,
                                    int64_t ms)
{
    return (tally_rollup_report_t){tenant, env, reporter, seq, at, calls, c4, c5, ms};
}

static tally_rollup_outcome_t apply(tally_rollup_t *r, const char *tenant, const char *env,
                                    const char *reporter, int64_t seq, int64_t at, int64_t calls)
{
    tally_rollup_report_t u = report(tenant, env, reporter, seq, at, calls, calls / 10, calls / 20,
                                     calls * 3);
    return tally_rollup_apply_usage(r, &u);
}

static int64_t calls_on(tally_rollup_t *r, const char *tenant, const char *env, int32_t day)
{
    tally_api_rollup_t a;
    return tally_rollup_get_api(r, tenant, env, day, &a) ? a.api_calls : -1;
}

static int count_api(void *ctx, const tally_api_rollup_t *a)
{
    (void)a;
    (*(int *)ctx)++;
    return 0;
}

static int count_entry(void *ctx, const tally_changelog_record_t *rec)
{
    (void)rec;
    (*(int *)ctx)++;
    return 0;
}

static int pending_api(tally_rollup_t *r)
{
    int n = 0;
    cr_assert_eq(tally_rollup_each_changed_api(r, count_api, &n), 0);
    return n;
}

static int pending_entries(tally_rollup_t *r)
{
    int n = 0;
    cr_assert_eq(tally_rollup_each_changed_entry(r, count_entry, &n), 0);
    return n;
}

static const int64_t T0 = INT64_C(1714521600000); /* 2024-05-01T00:00:00Z */
static const int32_t D0 = 19844;                  /* its day */

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

/* ---- a generated workload ----------------------------------------------- */

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

typedef struct {
    int64_t arrival;
    size_t index;
    tally_rollup_report_t rec;
} delivery_t;

static int by_arrival(const void *a, const void *b)
{
    const delivery_t *x = a, *y = b;
    if (x->arrival != y->arrival)
        return x->arrival < y->arrival ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* glitches: let some reports carry lower counters; late_share_per_mille:
 * deliveries delayed by up to 60 h. */
static void make_workload(workload_t *w, rng_t *g, size_t target, int days, bool glitches,
                          int late_per_mille)
{
    enum { TENANTS = 25, ENVS = 2 };
    size_t cap = target + target / 8 + 64;
    delivery_t *d = calloc(cap, sizeof *d);
    cr_assert(d);
    w->tenants = calloc(TENANTS, sizeof *w->tenants);
    w->envs = calloc(ENVS, sizeof *w->envs);
    w->n_reporters = target / 150 + 1;
    w->reporters = calloc(w->n_reporters, sizeof *w->reporters);
    w->final_counts = calloc(w->n_reporters, sizeof *w->final_counts);
    w->reporter_tenant = calloc(w->n_reporters, sizeof *w->reporter_tenant);
    cr_assert(w->tenants && w->envs && w->reporters && w->final_counts && w->reporter_tenant);
    for (int i = 0; i < TENANTS; i++)
        snprintf(w->tenants[i], 16, "tenant-%02d", i);
    snprintf(w->envs[0], 16, "production");
    snprintf(w->envs[1], 16, "staging");

    size_t n = 0;
    for (size_t rep = 0; rep < w->n_reporters && n < target; rep++) {
        snprintf(w->reporters[rep], 40, "%08x-0000-4000-8000-%012x", (unsigned)rng_next(g),
                 (unsigned)rep);
        int tenant = (int)rng_below(g, TENANTS), env = (int)rng_below(g, ENVS);
        w->reporter_tenant[rep] = tenant;
        int64_t at = T0 + (int64_t)rng_below(g, (uint64_t)days * TALLY_MS_PER_DAY);
        int64_t every = rng_range(g, 1, 15) * MS_MIN, c[4] = {0, 0, 0, 0}, seq = 0;
        size_t count = 100 + rng_below(g, 100);
        for (size_t k = 0; k < count && n < target; k++) {
            int64_t inc = rng_range(g, 0, 60);
            c[0] += inc;
            c[1] += rng_range(g, 0, inc / 4);
            c[2] += rng_range(g, 0, inc / 8);
            c[3] += inc * rng_range(g, 1, 40);
            seq += rng_below(g, 8) ? 1 : rng_range(g, 2, 5);
            at += every;
            if (rng_below(g, 40) == 0)
                at += rng_range(g, 1, 10) * MS_HOUR; /* a silence */
            tally_rollup_report_t u = {w->tenants[tenant], w->envs[env], w->reporters[rep], seq, at,
                                       c[0], c[1], c[2], c[3]};
            if (glitches && rng_below(g, 100) == 0)
                u.api_calls = rng_range(g, 0, c[0]); /* a glitch; the next is normal */
            d[n++] = (delivery_t){at, n, u};
            w->final_counts[rep] = c[0];
        }
    }
    /* Duplicates and delays. */
    size_t base = n;
    for (size_t i = 0; i < base; i++) {
        uint64_t roll = rng_below(g, 1000);
        if (roll < (uint64_t)late_per_mille)
            d[i].arrival += rng_range(g, 2, 60) * MS_HOUR;
        else if (roll < 100)
            d[i].arrival += rng_range(g, 0, 2 * MS_HOUR);
        else
            d[i].arrival += rng_range(g, 0, 5000);
        if (rng_below(g, 20) == 0 && n < cap) {
            d[n] = d[i];
            d[n].index = n;
            d[n].arrival += rng_below(g, 2) ? rng_range(g, 0, 30000) : rng_range(g, 0, MS_HOUR);
            n++;
        }
    }
    qsort(d, n, sizeof *d, by_arrival);
    w->recs = calloc(n, sizeof *w->recs);
    cr_assert(w->recs);
    for (size_t i = 0; i < n; i++)
        w->recs[i] = d[i].rec;
    w->n = n;
    free(d);
}

static void free_workload(workload_t *w)
{
    free(w->recs);
    free(w->tenants);
    free(w->envs);
    free(w->reporters);
    free(w->final_counts);
    free(w->reporter_tenant);
}

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

/* ---- idempotence and the changelog round trip --------------------------- */

Test(rollup, applying_the_input_twice_equals_once)
{
    rng_t g = {5};
    workload_t w;
    make_workload(&w, &g, 20000, 5, true, 5);
    tally_rollup_config_t cfg = {.open_days = 3};
    tally_rollup_t *once = new_state(&cfg), *twice = new_state(&cfg);

    for (size_t i = 0; i < w.n; i++) {
        tally_rollup_apply_usage(once, &w.recs[i]);
        tally_rollup_apply_usage(twice, &w.recs[i]);
    }
    tally_rollup_clear_changes(twice);
    for (size_t i = 0; i < w.n; i++) {
        tally_rollup_outcome_t o = tally_rollup_apply_usage(twice, &w.recs[i]);
        cr_assert_neq(o, TALLY_ROLLUP_APPLIED, "record %zu applied twice", i);
    }
    cr_assert_eq(pending_api(twice), 0);
    cr_assert_eq(pending_entries(twice), 0);
    assert_same_state(once, twice, "twice");
    tally_rollup_free(once);
    tally_rollup_free(twice);
    free_workload(&w);
}

Test(rollup, changelog_round_trip_restores_state_and_behaviour)
{
    rng_t g = {11};
    workload_t w;
    make_workload(&w, &g, 20000, 6, true, 5);
    tally_rollup_config_t cfg = {.open_days = 2, .reporter_idle_ms = 3 * MS_HOUR};
    tally_rollup_t *r = new_state(&cfg);
    size_t half = w.n / 2;

    for (size_t i = 0; i < half; i++)
        tally_rollup_apply_usage(r, &w.recs[i]);
    tally_rollup_expire(r, 0);
    topics_t t;
    topics_init(&t);
    commit_batch(r, &t);

    /* The changelog written batch by batch equals the state's snapshot. */
    state_dump_t d;
    dump_state(r, &d);
    char why[256];
    cr_assert(map_equal(&d.entries, &t.changelog, why, sizeof why), "%s", why);
    dump_free(&d);

    tally_rollup_t *back = restore_state(&cfg, &t.changelog);
    assert_same_state(r, back, "restored");
    tally_rollup_stats_t a, b;
    tally_rollup_stats(r, &a);
    tally_rollup_stats(back, &b);
    cr_assert_eq(a.reporters, b.reporters);
    cr_assert_eq(a.api_rollups, b.api_rollups);
    cr_assert_eq(b.changed_entries, 0, "restoring changes nothing");

    for (size_t i = half; i < w.n; i++)
        cr_assert_eq(tally_rollup_apply_usage(r, &w.recs[i]), tally_rollup_apply_usage(back, &w.recs[i]),
                     "record %zu", i);
    assert_same_state(r, back, "after the second half");
    tally_rollup_free(back);
    tally_rollup_free(r);
    topics_free(&t);
    free_workload(&w);
}

Test(rollup, restore_refuses_garbage_and_a_used_state)
{
    tally_rollup_t *r = new_state(&plain);
    char err[256];
    unsigned char key[] = {'R', 1, 't', 1, 'e', 1, 'r'};
    unsigned char bad_version[] = {9, 0, 0, 0, 0, 0, 0};
    tally_changelog_record_t rec = {key, sizeof key, bad_version, sizeof bad_version};

    cr_assert_eq(tally_rollup_restore(r, &rec, err, sizeof err), -1);
    cr_assert(strstr(err, "version"), "%s", err);
    tally_rollup_free(r);

    r = new_state(&plain);
    apply(r, "t", "e", "r", 1, T0, 1);
    unsigned char ok[] = {1, 2, 2, 0, 0, 0, 0};
    rec = (tally_changelog_record_t){key, sizeof key, ok, sizeof ok};
    cr_assert_eq(tally_rollup_restore(r, &rec, err, sizeof err), -1);
    cr_assert(strstr(err, "in use"), "%s", err);
    tally_rollup_free(r);

    /* A reporter entry with a time outside years 0-9999. */
    r = new_state(&plain);
    unsigned char far[] = {1, 2, 2, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    rec = (tally_changelog_record_t){key, sizeof key, far, sizeof far};
    cr_assert_eq(tally_rollup_restore(r, &rec, err, sizeof err), -1);
    cr_assert(strstr(err, "time"), "%s", err);
    tally_rollup_free(r);
}

static int restore_one(void *ctx, const tally_changelog_record_t *rec)
{
    char err[256];
    cr_assert_eq(tally_rollup_restore(ctx, rec, err, sizeof err), 0, "%s", err);
    return 0;
}

Test(rollup, restore_replaces_and_removes_by_key)
{
    /* An uncompacted changelog: every version of each key, oldest first,
     * then a tombstone. */
    tally_rollup_t *src = new_state(&plain), *r = new_state(&plain);
    tally_changelog_buf_t key = {0};
    char err[256];

    apply(src, "t", "e", "r", 1, T0, 10);
    cr_assert_eq(tally_rollup_each_changed_entry(src, restore_one, r), 0);
    tally_rollup_clear_changes(src);
    apply(src, "t", "e", "r", 2, T0 + 1, 25);
    apply(src, "t", "e", "r2", 1, T0, 1);
    cr_assert_eq(tally_rollup_each_changed_entry(src, restore_one, r), 0);
    tally_rollup_clear_changes(src);
    tally_changelog_key_reporter(&key, "t", 1, "e", 1, "r2", 2);
    tally_changelog_record_t tomb = {key.data, key.len, NULL, 0};
    cr_assert_eq(tally_rollup_restore(r, &tomb, err, sizeof err), 0, "%s", err);
    tally_rollup_restore_done(r);

    cr_assert_eq(calls_on(r, "t", "e", D0), 26);
    cr_assert_eq(apply(r, "t", "e", "r", 2, T0 + 1, 25), TALLY_ROLLUP_DUPLICATE);
    cr_assert_eq(apply(r, "t", "e", "r2", 1, T0, 1), TALLY_ROLLUP_APPLIED); /* removed: new again */
    cr_assert_eq(calls_on(r, "t", "e", D0), 27);
    tally_changelog_buf_free(&key);
    tally_rollup_free(r);
    tally_rollup_free(src);
}
