/*
 * rollup.h: the aggregator's rollup logic, pure (no Kafka, no I/O, no
 * clock: every time comes from the records), shared by tally-aggregator
 * and tally-replay's audit so that both compute the very same numbers.
 *
 * One tally_rollup_t holds the state of ONE partition of tally.usage (all
 * records of a tenant share a partition). Its results depend only on the
 * records applied and their order, never on how they were split into
 * batches, when tally_rollup_expire ran, or whether the state was saved to
 * the changelog and restored in between.
 *
 * Usage reports (UsageReport).
 *   - A reporter is (tenant_id, environment_id, reporter_id): the same
 *     reporter_id under another tenant or environment is another reporter.
 *   - A report whose seq is <= the reporter's last applied seq is a
 *     duplicate (==) or stale (<) and changes nothing.
 *   - Otherwise it adds max(0, new - mark) of each counter to the rollup of
 *     (tenant, environment, UTC day of observed_at), where mark is the
 *     reporter's high-water mark of that counter, then mark = max(mark,
 *     new). A new reporter starts from marks of zero, so its first report
 *     adds its full counters; a reporter restart is a new reporter_id.
 *   - Counters that go DOWN for the same reporter add nothing and do NOT
 *     lower the mark: the reporter contributes, per counter, exactly the
 *     highest value it ever reported, so no call is ever counted twice
 *     (a glitched low report followed by a normal one adds nothing extra).
 *     The price: a reporter that reset its counters but kept its id (which
 *     the contract forbids) is under-counted until it passes its old mark.
 *     Such reports are counted in stats.counter_decreases.
 *   - Rollups are sums of non-negative deltas: a rollup's values never
 *     decrease (sums saturate at INT64_MAX).
 *   - updated_at of an API rollup is the newest observed_at among the
 *     reports applied to it.
 *
 * Seat events (SeatEventClean), per tenant.
 *   - Events are totally ordered by (occurred_at, event id, op); the event
 *     id compares as its 16 UUID bytes (any other text: a 128-bit BLAKE2b
 *     digest of it). An event equal to one already applied is a duplicate.
 *   - A seat's state at time t is the op of its greatest event <= t: last
 *     writer wins by occurred_at, ties broken by event id, so the result
 *     does not depend on arrival order. A seat never assigned is released.
 *   - seats in use at t: the tenant's seats assigned at t. For each UTC day
 *     with at least one event: seats_in_use = seats in use after the day's
 *     last event; seats_peak = the most seats in use at any moment of the
 *     day, counting the seats carried in from the day before (a seat
 *     released at 09:00 was in use that day); updated_at = occurred_at of
 *     the day's last event. A day without events has no rollup: its seats
 *     are the previous rollup's seats_in_use.
 *   - seat_ref is the seat's identity for its whole life: events match by
 *     (tenant_id, seat_ref), byte for byte. A seat whose ref changed would
 *     be another seat: its RELEASED would release nothing, the seat under
 *     the old ref would stay in use and a re-assignment would count twice.
 *     The anonymizer keeps seat refs stable across pseudonym key rotations
 *     by making them with a seat key that does not rotate
 *     (consumers/anonymizer/pseudonym.h); so the state, its changelog and
 *     a restore carry no key versions, and tally-replay's audit, which
 *     shares this code, follows.
 *   - An event that arrives late (older than others already applied) is
 *     inserted into the tenant's history and every rollup it touches is
 *     recomputed: the day it falls on and each later day until the seat's
 *     next event. A late release can thus LOWER a day's seats_peak; the
 *     final rollups are exactly those of applying the events in time
 *     order, whatever the arrival order, as long as no event was too late.
 *   - The history is bounded: see open days.
 *
 * Open days (config.open_days, say H). A day is open while it is one of
 * the H UTC days ending at the day of the newest record time seen: the
 * newest observed_at of applied reports of the partition for API rollups,
 * the newest occurred_at of the tenant's applied seat events for seat
 * rollups. A record whose day is no longer open is TOO_LATE and changes
 * nothing: the rollups of closed days are final. A too-late report is
 * exactly like a lost one: the reporter's next report carries its counts
 * (into that report's day). Seat events of closed days are folded into
 * each seat's base (its last event before the open days); a released seat
 * without open events is forgotten (a tenant keeps at least its newest
 * day, so it never forgets how late is too late). The gateway accepts
 * event times at most max-event-age (30 d) old and max-clock-skew (24 h)
 * ahead, so with H >= 33 nothing it accepts can be too late, and arrival
 * order never matters; the default is 35.
 *
 * Reporter expiry (config.reporter_idle_ms, say T). A reporter whose
 * newest observed_at is more than T older than the partition's newest is
 * expired: its next report counts as a new reporter's (full counters),
 * whether or not tally_rollup_expire has removed its entry yet. T must
 * exceed the longest silence of a live reporter plus the clock skew
 * between reporters, or a revived reporter's counters count twice.
 *
 * The aggregator and replay must use the same open_days and
 * reporter_idle_ms: both are part of the computation.
 *
 * Changes. The state tracks, in O(1) per change, which API rollups, seat
 * rollups and changelog entries changed since tally_rollup_clear_changes,
 * each once, in order of first change. A batch: apply its records, emit
 * the changed rollups (cumulative values) and changelog entries in one
 * transaction, commit, clear_changes. After an aborted transaction, free
 * the state and restore it from the changelog (the committed state), then
 * redo the batch: re-applying its records to the uncommitted state would
 * mostly find duplicates, but a reporter that expired meanwhile would
 * count again.
 *
 * Changelog (format in changelog.h): reporters, API rollups (their sums
 * cannot be derived from anything else) and seats with their open history
 * are entries; seat rollups are derived from the seats on restore.
 *
 * Memory: keyed open-addressing tables grown by doubling (size_hint avoids
 * the early doublings); tenant and environment ids are interned, reporter
 * ids and seat refs stored once in their entry; an applied record allocates
 * nothing once its keys exist (seat events come from a pooled free list).
 *
 * Not thread-safe: one thread per tally_rollup_t. Views passed to
 * callbacks borrow from the state: valid during the callback only, and
 * callbacks must not modify the state.
 */
