/*
 * errbuf.h: the house's (errbuf, errsize) error reporting in one place.
 */
#ifndef TALLY_ERRBUF_H
#define TALLY_ERRBUF_H

#include <stddef.h>

/* Writes the formatted message into errbuf (NULL or size 0: nothing). */
void tally_errbuf_set(char *errbuf, size_t errsize, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
