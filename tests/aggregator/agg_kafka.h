/*
 * agg_kafka.h: what the aggregator's broker suites share (header-only):
 * unique topics, spawning tally-aggregator on them, a producer of input
 * records, waiting until the group has committed every input record, and
 * reading a topic to its end. The producer, offsets and reader are
 * tests/support's (topic_producer.h, topic_reader.h); the agg_ names wrap
 * them.
 */
#ifndef TALLY_TEST_AGG_KAFKA_H
#define TALLY_TEST_AGG_KAFKA_H

#include "fixtures.h"
#include "http.h"
#include "kafka.h"
#include "subprocess.h"
#include "topic_producer.h"
#include "topic_reader.h"

#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct agg_env_t {
    char usage[128], rollups[128], changelog[128], dlq[128], group[128];
} agg_env_t;

static inline long long agg_now_ms(void)
{
    return tally_test_mono_ms();
}

/* Unique topics: input and changelog with `partitions`, the others 3. */
static inline void agg_env_create(agg_env_t *e, const char *prefix, int partitions)
{
    tally_test_unique_name2(prefix, ".usage", e->usage, sizeof e->usage);
    tally_test_unique_name2(prefix, ".rollups", e->rollups, sizeof e->rollups);
    tally_test_unique_name2(prefix, ".changelog", e->changelog, sizeof e->changelog);
    tally_test_unique_name2(prefix, ".dlq", e->dlq, sizeof e->dlq);
    tally_test_unique_name2(prefix, "-group", e->group, sizeof e->group);
    tally_test_topic_create(e->usage, partitions);
    tally_test_topic_create(e->changelog, partitions);
    tally_test_topic_create(e->rollups, partitions);
    tally_test_topic_create(e->dlq, 3);
}

/* Starts tally-aggregator on e's topics as instance, with extra arguments
 * (NULL-terminated, may be NULL); waits until its admin port listens. */
static inline tally_test_proc_t *agg_spawn(const agg_env_t *e, const char *instance, const char *const *extra,
                                           char *line, size_t linesize)
{
    char a[32][256];
    char *argv[33];
    int n = 0;
    snprintf(a[n++], sizeof a[0], "%s", tally_test_bin("tally-aggregator"));
    snprintf(a[n++], sizeof a[0], "--brokers=%s", tally_test_brokers());
    snprintf(a[n++], sizeof a[0], "--group=%s", e->group);
    snprintf(a[n++], sizeof a[0], "--instance-id=%s", instance);
    snprintf(a[n++], sizeof a[0], "--schemas=%s", tally_test_source_path("schemas"));
    snprintf(a[n++], sizeof a[0], "--usage-topic=%s", e->usage);
    snprintf(a[n++], sizeof a[0], "--rollups-topic=%s", e->rollups);
    snprintf(a[n++], sizeof a[0], "--changelog-topic=%s", e->changelog);
    snprintf(a[n++], sizeof a[0], "--dlq-topic=%s", e->dlq);
    snprintf(a[n++], sizeof a[0], "--admin-port=0");
    /* Transactional ids unique to this test's group: two test runs on one
     * broker must not fence each other's instances. */
    snprintf(a[n++], sizeof a[0], "--transactional-id-prefix=tally-aggregator-%s", e->group);
    for (int i = 0; extra && extra[i] && n < 32; i++)
        snprintf(a[n++], sizeof a[0], "%s", extra[i]);
    for (int i = 0; i < n; i++)
        argv[i] = a[i];
    argv[n] = NULL;
    return tally_test_spawn(argv, "admin listening on", 60000, line, linesize);
}

/* ---- a producer of input records ------------------------------------------- */

typedef tally_test_producer_t agg_producer_t;

static inline void agg_producer_init(agg_producer_t *p)
{
    tally_test_producer_init(p, "agg-test-input", 0);
}

/* partition: RD_KAFKA_PARTITION_UA (by key) or a number. */
static inline void agg_produce(agg_producer_t *p, const char *topic, int32_t partition, const void *key,
                               size_t key_len, const void *value, size_t len)
{
    tally_test_producer_send(p, topic, partition, key, key_len, value, len, 0);
}

static inline void agg_producer_close(agg_producer_t *p)
{
    tally_test_producer_close(p);
}

/* ---- progress of the group ---------------------------------------------------- */

/* Sum over the partitions of topic of the high watermark and of the
 * group's committed offsets (-1 while a transaction's offsets are
 * pending). */
static inline void agg_offsets(const char *group, const char *topic, int64_t *end, int64_t *committed)
{
    tally_test_topic_offsets(group, &topic, 1, end, committed);
}

static inline int64_t agg_committed(const agg_env_t *e)
{
    int64_t end, committed;
    agg_offsets(e->group, e->usage, &end, &committed);
    return committed;
}

/* Waits until the group committed every input record (of a topic no one
 * writes to any more); returns 0, or -1 after timeout_ms. */
static inline int agg_wait_done(const agg_env_t *e, int timeout_ms)
{
    long long deadline = agg_now_ms() + timeout_ms;
    while (agg_now_ms() < deadline) {
        int64_t end, committed;
        agg_offsets(e->group, e->usage, &end, &committed);
        if (committed == end)
            return 0;
        usleep(200 * 1000);
    }
    return -1;
}

/* ---- reading a topic to its end -------------------------------------------------- */

typedef tally_test_record_t agg_record_t;

/* Every committed record of topic, in offset order per partition, read
 * until each partition reported its end (read_committed: an open
 * transaction ends the read early, so stop the writers first). */
static inline size_t agg_read_all(const char *topic, agg_record_t **out)
{
    return tally_test_topic_read_all(topic, 120000, out);
}

static inline void agg_records_free(agg_record_t *r, size_t n)
{
    tally_test_records_free(r, n);
}

/* The value of a metric series (name{labels} exactly as rendered) on the
 * admin port of an instance, or -1 when it is not there. */
static inline long long agg_metric(int port, const char *series)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 0);
    cr_assert_eq(r.status, 200);
    long long v = -1;
    const char *p = r.body;
    size_t n = strlen(series);
    while ((p = strstr(p, series)) != NULL) {
        if ((p == r.body || p[-1] == '\n') && p[n] == ' ') {
            v = atoll(p + n + 1);
            break;
        }
        p += n;
    }
    tally_test_response_free(&r);
    return v;
}

#endif /* TALLY_TEST_AGG_KAFKA_H */
