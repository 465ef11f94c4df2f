/*
 * seen.h: the (day, event, source, version, install) combinations this
 * process knows are already in product_daily_installs, because a batch of
 * its own that held them was committed. A batch leaves them out of its
 * distinct-install rows: they could only conflict. Whole keys are kept
 * (no fingerprints), so a hit is never a false one; when full the set is
 * simply emptied, which costs a few extra conflicts, never a count. An
 * empty key is never held.
 */
#ifndef TALLY_SEEN_H
#define TALLY_SEEN_H

#include <stddef.h>
#include <stdint.h>

typedef struct tally_seen_t tally_seen_t;

/* Returns an owned, empty set holding at most max_entries keys; aborts when
 * out of memory. */
tally_seen_t *tally_seen_new(size_t max_entries);

/* Frees; NULL is a no-op. */
void tally_seen_free(tally_seen_t *s);

/* Whether key[0..len) (hashed to hash) is in the set. NULL s: never. */
int tally_seen_contains(const tally_seen_t *s, const void *key, size_t len, uint64_t hash);

/* Adds key[0..len) (copied). */
void tally_seen_add(tally_seen_t *s, const void *key, size_t len, uint64_t hash);

/* Keys held. */
size_t tally_seen_count(const tally_seen_t *s);

#endif
