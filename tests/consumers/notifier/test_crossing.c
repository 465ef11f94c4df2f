/* Unit tests of consumers/notifier/crossing: the pure crossing rules of
 * crossing.h (thresholds reached and no longer reached, per series, with
 * deterministic alert ids), and the changelog value of its state. */
#include "crossing.h"
#include "timeutil.h"

#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static tally_alert_rules_t defaults(void)
{
    tally_alert_rules_t r = {.n = {3, 1, 1}, .percent = {{80, 100, 150}, {100}, {100}}};
    return r;
}

static int32_t D(int y, unsigned m, unsigned d)
{
    return (int32_t)tally_days_from_civil(y, m, d);
}

#define T "tenant-a"
#define AT 1765000000000LL

typedef struct {
    tally_crossing_t *c;
    tally_alert_list_t out;
} fx_t;

static fx_t fx_new(void)
{
    tally_alert_rules_t r = defaults();
    fx_t f = {tally_crossing_new(&r), {0}};
    return f;
}

static void fx_free(fx_t *f)
{
    tally_crossing_free(f->c);
    tally_alert_list_free(&f->out);
}

/* Contract 2026-12-01..2027-11-30 with these maxima. */
static void terms(fx_t *f, int64_t seats, int64_t monthly, int64_t nonprod, int64_t set_at)
{
    tally_crossing_terms(f->c, T, D(2026, 12, 1), D(2027, 11, 30), seats, monthly, nonprod, set_at, &f->out);
}

static void api(fx_t *f, const char *env, int32_t day, int64_t calls)
{
    tally_crossing_api_rollup(f->c, T, env, day, calls, AT, &f->out);
}

static void seats(fx_t *f, int32_t day, int64_t peak)
{
    tally_crossing_seat_rollup(f->c, T, day, peak, AT, &f->out);
}

/* Asserts the alerts since the last check, as "STATE threshold period
 * crossing_no" lines, then clears them. */
static void expect(fx_t *f, const char *const want[], size_t n)
{
    char got[4096] = "", exp[4096] = "", line[160];
    for (size_t i = 0; i < f->out.count; i++) {
        const tally_alert_t *a = &f->out.items[i];
        snprintf(line, sizeof line, "%s %s %d %s %u%s%s;", tally_alert_metric_name(a->metric),
                 tally_alert_state_name(a->state), a->threshold, a->period, a->crossing_no,
                 a->environment ? " " : "", a->environment ? a->environment : "");
        strcat(got, line);
    }
    for (size_t i = 0; i < n; i++) {
        strcat(exp, want[i]);
        strcat(exp, ";");
    }
    cr_assert_str_eq(got, exp);
    tally_alert_list_clear(&f->out);
}

#define EXPECT(f, ...)                                                              \
    do {                                                                            \
        const char *const w_[] = {__VA_ARGS__};                                     \
        expect(f, w_, sizeof w_ / sizeof w_[0]);                                    \
    } while (0)
#define EXPECT_NONE(f) expect(f, NULL, 0)

Test(crossing, seats_going_up_and_down_around_a_threshold)
{
    fx_t f = fx_new();
    terms(&f, 10, 1000000, 1000, 1);
    seats(&f, D(2026, 12, 3), 9);
    EXPECT_NONE(&f);
    seats(&f, D(2026, 12, 3), 10);
    EXPECT(&f, "SEATS_PEAK TRIGGERED 100 2026-12 1");
    seats(&f, D(2026, 12, 4), 11);   /* higher still: already reached */
    EXPECT_NONE(&f);
    seats(&f, D(2026, 12, 4), 8);    /* a late release lowers the 4th */
    EXPECT_NONE(&f);                 /* the 3rd still peaked at 10 */
    seats(&f, D(2026, 12, 3), 9);    /* and the 3rd too: under again */
    EXPECT(&f, "SEATS_PEAK RESOLVED 100 2026-12 1");
    seats(&f, D(2027, 1, 10), 10);   /* later in the same contract */
    EXPECT(&f, "SEATS_PEAK TRIGGERED 100 2026-12 2");
    fx_free(&f);
}

