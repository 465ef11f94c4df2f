/*
 * reader.h: reads ranges of Kafka partitions once, from a start offset to
 * an end offset, for tally-replay.
 *
 * Read-only by construction: the consumer is given its partitions with
 * assign() (it never subscribes, so it never joins or disturbs a consumer
 * group) and never commits an offset; its group.id only names it to the
 * broker. Like every Tally consumer it reads read_committed: records of
 * aborted transactions are never seen, and a range whose tail is held by an
 * open transaction is read once that transaction ends.
 *
 * A plan fixes each range before reading: the end is the partition's high
 * watermark at that moment (records produced later are not read, so a run
 * has a definite scope), the start its first retained offset or the first
 * offset whose timestamp is at or after a time (offsets-for-times).
 *
 * Progress goes to the log (stderr) every few seconds once a run takes
 * longer than that: the share of the offsets done, the records read and
 * the records per second.
 */
#ifndef TALLY_REPLAY_READER_H
#define TALLY_REPLAY_READER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* One partition to read: [start, end). */
typedef struct tally_replay_range_t {
    const char *topic;      /* borrowed from the plan's caller */
    int32_t partition;
    int tag;                /* the caller's, handed back with each record */
    int64_t log_start;      /* first retained offset when planned */
    int64_t start, end;     /* offsets to read: start inclusive, end exclusive */
    /* Filled while reading: */
    uint64_t records;       /* records delivered */
    int64_t first_offset, last_offset;   /* of the records delivered; -1: none */
    int64_t first_timestamp;             /* ms; -1: none */
} tally_replay_range_t;

/* A growable list of ranges (zero-initialize; free with
 * tally_replay_ranges_free). */
typedef struct tally_replay_ranges_t {
    tally_replay_range_t *v;
    size_t n, cap;
} tally_replay_ranges_t;

void tally_replay_ranges_free(tally_replay_ranges_t *l);

/* Appends a copy of r (its topic still borrowed); aborts when out of
 * memory. */
void tally_replay_ranges_add(tally_replay_ranges_t *l, const tally_replay_range_t *r);

/* One record handed to a callback; everything borrowed for the call. */
typedef struct tally_replay_record_t {
    const tally_replay_range_t *range;
    int32_t partition;
    int64_t offset;
    int64_t timestamp;      /* ms, -1 when the broker has none */
    const void *key;        /* NULL when the record has no key */
    size_t key_len;
    const void *value;      /* NULL for a tombstone */
    size_t len;
} tally_replay_record_t;

/* Returns 0 to go on; anything else stops the run, which returns it. */
typedef int (*tally_replay_record_fn)(void *ctx, const tally_replay_record_t *rec);

typedef struct tally_replay_reader_opts_t {
    const char *brokers;
    const char *group;          /* group.id: never joined, never committed */
    const char *client_id;
    const tally_config_t *cfg;  /* -X pairs; borrowed, may be NULL */
    int connect_timeout_ms;     /* how long the broker may take to answer at start */
    int stall_timeout_ms;       /* a run fails after this long without progress */
    const char *label;          /* names the run in progress lines, e.g. "audit" */
    bool progress;              /* progress lines on the log */
    int progress_every_ms;      /* how often; 0: every 2 s */
} tally_replay_reader_opts_t;

typedef struct tally_replay_reader_t tally_replay_reader_t;

/* Creates the consumer and waits until a broker answers. Strings of o are
 * copied. Returns an owned reader, or NULL with errbuf ("cannot reach the
 * Kafka broker at ...") when none answered within connect_timeout_ms. */
tally_replay_reader_t *tally_replay_reader_new(const tally_replay_reader_opts_t *o, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Closes the consumer (it commits nothing) and frees; NULL is a no-op. */
void tally_replay_reader_free(tally_replay_reader_t *r);

/* Appends one range per partition of topic (borrowed: it must outlive the
 * ranges), tagged tag: start at the first retained offset when from_ms < 0,
 * else at the first offset whose timestamp is >= from_ms (the end when
 * there is none); end at the high watermark now. Returns 0, or -1 with
 * errbuf (the topic does not exist, the broker did not answer). */
int tally_replay_reader_plan(tally_replay_reader_t *r, const char *topic, int tag, int64_t from_ms,
                             tally_replay_ranges_t *out, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Reads every range of l from start to end, each partition in offset
 * order, calling fn for each record; fills the ranges' counters. Stops
 * early when *stop is set (may be NULL; returns -1, "interrupted"), when
 * fn returns non-zero (returns that), or when no partition moved for
 * stall_timeout_ms (-1 with errbuf naming the partitions still short of
 * their end). Returns 0 when every range was read to its end. */
int tally_replay_reader_run(tally_replay_reader_t *r, tally_replay_ranges_t *l, tally_replay_record_fn fn,
                            void *ctx, volatile sig_atomic_t *stop, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Sums of the ranges' offsets to read and records delivered. */
uint64_t tally_replay_ranges_span(const tally_replay_ranges_t *l);
uint64_t tally_replay_ranges_records(const tally_replay_ranges_t *l);

#endif
