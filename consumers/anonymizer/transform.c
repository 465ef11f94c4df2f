/*
 * Raw record -> clean record or DLQ verdict (see transform.h). Field
 * positions, union branches and enum symbol maps are resolved once from
 * the schemas, so a record is read by index; the clean record is written
 * as Avro binary field by field (avro_buf.h) in its schema's field order,
 * after the start-up checks below made sure the clean schemas have the
 * fields and types this code writes.
 */
#include "transform.h"

#include "avro_buf.h"
#include "codec.h"
#include "scrub.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SYMBOLS 32

/* Fields of ProductEvent (in) and ProductEventClean (out), same order. */
enum {
    P_EVENT_ID, P_SOURCE, P_EVENT, P_OCCURRED_AT, P_RECEIVED_AT, P_INSTALL, P_PROJECT, P_VERSION, P_CI,
    P_NEW_USER, P_PROPERTIES, P_ERROR, P_COUNT
};
static const char *const product_in[P_COUNT] = {
    "event_id", "source", "event", "occurred_at", "received_at", "install_id", "project_id", "version", "ci",
    "new_user", "properties", "error"};
static const char *const product_out[P_COUNT] = {
    "event_id", "source", "event", "occurred_at", "received_at", "install_ref", "project_ref", "version", "ci",
    "new_user", "properties", "error"};

enum { E_MESSAGE, E_STACK, E_COUNT };
static const char *const error_fields[E_COUNT] = {"message", "stack"};

/* Fields of SeatEvent (in) and SeatEventClean (out). */
enum { S_EVENT_ID, S_TENANT, S_USER, S_OP, S_OCCURRED_AT, S_COUNT };
static const char *const seat_in[S_COUNT] = {"event_id", "tenant_id", "user_id", "op", "occurred_at"};
static const char *const seat_out[S_COUNT] = {"event_id", "tenant_id", "seat_ref", "op", "occurred_at"};

enum { U_TENANT, U_ENVIRONMENT, U_COUNT };
static const char *const usage_in[U_COUNT] = {"tenant_id", "environment_id"};

typedef enum { KIND_OTHER, KIND_PRODUCT, KIND_SEAT, KIND_USAGE } raw_kind_t;

/* An optional (["null", T]) field: which branch is which. */
typedef struct optional_t {
    int null_branch, value_branch;
} optional_t;

struct tally_transform_t {
    const tally_catalog_t *schemas;
    const tally_event_catalog_t *events;
    const tally_pseudonym_t *pseudonyms;
    raw_kind_t *kind_by_entry;                 /* per catalog entry */

    tally_decoder_t *product_dec, *seat_dec, *usage_dec;
    const tally_catalog_entry_t *product_clean, *seat_clean;
    tally_avro_buf_t out;                      /* the clean record being written */
    tally_scrub_t *scrub;

    size_t p_in[P_COUNT], p_out[P_COUNT], e_in[E_COUNT], e_out[E_COUNT];
    size_t s_in[S_COUNT], s_out[S_COUNT], u_in[U_COUNT];
    int p_order[P_COUNT], e_order[E_COUNT], s_order[S_COUNT];   /* clean field position -> P_, E_, S_ */
    optional_t in_project, in_version, in_ci, in_new_user, in_error, in_stack;
    optional_t out_project, out_version, out_ci, out_new_user, out_error, out_stack;
    int source_map[MAX_SYMBOLS], op_map[MAX_SYMBOLS];
    int n_sources, n_ops;

    char install_ref[TALLY_PSEUDONYM_REF_SIZE], project_ref[TALLY_PSEUDONYM_REF_SIZE];
    char seat_ref[TALLY_PSEUDONYM_REF_SIZE];
    uint64_t redactions[TALLY_SCRUB_KIND_COUNT];

    /* Counted locally, published by tally_transform_flush_metrics (atomic
     * adds per record would cost more than the rest of the bookkeeping). */
    uint64_t n_product, n_seat, n_usage, n_pseudonyms, n_pending;
    uint64_t *n_dropped;                       /* per catalog event */

    tally_metrics_t *metrics;
    tally_metric_t *m_product, *m_seat, *m_usage, *m_pseudonyms;
    tally_metric_t **m_dropped;                /* per catalog event */
    tally_metric_t *m_redactions[TALLY_SCRUB_KIND_COUNT];
};

/* ---- setup --------------------------------------------------------------- */

