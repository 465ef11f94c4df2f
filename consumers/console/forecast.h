/*
 * forecast.h: the overview's month-end projection of API calls. Pure: no
 * I/O, no clock, no allocation; the page passes everything in.
 *
 * The window is the part of a calendar month that one contract period
 * covers: days [first_day, last_day] (days since 1970-01-01, UTC, both
 * inclusive), i.e. what tally.compliance_detail counts as that month's
 * "monthly_api_calls" row. A month whose contract starts on the 10th has a
 * window from the 10th; month lengths (28 to 31 days, 29 in a Gregorian
 * leap February) come from the caller's days, never from a constant.
 *
 * The run rate is used / elapsed, where elapsed is the time from the
 * window's first instant (first_day 00:00 UTC) to now_ms, in milliseconds:
 * a partial day counts as the fraction of it that has passed, because
 * today's rollup is partial too (it holds the calls up to about now).
 * Elapsed is at least TALLY_FORECAST_MIN_ELAPSED_MS (one hour), so the
 * first minutes of a month do not extrapolate a handful of calls into
 * billions, and at most the window's length (now past the window: the
 * projection is what was used).
 *
 *   projected = used * window_ms / elapsed  (rounded down, saturating at
 *               INT64_MAX; exactly used when now is past the window)
 *
 * The cap is reached when the calls go OVER it (used > maximum), the same
 * rule as the "over" status of tally.compliance_detail; exactly the cap is
 * still a warning, not over.
 *
 *   state OVER     used > maximum already; reach_day is -1 (the day it
 *                  happened is for the caller's daily figures to say: the
 *                  overview's "over_since");
 *   state REACHES  at the run rate, used exceeds maximum within the window:
 *                  reach_day is the UTC day of the instant now +
 *                  (maximum + 1 - used) / rate, never before today;
 *   state NEVER    zero usage (rate 0), or the projection stays at or under
 *                  the maximum, or the reach instant falls after the
 *                  window's end (the cap resets with the month): reach_day
 *                  is -1.
 *
 * A maximum of 0: any call is over (state OVER); no call is NEVER. Inputs
 * out of range (used < 0, maximum < 0, last_day < first_day) give -1.
 */
#ifndef TALLY_CONSOLE_FORECAST_H
#define TALLY_CONSOLE_FORECAST_H

#include <stdint.h>

#define TALLY_FORECAST_MIN_ELAPSED_MS INT64_C(3600000)

typedef enum tally_forecast_state_t {
    TALLY_FORECAST_NEVER = 0,
    TALLY_FORECAST_REACHES = 1,
    TALLY_FORECAST_OVER = 2,
} tally_forecast_state_t;

typedef struct tally_forecast_t {
    int64_t projected;             /* calls at the window's end at the run rate */
    int64_t reach_day;             /* REACHES: the day the cap is passed; else -1 */
    tally_forecast_state_t state;
    int64_t elapsed_ms;            /* the elapsed time the rate used (clamped as above) */
    int64_t window_ms;             /* the window's length */
} tally_forecast_t;

/* Projects used calls in window [first_day, last_day] at now_ms against
 * maximum into *out. Returns 0, or -1 on inputs out of range (out
 * untouched). */
int tally_forecast_compute(int64_t used, int64_t maximum, int64_t first_day, int64_t last_day, int64_t now_ms,
                           tally_forecast_t *out) __attribute__((warn_unused_result));

/* "never", "reaches" or "over". */
const char *tally_forecast_state_name(tally_forecast_state_t state);

#endif
