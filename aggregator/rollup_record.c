#include "rollup_record.h"

#include "codec.h"
#include "timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { API_TENANT, API_ENV, API_DAY, API_CALLS, API_4XX, API_5XX, API_EXEC, API_UPDATED, API_FIELDS };
enum { SEAT_TENANT, SEAT_DAY, SEAT_IN_USE, SEAT_PEAK, SEAT_UPDATED, SEAT_FIELDS };

static const char *const api_fields[API_FIELDS] = {"tenant_id",  "environment_id", "day",     "api_calls",
                                                   "status_4xx", "status_5xx",     "exec_ms", "updated_at"};
static const char *const seat_fields[SEAT_FIELDS] = {"tenant_id", "day", "seats_in_use", "seats_peak",
                                                     "updated_at"};

/* One record type: its value (reused), encoder and field indexes. */
typedef struct out_type_t {
    const tally_catalog_entry_t *schema;
    avro_value_t value;
    bool has_value;
    tally_encoder_t *enc;
    size_t field[API_FIELDS];
    tally_rollup_key_t key;
} out_type_t;

struct tally_rollup_record_t {
    out_type_t api, seat;
};

static void *xrealloc(void *p, size_t size)
{
    p = realloc(p, size);
    if (p == NULL) {
        fputs("rollup_record: out of memory\n", stderr);
        abort();
    }
    return p;
}

/* ---- keys --------------------------------------------------------------- */

static void key_reserve(tally_rollup_key_t *k, size_t more)
{
    if (k->len + more + 1 <= k->cap)
        return;
    size_t cap = k->cap ? k->cap : 64;
    while (cap < k->len + more + 1)
        cap *= 2;
    k->data = xrealloc(k->data, cap);
    k->cap = cap;
}

static void key_id(tally_rollup_key_t *k, const char *s)
{
    size_t n = strlen(s);
    key_reserve(k, 3 * n + 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' || s[i] == '|') {
            k->data[k->len++] = '%';
            memcpy(k->data + k->len, s[i] == '%' ? "25" : "7C", 2);
            k->len += 2;
        } else {
            k->data[k->len++] = s[i];
        }
    }
    k->data[k->len++] = '|';
    k->data[k->len] = '\0';
}

static void key_day(tally_rollup_key_t *k, int32_t day)
{
    char buf[TALLY_DATE_SIZE];
    /* Every int32 day the rollup library holds is within years 0-9999. */
    if (tally_date_format(day, buf) != 0)
        snprintf(buf, sizeof buf, "day%d", (int)day);
    size_t n = strlen(buf);
    key_reserve(k, n);
    memcpy(k->data + k->len, buf, n + 1);
    k->len += n;
}

void tally_rollup_key_api(tally_rollup_key_t *k, const char *tenant_id, const char *environment_id,
                          int32_t day)
{
    k->len = 0;
    key_id(k, tenant_id);
    key_id(k, environment_id);
    key_day(k, day);
}

void tally_rollup_key_seat(tally_rollup_key_t *k, const char *tenant_id, int32_t day)
{
    k->len = 0;
    key_id(k, tenant_id);
    key_day(k, day);
}

void tally_rollup_key_free(tally_rollup_key_t *k)
{
    free(k->data);
    memset(k, 0, sizeof *k);
}

/* ---- values ------------------------------------------------------------- */

static int type_init(out_type_t *t, const tally_catalog_t *cat, const char *name, const char *const *fields,
                     size_t n_fields, char *errbuf, size_t errsize)
{
    t->schema = tally_catalog_latest(cat, name);
    if (t->schema == NULL) {
        snprintf(errbuf, errsize, "schema catalog: no %s schema", name);
        return -1;
    }
    for (size_t i = 0; i < n_fields; i++) {
        if (avro_schema_record_field_get_index(t->schema->schema, fields[i]) < 0) {
            snprintf(errbuf, errsize, "schema %s/v%d: no field %s", name, t->schema->version, fields[i]);
            return -1;
        }
        t->field[i] = (size_t)avro_schema_record_field_get_index(t->schema->schema, fields[i]);
    }
    if (tally_codec_value_new(t->schema, &t->value, errbuf, errsize) != 0)
        return -1;
    t->has_value = true;
    t->enc = tally_encoder_new(t->schema);
    return 0;
}

