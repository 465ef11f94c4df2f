/* producers/gateway/snapshot: the refcounted table holder under keys and
 * opt-out: a reader keeps the table it acquired across a replace, the last
 * reference destroys a table exactly once, readers racing with replaces
 * always see a whole table. */
#include "snapshot.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    long version;
    long check;                /* -version, written with it */
    atomic_int *destroyed;     /* counts destroy calls */
} table_t;

static void table_destroy(void *p)
{
    table_t *t = p;
    atomic_fetch_add(t->destroyed, 1);
}

static table_t *table_new(long version, atomic_int *destroyed)
{
    table_t *t = tally_snapshot_alloc(sizeof *t, table_destroy);
    t->version = version;
    t->check = -version;
    t->destroyed = destroyed;
    return t;
}

Test(snapshot, empty_holder_has_no_table)
{
    tally_snapshot_t *s = tally_snapshot_new();
    cr_assert_null(tally_snapshot_acquire(s));
    tally_snapshot_release(NULL);
    tally_snapshot_free(s);
    tally_snapshot_free(NULL);
}

Test(snapshot, alloc_is_zeroed_and_aligned)
{
    unsigned char *p = tally_snapshot_alloc(100, NULL);
    cr_assert_eq((uintptr_t)p % alignof(max_align_t), 0);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(p[i], 0);
    tally_snapshot_release(p);
}

Test(snapshot, reader_keeps_its_table_across_a_replace)
{
    atomic_int destroyed = 0;
    tally_snapshot_t *s = tally_snapshot_new();
    tally_snapshot_replace(s, table_new(1, &destroyed));
    const table_t *old = tally_snapshot_acquire(s);
    cr_assert_eq(old->version, 1);

    tally_snapshot_replace(s, table_new(2, &destroyed));
    cr_assert_eq(atomic_load(&destroyed), 0, "destroyed while a reader held it");
    cr_assert_eq(old->version, 1);
    const table_t *now = tally_snapshot_acquire(s);
    cr_assert_eq(now->version, 2);

    tally_snapshot_release(old);
    cr_assert_eq(atomic_load(&destroyed), 1, "the last reference destroys the table");
    tally_snapshot_release(now);
    cr_assert_eq(atomic_load(&destroyed), 1, "the holder still references the table served");
    tally_snapshot_free(s);
    cr_assert_eq(atomic_load(&destroyed), 2);
}

Test(snapshot, unpublished_table_is_destroyed_on_release)
{
    atomic_int destroyed = 0;
    tally_snapshot_release(table_new(1, &destroyed));
    cr_assert_eq(atomic_load(&destroyed), 1);
}

typedef struct {
    tally_snapshot_t *s;
    atomic_bool *stop;
    long wrong, reads, last;
} reader_t;

static void *reader_main(void *arg)
{
    reader_t *r = arg;
    while (!atomic_load(r->stop)) {
        const table_t *t = tally_snapshot_acquire(r->s);
        r->wrong += t->check != -t->version || t->version < r->last;
        r->last = t->version;
        tally_snapshot_release(t);
        r->reads++;
    }
    return NULL;
}

Test(snapshot, readers_racing_with_replaces_see_whole_tables, .timeout = 60)
{
    enum { READERS = 8, VERSIONS = 20000 };
    atomic_int destroyed = 0;
    atomic_bool stop = false;
    tally_snapshot_t *s = tally_snapshot_new();
    tally_snapshot_replace(s, table_new(0, &destroyed));
    reader_t r[READERS];
    pthread_t th[READERS];
    for (int i = 0; i < READERS; i++) {
        r[i] = (reader_t){.s = s, .stop = &stop};
        cr_assert_eq(pthread_create(&th[i], NULL, reader_main, &r[i]), 0);
    }
    for (long v = 1; v <= VERSIONS; v++)
        tally_snapshot_replace(s, table_new(v, &destroyed));
    atomic_store(&stop, true);
    long wrong = 0, reads = 0;
    for (int i = 0; i < READERS; i++) {
        pthread_join(th[i], NULL);
        wrong += r[i].wrong;
        reads += r[i].reads;
    }
    cr_assert_eq(wrong, 0, "%ld wrong of %ld reads", wrong, reads);
    cr_assert_eq(atomic_load(&destroyed), VERSIONS, "every replaced table destroyed once");
    tally_snapshot_free(s);
    cr_assert_eq(atomic_load(&destroyed), VERSIONS + 1);
}
