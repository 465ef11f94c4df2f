/* Daily usage rows, interned ids, sorting and differences (see rows.h). */
#include "rows.h"

#include "timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tally_replay_rows_t {
    tally_replay_row_t *v;
    size_t n, cap;
    char **strs;            /* intern table: open addressing, NULL free */
    size_t strs_cap, strs_n;
};

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (p == NULL) {
        fputs("tally-replay: out of memory\n", stderr);
        abort();
    }
    return p;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

tally_replay_rows_t *tally_replay_rows_new(void)
{
    tally_replay_rows_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        abort();
    return s;
}

void tally_replay_rows_free(tally_replay_rows_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->strs_cap; i++)
        free(s->strs[i]);
    free(s->strs);
    free(s->v);
    free(s);
}

static void intern_grow(tally_replay_rows_t *s)
{
    size_t cap = s->strs_cap ? 2 * s->strs_cap : 256;
    char **t = calloc(cap, sizeof *t);
    if (t == NULL)
        abort();
    for (size_t i = 0; i < s->strs_cap; i++) {
        if (s->strs[i] == NULL)
            continue;
        size_t j = fnv1a(s->strs[i]) & (cap - 1);
        while (t[j] != NULL)
            j = (j + 1) & (cap - 1);
        t[j] = s->strs[i];
    }
    free(s->strs);
    s->strs = t;
    s->strs_cap = cap;
}

const char *tally_replay_rows_intern(tally_replay_rows_t *s, const char *str)
{
    if (str == NULL)
        str = "";
    if (2 * (s->strs_n + 1) > s->strs_cap)
        intern_grow(s);
    size_t j = fnv1a(str) & (s->strs_cap - 1);
    while (s->strs[j] != NULL) {
        if (strcmp(s->strs[j], str) == 0)
            return s->strs[j];
        j = (j + 1) & (s->strs_cap - 1);
    }
    s->strs[j] = strdup(str);
    if (s->strs[j] == NULL)
        abort();
    s->strs_n++;
    return s->strs[j];
}

tally_replay_row_t *tally_replay_rows_add(tally_replay_rows_t *s, const tally_replay_row_t *row)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    tally_replay_row_t *r = &s->v[s->n++];
    *r = *row;
    r->tenant = tally_replay_rows_intern(s, row->tenant);
    r->environment = tally_replay_rows_intern(s, row->table == TALLY_REPLAY_SEAT ? "" : row->environment);
    return r;
}

size_t tally_replay_rows_count(const tally_replay_rows_t *s)
{
    return s->n;
}

tally_replay_row_t *tally_replay_rows_at(tally_replay_rows_t *s, size_t i)
{
    return i < s->n ? &s->v[i] : NULL;
}

static int row_cmp(const tally_replay_row_t *a, const tally_replay_row_t *b)
{
    if (a->table != b->table)
        return a->table < b->table ? -1 : 1;
    int c = strcmp(a->tenant, b->tenant);
    if (c == 0)
        c = strcmp(a->environment, b->environment);
    if (c == 0 && a->day != b->day)
        c = a->day < b->day ? -1 : 1;
    return c;
}

static int row_qsort_cmp(const void *a, const void *b)
{
    return row_cmp(a, b);
}

void tally_replay_rows_sort(tally_replay_rows_t *s)
{
    if (s->n > 1)
        qsort(s->v, s->n, sizeof *s->v, row_qsort_cmp);
}

const char *const *tally_replay_columns(tally_replay_table_t table, int *count)
{
    static const char *const api[] = {"api_calls", "status_4xx", "status_5xx", "exec_ms"};
    static const char *const seat[] = {"seats_in_use", "seats_peak"};
    *count = table == TALLY_REPLAY_API ? 4 : 2;
    return table == TALLY_REPLAY_API ? api : seat;
}

const char *tally_replay_table_name(tally_replay_table_t table)
{
    return table == TALLY_REPLAY_API ? "api_usage_daily" : "seat_usage_daily";
}

void tally_replay_diffs_free(tally_replay_diffs_t *d)
{
    free(d->v);
    memset(d, 0, sizeof *d);
}

static void diff_add(tally_replay_diffs_t *d, tally_replay_diff_kind_t kind, const tally_replay_row_t *e,
                     const tally_replay_row_t *a, unsigned fields)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 64;
        d->v = xrealloc(d->v, d->cap * sizeof *d->v);
    }
    d->v[d->n++] = (tally_replay_diff_t){kind, e, a, fields};
}

static unsigned fields_differ(const tally_replay_row_t *e, const tally_replay_row_t *a)
{
    int n;
    unsigned f = 0;
    (void)tally_replay_columns(e->table, &n);
    for (int i = 0; i < n; i++)
        if (e->v[i] != a->v[i])
            f |= 1u << i;
    if (e->updated_at != a->updated_at)
        f |= TALLY_REPLAY_FIELD_UPDATED_AT;
    return f;
}

void tally_replay_rows_diff(tally_replay_rows_t *expected, tally_replay_rows_t *actual, tally_replay_diffs_t *out)
{
    size_t i = 0, j = 0;
    while (i < expected->n || j < actual->n) {
        const tally_replay_row_t *e = i < expected->n ? &expected->v[i] : NULL;
        const tally_replay_row_t *a = j < actual->n ? &actual->v[j] : NULL;
        int c = e == NULL ? 1 : (a == NULL ? -1 : row_cmp(e, a));
        if (c <= 0 && (e->flags & TALLY_REPLAY_UNVERIFIABLE)) {
            out->unverifiable++;
            i++;
            if (c == 0)
                j++;
            continue;
        }
        if (c < 0) {
            diff_add(out, TALLY_REPLAY_MISSING, e, NULL, 0);
            i++;
        } else if (c > 0) {
            diff_add(out, TALLY_REPLAY_UNEXPECTED, NULL, a, 0);
            j++;
        } else {
            unsigned f = fields_differ(e, a);
            if (f)
                diff_add(out, TALLY_REPLAY_DIFFERS, e, a, f);
            i++;
            j++;
        }
    }
}

void tally_replay_format_day(int32_t day, char *buf)
{
    if (tally_date_format(day, buf) != 0)
        snprintf(buf, TALLY_DATE_SIZE, "day %d", (int)day);
}

void tally_replay_format_time(int64_t ms, char *buf)
{
    if (ms == INT64_MIN || tally_rfc3339_format(ms, buf) != 0)
        snprintf(buf, TALLY_RFC3339_SIZE, "-");
}
