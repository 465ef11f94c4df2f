#include "optout.h"

#include "linefile.h"
#include "log.h"
#include "snapshot.h"
#include "xalloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPTOUT_LINE_MAX 4096

typedef struct {
    const char *s;             /* into the list's strings, set by list_finish */
    size_t off, len;
} optout_id_t;

/* A tally_snapshot_alloc block: immutable once published. */
typedef struct {
    optout_id_t *ids;          /* sorted by (bytes, length), distinct */
    size_t count, cap;
    char *strings;
    size_t strings_len, strings_cap;
} optout_list_t;

struct tally_optout_t {
    char *path;
    tally_snapshot_t *lists;     /* the optout_list_t served now */
    pthread_mutex_t reload_lock; /* serializes reloads */
    atomic_uint_fast64_t reloads_ok, reloads_failed;
};

/* The snapshot's destroy callback. */
static void list_destroy(void *list)
{
    optout_list_t *l = list;
    free(l->ids);
    free(l->strings);
}

/* Offsets only: the strings buffer moves while the list grows. */
static void list_append(optout_list_t *l, const char *s, size_t len)
{
    if (l->strings_len + len > l->strings_cap) {
        l->strings_cap = (l->strings_len + len) * 2 + 256;
        l->strings = tally_xrealloc(l->strings, l->strings_cap, 1);
    }
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->ids = tally_xrealloc(l->ids, l->cap, sizeof *l->ids);
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

/* A tally_linefile_fn: one project id, maybe followed by a comment. */
static int load_line(void *cls, char *line, size_t len, long lineno, char *errbuf,
                     size_t errsize)
{
    optout_list_t *l = cls;
    const char *p = line;
    while (is_blank(*p))
        p++;
    if (*p == '\0' || *p == '#')
        return 0;
    const char *id = p;
    while (*p != '\0' && !is_blank(*p)) {
        if (!id_char_ok((unsigned char)*p)) {
            snprintf(errbuf, errsize, "a project id is printable ASCII without spaces");
            return -1;
        }
        p++;
    }
    size_t id_len = (size_t)(p - id);
    if (id_len > TALLY_OPTOUT_ID_MAX) {
        snprintf(errbuf, errsize, "project id longer than %d bytes", TALLY_OPTOUT_ID_MAX);
        return -1;
    }
    while (is_blank(*p))
        p++;
    if (*p != '\0' && *p != '#') {
        snprintf(errbuf, errsize, "expected one project id per line");
        return -1;
    }
    list_append(l, id, id_len);
    return 0;
}

/* Loads into a new list and swaps it in; reload_lock must be held. */
static int reload_locked(tally_optout_t *o, char *errbuf, size_t errsize)
{
    optout_list_t *l = tally_snapshot_alloc(sizeof *l, list_destroy);
    if (tally_linefile_read(o->path, "opt-out", OPTOUT_LINE_MAX, load_line, l, errbuf,
                            errsize) != 0) {
        tally_snapshot_release(l);
        atomic_fetch_add(&o->reloads_failed, 1);
        return -1;
    }
    list_finish(l);
    tally_log_info("gateway", "opt-out list %s: %zu project(s)", o->path, l->count);
    tally_snapshot_replace(o->lists, l);
    atomic_fetch_add(&o->reloads_ok, 1);
    return 0;
}

tally_optout_t *tally_optout_new(const char *path, char *errbuf, size_t errsize)
{
    tally_optout_t *o = tally_xcalloc(1, sizeof *o);
    o->path = tally_xstrdup(path);
    o->lists = tally_snapshot_new();
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
    tally_snapshot_free(optout->lists);
    pthread_mutex_destroy(&optout->reload_lock);
    free(optout->path);
    free(optout);
}

int tally_optout_reload(tally_optout_t *optout, char *errbuf, size_t errsize)
{
    char msg[1024];
    pthread_mutex_lock(&optout->reload_lock);
    int rc = reload_locked(optout, msg, sizeof msg);
    if (rc != 0) {
        /* tally_optout_new loaded a list, so there is one. */
        const optout_list_t *served = tally_snapshot_acquire(optout->lists);
        tally_log_warn("gateway", "opt-out list: reload failed, keeping the %zu project(s) "
                       "loaded before: %s", served->count, msg);
        tally_snapshot_release(served);
        snprintf(errbuf, errsize, "%s", msg);
    }
    pthread_mutex_unlock(&optout->reload_lock);
    return rc;
}

bool tally_optout_contains_n(tally_optout_t *optout, const char *project_id, size_t len)
{
    if (project_id == NULL || len == 0 || len > TALLY_OPTOUT_ID_MAX)
        return false;
    const optout_list_t *l = tally_snapshot_acquire(optout->lists);
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
    tally_snapshot_release(l);
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
    const optout_list_t *l = tally_snapshot_acquire(optout->lists);
    out->projects = l->count;
    tally_snapshot_release(l);
    out->reloads_ok = atomic_load(&optout->reloads_ok);
    out->reloads_failed = atomic_load(&optout->reloads_failed);
}
