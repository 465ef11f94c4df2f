#include "inbound.h"

#include "alert.h"
#include "codec.h"
#include "projection.h"
#include "copy_text.h"
#include "timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { K_API, K_SEAT, K_PRODUCT, K_CP, K_ALERT, K_COUNT };

static const char *const kind_schema[K_COUNT] = {"ApiUsageRollup", "SeatRollup", "ProductEventClean",
                                                 "ControlPanelEvent", "UsageAlert"};
static const tally_topic_role_t kind_role[K_COUNT] = {TALLY_ROLE_ROLLUPS, TALLY_ROLE_ROLLUPS, TALLY_ROLE_PRODUCT,
                                                      TALLY_ROLE_CONTROLPANEL, TALLY_ROLE_ALERTS};

/* Field positions in the reader schemas, looked up by name once. */
enum { A_TENANT, A_ENV, A_DAY, A_CALLS, A_4XX, A_5XX, A_EXEC, A_UPDATED, A_COUNT };
static const char *const api_fields[A_COUNT] = {"tenant_id", "environment_id", "day", "api_calls",
                                                "status_4xx", "status_5xx", "exec_ms", "updated_at"};
enum { S_TENANT, S_DAY, S_IN_USE, S_PEAK, S_UPDATED, S_COUNT };
static const char *const seat_fields[S_COUNT] = {"tenant_id", "day", "seats_in_use", "seats_peak", "updated_at"};
enum { P_ID, P_SOURCE, P_EVENT, P_OCCURRED, P_RECEIVED, P_INSTALL, P_PROJECT, P_VERSION, P_CI, P_NEW_USER,
       P_PROPERTIES, P_ERROR, P_COUNT };
static const char *const product_fields[P_COUNT] = {"event_id", "source", "event", "occurred_at", "received_at",
                                                    "install_ref", "project_ref", "version", "ci", "new_user",
                                                    "properties", "error"};

struct tally_inbound_t {
    const tally_catalog_t *cat;
    tally_decoder_t *dec[K_COUNT];
    size_t api_idx[A_COUNT], seat_idx[S_COUNT], product_idx[P_COUNT];
};

void tally_inbound_free(tally_inbound_t *in)
{
    if (in == NULL)
        return;
    for (int k = 0; k < K_COUNT; k++)
        tally_decoder_free(in->dec[k]);
    free(in);
}

static int field_indices(const tally_catalog_entry_t *e, const char *const *names, size_t n, size_t *idx,
                         char *errbuf, size_t errsize)
{
    for (size_t i = 0; i < n; i++) {
        int j = avro_schema_record_field_get_index(e->schema, names[i]);
        if (j < 0) {
            snprintf(errbuf, errsize, "schema %s version %d has no field %s", e->name, e->version, names[i]);
            return -1;
        }
        idx[i] = (size_t)j;
    }
    return 0;
}

tally_inbound_t *tally_inbound_new(const tally_catalog_t *cat, char *errbuf, size_t errsize)
{
    tally_inbound_t *in = calloc(1, sizeof *in);
    const tally_catalog_entry_t *reader[K_COUNT];
    if (in == NULL) {
        fprintf(stderr, "tally-materializer: out of memory\n");
        abort();
    }
    in->cat = cat;
    for (int k = 0; k < K_COUNT; k++) {
        /* Control Panel events as the version the projection knows, so a
         * newer writer's new branches are unknown_branch (inbound.h). */
        reader[k] = k == K_CP ? tally_catalog_get(cat, kind_schema[k], TALLY_PROJECTION_CP_VERSION) : NULL;
        if (reader[k] == NULL)
            reader[k] = tally_catalog_latest(cat, kind_schema[k]);
        if (reader[k] == NULL) {
            snprintf(errbuf, errsize, "schema catalog has no %s", kind_schema[k]);
            goto err;
        }
        in->dec[k] = tally_decoder_new(cat, reader[k]);
    }
    if (field_indices(reader[K_API], api_fields, A_COUNT, in->api_idx, errbuf, errsize) != 0 ||
        field_indices(reader[K_SEAT], seat_fields, S_COUNT, in->seat_idx, errbuf, errsize) != 0 ||
        field_indices(reader[K_PRODUCT], product_fields, P_COUNT, in->product_idx, errbuf, errsize) != 0)
        goto err;
    return in;
err:
    tally_inbound_free(in);
    return NULL;
}