static int field_indexes(const tally_catalog_entry_t *e, avro_schema_t schema, const char *const *names,
                         size_t n, size_t *out, int exact, char *errbuf, size_t errsize)
{
    for (size_t i = 0; i < n; i++) {
        int idx = avro_schema_record_field_get_index(schema, names[i]);
        if (idx < 0) {
            snprintf(errbuf, errsize, "schema %s v%d has no field %s", e->name, e->version, names[i]);
            return -1;
        }
        out[i] = (size_t)idx;
    }
    if (exact && avro_schema_record_size(schema) != n) {
        snprintf(errbuf, errsize,
                 "schema %s v%d has %zu fields; the anonymizer fills %zu: update transform.c for the new ones",
                 e->name, e->version, (size_t)avro_schema_record_size(schema), n);
        return -1;
    }
    return 0;
}

static int optional_of(const tally_catalog_entry_t *e, avro_schema_t record, const char *field, optional_t *o,
                       char *errbuf, size_t errsize)
{
    avro_schema_t u = avro_schema_record_field_get(record, field);
    if (u == NULL || !is_avro_union(u) || avro_schema_union_size(u) != 2) {
        snprintf(errbuf, errsize, "schema %s v%d: %s must be an optional [\"null\", T] field", e->name, e->version,
                 field);
        return -1;
    }
    o->null_branch = is_avro_null(avro_schema_union_branch(u, 0)) ? 0 : 1;
    o->value_branch = 1 - o->null_branch;
    if (!is_avro_null(avro_schema_union_branch(u, (int64_t)o->null_branch))) {
        snprintf(errbuf, errsize, "schema %s v%d: %s has no null branch", e->name, e->version, field);
        return -1;
    }
    return 0;
}

/* The optional record's schema (the non-null branch). */
static avro_schema_t optional_schema(avro_schema_t record, const char *field, const optional_t *o)
{
    return avro_schema_union_branch(avro_schema_record_field_get(record, field), o->value_branch);
}

/* The clean schemas are written by hand: every field must have the type
 * this code writes. */
static int expect_type(const tally_catalog_entry_t *e, avro_schema_t record, const char *field, avro_type_t type,
                       const char *what, char *errbuf, size_t errsize)
{
    avro_schema_t f = avro_schema_record_field_get(record, field);
    if (f == NULL || avro_typeof(f) != type) {
        snprintf(errbuf, errsize, "schema %s v%d: %s must be %s for transform.c to write it", e->name, e->version,
                 field, what);
        return -1;
    }
    return 0;
}

static int expect_optional(const tally_catalog_entry_t *e, avro_schema_t record, const char *field,
                           const optional_t *o, avro_type_t type, const char *what, char *errbuf, size_t errsize)
{
    avro_schema_t b = optional_schema(record, field, o);
    if (b == NULL || avro_typeof(b) != type) {
        snprintf(errbuf, errsize, "schema %s v%d: %s must be [\"null\", %s] for transform.c to write it", e->name,
                 e->version, field, what);
        return -1;
    }
    return 0;
}

