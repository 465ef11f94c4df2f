/*
 * recompute.h: the rollups of the clean usage log (tally.usage), recomputed
 * with the aggregator's own library (aggregator/rollup.h, usage_record.h)
 * exactly as tally-aggregator computes them: one rollup state per
 * partition, the records applied in offset order, the same open days and
 * reporter idle time. A record the aggregator sends to its dead-letter
 * topic changes nothing here either: an undecodable value, a schema that is
 * not a usage record, a key that is not the record's tenant_id, an invalid
 * record. Nothing is ever expired, so every day stays visible.
 *
 * Reading without the whole history. A partition read from a later offset
 * than its first (a from-time audit, or older records deleted by
 * retention) lacks what came before, and two kinds of rows can then not be
 * known from the records read; they are flagged TALLY_REPLAY_UNVERIFIABLE
 * rather than guessed:
 *   - seat rows: a seat assigned before the read and never touched since
 *     still counts every day after;
 *   - the API row that receives a reporter's first report in the read,
 *     unless that reporter certainly had no baseline the aggregator knew:
 *     it started after the read began (reporter_started_at later than the
 *     read start plus the clock skew allowed), or the aggregator had
 *     certainly expired it (the partition's newest time is past the read
 *     start by reporter_idle plus the skew). Its other reports are exact:
 *     counters are cumulative, so the high-water mark after its first
 *     report is the same with or without the older ones;
 *   - and API rows of the days before warmup has passed since the read
 *     began (reporters silent in that time are not known yet).
 * A read that starts warmup before the compared days (reporter_idle plus
 * two days by default) thus sees every reporter still alive, and the
 * flagged rows are the rare reporters silent longer than that.
 *
 * Provenance (for export): for one tenant and a range of days, each row
 * also gets the partition and the first and last offsets of the usage
 * records applied to it, and how many; records that changed nothing there
 * (duplicate, stale, too late) are counted apart.
 */
#ifndef TALLY_REPLAY_RECOMPUTE_H
#define TALLY_REPLAY_RECOMPUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reader.h"
#include "rows.h"
#include "schema_catalog.h"

typedef struct tally_recompute_opts_t {
    const tally_catalog_t *catalog; /* borrowed; must outlive the recompute */
    int32_t open_days;              /* must equal tally-aggregator's */
    int64_t reporter_idle_ms;       /* must equal tally-aggregator's */
    int64_t skew_ms;                /* how far ahead a reporter's clock may run (the gateway's limit) */
    int64_t warmup_ms;              /* see above */
    const char *track_tenant;       /* provenance for this tenant (copied), or NULL */
    int32_t track_from_day, track_to_day;
} tally_recompute_opts_t;

typedef struct tally_recompute_stats_t {
    uint64_t records;
    uint64_t applied, duplicate, stale, too_late;   /* rollup.h outcomes */
    uint64_t invalid, undecodable, unsupported, wrong_key; /* what the aggregator dead-letters */
    uint64_t uncertain_reporters;   /* first reports whose baseline cannot be known */
} tally_recompute_stats_t;

typedef struct tally_recompute_t tally_recompute_t;

/* Returns an owned recompute, or NULL with errbuf (a configuration the
 * library refuses). */
tally_recompute_t *tally_recompute_new(const tally_recompute_opts_t *o, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* NULL is a no-op. */
void tally_recompute_free(tally_recompute_t *rc);

/* Declares how a partition is read, before its first record: partial when
 * it does not start at offset 0; read_start_ms the time it starts at (-1:
 * the timestamp of its first record). Undeclared partitions are read
 * whole. */
void tally_recompute_partition(tally_recompute_t *rc, int32_t partition, bool partial, int64_t read_start_ms);

/* A tally_replay_record_fn: applies one tally.usage record (ctx is the
 * recompute). Always returns 0: a record that cannot be applied is
 * counted, as the aggregator dead-letters it. */
int tally_recompute_record(void *ctx, const tally_replay_record_t *rec);

/* Appends every recomputed row (both tables; seats only when seats) of
 * tenant (NULL: all) on days from_day..to_day to out, flagged and with
 * provenance as above. */
void tally_recompute_rows(tally_recompute_t *rc, const char *tenant, int32_t from_day, int32_t to_day, bool seats,
                          tally_replay_rows_t *out);

/* The first day whose API rows every partial partition can vouch for
 * (INT32_MIN when every partition was read whole): the read start plus
 * the warm-up, rounded up to a whole day, the latest over partitions that
 * delivered records. */
int32_t tally_recompute_first_exact_day(const tally_recompute_t *rc);

/* Whether some partition that delivered records was read partially. */
bool tally_recompute_partial(const tally_recompute_t *rc);

void tally_recompute_stats(const tally_recompute_t *rc, tally_recompute_stats_t *out);

#endif
