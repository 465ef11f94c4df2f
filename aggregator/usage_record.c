#include "usage_record.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A field read: its name and type. */
typedef enum field_type_t { F_STRING, F_LONG, F_OP } field_type_t;
typedef struct field_t {
    const char *name;
    field_type_t type;
} field_t;

/* The fields read, in reading order (the order decides which error a
 * record with several faults gets). */
enum { R_TENANT, R_ENV, R_REPORTER, R_SEQ, R_OBSERVED, R_CALLS, R_4XX, R_5XX, R_EXEC, R_COUNT };
static const field_t report_fields[R_COUNT] = {
    {"tenant_id", F_STRING}, {"environment_id", F_STRING}, {"reporter_id", F_STRING},
    {"seq", F_LONG}, {"observed_at", F_LONG}, {"api_calls", F_LONG},
    {"status_4xx", F_LONG}, {"status_5xx", F_LONG}, {"exec_ms", F_LONG},
};
enum { S_EVENT, S_TENANT, S_SEAT, S_OP, S_OCCURRED, S_COUNT };
static const field_t seat_fields[S_COUNT] = {
    {"event_id", F_STRING}, {"tenant_id", F_STRING}, {"seat_ref", F_STRING},
    {"op", F_OP}, {"occurred_at", F_LONG},
};
#define MAX_FIELDS R_COUNT

/* Where one schema's fields are, for one kind. */
typedef struct layout_t {
    avro_schema_t schema;            /* referenced; NULL: free slot */
    tally_usage_record_kind_t kind;
    int index[MAX_FIELDS];           /* of each field of the kind, -1: missing */
    avro_schema_t op_enum;           /* referenced; the op values' enum last seen */
    int assigned, released;          /* its symbol indexes, -1: none */
} layout_t;

/* A handful of versions at a time; more evict round-robin. */
#define READER_SLOTS 8

struct tally_usage_reader_t {
    layout_t slots[READER_SLOTS];
    size_t last, next_evict;
};

/* The op of enum symbol index in e through l's cache (resolving e if new). */
static int op_of_symbol(layout_t *l, avro_schema_t e, int64_t index, tally_seat_op_t *op)
{
    if (e != l->op_enum) {
        if (l->op_enum != NULL)
            avro_schema_decref(l->op_enum);
        l->op_enum = avro_schema_incref(e);
        l->assigned = avro_schema_enum_get_by_name(e, "ASSIGNED");
        l->released = avro_schema_enum_get_by_name(e, "RELEASED");
    }
    if (index != l->assigned && index != l->released)
        return -1;
    *op = index == l->assigned ? TALLY_SEAT_ASSIGNED : TALLY_SEAT_RELEASED;
    return 0;
}

/* The enum index of f as an op: through l's symbol indexes when f is of
 * the enum l resolved last (resolving a new one), else by symbol name. */
static int op_of(avro_value_t *f, layout_t *l, tally_seat_op_t *op)
{
    int index;

    if (avro_value_get_enum(f, &index) != 0)
        return -1;
    avro_schema_t e = avro_value_get_schema(f);
    if (e == NULL || !is_avro_enum(e) || index < 0 || index >= avro_schema_enum_number_of_symbols(e))
        return -1;
    if (l != NULL)
        return op_of_symbol(l, e, index, op);
    const char *symbol = avro_schema_enum_get(e, index);
    if (strcmp(symbol, "ASSIGNED") == 0)
        *op = TALLY_SEAT_ASSIGNED;
    else if (strcmp(symbol, "RELEASED") == 0)
        *op = TALLY_SEAT_RELEASED;
    else
        return -1;
    return 0;
}

/* Reads fields[0..n) of rec into dst[i] (a const char **, int64_t * or
 * tally_seat_op_t * by type), finding them through l (NULL: by name). */
