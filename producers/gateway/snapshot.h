/*
 * snapshot.h: one immutable table that readers on any thread use while a
 * writer replaces it.
 *
 * A table is a block from tally_snapshot_alloc carrying a reference count
 * and the destroy callback that frees what it points to. A reader takes a
 * reference with tally_snapshot_acquire and drops it with
 * tally_snapshot_release; a writer builds a new table away from the
 * readers and publishes it with tally_snapshot_replace, which swaps one
 * pointer. A reader keeps the table it acquired, never waits for a reload,
 * and the old table is destroyed by whoever drops its last reference.
 *
 * Published tables must not change. Writers are not serialized here: a
 * caller whose reloads must publish in the order they read holds its own
 * lock around load and replace. Every function is thread-safe.
 */
#ifndef TALLY_GATEWAY_SNAPSHOT_H
#define TALLY_GATEWAY_SNAPSHOT_H

#include <stddef.h>

/* Frees what a table points to, not the table's own block. */
typedef void (*tally_snapshot_destroy_fn)(void *table);

typedef struct tally_snapshot_t tally_snapshot_t;

/* Returns size zeroed bytes for a table, with one reference, owned by the
 * caller: publish it with tally_snapshot_replace or drop it with
 * tally_snapshot_release (which calls destroy, when not NULL, then frees
 * the block). Allocation failure aborts. */
void *tally_snapshot_alloc(size_t size, tally_snapshot_destroy_fn destroy)
    __attribute__((malloc, returns_nonnull));

/* Drops one reference to table (from tally_snapshot_alloc or _acquire);
 * the last one destroys it. NULL is a no-op. */
void tally_snapshot_release(const void *table);

/* Returns an owned holder with no table yet. Never NULL. */
tally_snapshot_t *tally_snapshot_new(void);

/* Drops the holder's reference to its table and frees the holder. NULL is
 * a no-op. No acquire or replace may be running or start afterwards;
 * readers may still hold tables. */
void tally_snapshot_free(tally_snapshot_t *snap);

/* A reference to the table published now (release it when done), or NULL
 * when none has been published. */
const void *tally_snapshot_acquire(tally_snapshot_t *snap);

/* Publishes table, taking the caller's reference, and drops the holder's
 * reference to the table it replaces. */
void tally_snapshot_replace(tally_snapshot_t *snap, void *table);

#endif /* TALLY_GATEWAY_SNAPSHOT_H */
