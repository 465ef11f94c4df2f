/*
 * rows.h: daily usage rows as tally-replay compares them: an API usage row
 * (tenant, environment, day: api_calls, status_4xx, status_5xx, exec_ms,
 * updated_at) or a seat row (tenant, day: seats_in_use, seats_peak,
 * updated_at), whether recomputed from the log or read from PostgreSQL,
 * and the differences between two sets of them.
 *
 * Its own types, not the aggregator's (rollup.h) nor the materializer's
 * (batch.h), which share names and cannot meet in one file. Tenant and
 * environment ids are interned in the set, so millions of rows of a few
 * thousand tenants cost little.
 */
#ifndef TALLY_REPLAY_ROWS_H
#define TALLY_REPLAY_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum tally_replay_table_t {
    TALLY_REPLAY_API = 0,   /* api_usage_daily */
    TALLY_REPLAY_SEAT = 1,  /* seat_usage_daily */
} tally_replay_table_t;

/* Value columns: API rows use all four, seat rows the first two. */
#define TALLY_REPLAY_VALUES 4

/* Row flags. */
#define TALLY_REPLAY_UNVERIFIABLE 0x1u  /* recomputed without the whole history: see audit.h */

typedef struct tally_replay_row_t {
    tally_replay_table_t table;
    const char *tenant;         /* interned in the set */
    const char *environment;    /* interned; "" for seat rows */
    int32_t day;                /* days since 1970-01-01 */
    int64_t v[TALLY_REPLAY_VALUES];
    int64_t updated_at;         /* ms */
    unsigned flags;
    /* Where a recomputed row came from (export): the usage records applied
     * to it. partition -1: none tracked. */
    int32_t partition;
    int64_t first_offset, last_offset;
    uint64_t records, ignored;  /* applied; duplicate, stale or too late */
} tally_replay_row_t;

typedef struct tally_replay_rows_t tally_replay_rows_t;

/* Returns an owned, empty set; aborts when out of memory. */
tally_replay_rows_t *tally_replay_rows_new(void);

/* NULL is a no-op. */
void tally_replay_rows_free(tally_replay_rows_t *s);

/* Appends a copy of row, interning its strings (borrowed); returns the
 * stored row (valid until the next add or sort). */
tally_replay_row_t *tally_replay_rows_add(tally_replay_rows_t *s, const tally_replay_row_t *row);

/* An interned copy of str (borrowed); valid until the set is freed. */
const char *tally_replay_rows_intern(tally_replay_rows_t *s, const char *str);

size_t tally_replay_rows_count(const tally_replay_rows_t *s);
tally_replay_row_t *tally_replay_rows_at(tally_replay_rows_t *s, size_t i);

/* Sorts by (table, tenant, environment, day), bytewise. */
void tally_replay_rows_sort(tally_replay_rows_t *s);

/* The value column names of a table ("api_calls", ...; "seats_in_use",
 * "seats_peak") and how many it has. */
const char *const *tally_replay_columns(tally_replay_table_t table, int *count);

/* "api_usage_daily" or "seat_usage_daily". */
const char *tally_replay_table_name(tally_replay_table_t table);

/* ---- differences ------------------------------------------------------ */

typedef enum tally_replay_diff_kind_t {
    TALLY_REPLAY_MISSING = 0,     /* recomputed, not materialized */
    TALLY_REPLAY_UNEXPECTED,      /* materialized, not recomputed */
    TALLY_REPLAY_DIFFERS,         /* both, with other values */
} tally_replay_diff_kind_t;

/* Field bits of a difference: 1 << value column, and this for updated_at. */
#define TALLY_REPLAY_FIELD_UPDATED_AT (1u << TALLY_REPLAY_VALUES)

typedef struct tally_replay_diff_t {
    tally_replay_diff_kind_t kind;
    const tally_replay_row_t *expected;     /* NULL when UNEXPECTED */
    const tally_replay_row_t *actual;       /* NULL when MISSING */
    unsigned fields;                        /* DIFFERS: which fields */
} tally_replay_diff_t;

typedef struct tally_replay_diffs_t {
    tally_replay_diff_t *v;
    size_t n, cap;
    size_t unverifiable;    /* expected rows flagged UNVERIFIABLE, left out */
} tally_replay_diffs_t;

void tally_replay_diffs_free(tally_replay_diffs_t *d);

/* Compares expected with actual (both sorted, both borrowed: the
 * differences point into them). Expected rows flagged UNVERIFIABLE are not
 * compared, only counted; an actual row at their key is not reported
 * either. Appends to *out in key order. */
void tally_replay_rows_diff(tally_replay_rows_t *expected, tally_replay_rows_t *actual, tally_replay_diffs_t *out);

/* The day as "YYYY-MM-DD" into buf (TALLY_DATE_SIZE bytes). */
void tally_replay_format_day(int32_t day, char *buf);

/* The time as RFC 3339 into buf (TALLY_RFC3339_SIZE bytes); "-" for
 * INT64_MIN. */
void tally_replay_format_time(int64_t ms, char *buf);

#endif