/* Accessors over a reader value: each returns 0 or -1 (errbuf set). */
static int get_string(avro_value_t *rec, size_t idx, const char *name, const char **s, size_t *n, char *errbuf,
                      size_t errsize)
{
    avro_value_t f;
    if (avro_value_get_by_index(rec, idx, &f, NULL) != 0 || avro_value_get_string(&f, s, n) != 0) {
        snprintf(errbuf, errsize, "field %s is not a string", name);
        return -1;
    }
    *n = *n ? *n - 1 : 0;   /* avro-c counts the NUL */
    if (!tally_text_valid(*s, *n)) {
        snprintf(errbuf, errsize, "field %s is not valid UTF-8 text", name);
        return -1;
    }
    return 0;
}

static int get_long(avro_value_t *rec, size_t idx, const char *name, int64_t *v, int nonnegative, char *errbuf,
                    size_t errsize)
{
    avro_value_t f;
    if (avro_value_get_by_index(rec, idx, &f, NULL) != 0 || avro_value_get_long(&f, v) != 0) {
        snprintf(errbuf, errsize, "field %s is not a long", name);
        return -1;
    }
    if (nonnegative && *v < 0) {
        snprintf(errbuf, errsize, "field %s is negative", name);
        return -1;
    }
    return 0;
}

static int get_day(avro_value_t *rec, size_t idx, int32_t *day, char *errbuf, size_t errsize)
{
    avro_value_t f;
    if (avro_value_get_by_index(rec, idx, &f, NULL) != 0 || avro_value_get_int(&f, day) != 0 ||
        *day < TALLY_DATE_MIN_DAYS || *day > TALLY_DATE_MAX_DAYS) {
        snprintf(errbuf, errsize, "field day is not a date in range");
        return -1;
    }
    return 0;
}

static int check_time(int64_t ms, const char *name, char *errbuf, size_t errsize)
{
    if (ms < TALLY_TIME_MIN_MS || ms > TALLY_TIME_MAX_MS) {
        snprintf(errbuf, errsize, "field %s is out of range", name);
        return -1;
    }
    return 0;
}

static int add_api(tally_inbound_t *in, tally_batch_t *b, avro_value_t *v, int32_t partition, int64_t offset,
                   char *errbuf, size_t errsize)
{
    const size_t *ix = in->api_idx;
    const char *tenant, *env;
    size_t tl, el;
    tally_api_rollup_t r;
    memset(&r, 0, sizeof r);
    if (get_string(v, ix[A_TENANT], "tenant_id", &tenant, &tl, errbuf, errsize) != 0 ||
        get_string(v, ix[A_ENV], "environment_id", &env, &el, errbuf, errsize) != 0 ||
        get_day(v, ix[A_DAY], &r.day, errbuf, errsize) != 0 ||
        get_long(v, ix[A_CALLS], "api_calls", &r.api_calls, 1, errbuf, errsize) != 0 ||
        get_long(v, ix[A_4XX], "status_4xx", &r.status_4xx, 1, errbuf, errsize) != 0 ||
        get_long(v, ix[A_5XX], "status_5xx", &r.status_5xx, 1, errbuf, errsize) != 0 ||
        get_long(v, ix[A_EXEC], "exec_ms", &r.exec_ms, 1, errbuf, errsize) != 0 ||
        get_long(v, ix[A_UPDATED], "updated_at", &r.updated_at_ms, 0, errbuf, errsize) != 0 ||
        check_time(r.updated_at_ms, "updated_at", errbuf, errsize) != 0)
        return -1;
    r.partition = partition;
    r.offset = offset;
    tally_batch_put_api(b, tenant, tl, env, el, &r);
    return 0;
}

