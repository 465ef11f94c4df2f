/*
 * Usage threshold crossings: the rules of crossing.h. Every input changes
 * one tenant's facts and then re-evaluates all of that tenant's series, so
 * the result depends only on the facts and the order of the inputs.
 */
#include "crossing.h"
#include "crossing_internal.h"

#include "timeutil.h"
#include "xalloc.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__extension__ typedef unsigned __int128 cx_u128;

static const char *const metric_names[TALLY_ALERT_METRICS] = {"MONTHLY_API_CALLS", "NONPROD_DAILY_API_CALLS",
                                                               "SEATS_PEAK"};

const char *tally_alert_metric_name(tally_alert_metric_t m)
{
    return m < TALLY_ALERT_METRICS ? metric_names[m] : "?";
}

const char *tally_alert_state_name(tally_alert_state_t s)
{
    return s == TALLY_ALERT_TRIGGERED ? "TRIGGERED" : "RESOLVED";
}

void tally_alert_list_clear(tally_alert_list_t *l)
{
    for (size_t i = 0; i < l->count; i++) {
        free(l->items[i].tenant);
        free(l->items[i].environment);
    }
    l->count = 0;
}

void tally_alert_list_free(tally_alert_list_t *l)
{
    if (l == NULL)
        return;
    tally_alert_list_clear(l);
    free(l->items);
    memset(l, 0, sizeof *l);
}

int tally_alert_percents_check(const int *percent, size_t n)
{
    if (n > TALLY_CROSSING_RULES_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (percent[i] < 1 || percent[i] > TALLY_CROSSING_PERCENT_MAX || (i > 0 && percent[i] <= percent[i - 1]))
            return -1;
    return 0;
}

int tally_alert_percents_parse(const char *text, int percent[TALLY_CROSSING_RULES_MAX], size_t *n, char *errbuf,
                               size_t errsize)
{
    *n = 0;
    const char *p = text;
    while (*p != '\0') {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || (*end != ',' && *end != '\0') || *n == TALLY_CROSSING_RULES_MAX || v < 1 ||
            v > TALLY_CROSSING_PERCENT_MAX) {
            snprintf(errbuf, errsize, "\"%s\": expected at most %d percents 1..%d, comma-separated", text,
                     TALLY_CROSSING_RULES_MAX, TALLY_CROSSING_PERCENT_MAX);
            return -1;
        }
        percent[(*n)++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end == ',' && *p == '\0') {
            snprintf(errbuf, errsize, "\"%s\": a trailing comma", text);
            return -1;
        }
    }
    if (tally_alert_percents_check(percent, *n) != 0) {
        snprintf(errbuf, errsize, "\"%s\": percents must be ascending and distinct", text);
        return -1;
    }
    return 0;
}

/* ---- tenants ---------------------------------------------------------- */

