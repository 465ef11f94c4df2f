/*
 * changelog_reader.h: reading a consumer's state back from the compacted
 * changelog it writes in its Kafka transactions (tally-aggregator's
 * tally.aggregator.changelog, tally-notifier's tally.notifier.changelog).
 * The record format is the caller's: each record goes to its apply hook.
 *
 * Whoever wrote a changelog partition last may have left a transaction
 * open: a member that was killed, or that lost the partition in a
 * rebalance while its commit was in flight; the commit markers of the
 * latest committed transaction may also still be on their way. Reading
 * while a transaction is unresolved could miss a commit that the group's
 * committed input offsets already include, and count its input again. So
 * a restore first waits until the partition is stable — its last stable
 * offset (what read_committed readers may read) equals its high watermark:
 * every transaction that ever wrote to it is committed or aborted — and
 * then reads it, read_committed, from the beginning up to that offset.
 * Only the owner of a changelog partition writes to it, and the restore
 * runs before the owner processes anything, so the wait ends as soon as
 * the previous owner's last transaction is resolved: at once after a clean
 * handover, when a killed owner's successor with the same transactional.id
 * fences it, or at the latest after transaction.timeout.ms.
 *
 * Two consumers (never group members, never committing) do the work: one
 * read_committed that reads and queries last stable offsets, one
 * read_uncommitted that queries high watermarks. Not thread-safe: use it
 * from the consumer's loop only.
 */
#ifndef TALLY_CHANGELOG_READER_H
#define TALLY_CHANGELOG_READER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct tally_changelog_reader_t tally_changelog_reader_t;

typedef struct tally_changelog_reader_opts_t {
    const char *brokers;
    const char *topic;          /* the changelog */
    const char *client_id;      /* for the broker's logs */
    const char *group_id;       /* required by librdkafka's assign; never joined */
    const tally_config_t *cfg;  /* -X pairs (may be NULL, borrowed): keys without a "consumer." or
                                   "producer." prefix and "restore.<key>" apply here */
} tally_changelog_reader_opts_t;

/* One changelog record of partitions[index] (key and value borrowed for
 * the call; value NULL for a tombstone). Returns 0, or non-zero with the
 * reason in why: the read stops and fails. */
typedef int (*tally_changelog_apply_fn)(void *arg, size_t index, const void *key, size_t key_len, const void *value,
                                        size_t value_len, char *why, size_t whysize);

/* Creates both consumers (strings copied; cfg only read here). Returns an
 * owned reader or NULL with errbuf. */
tally_changelog_reader_t *tally_changelog_reader_new(const tally_changelog_reader_opts_t *opts, char *errbuf,
                                                     size_t errsize) __attribute__((warn_unused_result));

/* NULL is a no-op. */
void tally_changelog_reader_free(tally_changelog_reader_t *r);

/* The partition count of topic (any topic), waiting up to timeout_ms for
 * the broker. Returns 0, or -1 with errbuf (no broker, no such topic). */
int tally_changelog_reader_partition_count(tally_changelog_reader_t *r, const char *topic, int timeout_ms,
                                           int *count, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Waits until changelog partitions[0..n) (borrowed) are all stable and
 * writes their end offsets into ends[0..n). Returns 0, or -1 with errbuf
 * when one is still unstable (or the broker unreachable) after
 * timeout_ms. */
int tally_changelog_reader_stable_ends(tally_changelog_reader_t *r, const int32_t *partitions, size_t n,
                                       int64_t *ends, int timeout_ms, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Reads changelog partitions[i] from its beginning up to ends[i] (as
 * returned by tally_changelog_reader_stable_ends), all partitions at once,
 * calling apply(arg, i, ...) for each record in offset order per
 * partition. Adds the records read to *records. Fails when apply fails or
 * no record arrived for timeout_ms; returns 0, or -1 with errbuf. */
int tally_changelog_reader_read(tally_changelog_reader_t *r, const int32_t *partitions, size_t n,
                                const int64_t *ends, tally_changelog_apply_fn apply, void *arg, int timeout_ms,
                                uint64_t *records, char *errbuf, size_t errsize) __attribute__((warn_unused_result));

#endif /* TALLY_CHANGELOG_READER_H */
