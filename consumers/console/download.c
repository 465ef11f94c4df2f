#include "download.h"

#include "export.h"
#include "replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tally_console_download(const tally_console_download_opts_t *o, char **body, size_t *len, char *errbuf,
                           size_t errsize)
{
    tally_replay_opts_t r;
    char *buf = NULL;
    size_t size = 0;

    *body = NULL;
    *len = 0;
    memset(&r, 0, sizeof r);
    if (o->format != NULL && strcmp(o->format, "csv") == 0)
        r.format = TALLY_REPLAY_FORMAT_CSV;
    else if (o->format != NULL && strcmp(o->format, "json") == 0)
        r.format = TALLY_REPLAY_FORMAT_JSON;
    else {
        snprintf(errbuf, errsize, "format: csv or json");
        return TALLY_CONSOLE_DOWNLOAD_ERR_USAGE;
    }
    if (o->tenant == NULL || *o->tenant == '\0') {
        snprintf(errbuf, errsize, "no tenant");
        return TALLY_CONSOLE_DOWNLOAD_ERR_USAGE;
    }
    if (tally_replay_period_parse(o->period, &r.period_first_day, &r.period_last_day, errbuf, errsize) != 0)
        return TALLY_CONSOLE_DOWNLOAD_ERR_USAGE;
    r.brokers = o->brokers;
    r.group = r.client_id = o->client_id ? o->client_id : "tally-console";
    r.pg_url = o->pg_url;
    r.catalog = o->catalog;
    r.usage_topic = o->usage_topic ? o->usage_topic : "tally.usage";
    r.live_schema = o->live_schema ? o->live_schema : "tally";
    r.tenant = o->tenant;
    r.period = o->period;
    r.open_days = o->open_days ? o->open_days : TALLY_REPLAY_OPEN_DAYS;
    r.reporter_idle_ms = o->reporter_idle_ms ? o->reporter_idle_ms : TALLY_REPLAY_REPORTER_IDLE_MS;
    r.skew_ms = o->skew_ms ? o->skew_ms : TALLY_REPLAY_MAX_CLOCK_SKEW_MS;
    r.warmup_ms = tally_replay_default_warmup(r.reporter_idle_ms, r.skew_ms);
    r.connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 10000;
    r.stall_timeout_ms = o->stall_timeout_ms ? o->stall_timeout_ms : 60000;
    r.stop = o->stop;
    if ((r.out = open_memstream(&buf, &size)) == NULL) {
        fprintf(stderr, "tally-console: out of memory (download)\n");
        abort();
    }
    int rc = tally_replay_export(&r);
    if (fclose(r.out) != 0) {
        fprintf(stderr, "tally-console: out of memory (download)\n");
        abort();
    }
    switch (rc) {
    case TALLY_REPLAY_EXIT_OK:
    case TALLY_REPLAY_EXIT_DIFFERENT:
        *body = buf;
        *len = size;
        return 0;
    case TALLY_REPLAY_EXIT_USAGE:
        free(buf);
        snprintf(errbuf, errsize, "unknown tenant %.64s: not registered and no usage", o->tenant);
        return TALLY_CONSOLE_DOWNLOAD_ERR_UNKNOWN_TENANT;
    default:
        free(buf);
        snprintf(errbuf, errsize, "the usage log or the read model cannot be read now (see the log)");
        return TALLY_CONSOLE_DOWNLOAD_ERR_FAILED;
    }
}
