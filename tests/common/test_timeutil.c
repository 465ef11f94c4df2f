/* Unit tests of common/timeutil: civil-day arithmetic over the whole
 * supported range, RFC 3339 parsing (every accepted shape and every way to
 * be wrong, each with its error code) and formatting, and round trips over
 * many instants, offsets and fractions. Expected instants were computed
 * independently (Python's datetime). */
#include "timeutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(timeutil);

/* Parses s from a heap copy of exactly strlen(s) bytes with no NUL after
 * it, so AddressSanitizer catches any read past the length. */
static int parse(const char *s, int64_t *ms)
{
    size_t len = strlen(s);
    char *copy = malloc(len ? len : 1);
    int rc;

    cr_assert(copy != NULL);
    memcpy(copy, s, len);
    rc = tally_rfc3339_parse(copy, len, ms);
    free(copy);
    return rc;
}

static int parse_date(const char *s, int64_t *days)
{
    size_t len = strlen(s);
    char *copy = malloc(len ? len : 1);
    int rc;

    cr_assert(copy != NULL);
    memcpy(copy, s, len);
    rc = tally_date_parse(copy, len, days);
    free(copy);
    return rc;
}

Test(timeutil, leap_years_and_month_lengths)
{
    cr_assert(tally_is_leap_year(2024));
    cr_assert(tally_is_leap_year(2000));
    cr_assert(tally_is_leap_year(0));
    cr_assert(!tally_is_leap_year(1900));
    cr_assert(!tally_is_leap_year(2100));
    cr_assert(!tally_is_leap_year(2023));
    cr_assert_eq(tally_days_in_month(2024, 2), 29);
    cr_assert_eq(tally_days_in_month(2023, 2), 28);
    cr_assert_eq(tally_days_in_month(1900, 2), 28);
    cr_assert_eq(tally_days_in_month(2000, 2), 29);
    cr_assert_eq(tally_days_in_month(2024, 4), 30);
    cr_assert_eq(tally_days_in_month(2024, 12), 31);
    cr_assert_eq(tally_days_in_month(2024, 0), 0);
    cr_assert_eq(tally_days_in_month(2024, 13), 0);
}

Test(timeutil, days_from_civil_known_days)
{
    cr_assert_eq(tally_days_from_civil(1970, 1, 1), 0);
    cr_assert_eq(tally_days_from_civil(1969, 12, 31), -1);
    cr_assert_eq(tally_days_from_civil(2024, 2, 29), 19782);
    cr_assert_eq(tally_days_from_civil(2000, 3, 1), 11017);
    cr_assert_eq(tally_days_from_civil(1900, 2, 28), -25509);
    cr_assert_eq(tally_days_from_civil(2100, 3, 1), 47541);
    cr_assert_eq(tally_days_from_civil(1, 1, 1), -719162);
    cr_assert_eq(tally_days_from_civil(0, 1, 1), TALLY_DATE_MIN_DAYS);
    cr_assert_eq(tally_days_from_civil(9999, 12, 31), TALLY_DATE_MAX_DAYS);
}

/* Every day from 0000-01-01 to 9999-12-31 (and a margin): the inverse is
 * exact and consecutive days step through the calendar one day at a time. */
Test(timeutil, civil_from_days_inverts_over_whole_range)
{
    int64_t y0, y;
    unsigned m0, d0, m, d;

    cr_assert_eq(tally_civil_from_days(TALLY_DATE_MIN_DAYS - 1000, &y0, &m0, &d0), 0);
    for (int64_t days = TALLY_DATE_MIN_DAYS - 999; days <= TALLY_DATE_MAX_DAYS + 1000; days++) {
        cr_assert_eq(tally_civil_from_days(days, &y, &m, &d), 0);
        if (tally_days_from_civil(y, m, d) != days)
            cr_assert_fail("day %lld does not round-trip", (long long)days);
        if (d == d0 + 1 && m == m0 && y == y0) {
            /* next day of the same month */
        } else if (!(d == 1 && d0 == tally_days_in_month(y0, m0) &&
                     ((m == m0 + 1 && y == y0) || (m == 1 && m0 == 12 && y == y0 + 1)))) {
            cr_assert_fail("day %lld: %lld-%u-%u does not follow %lld-%u-%u", (long long)days,
                           (long long)y, m, d, (long long)y0, m0, d0);
        }
        y0 = y;
        m0 = m;
        d0 = d;
    }
    cr_assert_eq(tally_civil_from_days(INT64_C(1) << 41, &y, &m, &d), -1);
    cr_assert_eq(tally_civil_from_days(-(INT64_C(1) << 41), &y, &m, &d), -1);
}

