#ifndef TALLY_CLIENT_REPORTER_H
#define TALLY_CLIENT_REPORTER_H

/* The usage reporter's state: which reporter it is, its last seq, its
 * cumulative counters and how far it read its counter file, kept in one
 * JSON file replaced crash-safely. A restart goes on as the same reporter:
 * same reporter_id and reporter_started_at, seq continuing, counters
 * cumulative. Because every report carries the totals since the reporter
 * started, a duplicate or lost report changes nothing downstream; seq is
 * saved before a report is sent, so no seq is ever reused for other totals.
 *
 * Counter lines (stdin or a file), white space or commas between fields:
 *
 *   api_calls=10 status_4xx=1 status_5xx=0 exec_ms=1234
 *
 * are increments by default, or, in absolute mode, totals since the
 * reporter started (which may only grow). Blank lines and lines starting
 * with '#' are ignored. */

#include "ids.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TALLY_REPORTER_NONE 1   /* tally_reporter_load: no state file yet */

enum {
    TALLY_COUNTER_API_CALLS = 1u << 0,
    TALLY_COUNTER_STATUS_4XX = 1u << 1,
    TALLY_COUNTER_STATUS_5XX = 1u << 2,
    TALLY_COUNTER_EXEC_MS = 1u << 3,
};

typedef struct tally_counters_t {
    int64_t api_calls, status_4xx, status_5xx, exec_ms;
} tally_counters_t;

typedef struct tally_reporter_t {
    char reporter_id[TALLY_UUID_SIZE];
    int64_t started_at_ms;
    int64_t seq;                 /* seq of the last report made; 0: none yet */
    char tenant_id[256];
    char environment_id[256];
    tally_counters_t totals;
    char counter_file[1024];     /* the counter file read in increment mode, "" none */
    uint64_t counter_file_ino;   /* its inode: another file (rotated) is read from 0 */
    int64_t counter_file_offset; /* bytes of it already applied */
} tally_reporter_t;

/* A new reporter: random id, started at now_ms, seq 0, counters 0. */
void tally_reporter_init(tally_reporter_t *r, const char *tenant_id, const char *environment_id, int64_t now_ms);

/* Loads path into r: 0, TALLY_REPORTER_NONE, or -1 (unreadable or
 * invalid, with the reason). */
int tally_reporter_load(const char *path, tally_reporter_t *r, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Saves crash-safely (mode 0600), creating the folder. 0 or -1. */
int tally_reporter_save(const char *path, const tally_reporter_t *r, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Parses one counter line (borrowed, len bytes, no newline needed) into
 * *c and the TALLY_COUNTER_* bits of the fields present (*mask 0 for a
 * blank or comment line). 0, or -1 naming the bad field. */
int tally_counters_parse(const char *line, size_t len, tally_counters_t *c, unsigned *mask, char *errbuf,
                         size_t errsize)
    __attribute__((warn_unused_result));

/* Applies parsed counters to r's totals: added (increments) or set
 * (absolute: each must be at least the current total). Refuses, changing
 * nothing, a result that overflows, goes backwards, or has more 4xx plus
 * 5xx than API calls. 0 or -1. */
int tally_reporter_apply(tally_reporter_t *r, const tally_counters_t *c, unsigned mask, bool absolute,
                         char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Advances seq and returns the next UsageReport (a new JSON object) with
 * the totals observed at now_ms. Save r before sending it. */
json_t *tally_reporter_next_report(tally_reporter_t *r, int64_t now_ms);

#endif
