/* The overview's month-end projection (consumers/console/forecast.h):
 * partial days, the first minutes of a month, zero usage, already over,
 * exactly at the cap, never reaching it, month lengths and leap years, a
 * contract starting mid-month, saturation and bad input. */
#include "forecast.h"
#include "timeutil.h"

#include <criterion/criterion.h>

#define DAY(y, m, d) tally_days_from_civil((y), (m), (d))
#define AT(y, m, d, h, mi) (DAY(y, m, d) * TALLY_MS_PER_DAY + (int64_t)(h) * 3600000 + (int64_t)(mi) * 60000)

static tally_forecast_t run(int64_t used, int64_t max, int64_t first, int64_t last, int64_t now)
{
    tally_forecast_t f;
    cr_assert_eq(tally_forecast_compute(used, max, first, last, now, &f), 0);
    return f;
}

Test(forecast, run_rate_over_whole_days)
{
    /* November: 30 days; 15 have passed. */
    tally_forecast_t f = run(1500, 3000, DAY(2026, 11, 1), DAY(2026, 11, 30), AT(2026, 11, 16, 0, 0));
    cr_assert_eq(f.projected, 3000);
    cr_assert_eq(f.state, TALLY_FORECAST_NEVER, "exactly the cap is not over");
    cr_assert_eq(f.reach_day, -1);
    cr_assert_eq(f.window_ms, 30 * TALLY_MS_PER_DAY);
    cr_assert_eq(f.elapsed_ms, 15 * TALLY_MS_PER_DAY);

    /* 1600 in 15 days: 3200 by the end; 3001 is passed after 1401 more
     * calls, 13.13 days later: on the 29th. */
    f = run(1600, 3000, DAY(2026, 11, 1), DAY(2026, 11, 30), AT(2026, 11, 16, 0, 0));
    cr_assert_eq(f.projected, 3200);
    cr_assert_eq(f.state, TALLY_FORECAST_REACHES);
    cr_assert_eq(f.reach_day, DAY(2026, 11, 29));
    cr_assert_str_eq(tally_forecast_state_name(f.state), "reaches");
}

Test(forecast, partial_day_counts_its_fraction)
{
    /* Half of the first day: 100 calls -> 200 a day -> 6000 in 30 days. */
    tally_forecast_t f = run(100, 1000000, DAY(2026, 11, 1), DAY(2026, 11, 30), AT(2026, 11, 1, 12, 0));
    cr_assert_eq(f.elapsed_ms, TALLY_MS_PER_DAY / 2);
    cr_assert_eq(f.projected, 6000);
    /* 18:00 on the 10th: 9.75 days. */
    f = run(975, 1000000, DAY(2026, 11, 1), DAY(2026, 11, 30), AT(2026, 11, 10, 18, 0));
    cr_assert_eq(f.projected, 3000);
}

Test(forecast, first_minutes_of_a_month_use_at_least_an_hour)
{
    tally_forecast_t f = run(10, 1000000, DAY(2026, 11, 1), DAY(2026, 11, 30), AT(2026, 11, 1, 0, 10));
    cr_assert_eq(f.elapsed_ms, TALLY_FORECAST_MIN_ELAPSED_MS);
    cr_assert_eq(f.projected, 10 * 24 * 30);
    /* Exactly midnight, nothing yet. */
    f = run(0, 10, DAY(2026, 11, 1), DAY(2026, 11, 30), AT(2026, 11, 1, 0, 0));
    cr_assert_eq(f.projected, 0);
    cr_assert_eq(f.state, TALLY_FORECAST_NEVER);
}

Test(forecast, zero_usage_never_reaches)
{
    tally_forecast_t f = run(0, 1000, DAY(2026, 11, 1), DAY(2026, 11, 30), AT(2026, 11, 20, 0, 0));
    cr_assert_eq(f.projected, 0);
    cr_assert_eq(f.state, TALLY_FORECAST_NEVER);
    cr_assert_eq(f.reach_day, -1);
    cr_assert_str_eq(tally_forecast_state_name(f.state), "never");
}

Test(forecast, already_over)
{
    tally_forecast_t f = run(3001, 3000, DAY(2026, 11, 1), DAY(2026, 11, 30), AT(2026, 11, 20, 0, 0));
    cr_assert_eq(f.state, TALLY_FORECAST_OVER);
    cr_assert_eq(f.reach_day, -1);
    cr_assert_eq(f.projected, 3001 * 30 / 19);   /* 19 days passed */
    cr_assert_str_eq(tally_forecast_state_name(f.state), "over");
}

Test(forecast, a_maximum_of_zero)
{
    cr_assert_eq(run(0, 0, DAY(2026, 11, 1), DAY(2026, 11, 30), AT(2026, 11, 5, 0, 0)).state, TALLY_FORECAST_NEVER);
    cr_assert_eq(run(1, 0, DAY(2026, 11, 1), DAY(2026, 11, 30), AT(2026, 11, 5, 0, 0)).state, TALLY_FORECAST_OVER);
}

