/* What the commands share (see replay.h). */
#include "replay.h"

#include "log.h"
#include "pg.h"
#include "timeutil.h"

#include <stdio.h>

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
