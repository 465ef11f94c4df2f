/*
 * download.h: the usage page's CSV and JSON downloads. They are
 * `tally-replay export --tenant T --period YYYY-MM --format csv|json`,
 * byte for byte: replay's export runs here as a library call into memory,
 * so the numbers and the Kafka offset ranges are replay's and nothing is
 * computed twice.
 *
 * Cost: export reads the clean usage log from its beginning (a reporter's
 * baseline and a seat's state may come from any earlier day) and checks
 * against the read model, so a download takes as long as reading the whole
 * usage topic, and blocks the calling thread that long. The console should
 * run it off its request threads or bound how many run at once.
 */
#ifndef TALLY_CONSOLE_DOWNLOAD_H
#define TALLY_CONSOLE_DOWNLOAD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "schema_catalog.h"

/* Errors (negative). */
enum {
    TALLY_CONSOLE_DOWNLOAD_ERR_USAGE = -1,          /* bad period, format or tenant text: a 400 */
    TALLY_CONSOLE_DOWNLOAD_ERR_UNKNOWN_TENANT = -2, /* not registered and no usage: a 404 */
    TALLY_CONSOLE_DOWNLOAD_ERR_FAILED = -3,         /* broker, database or topic failure: a 503 */
};

typedef struct tally_console_download_opts_t {
    const char *brokers;              /* Kafka bootstrap servers */
    const char *pg_url;               /* the read model (tally_reader suffices) */
    const tally_catalog_t *catalog;   /* borrowed */
    const char *usage_topic;          /* the clean usage log; NULL: "tally.usage" */
    const char *live_schema;          /* NULL: "tally" */
    const char *tenant;
    const char *period;               /* "YYYY-MM" */
    const char *format;               /* "csv" or "json" */
    /* The computation, 0 for replay's defaults (replay.h): each must equal
     * tally-aggregator's setting. */
    int32_t open_days;
    int64_t reporter_idle_ms, skew_ms;
    const char *client_id;            /* Kafka client.id and group name; NULL: "tally-console" */
    int connect_timeout_ms;           /* 0: 10 s */
    int stall_timeout_ms;             /* 0: 60 s */
    volatile sig_atomic_t *stop;      /* may be NULL; set: give up */
} tally_console_download_opts_t;

/* Runs the export. On success returns 0 with *body (malloc'd, NUL after
 * *len bytes; the caller frees it) and *len: the rows check against the
 * read model inside the export itself (its "check" column). Otherwise
 * returns a TALLY_CONSOLE_DOWNLOAD_ERR_* code, *body NULL and errbuf
 * saying why (the details of a failure are in the log, as replay logs
 * them). */
int tally_console_download(const tally_console_download_opts_t *o, char **body, size_t *len, char *errbuf,
                           size_t errsize) __attribute__((warn_unused_result));

#endif