#ifndef TALLY_AGGREGATOR_ROLLUP_H
#define TALLY_AGGREGATOR_ROLLUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TALLY_ROLLUP_DEFAULT_OPEN_DAYS 35
#define TALLY_ROLLUP_MAX_OPEN_DAYS 3660
#define TALLY_ROLLUP_MAX_IDLE_MS (INT64_C(3660) * 86400000)

typedef struct tally_rollup_t tally_rollup_t;

typedef struct tally_rollup_config_t {
    int32_t open_days;          /* 1..TALLY_ROLLUP_MAX_OPEN_DAYS; 0: the default */
    int64_t reporter_idle_ms;   /* 0..TALLY_ROLLUP_MAX_IDLE_MS; 0: never expire */
    size_t size_hint;           /* expected reporters (and as many rollups and
                                   seats); 0: start small */
    unsigned char hash_key[16]; /* SipHash key of the tables, e.g. random bytes;
                                   changes no result, only the order of
                                   tally_rollup_each_* */
} tally_rollup_config_t;

/* A UsageReport. Strings are borrowed, NUL-terminated, non-empty. */
typedef struct tally_rollup_report_t {
    const char *tenant_id;
    const char *environment_id;
    const char *reporter_id;
    int64_t seq;
    int64_t observed_at;        /* ms since the epoch */
    int64_t api_calls, status_4xx, status_5xx, exec_ms;
} tally_rollup_report_t;

/* SeatOp: the Avro enum's symbol indexes. */
typedef enum tally_seat_op_t {
    TALLY_SEAT_ASSIGNED = 0,
    TALLY_SEAT_RELEASED = 1,
} tally_seat_op_t;

/* A SeatEventClean. Strings are borrowed and NUL-terminated; tenant_id and
 * seat_ref are non-empty. */
typedef struct tally_rollup_seat_event_t {
    const char *event_id;
    const char *tenant_id;
    const char *seat_ref;
    tally_seat_op_t op;
    int64_t occurred_at;        /* ms since the epoch */
} tally_rollup_seat_event_t;

typedef enum tally_rollup_outcome_t {
    TALLY_ROLLUP_APPLIED = 0,   /* the state changed (perhaps no rollup did) */
    TALLY_ROLLUP_DUPLICATE,     /* same seq, or the same seat event, again */
    TALLY_ROLLUP_STALE,         /* seq below the reporter's last */
    TALLY_ROLLUP_TOO_LATE,      /* its day is closed */
    TALLY_ROLLUP_INVALID,       /* empty id, time outside years 0-9999, bad op */
} tally_rollup_outcome_t;

/* An ApiUsageRollup (key tenant|environment|day). Strings borrowed. */
typedef struct tally_api_rollup_t {
    const char *tenant_id;
    const char *environment_id;
    int32_t day;                /* days since 1970-01-01 (UTC) */
    int64_t api_calls, status_4xx, status_5xx, exec_ms;
    int64_t updated_at;
    bool closed;                /* day closed: the value is final */
} tally_api_rollup_t;

/* A SeatRollup (key tenant|day). tenant_id borrowed. */
typedef struct tally_seat_rollup_t {
    const char *tenant_id;
    int32_t day;
    int64_t seats_in_use, seats_peak;
    int64_t updated_at;
    bool closed;
} tally_seat_rollup_t;

/* A changelog record: key and value bytes (changelog.h); value NULL is a
 * tombstone. Borrowed. */
typedef struct tally_changelog_record_t {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
} tally_changelog_record_t;

/* Callbacks: return 0 to go on; anything else stops the iteration, which
 * returns that value. */
typedef int (*tally_api_rollup_fn)(void *ctx, const tally_api_rollup_t *rollup);
typedef int (*tally_seat_rollup_fn)(void *ctx, const tally_seat_rollup_t *rollup);
typedef int (*tally_changelog_fn)(void *ctx, const tally_changelog_record_t *record);