static int read_fields(const field_t *fields, size_t n, void *const *dst, layout_t *l, avro_value_t *rec,
                       char *errbuf, size_t errsize)
{
    for (size_t i = 0; i < n; i++) {
        const field_t *fd = &fields[i];
        avro_value_t f;
        bool found = l != NULL ? l->index[i] >= 0 && avro_value_get_by_index(rec, (size_t)l->index[i], &f, NULL) == 0
                               : avro_value_get_by_name(rec, fd->name, &f, NULL) == 0;
        switch (fd->type) {
        case F_STRING: {
            const char **out = dst[i];
            size_t size;
            if (!found || avro_value_get_string(&f, out, &size) != 0) {
                snprintf(errbuf, errsize, "%s: missing or not a string", fd->name);
                return -1;
            }
            if (size == 0 || memchr(*out, '\0', size - 1) != NULL) {
                snprintf(errbuf, errsize, "%s: holds a NUL character", fd->name);
                return -1;
            }
            break;
        }
        case F_LONG:
            if (!found || avro_value_get_long(&f, dst[i]) != 0) {
                snprintf(errbuf, errsize, "%s: missing or not a long", fd->name);
                return -1;
            }
            break;
        case F_OP:
            if (!found || op_of(&f, l, dst[i]) != 0) {
                snprintf(errbuf, errsize, "%s: missing or not ASSIGNED or RELEASED", fd->name);
                return -1;
            }
            break;
        }
    }
    return 0;
}

static int kind_of(const char *schema_name, tally_usage_record_kind_t *kind)
{
    if (strcmp(schema_name, "UsageReport") == 0)
        *kind = TALLY_USAGE_RECORD_REPORT;
    else if (strcmp(schema_name, "SeatEventClean") == 0)
        *kind = TALLY_USAGE_RECORD_SEAT;
    else
        return -1;
    return 0;
}

/* Clears out for a record of kind: the fields to read and where each goes
 * (dst, MAX_FIELDS long). Returns their count. */
static size_t targets(tally_usage_record_t *out, tally_usage_record_kind_t kind, const field_t **fields,
                      void **dst)
{
    memset(out, 0, sizeof *out);
    out->kind = kind;
    if (kind == TALLY_USAGE_RECORD_REPORT) {
        tally_rollup_report_t *u = &out->report;
        void *const d[R_COUNT] = {
            &u->tenant_id, &u->environment_id, &u->reporter_id, &u->seq, &u->observed_at,
            &u->api_calls, &u->status_4xx, &u->status_5xx, &u->exec_ms,
        };
        memcpy(dst, d, sizeof d);
        *fields = report_fields;
        return R_COUNT;
    }
    tally_rollup_seat_event_t *s = &out->seat;
    void *const d[S_COUNT] = {&s->event_id, &s->tenant_id, &s->seat_ref, &s->op, &s->occurred_at};
    memcpy(dst, d, sizeof d);
    *fields = seat_fields;
    return S_COUNT;
}

/* Reads value as kind, its fields found through l (NULL: by name). */
static int read_as(tally_usage_record_kind_t kind, layout_t *l, avro_value_t *value,
                   tally_usage_record_t *out, char *errbuf, size_t errsize)
{
    const field_t *fields;
    void *dst[MAX_FIELDS];
    size_t n = targets(out, kind, &fields, dst);
    return read_fields(fields, n, dst, l, value, errbuf, errsize);
}

int tally_usage_record_read(const char *schema_name, avro_value_t *value,
                            tally_usage_record_t *out, char *errbuf, size_t errsize)
{
    tally_usage_record_kind_t kind;

    memset(out, 0, sizeof *out);
    if (kind_of(schema_name, &kind) != 0) {
        snprintf(errbuf, errsize, "schema %s is not a usage record", schema_name);
        return -1;
    }
    return read_as(kind, NULL, value, out, errbuf, errsize);
}

/* ---- the reader ----------------------------------------------------------- */

tally_usage_reader_t *tally_usage_reader_new(void)
{
    tally_usage_reader_t *rd = calloc(1, sizeof *rd);
    if (rd == NULL) {
        fputs("usage_record: out of memory\n", stderr);
        abort();
    }
    return rd;
}

static void layout_clear(layout_t *l)
{
    if (l->schema != NULL)
        avro_schema_decref(l->schema);
    if (l->op_enum != NULL)
        avro_schema_decref(l->op_enum);
    memset(l, 0, sizeof *l);
}

void tally_usage_reader_free(tally_usage_reader_t *rd)
{
    if (rd == NULL)
        return;
    for (size_t i = 0; i < READER_SLOTS; i++)
        layout_clear(&rd->slots[i]);
    free(rd);
}

/* Resolves the fields of kind in record schema s into a slot. */
static layout_t *layout_add(tally_usage_reader_t *rd, avro_schema_t s, tally_usage_record_kind_t kind)
{
    const field_t *fields = kind == TALLY_USAGE_RECORD_REPORT ? report_fields : seat_fields;
    int n = kind == TALLY_USAGE_RECORD_REPORT ? R_COUNT : S_COUNT;
    size_t i;

    for (i = 0; i < READER_SLOTS && rd->slots[i].schema != NULL; i++)
        ;
    if (i == READER_SLOTS) {
        i = rd->next_evict;
        rd->next_evict = (rd->next_evict + 1) % READER_SLOTS;
    }
    layout_t *l = &rd->slots[i];
    layout_clear(l);
    l->schema = avro_schema_incref(s);
    l->kind = kind;
    l->assigned = l->released = -1;
    for (int f = 0; f < MAX_FIELDS; f++)
        l->index[f] = f < n ? avro_schema_record_field_get_index(s, fields[f].name) : -1;
    rd->last = i;
    return l;
}

