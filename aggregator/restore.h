/*
 * restore.h: reading tally-aggregator's state back from its changelog.
 *
 * The state of input partition p is the content of changelog partition p
 * (co-partitioned). The reading itself (waiting for stable partitions,
 * reading them read_committed to their end) is common/changelog_reader.h;
 * this adds the aggregator's records: position records and rollup state.
 */
#ifndef TALLY_AGGREGATOR_RESTORE_H
#define TALLY_AGGREGATOR_RESTORE_H

#include <stddef.h>
#include <stdint.h>

#include "changelog_reader.h"
#include "config.h"
#include "rollup.h"

typedef struct tally_restore_t tally_restore_t;

/* The same options as the changelog reader it wraps. */
typedef tally_changelog_reader_opts_t tally_restore_opts_t;

/* Creates both consumers (strings copied; cfg only read here). Returns an
 * owned restorer or NULL with errbuf. */
tally_restore_t *tally_restore_new(const tally_restore_opts_t *opts, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* NULL is a no-op. */
void tally_restore_free(tally_restore_t *r);

/* The partition count of topic (any topic), waiting up to timeout_ms for
 * the broker. Returns 0, or -1 with errbuf (no broker, no such topic). */
int tally_restore_partition_count(tally_restore_t *r, const char *topic, int timeout_ms, int *count,
                                  char *errbuf, size_t errsize) __attribute__((warn_unused_result));

/* Waits until changelog partitions[0..n) (borrowed) are all stable and
 * writes their end offsets into ends[0..n). Returns 0, or -1 with errbuf
 * when one is still unstable (or the broker unreachable) after
 * timeout_ms. */
int tally_restore_stable_ends(tally_restore_t *r, const int32_t *partitions, size_t n, int64_t *ends,
                              int timeout_ms, char *errbuf, size_t errsize) __attribute__((warn_unused_result));

/* Reads changelog partitions[i] from its beginning up to ends[i] (as
 * returned by tally_restore_stable_ends) into states[i], which must be
 * fresh (tally_rollup_new), with tally_rollup_restore, then calls
 * tally_rollup_restore_done on each: all partitions at once. positions[i]
 * gets the input position the state belongs to (the partition's last
 * position record, changelog.h), or -1 when it has none. Adds the
 * records read to *records. Fails when a record cannot be restored or no
 * record arrived for timeout_ms; returns 0, or -1 with errbuf (the states
 * are then unusable: free them). */
int tally_restore_read(tally_restore_t *r, const int32_t *partitions, size_t n, const int64_t *ends,
                       tally_rollup_t *const *states, int64_t *positions, int timeout_ms, uint64_t *records,
                       char *errbuf, size_t errsize) __attribute__((warn_unused_result));

#endif /* TALLY_AGGREGATOR_RESTORE_H */
