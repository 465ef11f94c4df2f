/*
 * anon_kafka.h: what the anonymizer's broker suites share (header-only):
 * unique topics and a key file, spawning tally-anonymizer on them, a raw
 * producer that remembers where each record landed, waiting until the
 * group has committed every raw record, and reading a topic to its end
 * with headers.
 */
#ifndef TALLY_TEST_ANON_KAFKA_H
#define TALLY_TEST_ANON_KAFKA_H

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
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Unique topics (partitions each, the DLQ too) and a pseudonym key file. */
static inline void anon_env_create(anon_env_t *e, const char *prefix, int partitions)
{
    char p[96];
    snprintf(p, sizeof p, "%s.product.raw", prefix);
    tally_test_unique_name(p, e->product_raw, sizeof e->product_raw);
    snprintf(p, sizeof p, "%s.usage.raw", prefix);
    tally_test_unique_name(p, e->usage_raw, sizeof e->usage_raw);
    snprintf(p, sizeof p, "%s.product", prefix);
    tally_test_unique_name(p, e->product, sizeof e->product);
    snprintf(p, sizeof p, "%s.usage", prefix);
    tally_test_unique_name(p, e->usage, sizeof e->usage);
    snprintf(p, sizeof p, "%s.dlq", prefix);
    tally_test_unique_name(p, e->dlq, sizeof e->dlq);
    snprintf(p, sizeof p, "%s-group", prefix);
    tally_test_unique_name(p, e->group, sizeof e->group);
    const char *topics[] = {e->product_raw, e->usage_raw, e->product, e->usage, e->dlq};
    for (size_t i = 0; i < 5; i++)
        tally_test_topic_create(topics[i], partitions);
    snprintf(e->keyfile, sizeof e->keyfile, "/tmp/tally-test-anon-keys-%d-%s", (int)getpid(), e->group);
    FILE *f = fopen(e->keyfile, "w");
    cr_assert_not_null(f);
    fprintf(f, "# test key\n1 %s\n", ANON_TEST_KEY);
    fclose(f);
    chmod(e->keyfile, 0600);
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

typedef struct anon_where_t {
    int32_t partition;
    int64_t offset;
    int err;
} anon_where_t;

typedef struct anon_producer_t {
    rd_kafka_t *rk;
    anon_where_t *where;   /* by the index passed to anon_produce */
    size_t delivered, failed;
} anon_producer_t;

static inline void anon_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    anon_producer_t *p = opaque;
    size_t i = (size_t)(uintptr_t)m->_private;
    if (m->err) {
        p->failed++;
    } else {
        p->delivered++;
        if (p->where) {
            p->where[i].partition = m->partition;
            p->where[i].offset = m->offset;
        }
    }
    if (p->where)
        p->where[i].err = m->err;
}

static inline void anon_producer_init(anon_producer_t *p, size_t capacity)
{
    char err[512];
    memset(p, 0, sizeof *p);
    p->where = capacity ? calloc(capacity, sizeof *p->where) : NULL;
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_PRODUCER, tally_test_brokers(), "anon-test-raw", NULL,
                                                 NULL, err, sizeof err);
    cr_assert_not_null(conf, "%s", err);
    rd_kafka_conf_set(conf, "queue.buffering.max.messages", "500000", err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "20", err, sizeof err);
    rd_kafka_conf_set_dr_msg_cb(conf, anon_dr_cb);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = tally_kafka_new(TALLY_KAFKA_PRODUCER, conf, err, sizeof err);
    cr_assert_not_null(p->rk, "%s", err);
}

static inline void anon_produce(anon_producer_t *p, const char *topic, const void *key, size_t key_len,
                                const void *value, size_t len, size_t index)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, key_len),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE((void *)(uintptr_t)index), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        cr_assert_eq(err, RD_KAFKA_RESP_ERR__QUEUE_FULL, "produce: %s", rd_kafka_err2str(err));
        rd_kafka_poll(p->rk, 10);
    }
    rd_kafka_poll(p->rk, 0);
}

static inline void anon_producer_close(anon_producer_t *p)
{
    rd_kafka_flush(p->rk, 60000);
    cr_assert_eq(rd_kafka_outq_len(p->rk), 0, "raw records not delivered");
    cr_assert_eq(p->failed, 0, "%zu raw records failed", p->failed);
    rd_kafka_destroy(p->rk);
    p->rk = NULL;
}

/* ---- progress of the group ------------------------------------------------ */

/* Sum over the partitions of topics of (high watermark) and, when group is
 * not NULL, of the group's committed offsets. */
