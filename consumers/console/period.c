/* period.c: ?period=YYYY-MM (period.h states the rules). */
#include "period.h"

#include <stdio.h>
#include <string.h>

#include "timeutil.h"

int tally_period_of_day(int64_t day, tally_period_t *out)
{
    int64_t y;
    unsigned m, d;
    if (day < TALLY_DATE_MIN_DAYS || day > TALLY_DATE_MAX_DAYS || tally_civil_from_days(day, &y, &m, &d) != 0)
        return -1;
    out->year = y;
    out->month = m;
    out->first_day = tally_days_from_civil(y, m, 1);
    out->last_day = out->first_day + (int64_t)tally_days_in_month(y, m) - 1;
    snprintf(out->text, sizeof out->text, "%04d-%02u", (int)y, m);
    return 0;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int tally_period_parse(const char *text, int64_t now_ms, tally_period_t *out, char *errbuf, size_t errsize)
{
    tally_period_t now;
    if (tally_period_of_day(tally_utc_day(now_ms), &now) != 0) {
        snprintf(errbuf, errsize, "the clock is outside the years 0000-9999");
        return -1;
    }
    if (text == NULL || text[0] == '\0') {
        *out = now;
        return 0;
    }
    if (strlen(text) != 7 || !is_digit(text[0]) || !is_digit(text[1]) || !is_digit(text[2]) || !is_digit(text[3]) ||
        text[4] != '-' || !is_digit(text[5]) || !is_digit(text[6])) {
        snprintf(errbuf, errsize, "period must be YYYY-MM");
        return -1;
    }
    int64_t year = (text[0] - '0') * 1000 + (text[1] - '0') * 100 + (text[2] - '0') * 10 + (text[3] - '0');
    unsigned month = (unsigned)((text[5] - '0') * 10 + (text[6] - '0'));
    if (month < 1 || month > 12) {
        snprintf(errbuf, errsize, "period must be YYYY-MM with a month from 01 to 12");
        return -1;
    }
    int64_t back = (now.year - year) * 12 + (int64_t)now.month - (int64_t)month;
    if (back < 0) {
        snprintf(errbuf, errsize, "period is in the future");
        return -1;
    }
    if (back > TALLY_PERIOD_MONTHS_BACK) {
        snprintf(errbuf, errsize, "period is more than %d months back", TALLY_PERIOD_MONTHS_BACK);
        return -1;
    }
    return tally_period_of_day(tally_days_from_civil(year, month, 1), out) == 0 ? 0 : -1;
}
