/*
 * batch.h: what the materializer has read but not yet written, in the shape
 * it will be written in: one PostgreSQL transaction per batch.
 *
 *   - rollups, pre-aggregated: one entry per key (tenant|environment|day,
 *     tenant|day) holding the last record read for it, so no key appears
 *     twice in one upsert;
 *   - product events as ready COPY text rows;
 *   - Control Panel events as the text parameters of their statements, in
 *     offset order (they are applied one after the other);
 *   - records for the dead-letter topic;
 *   - per partition, the offset stored in PostgreSQL when the batch began
 *     (the fence) and the next offset once the batch is written.
 *
 * Strings live in one arena and are named by their offset in it (the arena
 * moves when it grows). A batch is reset, not freed, between uses, so the
 * steady state does not allocate.
 */
#ifndef TALLY_BATCH_H
#define TALLY_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "seen.h"
#include "copy_text.h"

/* The input topics, by what they carry. */
typedef enum tally_topic_role_t {
    TALLY_ROLE_ROLLUPS = 0,
    TALLY_ROLE_PRODUCT = 1,
    TALLY_ROLE_CONTROLPANEL = 2,
    TALLY_ROLE_ALERTS = 3,      /* usage alerts (UsageAlert) */
} tally_topic_role_t;
#define TALLY_ROLE_COUNT 4

/* No string (SQL NULL) where an arena offset is expected. */
#define TALLY_BATCH_NULL SIZE_MAX

typedef struct tally_api_rollup_t {
    size_t tenant, environment; /* arena offsets */
    uint64_t hash;
    int32_t day;                /* days since 1970-01-01 */
    int64_t api_calls, status_4xx, status_5xx, exec_ms;
    int64_t updated_at_ms;
    int32_t partition;          /* where the record came from */
    int64_t offset;
} tally_api_rollup_t;

typedef struct tally_seat_rollup_t {
    size_t tenant;
    uint64_t hash;
    int32_t day;
    int64_t seats_in_use, seats_peak;
    int64_t updated_at_ms;
    int32_t partition;
    int64_t offset;
} tally_seat_rollup_t;

/* Product events of one (day, event, source, version) in the batch, and
 * the distinct installs among them: what product_daily gains if every
 * event of the batch is new. */
typedef struct tally_product_group_t {
    size_t event, version;      /* arena offsets; version "" when absent */
    int32_t day;
    const char *source;         /* "CLI" or "ADMIN": borrowed from the schema */
    uint64_t hash;
    int64_t events;
} tally_product_group_t;

typedef struct tally_product_install_t {
    uint32_t group;             /* index into groups */
    size_t install;             /* arena offset */
    uint64_t hash;
} tally_product_install_t;

typedef enum tally_cp_kind_t {
    TALLY_CP_TENANT_REGISTERED,
    TALLY_CP_ENVIRONMENT_CREATED,
    TALLY_CP_ENVIRONMENT_DELETED,
    TALLY_CP_MEMBER_ADDED,
    TALLY_CP_MEMBER_REMOVED,
    TALLY_CP_LICENSE_TERMS_SET,
    TALLY_CP_API_KEY_ISSUED,
    TALLY_CP_API_KEY_REVOKED,
    TALLY_CP_CONSOLE_TOKEN_ISSUED,
    TALLY_CP_CONSOLE_TOKEN_REVOKED,
    TALLY_CP_LICENSE_ISSUED,
    TALLY_CP_LICENSE_REVOKED,
    TALLY_CP_USAGE_ALERT,       /* not a Control Panel event: a UsageAlert of the
                                 * alerts topic, applied by statement like them
                                 * (alert.h) */
} tally_cp_kind_t;
#define TALLY_CP_KIND_COUNT 13
#define TALLY_CP_MAX_PARAMS 12

/* One Control Panel event: the text parameters of its kind's statement
 * (projection.h says which), as arena offsets of NUL-terminated strings. */
typedef struct tally_cp_event_t {
    tally_cp_kind_t kind;
    int nparams;
    size_t param[TALLY_CP_MAX_PARAMS];
} tally_cp_event_t;

/* A record that goes to the dead-letter topic instead of PostgreSQL. */
typedef struct tally_dlq_entry_t {
    tally_topic_role_t role;
    int32_t partition;
    int64_t offset;
    const char *error;          /* static, e.g. "unknown_schema" */
    size_t detail;              /* arena offset */
} tally_dlq_entry_t;

