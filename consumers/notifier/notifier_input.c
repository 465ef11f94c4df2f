/*
 * Decoding tally-notifier's inputs (notifier_input.h).
 */
#include "notifier_input.h"

#include "codec.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tally_notifier_input_t {
    tally_decoder_t *rollups;        /* any writer */
    tally_decoder_t *cp;             /* as the latest ControlPanelEvent */
};

tally_notifier_input_t *tally_notifier_input_new(const tally_catalog_t *cat, char *errbuf, size_t errsize)
{
    const tally_catalog_entry_t *cp = tally_catalog_latest(cat, "ControlPanelEvent");
    if (cp == NULL || tally_catalog_latest(cat, "ApiUsageRollup") == NULL ||
        tally_catalog_latest(cat, "SeatRollup") == NULL || tally_catalog_latest(cat, "UsageAlert") == NULL) {
        snprintf(errbuf, errsize, "the schema catalog lacks ControlPanelEvent, ApiUsageRollup, SeatRollup or "
                                  "UsageAlert");
        return NULL;
    }
    tally_notifier_input_t *in = tally_xcalloc(1, sizeof *in);
    in->rollups = tally_decoder_new_any(cat);
    in->cp = tally_decoder_new(cat, cp);
    return in;
}

void tally_notifier_input_free(tally_notifier_input_t *in)
{
    if (in == NULL)
        return;
    tally_decoder_free(in->rollups);
    tally_decoder_free(in->cp);
    free(in);
}

static int get_long(avro_value_t *rec, const char *name, int64_t *v)
{
    avro_value_t f;
    int32_t i;
    if (avro_value_get_by_name(rec, name, &f, NULL) != 0)
        return -1;
    if (avro_value_get_type(&f) == AVRO_INT32) {
        if (avro_value_get_int(&f, &i) != 0)
            return -1;
        *v = i;
        return 0;
    }
    return avro_value_get_long(&f, v);
}

/* A string field, NUL-terminated by avro-c. */
static int get_str(avro_value_t *rec, const char *name, const char **s)
{
    avro_value_t f;
    size_t size;
    return avro_value_get_by_name(rec, name, &f, NULL) == 0 && avro_value_get_string(&f, s, &size) == 0 &&
                   size > 0 && strlen(*s) == size - 1
               ? 0
               : -1;
}

static int fail(char *errbuf, size_t errsize, const char *what, const char *field)
{
    snprintf(errbuf, errsize, "%s: field %s missing or out of range", what, field);
    return -1;
}

int tally_notifier_input_rollup(tally_notifier_input_t *in, tally_crossing_t *c, const void *value, size_t len,
                                tally_alert_list_t *out, char *errbuf, size_t errsize)
{
    avro_value_t *v;
    const tally_catalog_entry_t *w;
    const char *tenant, *env;
    int64_t day, n, at;
    if (tally_decoder_decode(in->rollups, value, len, &v, &w, errbuf, errsize) != 0)
        return -1;
    bool api = strcmp(w->name, "ApiUsageRollup") == 0;
    if (!api && strcmp(w->name, "SeatRollup") != 0) {
        snprintf(errbuf, errsize, "a %s is not a rollup", w->name);
        return -1;
    }
    if (get_str(v, "tenant_id", &tenant) != 0)
        return fail(errbuf, errsize, w->name, "tenant_id");
    if (get_long(v, "day", &day) != 0 || day < INT32_MIN || day > INT32_MAX)
        return fail(errbuf, errsize, w->name, "day");
    if (get_long(v, "updated_at", &at) != 0)
        return fail(errbuf, errsize, w->name, "updated_at");
    if (api) {
        if (get_str(v, "environment_id", &env) != 0)
            return fail(errbuf, errsize, w->name, "environment_id");
        if (get_long(v, "api_calls", &n) != 0 || n < 0)
            return fail(errbuf, errsize, w->name, "api_calls");
        tally_crossing_api_rollup(c, tenant, env, (int32_t)day, n, at, out);
    } else {
        if (get_long(v, "seats_peak", &n) != 0 || n < 0)
            return fail(errbuf, errsize, w->name, "seats_peak");
        tally_crossing_seat_rollup(c, tenant, (int32_t)day, n, at, out);
    }
    return TALLY_INPUT_APPLIED;
}

