/*
 * changelog.h: the record format of tally.aggregator.changelog.
 *
 * The changelog is a compacted topic: the last record of a key is the
 * state of that key, a tombstone (a record with a null value) removes it.
 * Keys never change format (compaction compares their bytes); values carry
 * a version byte, so a later release can read and rewrite older values.
 *
 * Key: one kind byte, then the key fields. A string is an unsigned LEB128
 * length and its bytes; a day is a zigzag LEB128 integer (Avro's long
 * encoding).
 *
 *   'R' tenant_id environment_id reporter_id   one reporter
 *   'U' tenant_id environment_id day           one ApiUsageRollup's sums
 *   'S' tenant_id seat_ref                     one seat and its history
 *   'M'                                        partition facts (one key)
 *   'P'                                        the input position (one key)
 *
 * Value: the version byte 0x01, then by kind (zz: zigzag LEB128 long):
 *
 *   R  zz seq, zz api_calls, zz status_4xx, zz status_5xx, zz exec_ms,
 *      zz last_observed_at (high-water marks of the counters, see rollup.h)
 *   U  zz api_calls, zz status_4xx, zz status_5xx, zz exec_ms, zz updated_at
 *   S  a flags byte (bit 0: has a folded base event), the base event if
 *      any, an unsigned LEB128 count, then that many events in order;
 *      an event is 25 fixed bytes: occurred_at (int64 little-endian), the
 *      16-byte event id digest, op (0 ASSIGNED, 1 RELEASED)
 *   M  a flags byte (bit 0: has api_closed_through), then zz that day
 *   P  zz the offset of the next input record to process: the state held
 *      by the other keys is the effect of every input record before it.
 *      Written in the same transaction as the changes, so a restore that
 *      reads the partition to a stable end gets a state and the input
 *      position it belongs to together, whatever the group's committed
 *      offsets say at that moment (the aggregator and its restore handle
 *      it; the rollup library never sees it).
 *
 * Decoding rejects any other kind, version or op, a truncated field, an
 * overlong or overflowing integer, a day outside int32 and trailing bytes.
 */
#ifndef TALLY_AGGREGATOR_CHANGELOG_H
#define TALLY_AGGREGATOR_CHANGELOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TALLY_CHANGELOG_VERSION 1
#define TALLY_CHANGELOG_EVENT_ID_LEN 16
#define TALLY_CHANGELOG_EVENT_LEN 25

typedef enum tally_changelog_kind_t {
    TALLY_CHANGELOG_REPORTER = 'R',
    TALLY_CHANGELOG_API_DAY = 'U',
    TALLY_CHANGELOG_SEAT = 'S',
    TALLY_CHANGELOG_META = 'M',
    TALLY_CHANGELOG_POSITION = 'P',
} tally_changelog_kind_t;

/* One seat event as the state keeps it. */
typedef struct tally_changelog_seat_event_t {
    int64_t at;                                      /* occurred_at, ms */
    unsigned char id[TALLY_CHANGELOG_EVENT_ID_LEN]; /* event id digest */
    uint8_t op;                                      /* 0 ASSIGNED, 1 RELEASED */
} tally_changelog_seat_event_t;

/* A decoded record. Strings and events point into the key and value
 * buffers given to tally_changelog_decode (borrowed, not NUL-terminated). */
typedef struct tally_changelog_entry_t {
    tally_changelog_kind_t kind;
    bool tombstone;                 /* null value: remove the key */
    const char *tenant;             /* R, U, S */
    size_t tenant_len;
    const char *environment;        /* R, U */
    size_t environment_len;
    const char *name;               /* R: reporter_id; S: seat_ref */
    size_t name_len;
    int32_t day;                    /* U */
    int64_t seq;                    /* R */
    int64_t counters[4];            /* R: high-water marks; U: sums (api_calls,
                                       status_4xx, status_5xx, exec_ms) */
    int64_t time;                   /* R: last_observed_at; U: updated_at */
    bool has_base;                  /* S */
    tally_changelog_seat_event_t base;
    size_t n_events;                /* S: read them with tally_changelog_seat_event */
    const unsigned char *events;
    bool has_closed_through;        /* M */
    int32_t api_closed_through;
    int64_t next_offset;            /* P */
} tally_changelog_entry_t;

/* A growable byte buffer the encoders append to. Zero-initialize it; free
 * with tally_changelog_buf_free. Allocation failure aborts. */
typedef struct tally_changelog_buf_t {
    unsigned char *data;
    size_t len, cap;
} tally_changelog_buf_t;

void tally_changelog_buf_reset(tally_changelog_buf_t *b);
void tally_changelog_buf_free(tally_changelog_buf_t *b);

/* Key encoders: append one key to b. Strings are borrowed (ptr, len). */
void tally_changelog_key_reporter(tally_changelog_buf_t *b, const char *tenant, size_t tenant_len,
                                  const char *env, size_t env_len, const char *reporter,
                                  size_t reporter_len);
void tally_changelog_key_api_day(tally_changelog_buf_t *b, const char *tenant, size_t tenant_len,
                                 const char *env, size_t env_len, int32_t day);
void tally_changelog_key_seat(tally_changelog_buf_t *b, const char *tenant, size_t tenant_len,
                              const char *seat_ref, size_t seat_ref_len);
void tally_changelog_key_meta(tally_changelog_buf_t *b);
void tally_changelog_key_position(tally_changelog_buf_t *b);

/* Value encoders: append one value to b. */
void tally_changelog_value_reporter(tally_changelog_buf_t *b, int64_t seq, const int64_t counters[4],
                                    int64_t last_observed_at);
void tally_changelog_value_api_day(tally_changelog_buf_t *b, const int64_t sums[4],
                                   int64_t updated_at);
/* A seat value: this header (base borrowed, NULL for none), then exactly
 * n_events calls of tally_changelog_value_seat_event, oldest first. */
void tally_changelog_value_seat(tally_changelog_buf_t *b, const tally_changelog_seat_event_t *base,
                                size_t n_events);
void tally_changelog_value_seat_event(tally_changelog_buf_t *b,
                                      const tally_changelog_seat_event_t *event);
void tally_changelog_value_meta(tally_changelog_buf_t *b, bool has_closed_through,
                                int32_t api_closed_through);
void tally_changelog_value_position(tally_changelog_buf_t *b, int64_t next_offset);

/* Decodes key[0..key_len) and value[0..value_len) (both borrowed; value
 * NULL is a tombstone) into *out, which then points into them. Returns 0,
 * or -1 with the reason in errbuf. */
int tally_changelog_decode(const void *key, size_t key_len, const void *value, size_t value_len,
                           tally_changelog_entry_t *out, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Event i (< e->n_events) of a decoded seat entry. */
void tally_changelog_seat_event(const tally_changelog_entry_t *e, size_t i,
                                tally_changelog_seat_event_t *out);

#endif /* TALLY_AGGREGATOR_CHANGELOG_H */
