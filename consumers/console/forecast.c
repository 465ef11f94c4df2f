/* forecast.c: the month-end projection (forecast.h states the contract). */
#include "forecast.h"

#include "timeutil.h"

typedef unsigned __int128 forecast_u128;

int tally_forecast_compute(int64_t used, int64_t maximum, int64_t first_day, int64_t last_day, int64_t now_ms,
                           tally_forecast_t *out)
{
    if (used < 0 || maximum < 0 || last_day < first_day || first_day < TALLY_DATE_MIN_DAYS ||
        last_day > TALLY_DATE_MAX_DAYS)
        return -1;
    int64_t start_ms = first_day * TALLY_MS_PER_DAY;
    int64_t window_ms = (last_day - first_day + 1) * TALLY_MS_PER_DAY;
    int64_t elapsed = now_ms - start_ms;
    if (now_ms < start_ms || elapsed < TALLY_FORECAST_MIN_ELAPSED_MS)
        elapsed = TALLY_FORECAST_MIN_ELAPSED_MS;
    if (elapsed > window_ms)
        elapsed = window_ms;

    tally_forecast_t f = {.projected = used, .reach_day = -1, .state = TALLY_FORECAST_NEVER,
                          .elapsed_ms = elapsed, .window_ms = window_ms};
    /* used < 2^63 and window_ms < 2^48: the product fits in 128 bits. */
    forecast_u128 p = (forecast_u128)(uint64_t)used * (uint64_t)window_ms / (uint64_t)elapsed;
    f.projected = p > (forecast_u128)INT64_MAX ? INT64_MAX : (int64_t)p;

    if (used > maximum) {
        f.state = TALLY_FORECAST_OVER;
    } else if (used > 0 && f.projected > maximum) {
        /* The instant the calls reach maximum + 1 at used per elapsed,
         * rounded up, and no later than the window's last millisecond. */
        forecast_u128 need = (forecast_u128)(uint64_t)(maximum - used) + 1;
        forecast_u128 delta = (need * (uint64_t)elapsed + (uint64_t)used - 1) / (uint64_t)used;
        int64_t reach_ms = start_ms + window_ms - 1;
        if (delta < (forecast_u128)(uint64_t)(window_ms - elapsed))
            reach_ms = start_ms + elapsed + (int64_t)delta;
        f.state = TALLY_FORECAST_REACHES;
        f.reach_day = tally_utc_day(reach_ms);
    }
    *out = f;
    return 0;
}

const char *tally_forecast_state_name(tally_forecast_state_t state)
{
    switch (state) {
    case TALLY_FORECAST_REACHES:
        return "reaches";
    case TALLY_FORECAST_OVER:
        return "over";
    case TALLY_FORECAST_NEVER:
    default:
        return "never";
    }
}
