/*
 * state_table.h: the open-addressing hash index under the aggregator's state.
 *
 * A table holds (hash, entry pointer) pairs; the entries live wherever the
 * caller allocated them and carry their own key, so one index serves
 * reporters, daily rollups and seats alike. Linear probing over a
 * power-of-two array of 16-byte slots, grown x2 past 70 % load (10 million
 * entries: 256 MiB of slots), removal by backward shift, so there are no
 * tombstones and a lookup never probes past its cluster. Hashes are keyed
 * SipHash-2-4 (libsodium), so clients who choose reporter ids or seat refs
 * cannot aim collisions at one slot. Not thread-safe: one table per owner.
 */
#ifndef TALLY_AGGREGATOR_STATE_TABLE_H
#define TALLY_AGGREGATOR_STATE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TALLY_TABLE_HASH_KEY_LEN 16

typedef struct tally_table_slot_t {
    uint64_t hash;
    void *entry; /* NULL: free slot */
} tally_table_slot_t;

typedef struct tally_table_t {
    tally_table_slot_t *slots; /* owned */
    size_t mask;               /* capacity - 1 */
    size_t count;
} tally_table_t;

/* Whether entry (borrowed) has the key the caller passed to find. */
typedef bool (*tally_table_eq_fn)(const void *entry, const void *key);

/* Makes t an empty table with room for `expected` entries before it grows
 * (at least 16 slots). Allocation failure aborts. */
void tally_table_init(tally_table_t *t, size_t expected);

/* Frees the slots (not the entries); t is then empty and may be reused
 * only after tally_table_init. */
void tally_table_destroy(tally_table_t *t);

/* The entry with this hash for which eq(entry, key) holds, or NULL. */
void *tally_table_find(const tally_table_t *t, uint64_t hash, tally_table_eq_fn eq,
                       const void *key);

/* Adds entry (borrowed: the table only points at it) under hash; the caller
 * made sure no equal entry is present. May grow the table (aborts if out of
 * memory). */
void tally_table_insert(tally_table_t *t, uint64_t hash, void *entry);

/* Removes this very entry (pointer identity) stored under hash. Returns
 * false if it is not there. */
bool tally_table_remove(tally_table_t *t, uint64_t hash, const void *entry);

/* Slot-order iteration, e.g. for a sweep that resumes where it stopped:
 * slots 0..capacity-1; the entry in a slot or NULL. Insertions and removals
 * move entries between slots, so a sweep across them may skip or revisit
 * some, which suits work that is repeated until done. */
size_t tally_table_capacity(const tally_table_t *t);
void *tally_table_at(const tally_table_t *t, size_t slot);

/* Keyed SipHash-2-4 of data[0..len) (borrowed). */
uint64_t tally_table_hash(const unsigned char key[TALLY_TABLE_HASH_KEY_LEN], const void *data,
                          size_t len);

/* Combines a hash with another 64-bit value (not keyed: feed it keyed
 * hashes). */
uint64_t tally_table_mix(uint64_t h, uint64_t v);

#endif /* TALLY_AGGREGATOR_STATE_TABLE_H */
