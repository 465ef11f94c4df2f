/*
 * anon_kafka.h: what the anonymizer's broker suites share (header-only):
 * unique topics and a key file, spawning tally-anonymizer on them, a raw
 * producer that remembers where each record landed, waiting until the
 * group has committed every raw record, and reading a topic to its end
 * with headers. The producer, offsets and reader are tests/support's
 * (topic_producer.h, topic_reader.h); the anon_ names wrap them.
 */
#ifndef TALLY_TEST_ANON_KAFKA_H
#define TALLY_TEST_ANON_KAFKA_H

#include "fixtures.h"
#include "http.h"
#include "kafka.h"
#include "subprocess.h"
#include "topic_producer.h"
#include "topic_reader.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ANON_TEST_KEY "5b1c6f0e9d2a4b3c8e7f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5"

typedef struct anon_env_t {
    char product_raw[128], usage_raw[128], product[128], usage[128], dlq[128];
    char group[128], keyfile[160];
} anon_env_t;

static inline long long anon_now_ms(void)
{
    return tally_test_mono_ms();
}

/* Unique topics (partitions each, the DLQ too) and a pseudonym key file. */
static inline void anon_env_create(anon_env_t *e, const char *prefix, int partitions)
{
    tally_test_unique_name2(prefix, ".product.raw", e->product_raw, sizeof e->product_raw);
    tally_test_unique_name2(prefix, ".usage.raw", e->usage_raw, sizeof e->usage_raw);
    tally_test_unique_name2(prefix, ".product", e->product, sizeof e->product);
    tally_test_unique_name2(prefix, ".usage", e->usage, sizeof e->usage);
    tally_test_unique_name2(prefix, ".dlq", e->dlq, sizeof e->dlq);
    tally_test_unique_name2(prefix, "-group", e->group, sizeof e->group);
    const char *topics[] = {e->product_raw, e->usage_raw, e->product, e->usage, e->dlq};
    for (size_t i = 0; i < 5; i++)
        tally_test_topic_create(topics[i], partitions);
    snprintf(e->keyfile, sizeof e->keyfile, "/tmp/tally-test-anon-keys-%d-%s", (int)getpid(), e->group);
    int fd = open(e->keyfile, O_WRONLY | O_CREAT | O_TRUNC, 0600); /* never looser: it is refused */
    cr_assert(fd >= 0, "%s", e->keyfile);
    dprintf(fd, "# test key\n1 %s\n", ANON_TEST_KEY);
    close(fd);
}

static inline void anon_env_destroy(anon_env_t *e)
{
    unlink(e->keyfile);
}

/* Every process anon_spawn started and anon_proc_free did not free yet: a
 * failed assertion leaves the test early, and a process left running would
 * keep the suite's output pipe open (ctest would wait for it). Suites call
 * anon_procs_cleanup from their .fini. */
static tally_test_proc_t *anon_procs[32];

static inline void anon_proc_free(tally_test_proc_t *p)
{
    for (size_t i = 0; i < 32; i++)
        if (anon_procs[i] == p)
            anon_procs[i] = NULL;
    tally_test_proc_free(p);
}

static inline void anon_procs_cleanup(void)
{
    for (size_t i = 0; i < 32; i++)
        if (anon_procs[i] != NULL) {
            tally_test_proc_free(anon_procs[i]);   /* SIGKILL, reap */
            anon_procs[i] = NULL;
        }
}

/* Starts tally-anonymizer on e's topics as instance, with up to 8 extra
 * arguments (NULL-terminated); waits until its admin port listens. Free
 * with anon_proc_free. */