static uint64_t hash_of(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void grow(void **items, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return;
    size_t n = *cap ? *cap * 2 : 8;
    while (n < need)
        n *= 2;
    *items = tally_xrealloc(*items, n, size);
    *cap = n;
}

cx_tenant_t *cx_tenant(tally_crossing_t *c, const char *id, bool create)
{
    size_t b = hash_of(id) % c->n_buckets;
    for (cx_tenant_t *t = c->buckets[b]; t; t = t->next)
        if (strcmp(t->id, id) == 0)
            return t;
    if (!create)
        return NULL;
    cx_tenant_t *t = tally_xcalloc(1, sizeof *t);
    t->id = tally_xstrdup(id);
    t->max_day = INT32_MIN;
    t->next = c->buckets[b];
    c->buckets[b] = t;
    c->count++;
    return t;
}

void cx_tenant_clear_state(cx_tenant_t *t)
{
    for (size_t i = 0; i < t->n_api; i++)
        free(t->api[i].env);
    for (size_t i = 0; i < t->n_series; i++)
        free(t->series[i].env);
    t->n_api = t->n_seats = t->n_series = 0;
    t->max_day = INT32_MIN;
}

static void tenant_free(cx_tenant_t *t)
{
    cx_tenant_clear_state(t);
    for (size_t i = 0; i < t->n_envs; i++)
        free(t->envs[i].env);
    free(t->envs);
    free(t->api);
    free(t->seats);
    free(t->series);
    free(t->terms);
    free(t->id);
    free(t);
}

tally_crossing_t *tally_crossing_new(const tally_alert_rules_t *defaults)
{
    tally_crossing_t *c = tally_xcalloc(1, sizeof *c);
    c->defaults = *defaults;
    c->n_buckets = 1024;
    c->buckets = tally_xcalloc(c->n_buckets, sizeof *c->buckets);
    return c;
}

void tally_crossing_free(tally_crossing_t *c)
{
    if (c == NULL)
        return;
    for (size_t b = 0; b < c->n_buckets; b++)
        for (cx_tenant_t *t = c->buckets[b], *next; t; t = next) {
            next = t->next;
            tenant_free(t);
        }
    free(c->buckets);
    free(c);
}

void tally_crossing_reset_state(tally_crossing_t *c)
{
    for (size_t b = 0; b < c->n_buckets; b++)
        for (cx_tenant_t *t = c->buckets[b]; t; t = t->next) {
            cx_tenant_clear_state(t);
            t->dirty = false;
        }
}

cx_series_t *cx_series_add(cx_tenant_t *t, tally_alert_metric_t metric, const char *env, const char *period,
                           int32_t last_day)
{
    grow((void **)&t->series, &t->cap_series, t->n_series + 1, sizeof *t->series);
    cx_series_t *s = &t->series[t->n_series++];
    memset(s, 0, sizeof *s);
    s->metric = metric;
    s->env = env ? tally_xstrdup(env) : NULL;
    snprintf(s->period, sizeof s->period, "%s", period);
    s->last_day = last_day;
    return s;
}

/* api entries stay sorted by (day, env), seats by day: evaluation order
 * is then fixed. */
bool cx_api_set(cx_tenant_t *t, const char *env, int32_t day, int64_t calls)
{
    size_t i = 0;
    for (; i < t->n_api; i++) {
        int cmp = t->api[i].day != day ? (t->api[i].day < day ? -1 : 1) : strcmp(t->api[i].env, env);
        if (cmp == 0) {
            bool changed = t->api[i].calls != calls;
            t->api[i].calls = calls;
            return changed;
        }
        if (cmp > 0)
            break;
    }
    grow((void **)&t->api, &t->cap_api, t->n_api + 1, sizeof *t->api);
    memmove(&t->api[i + 1], &t->api[i], (t->n_api - i) * sizeof *t->api);
    t->api[i] = (cx_api_t){tally_xstrdup(env), day, calls};
    t->n_api++;
    return true;
}

bool cx_seat_set(cx_tenant_t *t, int32_t day, int64_t peak)
{
    size_t i = 0;
    for (; i < t->n_seats && t->seats[i].day <= day; i++)
        if (t->seats[i].day == day) {
            bool changed = t->seats[i].peak != peak;
            t->seats[i].peak = peak;
            return changed;
        }
    grow((void **)&t->seats, &t->cap_seats, t->n_seats + 1, sizeof *t->seats);
    memmove(&t->seats[i + 1], &t->seats[i], (t->n_seats - i) * sizeof *t->seats);
    t->seats[i] = (cx_seat_t){day, peak};
    t->n_seats++;
    return true;
}

/* ---- dates ------------------------------------------------------------ */

static int32_t month_first(int32_t day)
{
    int64_t y;
    unsigned m, d;
    if (tally_civil_from_days(day, &y, &m, &d) != 0)
        return day;
    return (int32_t)tally_days_from_civil(y, m, 1);
}

static int32_t month_last(int32_t day)
{
    int64_t y;
    unsigned m, d;
    if (tally_civil_from_days(day, &y, &m, &d) != 0)
        return day;
    return (int32_t)tally_days_from_civil(y, m, tally_days_in_month(y, m));
}

static void day_text(int32_t day, char out[11])
{
    char buf[TALLY_DATE_SIZE];
    if (tally_date_format(day, buf) != 0)
        snprintf(buf, sizeof buf, "0000-00-00");
    snprintf(out, 11, "%.10s", buf);
}

static void month_text(int32_t day, char out[11])
{
    day_text(day, out);
    out[7] = '\0';
}

/* ---- evaluation --------------------------------------------------------- */

static bool reached(int64_t value, int64_t limit, int percent)
{
    if (value < 0)
        value = 0;
    if (limit == 0)
        return value > 0;
    return (cx_u128)value * 100u >= (cx_u128)limit * (cx_u128)percent;
}

static void alert_id(const char *tenant, tally_alert_metric_t m, const char *env, const char *period, int threshold,
                     tally_alert_state_t st, uint32_t crossing_no, char out[37])
{
    crypto_hash_sha256_state h;
    unsigned char d[crypto_hash_sha256_BYTES];
    char tail[96];
    int n = snprintf(tail, sizeof tail, "|%s|", metric_names[m]);
    crypto_hash_sha256_init(&h);
    crypto_hash_sha256_update(&h, (const unsigned char *)tenant, strlen(tenant));
    crypto_hash_sha256_update(&h, (const unsigned char *)tail, (size_t)n);
    if (env != NULL)
        crypto_hash_sha256_update(&h, (const unsigned char *)env, strlen(env));
    n = snprintf(tail, sizeof tail, "|%s|%d|%s|%u", period, threshold, tally_alert_state_name(st), crossing_no);
    crypto_hash_sha256_update(&h, (const unsigned char *)tail, (size_t)n);
    crypto_hash_sha256_final(&h, d);
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[d[i] >> 4];
        out[o++] = hex[d[i] & 15];
    }
    out[o] = '\0';
}

