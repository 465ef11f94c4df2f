/*
 * usage_record.h: a decoded tally.usage record (UsageReport or
 * SeatEventClean, any version of either: fields are read by name) as the
 * rollup library's input, so tally-aggregator and tally-replay read the
 * topic the same way.
 */
#ifndef TALLY_AGGREGATOR_USAGE_RECORD_H
#define TALLY_AGGREGATOR_USAGE_RECORD_H

#include <stddef.h>

#include <avro.h>

#include "rollup.h"

typedef enum tally_usage_record_kind_t {
    TALLY_USAGE_RECORD_REPORT = 1,
    TALLY_USAGE_RECORD_SEAT = 2,
} tally_usage_record_kind_t;

typedef struct tally_usage_record_t {
    tally_usage_record_kind_t kind;
    tally_rollup_report_t report;   /* when kind is REPORT */
    tally_rollup_seat_event_t seat; /* when kind is SEAT */
} tally_usage_record_t;

/* Reads value (borrowed), a record of the schema named schema_name
 * ("UsageReport" or "SeatEventClean", e.g. the writer's catalog entry
 * name), into *out; its strings borrow from value (valid until the value
 * is reset or decoded over). Returns 0, or -1 with the reason in errbuf:
 * another schema, a missing or mistyped field, a string holding a NUL, an
 * unknown seat op. */
int tally_usage_record_read(const char *schema_name, avro_value_t *value,
                            tally_usage_record_t *out, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Applies rec (borrowed) to r with tally_rollup_apply_usage or _seat. */
tally_rollup_outcome_t tally_usage_record_apply(tally_rollup_t *r, const tally_usage_record_t *rec);

#endif /* TALLY_AGGREGATOR_USAGE_RECORD_H */