static inline tally_test_proc_t *anon_spawn(const anon_env_t *e, const char *instance, const char *const *extra,
                                            char *line, size_t linesize)
{
    static char a[24][256];
    char *argv[32];
    int n = 0;
    snprintf(a[n++], sizeof a[0], "%s", tally_test_bin("tally-anonymizer"));
    snprintf(a[n++], sizeof a[0], "--brokers=%s", tally_test_brokers());
    snprintf(a[n++], sizeof a[0], "--group=%s", e->group);
    snprintf(a[n++], sizeof a[0], "--instance-id=%s", instance);
    snprintf(a[n++], sizeof a[0], "--key-file=%s", e->keyfile);
    snprintf(a[n++], sizeof a[0], "--schemas=%s", tally_test_source_path("schemas"));
    snprintf(a[n++], sizeof a[0], "--catalog=%s", tally_test_source_path("schemas/product-events.json"));
    snprintf(a[n++], sizeof a[0], "--product-raw-topic=%s", e->product_raw);
    snprintf(a[n++], sizeof a[0], "--usage-raw-topic=%s", e->usage_raw);
    snprintf(a[n++], sizeof a[0], "--product-topic=%s", e->product);
    snprintf(a[n++], sizeof a[0], "--usage-topic=%s", e->usage);
    snprintf(a[n++], sizeof a[0], "--dlq-topic=%s", e->dlq);
    snprintf(a[n++], sizeof a[0], "--admin-port=0");
    /* Transactional ids unique to this test's group: two test runs on one
     * broker must not fence each other's instances. */
    snprintf(a[n++], sizeof a[0], "--transactional-id-prefix=tally-anonymizer-%s", e->group);
    for (int i = 0; extra && extra[i] && n < 23; i++)
        snprintf(a[n++], sizeof a[0], "%s", extra[i]);
    for (int i = 0; i < n; i++)
        argv[i] = a[i];
    argv[n] = NULL;
    tally_test_proc_t *p = tally_test_spawn(argv, "admin listening on", 60000, line, linesize);
    for (size_t i = 0; i < 32; i++)
        if (anon_procs[i] == NULL) {
            anon_procs[i] = p;
            break;
        }
    return p;
}

/* The value of an unlabelled series in the /metrics of the process whose
 * admin port is port, or -1. */
static inline long long anon_metric(int port, const char *name)
{
    char url[96], want[160];
    long long v = -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 1);
    snprintf(want, sizeof want, "\n%s ", name);
    const char *at = r.body ? strstr(r.body, want) : NULL;
    if (at != NULL)
        v = atoll(at + strlen(want));
    tally_test_response_free(&r);
    return v;
}

/* Waits up to timeout_ms until the metric equals want; returns whether. */
static inline int anon_wait_metric(int port, const char *name, long long want, int timeout_ms)
{
    long long deadline = anon_now_ms() + timeout_ms;
    while (anon_metric(port, name) != want) {
        if (anon_now_ms() >= deadline)
            return 0;
        usleep(50000);
    }
    return 1;
}

/* ---- a raw producer that remembers where each record went --------------- */

typedef tally_test_producer_t anon_producer_t;

/* p->where gets capacity entries (0: none), filled by the delivery reports
 * by the index passed to anon_produce; the caller frees it. */
static inline void anon_producer_init(anon_producer_t *p, size_t capacity)
{
    tally_test_producer_init(p, "anon-test-raw", capacity);
}

static inline void anon_produce(anon_producer_t *p, const char *topic, const void *key, size_t key_len,
                                const void *value, size_t len, size_t index)
{
    tally_test_producer_send(p, topic, RD_KAFKA_PARTITION_UA, key, key_len, value, len, index);
}

static inline void anon_producer_close(anon_producer_t *p)
{
    tally_test_producer_close(p);
}

/* ---- progress of the group ------------------------------------------------ */

/* Waits until the group committed every raw record; returns 0, or -1 after
 * timeout_ms. */
static inline int anon_wait_done(const anon_env_t *e, int timeout_ms)
{
    const char *raw[] = {e->product_raw, e->usage_raw};
    long long deadline = anon_now_ms() + timeout_ms;
    while (anon_now_ms() < deadline) {
        int64_t end, committed;
        tally_test_topic_offsets(e->group, raw, 2, &end, &committed);
        if (committed == end)
            return 0;
        usleep(200 * 1000);
    }
    return -1;
}

static inline int64_t anon_committed(const anon_env_t *e)
{
    const char *raw[] = {e->product_raw, e->usage_raw};
    int64_t end, committed;
    tally_test_topic_offsets(e->group, raw, 2, &end, &committed);
    return committed;
}

/* ---- reading a topic to its end ------------------------------------------ */

typedef tally_test_record_t anon_record_t;

/* Every committed record of topic (no transaction may be open on it: stop
 * the writers first), read until every partition reported its end. */
static inline size_t anon_read_all(const char *topic, anon_record_t **out)
{
    return tally_test_topic_read_all(topic, 120000, out);
}

static inline void anon_records_free(anon_record_t *r, size_t n)
{
    tally_test_records_free(r, n);
}

#endif /* TALLY_TEST_ANON_KAFKA_H */
