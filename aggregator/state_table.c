#include "state_table.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_MIN_SLOTS 16

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL) {
        fprintf(stderr, "state_table: out of memory (%zu x %zu bytes)\n", n, size);
        abort();
    }
    return p;
}

/* Slots needed so that `entries` stay under 70 % load. */
static size_t slots_for(size_t entries)
{
    size_t n = TABLE_MIN_SLOTS;
    while (n / 10 * 7 < entries) {
        if (n > SIZE_MAX / 4 / sizeof(tally_table_slot_t)) {
            fprintf(stderr, "state_table: %zu entries is too many\n", entries);
            abort();
        }
        n *= 2;
    }
    return n;
}

void tally_table_init(tally_table_t *t, size_t expected)
{
    size_t n = slots_for(expected);
    t->slots = xcalloc(n, sizeof *t->slots);
    t->mask = n - 1;
    t->count = 0;
}

void tally_table_destroy(tally_table_t *t)
{
    free(t->slots);
    t->slots = NULL;
    t->mask = 0;
    t->count = 0;
}

static void place(tally_table_slot_t *slots, size_t mask, uint64_t hash, void *entry)
{
    size_t i = (size_t)hash & mask;
    while (slots[i].entry != NULL)
        i = (i + 1) & mask;
    slots[i].hash = hash;
    slots[i].entry = entry;
}

static void grow(tally_table_t *t)
{
    size_t old_n = t->mask + 1, n = old_n * 2;
    tally_table_slot_t *old = t->slots, *slots = xcalloc(n, sizeof *slots);

    for (size_t i = 0; i < old_n; i++)
        if (old[i].entry != NULL)
            place(slots, n - 1, old[i].hash, old[i].entry);
    free(old);
    t->slots = slots;
    t->mask = n - 1;
}

void *tally_table_find(const tally_table_t *t, uint64_t hash, tally_table_eq_fn eq,
                       const void *key)
{
    for (size_t i = (size_t)hash & t->mask;; i = (i + 1) & t->mask) {
        const tally_table_slot_t *s = &t->slots[i];
        if (s->entry == NULL)
            return NULL;
        if (s->hash == hash && eq(s->entry, key))
            return s->entry;
    }
}

void tally_table_insert(tally_table_t *t, uint64_t hash, void *entry)
{
    if ((t->count + 1) > (t->mask + 1) / 10 * 7)
        grow(t);
    place(t->slots, t->mask, hash, entry);
    t->count++;
}

bool tally_table_remove(tally_table_t *t, uint64_t hash, const void *entry)
{
    size_t i = (size_t)hash & t->mask;

    for (;; i = (i + 1) & t->mask) {
        if (t->slots[i].entry == NULL)
            return false;
        if (t->slots[i].entry == entry)
            break;
    }
    /* Backward shift: pull later members of the cluster into the hole
     * unless their home slot lies cyclically in (hole, j]. */
    for (size_t hole = i, j = i;;) {
        j = (j + 1) & t->mask;
        if (t->slots[j].entry == NULL) {
            t->slots[hole].entry = NULL;
            t->slots[hole].hash = 0;
            break;
        }
        size_t home = (size_t)t->slots[j].hash & t->mask;
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    t->count--;
    return true;
}

size_t tally_table_capacity(const tally_table_t *t)
{
    return t->mask + 1;
}

void *tally_table_at(const tally_table_t *t, size_t slot)
{
    return slot <= t->mask ? t->slots[slot].entry : NULL;
}

uint64_t tally_table_hash(const unsigned char key[TALLY_TABLE_HASH_KEY_LEN], const void *data,
                          size_t len)
{
    unsigned char out[crypto_shorthash_siphash24_BYTES];
    uint64_t h;

    crypto_shorthash_siphash24(out, data, len, key);
    memcpy(&h, out, sizeof h);
    return h;
}

uint64_t tally_table_mix(uint64_t h, uint64_t v)
{
    /* murmur3's 64-bit finalizer over the pair. */
    uint64_t x = h ^ (v + UINT64_C(0x9e3779b97f4a7c15) + (h << 6) + (h >> 2));
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return x;
}
