/*
 * agg_kafka.h: what the aggregator's broker suites share (header-only):
 * unique topics, spawning tally-aggregator on them, a producer of input
 * records, waiting until the group has committed every input record, and
 * reading a topic to its end.
 */
#ifndef TALLY_TEST_AGG_KAFKA_H
#define TALLY_TEST_AGG_KAFKA_H

#include "fixtures.h"
#include "http.h"
#include "kafka.h"
#include "process.h"

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
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Unique topics: input and changelog with `partitions`, the others 3. */
static inline void agg_env_create(agg_env_t *e, const char *prefix, int partitions)
{
    char p[96];
    snprintf(p, sizeof p, "%s.usage", prefix);
    tally_test_unique_name(p, e->usage, sizeof e->usage);
    snprintf(p, sizeof p, "%s.rollups", prefix);
    tally_test_unique_name(p, e->rollups, sizeof e->rollups);
    snprintf(p, sizeof p, "%s.changelog", prefix);
    tally_test_unique_name(p, e->changelog, sizeof e->changelog);
    snprintf(p, sizeof p, "%s.dlq", prefix);
    tally_test_unique_name(p, e->dlq, sizeof e->dlq);
    snprintf(p, sizeof p, "%s-group", prefix);
    tally_test_unique_name(p, e->group, sizeof e->group);
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

typedef struct agg_producer_t {
    rd_kafka_t *rk;
    size_t delivered, failed;
} agg_producer_t;

static inline void agg_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    agg_producer_t *p = opaque;
    if (m->err)
        p->failed++;
    else
        p->delivered++;
}

static inline void agg_producer_init(agg_producer_t *p)
{
    char err[512];
    memset(p, 0, sizeof *p);
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_PRODUCER, tally_test_brokers(), "agg-test-input", NULL,
                                                 NULL, err, sizeof err);
    cr_assert_not_null(conf, "%s", err);
    rd_kafka_conf_set(conf, "queue.buffering.max.messages", "500000", err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "20", err, sizeof err);
    rd_kafka_conf_set_dr_msg_cb(conf, agg_dr_cb);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = tally_kafka_new(TALLY_KAFKA_PRODUCER, conf, err, sizeof err);
    cr_assert_not_null(p->rk, "%s", err);
}

/* partition: RD_KAFKA_PARTITION_UA (by key) or a number. */
static inline void agg_produce(agg_producer_t *p, const char *topic, int32_t partition, const void *key,
                               size_t key_len, const void *value, size_t len)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY((void *)key, key_len),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        cr_assert_eq(err, RD_KAFKA_RESP_ERR__QUEUE_FULL, "produce: %s", rd_kafka_err2str(err));
        rd_kafka_poll(p->rk, 10);
    }
    rd_kafka_poll(p->rk, 0);
}

static inline void agg_producer_close(agg_producer_t *p)
{
    rd_kafka_flush(p->rk, 60000);
    cr_assert_eq(rd_kafka_outq_len(p->rk), 0, "input records not delivered");
    cr_assert_eq(p->failed, 0, "%zu input records failed", p->failed);
    rd_kafka_destroy(p->rk);
    p->rk = NULL;
}

/* ---- progress of the group ---------------------------------------------------- */

/* Sum over the partitions of topic of the high watermark and of the
 * group's committed offsets (-1 while a transaction's offsets are
 * pending). */
static inline void agg_offsets(const char *group, const char *topic, int64_t *end, int64_t *committed)
{
    char err[512];
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_CONSUMER, tally_test_brokers(), "agg-test-offsets",
                                                 group, NULL, err, sizeof err);
    cr_assert_not_null(conf, "%s", err);
    rd_kafka_t *rk = tally_kafka_new(TALLY_KAFKA_CONSUMER, conf, err, sizeof err);
    cr_assert_not_null(rk, "%s", err);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    cr_assert_eq(rd_kafka_metadata(rk, 0, rkt, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(16);
    *end = 0;
    for (int i = 0; i < md->topics[0].partition_cnt; i++) {
        int64_t lo, hi;
        cr_assert_eq(rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
        *end += hi;
        rd_kafka_topic_partition_list_add(parts, topic, i);
    }
    rd_kafka_metadata_destroy(md);
    *committed = -1;
    if (rd_kafka_committed(rk, parts, 3000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        *committed = 0;
        for (int i = 0; i < parts->cnt; i++)
            if (parts->elems[i].offset > 0)
                *committed += parts->elems[i].offset;
    }
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_destroy(rk);
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

typedef struct agg_record_t {
    char *key, *value;
    size_t key_len, len;
    int value_null;
    int32_t partition;
    int64_t offset;
    char error[64], stage[32];
} agg_record_t;

static inline char *agg_dup(const void *p, size_t n)
{
    char *d = malloc(n + 1);
    if (n)
        memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

static inline void agg_header(rd_kafka_headers_t *h, const char *name, char *out, size_t size)
{
    const void *v;
    size_t n;
    out[0] = '\0';
    if (h && rd_kafka_header_get_last(h, name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR)
        snprintf(out, size, "%.*s", (int)n, (const char *)v);
}

/* Reads every committed record of topic, in partition and offset order per
 * partition, until every partition reported its end (read_committed: an
 * open transaction ends the read early, so stop the writers first). */
static inline size_t agg_read_all(const char *topic, agg_record_t **out)
{
    char err[512], group[128];
    tally_test_unique_name("agg-reader", group, sizeof group);
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_CONSUMER, tally_test_brokers(), "agg-test-reader",
                                                 group, NULL, err, sizeof err);
    cr_assert_not_null(conf, "%s", err);
    cr_assert_eq(rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err), RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = tally_kafka_new(TALLY_KAFKA_CONSUMER, conf, err, sizeof err);
    cr_assert_not_null(rk, "%s", err);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    cr_assert_eq(rd_kafka_metadata(rk, 0, rkt, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_destroy(rkt);
    int np = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(np);
    for (int i = 0; i < np; i++)
        rd_kafka_topic_partition_list_add(parts, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    cr_assert_eq(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    int *eof = calloc((size_t)np, sizeof *eof), eofs = 0;
    size_t n = 0, cap = 1024;
    agg_record_t *recs = calloc(cap, sizeof *recs);
    long long deadline = agg_now_ms() + 120000;
    while (eofs < np) {
        cr_assert_lt(agg_now_ms(), deadline, "%s not read to its end within 120 s (%zu records)", topic, n);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (!eof[m->partition]++)
                eofs++;
        } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (n == cap) {
                cap *= 2;
                recs = realloc(recs, cap * sizeof *recs);
            }
            agg_record_t *r = &recs[n++];
            memset(r, 0, sizeof *r);
            r->key = agg_dup(m->key, m->key_len);
            r->key_len = m->key_len;
            r->value = agg_dup(m->payload, m->len);
            r->len = m->len;
            r->value_null = m->payload == NULL;
            r->partition = m->partition;
            r->offset = m->offset;
            rd_kafka_headers_t *h = NULL;
            if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h) {
                agg_header(h, "error", r->error, sizeof r->error);
                agg_header(h, "stage", r->stage, sizeof r->stage);
            }
        }
        rd_kafka_message_destroy(m);
    }
    free(eof);
    tally_kafka_consumer_close(rk);
    *out = recs;
    return n;
}

static inline void agg_records_free(agg_record_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].key);
        free(r[i].value);
    }
    free(r);
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