Test(crossing, several_thresholds_at_once_ascending_and_resolved_descending)
{
    fx_t f = fx_new();
    terms(&f, 10, 1000, 1000, 1);
    api(&f, "prod", D(2026, 12, 2), 1600);
    EXPECT(&f, "MONTHLY_API_CALLS TRIGGERED 80 2026-12 1", "MONTHLY_API_CALLS TRIGGERED 100 2026-12 1",
           "MONTHLY_API_CALLS TRIGGERED 150 2026-12 1");
    cr_assert_eq(f.out.count, 0);
    api(&f, "prod", D(2026, 12, 2), 500);   /* a correction */
    EXPECT(&f, "MONTHLY_API_CALLS RESOLVED 150 2026-12 1", "MONTHLY_API_CALLS RESOLVED 100 2026-12 1",
           "MONTHLY_API_CALLS RESOLVED 80 2026-12 1");
    fx_free(&f);
}

Test(crossing, the_monthly_value_sums_environments_and_days_and_reports_value_and_limit)
{
    fx_t f = fx_new();
    terms(&f, 10, 1000, 1000, 1);
    api(&f, "prod", D(2026, 12, 1), 500);
    api(&f, "staging", D(2026, 12, 1), 299);
    EXPECT_NONE(&f);
    api(&f, "staging", D(2026, 12, 1), 300);   /* a later total of the same day replaces it */
    EXPECT(&f, "MONTHLY_API_CALLS TRIGGERED 80 2026-12 1");
    api(&f, "prod", D(2026, 12, 2), 200);
    cr_assert_eq(f.out.count, 1);
    cr_assert_eq(f.out.items[0].value, 1000);
    cr_assert_eq(f.out.items[0].limit, 1000);
    cr_assert_eq(f.out.items[0].at, AT);
    cr_assert_str_eq(f.out.items[0].tenant, T);
    cr_assert_null(f.out.items[0].environment);
    EXPECT(&f, "MONTHLY_API_CALLS TRIGGERED 100 2026-12 1");
    fx_free(&f);
}

Test(crossing, a_period_change_starts_a_new_series)
{
    fx_t f = fx_new();
    terms(&f, 10, 1000, 1000, 1);
    api(&f, "prod", D(2026, 12, 31), 850);
    EXPECT(&f, "MONTHLY_API_CALLS TRIGGERED 80 2026-12 1");
    api(&f, "prod", D(2027, 1, 1), 100);
    EXPECT_NONE(&f);
    api(&f, "prod", D(2027, 1, 1), 800);
    EXPECT(&f, "MONTHLY_API_CALLS TRIGGERED 80 2027-01 1");
    /* A rollup outside every contract: no alert. */
    api(&f, "prod", D(2027, 12, 1), 5000);
    EXPECT_NONE(&f);
    fx_free(&f);
}

Test(crossing, terms_changed_mid_period_resolve_when_raised_and_trigger_when_lowered)
{
    fx_t f = fx_new();
    terms(&f, 10, 1000, 1000, 1);
    api(&f, "prod", D(2026, 12, 5), 1000);
    EXPECT(&f, "MONTHLY_API_CALLS TRIGGERED 80 2026-12 1", "MONTHLY_API_CALLS TRIGGERED 100 2026-12 1");
    terms(&f, 10, 2000, 1000, 0);   /* older than the terms in force: ignored */
    terms(&f, 10, 1000, 1000, 1);   /* the same again: nothing */
    EXPECT_NONE(&f);
    terms(&f, 10, 1200, 1000, 2);   /* raised: 1000 is 83 % */
    EXPECT(&f, "MONTHLY_API_CALLS RESOLVED 100 2026-12 1");
    cr_assert_eq(f.out.count, 0);
    terms(&f, 10, 2000, 1000, 3);   /* raised again: 50 % */
    EXPECT(&f, "MONTHLY_API_CALLS RESOLVED 80 2026-12 1");
    terms(&f, 10, 900, 1000, 4);    /* lowered: both again, new crossings */
    EXPECT(&f, "MONTHLY_API_CALLS TRIGGERED 80 2026-12 2", "MONTHLY_API_CALLS TRIGGERED 100 2026-12 2");
    /* No terms yet for another tenant: nothing, until they arrive. */
    tally_crossing_api_rollup(f.c, "tenant-b", "prod", D(2026, 12, 5), 5000, AT, &f.out);
    EXPECT_NONE(&f);
    tally_crossing_terms(f.c, "tenant-b", D(2026, 12, 1), D(2026, 12, 31), 1, 4000, 1, 9, &f.out);
    cr_assert_eq(f.out.count, 2);
    cr_assert_eq(f.out.items[0].at, 9, "a terms change alerts at its own time");
    tally_alert_list_clear(&f.out);
    fx_free(&f);
}

