/*
 * timeutil.h: UTC calendar arithmetic and RFC 3339 timestamps, by hand.
 *
 * Nothing here reads the locale, the TZ variable or the system time zone
 * database, and nothing allocates: the same text gives the same instant on
 * every host. Instants are milliseconds since 1970-01-01T00:00:00Z (the
 * Avro "timestamp-millis" logical type); days are days since 1970-01-01
 * (the Avro "date" logical type). Both are negative before 1970; days are
 * proleptic Gregorian.
 *
 * Accepted RFC 3339 text (section 5.6, "date-time"), and nothing else:
 *
 *     YYYY-MM-DD "T" HH:MM:SS [ "." 1*9DIGIT ] ( "Z" | ("+"|"-") HH:MM )
 *
 * "T" and "Z" may be lower case (RFC 3339 allows it); the space separator
 * some producers use is rejected. Years 0000-9999, months 01-12, days up to
 * the month's length (leap years by the Gregorian rule), hours 00-23,
 * minutes 00-59, seconds 00-59: leap seconds (:60) are rejected because
 * epoch milliseconds cannot represent them. A fraction is truncated (not
 * rounded) to milliseconds. "-00:00" means UTC. Any byte more or less is a
 * syntax error; nothing is skipped or guessed.
 */
#ifndef TALLY_TIMEUTIL_H
#define TALLY_TIMEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TALLY_MS_PER_DAY INT64_C(86400000)

/* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the instants
 * tally_rfc3339_format can write. */
#define TALLY_TIME_MIN_MS INT64_C(-62167219200000)
#define TALLY_TIME_MAX_MS INT64_C(253402300799999)
/* The same range in days: 0000-01-01 and 9999-12-31. */
#define TALLY_DATE_MIN_DAYS INT64_C(-719528)
#define TALLY_DATE_MAX_DAYS INT64_C(2932896)

/* Buffer sizes for the formatters ("2024-05-01T12:34:56.789Z" is 24 bytes,
 * "2024-05-01" 10, plus NUL, with room to spare). */
#define TALLY_RFC3339_SIZE 32
#define TALLY_DATE_SIZE 16

/* Parse errors (negative); tally_time_strerror describes each. */
enum {
    TALLY_TIME_ERR_SYNTAX = -1,   /* not the shape above */
    TALLY_TIME_ERR_DATE = -2,     /* month or day out of range (2024-02-30, month 13) */
    TALLY_TIME_ERR_TIME = -3,     /* hour, minute or second out of range (24:00:01) */
    TALLY_TIME_ERR_ZONE = -4,     /* time zone offset missing or malformed */
    TALLY_TIME_ERR_FRACTION = -5, /* fraction empty or longer than 9 digits */
};

/* A static, value-free description of a TALLY_TIME_ERR_* code, e.g. "no
 * such date (month or day out of range)". */
const char *tally_time_strerror(int code);

/* Whether year (proleptic Gregorian) is a leap year. */
bool tally_is_leap_year(int64_t year);

/* Days in month (1-12) of year; 0 for a month out of range. */
unsigned tally_days_in_month(int64_t year, unsigned month);

/* Days since 1970-01-01 of year-month-day. Exact for |year| <= 1000000000;
 * month 1-12 and day 1-31 are not checked (day 31 of a 30-day month is the
 * first of the next month). */
int64_t tally_days_from_civil(int64_t year, unsigned month, unsigned day);

/* The inverse: year, month (1-12) and day (1-31) of days since 1970-01-01.
 * Exact for |days| <= 2^40; outside that, returns -1 and leaves the outputs
 * alone. */
int tally_civil_from_days(int64_t days, int64_t *year, unsigned *month, unsigned *day)
    __attribute__((warn_unused_result));

/* Milliseconds of CLOCK_MONOTONIC: for durations and deadlines, never
 * dates. */
long long tally_mono_ms(void);

/* Sleeps ms milliseconds (a signal may cut it short: callers loop on a
 * condition). */
void tally_sleep_ms(int ms);

/* The UTC day (days since 1970-01-01) holding instant ms: floor division,
 * so -1 ms is day -1 (1969-12-31). */
int64_t tally_utc_day(int64_t ms);

/* Parses the RFC 3339 date-time s[0..len) (borrowed; need not be
 * NUL-terminated; no byte past len is read) into *ms. Returns 0, or a
 * TALLY_TIME_ERR_* code and leaves *ms alone. The result may lie a day
 * outside [TALLY_TIME_MIN_MS, TALLY_TIME_MAX_MS] through the offset;
 * callers that need a narrower range check it. */
int tally_rfc3339_parse(const char *s, size_t len, int64_t *ms)
    __attribute__((warn_unused_result));

/* Writes ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" (always UTC, always three
 * fraction digits, 24 bytes and a NUL) into buf. Returns 0, or -1 with buf
 * set to "" when ms is outside [TALLY_TIME_MIN_MS, TALLY_TIME_MAX_MS]. */
int tally_rfc3339_format(int64_t ms, char buf[TALLY_RFC3339_SIZE])
    __attribute__((warn_unused_result));

/* Parses the full-date "YYYY-MM-DD" s[0..len) (borrowed) into days since
 * 1970-01-01. Returns 0, or TALLY_TIME_ERR_SYNTAX / TALLY_TIME_ERR_DATE and
 * leaves *days alone. */
int tally_date_parse(const char *s, size_t len, int64_t *days)
    __attribute__((warn_unused_result));

/* Writes days as "YYYY-MM-DD" into buf. Returns 0, or -1 with buf set to ""
 * when days is outside [TALLY_DATE_MIN_DAYS, TALLY_DATE_MAX_DAYS]. */
int tally_date_format(int64_t days, char buf[TALLY_DATE_SIZE])
    __attribute__((warn_unused_result));

#endif /* TALLY_TIMEUTIL_H */
