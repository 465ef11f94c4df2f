#include "metrics.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRIC_MAX_BUCKETS 16

struct tally_metric_t {
    tally_metric_kind_t kind;
    char *name;
    char *help;
    char *labels;
    _Atomic int64_t value;                 /* counter, gauge */
    size_t nbuckets;
    double bounds[METRIC_MAX_BUCKETS];
    _Atomic uint64_t counts[METRIC_MAX_BUCKETS + 1]; /* last: +Inf */
    _Atomic uint64_t sum_micros;           /* histogram sum, in millionths */
    struct tally_metric_t *next;
};

struct tally_metrics_t {
    pthread_mutex_t lock;
    tally_metric_t *head, *tail;
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL) {
        fputs("tally: out of memory\n", stderr);
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xcalloc(1, n), s, n);
}

tally_metrics_t *tally_metrics_new(void)
{
    tally_metrics_t *m = xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void tally_metrics_free(tally_metrics_t *m)
{
    if (m == NULL)
        return;
    for (tally_metric_t *s = m->head, *next; s; s = next) {
        next = s->next;
        free(s->name);
        free(s->help);
        free(s->labels);
        free(s);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

tally_metric_t *tally_metrics_get(tally_metrics_t *m, tally_metric_kind_t kind, const char *name,
                                  const char *help, const char *labels,
                                  const double *buckets, size_t nbuckets)
{
    pthread_mutex_lock(&m->lock);
    tally_metric_t *s;
    for (s = m->head; s; s = s->next)
        if (strcmp(s->name, name) == 0 && strcmp(s->labels, labels) == 0)
            goto done;
    s = xcalloc(1, sizeof *s);
    s->kind = kind;
    s->name = xstrdup(name);
    s->help = xstrdup(help ? help : "");
    s->labels = xstrdup(labels ? labels : "");
    if (kind == TALLY_METRIC_HISTOGRAM) {
        s->nbuckets = nbuckets > METRIC_MAX_BUCKETS ? METRIC_MAX_BUCKETS : nbuckets;
        memcpy(s->bounds, buckets, s->nbuckets * sizeof *buckets);
    }
    /* Keep series of one family together so HELP/TYPE are written once. */
    tally_metric_t *after = NULL;
    for (tally_metric_t *p = m->head; p; p = p->next)
        if (strcmp(p->name, name) == 0)
            after = p;
    if (after) {
        s->next = after->next;
        after->next = s;
        if (m->tail == after)
            m->tail = s;
    } else if (m->tail) {
        m->tail->next = s;
        m->tail = s;
    } else {
        m->head = m->tail = s;
    }
done:
    pthread_mutex_unlock(&m->lock);
    return s;
}

void tally_metric_add(tally_metric_t *s, uint64_t n)
{
    if (s == NULL)
        return;
    atomic_fetch_add_explicit(&s->value, (int64_t)n, memory_order_relaxed);
}

void tally_metric_set(tally_metric_t *s, int64_t v)
{
    if (s == NULL)
        return;
    atomic_store_explicit(&s->value, v, memory_order_relaxed);
}

void tally_metric_gauge_add(tally_metric_t *s, int64_t delta)
{
    if (s == NULL)
        return;
    atomic_fetch_add_explicit(&s->value, delta, memory_order_relaxed);
}

void tally_metric_observe(tally_metric_t *s, double v)
{
    if (s == NULL)
        return;
    size_t i = 0;
    while (i < s->nbuckets && v > s->bounds[i])
        i++;
    atomic_fetch_add_explicit(&s->counts[i], 1, memory_order_relaxed);
    if (v > 0)
        atomic_fetch_add_explicit(&s->sum_micros, (uint64_t)(v * 1e6), memory_order_relaxed);
}

int64_t tally_metric_value(const tally_metric_t *s)
{
    return atomic_load_explicit(&s->value, memory_order_relaxed);
}

typedef struct {
    char *buf;
    size_t len, cap;
} sbuf_t;

static void sb_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf_t *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)(n > 0 ? n : 0);
        b->buf = realloc(b->buf, b->cap);
        if (b->buf == NULL)
            abort();
    }
}

static const char *kind_name(tally_metric_kind_t k)
{
    return k == TALLY_METRIC_COUNTER ? "counter" : k == TALLY_METRIC_GAUGE ? "gauge" : "histogram";
}

char *tally_metrics_render(tally_metrics_t *m, size_t *len)
{
    sbuf_t b = {xcalloc(1, 4096), 0, 4096};
    pthread_mutex_lock(&m->lock);
    const char *family = NULL;
    for (tally_metric_t *s = m->head; s; s = s->next) {
        if (family == NULL || strcmp(family, s->name) != 0) {
            sb_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", s->name, s->help, s->name, kind_name(s->kind));
            family = s->name;
        }
        const char *sep = *s->labels ? "," : "";
        if (s->kind != TALLY_METRIC_HISTOGRAM) {
            sb_printf(&b, "%s%s%s%s %" PRId64 "\n", s->name, *s->labels ? "{" : "", s->labels,
                      *s->labels ? "}" : "", tally_metric_value(s));
            continue;
        }
        uint64_t cum = 0;
        for (size_t i = 0; i <= s->nbuckets; i++) {
            cum += atomic_load_explicit(&s->counts[i], memory_order_relaxed);
            if (i < s->nbuckets)
                sb_printf(&b, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", s->name, s->labels, sep,
                          s->bounds[i], cum);
            else
                sb_printf(&b, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", s->name, s->labels, sep, cum);
        }
        double sum = (double)atomic_load_explicit(&s->sum_micros, memory_order_relaxed) / 1e6;
        sb_printf(&b, "%s_sum%s%s%s %.6f\n", s->name, *s->labels ? "{" : "", s->labels,
                  *s->labels ? "}" : "", sum);
        sb_printf(&b, "%s_count%s%s%s %" PRIu64 "\n", s->name, *s->labels ? "{" : "", s->labels,
                  *s->labels ? "}" : "", cum);
    }
    pthread_mutex_unlock(&m->lock);
    *len = b.len;
    return b.buf;
}
