/* fuzz_util.c: see fuzz_util.h. */
#include "fuzz_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void fuzz_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("fuzz: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

const char *fuzz_source_dir(void)
{
    const char *dir = getenv("TALLY_SOURCE_DIR");

    return dir != NULL && *dir != '\0' ? dir : TALLY_FUZZ_SOURCE_DIR;
}

#define MAX_CATALOGS 4

const tally_catalog_t *fuzz_catalog(const char *sub)
{
    /* Kept for the process's life: libFuzzer calls the harness millions
     * of times, the catalog is read-only. */
    static struct { const char *sub; tally_catalog_t *cat; } loaded[MAX_CATALOGS];
    char path[4096], err[1024] = "";
    size_t i;

    for (i = 0; i < MAX_CATALOGS && loaded[i].sub != NULL; i++)
        if (strcmp(loaded[i].sub, sub) == 0)
            return loaded[i].cat;
    if (i == MAX_CATALOGS)
        fuzz_fail("more than %d catalogs", MAX_CATALOGS);
    snprintf(path, sizeof path, "%s/%s", fuzz_source_dir(), sub);
    loaded[i].cat = tally_catalog_load(path, err, sizeof err);
    if (loaded[i].cat == NULL)
        fuzz_fail("cannot load the catalog %s: %s", path, err);
    loaded[i].sub = sub;
    return loaded[i].cat;
}

double fuzz_cpu_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}