Test(timeutil, utc_day_floors)
{
    cr_assert_eq(tally_utc_day(0), 0);
    cr_assert_eq(tally_utc_day(86399999), 0);
    cr_assert_eq(tally_utc_day(86400000), 1);
    cr_assert_eq(tally_utc_day(-1), -1);
    cr_assert_eq(tally_utc_day(-86400000), -1);
    cr_assert_eq(tally_utc_day(-86400001), -2);
    cr_assert_eq(tally_utc_day(1714566896000), 19844);
}

static const struct {
    const char *text;
    int64_t ms;
} good[] = {
    {"1970-01-01T00:00:00Z", 0},
    {"1970-01-01T00:00:00.001Z", 1},
    {"1969-12-31T23:59:59.999Z", -1},
    {"2024-05-01T12:34:56Z", INT64_C(1714566896000)},
    {"2024-05-01t12:34:56z", INT64_C(1714566896000)},
    {"2024-05-01T12:34:56-00:00", INT64_C(1714566896000)},
    {"2024-05-01T14:34:56+02:00", INT64_C(1714566896000)},
    {"2024-05-01T12:34:56.789+02:00", INT64_C(1714559696789)},
    {"2024-05-01T12:34:56.7+02:00", INT64_C(1714559696700)},
    {"2024-05-01T12:34:56.78+02:00", INT64_C(1714559696780)},
    {"2024-05-01T12:34:56.789999999+02:00", INT64_C(1714559696789)},
    {"2024-05-01T12:34:56.000000001Z", INT64_C(1714566896000)},
    {"2024-02-29T23:59:59.999-05:30", INT64_C(1709270999999)},
    {"2024-12-31T23:59:59.999-14:00", INT64_C(1735739999999)},
    {"2000-01-01T00:00:00+23:59", INT64_C(946598460000)},
    {"1900-03-01T00:00:00Z", INT64_C(-2203891200000)},
    {"2038-01-19T03:14:08Z", INT64_C(2147483648000)},
    {"0000-01-01T00:00:00Z", TALLY_TIME_MIN_MS},
    {"9999-12-31T23:59:59.999Z", TALLY_TIME_MAX_MS},
};

Test(timeutil, parses_valid_timestamps)
{
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t ms = 42;
        int rc = parse(good[i].text, &ms);

        cr_assert_eq(rc, 0, "%s: %s", good[i].text, tally_time_strerror(rc));
        cr_assert_eq(ms, good[i].ms, "%s: got %lld", good[i].text, (long long)ms);
    }
}

