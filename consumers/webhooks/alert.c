#include "alert.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"

static int field(avro_value_t *rec, const char *name, avro_value_t *out)
{
    return avro_value_get_by_name(rec, name, out, NULL);
}

static int copy_str(avro_value_t *v, char *dst, size_t size)
{
    const char *s = NULL;
    size_t n = 0;
    if (avro_value_get_type(v) != AVRO_STRING || avro_value_get_string(v, &s, &n) != 0 || n == 0 || n > size)
        return -1;
    memcpy(dst, s, n - 1);
    dst[n - 1] = '\0';
    return 0;
}

static int str_field(avro_value_t *rec, const char *name, char *dst, size_t size)
{
    avro_value_t f;
    return field(rec, name, &f) == 0 ? copy_str(&f, dst, size) : -1;
}

static int enum_field(avro_value_t *rec, const char *name, char *dst, size_t size)
{
    avro_value_t f;
    int idx = 0;
    if (field(rec, name, &f) != 0 || avro_value_get_type(&f) != AVRO_ENUM || avro_value_get_enum(&f, &idx) != 0)
        return -1;
    const char *sym = avro_schema_enum_get(avro_value_get_schema(&f), idx);
    if (sym == NULL || strlen(sym) >= size)
        return -1;
    strcpy(dst, sym);
    return 0;
}

int tally_alert_from_avro(avro_value_t *rec, tally_alert_t *a, char *errbuf, size_t errsize)
{
    memset(a, 0, sizeof *a);
    avro_value_t f, branch;
    int disc = 0;
    if (str_field(rec, "alert_id", a->alert_id, sizeof a->alert_id) != 0 ||
        str_field(rec, "tenant_id", a->tenant_id, sizeof a->tenant_id) != 0 ||
        enum_field(rec, "metric", a->metric, sizeof a->metric) != 0 ||
        enum_field(rec, "state", a->state, sizeof a->state) != 0 ||
        str_field(rec, "period", a->period, sizeof a->period) != 0) {
        tally_errbuf_set(errbuf, errsize, "a UsageAlert string or enum field is missing or too long");
        return -1;
    }
    if (field(rec, "threshold", &f) != 0 || avro_value_get_int(&f, &a->threshold) != 0 ||
        field(rec, "value", &f) != 0 || avro_value_get_long(&f, &a->value) != 0 || field(rec, "limit", &f) != 0 ||
        avro_value_get_long(&f, &a->limit) != 0 || field(rec, "at", &f) != 0 || avro_value_get_long(&f, &a->at) != 0) {
        tally_errbuf_set(errbuf, errsize, "a UsageAlert number field is missing");
        return -1;
    }
    if (field(rec, "environment_id", &f) != 0 || avro_value_get_discriminant(&f, &disc) != 0 ||
        avro_value_get_current_branch(&f, &branch) != 0) {
        tally_errbuf_set(errbuf, errsize, "a UsageAlert has no environment_id");
        return -1;
    }
    if (avro_value_get_type(&branch) == AVRO_STRING) {
        if (copy_str(&branch, a->environment_id, sizeof a->environment_id) != 0) {
            tally_errbuf_set(errbuf, errsize, "a UsageAlert environment_id is too long");
            return -1;
        }
        a->has_environment = 1;
    }
    return 0;
}

void tally_alert_body(const tally_alert_t *a, tally_textbuf_t *out)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("usage.alert"));
    json_object_set_new(o, "alert_id", json_string(a->alert_id));
    json_object_set_new(o, "tenant_id", json_string(a->tenant_id));
    json_object_set_new(o, "environment_id", a->has_environment ? json_string(a->environment_id) : json_null());
    json_object_set_new(o, "metric", json_string(a->metric));
    json_object_set_new(o, "threshold", json_integer(a->threshold));
    json_object_set_new(o, "value", json_integer(a->value));
    json_object_set_new(o, "limit", json_integer(a->limit));
    json_object_set_new(o, "period", json_string(a->period));
    json_object_set_new(o, "state", json_string(a->state));
    json_object_set_new(o, "at", json_integer(a->at));
    char *text = json_dumps(o, JSON_COMPACT);
    if (text == NULL)
        abort();
    tally_textbuf_reset(out);
    tally_textbuf_puts(out, text);
    free(text);
    json_decref(o);
}
