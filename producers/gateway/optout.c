#include "optout.h"

#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define OPTOUT_LINE_MAX 4096

typedef struct {
    const char *s;             /* into the list's strings, set by list_finish */
    size_t off, len;
} optout_id_t;

/* Immutable once published; freed by whoever drops the last reference. */
typedef struct {
    atomic_uint refs;
    optout_id_t *ids;          /* sorted by (bytes, length), distinct */
    size_t count, cap;
    char *strings;
    size_t strings_len, strings_cap;
} optout_list_t;

struct tally_optout_t {
    char *path;
    pthread_mutex_t swap_lock;   /* guards current and taking a reference */
    optout_list_t *current;
    pthread_mutex_t reload_lock; /* serializes reloads */
    atomic_uint_fast64_t reloads_ok, reloads_failed;
};

static void *xrealloc(void *old, size_t n)
{
    void *p = realloc(old, n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "tally: out of memory (%zu bytes)\n", n);
        abort();
    }
    return p;
}

static void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL) {
        fprintf(stderr, "tally: out of memory (%zu x %zu bytes)\n", count, size);
        abort();
    }
    return p;
}

static void list_free(optout_list_t *l)
{
    if (l == NULL)
        return;
    free(l->ids);
    free(l->strings);
    free(l);
}

static void list_release(optout_list_t *l)
{
    if (l != NULL && atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) == 1)
        list_free(l);
}

/* Offsets only: the strings buffer moves while the list grows. */
static void list_append(optout_list_t *l, const char *s, size_t len)
{
    if (l->strings_len + len > l->strings_cap) {
        l->strings_cap = (l->strings_len + len) * 2 + 256;
        l->strings = xrealloc(l->strings, l->strings_cap);
    }
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->ids = xrealloc(l->ids, l->cap * sizeof *l->ids);
    }
    memcpy(l->strings + l->strings_len, s, len);
    l->ids[l->count].s = NULL;
    l->ids[l->count].off = l->strings_len;
    l->ids[l->count].len = len;
    l->count++;
    l->strings_len += len;
}

static int id_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static int qsort_cmp(const void *pa, const void *pb)
{
    const optout_id_t *a = pa, *b = pb;
    return id_cmp(a->s, a->len, b->s, b->len);
}

/* Turns offsets into pointers, sorts and drops repeats. */
static void list_finish(optout_list_t *l)
{
    for (size_t i = 0; i < l->count; i++)
        l->ids[i].s = l->strings + l->ids[i].off;
    if (l->count == 0)
        return;
    qsort(l->ids, l->count, sizeof *l->ids, qsort_cmp);
    size_t out = 1;
    for (size_t i = 1; i < l->count; i++)
        if (qsort_cmp(&l->ids[out - 1], &l->ids[i]) != 0)
            l->ids[out++] = l->ids[i];
    l->count = out;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool id_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f;
}

/* Reads path into l; on error names the line, never its content. */
static int load(const char *path, optout_list_t *l, char *errbuf, size_t errsize)
{
    int rc = -1;
    char *line = NULL;
    size_t line_cap = 0;
    long lineno = 0;
    ssize_t n;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(errbuf, errsize, "opt-out file %s: %s", path, strerror(errno));
        return -1;
    }
    while ((n = getline(&line, &line_cap, f)) >= 0) {
        lineno++;
        if ((size_t)n > OPTOUT_LINE_MAX) {
            snprintf(errbuf, errsize, "opt-out file %s line %ld: longer than %d bytes", path,
                     lineno, OPTOUT_LINE_MAX);
            goto cleanup;
        }
        if (memchr(line, '\0', (size_t)n) != NULL) {
            snprintf(errbuf, errsize, "opt-out file %s line %ld: contains a NUL byte", path,
                     lineno);
            goto cleanup;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        const char *p = line;
        while (is_blank(*p))
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        const char *id = p;
        while (*p != '\0' && !is_blank(*p)) {
            if (!id_char_ok((unsigned char)*p)) {
                snprintf(errbuf, errsize,
                         "opt-out file %s line %ld: a project id is printable ASCII without "
                         "spaces",
                         path, lineno);
                goto cleanup;
            }
            p++;
        }
        size_t len = (size_t)(p - id);
        if (len > TALLY_OPTOUT_ID_MAX) {
            snprintf(errbuf, errsize, "opt-out file %s line %ld: project id longer than %d bytes",
                     path, lineno, TALLY_OPTOUT_ID_MAX);
            goto cleanup;
        }
        while (is_blank(*p))
            p++;
        if (*p != '\0' && *p != '#') {
            snprintf(errbuf, errsize,
                     "opt-out file %s line %ld: expected one project id per line", path, lineno);
            goto cleanup;
        }
        list_append(l, id, len);
    }
    if (ferror(f)) {
        snprintf(errbuf, errsize, "opt-out file %s: read error after line %ld", path, lineno);
        goto cleanup;
    }
    list_finish(l);
    rc = 0;
cleanup:
    free(line);
    fclose(f);
    return rc;
}