static int check_clean_types(tally_transform_t *tr, char *errbuf, size_t errsize)
{
    const tally_catalog_entry_t *p = tr->product_clean, *s = tr->seat_clean;
    avro_schema_t ps = p->schema, ss = s->schema;
    avro_schema_t props = avro_schema_record_field_get(ps, "properties");
    if (expect_type(p, ps, "event_id", AVRO_STRING, "a string", errbuf, errsize) ||
        expect_type(p, ps, "event", AVRO_STRING, "a string", errbuf, errsize) ||
        expect_type(p, ps, "occurred_at", AVRO_INT64, "a long", errbuf, errsize) ||
        expect_type(p, ps, "received_at", AVRO_INT64, "a long", errbuf, errsize) ||
        expect_type(p, ps, "install_ref", AVRO_STRING, "a string", errbuf, errsize) ||
        expect_optional(p, ps, "project_ref", &tr->out_project, AVRO_STRING, "string", errbuf, errsize) ||
        expect_optional(p, ps, "version", &tr->out_version, AVRO_STRING, "string", errbuf, errsize) ||
        expect_optional(p, ps, "ci", &tr->out_ci, AVRO_BOOLEAN, "boolean", errbuf, errsize) ||
        expect_optional(p, ps, "new_user", &tr->out_new_user, AVRO_BOOLEAN, "boolean", errbuf, errsize) ||
        expect_optional(p, ps, "error", &tr->out_error, AVRO_RECORD, "record", errbuf, errsize) ||
        expect_type(s, ss, "event_id", AVRO_STRING, "a string", errbuf, errsize) ||
        expect_type(s, ss, "tenant_id", AVRO_STRING, "a string", errbuf, errsize) ||
        expect_type(s, ss, "seat_ref", AVRO_STRING, "a string", errbuf, errsize) ||
        expect_type(s, ss, "occurred_at", AVRO_INT64, "a long", errbuf, errsize))
        return -1;
    avro_schema_t err = optional_schema(ps, "error", &tr->out_error);
    if (expect_type(p, err, "message", AVRO_STRING, "a string", errbuf, errsize) ||
        expect_optional(p, err, "stack", &tr->out_stack, AVRO_STRING, "string", errbuf, errsize))
        return -1;
    if (props == NULL || !is_avro_map(props) || avro_typeof(avro_schema_map_values(props)) != AVRO_STRING) {
        snprintf(errbuf, errsize, "schema %s v%d: properties must be a map of strings", p->name, p->version);
        return -1;
    }
    /* Avro writes a record's fields in the schema's order. */
    for (int i = 0; i < P_COUNT; i++)
        tr->p_order[tr->p_out[i]] = i;
    for (int i = 0; i < E_COUNT; i++)
        tr->e_order[tr->e_out[i]] = i;
    for (int i = 0; i < S_COUNT; i++)
        tr->s_order[tr->s_out[i]] = i;
    return 0;
}

/* map[i] = index in out's enum of in's symbol i; -1 when out lacks it. */
static int enum_map(const tally_catalog_entry_t *e, avro_schema_t in, avro_schema_t out, int *map, int *n,
                    char *errbuf, size_t errsize)
{
    if (in == NULL || out == NULL || !is_avro_enum(in) || !is_avro_enum(out) ||
        avro_schema_enum_number_of_symbols(in) > MAX_SYMBOLS) {
        snprintf(errbuf, errsize, "schema %s v%d: expected an enum of at most %d symbols", e->name, e->version,
                 MAX_SYMBOLS);
        return -1;
    }
    *n = (int)avro_schema_enum_number_of_symbols(in);
    for (int i = 0; i < *n; i++)
        map[i] = avro_schema_enum_get_by_name(out, avro_schema_enum_get(in, i));
    return 0;
}

static void register_metrics(tally_transform_t *tr)
{
    tally_metrics_t *m = tr->metrics;
    size_t n = tally_event_catalog_count(tr->events);
    tr->m_dropped = calloc(n ? n : 1, sizeof *tr->m_dropped);
    tr->n_dropped = calloc(n ? n : 1, sizeof *tr->n_dropped);
    if (tr->m_dropped == NULL || tr->n_dropped == NULL)
        abort();
    if (m == NULL)
        return;
    const char *help = "Clean records produced by type";
    tr->m_product = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_anonymizer_records_total", help,
                                      "type=\"product\"", NULL, 0);
    tr->m_seat = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_anonymizer_records_total", help,
                                   "type=\"seat\"", NULL, 0);
    tr->m_usage = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_anonymizer_records_total", help,
                                    "type=\"usage\"", NULL, 0);
    tr->m_pseudonyms = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_anonymizer_pseudonyms_total",
                                         "Identifiers replaced by keyed pseudonyms", "", NULL, 0);
    char labels[160];
    for (size_t i = 0; i < n; i++) {
        snprintf(labels, sizeof labels, "event=\"%s\"", tally_event_catalog_name(tr->events, (int)i));
        tr->m_dropped[i] = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_anonymizer_properties_dropped_total",
                                             "Properties the event catalog does not allow, dropped", labels, NULL,
                                             0);
    }
    for (int k = 0; k < TALLY_SCRUB_KIND_COUNT; k++) {
        snprintf(labels, sizeof labels, "kind=\"%s\"", tally_scrub_kind_name((tally_scrub_kind_t)k));
        tr->m_redactions[k] = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_anonymizer_redactions_total",
                                                "Personal data and secrets replaced in free text, by kind", labels,
                                                NULL, 0);
    }
}

