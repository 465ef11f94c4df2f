/* common/changelog_reader against the real broker: every record of the
 * partitions reaches the apply hook in offset order per partition, a
 * tombstone as a NULL value; a hook's failure stops the read with its
 * reason; an empty partition is read at once. (Waiting for open
 * transactions is covered through the aggregator's restore,
 * tests/aggregator/test_restore.c.) */
#include "changelog_reader.h"
#include "fixtures.h"
#include "topic_producer.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    char seen[2][16][32];
    size_t n[2];
    int fail_on;                    /* a value that makes the hook fail; -1: none */
} ctx_t;

static int apply(void *arg, size_t index, const void *key, size_t key_len, const void *value, size_t value_len,
                 char *why, size_t whysize)
{
    ctx_t *c = arg;
    cr_assert_lt(index, 2);
    cr_assert_lt(c->n[index], 16);
    snprintf(c->seen[index][c->n[index]++], 32, "%.*s=%.*s", (int)key_len, (const char *)key,
             value ? (int)value_len : 4, value ? (const char *)value : "null");
    if (value != NULL && value_len == 1 && *(const char *)value - '0' == c->fail_on) {
        snprintf(why, whysize, "value %d refused", c->fail_on);
        return -1;
    }
    return 0;
}

Test(changelog_reader, every_record_in_order_tombstones_as_null_and_a_hook_failure_stops_the_read, .timeout = 120)
{
    char topic[160], err[512];
    tally_test_unique_name("changelog-reader", topic, sizeof topic);
    tally_test_topic_create(topic, 3);
    tally_test_producer_t p;
    tally_test_producer_init(&p, "changelog-reader-test", 0);
    const char *vals[] = {"1", "2", "3"};
    for (int i = 0; i < 3; i++)
        tally_test_producer_send(&p, topic, 0, "k", 1, vals[i], 1, 0);
    tally_test_producer_send(&p, topic, 0, "k", 1, NULL, 0, 0);
    tally_test_producer_send(&p, topic, 2, "j", 1, "7", 1, 0);
    tally_test_producer_close(&p);

    tally_changelog_reader_opts_t o = {.brokers = tally_test_brokers(), .topic = topic, .client_id = "cl-test",
                                       .group_id = "cl-test"};
    tally_changelog_reader_t *r = tally_changelog_reader_new(&o, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    int count;
    cr_assert_eq(tally_changelog_reader_partition_count(r, topic, 10000, &count, err, sizeof err), 0, "%s", err);
    cr_assert_eq(count, 3);
    int32_t parts[2] = {0, 1};   /* partition 1 is empty */
    int64_t ends[2];
    cr_assert_eq(tally_changelog_reader_stable_ends(r, parts, 2, ends, 10000, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ends[0], 4);
    cr_assert_eq(ends[1], 0);
    ctx_t c = {.fail_on = -1};
    uint64_t records = 0;
    cr_assert_eq(tally_changelog_reader_read(r, parts, 2, ends, apply, &c, 10000, &records, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(records, 4);
    cr_assert_eq(c.n[0], 4);
    cr_assert_eq(c.n[1], 0);
    cr_assert_str_eq(c.seen[0][0], "k=1");
    cr_assert_str_eq(c.seen[0][2], "k=3");
    cr_assert_str_eq(c.seen[0][3], "k=null");

    /* Partition 2 read as index 1; the hook refuses "7". */
    parts[1] = 2;
    cr_assert_eq(tally_changelog_reader_stable_ends(r, parts, 2, ends, 10000, err, sizeof err), 0, "%s", err);
    memset(&c, 0, sizeof c);
    c.fail_on = 7;
    err[0] = '\0';
    cr_assert_eq(tally_changelog_reader_read(r, parts, 2, ends, apply, &c, 10000, &records, err, sizeof err), -1);
    cr_assert(strstr(err, "value 7 refused") != NULL && strstr(err, topic) != NULL, "%s", err);
    tally_changelog_reader_free(r);
}