/* Per partition touched by the batch. */
typedef struct tally_batch_progress_t {
    tally_topic_role_t role;
    int32_t partition;
    int64_t expected;           /* next_offset stored in PostgreSQL, -1: no row yet */
    int64_t next;               /* last offset in the batch + 1 */
} tally_batch_progress_t;

typedef struct tally_batch_t {
    tally_textbuf_t arena;

    tally_api_rollup_t *api;
    size_t n_api, cap_api;
    tally_seat_rollup_t *seat;
    size_t n_seat, cap_seat;
    uint32_t *api_slots, *seat_slots; /* open addressing: entry index + 1, 0 free */
    size_t api_slots_cap, seat_slots_cap;

    tally_textbuf_t product_rows;     /* COPY text, one line per event */
    size_t n_product;
    tally_product_group_t *groups;    /* pre-aggregated product_daily */
    size_t n_groups, cap_groups;
    tally_product_install_t *installs;
    size_t n_installs, cap_installs;
    uint32_t *group_slots, *install_slots;
    size_t group_slots_cap, install_slots_cap;
    const tally_seen_t *known;        /* borrowed, may be NULL: installs already committed */
    tally_textbuf_t key;              /* scratch for install keys */

    tally_cp_event_t *cp;
    size_t n_cp, cap_cp;

    tally_dlq_entry_t *dlq;
    size_t n_dlq, cap_dlq;
    size_t dlq_sent;                  /* entries already acknowledged by Kafka */

    tally_batch_progress_t *progress;
    size_t n_progress, cap_progress;

    size_t records;                   /* records read into the batch */
    size_t bytes;                     /* their value bytes */
    int64_t first_ms;                 /* monotonic time of the first record */
} tally_batch_t;

/* Returns an owned, empty batch (free with tally_batch_free); aborts when
 * out of memory. */
tally_batch_t *tally_batch_new(void);

/* Frees everything; NULL is a no-op. */
void tally_batch_free(tally_batch_t *b);

/* Empties the batch, keeping its memory. */
void tally_batch_reset(tally_batch_t *b);

/* Whether nothing was read into the batch. */
static inline int tally_batch_empty(const tally_batch_t *b)
{
    return b->records == 0;
}

/* Records that the batch holds role/partition up to offset (inclusive).
 * expected is the offset stored in PostgreSQL for that partition (-1 none);
 * only the first call per partition uses it. now_ms starts the batch clock. */
void tally_batch_track(tally_batch_t *b, tally_topic_role_t role, int32_t partition, int64_t offset,
                       int64_t expected, size_t value_bytes, int64_t now_ms);

/* Copies s[0..n) into the arena with a NUL; returns its offset. */
size_t tally_batch_strdup(tally_batch_t *b, const char *s, size_t n);

/* The string at arena offset off (borrowed; valid until the arena grows). */
static inline const char *tally_batch_str(const tally_batch_t *b, size_t off)
{
    return off == TALLY_BATCH_NULL ? NULL : b->arena.data + off;
}

/* Keeps the API usage rollup of key tenant|environment|day unless the batch
 * already holds a later one: on the same partition the higher offset wins,
 * across partitions the later updated_at. Strings are copied. */
void tally_batch_put_api(tally_batch_t *b, const char *tenant, size_t tenant_len, const char *environment,
                         size_t environment_len, const tally_api_rollup_t *values);

/* The same for seat rollups, key tenant|day. */
void tally_batch_put_seat(tally_batch_t *b, const char *tenant, size_t tenant_len,
                          const tally_seat_rollup_t *values);

/* Counts one product event of the batch in its (day, event, source,
 * version) group and notes its install there, unless b->known holds it
 * already; strings are copied on first sight, except source, which is borrowed (an enum symbol of the schema,
 * alive as long as the catalog). version may be NULL (counted as ""). */
void tally_batch_count_product(tally_batch_t *b, int32_t day, const char *source, const char *event, size_t event_len,
                               const char *version, size_t version_len, const char *install, size_t install_len);

/* The key of installs[i] as tally_seen_t knows it, written into out
 * (reset first); *hash gets its hash. */
void tally_batch_install_key(const tally_batch_t *b, size_t i, tally_textbuf_t *out, uint64_t *hash);

/* Appends a zeroed Control Panel event (owned by the batch) and returns it. */
tally_cp_event_t *tally_batch_add_cp(tally_batch_t *b, tally_cp_kind_t kind);

/* Appends a dead-letter record; detail is copied. */
void tally_batch_add_dlq(tally_batch_t *b, tally_topic_role_t role, int32_t partition, int64_t offset,
                         const char *error, const char *detail);

#endif
