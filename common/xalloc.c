#include "xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void out_of_memory(size_t n, size_t size)
{
    fprintf(stderr, "tally: out of memory (%zu x %zu bytes)\n", n, size);
    abort();
}

void *tally_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        out_of_memory(n, size);
    return p;
}

void *tally_xrealloc(void *old, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        out_of_memory(n, size);
    size_t bytes = n * size;
    void *p = realloc(old, bytes ? bytes : 1);
    if (p == NULL)
        out_of_memory(n, size);
    return p;
}

char *tally_xstrdup(const char *s)
{
    size_t len = strlen(s) + 1;
    char *p = malloc(len);
    if (p == NULL)
        out_of_memory(1, len);
    return memcpy(p, s, len);
}

char *tally_xstrndup(const char *s, size_t len)
{
    char *p = tally_xcalloc(len + 1, 1);
    memcpy(p, s, len);
    return p;
}