typedef struct tally_rollup_stats_t {
    size_t reporters, api_rollups, seats, seat_events, seat_rollups, tenants;
    size_t changed_api, changed_seats, changed_entries; /* pending changes */
    uint64_t reports_applied, reports_duplicate, reports_stale, reports_too_late;
    uint64_t reporters_revived;  /* expired reporters seen again before removal */
    uint64_t counter_decreases;  /* applied reports with a counter below its mark */
    uint64_t seat_events_applied, seat_events_duplicate, seat_events_too_late;
    uint64_t invalid;
} tally_rollup_stats_t;

/* Returns an owned, empty state (config copied), or NULL with the reason
 * in errbuf when a config value is out of range. Free with
 * tally_rollup_free. Allocation failure aborts. */
tally_rollup_t *tally_rollup_new(const tally_rollup_config_t *config, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Frees the state; NULL is a no-op. */
void tally_rollup_free(tally_rollup_t *r);

/* Applies one record (borrowed; copied where kept). */
tally_rollup_outcome_t tally_rollup_apply_usage(tally_rollup_t *r,
                                                const tally_rollup_report_t *report);
tally_rollup_outcome_t tally_rollup_apply_seat(tally_rollup_t *r,
                                               const tally_rollup_seat_event_t *event);

/* The changes since the last tally_rollup_clear_changes, each once, in
 * order of first change: API rollups and seat rollups with their current
 * values (closed ones included: a rollup that changed and then closed in
 * the same batch must still be produced), and changelog records (the
 * current value, or a tombstone for what was removed). */
int tally_rollup_each_changed_api(tally_rollup_t *r, tally_api_rollup_fn fn, void *ctx);
int tally_rollup_each_changed_seat(tally_rollup_t *r, tally_seat_rollup_fn fn, void *ctx);
int tally_rollup_each_changed_entry(tally_rollup_t *r, tally_changelog_fn fn, void *ctx);

/* Forgets the changes (after the transaction holding them committed) and
 * frees what was removed. */
void tally_rollup_clear_changes(tally_rollup_t *r);

/* Removes from memory what no longer changes any result: expired
 * reporters and closed API rollups (with changelog tombstones) and closed
 * seat rollups. Visits at most `budget` slots of each table, resuming
 * where the last call stopped (0: all), so calling it once per batch with
 * a small budget sweeps the whole state over time. Returns the entries
 * removed. Calling it or not never changes a result. */
size_t tally_rollup_expire(tally_rollup_t *r, size_t budget);

/* Rebuilds the state from the changelog: call tally_rollup_restore on a
 * fresh state for each record of the changelog partition, oldest first
 * (later records of a key replace earlier ones; tombstones remove), then
 * tally_rollup_restore_done once before applying anything. Restoring adds
 * no changes, but restore_done may (it folds history that a smaller
 * open_days has closed): produce them with the first batch. Returns 0, or
 * -1 with the reason in errbuf (undecodable record, or a state already in
 * use); the state is then unusable: free it. */
int tally_rollup_restore(tally_rollup_t *r, const tally_changelog_record_t *record, char *errbuf,
                         size_t errsize) __attribute__((warn_unused_result));
void tally_rollup_restore_done(tally_rollup_t *r);

/* Every API or seat rollup held (open, and closed ones not yet removed by
 * tally_rollup_expire: an audit that never expires sees every day), in no
 * particular order. */
int tally_rollup_each_api(tally_rollup_t *r, tally_api_rollup_fn fn, void *ctx);
int tally_rollup_each_seat(tally_rollup_t *r, tally_seat_rollup_fn fn, void *ctx);

/* Every live changelog entry: what a compacted changelog of this state
 * holds. */
int tally_rollup_snapshot(tally_rollup_t *r, tally_changelog_fn fn, void *ctx);

/* One rollup by key (strings borrowed): true and *out filled, or false. */
bool tally_rollup_get_api(tally_rollup_t *r, const char *tenant_id, const char *environment_id,
                          int32_t day, tally_api_rollup_t *out);
bool tally_rollup_get_seat(tally_rollup_t *r, const char *tenant_id, int32_t day,
                           tally_seat_rollup_t *out);

/* The tenant's seats in use after its newest event (0 if unknown). */
int64_t tally_rollup_seats_in_use(tally_rollup_t *r, const char *tenant_id);

/* Whether the tenant's seat is assigned now (after its newest event). */
bool tally_rollup_seat_assigned(tally_rollup_t *r, const char *tenant_id, const char *seat_ref);

void tally_rollup_stats(const tally_rollup_t *r, tally_rollup_stats_t *out);

/* A static name for an outcome: "applied", "duplicate", "stale",
 * "too_late", "invalid" (e.g. a metric label). */
const char *tally_rollup_outcome_name(tally_rollup_outcome_t outcome);

#endif /* TALLY_AGGREGATOR_ROLLUP_H */