typedef struct {
    tally_crossing_t *c;
    cx_tenant_t *t;
    const tally_alert_rules_t *rules;
    int64_t at;
    tally_alert_list_t *out;
} eval_t;

static void emit(eval_t *e, const cx_series_t *s, int percent, int64_t value, int64_t limit, tally_alert_state_t st,
                 uint32_t crossing_no)
{
    tally_alert_list_t *l = e->out;
    grow((void **)&l->items, &l->cap, l->count + 1, sizeof *l->items);
    tally_alert_t *a = &l->items[l->count++];
    memset(a, 0, sizeof *a);
    a->tenant = tally_xstrdup(e->t->id);
    a->environment = s->env ? tally_xstrdup(s->env) : NULL;
    a->metric = s->metric;
    a->threshold = percent;
    a->value = value;
    a->limit = limit;
    memcpy(a->period, s->period, sizeof a->period);
    a->state = st;
    a->crossing_no = crossing_no;
    a->at = e->at;
    alert_id(e->t->id, s->metric, s->env, s->period, percent, st, crossing_no, a->alert_id);
}

static cx_series_t *series_find(cx_tenant_t *t, tally_alert_metric_t m, const char *env, const char *period)
{
    for (size_t i = 0; i < t->n_series; i++) {
        cx_series_t *s = &t->series[i];
        if (s->metric == m && strcmp(s->period, period) == 0 &&
            (env == NULL ? s->env == NULL : s->env != NULL && strcmp(s->env, env) == 0))
            return s;
    }
    return NULL;
}

static cx_threshold_t *threshold_of(cx_series_t *s, int percent)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->th[i].percent == percent)
            return &s->th[i];
    if (s->n == CX_SERIES_THRESHOLDS) {
        /* Full (rules changed many times): forget an unreached one. */
        for (size_t i = 0; i < s->n; i++)
            if (!s->th[i].reached) {
                s->th[i] = s->th[--s->n];
                break;
            }
        if (s->n == CX_SERIES_THRESHOLDS)
            return NULL;
    }
    s->th[s->n] = (cx_threshold_t){percent, false, 0};
    return &s->th[s->n++];
}

static void eval_series(eval_t *e, tally_alert_metric_t m, const char *env, const char *period, int32_t last_day,
                        int64_t value, int64_t limit)
{
    const int *pct = e->rules->percent[m];
    size_t n = e->rules->n[m];
    cx_series_t *s = series_find(e->t, m, env, period);
    if (s == NULL) {
        if (n == 0 || !reached(value, limit, pct[0]))
            return;   /* nothing reached, nothing to remember */
        s = cx_series_add(e->t, m, env, period, last_day);
    }
    for (size_t i = 0; i < n; i++) {
        cx_threshold_t *th = threshold_of(s, pct[i]);
        if (th != NULL && !th->reached && reached(value, limit, pct[i])) {
            th->reached = true;
            th->crossings++;
            e->t->dirty = true;
            emit(e, s, pct[i], value, limit, TALLY_ALERT_TRIGGERED, th->crossings);
        }
    }
    for (size_t i = n; i-- > 0;) {
        cx_threshold_t *th = threshold_of(s, pct[i]);
        if (th != NULL && th->reached && !reached(value, limit, pct[i])) {
            th->reached = false;
            e->t->dirty = true;
            emit(e, s, pct[i], value, limit, TALLY_ALERT_RESOLVED, th->crossings);
        }
    }
}

