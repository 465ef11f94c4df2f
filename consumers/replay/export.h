/*
 * export.h: tally-replay export --tenant T --period YYYY-MM
 *           [--format table|csv|json]
 *
 * One tenant's usage for one calendar month (UTC), day by day and
 * environment by environment, recomputed from the clean usage log with
 * the aggregator's own library (recompute.h): evidence for a customer who
 * disputes a figure. Each row names where it came from: the topic, the
 * partition and the first and last offsets of the usage records applied
 * to it, and how many there were (other tenants' records may sit between
 * them: the range is the span, the count is the tenant's). Records of the
 * day that changed nothing (duplicate, stale, too late) are counted apart
 * as "ignored".
 *
 * Rows:
 *   api          tenant, environment, day: api_calls, status_4xx,
 *                status_5xx, exec_ms, updated_at (the rollup's values)
 *   seats        tenant, day: seats_in_use, seats_peak (from the seat
 *                events of that day and every seat carried in)
 *   api_total    per environment, and "*" for all: the month's sums
 *   seats_total  the month's highest peak, the seats in use on its last
 *                reported day
 * and a check per row against the live read model: ok, differs, missing
 * (in the log, not materialized), only_materialized (the figure shown
 * has no ground in the log) or unverifiable (the log's oldest records
 * were deleted: see recompute.h).
 *
 * The log is always read from the beginning: a reporter's baseline and a
 * seat's state may come from any earlier day, and evidence must be exact.
 */
#ifndef TALLY_REPLAY_EXPORT_H
#define TALLY_REPLAY_EXPORT_H

#include "replay.h"

/* Runs the export, writes it to o->out and returns an exit code: OK when
 * every row checks ok (or unverifiable), DIFFERENT when the log and the
 * read model disagree on a row (still exported), USAGE for an unknown
 * tenant, FAILED on a broker, database or topic failure (logged). */
int tally_replay_export(const tally_replay_opts_t *o) __attribute__((warn_unused_result));

#endif