static layout_t *layout_find(tally_usage_reader_t *rd, avro_schema_t s, tally_usage_record_kind_t kind)
{
    layout_t *l = &rd->slots[rd->last];
    if (l->schema == s && l->kind == kind)
        return l;
    for (size_t i = 0; i < READER_SLOTS; i++) {
        l = &rd->slots[i];
        if (l->schema == s && l->kind == kind) {
            rd->last = i;
            return l;
        }
    }
    return NULL;
}

int tally_usage_reader_read(tally_usage_reader_t *rd, const char *schema_name, avro_value_t *value,
                            tally_usage_record_t *out, char *errbuf, size_t errsize)
{
    tally_usage_record_kind_t kind;

    memset(out, 0, sizeof *out);
    if (kind_of(schema_name, &kind) != 0) {
        snprintf(errbuf, errsize, "schema %s is not a usage record", schema_name);
        return -1;
    }
    avro_schema_t s = avro_value_get_schema(value);
    if (s == NULL || !is_avro_record(s))
        return read_as(kind, NULL, value, out, errbuf, errsize); /* no indexes to resolve */
    layout_t *l = layout_find(rd, s, kind);
    if (l == NULL)
        l = layout_add(rd, s, kind);
    return read_as(kind, l, value, out, errbuf, errsize);
}

/* read_fields over a flat record; -1 wherever read_fields would fail, so
 * that the caller takes the path that says why. */
static int read_flat(const field_t *fields, size_t n, void *const *dst, layout_t *l,
                     const tally_flat_field_t *flat, size_t n_flat)
{
    for (size_t i = 0; i < n; i++) {
        if (l->index[i] < 0 || (size_t)l->index[i] >= n_flat)
            return -1;
        const tally_flat_field_t *x = &flat[l->index[i]];
        switch (fields[i].type) {
        case F_STRING:
            if (x->type != AVRO_STRING || memchr(x->str, '\0', x->len) != NULL)
                return -1;
            *(const char **)dst[i] = x->str;
            break;
        case F_LONG:
            if (x->type != AVRO_INT64)
                return -1;
            *(int64_t *)dst[i] = x->number;
            break;
        case F_OP:
            if (x->type != AVRO_ENUM || op_of_symbol(l, x->schema, x->number, dst[i]) != 0)
                return -1;
            break;
        }
    }
    return 0;
}

int tally_usage_reader_decode(tally_usage_reader_t *rd, tally_decoder_t *dec, const void *buf, size_t len,
                              tally_usage_record_t *out, const tally_catalog_entry_t **writer,
                              char *errbuf, size_t errsize)
{
    const tally_flat_field_t *flat;
    size_t n_flat;
    tally_usage_record_kind_t kind;
    avro_value_t *value;

    if (tally_decoder_decode_flat(dec, buf, len, &flat, &n_flat, writer) == 0 &&
        kind_of((*writer)->name, &kind) == 0) {
        /* A flat schema is a record: its layout is the one of its values. */
        layout_t *l = layout_find(rd, (*writer)->schema, kind);
        if (l == NULL)
            l = layout_add(rd, (*writer)->schema, kind);
        const field_t *fields;
        void *dst[MAX_FIELDS];
        size_t n = targets(out, kind, &fields, dst);
        if (read_flat(fields, n, dst, l, flat, n_flat) == 0)
            return 0;
    }
    /* Anything else, errors included, the general way. */
    int rc = tally_decoder_decode(dec, buf, len, &value, writer, errbuf, errsize);
    if (rc != 0)
        return rc;
    return tally_usage_reader_read(rd, (*writer)->name, value, out, errbuf, errsize) == 0 ? 0 : 1;
}

tally_rollup_outcome_t tally_usage_record_apply(tally_rollup_t *r, const tally_usage_record_t *rec)
{
    if (rec->kind == TALLY_USAGE_RECORD_REPORT)
        return tally_rollup_apply_usage(r, &rec->report);
    return tally_rollup_apply_seat(r, &rec->seat);
}