tally_transform_t *tally_transform_new(const tally_transform_opts_t *o, char *errbuf, size_t errsize)
{
    tally_transform_t *tr = calloc(1, sizeof *tr);
    if (tr == NULL)
        abort();
    tr->schemas = o->schemas;
    tr->events = o->events;
    tr->pseudonyms = o->pseudonyms;
    tr->metrics = o->metrics;

    const tally_catalog_entry_t *pin = tally_catalog_latest(o->schemas, "ProductEvent");
    const tally_catalog_entry_t *sin = tally_catalog_latest(o->schemas, "SeatEvent");
    const tally_catalog_entry_t *uin = tally_catalog_latest(o->schemas, "UsageReport");
    tr->product_clean = tally_catalog_latest(o->schemas, "ProductEventClean");
    tr->seat_clean = tally_catalog_latest(o->schemas, "SeatEventClean");
    if (!pin || !sin || !uin || !tr->product_clean || !tr->seat_clean) {
        snprintf(errbuf, errsize, "the schema catalog needs ProductEvent, SeatEvent, UsageReport, "
                                  "ProductEventClean and SeatEventClean");
        goto err;
    }
    const tally_catalog_entry_t *pout = tr->product_clean, *sout = tr->seat_clean;
    if (field_indexes(pin, pin->schema, product_in, P_COUNT, tr->p_in, 0, errbuf, errsize) ||
        field_indexes(pout, pout->schema, product_out, P_COUNT, tr->p_out, 1, errbuf, errsize) ||
        field_indexes(sin, sin->schema, seat_in, S_COUNT, tr->s_in, 0, errbuf, errsize) ||
        field_indexes(sout, sout->schema, seat_out, S_COUNT, tr->s_out, 1, errbuf, errsize) ||
        field_indexes(uin, uin->schema, usage_in, U_COUNT, tr->u_in, 0, errbuf, errsize))
        goto err;
    if (optional_of(pin, pin->schema, "project_id", &tr->in_project, errbuf, errsize) ||
        optional_of(pin, pin->schema, "version", &tr->in_version, errbuf, errsize) ||
        optional_of(pin, pin->schema, "ci", &tr->in_ci, errbuf, errsize) ||
        optional_of(pin, pin->schema, "new_user", &tr->in_new_user, errbuf, errsize) ||
        optional_of(pin, pin->schema, "error", &tr->in_error, errbuf, errsize) ||
        optional_of(pout, pout->schema, "project_ref", &tr->out_project, errbuf, errsize) ||
        optional_of(pout, pout->schema, "version", &tr->out_version, errbuf, errsize) ||
        optional_of(pout, pout->schema, "ci", &tr->out_ci, errbuf, errsize) ||
        optional_of(pout, pout->schema, "new_user", &tr->out_new_user, errbuf, errsize) ||
        optional_of(pout, pout->schema, "error", &tr->out_error, errbuf, errsize))
        goto err;
    avro_schema_t ein = optional_schema(pin->schema, "error", &tr->in_error);
    avro_schema_t eout = optional_schema(pout->schema, "error", &tr->out_error);
    if (field_indexes(pin, ein, error_fields, E_COUNT, tr->e_in, 0, errbuf, errsize) ||
        field_indexes(pout, eout, error_fields, E_COUNT, tr->e_out, 1, errbuf, errsize) ||
        optional_of(pin, ein, "stack", &tr->in_stack, errbuf, errsize) ||
        optional_of(pout, eout, "stack", &tr->out_stack, errbuf, errsize))
        goto err;
    if (enum_map(pin, avro_schema_record_field_get(pin->schema, "source"),
                 avro_schema_record_field_get(pout->schema, "source"), tr->source_map, &tr->n_sources, errbuf,
                 errsize) ||
        enum_map(sin, avro_schema_record_field_get(sin->schema, "op"),
                 avro_schema_record_field_get(sout->schema, "op"), tr->op_map, &tr->n_ops, errbuf, errsize) ||
        check_clean_types(tr, errbuf, errsize))
        goto err;

    size_t n = tally_catalog_count(o->schemas);
    tr->kind_by_entry = calloc(n ? n : 1, sizeof *tr->kind_by_entry);
    if (tr->kind_by_entry == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        const char *name = tally_catalog_entry(o->schemas, i)->name;
        tr->kind_by_entry[i] = strcmp(name, "ProductEvent") == 0 ? KIND_PRODUCT
                               : strcmp(name, "SeatEvent") == 0  ? KIND_SEAT
                               : strcmp(name, "UsageReport") == 0 ? KIND_USAGE
                                                                  : KIND_OTHER;
    }
    tr->product_dec = tally_decoder_new(o->schemas, pin);
    tr->seat_dec = tally_decoder_new(o->schemas, sin);
    tr->usage_dec = tally_decoder_new(o->schemas, uin);
    if ((tr->scrub = tally_scrub_new(errbuf, errsize)) == NULL)
        goto err;
    register_metrics(tr);
    return tr;
err:
    tally_transform_free(tr);
    return NULL;
}

