/*
 * assignment.h: the partitions assigned to the materializer and, for each,
 * the next offset PostgreSQL holds for its group (stored; -1: none, the
 * partition is read from the beginning). The database, not Kafka, says
 * where a partition starts (materializer.h).
 *
 * A small array searched linearly: a consumer holds a few dozen partitions
 * at most. A pointer to a tally_part_t is valid until the next add, remove
 * or clear. Not thread-safe: the materializer's main thread (and its
 * rebalance callback, which runs on it) owns it.
 */
#ifndef TALLY_MATERIALIZER_ASSIGNMENT_H
#define TALLY_MATERIALIZER_ASSIGNMENT_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"

typedef struct tally_part_t {
    tally_topic_role_t role;
    int32_t partition;
    int64_t stored;   /* next_offset in PostgreSQL, -1: none */
} tally_part_t;

typedef struct tally_assignment_t {
    const char *const *topics;   /* borrowed: the topic of each role */
    tally_part_t *parts;         /* owned */
    size_t n, cap;
} tally_assignment_t;

/* An empty assignment of the topics (TALLY_ROLE_COUNT names by role,
 * borrowed: they must outlive it). */
void tally_assignment_init(tally_assignment_t *a, const char *const *topics);

/* Frees the array; the assignment is empty (and usable) after. */
void tally_assignment_free(tally_assignment_t *a);

/* The role of topic, or -1 when it is none of the assignment's topics. */
int tally_assignment_role_of(const tally_assignment_t *a, const char *topic);

/* The partition's state, or NULL when it is not assigned. */
tally_part_t *tally_assignment_find(tally_assignment_t *a, tally_topic_role_t role, int32_t partition);

/* Adds the partitions of l (borrowed) that are of the assignment's topics
 * and not in it yet, with no stored offset. */
void tally_assignment_add(tally_assignment_t *a, const rd_kafka_topic_partition_list_t *l);

/* Removes the partitions of l (borrowed). */
void tally_assignment_remove(tally_assignment_t *a, const rd_kafka_topic_partition_list_t *l);

/* Removes every partition. */
void tally_assignment_clear(tally_assignment_t *a);

/* The stored offsets move on to b's progress (borrowed): each partition
 * of b still assigned now starts after b's records. */
void tally_assignment_advance(tally_assignment_t *a, const tally_batch_t *b);

/* Sets the offset of each partition of l (borrowed, changed) to where it
 * starts: its stored offset, or the beginning when there is none or it is
 * not assigned. */
void tally_assignment_start_at_stored(const tally_assignment_t *a, rd_kafka_topic_partition_list_t *l);

/* A new list (owned by the caller) of every assigned partition at where
 * it starts, as tally_assignment_start_at_stored. */
rd_kafka_topic_partition_list_t *tally_assignment_list(const tally_assignment_t *a);

#endif /* TALLY_MATERIALIZER_ASSIGNMENT_H */