static const struct {
    const char *text;
    int code;
} bad[] = {
    {"2024-02-30T00:00:00Z", TALLY_TIME_ERR_DATE},
    {"2023-02-29T00:00:00Z", TALLY_TIME_ERR_DATE},
    {"1900-02-29T00:00:00Z", TALLY_TIME_ERR_DATE},
    {"2024-13-01T00:00:00Z", TALLY_TIME_ERR_DATE},
    {"2024-00-10T00:00:00Z", TALLY_TIME_ERR_DATE},
    {"2024-04-31T00:00:00Z", TALLY_TIME_ERR_DATE},
    {"2024-05-00T00:00:00Z", TALLY_TIME_ERR_DATE},
    {"2024-05-32T00:00:00Z", TALLY_TIME_ERR_DATE},
    {"2024-05-01T24:00:01Z", TALLY_TIME_ERR_TIME},
    {"2024-05-01T24:00:00Z", TALLY_TIME_ERR_TIME},
    {"2024-05-01T12:60:00Z", TALLY_TIME_ERR_TIME},
    {"2016-12-31T23:59:60Z", TALLY_TIME_ERR_TIME},
    {"2024-05-01T12:00:00", TALLY_TIME_ERR_ZONE},
    {"2024-05-01T12:00:00.123", TALLY_TIME_ERR_ZONE},
    {"2024-05-01T12:00:00+0200", TALLY_TIME_ERR_ZONE},
    {"2024-05-01T12:00:00+2:00", TALLY_TIME_ERR_ZONE},
    {"2024-05-01T12:00:00+24:00", TALLY_TIME_ERR_ZONE},
    {"2024-05-01T12:00:00+02:60", TALLY_TIME_ERR_ZONE},
    {"2024-05-01T12:00:00+02", TALLY_TIME_ERR_ZONE},
    {"2024-05-01T12:00:00 UTC", TALLY_TIME_ERR_ZONE},
    {"2024-05-01T12:00:00EST", TALLY_TIME_ERR_ZONE},
    {"2024-05-01T12:00:00.Z", TALLY_TIME_ERR_FRACTION},
    {"2024-05-01T12:00:00.1234567890Z", TALLY_TIME_ERR_FRACTION},
    {"2024-05-01 12:00:00Z", TALLY_TIME_ERR_SYNTAX},
    {"2024-05-01T12:00Z", TALLY_TIME_ERR_SYNTAX},
    {"2024-05-01", TALLY_TIME_ERR_SYNTAX},
    {"2024-5-01T12:00:00Z", TALLY_TIME_ERR_SYNTAX},
    {"24-05-01T12:00:00Z", TALLY_TIME_ERR_SYNTAX},
    {"+2024-05-01T12:00:00Z", TALLY_TIME_ERR_SYNTAX},
    {"12024-05-01T12:00:00Z", TALLY_TIME_ERR_SYNTAX},
    {"2024/05/01T12:00:00Z", TALLY_TIME_ERR_SYNTAX},
    {"2024-05-01T12:00:00ZZ", TALLY_TIME_ERR_SYNTAX},
    {"2024-05-01T12:00:00Z ", TALLY_TIME_ERR_SYNTAX},
    {" 2024-05-01T12:00:00Z", TALLY_TIME_ERR_SYNTAX},
    {"2024-05-01T12:00:00+02:00x", TALLY_TIME_ERR_SYNTAX},
    {"2024-05-01T1a:00:00Z", TALLY_TIME_ERR_SYNTAX},
    {"\xef\xbc\x92\xef\xbc\x90\xef\xbc\x92\xef\xbc\x94-05-01T12:00:00Z", TALLY_TIME_ERR_SYNTAX},
    {"garbage", TALLY_TIME_ERR_SYNTAX},
    {"", TALLY_TIME_ERR_SYNTAX},
    {"1714566896000", TALLY_TIME_ERR_SYNTAX},
};

Test(timeutil, rejects_bad_timestamps_with_the_right_code)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 42;
        int rc = parse(bad[i].text, &ms);

        cr_assert_eq(rc, bad[i].code, "\"%s\": got %d (%s), expected %d", bad[i].text, rc,
                     tally_time_strerror(rc), bad[i].code);
        cr_assert_eq(ms, 42, "\"%s\" changed the output", bad[i].text);
    }
}

Test(timeutil, parse_reads_only_len_bytes)
{
    const char *s = "2024-05-01T12:34:56Z-trailing";
    int64_t ms;

    cr_assert_eq(tally_rfc3339_parse(s, 20, &ms), 0);
    cr_assert_eq(ms, INT64_C(1714566896000));
    cr_assert_eq(tally_rfc3339_parse(s, 19, &ms), TALLY_TIME_ERR_ZONE);
    cr_assert_eq(tally_rfc3339_parse(s, 21, &ms), TALLY_TIME_ERR_SYNTAX);
    /* A prefix of every length of a full timestamp is rejected, never read
     * past (the heap copy has no terminator). */
    for (size_t n = 0; n < strlen(good[7].text); n++) {
        char *copy = malloc(n ? n : 1);
        cr_assert(copy != NULL);
        memcpy(copy, good[7].text, n);
        cr_assert_neq(tally_rfc3339_parse(copy, n, &ms), 0, "prefix of %zu bytes accepted", n);
        free(copy);
    }
}

