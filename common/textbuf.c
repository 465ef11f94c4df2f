#include "textbuf.h"

#include "xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tally_textbuf_free(tally_textbuf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void tally_textbuf_reserve(tally_textbuf_t *b, size_t n)
{
    if (b->len + n + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
        cap *= 2;
    b->data = tally_xrealloc(b->data, cap, 1);
    b->cap = cap;
}

void tally_textbuf_truncate(tally_textbuf_t *b, size_t len)
{
    if (b->data == NULL || len > b->len)
        return;
    b->len = len;
    b->data[len] = '\0';
}

void tally_textbuf_append(tally_textbuf_t *b, const void *s, size_t n)
{
    tally_textbuf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void tally_textbuf_puts(tally_textbuf_t *b, const char *s)
{
    tally_textbuf_append(b, s, strlen(s));
}

void tally_textbuf_putc(tally_textbuf_t *b, char c)
{
    tally_textbuf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void tally_textbuf_printf(tally_textbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    tally_textbuf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void tally_textbuf_put_i64(tally_textbuf_t *b, int64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    /* Negate in unsigned arithmetic so INT64_MIN does not overflow. */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    tally_textbuf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}
