/*
 * bench_util.h: what the benchmark programs share: their --name=value
 * arguments, a stopwatch and dying with a message (a benchmark has no
 * error to recover from).
 */
#ifndef TALLY_BENCH_UTIL_H
#define TALLY_BENCH_UTIL_H

/* The program's name in messages (set once by main, borrowed). */
extern const char *bench_program;

/* The value of --name=value in argv (borrowed), or NULL. */
const char *bench_opt_arg(int argc, char **argv, const char *name);

/* The same, required: exits 2 with a message when missing. */
const char *bench_arg(int argc, char **argv, const char *name);

/* Seconds of CLOCK_MONOTONIC. */
double bench_now_s(void);

/* Prints "<program>: what: why" and exits 1. */
void bench_die(const char *what, const char *why) __attribute__((noreturn));

#endif /* TALLY_BENCH_UTIL_H */
