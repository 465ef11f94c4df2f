/*
 * rebuild.h: tally-replay rebuild --schema NAME [--swap]
 *
 * Projects the logs the materializer reads (rollups, product, Control
 * Panel) from their beginning into a fresh schema NAME, with the
 * materializer's own code (project.h; the tables copied from the live
 * schema, shadow.h), then compares every table with the live schema and
 * lists what differs.
 *
 * The rebuilt schema's kafka_offsets holds its progress under the live
 * materializer's group (--materializer-group), so after a swap
 * tally-materializer goes on exactly from there. Before comparing, the
 * rebuild also projects whatever the live materializer has written
 * meanwhile (up to its stored offsets), so a running pipeline compares
 * like for like.
 *
 * --swap then makes the rebuilt tables the live ones in one transaction
 * (shadow.h): it locks the live offsets (the live materializer pauses
 * before its next batch), catches up on the last records it wrote, swaps
 * the tables, points the views at them and commits. The previous live
 * tables are kept in schema NAME: swapping again restores them; drop the
 * schema once satisfied. Other consumer groups' rows of kafka_offsets are
 * not carried over.
 */
#ifndef TALLY_REPLAY_REBUILD_H
#define TALLY_REPLAY_REBUILD_H

#include "replay.h"

/* Runs the rebuild, writes the report to o->out and returns an exit code:
 * OK when the rebuilt tables equal the live ones, or after a swap;
 * DIFFERENT when they differ (listed, not swapped); USAGE for a bad or
 * existing schema name; FAILED on a broker, database or topic failure
 * (logged; the schema NAME is left as it was for inspection). */
int tally_replay_rebuild(const tally_replay_opts_t *o) __attribute__((warn_unused_result));

#endif
