/*
 * errbuf.c: see errbuf.h.
 */
#include "errbuf.h"

#include <stdarg.h>
#include <stdio.h>

void tally_errbuf_set(char *errbuf, size_t errsize, const char *fmt, ...)
{
    va_list ap;

    if (errbuf == NULL || errsize == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, errsize, fmt, ap);
    va_end(ap);
}