static optout_list_t *list_acquire(tally_optout_t *o)
{
    pthread_mutex_lock(&o->swap_lock);
    optout_list_t *l = o->current;
    if (l != NULL)
        atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&o->swap_lock);
    return l;
}

/* Loads into a new list and swaps it in; reload_lock must be held. */
static int reload_locked(tally_optout_t *o, char *errbuf, size_t errsize)
{
    optout_list_t *l = xcalloc(1, sizeof *l);
    atomic_init(&l->refs, 1);
    if (load(o->path, l, errbuf, errsize) != 0) {
        list_free(l);
        atomic_fetch_add(&o->reloads_failed, 1);
        return -1;
    }
    pthread_mutex_lock(&o->swap_lock);
    optout_list_t *old = o->current;
    o->current = l;
    pthread_mutex_unlock(&o->swap_lock);
    list_release(old);
    atomic_fetch_add(&o->reloads_ok, 1);
    tally_log_info("gateway", "opt-out list %s: %zu project(s)", o->path, l->count);
    return 0;
}

tally_optout_t *tally_optout_new(const char *path, char *errbuf, size_t errsize)
{
    tally_optout_t *o = xcalloc(1, sizeof *o);
    size_t n = strlen(path) + 1;
    o->path = memcpy(xcalloc(1, n), path, n);
    pthread_mutex_init(&o->swap_lock, NULL);
    pthread_mutex_init(&o->reload_lock, NULL);
    atomic_init(&o->reloads_ok, 0);
    atomic_init(&o->reloads_failed, 0);
    /* No other thread knows o yet, but reload_locked expects the lock. */
    pthread_mutex_lock(&o->reload_lock);
    int rc = reload_locked(o, errbuf, errsize);
    pthread_mutex_unlock(&o->reload_lock);
    if (rc != 0) {
        tally_optout_free(o);
        return NULL;
    }
    return o;
}

void tally_optout_free(tally_optout_t *optout)
{
    if (optout == NULL)
        return;
    list_release(optout->current);
    pthread_mutex_destroy(&optout->reload_lock);
    pthread_mutex_destroy(&optout->swap_lock);
    free(optout->path);
    free(optout);
}

int tally_optout_reload(tally_optout_t *optout, char *errbuf, size_t errsize)
{
    char msg[1024];
    pthread_mutex_lock(&optout->reload_lock);
    int rc = reload_locked(optout, msg, sizeof msg);
    if (rc != 0) {
        /* current changes only under reload_lock, which we hold. */
        tally_log_warn("gateway", "opt-out list: reload failed, keeping the %zu project(s) "
                       "loaded before: %s", optout->current->count, msg);
        snprintf(errbuf, errsize, "%s", msg);
    }
    pthread_mutex_unlock(&optout->reload_lock);
    return rc;
}

bool tally_optout_contains_n(tally_optout_t *optout, const char *project_id, size_t len)
{
    if (project_id == NULL || len == 0 || len > TALLY_OPTOUT_ID_MAX)
        return false;
    optout_list_t *l = list_acquire(optout);
    bool found = false;
    size_t lo = 0, hi = l->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = id_cmp(project_id, len, l->ids[mid].s, l->ids[mid].len);
        if (c == 0) {
            found = true;
            break;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    list_release(l);
    return found;
}

bool tally_optout_contains(tally_optout_t *optout, const char *project_id)
{
    if (project_id == NULL)
        return false;
    return tally_optout_contains_n(optout, project_id,
                                   strnlen(project_id, TALLY_OPTOUT_ID_MAX + 1));
}

void tally_optout_stats(tally_optout_t *optout, tally_optout_stats_t *out)
{
    optout_list_t *l = list_acquire(optout);
    out->projects = l->count;
    list_release(l);
    out->reloads_ok = atomic_load(&optout->reloads_ok);
    out->reloads_failed = atomic_load(&optout->reloads_failed);
}