/* The terms governing [first, last]: the latest-starting row overlapping
 * it; NULL when none. */
static const cx_terms_t *governing(const cx_tenant_t *t, int32_t first, int32_t last)
{
    const cx_terms_t *best = NULL;
    for (size_t i = 0; i < t->n_terms; i++) {
        const cx_terms_t *x = &t->terms[i];
        if (x->from <= last && x->until >= first && (best == NULL || x->from > best->from))
            best = x;
    }
    return best;
}

static bool env_nonprod(const cx_tenant_t *t, const char *env)
{
    for (size_t i = 0; i < t->n_envs; i++)
        if (strcmp(t->envs[i].env, env) == 0)
            return t->envs[i].nonprod;
    return false;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b < 0)
        b = 0;
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* Drops what lies before the month preceding the newest rollup's. */
static void retain(cx_tenant_t *t)
{
    if (t->max_day == INT32_MIN)
        return;
    int32_t cutoff = month_first(month_first(t->max_day) - 1);
    size_t k = 0;
    for (size_t i = 0; i < t->n_api; i++)
        if (t->api[i].day >= cutoff)
            t->api[k++] = t->api[i];
        else {
            free(t->api[i].env);
            t->dirty = true;
        }
    t->n_api = k;
    k = 0;
    for (size_t i = 0; i < t->n_seats; i++) {
        /* A seat day counts for its whole contract's peak. */
        const cx_terms_t *g = governing(t, t->seats[i].day, t->seats[i].day);
        if (t->seats[i].day >= cutoff || (g != NULL && g->until >= cutoff))
            t->seats[k++] = t->seats[i];
        else
            t->dirty = true;
    }
    t->n_seats = k;
    k = 0;
    for (size_t i = 0; i < t->n_series; i++)
        if (t->series[i].last_day >= cutoff)
            t->series[k++] = t->series[i];
        else {
            free(t->series[i].env);
            t->dirty = true;
        }
    t->n_series = k;
}

static void evaluate(tally_crossing_t *c, cx_tenant_t *t, int64_t at, tally_alert_list_t *out)
{
    eval_t e = {c, t, t->has_rules ? &t->rules : &c->defaults, at, out};
    char period[11];
    retain(t);
    /* Monthly API calls, month by month (api is sorted by day). */
    for (size_t i = 0; i < t->n_api;) {
        int32_t first = month_first(t->api[i].day), last = month_last(t->api[i].day);
        size_t j = i;
        while (j < t->n_api && t->api[j].day <= last)
            j++;
        const cx_terms_t *g = governing(t, first, last);
        if (g != NULL) {
            int64_t sum = 0;
            for (size_t k = i; k < j; k++)
                if (t->api[k].day >= g->from && t->api[k].day <= g->until)
                    sum = sat_add(sum, t->api[k].calls);
            month_text(first, period);
            eval_series(&e, TALLY_ALERT_MONTHLY_API_CALLS, NULL, period, last, sum, g->monthly_max);
        }
        i = j;
    }
    /* Each non-production environment's days. */
    for (size_t i = 0; i < t->n_api; i++) {
        const cx_api_t *a = &t->api[i];
        const cx_terms_t *g = governing(t, a->day, a->day);
        if (g == NULL || !env_nonprod(t, a->env))
            continue;
        day_text(a->day, period);
        eval_series(&e, TALLY_ALERT_NONPROD_DAILY_API_CALLS, a->env, period, a->day, a->calls, g->nonprod_max);
    }
    /* Peak seats per contract. */
    for (size_t i = 0; i < t->n_terms; i++) {
        const cx_terms_t *g = &t->terms[i];
        int64_t peak = -1;
        for (size_t k = 0; k < t->n_seats; k++)
            if (t->seats[k].day >= g->from && t->seats[k].day <= g->until && t->seats[k].peak > peak)
                peak = t->seats[k].peak;
        if (peak < 0)
            continue;
        month_text(g->from, period);
        eval_series(&e, TALLY_ALERT_SEATS_PEAK, NULL, period, g->until, peak, g->seats_max);
    }
}

