/*
 * rollup_internal.h: the state behind rollup.h, shared by rollup.c (the
 * object, interned strings, change tracking, dispatch), rollup_usage.c
 * (reporters and API rollups) and rollup_seats.c (seat history and seat
 * rollups). Not for use outside these files.
 */
#ifndef TALLY_AGGREGATOR_ROLLUP_INTERNAL_H
#define TALLY_AGGREGATOR_ROLLUP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "changelog.h"
#include "rollup.h"
#include "state_table.h"

/* Node flags. */
#define NODE_CL_DIRTY 0x01  /* in the changelog change list */
#define NODE_OUT_DIRTY 0x02 /* in a rollup change list */
#define NODE_DEAD 0x04      /* removed: invisible, freed by clear_changes */
#define NODE_FOLDED 0x08    /* seat day: closed, its events folded */

/* What every changelog entry starts with. */
typedef struct rollup_node_t {
    struct rollup_node_t *cl_next;
    uint64_t hash;          /* in its table (rollup_usage.c, rollup_seats.c) */
    uint8_t kind;           /* tally_changelog_kind_t */
    uint8_t flags;
} rollup_node_t;

/* An interned tenant or environment id; refcounted by the entries naming
 * it. */
typedef struct rollup_sym_t {
    uint64_t hash;
    uint32_t refs;
    uint32_t len;
    struct rollup_tenant_t *seats; /* the tenant's seat state, if any */
    char str[];
} rollup_sym_t;

typedef struct rollup_reporter_t {
    rollup_node_t node;
    rollup_sym_t *tenant, *env;
    int64_t seq;
    int64_t mark[4];            /* high-water marks of the counters */
    int64_t last_observed_at;   /* newest observed_at applied */
    uint32_t id_len;
    char id[];
} rollup_reporter_t;

typedef struct rollup_api_day_t {
    rollup_node_t node;
    struct rollup_api_day_t *out_next;
    rollup_sym_t *tenant, *env;
    int32_t day;
    int64_t sums[4];
    int64_t updated_at;
} rollup_api_day_t;

struct rollup_seat_t;
struct rollup_seat_day_t;

/* One seat event of the open history: in its seat's list and its day's
 * list, both in event order. */
typedef struct rollup_event_t {
    struct rollup_event_t *seat_prev, *seat_next;
    struct rollup_event_t *day_prev, *day_next;
    struct rollup_seat_t *seat;
    struct rollup_seat_day_t *day;
    tally_changelog_seat_event_t ev;
} rollup_event_t;

typedef struct rollup_seat_t {
    rollup_node_t node;
    struct rollup_tenant_t *tenant;
    rollup_event_t *first, *last;  /* open history, oldest first */
    bool has_base;
    tally_changelog_seat_event_t base; /* last event folded out of the history */
    uint32_t ref_len;
    char ref[];
} rollup_seat_t;

typedef struct rollup_seat_day_t {
    struct rollup_seat_day_t *prev, *next; /* the tenant's days, ascending */
    struct rollup_seat_day_t *out_next;
    struct rollup_tenant_t *tenant;
    rollup_event_t *first, *last;          /* the day's events (none once folded) */
    int32_t day;
    uint8_t flags;
    int64_t in_use, peak, updated_at;
} rollup_seat_day_t;

/* A tenant's seat state. Lives while seats or days refer to it. */
typedef struct rollup_tenant_t {
    rollup_sym_t *sym;
    rollup_seat_day_t *first_day, *last_day;
    rollup_seat_day_t *first_open;  /* first day not folded */
    bool has_wm;
    int64_t wm;                     /* newest occurred_at applied */
    int64_t base_count;             /* seats in use when the open days begin */
    bool has_folded;
    int32_t folded_through;         /* newest day folded into bases */
    size_t refs;                    /* seats and days pointing here */
} rollup_tenant_t;

typedef struct rollup_event_chunk_t {
    struct rollup_event_chunk_t *next;
    rollup_event_t events[1024];
} rollup_event_chunk_t;

