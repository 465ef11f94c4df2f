/* Unit tests of aggregator/state_table: the open-addressing index against
 * a plain array model under random inserts and removals, with hashes
 * crowded into a few clusters (and wrapping past the last slot) so that
 * the backward-shift removal is exercised hard, plus growth and the keyed
 * hash. */
#include "state_table.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

TestSuite(state_table);

typedef struct {
    uint64_t hash;
    int key;
} item_t;

static bool item_eq(const void *entry, const void *key)
{
    return ((const item_t *)entry)->key == *(const int *)key;
}

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void random_ops(uint64_t (*hash_of)(int), int keys, int ops, size_t expected)
{
    item_t *items = calloc((size_t)keys, sizeof *items);
    bool *present = calloc((size_t)keys, sizeof *present);
    tally_table_t t;
    uint64_t s = 88172645463325252u;
    size_t count = 0;

    cr_assert(items && present);
    tally_table_init(&t, expected);
    for (int k = 0; k < keys; k++)
        items[k] = (item_t){hash_of(k), k};
    for (int op = 0; op < ops; op++) {
        int k = (int)(next_rand(&s) % (uint64_t)keys);
        item_t *found = tally_table_find(&t, items[k].hash, item_eq, &k);
        cr_assert_eq(found != NULL, present[k], "op %d key %d", op, k);
        if (present[k]) {
            cr_assert_eq(found, &items[k]);
            cr_assert(tally_table_remove(&t, items[k].hash, &items[k]));
            cr_assert(!tally_table_remove(&t, items[k].hash, &items[k]));
            present[k] = false;
            count--;
        } else {
            tally_table_insert(&t, items[k].hash, &items[k]);
            present[k] = true;
            count++;
        }
        cr_assert_eq(t.count, count);
        if (op % 997 == 0) {
            for (int j = 0; j < keys; j++)
                cr_assert_eq(tally_table_find(&t, items[j].hash, item_eq, &j) != NULL, present[j],
                             "after op %d, key %d", op, j);
            size_t seen = 0;
            for (size_t i = 0; i < tally_table_capacity(&t); i++)
                seen += tally_table_at(&t, i) != NULL;
            cr_assert_eq(seen, count);
        }
    }
    cr_assert_leq(t.count * 10, tally_table_capacity(&t) * 7, "load stays under 70 %%");
    tally_table_destroy(&t);
    free(items);
    free(present);
}

static uint64_t spread(int k)
{
    unsigned char key[TALLY_TABLE_HASH_KEY_LEN] = {1, 2, 3};
    return tally_table_hash(key, &k, sizeof k);
}

/* Eight clusters, one of them at the very end of any power-of-two table
 * (all bits set) so probes wrap around to slot 0. */
static uint64_t crowded(int k)
{
    return (uint64_t)(k % 8) * UINT64_C(0x2000000000000001) + (k % 8 == 7 ? UINT64_MAX - 3 : 0);
}

Test(state_table, random_inserts_and_removals_with_spread_hashes)
{
    random_ops(spread, 5000, 200000, 0);
}

Test(state_table, random_inserts_and_removals_with_crowded_hashes)
{
    random_ops(crowded, 600, 60000, 0);
}

Test(state_table, presized_table_does_not_grow)
{
    tally_table_t t;
    static item_t items[7000];

    tally_table_init(&t, 7000);
    size_t cap = tally_table_capacity(&t);
    for (int k = 0; k < 7000; k++) {
        items[k] = (item_t){spread(k), k};
        tally_table_insert(&t, items[k].hash, &items[k]);
    }
    cr_assert_eq(tally_table_capacity(&t), cap);
    for (int k = 0; k < 7000; k++)
        cr_assert_eq(tally_table_find(&t, items[k].hash, item_eq, &k), &items[k]);
    int missing = 7000;
    cr_assert_null(tally_table_find(&t, spread(missing), item_eq, &missing));
    cr_assert_null(tally_table_at(&t, cap)); /* out of range */
    tally_table_destroy(&t);
}

Test(state_table, keyed_hash_depends_on_key_and_data)
{
    unsigned char k1[TALLY_TABLE_HASH_KEY_LEN] = {0}, k2[TALLY_TABLE_HASH_KEY_LEN] = {1};
    uint64_t a = tally_table_hash(k1, "tenant", 6);
    cr_assert_eq(a, tally_table_hash(k1, "tenant", 6));
    cr_assert_neq(a, tally_table_hash(k2, "tenant", 6));
    cr_assert_neq(a, tally_table_hash(k1, "tenanT", 6));
    cr_assert_neq(tally_table_mix(a, 1), tally_table_mix(a, 2));
}
