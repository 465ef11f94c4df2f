#include "usage_record.h"

#include <stdio.h>
#include <string.h>

static int get_string(avro_value_t *rec, const char *name, const char **out, char *errbuf,
                      size_t errsize)
{
    avro_value_t f;
    size_t size;

    if (avro_value_get_by_name(rec, name, &f, NULL) != 0 ||
        avro_value_get_string(&f, out, &size) != 0) {
        snprintf(errbuf, errsize, "%s: missing or not a string", name);
        return -1;
    }
    if (size == 0 || strlen(*out) != size - 1) {
        snprintf(errbuf, errsize, "%s: holds a NUL character", name);
        return -1;
    }
    return 0;
}

static int get_long(avro_value_t *rec, const char *name, int64_t *out, char *errbuf,
                    size_t errsize)
{
    avro_value_t f;

    if (avro_value_get_by_name(rec, name, &f, NULL) != 0 || avro_value_get_long(&f, out) != 0) {
        snprintf(errbuf, errsize, "%s: missing or not a long", name);
        return -1;
    }
    return 0;
}

static int get_op(avro_value_t *rec, tally_seat_op_t *op, char *errbuf, size_t errsize)
{
    avro_value_t f;
    int index;
    const char *symbol = NULL;

    if (avro_value_get_by_name(rec, "op", &f, NULL) == 0 && avro_value_get_enum(&f, &index) == 0)
        symbol = avro_schema_enum_get(avro_value_get_schema(&f), index);
    if (symbol != NULL && strcmp(symbol, "ASSIGNED") == 0) {
        *op = TALLY_SEAT_ASSIGNED;
        return 0;
    }
    if (symbol != NULL && strcmp(symbol, "RELEASED") == 0) {
        *op = TALLY_SEAT_RELEASED;
        return 0;
    }
    snprintf(errbuf, errsize, "op: missing or not ASSIGNED or RELEASED");
    return -1;
}

int tally_usage_record_read(const char *schema_name, avro_value_t *value,
                            tally_usage_record_t *out, char *errbuf, size_t errsize)
{
    memset(out, 0, sizeof *out);
    if (strcmp(schema_name, "UsageReport") == 0) {
        tally_rollup_report_t *u = &out->report;
        out->kind = TALLY_USAGE_RECORD_REPORT;
        if (get_string(value, "tenant_id", &u->tenant_id, errbuf, errsize) != 0 ||
            get_string(value, "environment_id", &u->environment_id, errbuf, errsize) != 0 ||
            get_string(value, "reporter_id", &u->reporter_id, errbuf, errsize) != 0 ||
            get_long(value, "seq", &u->seq, errbuf, errsize) != 0 ||
            get_long(value, "observed_at", &u->observed_at, errbuf, errsize) != 0 ||
            get_long(value, "api_calls", &u->api_calls, errbuf, errsize) != 0 ||
            get_long(value, "status_4xx", &u->status_4xx, errbuf, errsize) != 0 ||
            get_long(value, "status_5xx", &u->status_5xx, errbuf, errsize) != 0 ||
            get_long(value, "exec_ms", &u->exec_ms, errbuf, errsize) != 0)
            return -1;
        return 0;
    }
    if (strcmp(schema_name, "SeatEventClean") == 0) {
        tally_rollup_seat_event_t *s = &out->seat;
        out->kind = TALLY_USAGE_RECORD_SEAT;
        if (get_string(value, "event_id", &s->event_id, errbuf, errsize) != 0 ||
            get_string(value, "tenant_id", &s->tenant_id, errbuf, errsize) != 0 ||
            get_string(value, "seat_ref", &s->seat_ref, errbuf, errsize) != 0 ||
            get_op(value, &s->op, errbuf, errsize) != 0 ||
            get_long(value, "occurred_at", &s->occurred_at, errbuf, errsize) != 0)
            return -1;
        return 0;
    }
    snprintf(errbuf, errsize, "schema %s is not a usage record", schema_name);
    return -1;
}

tally_rollup_outcome_t tally_usage_record_apply(tally_rollup_t *r, const tally_usage_record_t *rec)
{
    if (rec->kind == TALLY_USAGE_RECORD_REPORT)
        return tally_rollup_apply_usage(r, &rec->report);
    return tally_rollup_apply_seat(r, &rec->seat);
}
