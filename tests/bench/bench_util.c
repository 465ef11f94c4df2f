#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *bench_program = "bench";

const char *bench_opt_arg(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=')
            return argv[i] + n + 1;
    return NULL;
}

const char *bench_arg(int argc, char **argv, const char *name)
{
    const char *v = bench_opt_arg(argc, argv, name);
    if (v == NULL) {
        fprintf(stderr, "%s: missing %s=...\n", bench_program, name);
        exit(2);
    }
    return v;
}

double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bench_die(const char *what, const char *why)
{
    fprintf(stderr, "%s: %s: %s\n", bench_program, what, why);
    exit(1);
}
