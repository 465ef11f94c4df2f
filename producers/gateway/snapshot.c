#include "snapshot.h"

#include "xalloc.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Precedes every table in its block. */
typedef struct {
    atomic_uint refs;
    tally_snapshot_destroy_fn destroy;
} header_t;

/* The table starts here, aligned for any type. */
#define HEADER_SIZE \
    ((sizeof(header_t) + alignof(max_align_t) - 1) / alignof(max_align_t) * alignof(max_align_t))

struct tally_snapshot_t {
    pthread_mutex_t lock;      /* guards current and taking a reference */
    void *current;
};

static header_t *header_of(const void *table)
{
    return (header_t *)((uintptr_t)table - HEADER_SIZE);
}

void *tally_snapshot_alloc(size_t size, tally_snapshot_destroy_fn destroy)
{
    header_t *h = tally_xcalloc(1, HEADER_SIZE + size);
    atomic_init(&h->refs, 1);
    h->destroy = destroy;
    return (char *)h + HEADER_SIZE;
}

void tally_snapshot_release(const void *table)
{
    if (table == NULL)
        return;
    header_t *h = header_of(table);
    if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (h->destroy != NULL)
        h->destroy((char *)h + HEADER_SIZE);
    free(h);
}

tally_snapshot_t *tally_snapshot_new(void)
{
    tally_snapshot_t *snap = tally_xcalloc(1, sizeof *snap);
    pthread_mutex_init(&snap->lock, NULL);
    return snap;
}

void tally_snapshot_free(tally_snapshot_t *snap)
{
    if (snap == NULL)
        return;
    tally_snapshot_release(snap->current);
    pthread_mutex_destroy(&snap->lock);
    free(snap);
}

const void *tally_snapshot_acquire(tally_snapshot_t *snap)
{
    pthread_mutex_lock(&snap->lock);
    void *table = snap->current;
    /* Relaxed: the lock orders this after the publishing store. */
    if (table != NULL)
        atomic_fetch_add_explicit(&header_of(table)->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&snap->lock);
    return table;
}

void tally_snapshot_replace(tally_snapshot_t *snap, void *table)
{
    pthread_mutex_lock(&snap->lock);
    void *old = snap->current;
    snap->current = table;
    pthread_mutex_unlock(&snap->lock);
    /* Outside the lock: destroying a large table must not stall readers. */
    tally_snapshot_release(old);
}
