#include "assignment.h"

#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

void tally_assignment_init(tally_assignment_t *a, const char *const *topics)
{
    memset(a, 0, sizeof *a);
    a->topics = topics;
}

void tally_assignment_free(tally_assignment_t *a)
{
    free(a->parts);
    a->parts = NULL;
    a->n = a->cap = 0;
}

int tally_assignment_role_of(const tally_assignment_t *a, const char *topic)
{
    for (int r = 0; r < TALLY_ROLE_COUNT; r++)
        if (a->topics[r] != NULL && strcmp(a->topics[r], topic) == 0)
            return r;
    return -1;
}

tally_part_t *tally_assignment_find(tally_assignment_t *a, tally_topic_role_t role, int32_t partition)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->parts[i].role == role && a->parts[i].partition == partition)
            return &a->parts[i];
    return NULL;
}

void tally_assignment_add(tally_assignment_t *a, const rd_kafka_topic_partition_list_t *l)
{
    for (int i = 0; i < l->cnt; i++) {
        int role = tally_assignment_role_of(a, l->elems[i].topic);
        if (role < 0 || tally_assignment_find(a, (tally_topic_role_t)role, l->elems[i].partition))
            continue;
        if (a->n == a->cap) {
            a->cap = a->cap ? 2 * a->cap : 16;
            a->parts = tally_xrealloc(a->parts, a->cap, sizeof *a->parts);
        }
        a->parts[a->n++] = (tally_part_t){(tally_topic_role_t)role, l->elems[i].partition, -1};
    }
}

void tally_assignment_remove(tally_assignment_t *a, const rd_kafka_topic_partition_list_t *l)
{
    for (int i = 0; i < l->cnt; i++) {
        int role = tally_assignment_role_of(a, l->elems[i].topic);
        tally_part_t *p = role >= 0 ? tally_assignment_find(a, (tally_topic_role_t)role, l->elems[i].partition)
                                    : NULL;
        if (p)
            *p = a->parts[--a->n];
    }
}

void tally_assignment_clear(tally_assignment_t *a)
{
    a->n = 0;
}

void tally_assignment_advance(tally_assignment_t *a, const tally_batch_t *b)
{
    for (size_t i = 0; i < b->n_progress; i++) {
        tally_part_t *p = tally_assignment_find(a, b->progress[i].role, b->progress[i].partition);
        if (p)
            p->stored = b->progress[i].next;
    }
}

/* Where a partition starts: its stored offset, else the beginning. */
static int64_t start_of(const tally_part_t *p)
{
    return p && p->stored >= 0 ? p->stored : RD_KAFKA_OFFSET_BEGINNING;
}

void tally_assignment_start_at_stored(const tally_assignment_t *a, rd_kafka_topic_partition_list_t *l)
{
    for (int i = 0; i < l->cnt; i++) {
        int role = tally_assignment_role_of(a, l->elems[i].topic);
        const tally_part_t *p = role >= 0 ? tally_assignment_find((tally_assignment_t *)a, (tally_topic_role_t)role,
                                                                  l->elems[i].partition)
                                          : NULL;
        l->elems[i].offset = start_of(p);
    }
}

rd_kafka_topic_partition_list_t *tally_assignment_list(const tally_assignment_t *a)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)a->n + 1);
    for (size_t i = 0; i < a->n; i++) {
        const tally_part_t *p = &a->parts[i];
        rd_kafka_topic_partition_list_add(l, a->topics[p->role], p->partition)->offset = start_of(p);
    }
    return l;
}
