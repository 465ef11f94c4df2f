/* ?period=YYYY-MM (consumers/console/period.h): the month of now and the 13
 * before it, across a year boundary; month lengths and leap years; every
 * malformed shape refused with a reason. */
#include "period.h"
#include "timeutil.h"

#include <criterion/criterion.h>

#define AT(y, m, d) (tally_days_from_civil((y), (m), (d)) * TALLY_MS_PER_DAY + 5 * 3600000)

static tally_period_t ok(const char *text, int64_t now)
{
    tally_period_t p;
    char err[128] = "";
    cr_assert_eq(tally_period_parse(text, now, &p, err, sizeof err), 0, "%s: %s", text ? text : "(null)", err);
    return p;
}

static void refused(const char *text, int64_t now, const char *why)
{
    tally_period_t p = {.year = 42};
    char err[128] = "";
    cr_assert_eq(tally_period_parse(text, now, &p, err, sizeof err), -1, "%s accepted", text);
    cr_assert(strstr(err, why) != NULL, "%s: %s", text, err);
    cr_assert_eq(p.year, 42, "untouched");
}

Test(period, the_current_month_by_default)
{
    tally_period_t p = ok(NULL, AT(2026, 2, 20));
    cr_assert_str_eq(p.text, "2026-02");
    cr_assert_eq(p.first_day, tally_days_from_civil(2026, 2, 1));
    cr_assert_eq(p.last_day, tally_days_from_civil(2026, 2, 28));
    cr_assert_str_eq(ok("", AT(2024, 2, 1)).text, "2024-02");
    cr_assert_eq(ok("", AT(2024, 2, 1)).last_day, tally_days_from_civil(2024, 2, 29), "leap year");
    cr_assert_eq(ok("2026-01", AT(2026, 2, 1)).last_day - ok("2026-01", AT(2026, 2, 1)).first_day, 30);
}

Test(period, thirteen_months_back_across_the_year)
{
    int64_t now = AT(2026, 1, 31);
    cr_assert_eq(ok("2026-01", now).month, 1);
    cr_assert_eq(ok("2025-12", now).year, 2025);
    tally_period_t p = ok("2024-12", now);   /* 13 back */
    cr_assert_eq(p.first_day, tally_days_from_civil(2024, 12, 1));
    cr_assert_eq(p.last_day, tally_days_from_civil(2024, 12, 31));
    refused("2024-11", now, "more than 13 months back");
    refused("2026-02", now, "future");
    refused("9999-12", now, "future");
    refused("0000-01", now, "more than 13 months back");
}

Test(period, malformed)
{
    static const char *const bad[] = {"2026-1", "2026-001", "26-01", "2026/01", "2026-01-01", " 2026-01",
                                      "2026-01 ", "2026-1a", "+026-01", "2026--1", "abcd-ef", "2026-0\xC3\xA9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        refused(bad[i], AT(2026, 1, 31), "YYYY-MM");
    refused("2026-00", AT(2026, 1, 31), "01 to 12");
    refused("2026-13", AT(2026, 1, 31), "01 to 12");
}
