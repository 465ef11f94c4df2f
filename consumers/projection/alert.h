/*
 * alert.h: a UsageAlert (version 1, from the alerts topic) into the batch,
 * as one statement of kind TALLY_CP_USAGE_ALERT (projection.c holds its
 * SQL): INSERT ... ON CONFLICT (alert_id) DO NOTHING into alerts, with the
 * record's partition and offset. tally-notifier gives each crossing one
 * deterministic id, so an alert read twice (a replay, a rewind, the same
 * record in two batches) is stored once and the first record of an id is
 * the one kept, whatever came after.
 *
 * Values the table would refuse (an id that is not lower-case UUID-shaped
 * hex, a threshold not above 0, a negative value or limit, a period that is
 * neither YYYY-MM nor YYYY-MM-DD, an environment on a metric other than the
 * non-production daily one or none on it, text that is not UTF-8) are
 * refused here first, so a bad record goes to the dead-letter topic.
 */
#ifndef TALLY_ALERT_H
#define TALLY_ALERT_H

#include <stddef.h>
#include <stdint.h>

#include <avro.h>

#include "batch.h"

/* Adds the decoded alert v (borrowed) read at partition/offset to b as a
 * statement. Returns 0, or -1 with the reason in errbuf and the batch
 * unchanged. */
int tally_alert_add(tally_batch_t *b, avro_value_t *v, int32_t partition, int64_t offset, char *errbuf,
                    size_t errsize) __attribute__((warn_unused_result));

#endif