Test(crossing, duplicate_rollups_change_nothing_and_a_replay_gives_the_same_ids)
{
    char ids[2][8][37];
    size_t counts[2] = {0, 0};
    for (int run = 0; run < 2; run++) {
        fx_t f = fx_new();
        terms(&f, 3, 1000, 1000, 1);
        for (int k = 0; k < 3; k++)   /* every rollup three times */
            api(&f, "prod", D(2026, 12, 1), 900);
        for (int k = 0; k < 3; k++)
            seats(&f, D(2026, 12, 1), 4);
        for (int k = 0; k < 3; k++)
            seats(&f, D(2026, 12, 1), 2);
        for (int k = 0; k < 3; k++)
            seats(&f, D(2026, 12, 1), 3);
        cr_assert_eq(f.out.count, 4, "run %d: api 80 %%, then seats triggered, resolved, triggered: %zu", run,
                     f.out.count);
        for (size_t i = 0; i < f.out.count; i++)
            memcpy(ids[run][counts[run]++], f.out.items[i].alert_id, 37);
        fx_free(&f);
    }
    cr_assert_eq(counts[0], counts[1]);
    for (size_t i = 0; i < counts[0]; i++) {
        cr_assert_str_eq(ids[0][i], ids[1][i]);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(ids[0][i], ids[0][j], "alerts %zu and %zu share an id", i, j);
    }
}

Test(crossing, alert_ids_are_uuid_shaped_sha256_of_the_crossing)
{
    fx_t f = fx_new();
    terms(&f, 10, 1000, 1000, 1);
    api(&f, "prod", D(2026, 12, 1), 800);
    cr_assert_eq(f.out.count, 1);
    const char *s = "tenant-a|MONTHLY_API_CALLS||2026-12|80|TRIGGERED|1";
    unsigned char d[32];
    crypto_hash_sha256(d, (const unsigned char *)s, strlen(s));
    char want[37];
    snprintf(want, sizeof want, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", d[0], d[1],
             d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15]);
    cr_assert_str_eq(f.out.items[0].alert_id, want);
    fx_free(&f);
}

Test(crossing, limit_zero_is_reached_by_any_use)
{
    fx_t f = fx_new();
    terms(&f, 0, 0, 0, 1);
    api(&f, "prod", D(2026, 12, 1), 0);
    seats(&f, D(2026, 12, 1), 0);
    EXPECT_NONE(&f);
    api(&f, "prod", D(2026, 12, 1), 1);
    EXPECT(&f, "MONTHLY_API_CALLS TRIGGERED 80 2026-12 1", "MONTHLY_API_CALLS TRIGGERED 100 2026-12 1",
           "MONTHLY_API_CALLS TRIGGERED 150 2026-12 1");
    seats(&f, D(2026, 12, 1), 1);
    EXPECT(&f, "SEATS_PEAK TRIGGERED 100 2026-12 1");
    fx_free(&f);
}

Test(crossing, huge_values_and_limits_compare_exactly_without_overflow)
{
    fx_t f = fx_new();
    terms(&f, INT64_MAX, INT64_MAX, INT64_MAX, 1);
    api(&f, "prod", D(2026, 12, 1), INT64_MAX / 5 * 4 - 1);   /* just under 80 % */
    EXPECT_NONE(&f);
    api(&f, "prod", D(2026, 12, 1), INT64_MAX);
    EXPECT(&f, "MONTHLY_API_CALLS TRIGGERED 80 2026-12 1", "MONTHLY_API_CALLS TRIGGERED 100 2026-12 1");
    api(&f, "staging", D(2026, 12, 1), INT64_MAX);   /* the sum saturates: still not 150 % */
    EXPECT_NONE(&f);
    seats(&f, D(2026, 12, 1), INT64_MAX - 1);
    EXPECT_NONE(&f);
    fx_free(&f);
}

