/*
 * timeutil.c: days-from-civil arithmetic (Howard Hinnant's algorithms, which
 * work in 400-year eras so no loop or table is needed) and a strict,
 * hand-written RFC 3339 scanner over a length-bounded buffer.
 */
#include "timeutil.h"

#include <string.h>
#include <time.h>

#define MS_PER_MINUTE INT64_C(60000)
/* 2^40 days is about 3 billion years: far past any use, and far from
 * overflowing the era arithmetic below. */
#define CIVIL_DAYS_LIMIT (INT64_C(1) << 40)

const char *tally_time_strerror(int code)
{
    switch (code) {
    case 0: return "no error";
    case TALLY_TIME_ERR_SYNTAX:
        return "not in the form YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)";
    case TALLY_TIME_ERR_DATE: return "no such date (month or day out of range)";
    case TALLY_TIME_ERR_TIME: return "time of day out of range";
    case TALLY_TIME_ERR_ZONE: return "missing or malformed time zone offset (Z, +HH:MM or -HH:MM)";
    case TALLY_TIME_ERR_FRACTION: return "fraction of a second must have 1 to 9 digits";
    default: return "unknown time error";
    }
}

bool tally_is_leap_year(int64_t year)
{
    return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

unsigned tally_days_in_month(int64_t year, unsigned month)
{
    static const unsigned days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (month < 1 || month > 12)
        return 0;
    if (month == 2 && tally_is_leap_year(year))
        return 29;
    return days[month - 1];
}

int64_t tally_days_from_civil(int64_t year, unsigned month, unsigned day)
{
    int64_t y = year - (month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);                             /* [0, 399] */
    unsigned doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                 /* [0, 146096] */

    return era * 146097 + (int64_t)doe - 719468;
}

int tally_civil_from_days(int64_t days, int64_t *year, unsigned *month, unsigned *day)
{
    int64_t z, era;
    unsigned doe, yoe, doy, mp, m;

    if (days > CIVIL_DAYS_LIMIT || days < -CIVIL_DAYS_LIMIT)
        return -1;
    z = days + 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    m = mp < 10 ? mp + 3 : mp - 9;
    *day = doy - (153 * mp + 2) / 5 + 1;
    *month = m;
    *year = (int64_t)yoe + era * 400 + (m <= 2);
    return 0;
}

int64_t tally_utc_day(int64_t ms)
{
    int64_t q = ms / TALLY_MS_PER_DAY;

    return (ms % TALLY_MS_PER_DAY < 0) ? q - 1 : q;
}

/* Reads exactly n decimal digits at s[*pos..) into *out. */
static bool digits(const char *s, size_t len, size_t *pos, size_t n, unsigned *out)
{
    unsigned v = 0;

    if (len - *pos < n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[*pos + i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (unsigned)(c - '0');
    }
    *pos += n;
    *out = v;
    return true;
}

static bool expect(const char *s, size_t len, size_t *pos, char a, char b)
{
    if (*pos >= len || (s[*pos] != a && s[*pos] != b))
        return false;
    (*pos)++;
    return true;
}

/* "YYYY-MM-DD" at s[*pos..): checked, as days since 1970-01-01. */
static int scan_date(const char *s, size_t len, size_t *pos, int64_t *days)
{
    unsigned y, m, d;

    if (!digits(s, len, pos, 4, &y) || !expect(s, len, pos, '-', '-') ||
        !digits(s, len, pos, 2, &m) || !expect(s, len, pos, '-', '-') ||
        !digits(s, len, pos, 2, &d))
        return TALLY_TIME_ERR_SYNTAX;
    if (m < 1 || m > 12 || d < 1 || d > tally_days_in_month(y, m))
        return TALLY_TIME_ERR_DATE;
    *days = tally_days_from_civil(y, m, d);
    return 0;
}

int tally_date_parse(const char *s, size_t len, int64_t *days)
{
    size_t pos = 0;
    int64_t d;
    int rc;

    rc = scan_date(s, len, &pos, &d);
    if (rc != 0)
        return rc;
    if (pos != len)
        return TALLY_TIME_ERR_SYNTAX;
    *days = d;
    return 0;
}

/* "." 1*9DIGIT at s[*pos..), if there, truncated to milliseconds. */
static int scan_fraction(const char *s, size_t len, size_t *pos, unsigned *millis)
{
    size_t n = 0;
    unsigned v = 0;

    *millis = 0;
    if (*pos >= len || s[*pos] != '.')
        return 0;
    (*pos)++;
    while (*pos < len && s[*pos] >= '0' && s[*pos] <= '9') {
        if (n < 3)
            v = v * 10 + (unsigned)(s[*pos] - '0');
        n++;
        (*pos)++;
    }
    if (n == 0 || n > 9)
        return TALLY_TIME_ERR_FRACTION;
    for (size_t i = n; i < 3; i++)
        v *= 10;
    *millis = v;
    return 0;
}

/* "Z" or ("+"|"-") HH:MM at s[*pos..), as minutes east of UTC. */
static int scan_offset(const char *s, size_t len, size_t *pos, int *minutes)
{
    unsigned hh, mm;
    int sign;

    if (*pos >= len)
        return TALLY_TIME_ERR_ZONE;
    if (s[*pos] == 'Z' || s[*pos] == 'z') {
        (*pos)++;
        *minutes = 0;
        return 0;
    }
    if (s[*pos] != '+' && s[*pos] != '-')
        return TALLY_TIME_ERR_ZONE;
    sign = s[*pos] == '-' ? -1 : 1;
    (*pos)++;
    if (!digits(s, len, pos, 2, &hh) || !expect(s, len, pos, ':', ':') ||
        !digits(s, len, pos, 2, &mm) || hh > 23 || mm > 59)
        return TALLY_TIME_ERR_ZONE;
    *minutes = sign * (int)(hh * 60 + mm);
    return 0;
}

int tally_rfc3339_parse(const char *s, size_t len, int64_t *ms)
{
    size_t pos = 0;
    int64_t days, local;
    unsigned hh, mi, ss, millis;
    int offset, rc;

    rc = scan_date(s, len, &pos, &days);
    if (rc != 0)
        return rc;
    if (!expect(s, len, &pos, 'T', 't') || !digits(s, len, &pos, 2, &hh) ||
        !expect(s, len, &pos, ':', ':') || !digits(s, len, &pos, 2, &mi) ||
        !expect(s, len, &pos, ':', ':') || !digits(s, len, &pos, 2, &ss))
        return TALLY_TIME_ERR_SYNTAX;
    if (hh > 23 || mi > 59 || ss > 59)
        return TALLY_TIME_ERR_TIME;
    rc = scan_fraction(s, len, &pos, &millis);
    if (rc != 0)
        return rc;
    rc = scan_offset(s, len, &pos, &offset);
    if (rc != 0)
        return rc;
    if (pos != len)
        return TALLY_TIME_ERR_SYNTAX;
    local = days * TALLY_MS_PER_DAY + (int64_t)hh * 3600000 + (int64_t)mi * 60000 +
            (int64_t)ss * 1000 + millis;
    *ms = local - (int64_t)offset * MS_PER_MINUTE;
    return 0;
}

/* Writes v as exactly n decimal digits (v < 10^n) at p; returns p + n. */
static char *put_digits(char *p, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + n;
}

/* "YYYY-MM-DD" at p (a year in 0-9999); returns the end. */
static char *put_date(char *p, int64_t year, unsigned month, unsigned day)
{
    p = put_digits(p, (unsigned)year, 4);
    *p++ = '-';
    p = put_digits(p, month, 2);
    *p++ = '-';
    return put_digits(p, day, 2);
}

int tally_rfc3339_format(int64_t ms, char buf[TALLY_RFC3339_SIZE])
{
    int64_t days, rem, year;
    unsigned month, day;
    char *p;

    buf[0] = '\0';
    if (ms < TALLY_TIME_MIN_MS || ms > TALLY_TIME_MAX_MS)
        return -1;
    days = tally_utc_day(ms);
    rem = ms - days * TALLY_MS_PER_DAY;     /* [0, 86399999] */
    if (tally_civil_from_days(days, &year, &month, &day) != 0)
        return -1;
    p = put_date(buf, year, month, day);
    *p++ = 'T';
    p = put_digits(p, (unsigned)(rem / 3600000), 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)(rem / 60000 % 60), 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)(rem / 1000 % 60), 2);
    *p++ = '.';
    p = put_digits(p, (unsigned)(rem % 1000), 3);
    *p++ = 'Z';
    *p = '\0';
    return 0;
}

int tally_date_format(int64_t days, char buf[TALLY_DATE_SIZE])
{
    int64_t year;
    unsigned month, day;

    buf[0] = '\0';
    if (days < TALLY_DATE_MIN_DAYS || days > TALLY_DATE_MAX_DAYS)
        return -1;
    if (tally_civil_from_days(days, &year, &month, &day) != 0)
        return -1;
    *put_date(buf, year, month, day) = '\0';
    return 0;
}

long long tally_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tally_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}