struct tally_rollup_t {
    int32_t open_days;
    int64_t idle_ms;
    unsigned char hash_key[TALLY_TABLE_HASH_KEY_LEN];

    tally_table_t syms, reporters, api_days, seats;

    rollup_node_t *cl_head, **cl_tail;
    rollup_api_day_t *api_out_head, **api_out_tail;
    rollup_seat_day_t *seat_out_head, **seat_out_tail;
    size_t n_cl, n_api_out, n_seat_out;
    bool meta_dirty;

    bool has_wm;
    int64_t wm;                     /* newest observed_at applied */
    bool has_api_closed;
    int32_t api_closed_through;     /* newest API day removed by expiry */

    rollup_event_chunk_t *chunks;
    rollup_event_t *free_events;

    bool in_use;                    /* a record was applied or restore_done ran */
    bool restoring;
    size_t sweep[4];

    size_t n_reporters, n_api_days, n_seats, n_events, n_seat_days, n_tenants;
    tally_rollup_stats_t stats;

    tally_changelog_buf_t kbuf, vbuf; /* scratch for keys and values */
};

/* Shared helpers (rollup.c). */
void *rollup_xcalloc(size_t n, size_t size); /* aborts when out of memory */
bool rollup_valid_time(int64_t ms);          /* years 0-9999 */
int32_t rollup_day(int64_t ms);              /* UTC day */
void rollup_check_applying(tally_rollup_t *r); /* aborts while restoring */
rollup_sym_t *rollup_sym_find(tally_rollup_t *r, const char *s, size_t len);
/* Finds or makes the symbol and takes a reference to it. */
rollup_sym_t *rollup_sym_get(tally_rollup_t *r, const char *s, size_t len);
void rollup_sym_unref(tally_rollup_t *r, rollup_sym_t *sym);
void rollup_mark_entry(tally_rollup_t *r, rollup_node_t *n);
/* The next `budget` slots of t (0: all), from *cursor on, wrapping. */
size_t rollup_sweep_range(const tally_table_t *t, size_t *cursor, size_t budget, size_t *start);

/* Usage reports (rollup_usage.c). */
void rollup_usage_view(const tally_rollup_t *r, const rollup_api_day_t *d, tally_api_rollup_t *out);
void rollup_usage_encode(tally_rollup_t *r, const rollup_node_t *n); /* into kbuf and vbuf */
void rollup_usage_free_node(tally_rollup_t *r, rollup_node_t *n);  /* out of its table, freed */
void rollup_usage_free_all(tally_rollup_t *r);
size_t rollup_usage_expire(tally_rollup_t *r, size_t budget);
int rollup_usage_restore(tally_rollup_t *r, const tally_changelog_entry_t *e, char *errbuf,
                         size_t errsize);
void rollup_usage_restore_done(tally_rollup_t *r);

/* Seats (rollup_seats.c). */
tally_rollup_outcome_t rollup_seats_apply(tally_rollup_t *r, const tally_rollup_seat_event_t *e);
void rollup_seats_encode_key(tally_rollup_t *r, const rollup_seat_t *s);
void rollup_seats_encode_value(tally_rollup_t *r, const rollup_seat_t *s);
void rollup_seats_free_seat(tally_rollup_t *r, rollup_seat_t *s);
void rollup_seats_free_day(tally_rollup_t *r, rollup_seat_day_t *d);
void rollup_seats_view(const rollup_seat_day_t *d, tally_seat_rollup_t *out);
int rollup_seats_restore(tally_rollup_t *r, const tally_changelog_entry_t *e, char *errbuf,
                         size_t errsize);
void rollup_seats_restore_done(tally_rollup_t *r);
size_t rollup_seats_expire(tally_rollup_t *r, rollup_tenant_t *t);
void rollup_seats_free_all(tally_rollup_t *r);
rollup_tenant_t *rollup_seats_tenant(tally_rollup_t *r, const char *tenant_id);
bool rollup_seats_assigned(tally_rollup_t *r, const char *tenant_id, const char *seat_ref);

#endif /* TALLY_AGGREGATOR_ROLLUP_INTERNAL_H */
