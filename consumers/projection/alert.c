#include "alert.h"

#include "copy_text.h"
#include "timeutil.h"

#include <stdio.h>
#include <string.h>

static int field(avro_value_t *rec, const char *name, avro_value_t *out, char *errbuf, size_t errsize)
{
    if (avro_value_get_by_name(rec, name, out, NULL) != 0) {
        snprintf(errbuf, errsize, "field %s missing", name);
        return -1;
    }
    return 0;
}

static int text_of(avro_value_t *f, const char *name, const char **s, size_t *n, char *errbuf, size_t errsize)
{
    if (avro_value_get_string(f, s, n) != 0) {
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

static int text_field(avro_value_t *rec, const char *name, const char **s, size_t *n, char *errbuf, size_t errsize)
{
    avro_value_t f;
    if (field(rec, name, &f, errbuf, errsize) != 0)
        return -1;
    return text_of(&f, name, s, n, errbuf, errsize);
}

static int enum_field(avro_value_t *rec, const char *name, const char **sym, char *errbuf, size_t errsize)
{
    avro_value_t f;
    int i;
    *sym = NULL;
    if (field(rec, name, &f, errbuf, errsize) == 0 && avro_value_get_enum(&f, &i) == 0)
        *sym = avro_schema_enum_get(avro_value_get_schema(&f), i);
    if (*sym == NULL) {
        snprintf(errbuf, errsize, "field %s is not a known symbol", name);
        return -1;
    }
    return 0;
}

static bool lower_uuid(const char *s, size_t n)
{
    if (!tally_text_is_uuid(s, n))
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 'A' && s[i] <= 'F')
            return false;
    return true;
}

/* "YYYY-MM" (7) or "YYYY-MM-DD" (10), digits where digits go. */
static bool period_ok(const char *s, size_t n)
{
    if (n != 7 && n != 10)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool dash = i == 4 || i == 7;
        if (dash ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
            return false;
    }
    return true;
}

static void number(tally_batch_t *b, tally_cp_event_t *e, int64_t v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    e->param[e->nparams++] = tally_batch_strdup(b, tmp, (size_t)n);
}

static void text(tally_batch_t *b, tally_cp_event_t *e, const char *s, size_t n)
{
    e->param[e->nparams++] = s ? tally_batch_strdup(b, s, n) : TALLY_BATCH_NULL;
}

int tally_alert_add(tally_batch_t *b, avro_value_t *v, int32_t partition, int64_t offset, char *errbuf,
                    size_t errsize)
{
    const char *id, *tenant, *env = NULL, *period, *metric, *state;
    size_t id_n, tenant_n, env_n = 0, period_n;
    int32_t threshold;
    int64_t value, limit, at;
    avro_value_t f, u, br;
    char when[TALLY_RFC3339_SIZE];

    if (text_field(v, "alert_id", &id, &id_n, errbuf, errsize) != 0 ||
        text_field(v, "tenant_id", &tenant, &tenant_n, errbuf, errsize) != 0 ||
        text_field(v, "period", &period, &period_n, errbuf, errsize) != 0 ||
        enum_field(v, "metric", &metric, errbuf, errsize) != 0 ||
        enum_field(v, "state", &state, errbuf, errsize) != 0)
        return -1;
    if (field(v, "environment_id", &u, errbuf, errsize) != 0 || avro_value_get_current_branch(&u, &br) != 0) {
        snprintf(errbuf, errsize, "field environment_id is not an optional string");
        return -1;
    }
    if (avro_value_get_type(&br) != AVRO_NULL && text_of(&br, "environment_id", &env, &env_n, errbuf, errsize) != 0)
        return -1;
    if (field(v, "threshold", &f, errbuf, errsize) != 0 || avro_value_get_int(&f, &threshold) != 0) {
        snprintf(errbuf, errsize, "field threshold is not an int");
        return -1;
    }
    if (field(v, "value", &f, errbuf, errsize) != 0 || avro_value_get_long(&f, &value) != 0 ||
        field(v, "limit", &f, errbuf, errsize) != 0 || avro_value_get_long(&f, &limit) != 0 ||
        field(v, "at", &f, errbuf, errsize) != 0 || avro_value_get_long(&f, &at) != 0) {
        snprintf(errbuf, errsize, "field value, limit or at is not a long");
        return -1;
    }
    if (!lower_uuid(id, id_n)) {
        snprintf(errbuf, errsize, "alert_id is not lower-case UUID-shaped hex");
        return -1;
    }
    if (tenant_n == 0) {
        snprintf(errbuf, errsize, "tenant_id is empty");
        return -1;
    }
    if (threshold <= 0 || value < 0 || limit < 0) {
        snprintf(errbuf, errsize, "threshold not above 0, or a negative value or limit");
        return -1;
    }
    bool daily = strcmp(metric, "NONPROD_DAILY_API_CALLS") == 0;
    if (!period_ok(period, period_n) || (period_n == 10) != daily) {
        snprintf(errbuf, errsize, "period is not %s", daily ? "YYYY-MM-DD" : "YYYY-MM");
        return -1;
    }
    if ((env != NULL) != daily || (env != NULL && env_n == 0)) {
        snprintf(errbuf, errsize, "environment_id %s", daily ? "missing on a daily alert" : "set on a monthly alert");
        return -1;
    }
    if (at < TALLY_TIME_MIN_MS || at > TALLY_TIME_MAX_MS || tally_rfc3339_format(at, when) != 0) {
        snprintf(errbuf, errsize, "field at is out of range");
        return -1;
    }

    /* $1 tenant, $2 alert_id, $3 environment, $4 metric, $5 threshold,
     * $6 value, $7 limit, $8 period, $9 state, $10 at, $11 partition,
     * $12 offset (projection.c). */
    tally_cp_event_t *e = tally_batch_add_cp(b, TALLY_CP_USAGE_ALERT);
    text(b, e, tenant, tenant_n);
    text(b, e, id, id_n);
    text(b, e, env, env_n);
    text(b, e, metric, strlen(metric));
    number(b, e, threshold);
    number(b, e, value);
    number(b, e, limit);
    text(b, e, period, period_n);
    text(b, e, state, strlen(state));
    text(b, e, when, strlen(when));
    number(b, e, partition);
    number(b, e, offset);
    return 0;
}