static int add_seat(tally_inbound_t *in, tally_batch_t *b, avro_value_t *v, int32_t partition, int64_t offset,
                    char *errbuf, size_t errsize)
{
    const size_t *ix = in->seat_idx;
    const char *tenant;
    size_t tl;
    tally_seat_rollup_t r;
    memset(&r, 0, sizeof r);
    if (get_string(v, ix[S_TENANT], "tenant_id", &tenant, &tl, errbuf, errsize) != 0 ||
        get_day(v, ix[S_DAY], &r.day, errbuf, errsize) != 0 ||
        get_long(v, ix[S_IN_USE], "seats_in_use", &r.seats_in_use, 1, errbuf, errsize) != 0 ||
        get_long(v, ix[S_PEAK], "seats_peak", &r.seats_peak, 1, errbuf, errsize) != 0 ||
        get_long(v, ix[S_UPDATED], "updated_at", &r.updated_at_ms, 0, errbuf, errsize) != 0 ||
        check_time(r.updated_at_ms, "updated_at", errbuf, errsize) != 0)
        return -1;
    r.partition = partition;
    r.offset = offset;
    tally_batch_put_seat(b, tenant, tl, &r);
    return 0;
}

/* The branch of a ["null", T] union, or 0 when it holds null. */
static int optional(avro_value_t *rec, size_t idx, avro_value_t *branch)
{
    avro_value_t u;
    int d;
    if (avro_value_get_by_index(rec, idx, &u, NULL) != 0 || avro_value_get_discriminant(&u, &d) != 0 ||
        avro_value_get_current_branch(&u, branch) != 0)
        return 0;
    return avro_value_get_type(branch) != AVRO_NULL;
}

/* Appends the string v, checked and escaped; when out is not NULL, also
 * gives it (*out, *out_n: the decoded value, valid while it is). */
static int put_text(tally_textbuf_t *row, avro_value_t *v, const char *name, const char **out, size_t *out_n,
                    char *errbuf, size_t errsize)
{
    const char *s;
    size_t n;
    if (avro_value_get_string(v, &s, &n) != 0) {
        snprintf(errbuf, errsize, "field %s is not a string", name);
        return -1;
    }
    n = n ? n - 1 : 0;
    if (!tally_text_valid(s, n)) {
        snprintf(errbuf, errsize, "field %s is not valid UTF-8 text", name);
        return -1;
    }
    tally_textbuf_copy_field(row, s, n);
    if (out != NULL) {
        *out = s;
        *out_n = n;
    }
    return 0;
}

static int put_field_text(tally_textbuf_t *row, avro_value_t *rec, size_t idx, const char *name, const char **out,
                          size_t *out_n, char *errbuf, size_t errsize)
{
    avro_value_t f;
    if (avro_value_get_by_index(rec, idx, &f, NULL) != 0) {
        snprintf(errbuf, errsize, "field %s missing", name);
        return -1;
    }
    return put_text(row, &f, name, out, out_n, errbuf, errsize);
}

/* Appends the timestamp field idx as RFC 3339 text; gives its value in *ms_out. */
static int put_time(tally_textbuf_t *row, avro_value_t *rec, size_t idx, const char *name, int64_t *ms_out,
                    char *errbuf, size_t errsize)
{
    int64_t ms;
    char ts[TALLY_RFC3339_SIZE];
    if (get_long(rec, idx, name, &ms, 0, errbuf, errsize) != 0)
        return -1;
    if (tally_rfc3339_format(ms, ts) != 0) {
        snprintf(errbuf, errsize, "field %s is out of range", name);
        return -1;
    }
    tally_textbuf_puts(row, ts);
    *ms_out = ms;
    return 0;
}

/* Appends the optional string field idx, \N for null; when out is not NULL,
 * gives it as put_text does (*out NULL for null). */
static int put_optional_text(tally_textbuf_t *row, avro_value_t *rec, size_t idx, const char *name, const char **out,
                             size_t *out_n, char *errbuf, size_t errsize)
{
    avro_value_t br;
    if (out != NULL) {
        *out = NULL;
        *out_n = 0;
    }
    if (!optional(rec, idx, &br)) {
        tally_textbuf_append(row, "\\N", 2);
        return 0;
    }
    return put_text(row, &br, name, out, out_n, errbuf, errsize);
}