void tally_transform_free(tally_transform_t *tr)
{
    if (tr == NULL)
        return;
    tally_decoder_free(tr->product_dec);
    tally_decoder_free(tr->seat_dec);
    tally_decoder_free(tr->usage_dec);
    tally_avro_buf_free(&tr->out);
    tally_scrub_free(tr->scrub);
    free(tr->kind_by_entry);
    free(tr->m_dropped);
    free(tr->n_dropped);
    free(tr);
}

/* ---- per record ---------------------------------------------------------- */

__attribute__((format(printf, 5, 6)))
static int dlq(tally_transform_t *tr, tally_anon_result_t *out, const char *stage, const char *error,
                const char *fmt, ...)
{
    out->dest = TALLY_ANON_DLQ;
    out->key = NULL;
    out->key_len = 0;
    out->value = NULL;
    out->len = 0;
    out->stage = stage;
    out->error = error;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->detail, sizeof out->detail, fmt, ap);
    va_end(ap);
    if (tr->metrics) {
        char labels[96];
        snprintf(labels, sizeof labels, "stage=\"%s\",error=\"%s\"", stage, error);
        tally_metric_add(tally_metrics_get(tr->metrics, TALLY_METRIC_COUNTER, "tally_anonymizer_dlq_total",
                                           "Raw records sent to the dead-letter topic, by stage and error", labels,
                                           NULL, 0),
                         1);
    }
    return 0;
}

/* The string in v (avro-c counts the NUL in size; the text is NUL-terminated). */
static int get_str(avro_value_t *v, const char **s, size_t *len)
{
    size_t size = 0;
    if (avro_value_get_string(v, s, &size) != 0)
        return -1;
    *len = size ? size - 1 : 0;
    return 0;
}

static int is_uuid(const char *s, size_t len)
{
    if (len != 36)
        return 0;
    for (size_t i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return 0;
        }
    }
    return 1;
}

/* Writes s[0..len) scrubbed. */
static void put_scrubbed(tally_transform_t *tr, const char *s, size_t len)
{
    const char *clean;
    size_t clean_len;
    tally_scrub_text(tr->scrub, s, len, &clean, &clean_len, tr->redactions);
    tally_avro_buf_string(&tr->out, clean, clean_len);
}

/* Reads the optional in, returning 1 and its value in *branch when set. */
static int get_optional(avro_value_t *in, const optional_t *o, avro_value_t *branch)
{
    int disc = -1;
    if (avro_value_get_discriminant(in, &disc) != 0 || disc != o->value_branch)
        return 0;
    return avro_value_get_current_branch(in, branch) == 0;
}

/* An optional string, scrubbed. */
static int put_optional_text(tally_transform_t *tr, avro_value_t *in, const optional_t *io, const optional_t *oo)
{
    avro_value_t b;
    const char *s;
    size_t len;
    if (!get_optional(in, io, &b)) {
        tally_avro_buf_long(&tr->out, oo->null_branch);
        return 0;
    }
    if (get_str(&b, &s, &len) != 0)
        return -1;
    tally_avro_buf_long(&tr->out, oo->value_branch);
    put_scrubbed(tr, s, len);
    return 0;
}

static int put_optional_bool(tally_transform_t *tr, avro_value_t *in, const optional_t *io, const optional_t *oo)
{
    avro_value_t b;
    int v;
    if (!get_optional(in, io, &b)) {
        tally_avro_buf_long(&tr->out, oo->null_branch);
        return 0;
    }
    if (avro_value_get_boolean(&b, &v) != 0)
        return -1;
    tally_avro_buf_long(&tr->out, oo->value_branch);
    tally_avro_buf_bool(&tr->out, v);
    return 0;
}

static int put_long_of(tally_transform_t *tr, avro_value_t *in)
{
    int64_t v;
    if (avro_value_get_long(in, &v) != 0)
        return -1;
    tally_avro_buf_long(&tr->out, v);
    return 0;
}

