#include "params.h"

#include "hexdigit.h"
#include "timeutil.h"

#include <stdio.h>
#include <string.h>

static int64_t month_index(int64_t year, unsigned month)
{
    return year * 12 + (int64_t)month - 1;
}

int tally_params_period_check(const char *s, int64_t now_ms, char *errbuf, size_t errsize)
{
    int ok = strlen(s) == 7 && s[4] == '-';
    for (int i = 0; ok && i < 7; i++)
        ok = i == 4 || (s[i] >= '0' && s[i] <= '9');
    unsigned month = ok ? (unsigned)((s[5] - '0') * 10 + (s[6] - '0')) : 0;
    if (!ok || month < 1 || month > 12) {
        snprintf(errbuf, errsize, "period must be a month as YYYY-MM, e.g. 2026-03");
        return -1;
    }
    int64_t year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int64_t y;
    unsigned m, d;
    if (tally_civil_from_days(tally_utc_day(now_ms), &y, &m, &d) != 0) {
        snprintf(errbuf, errsize, "the clock is out of range");
        return -1;
    }
    int64_t back = month_index(y, m) - month_index(year, month);
    if (back < 0) {
        snprintf(errbuf, errsize, "period is in the future");
        return -1;
    }
    if (back > TALLY_PARAMS_MONTHS_BACK) {
        snprintf(errbuf, errsize, "period is more than %d months back", TALLY_PARAMS_MONTHS_BACK);
        return -1;
    }
    return 0;
}

void tally_params_period_now(int64_t now_ms, char *buf, size_t size)
{
    int64_t y = 1970;
    unsigned m = 1, d;
    if (tally_civil_from_days(tally_utc_day(now_ms), &y, &m, &d) != 0) {
        y = 1970;
        m = 1;
    }
    snprintf(buf, size, "%04lld-%02u", (long long)y, m);
}

int tally_params_status_ok(const char *s)
{
    return strcmp(s, "ok") == 0 || strcmp(s, "warning") == 0 || strcmp(s, "over") == 0;
}

long tally_params_decode(const char *s, size_t len, int plus_is_space, char *out, size_t outsize)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = tally_hex_digit(s[i + 1]);
            int lo = tally_hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (c == 0 || o + 1 >= outsize)
            return -1;
        out[o++] = (char)c;
    }
    if (outsize == 0)
        return -1;
    out[o] = '\0';
    return (long)o;
}

int tally_params_form_value(const char *body, size_t len, const char *key, char *out, size_t outsize)
{
    size_t klen = strlen(key);
    int found = 0;
    size_t i = 0;
    while (i <= len) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        const char *eq = memchr(body + i, '=', end - i);
        size_t name_len = eq ? (size_t)(eq - (body + i)) : end - i;
        if (name_len == klen && memcmp(body + i, key, klen) == 0) {
            if (found++)
                return -1;
            const char *v = eq ? eq + 1 : body + end;
            if (tally_params_decode(v, (size_t)(body + end - v), 1, out, outsize) < 0)
                return -1;
        }
        i = end + 1;
    }
    return found;
}