static void put_optional_bool(tally_textbuf_t *row, avro_value_t *rec, size_t idx)
{
    avro_value_t br;
    int v;
    if (!optional(rec, idx, &br) || avro_value_get_boolean(&br, &v) != 0)
        tally_textbuf_append(row, "\\N", 2);
    else
        tally_textbuf_putc(row, v ? 't' : 'f');
}

static int put_properties(tally_textbuf_t *row, avro_value_t *rec, size_t idx, char *errbuf, size_t errsize)
{
    avro_value_t map, item;
    size_t count;
    if (avro_value_get_by_index(rec, idx, &map, NULL) != 0 || avro_value_get_size(&map, &count) != 0) {
        snprintf(errbuf, errsize, "field properties is not a map");
        return -1;
    }
    tally_textbuf_putc(row, '{');
    for (size_t i = 0; i < count; i++) {
        const char *key, *s;
        size_t n;
        if (avro_value_get_by_index(&map, i, &item, &key) != 0 || avro_value_get_string(&item, &s, &n) != 0) {
            snprintf(errbuf, errsize, "properties[%zu] is not a string", i);
            return -1;
        }
        n = n ? n - 1 : 0;
        if (!tally_text_valid(key, strlen(key)) || !tally_text_valid(s, n)) {
            snprintf(errbuf, errsize, "a property is not valid UTF-8 text");
            return -1;
        }
        if (i)
            tally_textbuf_putc(row, ',');
        tally_textbuf_copy_json_string(row, key, strlen(key));
        tally_textbuf_putc(row, ':');
        tally_textbuf_copy_json_string(row, s, n);
    }
    tally_textbuf_putc(row, '}');
    return 0;
}

static int put_error(tally_textbuf_t *row, avro_value_t *rec, size_t idx, char *errbuf, size_t errsize)
{
    avro_value_t err, f, stack;
    if (!optional(rec, idx, &err)) {
        tally_textbuf_append(row, "\\N\t\\N", 5);
        return 0;
    }
    if (avro_value_get_by_name(&err, "message", &f, NULL) != 0 ||
        put_text(row, &f, "error.message", NULL, NULL, errbuf, errsize) != 0)
        return -1;
    tally_textbuf_putc(row, '\t');
    size_t sidx;
    if (avro_value_get_by_name(&err, "stack", &f, &sidx) != 0) {
        tally_textbuf_append(row, "\\N", 2);
        return 0;
    }
    if (!optional(&err, sidx, &stack)) {
        tally_textbuf_append(row, "\\N", 2);
        return 0;
    }
    return put_text(row, &stack, "error.stack", NULL, NULL, errbuf, errsize);
}

