/* The fixture of the rollup suites (rollup_fixture.h). */
#include "rollup_fixture.h"

#include "changelog.h"

const tally_rollup_config_t plain = {.open_days = 35};

tally_rollup_report_t report(const char *tenant, const char *env, const char *reporter,
                             int64_t seq, int64_t at, int64_t calls, int64_t c4, int64_t c5,
                             int64_t ms)
{
    return (tally_rollup_report_t){tenant, env, reporter, seq, at, calls, c4, c5, ms};
}

tally_rollup_outcome_t apply(tally_rollup_t *r, const char *tenant, const char *env,
                             const char *reporter, int64_t seq, int64_t at, int64_t calls)
{
    tally_rollup_report_t u = report(tenant, env, reporter, seq, at, calls, calls / 10, calls / 20,
                                     calls * 3);
    return tally_rollup_apply_usage(r, &u);
}

int64_t calls_on(tally_rollup_t *r, const char *tenant, const char *env, int32_t day)
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

int pending_api(tally_rollup_t *r)
{
    int n = 0;
    cr_assert_eq(tally_rollup_each_changed_api(r, count_api, &n), 0);
    return n;
}

int pending_entries(tally_rollup_t *r)
{
    int n = 0;
    cr_assert_eq(tally_rollup_each_changed_entry(r, count_entry, &n), 0);
    return n;
}


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

void make_workload(workload_t *w, rng_t *g, size_t target, int days, bool glitches,
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
            /* index n + 1: what `d[n++] = (delivery_t){at, n, u}` stored with
             * gcc, an unsequenced read of n that clang refuses. */
            d[n] = (delivery_t){at, n + 1, u};
            n++;
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

void free_workload(workload_t *w)
{
    free(w->recs);
    free(w->tenants);
    free(w->envs);
    free(w->reporters);
    free(w->final_counts);
    free(w->reporter_tenant);
}
