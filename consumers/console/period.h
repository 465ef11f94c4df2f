/*
 * period.h: the ?period=YYYY-MM of the console's pages. Pure: no I/O, no
 * clock (the request's now is passed in).
 *
 * A period is one calendar month (UTC days). Accepted: exactly "YYYY-MM"
 * (7 bytes, month 01-12), and only the month holding now or one of the
 * TALLY_PERIOD_MONTHS_BACK (13) months before it, the same rule as the
 * server's params.h; a month in the future, an older one or anything else
 * is refused with a reason for a 400. A missing (NULL) or empty period is
 * the month holding now. Every query of a page is bounded by the month.
 */
#ifndef TALLY_CONSOLE_PERIOD_H
#define TALLY_CONSOLE_PERIOD_H

#include <stddef.h>
#include <stdint.h>

#define TALLY_PERIOD_MONTHS_BACK 13
#define TALLY_PERIOD_SIZE 8   /* "YYYY-MM" and NUL */

typedef struct tally_period_t {
    int64_t first_day;   /* days since 1970-01-01 of the month's first day */
    int64_t last_day;    /* its last day (28 to 31 days later, inclusive) */
    int64_t year;
    unsigned month;      /* 1-12 */
    char text[TALLY_PERIOD_SIZE];   /* "YYYY-MM" */
} tally_period_t;

/* Parses text (borrowed; NULL or "" for the current month) against now_ms
 * into *out. Returns 0, or -1 with a reason in errbuf (out untouched). */
int tally_period_parse(const char *text, int64_t now_ms, tally_period_t *out, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* The month holding day (days since 1970-01-01) into *out. Returns 0, or
 * -1 when day is outside the years 0000-9999. */
int tally_period_of_day(int64_t day, tally_period_t *out) __attribute__((warn_unused_result));

#endif