/* ---- inputs --------------------------------------------------------------- */

void tally_crossing_terms(tally_crossing_t *c, const char *tenant, int32_t valid_from, int32_t valid_until,
                          int64_t seats_max, int64_t monthly_max, int64_t nonprod_daily_max, int64_t set_at,
                          tally_alert_list_t *out)
{
    cx_tenant_t *t = cx_tenant(c, tenant, true);
    cx_terms_t x = {valid_from, valid_until, seats_max, monthly_max, nonprod_daily_max, set_at};
    size_t i = 0;
    for (; i < t->n_terms && t->terms[i].from <= valid_from; i++)
        if (t->terms[i].from == valid_from) {
            if (t->terms[i].set_at <= set_at)
                t->terms[i] = x;
            evaluate(c, t, set_at, out);
            return;
        }
    grow((void **)&t->terms, &t->cap_terms, t->n_terms + 1, sizeof *t->terms);
    memmove(&t->terms[i + 1], &t->terms[i], (t->n_terms - i) * sizeof *t->terms);
    t->terms[i] = x;
    t->n_terms++;
    evaluate(c, t, set_at, out);
}

void tally_crossing_rules(tally_crossing_t *c, const char *tenant, const tally_alert_rules_t *rules, int64_t at,
                          tally_alert_list_t *out)
{
    cx_tenant_t *t = cx_tenant(c, tenant, true);
    if (t->has_rules && at < t->rules_at)
        return;   /* older than the rules in force (read again) */
    t->rules = *rules;
    t->rules_at = at;
    t->has_rules = true;
    evaluate(c, t, at, out);
}

void tally_crossing_environment(tally_crossing_t *c, const char *tenant, const char *environment, bool nonprod,
                                int64_t at, tally_alert_list_t *out)
{
    cx_tenant_t *t = cx_tenant(c, tenant, true);
    size_t i = 0;
    for (; i < t->n_envs; i++)
        if (strcmp(t->envs[i].env, environment) == 0)
            break;
    if (i == t->n_envs) {
        grow((void **)&t->envs, &t->cap_envs, t->n_envs + 1, sizeof *t->envs);
        t->envs[t->n_envs++] = (cx_env_t){tally_xstrdup(environment), nonprod, at};
    } else if (at < t->envs[i].at) {
        return;   /* older than the kind in force (read again) */
    }
    t->envs[i].nonprod = nonprod;
    t->envs[i].at = at;
    evaluate(c, t, at, out);
}

/* A rollup of a day before the retained months changes nothing. */
static bool too_old(const cx_tenant_t *t, int32_t day)
{
    return t->max_day != INT32_MIN && day < month_first(month_first(t->max_day) - 1);
}

void tally_crossing_api_rollup(tally_crossing_t *c, const char *tenant, const char *environment, int32_t day,
                               int64_t api_calls, int64_t updated_at, tally_alert_list_t *out)
{
    cx_tenant_t *t = cx_tenant(c, tenant, true);
    if (too_old(t, day))
        return;
    if (cx_api_set(t, environment, day, api_calls < 0 ? 0 : api_calls))
        t->dirty = true;
    if (day > t->max_day) {
        t->max_day = day;
        t->dirty = true;
    }
    evaluate(c, t, updated_at, out);
}

void tally_crossing_seat_rollup(tally_crossing_t *c, const char *tenant, int32_t day, int64_t seats_peak,
                                int64_t updated_at, tally_alert_list_t *out)
{
    cx_tenant_t *t = cx_tenant(c, tenant, true);
    if (too_old(t, day))
        return;
    if (cx_seat_set(t, day, seats_peak < 0 ? 0 : seats_peak))
        t->dirty = true;
    if (day > t->max_day) {
        t->max_day = day;
        t->dirty = true;
    }
    evaluate(c, t, updated_at, out);
}

void tally_crossing_evaluate_all(tally_crossing_t *c, int64_t at, tally_alert_list_t *out)
{
    /* Bucket order is the hash order: fixed for a given set of tenants. */
    for (size_t b = 0; b < c->n_buckets; b++)
        for (cx_tenant_t *t = c->buckets[b]; t; t = t->next)
            evaluate(c, t, at, out);
}
