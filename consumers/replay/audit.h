/*
 * audit.h: tally-replay audit [--tenant T] [--from TIME] [--to TIME]
 *
 * Re-reads the clean usage log (tally.usage), recomputes every API usage
 * and seat rollup with the aggregator's own library (recompute.h, the
 * same open days and reporter idle time as tally-aggregator), reads
 * api_usage_daily and seat_usage_daily of the live schema, and lists every
 * difference per tenant, environment and day, expected (from the log)
 * against materialized (in PostgreSQL): a row missing, a row nothing in
 * the log explains, or a value (or updated_at) that differs. Exit 0 only
 * when they are identical.
 *
 * What is read. Each partition is read from its first offset up to its
 * end when the audit starts: records produced later are not read. --tenant
 * narrows what is compared, not what is read: a tenant's rollups depend
 * on its partition's newest time (open days, reporter expiry), so every
 * record is applied. The
 * live pipeline keeps writing meanwhile, so on a running system the
 * newest day may differ only because it is still moving: audit up to a
 * past midnight (--to) there; on a quiet pipeline (or --to in the past)
 * every difference is real.
 *
 * Time windows compare whole UTC days: the first day starting at or after
 * --from, through the last day ending at or before --to (so
 * --from 2024-03-01 --to 2024-04-01 is March). --to only limits what is
 * compared, never what is read: a report that arrives later may still add
 * to an earlier day (late reports land in their own day while it is open),
 * and the read model holds the result of all of them.
 *
 * --from, and the cumulative reporters. A report carries totals since its
 * reporter started; the aggregator adds the part above what it knew of
 * that reporter. An audit that starts reading at --from would see each
 * running reporter's first report add its whole total, so instead:
 *   - each partition is read from the first offset whose timestamp is at
 *     or after --from minus the warm-up (--warmup, default reporter-idle +
 *     48 h: longer than any reporter stays silent without being expired,
 *     plus the clock skew the gateway allows). Records of the warm-up are
 *     applied, so every reporter alive at --from has its baseline, but
 *     their days are not compared;
 *   - what the warm-up cannot vouch for is not guessed: a reporter first
 *     seen after --from that may have had an older baseline (it started
 *     before the read, and the partition has not moved on by reporter-idle
 *     since), and every seat row (a seat assigned at any earlier time
 *     still counts), are "unverifiable": counted and named in the summary,
 *     not compared, not a failure. An audit without --from reads
 *     everything and verifies everything.
 * A partition whose oldest records were deleted (retention) is treated
 * like a --from read starting at its first record.
 */
#ifndef TALLY_REPLAY_AUDIT_H
#define TALLY_REPLAY_AUDIT_H

#include "replay.h"

/* Runs the audit, writes the report to o->out (table or JSON) and returns
 * an exit code: OK when identical, DIFFERENT when a difference was
 * listed, USAGE for an unknown tenant, FAILED when the broker, the
 * database or the topic failed (logged). */
int tally_replay_audit(const tally_replay_opts_t *o) __attribute__((warn_unused_result));

#endif