static int put_error(tally_transform_t *tr, avro_value_t *in)
{
    avro_value_t ie, f;
    const char *s;
    size_t len;
    if (!get_optional(in, &tr->in_error, &ie)) {
        tally_avro_buf_long(&tr->out, tr->out_error.null_branch);
        return 0;
    }
    tally_avro_buf_long(&tr->out, tr->out_error.value_branch);
    for (int pos = 0; pos < E_COUNT; pos++) {
        int e = tr->e_order[pos];
        if (avro_value_get_by_index(&ie, tr->e_in[e], &f, NULL) != 0)
            return -1;
        if (e == E_MESSAGE) {
            if (get_str(&f, &s, &len) != 0)
                return -1;
            put_scrubbed(tr, s, len);
        } else if (put_optional_text(tr, &f, &tr->in_stack, &tr->out_stack) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Keeps the properties the catalog allows for event ev, scrubbed: one
 * block of entries, then the end marker. */
static int put_properties(tally_transform_t *tr, int ev, avro_value_t *in)
{
    size_t n = 0, allowed = 0;
    avro_value_t v;
    const char *key, *s;
    size_t len;
    if (avro_value_get_size(in, &n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (avro_value_get_by_index(in, i, &v, &key) != 0)
            return -1;
        allowed += tally_event_catalog_property_allowed(tr->events, ev, key, strlen(key)) != 0;
    }
    tr->n_dropped[ev] += n - allowed;
    if (allowed > 0) {
        tally_avro_buf_long(&tr->out, (int64_t)allowed);
        for (size_t i = 0; i < n; i++) {
            if (avro_value_get_by_index(in, i, &v, &key) != 0)
                return -1;
            size_t klen = strlen(key);
            if (!tally_event_catalog_property_allowed(tr->events, ev, key, klen))
                continue;
            if (get_str(&v, &s, &len) != 0)
                return -1;
            tally_avro_buf_string(&tr->out, key, klen);
            put_scrubbed(tr, s, len);
        }
    }
    tally_avro_buf_long(&tr->out, 0);
    return 0;
}

static int product(tally_transform_t *tr, avro_value_t *in, const tally_catalog_entry_t *w,
                   tally_anon_result_t *out)
{
    avro_value_t f[P_COUNT], b;
    const char *id, *event, *install, *project = NULL;
    size_t id_len, event_len, install_len, project_len = 0, ref_len, project_ref_len = 0;
    int sym;
    for (int i = 0; i < P_COUNT; i++)
        if (avro_value_get_by_index(in, tr->p_in[i], &f[i], NULL) != 0)
            goto broken;
    if (get_str(&f[P_EVENT_ID], &id, &id_len) || !is_uuid(id, id_len))
        return dlq(tr, out, "validate", "invalid_event_id", "event_id is not a UUID");
    if (get_str(&f[P_EVENT], &event, &event_len) != 0)
        goto broken;
    int ev = tally_event_catalog_find(tr->events, event, event_len);
    if (ev < 0)
        return dlq(tr, out, "validate", "unknown_event", "event is not in the product-event catalog");
    if (avro_value_get_enum(&f[P_SOURCE], &sym) != 0 || sym < 0 || sym >= tr->n_sources)
        goto broken;
    const char *source = avro_schema_enum_get(avro_value_get_schema(&f[P_SOURCE]), sym);
    tally_source_t src = strcmp(source, "CLI") == 0 ? TALLY_SOURCE_CLI
                         : strcmp(source, "ADMIN") == 0 ? TALLY_SOURCE_ADMIN : 0;
    if (src == 0 || !tally_event_catalog_source_allowed(tr->events, ev, src))
        return dlq(tr, out, "validate", "source_not_allowed", "event %s may not come from source %s",
                   tally_event_catalog_name(tr->events, ev), source);
    if (tr->source_map[sym] < 0)
        return dlq(tr, out, "validate", "source_not_allowed", "source %s has no clean symbol", source);
    if (get_str(&f[P_INSTALL], &install, &install_len) || install_len == 0)
        return dlq(tr, out, "validate", "missing_install_id", "install_id is empty");
    if (get_optional(&f[P_PROJECT], &tr->in_project, &b) && get_str(&b, &project, &project_len) != 0)
        goto broken;

    ref_len = tally_pseudonym_ref(tr->pseudonyms, TALLY_PSEUDONYM_INSTALL, install, install_len, tr->install_ref);
    tr->n_pseudonyms++;
    if (project != NULL) {
        project_ref_len = tally_pseudonym_ref(tr->pseudonyms, TALLY_PSEUDONYM_PROJECT, project, project_len,
                                              tr->project_ref);
        tr->n_pseudonyms++;
    }
    tally_avro_buf_t *o = &tr->out;
    tally_avro_buf_begin(o, tr->product_clean->fingerprint);
    for (int pos = 0; pos < P_COUNT; pos++) {
        int rc = 0, i = tr->p_order[pos];
        switch (i) {
        case P_EVENT_ID:
            tally_avro_buf_string(o, id, id_len);
            break;
        case P_SOURCE:
            tally_avro_buf_long(o, tr->source_map[sym]);
            break;
        case P_EVENT:
            tally_avro_buf_string(o, event, event_len);
            break;
        case P_OCCURRED_AT:
        case P_RECEIVED_AT:
            rc = put_long_of(tr, &f[i]);
            break;
        case P_INSTALL:
            tally_avro_buf_string(o, tr->install_ref, ref_len);
            break;
        case P_PROJECT:
            tally_avro_buf_long(o, project ? tr->out_project.value_branch : tr->out_project.null_branch);
            if (project)
                tally_avro_buf_string(o, tr->project_ref, project_ref_len);
            break;
        case P_VERSION:
            rc = put_optional_text(tr, &f[i], &tr->in_version, &tr->out_version);
            break;
        case P_CI:
            rc = put_optional_bool(tr, &f[i], &tr->in_ci, &tr->out_ci);
            break;
        case P_NEW_USER:
            rc = put_optional_bool(tr, &f[i], &tr->in_new_user, &tr->out_new_user);
            break;
        case P_PROPERTIES:
            rc = put_properties(tr, ev, &f[i]);
            break;
        default:
            rc = put_error(tr, &f[i]);
            break;
        }
        if (rc != 0)
            goto broken;
    }
    out->dest = TALLY_ANON_PRODUCT;
    out->value = o->p;
    out->len = o->len;
    out->key = tr->install_ref;
    out->key_len = ref_len;
    tr->n_product++;
    return 0;
broken:
    /* avro-c refused to read a value the reader schema has: a bug, not bad input. */
    return dlq(tr, out, "transform", "internal", "cannot read %s v%d as a %s: %s", w->name, w->version,
               tr->product_clean->name, avro_strerror());
}

static int seat(tally_transform_t *tr, avro_value_t *in, const tally_catalog_entry_t *w, tally_anon_result_t *out)
{
    avro_value_t f[S_COUNT];
    const char *id, *tenant, *user;
    size_t id_len, tenant_len, user_len;
    int sym;
    for (int i = 0; i < S_COUNT; i++)
        if (avro_value_get_by_index(in, tr->s_in[i], &f[i], NULL) != 0)
            goto broken;
    if (get_str(&f[S_EVENT_ID], &id, &id_len) || !is_uuid(id, id_len))
        return dlq(tr, out, "validate", "invalid_event_id", "event_id is not a UUID");
    if (get_str(&f[S_TENANT], &tenant, &tenant_len) || tenant_len == 0)
        return dlq(tr, out, "validate", "missing_tenant_id", "tenant_id is empty");
    if (get_str(&f[S_USER], &user, &user_len) || user_len == 0)
        return dlq(tr, out, "validate", "missing_user_id", "user_id is empty");
    if (avro_value_get_enum(&f[S_OP], &sym) || sym < 0 || sym >= tr->n_ops || tr->op_map[sym] < 0)
        return dlq(tr, out, "validate", "unknown_op", "op has no clean symbol");
    size_t ref_len = tally_pseudonym_ref(tr->pseudonyms, TALLY_PSEUDONYM_USER, user, user_len, tr->seat_ref);
    tr->n_pseudonyms++;
    tally_avro_buf_t *o = &tr->out;
    tally_avro_buf_begin(o, tr->seat_clean->fingerprint);
    for (int pos = 0; pos < S_COUNT; pos++) {
        switch (tr->s_order[pos]) {
        case S_EVENT_ID:
            tally_avro_buf_string(o, id, id_len);
            break;
        case S_TENANT:
            tally_avro_buf_string(o, tenant, tenant_len);
            break;
        case S_USER:
            tally_avro_buf_string(o, tr->seat_ref, ref_len);
            break;
        case S_OP:
            tally_avro_buf_long(o, tr->op_map[sym]);
            break;
        default:
            if (put_long_of(tr, &f[S_OCCURRED_AT]) != 0)
                goto broken;
            break;
        }
    }
    /* tenant points into the decoder's value: valid until the next record. */
    out->dest = TALLY_ANON_USAGE;
    out->value = o->p;
    out->len = o->len;
    out->key = tenant;
    out->key_len = tenant_len;
    tr->n_seat++;
    return 0;
broken:
    return dlq(tr, out, "transform", "internal", "cannot read %s v%d as a %s: %s", w->name, w->version,
               tr->seat_clean->name, avro_strerror());
}

static int usage(tally_transform_t *tr, avro_value_t *in, const void *buf, size_t len, tally_anon_result_t *out)
{
    avro_value_t f;
    const char *tenant, *env;
    size_t tenant_len, env_len;
    if (avro_value_get_by_index(in, tr->u_in[U_TENANT], &f, NULL) || get_str(&f, &tenant, &tenant_len) ||
        tenant_len == 0)
        return dlq(tr, out, "validate", "missing_tenant_id", "tenant_id is empty");
    if (avro_value_get_by_index(in, tr->u_in[U_ENVIRONMENT], &f, NULL) || get_str(&f, &env, &env_len) ||
        env_len == 0)
        return dlq(tr, out, "validate", "missing_environment_id", "environment_id is empty");
    /* Raw and clean share the schema: the bytes go through as they came. */
    out->dest = TALLY_ANON_USAGE;
    out->key = tenant;
    out->key_len = tenant_len;
    out->value = buf;
    out->len = len;
    tr->n_usage++;
    return 0;
}

static int transform(tally_transform_t *tr, const void *buf, size_t len, tally_anon_result_t *out)
{
    char err[256];
    uint64_t fp;
    int rc;
    memset(out, 0, offsetof(tally_anon_result_t, detail));
    out->detail[0] = '\0';
    out->writer = NULL;
    if ((rc = tally_codec_peek_fingerprint(buf, len, &fp, err, sizeof err)) != 0)
        return dlq(tr, out, "decode", tally_codec_error_name(rc), "%s", err);
    const tally_catalog_entry_t *w = tally_catalog_find(tr->schemas, fp);
    if (w == NULL)
        return dlq(tr, out, "decode", tally_codec_error_name(TALLY_CODEC_ERR_UNKNOWN_SCHEMA),
                   "unknown writer schema fingerprint %016" PRIx64, fp);
    out->writer = w;
    raw_kind_t kind = tr->kind_by_entry[w->index];
    tally_decoder_t *dec = kind == KIND_PRODUCT ? tr->product_dec
                           : kind == KIND_SEAT  ? tr->seat_dec
                           : kind == KIND_USAGE ? tr->usage_dec
                                                : NULL;
    if (dec == NULL)
        return dlq(tr, out, "route", "unexpected_schema", "%s v%d records do not belong on a raw topic", w->name,
                   w->version);
    avro_value_t *v;
    if ((rc = tally_decoder_decode(dec, buf, len, &v, NULL, err, sizeof err)) != 0)
        return dlq(tr, out, "decode", tally_codec_error_name(rc), "%s v%d: %s", w->name, w->version, err);
    switch (kind) {
    case KIND_PRODUCT:
        return product(tr, v, w, out);
    case KIND_SEAT:
        return seat(tr, v, w, out);
    default:
        return usage(tr, v, buf, len, out);
    }
}

void tally_transform_flush_metrics(tally_transform_t *tr)
{
    tally_metric_add(tr->m_product, tr->n_product);
    tally_metric_add(tr->m_seat, tr->n_seat);
    tally_metric_add(tr->m_usage, tr->n_usage);
    tally_metric_add(tr->m_pseudonyms, tr->n_pseudonyms);
    tr->n_product = tr->n_seat = tr->n_usage = tr->n_pseudonyms = tr->n_pending = 0;
    for (size_t i = 0; i < tally_event_catalog_count(tr->events); i++)
        if (tr->n_dropped[i]) {
            tally_metric_add(tr->m_dropped[i], tr->n_dropped[i]);
            tr->n_dropped[i] = 0;
        }
    for (int k = 0; k < TALLY_SCRUB_KIND_COUNT; k++)
        if (tr->redactions[k]) {
            tally_metric_add(tr->m_redactions[k], tr->redactions[k]);
            tr->redactions[k] = 0;
        }
}

void tally_transform_record(tally_transform_t *tr, const void *buf, size_t len, tally_anon_result_t *out)
{
    (void)transform(tr, buf, len, out);
    if (++tr->n_pending == 1024)
        tally_transform_flush_metrics(tr);
}
