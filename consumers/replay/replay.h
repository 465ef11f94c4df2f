/*
 * replay.h: the options every tally-replay command reads, its exit codes,
 * and the few helpers the commands share (connecting with a clear error,
 * time windows). main.c parses the command line into a tally_replay_opts_t
 * and calls one command:
 *
 *   audit.h    the usage log recomputed and compared with the read model
 *   rebuild.h  the logs projected into a fresh schema, compared, swapped
 *   export.h   one tenant's usage for a month, with the offsets it came from
 */
#ifndef TALLY_REPLAY_H
#define TALLY_REPLAY_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "config.h"
#include "reader.h"
#include "schema_catalog.h"

/* Exit codes. */
enum {
    TALLY_REPLAY_EXIT_OK = 0,       /* identical; done */
    TALLY_REPLAY_EXIT_DIFFERENT = 1, /* differences found (and listed) */
    TALLY_REPLAY_EXIT_USAGE = 2,    /* bad flag, time, period or schema name; unknown tenant */
    TALLY_REPLAY_EXIT_FAILED = 3,   /* broker, database, topic or I/O failure */
};

typedef enum tally_replay_format_t {
    TALLY_REPLAY_FORMAT_TABLE = 0,
    TALLY_REPLAY_FORMAT_CSV = 1,
    TALLY_REPLAY_FORMAT_JSON = 2,
} tally_replay_format_t;

typedef struct tally_replay_opts_t {
    const char *brokers, *group, *client_id;
    const char *pg_url;
    const tally_catalog_t *catalog;     /* borrowed */
    const tally_config_t *cfg;          /* -X pairs; borrowed */
    const char *usage_topic, *rollups_topic, *product_topic, *controlpanel_topic;
    const char *alerts_topic;           /* rebuild; NULL: alerts are not projected */
    const char *live_schema;            /* the live read model: "tally" */
    const char *materializer_group;     /* whose offsets rebuild writes and swap continues */

    /* audit, export */
    const char *tenant;                 /* NULL: all (audit) */
    bool has_from, has_to;
    int64_t from_ms, to_ms;
    int32_t period_first_day, period_last_day;  /* export */
    const char *period;                 /* "YYYY-MM" as given */

    /* rebuild */
    const char *shadow_schema;
    bool swap;
    int64_t batch_max_records;
    int lock_timeout_ms;

    /* the computation: must equal tally-aggregator's */
    int32_t open_days;
    int64_t reporter_idle_ms;
    int64_t warmup_ms;                  /* read this long before --from */
    int64_t skew_ms;                    /* the gateway's max clock skew */

    tally_replay_format_t format;
    FILE *out;                          /* the report; borrowed */
    int connect_timeout_ms, stall_timeout_ms;
    bool progress;
    int progress_every_ms;
    volatile sig_atomic_t *stop;        /* set by SIGINT/SIGTERM */
} tally_replay_opts_t;

/* The computation's defaults, as tally-replay's flags have them (main.c:
 * --open-days, --reporter-idle, --max-clock-skew, --warmup 0), for callers
 * of the commands as a library (tally-console's downloads). Each must
 * equal tally-aggregator's setting, or the figures are not its. */
#define TALLY_REPLAY_OPEN_DAYS 35
#define TALLY_REPLAY_REPORTER_IDLE_MS (INT64_C(840) * 3600000)
#define TALLY_REPLAY_MAX_CLOCK_SKEW_MS (INT64_C(24) * 3600000)

/* The warm-up --warmup 0 means: reporter idle + clock skew + a day. */
static inline int64_t tally_replay_default_warmup(int64_t reporter_idle_ms, int64_t skew_ms)
{
    return reporter_idle_ms + skew_ms + INT64_C(86400000);
}

/* "YYYY-MM" into the first and last day of that month (days since
 * 1970-01-01). Returns 0, or -1 with errbuf. */
int tally_replay_period_parse(const char *s, int32_t *first, int32_t *last, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Connects to PostgreSQL. Returns an owned connection, or NULL after
 * logging "cannot connect to PostgreSQL: ...". */
PGconn *tally_replay_pg_connect(const tally_replay_opts_t *o, const char *application_name);

/* A reader on the broker, labelled label. Returns an owned reader, or NULL
 * after logging "cannot reach the Kafka broker at ...". */
tally_replay_reader_t *tally_replay_reader_open(const tally_replay_opts_t *o, const char *label);

/* Whole UTC days of a time window: the first day starting at or after
 * from_ms, the last day ending at or before to_ms. */
int32_t tally_replay_first_whole_day(int64_t from_ms);
int32_t tally_replay_last_whole_day(int64_t to_ms);

#endif