Test(crossing, nonprod_daily_cap_per_known_nonproduction_environment_and_day)
{
    fx_t f = fx_new();
    terms(&f, 10, 1000000, 100, 1);
    tally_crossing_environment(f.c, T, "prod", false, 1, &f.out);
    api(&f, "prod", D(2026, 12, 1), 500);   /* production: no daily cap */
    api(&f, "dev", D(2026, 12, 1), 500);    /* kind unknown yet: not checked */
    EXPECT_NONE(&f);
    tally_crossing_environment(f.c, T, "dev", true, 2, &f.out);
    EXPECT(&f, "NONPROD_DAILY_API_CALLS TRIGGERED 100 2026-12-01 1 dev");
    api(&f, "dev", D(2026, 12, 2), 99);
    EXPECT_NONE(&f);
    api(&f, "dev", D(2026, 12, 2), 100);
    EXPECT(&f, "NONPROD_DAILY_API_CALLS TRIGGERED 100 2026-12-02 1 dev");
    /* The id made production later: no cap any more; the older record
     * read again changes nothing. */
    tally_crossing_environment(f.c, T, "dev", false, 9, &f.out);
    EXPECT_NONE(&f);   /* series of a production env are not evaluated: nothing resolves */
    tally_crossing_environment(f.c, T, "dev", true, 2, &f.out);
    api(&f, "dev", D(2026, 12, 3), 500);
    EXPECT_NONE(&f);
    fx_free(&f);
}

Test(crossing, a_tenants_rules_replace_the_defaults_and_empty_means_none)
{
    fx_t f = fx_new();
    terms(&f, 10, 1000, 1000, 1);
    tally_alert_rules_t r = {.n = {1, 0, 0}, .percent = {{50}}};
    tally_crossing_rules(f.c, T, &r, 5, &f.out);
    api(&f, "prod", D(2026, 12, 1), 600);
    seats(&f, D(2026, 12, 1), 50);
    EXPECT(&f, "MONTHLY_API_CALLS TRIGGERED 50 2026-12 1");
    r.n[0] = 2;
    r.percent[0][1] = 60;
    tally_crossing_rules(f.c, T, &r, 6, &f.out);   /* a new threshold already reached */
    EXPECT(&f, "MONTHLY_API_CALLS TRIGGERED 60 2026-12 1");
    tally_alert_rules_t old = {.n = {1, 0, 0}, .percent = {{10}}};
    tally_crossing_rules(f.c, T, &old, 4, &f.out);   /* older than the rules in force: ignored */
    EXPECT_NONE(&f);
    memset(&r, 0, sizeof r);
    tally_crossing_rules(f.c, T, &r, 7, &f.out);
    api(&f, "prod", D(2026, 12, 1), 5000);
    EXPECT_NONE(&f);
    fx_free(&f);
}

Test(crossing, months_before_the_previous_are_dropped_and_late_rollups_for_them_ignored)
{
    fx_t f = fx_new();
    terms(&f, 10, 1000, 1000, 1);
    api(&f, "prod", D(2026, 12, 1), 800);
    EXPECT(&f, "MONTHLY_API_CALLS TRIGGERED 80 2026-12 1");
    api(&f, "prod", D(2027, 2, 1), 1);   /* December is now two months back */
    api(&f, "prod", D(2026, 12, 1), 5000);
    EXPECT_NONE(&f);
    fx_free(&f);
}

/* ---- persistence ----------------------------------------------------------- */

typedef struct {
    char tenant[8][32];
    char *value[8];
    size_t len[8], n;
} saved_t;

static int save(void *arg, const char *tenant, const void *value, size_t len)
{
    saved_t *s = arg;
    cr_assert(s->n < 8);
    snprintf(s->tenant[s->n], sizeof s->tenant[0], "%s", tenant);
    s->value[s->n] = value ? strndup(value, len) : NULL;
    s->len[s->n++] = len;
    return 0;
}

static void saved_free(saved_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->value[i]);
    s->n = 0;
}

