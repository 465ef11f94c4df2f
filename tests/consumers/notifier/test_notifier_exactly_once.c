/* tally-notifier exactly once under kill -9: a stream of rising rollups
 * for many tenants is produced in chunks while the notifier is killed
 * (SIGKILL) mid-stream after each chunk but the last, and restarted; the
 * kills are counted from the exit statuses and asserted. Then tally.alerts,
 * read back read_committed, holds exactly the expected alerts, each once,
 * with the ids the pure crossing module computes for the same final
 * values. */
#include "crossing.h"
#include "notifier_fixture.h"

#include <signal.h>
#include <unistd.h>

TestSuite(notifier_exactly_once, .timeout = 600);

#define TENANTS 24
#define DAYS 5
#define ENVS 2
#define STEPS 4
#define KILLS 5

static const char *const envs[ENVS] = {"prod", "staging"};
/* Final monthly totals by tenant % 4 against 1000 a month: none, 80 %,
 * 80 and 100 %, all three. */
static const int64_t finals[4] = {500, 850, 1200, 1600};

static int64_t seat_final(int t)
{
    return t % 3 == 0 ? 12 : 8;   /* against 10 seats */
}

Test(notifier_exactly_once, exactly_the_expected_alerts_each_once_through_kill_9)
{
    nf_env_t e;
    nf_env_init(&e, "notifier-eo");
    char tenant[TENANTS][32];
    int32_t d0 = nf_day(2026, 12, 1);
    for (int t = 0; t < TENANTS; t++) {
        snprintf(tenant[t], sizeof tenant[t], "tenant-%02d", t);
        nf_terms(&e, tenant[t], d0, nf_day(2027, 11, 30), 10, 1000, 100, 1000);
    }
    nf_flush(&e);

    /* The stream, in STEPS rounds of rising cumulative values, each round
     * cut into chunks: records per chunk ~ total / (KILLS + 1). */
    size_t total = (size_t)STEPS * TENANTS * (DAYS * ENVS + DAYS), sent = 0;
    size_t chunk = total / (KILLS + 1) + 1;
    tally_test_proc_t *p = nf_spawn(&e, "nf-eo");
    int kills = 0, killed_status = 0;
    srand((unsigned)getpid());
    for (int k = 1; k <= STEPS; k++)
        for (int t = 0; t < TENANTS; t++)
            for (int d = 0; d < DAYS; d++) {
                for (int v = 0; v < ENVS; v++)
                    nf_api_rollup(&e, tenant[t], envs[v], d0 + d, finals[t % 4] / (DAYS * ENVS) * k / STEPS);
                nf_seat_rollup(&e, tenant[t], d0 + d, seat_final(t) * k / STEPS);
                sent += ENVS + 1;
                if (sent / chunk > (size_t)kills && kills < KILLS) {
                    nf_flush(&e);
                    usleep((useconds_t)(50 + rand() % 400) * 1000);   /* while the chunk is processed */
                    cr_assert_eq(tally_test_signal(p, SIGKILL), 0);
                    int st = tally_test_wait(p, 30000);
                    killed_status += st == 128 + SIGKILL;
                    kills++;
                    tally_test_proc_free(p);
                    p = nf_spawn(&e, "nf-eo");
                }
            }
    nf_flush(&e);
    cr_assert_eq(sent, total);
    cr_assert_eq(kills, KILLS, "%d kills", kills);
    cr_assert_eq(killed_status, KILLS, "each kill ended the process by SIGKILL (%d of %d)", killed_status, KILLS);

    /* What the pure module says the final values cross, with their ids. */
    tally_alert_rules_t rules = {.n = {3, 1, 1}, .percent = {{80, 100, 150}, {100}, {100}}};
    tally_crossing_t *model = tally_crossing_new(&rules);
    tally_alert_list_t want = {0};
    for (int t = 0; t < TENANTS; t++) {
        tally_crossing_terms(model, tenant[t], d0, nf_day(2027, 11, 30), 10, 1000, 100, 1000, &want);
        for (int d = 0; d < DAYS; d++) {
            for (int v = 0; v < ENVS; v++)
                tally_crossing_api_rollup(model, tenant[t], envs[v], d0 + d, finals[t % 4] / (DAYS * ENVS), 0, &want);
            tally_crossing_seat_rollup(model, tenant[t], d0 + d, seat_final(t), 0, &want);
        }
    }
    /* 0 + 1 + 2 + 3 monthly alerts per four tenants, one seat alert per three. */
    size_t expected = (size_t)TENANTS / 4 * 6 + (size_t)(TENANTS + 2) / 3;
    cr_assert_eq(want.count, expected, "the model gives %zu alerts, want %zu", want.count, expected);

    nf_alert_t *a;
    size_t n = nf_read_alerts(&e, expected, 5000, 180000, &a);
    cr_assert_eq(tally_test_signal(p, SIGTERM), 0);
    cr_assert_eq(tally_test_wait(p, 60000), 0, "%s", tally_test_log(p));
    tally_test_proc_free(p);
    free(a);
    /* Everything, now that no transaction can be open. */
    n = nf_read_alerts(&e, expected + 1, 3000, 60000, &a);
    fprintf(stderr, "notifier exactly-once: %zu rollups, %d kills (SIGKILL), %zu alerts read, %zu expected\n", total,
            kills, n, expected);
    cr_assert_eq(n, expected, "%zu alerts in tally.alerts, want %zu", n, expected);
    for (size_t i = 0; i < want.count; i++) {
        const tally_alert_t *w = &want.items[i];
        int seen = 0;
        for (size_t j = 0; j < n; j++)
            if (strcmp(a[j].id, w->alert_id) == 0) {
                seen++;
                cr_assert_str_eq(a[j].tenant, w->tenant);
                cr_assert_str_eq(a[j].metric, tally_alert_metric_name(w->metric));
                cr_assert_eq(a[j].threshold, w->threshold);
                cr_assert_str_eq(a[j].state, "TRIGGERED");
            }
        cr_assert_eq(seen, 1, "%s %s %d: %d times", w->tenant, tally_alert_metric_name(w->metric), w->threshold,
                     seen);
    }
    free(a);
    tally_alert_list_free(&want);
    tally_crossing_free(model);
    nf_env_free(&e);
}
