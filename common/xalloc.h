/*
 * xalloc.h: allocation that aborts with a message instead of returning
 * NULL: out-of-memory aborts instead of spreading NULL checks everywhere.
 * What they return is owned by the caller and freed with free().
 */
#ifndef TALLY_COMMON_XALLOC_H
#define TALLY_COMMON_XALLOC_H

#include <stddef.h>

/* calloc(n, size), never NULL (a zero size still gets a unique pointer). */
void *tally_xcalloc(size_t n, size_t size);

/* realloc(old, n * size), never NULL; aborts when n * size overflows. */
void *tally_xrealloc(void *old, size_t n, size_t size);

/* strdup(s) (s borrowed, not NULL), never NULL. */
char *tally_xstrdup(const char *s);

/* The first len bytes of s (borrowed; may hold NULs, which are copied) and
 * a NUL, never NULL. */
char *tally_xstrndup(const char *s, size_t len);

#endif /* TALLY_COMMON_XALLOC_H */
