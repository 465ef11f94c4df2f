/* tally flush; tally spool */
#include "commands.h"

#include "timeutil.h"

#include <stdio.h>

int tally_cmd_flush(tally_app_t *app, size_t argc, const char *const argv[])
{
    if (argc != 0) {
        fprintf(stderr, "tally flush: takes no argument\n");
        return TALLY_EXIT_USAGE;
    }
    return tally_app_flush(app);
}

int tally_cmd_spool(tally_app_t *app, size_t argc, const char *const argv[])
{
    char err[512], when[TALLY_RFC3339_SIZE];
    if (argc != 0) {
        fprintf(stderr, "tally spool: takes no argument\n");
        return TALLY_EXIT_USAGE;
    }
    tally_spool_limits_t lim = {(size_t)app->s->spool_max_events, (size_t)app->s->spool_max_bytes};
    tally_spool_t *spool = tally_app_open_spool(app, err, sizeof err);
    tally_spool_stats_t st;
    if (spool == NULL || tally_spool_stats(spool, &st, err, sizeof err) != 0) {
        fprintf(stderr, "tally spool: %s\n", err);
        tally_spool_free(spool);
        return TALLY_EXIT_ERROR;
    }
    printf("spool: %s\n", app->spool_dir);
    printf("events: %zu\n", st.events);
    for (int k = 0; k < TALLY_KIND_COUNT; k++)
        printf("%s: %zu\n", tally_kind_name((tally_kind_t)k), st.events_by_kind[k]);
    printf("segments: %zu\nbytes: %zu\n", st.segments, st.bytes);
    printf("limits: %zu events, %zu bytes\n", lim.max_events, lim.max_bytes);
    if (st.oldest_ms > 0 && tally_rfc3339_format(st.oldest_ms, when) == 0)
        printf("oldest: %s\n", when);
    tally_backoff_t b;
    tally_backoff_load(app->retry_path, app->s->gateway, &b);
    if (b.failures > 0 && tally_rfc3339_format(b.next_attempt_ms, when) == 0)
        printf("gateway: %s: %d failed attempt(s), last: %s; next attempt after %s\n", app->s->gateway, b.failures,
               b.last_error, when);
    else
        printf("gateway: %s: no recent failure\n", app->s->gateway);
    tally_spool_free(spool);
    return TALLY_EXIT_OK;
}
