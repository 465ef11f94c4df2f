/*
 * aggregator.h: tally-aggregator's pipeline: the rollup library (rollup.h)
 * run inside the transactional engine (txn_pipeline.h). tally.usage in;
 * per transaction, the changed rollups to tally.rollups, the state changes
 * to the compacted changelog (co-partitioned: input partition p writes
 * changelog partition p) and the input offsets, all or nothing.
 *
 * One rollup state per assigned input partition, driven by the engine's
 * hooks:
 *   on_assign      restore each new partition's state from its changelog
 *                  (restore.h) before any of its records is processed,
 *                  and start the partition at the input position stored
 *                  with the state (below);
 *   process        decode (any version of UsageReport or SeatEventClean),
 *                  check the key is the tenant, apply; what can never be
 *                  applied goes to the DLQ as headers only;
 *   before_commit  expire a little (bounded work per transaction), then
 *                  produce every changed rollup and changelog entry, and
 *                  the partition's input position (the next offset to
 *                  apply) as a changelog record of its own;
 *   after_commit   forget the changes;
 *   on_abort       drop every state: each is restored again from the
 *                  changelog (the committed state) before its partition's
 *                  next record, which the engine reads again;
 *   on_revoke      drop the state.
 *
 * State and position are committed together, in one changelog partition,
 * so a restore reads both to the same stable end: the partition starts
 * exactly where its state ends, even when the group's committed offset
 * read moments before differs (a transaction that ended in between). A
 * record below the position (a rewind behind the state) is skipped.
 *
 * Metrics (in opts.metrics, besides the engine's tally_txn_*):
 *   tally_aggregator_records_total{outcome}    applied, duplicate, stale,
 *       too_late, invalid (rollup.h), undecodable, unsupported, wrong_key
 *       (the last three and invalid go to the DLQ), already_in_state
 *   tally_aggregator_rollups_out_total{kind="api"|"seat"}
 *   tally_aggregator_changelog_out_total{kind="entry"|"tombstone"}
 *   tally_aggregator_state_entries{kind=...}   reporters, api_rollups,
 *       seats, seat_events, seat_rollups, tenants (all partitions held)
 *   tally_aggregator_partitions{state="active"}
 *   tally_aggregator_restore_seconds           histogram, per assignment
 *   tally_aggregator_restored_records_total, tally_aggregator_last_restore_ms,
 *   tally_aggregator_position_moved_total     assignments started at the
 *       state's position instead of the committed offset read before
 *   tally_aggregator_expired_total             entries removed by expiry
 *   tally_aggregator_flush_seconds             histogram: producing one
 *       transaction's rollups and changelog (before_commit)
 */
#ifndef TALLY_AGGREGATOR_AGGREGATOR_H
#define TALLY_AGGREGATOR_AGGREGATOR_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"
#include "schema_catalog.h"
#include "txn_pipeline.h"

typedef struct tally_aggregator_opts_t {
    const char *brokers;
    const char *group_id;
    const char *txn_id_prefix;
    const char *instance_id;
    const char *usage_topic;                     /* in */
    const char *rollups_topic, *changelog_topic; /* out */
    const char *dlq_topic;                       /* out */
    int batch_max_records, batch_max_ms;
    int32_t open_days;          /* rollup.h; must equal tally-replay's */
    int64_t reporter_idle_ms;   /* rollup.h; must equal tally-replay's */
    size_t expire_budget;       /* slots swept per table and partition per transaction; 0: 1024 */
    int restore_timeout_ms;     /* waiting for a stable changelog, and for its records; 0: 120000 */
    const tally_config_t *cfg;  /* -X pairs; borrowed, may be NULL */
    tally_metrics_t *metrics;   /* borrowed, may be NULL */
    const tally_catalog_t *schemas; /* borrowed */
} tally_aggregator_opts_t;

typedef struct tally_aggregator_t tally_aggregator_t;

/* Checks the topics (the changelog must have as many partitions as the
 * input), builds the engine (which joins the group). Borrowed options must
 * outlive the aggregator; strings are copied. Returns an owned aggregator
 * or NULL with errbuf. */
tally_aggregator_t *tally_aggregator_new(const tally_aggregator_opts_t *opts, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Runs until *stop (returns 0 after committing or aborting the open
 * transaction and leaving the group) or a fatal error (-1, errbuf). */
int tally_aggregator_run(tally_aggregator_t *a, volatile sig_atomic_t *stop, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* The engine, for health checks (borrowed). */
tally_txn_t *tally_aggregator_txn(tally_aggregator_t *a);

/* NULL is a no-op. */
void tally_aggregator_free(tally_aggregator_t *a);

#endif /* TALLY_AGGREGATOR_AGGREGATOR_H */