Test(forecast, a_slow_month_never_reaches_within_the_window)
{
    /* 10 days, 1000 calls, cap 5000: 3100 by the 31st of December. */
    tally_forecast_t f = run(1000, 5000, DAY(2026, 12, 1), DAY(2026, 12, 31), AT(2026, 12, 11, 0, 0));
    cr_assert_eq(f.projected, 3100);
    cr_assert_eq(f.state, TALLY_FORECAST_NEVER);
    cr_assert_eq(f.reach_day, -1);
}

Test(forecast, reach_day_is_never_before_today_nor_after_the_window)
{
    /* One call short of over on the 20th at a high rate: today. */
    tally_forecast_t f = run(3000, 3000, DAY(2026, 11, 1), DAY(2026, 11, 30), AT(2026, 11, 20, 12, 0));
    cr_assert_eq(f.state, TALLY_FORECAST_REACHES);
    cr_assert_eq(f.reach_day, DAY(2026, 11, 20));
    /* Projection just over the cap: the last day. */
    f = run(2901, 3000, DAY(2026, 11, 1), DAY(2026, 11, 30), AT(2026, 11, 30, 0, 0));
    cr_assert_eq(f.projected, 3001);
    cr_assert_eq(f.state, TALLY_FORECAST_REACHES);
    cr_assert_eq(f.reach_day, DAY(2026, 11, 30));
}

Test(forecast, month_lengths_and_leap_years)
{
    /* Half-way through February: 14 of 28 days in 2026, 14 of 29 in
     * 2024 (leap), 14 of 28 in 2100 (not leap: divisible by 100). */
    static const struct {
        int year;
        int64_t projected;
    } feb[] = {{2026, 2800}, {2024, 2900}, {2100, 2800}, {2000, 2900}};
    for (size_t i = 0; i < sizeof feb / sizeof feb[0]; i++) {
        int y = feb[i].year;
        int64_t last = DAY(y, 2, 1) + (int64_t)tally_days_in_month(y, 2) - 1;
        tally_forecast_t f = run(1400, 1000000, DAY(y, 2, 1), last, AT(y, 2, 15, 0, 0));
        cr_assert_eq(f.projected, feb[i].projected, "February %d", y);
    }
    /* 31-day and 30-day months. */
    cr_assert_eq(run(100, 1000000, DAY(2026, 1, 1), DAY(2026, 1, 31), AT(2026, 1, 2, 0, 0)).projected, 3100);
    cr_assert_eq(run(100, 1000000, DAY(2026, 4, 1), DAY(2026, 4, 30), AT(2026, 4, 2, 0, 0)).projected, 3000);
}

Test(forecast, a_contract_starting_mid_month)
{
    /* The window is the 11th to the 30th (20 days); 5 days in. */
    tally_forecast_t f = run(500, 1500, DAY(2026, 11, 11), DAY(2026, 11, 30), AT(2026, 11, 16, 0, 0));
    cr_assert_eq(f.window_ms, 20 * TALLY_MS_PER_DAY);
    cr_assert_eq(f.projected, 2000);
    cr_assert_eq(f.state, TALLY_FORECAST_REACHES);
    /* 1001 more at 100 a day: 10.01 days after the 16th. */
    cr_assert_eq(f.reach_day, DAY(2026, 11, 26));
}

Test(forecast, now_after_the_window_projects_what_was_used)
{
    tally_forecast_t f = run(777, 1000, DAY(2026, 10, 1), DAY(2026, 10, 31), AT(2026, 11, 3, 0, 0));
    cr_assert_eq(f.projected, 777);
    cr_assert_eq(f.elapsed_ms, f.window_ms);
    cr_assert_eq(f.state, TALLY_FORECAST_NEVER);
}

Test(forecast, saturates_instead_of_overflowing)
{
    tally_forecast_t f = run(INT64_MAX / 2, INT64_MAX - 1, DAY(2026, 11, 1), DAY(2026, 11, 30), AT(2026, 11, 1, 1, 0));
    cr_assert_eq(f.projected, INT64_MAX);
    cr_assert_eq(f.state, TALLY_FORECAST_REACHES);
    cr_assert_eq(f.reach_day, DAY(2026, 11, 1));
    f = run(INT64_MAX, INT64_MAX, DAY(2026, 11, 1), DAY(2026, 11, 30), AT(2026, 11, 30, 0, 0));
    cr_assert_eq(f.projected, INT64_MAX);
    cr_assert_eq(f.state, TALLY_FORECAST_NEVER, "nothing exceeds INT64_MAX");
}

Test(forecast, bad_input_is_refused)
{
    tally_forecast_t f = {.projected = 42};
    cr_assert_eq(tally_forecast_compute(-1, 10, DAY(2026, 11, 1), DAY(2026, 11, 30), 0, &f), -1);
    cr_assert_eq(tally_forecast_compute(1, -10, DAY(2026, 11, 1), DAY(2026, 11, 30), 0, &f), -1);
    cr_assert_eq(tally_forecast_compute(1, 10, DAY(2026, 11, 2), DAY(2026, 11, 1), 0, &f), -1);
    cr_assert_eq(f.projected, 42, "untouched");
}
