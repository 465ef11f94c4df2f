/* The materializer's assignment (consumers/materializer/assignment.h), no
 * broker or database: partitions of its topics only, each once; where a
 * partition starts (its stored offset, else the beginning); the stored
 * offsets move on with a written batch; removal and clearing. */
#include "assignment.h"

#include <criterion/criterion.h>

static const char *const topics[TALLY_ROLE_COUNT] = {"t.rollups", "t.product", "t.cp"};

static rd_kafka_topic_partition_list_t *list_of(const char *topic, int32_t from, int32_t to)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (int32_t p = from; p <= to; p++)
        rd_kafka_topic_partition_list_add(l, topic, p);
    return l;
}

Test(assignment, only_its_topics_each_partition_once)
{
    tally_assignment_t a;
    tally_assignment_init(&a, topics);
    cr_assert_eq(tally_assignment_role_of(&a, "t.product"), TALLY_ROLE_PRODUCT);
    cr_assert_eq(tally_assignment_role_of(&a, "t.other"), -1);
    rd_kafka_topic_partition_list_t *l = list_of("t.product", 0, 2);
    rd_kafka_topic_partition_list_add(l, "t.other", 0);
    rd_kafka_topic_partition_list_add(l, "t.product", 1);   /* twice */
    tally_assignment_add(&a, l);
    tally_assignment_add(&a, l);
    cr_assert_eq(a.n, 3);
    tally_part_t *p = tally_assignment_find(&a, TALLY_ROLE_PRODUCT, 2);
    cr_assert_not_null(p);
    cr_assert_eq(p->stored, -1, "a new partition has no stored offset");
    cr_assert_null(tally_assignment_find(&a, TALLY_ROLE_ROLLUPS, 2), "a partition is of one role");
    rd_kafka_topic_partition_list_destroy(l);
    tally_assignment_free(&a);
    cr_assert_eq(a.n, 0);
}

Test(assignment, a_partition_starts_at_its_stored_offset_else_the_beginning)
{
    tally_assignment_t a;
    tally_assignment_init(&a, topics);
    rd_kafka_topic_partition_list_t *l = list_of("t.rollups", 0, 1);
    tally_assignment_add(&a, l);
    tally_assignment_find(&a, TALLY_ROLE_ROLLUPS, 1)->stored = 42;
    rd_kafka_topic_partition_list_add(l, "t.rollups", 7);   /* not assigned */
    tally_assignment_start_at_stored(&a, l);
    cr_assert_eq(l->elems[0].offset, RD_KAFKA_OFFSET_BEGINNING);
    cr_assert_eq(l->elems[1].offset, 42);
    cr_assert_eq(l->elems[2].offset, RD_KAFKA_OFFSET_BEGINNING);
    rd_kafka_topic_partition_list_t *all = tally_assignment_list(&a);
    cr_assert_eq(all->cnt, 2);
    rd_kafka_topic_partition_t *e = rd_kafka_topic_partition_list_find(all, "t.rollups", 1);
    cr_assert_not_null(e);
    cr_assert_eq(e->offset, 42);
    cr_assert_eq(rd_kafka_topic_partition_list_find(all, "t.rollups", 0)->offset, RD_KAFKA_OFFSET_BEGINNING);
    rd_kafka_topic_partition_list_destroy(all);
    rd_kafka_topic_partition_list_destroy(l);
    tally_assignment_free(&a);
}

Test(assignment, a_written_batch_moves_the_stored_offsets_of_assigned_partitions)
{
    tally_assignment_t a;
    tally_assignment_init(&a, topics);
    rd_kafka_topic_partition_list_t *l = list_of("t.cp", 0, 0);
    tally_assignment_add(&a, l);
    tally_batch_t *b = tally_batch_new();
    tally_batch_track(b, TALLY_ROLE_CONTROLPANEL, 0, 9, -1, 10, 0);
    tally_batch_track(b, TALLY_ROLE_CONTROLPANEL, 3, 5, -1, 10, 0);   /* no longer assigned */
    tally_assignment_advance(&a, b);
    cr_assert_eq(tally_assignment_find(&a, TALLY_ROLE_CONTROLPANEL, 0)->stored, 10);
    cr_assert_null(tally_assignment_find(&a, TALLY_ROLE_CONTROLPANEL, 3), "advancing assigns nothing");
    tally_batch_free(b);
    rd_kafka_topic_partition_list_destroy(l);
    tally_assignment_free(&a);
}

Test(assignment, removal_and_clearing)
{
    tally_assignment_t a;
    tally_assignment_init(&a, topics);
    rd_kafka_topic_partition_list_t *l = list_of("t.product", 0, 3), *gone = list_of("t.product", 1, 2);
    tally_assignment_add(&a, l);
    tally_assignment_find(&a, TALLY_ROLE_PRODUCT, 3)->stored = 7;
    tally_assignment_remove(&a, gone);
    cr_assert_eq(a.n, 2);
    cr_assert_null(tally_assignment_find(&a, TALLY_ROLE_PRODUCT, 1));
    cr_assert_null(tally_assignment_find(&a, TALLY_ROLE_PRODUCT, 2));
    cr_assert_eq(tally_assignment_find(&a, TALLY_ROLE_PRODUCT, 3)->stored, 7, "the others keep their state");
    tally_assignment_remove(&a, gone);   /* again: nothing to remove */
    cr_assert_eq(a.n, 2);
    tally_assignment_clear(&a);
    cr_assert_eq(a.n, 0);
    cr_assert_null(tally_assignment_find(&a, TALLY_ROLE_PRODUCT, 0));
    rd_kafka_topic_partition_list_destroy(gone);
    rd_kafka_topic_partition_list_destroy(l);
    tally_assignment_free(&a);
}
