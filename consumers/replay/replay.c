/* What the commands share (see replay.h). */
#include "replay.h"

#include "log.h"
#include "pg.h"
#include "timeutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPONENT "replay"

PGconn *tally_replay_pg_connect(const tally_replay_opts_t *o, const char *application_name)
{
    char err[768];
    PGconn *conn = tally_pg_connect(o->pg_url, application_name, err, sizeof err);
    if (conn == NULL)
        tally_log_error(COMPONENT, "cannot connect to PostgreSQL (--pg-url): %s", err);
    return conn;
}

tally_replay_reader_t *tally_replay_reader_open(const tally_replay_opts_t *o, const char *label)
{
    char err[768];
    tally_replay_reader_opts_t ro = {.brokers = o->brokers, .group = o->group, .client_id = o->client_id,
                                     .cfg = o->cfg, .connect_timeout_ms = o->connect_timeout_ms,
                                     .stall_timeout_ms = o->stall_timeout_ms, .label = label,
                                     .progress = o->progress, .progress_every_ms = o->progress_every_ms};
    tally_replay_reader_t *r = tally_replay_reader_new(&ro, err, sizeof err);
    if (r == NULL)
        tally_log_error(COMPONENT, "%s", err);
    return r;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int32_t tally_replay_first_whole_day(int64_t from_ms)
{
    int64_t d = floor_div(from_ms, TALLY_MS_PER_DAY);
    if (d * TALLY_MS_PER_DAY < from_ms)
        d++;
    return (int32_t)d;
}

int32_t tally_replay_last_whole_day(int64_t to_ms)
{
    return (int32_t)(floor_div(to_ms, TALLY_MS_PER_DAY) - 1);
}

int tally_replay_period_parse(const char *s, int32_t *first, int32_t *last, char *errbuf, size_t errsize)
{
    bool ok = s != NULL && strlen(s) == 7 && s[4] == '-';
    for (int i = 0; ok && i < 7; i++)
        ok = i == 4 || (s[i] >= '0' && s[i] <= '9');
    unsigned month = ok ? (unsigned)((s[5] - '0') * 10 + (s[6] - '0')) : 0;
    int64_t year = ok ? strtoll(s, NULL, 10) : 0;
    if (!ok || month < 1 || month > 12) {
        snprintf(errbuf, errsize, "bad period %.16s: expected a month as YYYY-MM, e.g. 2024-03", s ? s : "(none)");
        return -1;
    }
    *first = (int32_t)tally_days_from_civil(year, month, 1);
    *last = *first + (int32_t)tally_days_in_month(year, month) - 1;
    return 0;
}