/* An int array of an AlertRulesSet into percent/n; -1 when it breaks the
 * rules (the gateway refuses those: such a record was not written by it). */
static int percents(avro_value_t *rules, const char *name, int *percent, size_t *n)
{
    avro_value_t arr, item;
    size_t count;
    if (avro_value_get_by_name(rules, name, &arr, NULL) != 0 || avro_value_get_size(&arr, &count) != 0 ||
        count > TALLY_CROSSING_RULES_MAX)
        return -1;
    for (size_t i = 0; i < count; i++)
        if (avro_value_get_by_index(&arr, i, &item, NULL) != 0 || avro_value_get_int(&item, &percent[i]) != 0)
            return -1;
    *n = count;
    return tally_alert_percents_check(percent, count);
}

int tally_notifier_input_controlpanel(tally_notifier_input_t *in, tally_crossing_t *c, const void *value, size_t len,
                                      tally_alert_list_t *out, char *errbuf, size_t errsize)
{
    avro_value_t *v, payload, branch;
    const char *tenant;
    int64_t at;
    int rc = tally_decoder_decode(in->cp, value, len, &v, NULL, errbuf, errsize);
    if (rc == TALLY_CODEC_ERR_UNKNOWN_BRANCH)
        return TALLY_INPUT_IGNORED;
    if (rc != 0)
        return -1;
    if (get_str(v, "tenant_id", &tenant) != 0 || get_long(v, "occurred_at", &at) != 0 ||
        avro_value_get_by_name(v, "payload", &payload, NULL) != 0 ||
        avro_value_get_current_branch(&payload, &branch) != 0)
        return fail(errbuf, errsize, "ControlPanelEvent", "tenant_id, occurred_at or payload");
    const char *name = avro_schema_type_name(avro_value_get_schema(&branch));
    if (strcmp(name, "LicenseTermsSet") == 0) {
        int64_t from, until, seats, monthly, nonprod;
        if (get_long(&branch, "valid_from", &from) != 0 || get_long(&branch, "valid_until", &until) != 0 ||
            get_long(&branch, "seats_max", &seats) != 0 || get_long(&branch, "monthly_api_calls_max", &monthly) != 0 ||
            get_long(&branch, "daily_api_calls_max_nonprod", &nonprod) != 0 || until < from || seats < 0 ||
            monthly < 0 || nonprod < 0)
            return fail(errbuf, errsize, "LicenseTermsSet", "valid_from, valid_until or a maximum");
        tally_crossing_terms(c, tenant, (int32_t)from, (int32_t)until, seats, monthly, nonprod, at, out);
        return TALLY_INPUT_APPLIED;
    }
    if (strcmp(name, "EnvironmentCreated") == 0) {
        const char *env;
        avro_value_t kind;
        int idx;
        if (get_str(&branch, "environment_id", &env) != 0 || avro_value_get_by_name(&branch, "kind", &kind, NULL) != 0 ||
            avro_value_get_enum(&kind, &idx) != 0)
            return fail(errbuf, errsize, "EnvironmentCreated", "environment_id or kind");
        const char *sym = avro_schema_enum_get(avro_value_get_schema(&kind), idx);
        tally_crossing_environment(c, tenant, env, sym != NULL && strcmp(sym, "production") != 0, at, out);
        return TALLY_INPUT_APPLIED;
    }
    if (strcmp(name, "AlertRulesSet") == 0) {
        tally_alert_rules_t r;
        memset(&r, 0, sizeof r);
        if (percents(&branch, "api_calls_percent", r.percent[TALLY_ALERT_MONTHLY_API_CALLS],
                     &r.n[TALLY_ALERT_MONTHLY_API_CALLS]) != 0 ||
            percents(&branch, "nonprod_daily_percent", r.percent[TALLY_ALERT_NONPROD_DAILY_API_CALLS],
                     &r.n[TALLY_ALERT_NONPROD_DAILY_API_CALLS]) != 0 ||
            percents(&branch, "seats_percent", r.percent[TALLY_ALERT_SEATS_PEAK], &r.n[TALLY_ALERT_SEATS_PEAK]) != 0)
            return fail(errbuf, errsize, "AlertRulesSet", "a percent array");
        tally_crossing_rules(c, tenant, &r, at, out);
        return TALLY_INPUT_APPLIED;
    }
    return TALLY_INPUT_IGNORED;
}