Test(crossing, a_restored_state_goes_on_exactly_as_the_uninterrupted_one)
{
    fx_t a = fx_new(), b = fx_new();
    terms(&a, 10, 1000, 100, 1);
    tally_crossing_environment(a.c, T, "dev", true, 1, &a.out);
    api(&a, "dev", D(2026, 12, 1), 850);
    seats(&a, D(2026, 12, 2), 10);
    seats(&a, D(2026, 12, 2), 9);
    tally_alert_list_clear(&a.out);

    saved_t s = {0};
    cr_assert_eq(tally_crossing_flush(a.c, save, &s), 0);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(tally_crossing_flush(a.c, save, &s), 0);
    cr_assert_eq(s.n, 1, "a clean tenant is not written again");

    /* b: terms and environments from the Control Panel topic, then the state. */
    terms(&b, 10, 1000, 100, 1);
    tally_crossing_environment(b.c, T, "dev", true, 1, &b.out);
    tally_alert_list_clear(&b.out);
    char err[256];
    cr_assert_eq(tally_crossing_restore(b.c, T, s.value[0], s.len[0], err, sizeof err), 0, "%s", err);
    tally_crossing_evaluate_all(b.c, AT, &b.out);
    EXPECT_NONE(&b);   /* nothing new: the restored series know what they reached */

    fx_t *both[2] = {&a, &b};
    for (int i = 0; i < 2; i++) {
        api(both[i], "dev", D(2026, 12, 1), 1000);
        seats(both[i], D(2026, 12, 3), 12);
        api(both[i], "dev", D(2026, 12, 1), 10);
    }
    cr_assert_eq(a.out.count, b.out.count);
    for (size_t i = 0; i < a.out.count; i++)
        cr_assert_str_eq(a.out.items[i].alert_id, b.out.items[i].alert_id);
    EXPECT(&b, "MONTHLY_API_CALLS TRIGGERED 100 2026-12 1", "SEATS_PEAK TRIGGERED 100 2026-12 2",
           "MONTHLY_API_CALLS RESOLVED 100 2026-12 1", "MONTHLY_API_CALLS RESOLVED 80 2026-12 1",
           "NONPROD_DAILY_API_CALLS RESOLVED 100 2026-12-01 1 dev");
    saved_free(&s);
    fx_free(&a);
    fx_free(&b);
}

Test(crossing, a_malformed_state_value_is_refused_and_changes_nothing)
{
    fx_t f = fx_new();
    terms(&f, 10, 1000, 1000, 1);
    api(&f, "prod", D(2026, 12, 1), 800);
    tally_alert_list_clear(&f.out);
    char err[256];
    const char *bad[] = {"", "v2 1\n", "v1 x\n", "v1 20000\na 1 2\n", "v1 20000\nz\n",
                         "v1 20000\na 1 -5 4 prod\n", "v1 20000\na 1 5 9 prod\n",
                         "v1 20000\nx 7 1 2026-12 0 -1\n", "v1 20000\nx 1 1 2026-12 0 -1\n",
                         "v1 20000\nx 0 1 2026-12 1 80 2 1 -1\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        cr_assert_eq(tally_crossing_restore(f.c, T, bad[i], strlen(bad[i]), err, sizeof err), -1, "case %zu", i);
        cr_assert(strstr(err, T) != NULL, "case %zu: %s", i, err);
    }
    api(&f, "prod", D(2026, 12, 1), 800);
    EXPECT_NONE(&f);   /* the state is intact: 80 % still known as reached */
    /* A tombstone removes the state. */
    cr_assert_eq(tally_crossing_restore(f.c, T, NULL, 0, err, sizeof err), 0);
    api(&f, "prod", D(2026, 12, 1), 800);
    EXPECT(&f, "MONTHLY_API_CALLS TRIGGERED 80 2026-12 1");
    fx_free(&f);
}

Test(crossing, percent_lists_parse_and_refuse_what_the_rules_refuse)
{
    int p[TALLY_CROSSING_RULES_MAX];
    size_t n;
    char err[256];
    cr_assert_eq(tally_alert_percents_parse("80,100,150", p, &n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, 3);
    cr_assert_eq(p[2], 150);
    cr_assert_eq(tally_alert_percents_parse("", p, &n, err, sizeof err), 0);
    cr_assert_eq(n, 0);
    const char *bad[] = {"100,80", "80,80", "0", "1001", "x", "80,", "1,2,3,4,5,6,7,8,9", "80;100"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(tally_alert_percents_parse(bad[i], p, &n, err, sizeof err), -1, "%s", bad[i]);
}
