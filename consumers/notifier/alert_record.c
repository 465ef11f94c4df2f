/*
 * UsageAlert records (alert_record.h): one reused value, one encoder.
 */
#include "alert_record.h"

#include "codec.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>

struct tally_alert_encoder_t {
    avro_value_t value;
    tally_encoder_t *enc;
};

tally_alert_encoder_t *tally_alert_encoder_new(const tally_catalog_t *cat, char *errbuf, size_t errsize)
{
    const tally_catalog_entry_t *s = tally_catalog_latest(cat, "UsageAlert");
    if (s == NULL) {
        snprintf(errbuf, errsize, "the schema catalog has no UsageAlert");
        return NULL;
    }
    tally_alert_encoder_t *e = tally_xcalloc(1, sizeof *e);
    if (tally_codec_value_new(s, &e->value, errbuf, errsize) != 0) {
        free(e);
        return NULL;
    }
    e->enc = tally_encoder_new(s);
    return e;
}

void tally_alert_encoder_free(tally_alert_encoder_t *e)
{
    if (e == NULL)
        return;
    avro_value_decref(&e->value);
    tally_encoder_free(e->enc);
    free(e);
}

int tally_alert_encode(tally_alert_encoder_t *e, const tally_alert_t *a, const void **out, size_t *len,
                       char *errbuf, size_t errsize)
{
    avro_value_t *v = &e->value, f, b;
    int rc = avro_value_reset(v);
    rc = rc || avro_value_get_by_name(v, "alert_id", &f, NULL) || avro_value_set_string(&f, a->alert_id);
    rc = rc || avro_value_get_by_name(v, "tenant_id", &f, NULL) || avro_value_set_string(&f, a->tenant);
    rc = rc || avro_value_get_by_name(v, "environment_id", &f, NULL);
    if (!rc)
        rc = a->environment ? avro_value_set_branch(&f, 1, &b) || avro_value_set_string(&b, a->environment)
                            : avro_value_set_branch(&f, 0, &b) || avro_value_set_null(&b);
    rc = rc || avro_value_get_by_name(v, "metric", &f, NULL) || avro_value_set_enum(&f, (int)a->metric);
    rc = rc || avro_value_get_by_name(v, "threshold", &f, NULL) || avro_value_set_int(&f, a->threshold);
    rc = rc || avro_value_get_by_name(v, "value", &f, NULL) || avro_value_set_long(&f, a->value);
    rc = rc || avro_value_get_by_name(v, "limit", &f, NULL) || avro_value_set_long(&f, a->limit);
    rc = rc || avro_value_get_by_name(v, "period", &f, NULL) || avro_value_set_string(&f, a->period);
    rc = rc || avro_value_get_by_name(v, "state", &f, NULL) ||
         avro_value_set_enum(&f, a->state == TALLY_ALERT_TRIGGERED ? 0 : 1);
    rc = rc || avro_value_get_by_name(v, "at", &f, NULL) || avro_value_set_long(&f, a->at);
    if (rc) {
        snprintf(errbuf, errsize, "UsageAlert: %s", avro_strerror());
        return -1;
    }
    return tally_encoder_encode(e->enc, v, out, len, errbuf, errsize) == 0 ? 0 : -1;
}