Test(timeutil, error_descriptions_are_distinct)
{
    const int codes[] = {TALLY_TIME_ERR_SYNTAX, TALLY_TIME_ERR_DATE, TALLY_TIME_ERR_TIME,
                         TALLY_TIME_ERR_ZONE, TALLY_TIME_ERR_FRACTION};

    for (size_t i = 0; i < 5; i++) {
        cr_assert(strlen(tally_time_strerror(codes[i])) > 0);
        for (size_t k = 0; k < i; k++)
            cr_assert_str_neq(tally_time_strerror(codes[i]), tally_time_strerror(codes[k]));
    }
    cr_assert_str_eq(tally_time_strerror(-99), "unknown time error");
}

Test(timeutil, formats_known_instants)
{
    char buf[TALLY_RFC3339_SIZE];

    cr_assert_eq(tally_rfc3339_format(0, buf), 0);
    cr_assert_str_eq(buf, "1970-01-01T00:00:00.000Z");
    cr_assert_eq(tally_rfc3339_format(-1, buf), 0);
    cr_assert_str_eq(buf, "1969-12-31T23:59:59.999Z");
    cr_assert_eq(tally_rfc3339_format(INT64_C(1714559696789), buf), 0);
    cr_assert_str_eq(buf, "2024-05-01T10:34:56.789Z");
    cr_assert_eq(tally_rfc3339_format(INT64_C(1709270999999), buf), 0);
    cr_assert_str_eq(buf, "2024-03-01T05:29:59.999Z");
    cr_assert_eq(tally_rfc3339_format(TALLY_TIME_MIN_MS, buf), 0);
    cr_assert_str_eq(buf, "0000-01-01T00:00:00.000Z");
    cr_assert_eq(tally_rfc3339_format(TALLY_TIME_MAX_MS, buf), 0);
    cr_assert_str_eq(buf, "9999-12-31T23:59:59.999Z");
    cr_assert_eq(tally_rfc3339_format(TALLY_TIME_MAX_MS + 1, buf), -1);
    cr_assert_str_eq(buf, "");
    cr_assert_eq(tally_rfc3339_format(TALLY_TIME_MIN_MS - 1, buf), -1);
    cr_assert_eq(tally_rfc3339_format(INT64_MIN, buf), -1);
    cr_assert_eq(tally_rfc3339_format(INT64_MAX, buf), -1);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t next_random(void)
{
    /* xorshift64*: reproducible, no libc rand state. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

/* Instants across the whole range (and near 1970, leap days, month and
 * year ends): format then parse gives the same instant; written with any
 * offset and any number of fraction digits, too. */
Test(timeutil, round_trips_many_instants_offsets_and_fractions)
{
    const int64_t span = TALLY_TIME_MAX_MS - TALLY_TIME_MIN_MS + 1;
    char buf[TALLY_RFC3339_SIZE], text[64];

    for (int i = 0; i < 200000; i++) {
        int64_t ms, back = 0, local, off_min;
        unsigned h, mi;
        char zone[8];

        switch (i % 4) {
        case 0: ms = TALLY_TIME_MIN_MS + (int64_t)(next_random() % (uint64_t)span); break;
        case 1: ms = (int64_t)(next_random() % (UINT64_C(4) * 86400000 * 366)) -
                     INT64_C(2) * 86400000 * 366; break; /* around 1970 */
        case 2: ms = tally_days_from_civil(1972 + 4 * (int64_t)(next_random() % 2000), 2, 29) *
                     TALLY_MS_PER_DAY + (int64_t)(next_random() % 86400000); break;
        default: ms = tally_days_from_civil((int64_t)(next_random() % 10000), 1, 1) *
                      TALLY_MS_PER_DAY - 1 + (int64_t)(next_random() % 3); break;
        }
        if (ms < TALLY_TIME_MIN_MS || ms > TALLY_TIME_MAX_MS)
            continue;
        cr_assert_eq(tally_rfc3339_format(ms, buf), 0);
        cr_assert_eq(strlen(buf), 24);
        cr_assert_eq(parse(buf, &back), 0, "%s", buf);
        cr_assert_eq(back, ms, "%s: %lld != %lld", buf, (long long)back, (long long)ms);

        /* The same instant as local time at a random offset. */
        off_min = (int64_t)(next_random() % (2 * 1439 + 1)) - 1439;
        local = ms + off_min * 60000;
        if (tally_rfc3339_format(local, buf) != 0)
            continue;
        h = (unsigned)(off_min < 0 ? -off_min : off_min) / 60;
        mi = (unsigned)(off_min < 0 ? -off_min : off_min) % 60;
        snprintf(zone, sizeof zone, "%c%02u:%02u", off_min < 0 ? '-' : '+', h, mi);
        /* "YYYY-MM-DDTHH:MM:SS" + ".mmm" + some extra digits (truncated) + zone */
        snprintf(text, sizeof text, "%.23s%.*s%s", buf, (int)(next_random() % 7),
                 "987654", zone);
        cr_assert_eq(parse(text, &back), 0, "%s", text);
        cr_assert_eq(back, ms, "%s: %lld != %lld", text, (long long)back, (long long)ms);
    }
}

Test(timeutil, dates_parse_and_format)
{
    char buf[TALLY_DATE_SIZE];
    int64_t days = 42;

    cr_assert_eq(parse_date("1970-01-01", &days), 0);
    cr_assert_eq(days, 0);
    cr_assert_eq(parse_date("2024-02-29", &days), 0);
    cr_assert_eq(days, 19782);
    cr_assert_eq(parse_date("0001-01-01", &days), 0);
    cr_assert_eq(days, -719162);
    cr_assert_eq(tally_date_format(19782, buf), 0);
    cr_assert_str_eq(buf, "2024-02-29");
    cr_assert_eq(tally_date_format(-1, buf), 0);
    cr_assert_str_eq(buf, "1969-12-31");
    cr_assert_eq(tally_date_format(TALLY_DATE_MAX_DAYS, buf), 0);
    cr_assert_str_eq(buf, "9999-12-31");
    cr_assert_eq(tally_date_format(TALLY_DATE_MAX_DAYS + 1, buf), -1);
    cr_assert_str_eq(buf, "");
    cr_assert_eq(tally_date_format(TALLY_DATE_MIN_DAYS - 1, buf), -1);

    days = 42;
    cr_assert_eq(parse_date("2024-02-30", &days), TALLY_TIME_ERR_DATE);
    cr_assert_eq(parse_date("2023-02-29", &days), TALLY_TIME_ERR_DATE);
    cr_assert_eq(parse_date("2024-13-01", &days), TALLY_TIME_ERR_DATE);
    cr_assert_eq(parse_date("2024-2-03", &days), TALLY_TIME_ERR_SYNTAX);
    cr_assert_eq(parse_date("2024-02-03T", &days), TALLY_TIME_ERR_SYNTAX);
    cr_assert_eq(parse_date("2024-02-03T00:00:00Z", &days), TALLY_TIME_ERR_SYNTAX);
    cr_assert_eq(parse_date("20240203", &days), TALLY_TIME_ERR_SYNTAX);
    cr_assert_eq(parse_date("", &days), TALLY_TIME_ERR_SYNTAX);
    cr_assert_eq(days, 42);

    for (int64_t d = TALLY_DATE_MIN_DAYS; d <= TALLY_DATE_MAX_DAYS; d += 97) {
        int64_t back = 0;
        cr_assert_eq(tally_date_format(d, buf), 0);
        cr_assert_eq(parse_date(buf, &back), 0, "%s", buf);
        cr_assert_eq(back, d, "%s", buf);
    }
}
