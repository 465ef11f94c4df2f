/*
 * The crossing state of one tenant as a tally.notifier.changelog value
 * (key: the tenant id). Text, one fact a line, so an operator can read it
 * with kcat:
 *
 *   v1 <max_day>
 *   a <day> <api_calls> <env length> <env bytes>
 *   s <day> <seats_peak>
 *   x <metric> <last_day> <period> <count> (<percent> <reached 0|1> <crossings>)... <env length> [<env bytes>]
 *
 * (env length -1: no environment). Days are days since the epoch. A
 * tenant without rollups or series left is a tombstone (null value).
 * Terms, rules and environment kinds are not here: they are re-read from
 * tally.controlpanel.
 */
#include "crossing.h"
#include "crossing_internal.h"

#include "xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len, cap;
} buf_t;

static void put(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(buf_t *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)(n > 0 ? n : 0) + 64;
        b->data = tally_xrealloc(b->data, b->cap, 1);
    }
}

static void put_env(buf_t *b, const char *env)
{
    if (env == NULL) {
        put(b, " -1\n");
        return;
    }
    put(b, " %zu %s\n", strlen(env), env);
}

static void encode(const cx_tenant_t *t, buf_t *b)
{
    b->len = 0;
    put(b, "v1 %" PRId32 "\n", t->max_day);
    for (size_t i = 0; i < t->n_api; i++) {
        put(b, "a %" PRId32 " %" PRId64, t->api[i].day, t->api[i].calls);
        put_env(b, t->api[i].env);
    }
    for (size_t i = 0; i < t->n_seats; i++)
        put(b, "s %" PRId32 " %" PRId64 "\n", t->seats[i].day, t->seats[i].peak);
    for (size_t i = 0; i < t->n_series; i++) {
        const cx_series_t *s = &t->series[i];
        put(b, "x %d %" PRId32 " %s %zu", (int)s->metric, s->last_day, s->period, s->n);
        for (size_t k = 0; k < s->n; k++)
            put(b, " %d %d %" PRIu32, s->th[k].percent, s->th[k].reached ? 1 : 0, s->th[k].crossings);
        put_env(b, s->env);
    }
}

int tally_crossing_flush(tally_crossing_t *c, int (*fn)(void *arg, const char *tenant, const void *value, size_t len),
                         void *arg)
{
    buf_t b = {tally_xcalloc(1, 256), 0, 256};
    int rc = 0;
    for (size_t k = 0; k < c->n_buckets && rc == 0; k++)
        for (cx_tenant_t *t = c->buckets[k]; t && rc == 0; t = t->next) {
            if (!t->dirty)
                continue;
            if (t->n_api == 0 && t->n_seats == 0 && t->n_series == 0) {
                rc = fn(arg, t->id, NULL, 0);
            } else {
                encode(t, &b);
                rc = fn(arg, t->id, b.data, b.len);
            }
            if (rc == 0)
                t->dirty = false;
        }
    free(b.data);
    return rc;
}

/* ---- decoding: a cursor over the value ---------------------------------- */

typedef struct {
    const char *p, *end;
} cur_t;

static int num(cur_t *c, int64_t lo, int64_t hi, int64_t *v)
{
    char tmp[32];
    size_t n = 0;
    while (c->p < c->end && *c->p == ' ')
        c->p++;
    while (c->p < c->end && n < sizeof tmp - 1 && (*c->p == '-' || (*c->p >= '0' && *c->p <= '9')))
        tmp[n++] = *c->p++;
    tmp[n] = '\0';
    if (n == 0)
        return -1;
    char *e;
    errno = 0;
    long long x = strtoll(tmp, &e, 10);
    if (errno != 0 || *e != '\0' || x < lo || x > hi)
        return -1;
    *v = x;
    return 0;
}

static int word(cur_t *c, char *out, size_t size)
{
    size_t n = 0;
    while (c->p < c->end && *c->p == ' ')
        c->p++;
    while (c->p < c->end && *c->p != ' ' && *c->p != '\n') {
        if (n + 1 >= size)
            return -1;
        out[n++] = *c->p++;
    }
    out[n] = '\0';
    return n > 0 ? 0 : -1;
}

/* " <len> <bytes>" or " -1"; *env malloc'd or NULL. */
static int env_of(cur_t *c, char **env)
{
    int64_t len;
    *env = NULL;
    if (num(c, -1, 1 << 20, &len) != 0)
        return -1;
    if (len < 0)
        return 0;
    if (c->p >= c->end || *c->p != ' ' || (size_t)(c->end - c->p - 1) < (size_t)len)
        return -1;
    *env = tally_xstrndup(c->p + 1, (size_t)len);
    c->p += 1 + len;
    return 0;
}