/* One COPY line: the columns of product_events, in table order. */
static int add_product(tally_inbound_t *in, tally_batch_t *b, avro_value_t *v, char *errbuf, size_t errsize)
{
    const size_t *ix = in->product_idx;
    tally_textbuf_t *row = &b->product_rows;
    size_t start = row->len;
    avro_value_t f;
    const char *s;
    size_t n;
    int sym;
    /* Kept from the row for product_daily: read and checked once. */
    const char *event, *install, *version;
    size_t event_len, install_len, version_len;
    int64_t occurred, received;

    if (get_string(v, ix[P_ID], "event_id", &s, &n, errbuf, errsize) != 0)
        goto refuse;
    if (!tally_text_is_uuid(s, n)) {
        snprintf(errbuf, errsize, "event_id is not a UUID");
        goto refuse;
    }
    tally_textbuf_append(row, s, n);
    tally_textbuf_putc(row, '\t');
    const char *source = NULL;
    if (avro_value_get_by_index(v, ix[P_SOURCE], &f, NULL) == 0 && avro_value_get_enum(&f, &sym) == 0)
        source = avro_schema_enum_get(avro_value_get_schema(&f), sym);
    if (source == NULL) {
        snprintf(errbuf, errsize, "field source is not a known symbol");
        goto refuse;
    }
    tally_textbuf_puts(row, source);
    tally_textbuf_putc(row, '\t');
    if (put_field_text(row, v, ix[P_EVENT], "event", &event, &event_len, errbuf, errsize) != 0)
        goto refuse;
    tally_textbuf_putc(row, '\t');
    if (put_time(row, v, ix[P_OCCURRED], "occurred_at", &occurred, errbuf, errsize) != 0)
        goto refuse;
    tally_textbuf_putc(row, '\t');
    if (put_time(row, v, ix[P_RECEIVED], "received_at", &received, errbuf, errsize) != 0)
        goto refuse;
    tally_textbuf_putc(row, '\t');
    if (put_field_text(row, v, ix[P_INSTALL], "install_ref", &install, &install_len, errbuf, errsize) != 0)
        goto refuse;
    tally_textbuf_putc(row, '\t');
    if (put_optional_text(row, v, ix[P_PROJECT], "project_ref", NULL, NULL, errbuf, errsize) != 0)
        goto refuse;
    tally_textbuf_putc(row, '\t');
    if (put_optional_text(row, v, ix[P_VERSION], "version", &version, &version_len, errbuf, errsize) != 0)
        goto refuse;
    tally_textbuf_putc(row, '\t');
    put_optional_bool(row, v, ix[P_CI]);
    tally_textbuf_putc(row, '\t');
    put_optional_bool(row, v, ix[P_NEW_USER]);
    tally_textbuf_putc(row, '\t');
    if (put_properties(row, v, ix[P_PROPERTIES], errbuf, errsize) != 0)
        goto refuse;
    tally_textbuf_putc(row, '\t');
    if (put_error(row, v, ix[P_ERROR], errbuf, errsize) != 0)
        goto refuse;
    tally_textbuf_putc(row, '\n');
    b->n_product++;

    /* Its share of product_daily, should every event of the batch be new. */
    tally_batch_count_product(b, (int32_t)tally_utc_day(occurred), source, event, event_len, version, version_len,
                              install, install_len);
    return 0;
refuse:
    tally_textbuf_truncate(row, start);
    return -1;
}

int tally_inbound_add(tally_inbound_t *in, tally_batch_t *b, tally_topic_role_t role, int32_t partition,
                      int64_t offset, const void *value, size_t len, const char **error, char *errbuf,
                      size_t errsize)
{
    uint64_t fp;
    int rc;
    if (value == NULL)
        return TALLY_INBOUND_SKIPPED;
    if ((rc = tally_codec_peek_fingerprint(value, len, &fp, errbuf, errsize)) != 0) {
        *error = tally_codec_error_name(rc);
        return -1;
    }
    const tally_catalog_entry_t *w = tally_catalog_find(in->cat, fp);
    if (w == NULL) {
        *error = tally_codec_error_name(TALLY_CODEC_ERR_UNKNOWN_SCHEMA);
        snprintf(errbuf, errsize, "unknown writer schema fingerprint %016llx", (unsigned long long)fp);
        return -1;
    }
    int kind = -1;
    for (int k = 0; k < K_COUNT; k++)
        if (kind_role[k] == role && strcmp(w->name, kind_schema[k]) == 0)
            kind = k;
    if (kind < 0) {
        *error = "unexpected_schema";
        snprintf(errbuf, errsize, "%s records do not belong on this topic", w->name);
        return -1;
    }
    avro_value_t *v;
    if ((rc = tally_decoder_decode(in->dec[kind], value, len, &v, NULL, errbuf, errsize)) != 0) {
        *error = tally_codec_error_name(rc);
        return rc == TALLY_CODEC_ERR_UNKNOWN_BRANCH ? TALLY_INBOUND_UNKNOWN_BRANCH : -1;
    }
    switch (kind) {
    case K_API: rc = add_api(in, b, v, partition, offset, errbuf, errsize); break;
    case K_SEAT: rc = add_seat(in, b, v, partition, offset, errbuf, errsize); break;
    case K_PRODUCT: rc = add_product(in, b, v, errbuf, errsize); break;
    case K_ALERT: rc = tally_alert_add(b, v, partition, offset, errbuf, errsize); break;
    default: rc = tally_projection_add(b, v, errbuf, errsize); break;
    }
    if (rc != 0)
        *error = "invalid";
    return rc;
}
