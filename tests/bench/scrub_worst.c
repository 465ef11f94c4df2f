/*
 * scrub_worst: the scrubber's worst case on hostile text (issue 12 item 1),
 * for tests/bench/anonymizer.sh. Scrubs every 64 KiB text of
 * tests/consumers/anonymizer/scrub_hostile.h (near misses of each rule's
 * example, and the hand-written ones) --reps times, each after a 2 ms
 * sleep, and prints the slowest text's best wall time (that text in
 * what=), the highest best CPU time of a text (the figure other processes
 * on a shared machine disturb least) and the slowest single scrub:
 *
 *   worst_ms=0.91 worst_cpu_ms=0.85 worst_single_ms=9.80 texts=198 reps=5 what=...
 *
 * Usage: bench_scrub_worst [--reps=5]
 */
#include "bench_util.h"
#include "scrub.h"
#include "scrub_hostile.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static tally_scrub_t *sc;

static double cpu_now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The best wall time (CLOCK_MONOTONIC) of reps scrubs of text, its best
 * CPU time in *cpu, the worst wall time so far in *worst. */
static double best_of(const char *text, size_t len, int reps, double *cpu, double *worst)
{
    double best = 1e9;
    *cpu = 1e9;
    for (int r = 0; r < reps; r++) {
        const char *out;
        size_t out_len;
        nanosleep(&(struct timespec){0, 2000000}, NULL);   /* then the scheduler runs us first */
        double t0 = bench_now_s(), c0 = cpu_now_s();
        tally_scrub_text(sc, text, len, &out, &out_len, NULL);
        double s = bench_now_s() - t0, c = cpu_now_s() - c0;
        best = s < best ? s : best;
        *cpu = c < *cpu ? c : *cpu;
        *worst = s > *worst ? s : *worst;
    }
    return best;
}

int main(int argc, char **argv)
{
    char err[256], desc[96], what[200] = "", cur[200];
    const char *reps_arg = bench_opt_arg(argc, argv, "--reps");
    int reps = reps_arg ? atoi(reps_arg) : 5;
    double worst_best = 0, worst_single = 0, worst_cpu = 0;
    size_t texts = 0;
    bench_program = "bench_scrub_worst";
    if (reps < 1)
        bench_die("--reps", "must be at least 1");
    if ((sc = tally_scrub_new(err, sizeof err)) == NULL)
        bench_die("scrubber", err);
    char *text = malloc(SCRUB_HOSTILE_SIZE + 1);
    if (text == NULL)
        bench_die("malloc", "out of memory");
    size_t n = tally_scrub_rule_count() * SCRUB_HOSTILE_VARIANTS + SCRUB_HOSTILE_BY_HAND;
    for (size_t t = 0; t < n; t++) {
        size_t len;
        if (t < SCRUB_HOSTILE_BY_HAND) {
            const scrub_hostile_t *h = &scrub_hostile_by_hand[t];
            len = scrub_hostile_fill(h, text);
            snprintf(cur, sizeof cur, "%s: \"%s\"+\"%s\"... \"%s\" inside", h->kind, h->head, h->unit, h->mid);
        } else {
            size_t i = (t - SCRUB_HOSTILE_BY_HAND) / SCRUB_HOSTILE_VARIANTS;
            int v = (int)((t - SCRUB_HOSTILE_BY_HAND) % SCRUB_HOSTILE_VARIANTS);
            len = scrub_hostile_derive(tally_scrub_rule_example(i), v, text, desc, sizeof desc);
            snprintf(cur, sizeof cur, "%s rule %zu's example, %s", tally_scrub_kind_name(tally_scrub_rule_kind(i)),
                     i, desc);
        }
        double cpu, b = best_of(text, len, reps, &cpu, &worst_single);
        texts++;
        worst_cpu = cpu > worst_cpu ? cpu : worst_cpu;
        if (b > worst_best) {
            worst_best = b;
            snprintf(what, sizeof what, "%s", cur);
        }
    }
    printf("worst_ms=%.2f worst_cpu_ms=%.2f worst_single_ms=%.2f texts=%zu reps=%d what=%s\n", worst_best * 1e3,
           worst_cpu * 1e3, worst_single * 1e3, texts, reps, what);
    free(text);
    tally_scrub_free(sc);
    return 0;
}
