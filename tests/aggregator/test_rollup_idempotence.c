/* Unit tests of aggregator/rollup: applying the input twice equals once,
 * and the changelog round trip restores the state and its behaviour,
 * refuses garbage and replaces and removes by key. */
#include "rollup_fixture.h"

#include "changelog.h"

TestSuite(rollup);

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