static int eol(cur_t *c)
{
    if (c->p >= c->end || *c->p != '\n')
        return -1;
    c->p++;
    return 0;
}

static int decode_line(cx_tenant_t *t, cur_t *c)
{
    int64_t a, b, m;
    char *env = NULL;
    char kind = *c->p++;
    if (kind == 'a') {
        if (num(c, INT32_MIN, INT32_MAX, &a) != 0 || num(c, 0, INT64_MAX, &b) != 0 || env_of(c, &env) != 0 ||
            env == NULL || eol(c) != 0)
            goto bad;
        cx_api_set(t, env, (int32_t)a, b);
        free(env);
        return 0;
    }
    if (kind == 's') {
        if (num(c, INT32_MIN, INT32_MAX, &a) != 0 || num(c, 0, INT64_MAX, &b) != 0 || eol(c) != 0)
            return -1;
        cx_seat_set(t, (int32_t)a, b);
        return 0;
    }
    if (kind == 'x') {
        char period[11];
        int64_t n, pct, reached, crossings;
        cx_threshold_t th[CX_SERIES_THRESHOLDS];
        if (num(c, 0, TALLY_ALERT_METRICS - 1, &m) != 0 || num(c, INT32_MIN, INT32_MAX, &a) != 0 ||
            word(c, period, sizeof period) != 0 || num(c, 0, CX_SERIES_THRESHOLDS, &n) != 0)
            return -1;
        for (int64_t i = 0; i < n; i++) {
            if (num(c, 1, TALLY_CROSSING_PERCENT_MAX, &pct) != 0 || num(c, 0, 1, &reached) != 0 ||
                num(c, 0, UINT32_MAX, &crossings) != 0)
                return -1;
            th[i] = (cx_threshold_t){(int)pct, reached == 1, (uint32_t)crossings};
        }
        if (env_of(c, &env) != 0 || eol(c) != 0 || (m == TALLY_ALERT_NONPROD_DAILY_API_CALLS) != (env != NULL))
            goto bad;
        cx_series_t *s = cx_series_add(t, (tally_alert_metric_t)m, env, period, (int32_t)a);
        s->n = (size_t)n;
        memcpy(s->th, th, (size_t)n * sizeof *th);
        free(env);
        return 0;
    }
    return -1;
bad:
    free(env);
    return -1;
}

int tally_crossing_restore(tally_crossing_t *c, const char *tenant, const void *value, size_t len, char *errbuf,
                           size_t errsize)
{
    cx_tenant_t *t = cx_tenant(c, tenant, value != NULL);
    if (value == NULL) {
        if (t != NULL)
            cx_tenant_clear_state(t);
        return 0;
    }
    /* Decode into a scratch tenant, so a bad value changes nothing. */
    cx_tenant_t scratch;
    memset(&scratch, 0, sizeof scratch);
    cur_t cur = {value, (const char *)value + len};
    int64_t max_day;
    if (len < 3 || memcmp(value, "v1", 2) != 0) {
        snprintf(errbuf, errsize, "notifier state of %.100s: not a version 1 value", tenant);
        return -1;
    }
    cur.p += 2;
    int rc = num(&cur, INT32_MIN, INT32_MAX, &max_day) == 0 && eol(&cur) == 0 ? 0 : -1;
    while (rc == 0 && cur.p < cur.end)
        rc = decode_line(&scratch, &cur);
    if (rc != 0) {
        snprintf(errbuf, errsize, "notifier state of %.100s: malformed at byte %zu", tenant,
                 (size_t)(cur.p - (const char *)value));
        cx_tenant_clear_state(&scratch);
        free(scratch.api);
        free(scratch.seats);
        free(scratch.series);
        return -1;
    }
    cx_tenant_clear_state(t);
    free(t->api);
    free(t->seats);
    free(t->series);
    t->api = scratch.api, t->n_api = scratch.n_api, t->cap_api = scratch.cap_api;
    t->seats = scratch.seats, t->n_seats = scratch.n_seats, t->cap_seats = scratch.cap_seats;
    t->series = scratch.series, t->n_series = scratch.n_series, t->cap_series = scratch.cap_series;
    t->max_day = (int32_t)max_day;
    t->dirty = false;
    return 0;
}