static inline void anon_offsets(const char *group, const char *const *topics, size_t n_topics, int64_t *end,
                                int64_t *committed)
{
    char err[512], tmpgroup[128];
    tally_test_unique_name("anon-offsets", tmpgroup, sizeof tmpgroup);
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_CONSUMER, tally_test_brokers(), "anon-test-offsets",
                                                 group ? group : tmpgroup, NULL, err, sizeof err);
    cr_assert_not_null(conf, "%s", err);
    rd_kafka_t *rk = tally_kafka_new(TALLY_KAFKA_CONSUMER, conf, err, sizeof err);
    cr_assert_not_null(rk, "%s", err);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(16);
    *end = 0;
    for (size_t t = 0; t < n_topics; t++) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topics[t], NULL);
        cr_assert_eq(rd_kafka_metadata(rk, 0, rkt, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_topic_destroy(rkt);
        for (int i = 0; i < md->topics[0].partition_cnt; i++) {
            int64_t lo, hi;
            cr_assert_eq(rd_kafka_query_watermark_offsets(rk, topics[t], i, &lo, &hi, 10000),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
            *end += hi;
            rd_kafka_topic_partition_list_add(parts, topics[t], i);
        }
        rd_kafka_metadata_destroy(md);
    }
    if (committed) {
        /* -1 while a transaction's offsets are pending (unstable). */
        *committed = -1;
        if (rd_kafka_committed(rk, parts, 3000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            *committed = 0;
            for (int i = 0; i < parts->cnt; i++)
                if (parts->elems[i].offset > 0)
                    *committed += parts->elems[i].offset;
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_destroy(rk);
}

/* Waits until the group committed every raw record; returns 0, or -1 after
 * timeout_ms. */
static inline int anon_wait_done(const anon_env_t *e, int timeout_ms)
{
    const char *raw[] = {e->product_raw, e->usage_raw};
    long long deadline = anon_now_ms() + timeout_ms;
    while (anon_now_ms() < deadline) {
        int64_t end, committed;
        anon_offsets(e->group, raw, 2, &end, &committed);
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
    anon_offsets(e->group, raw, 2, &end, &committed);
    return committed;
}

/* ---- reading a topic to its end ------------------------------------------ */

typedef struct anon_record_t {
    char *key, *value;
    size_t key_len, len;
    int value_null;
    int32_t partition;
    int64_t offset;
    char error[64], stage[32], src_topic[160];
    int32_t src_partition;
    int64_t src_offset;
    char *headers_text;     /* every header name=value, for the privacy scan */
    size_t headers_len;
} anon_record_t;

static inline char *anon_dup(const void *p, size_t n)
{
    char *d = malloc(n + 1);
    if (n)
        memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

static inline void anon_header(rd_kafka_headers_t *h, const char *name, char *out, size_t size)
{
    const void *v;
    size_t n;
    out[0] = '\0';
    if (h && rd_kafka_header_get_last(h, name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR)
        snprintf(out, size, "%.*s", (int)n, (const char *)v);
}

/* Reads every committed record of topic (no transaction may be open on it:
 * stop the writers first), until every partition reported its end. */
static inline size_t anon_read_all(const char *topic, anon_record_t **out)
{
    char err[512], group[128];
    tally_test_unique_name("anon-reader", group, sizeof group);
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_CONSUMER, tally_test_brokers(), "anon-test-reader",
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
    anon_record_t *recs = calloc(cap, sizeof *recs);
    long long deadline = anon_now_ms() + 120000;
    while (eofs < np) {
        cr_assert_lt(anon_now_ms(), deadline, "%s not read to its end within 120 s (%zu records)", topic, n);
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
            anon_record_t *r = &recs[n++];
            memset(r, 0, sizeof *r);
            r->key = anon_dup(m->key, m->key_len);
            r->key_len = m->key_len;
            r->value = anon_dup(m->payload, m->len);
            r->len = m->len;
            r->value_null = m->payload == NULL;
            r->partition = m->partition;
            r->offset = m->offset;
            rd_kafka_headers_t *h = NULL;
            if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h) {
                char num[32];
                anon_header(h, "error", r->error, sizeof r->error);
                anon_header(h, "stage", r->stage, sizeof r->stage);
                anon_header(h, "source.topic", r->src_topic, sizeof r->src_topic);
                anon_header(h, "source.partition", num, sizeof num);
                r->src_partition = (int32_t)atoi(num);
                anon_header(h, "source.offset", num, sizeof num);
                r->src_offset = atoll(num);
                size_t cnt = rd_kafka_header_cnt(h), used = 0;
                r->headers_text = calloc(1, 1);
                for (size_t k = 0; k < cnt; k++) {
                    const char *name;
                    const void *v;
                    size_t vl;
                    if (rd_kafka_header_get_all(h, k, &name, &v, &vl) != RD_KAFKA_RESP_ERR_NO_ERROR)
                        continue;
                    r->headers_text = realloc(r->headers_text, used + strlen(name) + vl + 3);
                    used += (size_t)sprintf(r->headers_text + used, "%s=%.*s\n", name, (int)vl, (const char *)v);
                }
                r->headers_len = used;
            }
        }
        rd_kafka_message_destroy(m);
    }
    free(eof);
    tally_kafka_consumer_close(rk);
    *out = recs;
    return n;
}

static inline void anon_records_free(anon_record_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].key);
        free(r[i].value);
        free(r[i].headers_text);
    }
    free(r);
}

#endif /* TALLY_TEST_ANON_KAFKA_H */