static void type_free(out_type_t *t)
{
    if (t->has_value)
        avro_value_decref(&t->value);
    tally_encoder_free(t->enc);
    tally_rollup_key_free(&t->key);
}

tally_rollup_record_t *tally_rollup_record_new(const tally_catalog_t *cat, char *errbuf, size_t errsize)
{
    tally_rollup_record_t *rr = calloc(1, sizeof *rr);
    if (rr == NULL) {
        fputs("rollup_record: out of memory\n", stderr);
        abort();
    }
    if (type_init(&rr->api, cat, "ApiUsageRollup", api_fields, API_FIELDS, errbuf, errsize) != 0 ||
        type_init(&rr->seat, cat, "SeatRollup", seat_fields, SEAT_FIELDS, errbuf, errsize) != 0) {
        tally_rollup_record_free(rr);
        return NULL;
    }
    return rr;
}

void tally_rollup_record_free(tally_rollup_record_t *rr)
{
    if (rr == NULL)
        return;
    type_free(&rr->api);
    type_free(&rr->seat);
    free(rr);
}

/* Sets field i of t's value; a nonzero return is avro-c's error. */
static int set_str(out_type_t *t, int i, const char *s)
{
    avro_value_t f;
    return avro_value_get_by_index(&t->value, t->field[i], &f, NULL) || avro_value_set_string(&f, s);
}

static int set_int(out_type_t *t, int i, int32_t v)
{
    avro_value_t f;
    return avro_value_get_by_index(&t->value, t->field[i], &f, NULL) || avro_value_set_int(&f, v);
}

static int set_long(out_type_t *t, int i, int64_t v)
{
    avro_value_t f;
    return avro_value_get_by_index(&t->value, t->field[i], &f, NULL) || avro_value_set_long(&f, v);
}

static int finish(out_type_t *t, int set_failed, const char **key, size_t *key_len, const void **value,
                  size_t *len, char *errbuf, size_t errsize)
{
    if (set_failed) {
        snprintf(errbuf, errsize, "%s: %s", t->schema->name, avro_strerror());
        return -1;
    }
    if (tally_encoder_encode(t->enc, &t->value, value, len, errbuf, errsize) != 0)
        return -1;
    *key = t->key.data;
    *key_len = t->key.len;
    return 0;
}

int tally_rollup_record_api(tally_rollup_record_t *rr, const tally_api_rollup_t *r, const char **key,
                            size_t *key_len, const void **value, size_t *len, char *errbuf, size_t errsize)
{
    out_type_t *t = &rr->api;
    avro_value_reset(&t->value);
    int failed = set_str(t, API_TENANT, r->tenant_id) || set_str(t, API_ENV, r->environment_id) ||
                 set_int(t, API_DAY, r->day) || set_long(t, API_CALLS, r->api_calls) ||
                 set_long(t, API_4XX, r->status_4xx) || set_long(t, API_5XX, r->status_5xx) ||
                 set_long(t, API_EXEC, r->exec_ms) || set_long(t, API_UPDATED, r->updated_at);
    tally_rollup_key_api(&t->key, r->tenant_id, r->environment_id, r->day);
    return finish(t, failed, key, key_len, value, len, errbuf, errsize);
}

int tally_rollup_record_seat(tally_rollup_record_t *rr, const tally_seat_rollup_t *r, const char **key,
                             size_t *key_len, const void **value, size_t *len, char *errbuf, size_t errsize)
{
    out_type_t *t = &rr->seat;
    avro_value_reset(&t->value);
    int failed = set_str(t, SEAT_TENANT, r->tenant_id) || set_int(t, SEAT_DAY, r->day) ||
                 set_long(t, SEAT_IN_USE, r->seats_in_use) || set_long(t, SEAT_PEAK, r->seats_peak) ||
                 set_long(t, SEAT_UPDATED, r->updated_at);
    tally_rollup_key_seat(&t->key, r->tenant_id, r->day);
    return finish(t, failed, key, key_len, value, len, errbuf, errsize);
}
