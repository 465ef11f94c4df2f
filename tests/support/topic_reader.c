#include "topic_reader.h"

#include "fixtures.h"
#include "kafka.h"
#include "xalloc.h"

#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A NUL-terminated copy of p[0..n). */
static char *dup_bytes(const void *p, size_t n)
{
    char *d = tally_xrealloc(NULL, 1, n + 1);
    if (n)
        memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

/* A consumer of its own group (nothing committed), partition ends reported. */
static rd_kafka_t *reader_new(const char *client_id, const char *group_prefix)
{
    char err[512], group[128];
    tally_test_unique_name(group_prefix, group, sizeof group);
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_CONSUMER, tally_test_brokers(), client_id, group, NULL,
                                                 err, sizeof err);
    cr_assert_not_null(conf, "%s", err);
    cr_assert_eq(rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err), RD_KAFKA_CONF_OK, "%s",
                 err);
    cr_assert_eq(rd_kafka_conf_set(conf, "isolation.level", "read_committed", err, sizeof err), RD_KAFKA_CONF_OK,
                 "%s", err);
    rd_kafka_t *rk = tally_kafka_new(TALLY_KAFKA_CONSUMER, conf, err, sizeof err);
    cr_assert_not_null(rk, "%s", err);
    return rk;
}

static int partition_count(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    cr_assert_eq(err, RD_KAFKA_RESP_ERR_NO_ERROR, "metadata of %s: %s", topic, rd_kafka_err2str(err));
    cr_assert_eq(md->topic_cnt, 1);
    int n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return n;
}

/* The value of the last header name in h into out (size), "" when absent. */
static void header_into(rd_kafka_headers_t *h, const char *name, char *out, size_t size)
{
    const void *v;
    size_t n;
    out[0] = '\0';
    if (rd_kafka_header_get_last(h, name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR)
        snprintf(out, size, "%.*s", (int)n, v ? (const char *)v : "");
}

static void copy_headers(tally_test_record_t *r, rd_kafka_headers_t *h)
{
    size_t cnt = rd_kafka_header_cnt(h), used = 0;
    r->headers = tally_xrealloc(NULL, 1, cnt * sizeof *r->headers);
    for (size_t k = 0; k < cnt; k++) {
        const char *name;
        const void *v;
        size_t vl;
        if (rd_kafka_header_get_all(h, k, &name, &v, &vl) != RD_KAFKA_RESP_ERR_NO_ERROR)
            continue;
        tally_test_header_t *x = &r->headers[r->n_headers++];
        x->name = dup_bytes(name, strlen(name));
        x->value = dup_bytes(v, v ? vl : 0);
        x->len = v ? vl : 0;
        r->headers_text = tally_xrealloc(r->headers_text, 1, used + strlen(name) + x->len + 3);
        used += (size_t)sprintf(r->headers_text + used, "%s=%.*s\n", name, (int)x->len, x->value);
    }
    r->headers_len = used;
    char num[32];
    header_into(h, "error", r->error, sizeof r->error);
    header_into(h, "stage", r->stage, sizeof r->stage);
    header_into(h, "source.topic", r->src_topic, sizeof r->src_topic);
    header_into(h, "source.partition", num, sizeof num);
    r->src_partition = (int32_t)atoi(num);
    header_into(h, "source.offset", num, sizeof num);
    r->src_offset = atoll(num);
}

static void copy_record(tally_test_record_t *r, const rd_kafka_message_t *m)
{
    memset(r, 0, sizeof *r);
    r->key = dup_bytes(m->key, m->key_len);
    r->key_len = m->key_len;
    r->value = dup_bytes(m->payload, m->len);
    r->len = m->len;
    r->value_null = m->payload == NULL;
    r->partition = m->partition;
    r->offset = m->offset;
    r->headers_text = dup_bytes("", 0);
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h != NULL)
        copy_headers(r, h);
}

/* Reads topic as tally_test_topic_read says; *complete: whether it ended
 * before timeout_ms. */
static size_t read_topic(const char *topic, size_t want, int idle_ms, int timeout_ms, tally_test_record_t **out,
                         int *complete)
{
    rd_kafka_t *rk = reader_new("tally-test-reader", "tally-test-reader");
    int np = partition_count(rk, topic);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(np);
    for (int i = 0; i < np; i++)
        rd_kafka_topic_partition_list_add(parts, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    cr_assert_eq(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);

    /* A partition is at its end from its EOF event until a record of it
     * comes (then a new EOF follows). */
    char *at_end = tally_xrealloc(NULL, 1, (size_t)np);
    memset(at_end, 0, (size_t)np);
    int ends = 0;
    size_t n = 0, cap = 64;
    tally_test_record_t *recs = tally_xrealloc(NULL, 1, cap * sizeof *recs);
    /* Wall-clock bounds: a poll returns at once when records are waiting. */
    long long start = tally_test_mono_ms(), last = start;
    *complete = 0;
    for (;;) {
        long long now = tally_test_mono_ms();
        if (ends == np && n >= want && now - last >= idle_ms) {
            *complete = 1;
            break;
        }
        if (now - start >= timeout_ms)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL)
            continue;
        int p = m->partition;
        if (p < 0 || p >= np) {
            /* not one of ours */
        } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (!at_end[p]) {
                at_end[p] = 1;
                ends++;
            }
        } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (at_end[p]) {
                at_end[p] = 0;
                ends--;
            }
            if (n == cap) {
                cap *= 2;
                recs = tally_xrealloc(recs, 1, cap * sizeof *recs);
            }
            copy_record(&recs[n++], m);
            last = tally_test_mono_ms();
        }
        rd_kafka_message_destroy(m);
    }
    free(at_end);
    tally_kafka_consumer_close(rk);
    *out = recs;
    return n;
}

size_t tally_test_topic_read(const char *topic, size_t want, int idle_ms, int timeout_ms,
                             tally_test_record_t **out)
{
    int complete;
    return read_topic(topic, want, idle_ms, timeout_ms, out, &complete);
}

size_t tally_test_topic_read_all(const char *topic, int timeout_ms, tally_test_record_t **out)
{
    int complete;
    size_t n = read_topic(topic, 0, 0, timeout_ms, out, &complete);
    cr_assert(complete, "%s not read to its end within %d ms (%zu records)", topic, timeout_ms, n);
    return n;
}

void tally_test_records_free(tally_test_record_t *recs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(recs[i].key);
        free(recs[i].value);
        for (size_t k = 0; k < recs[i].n_headers; k++) {
            free(recs[i].headers[k].name);
            free(recs[i].headers[k].value);
        }
        free(recs[i].headers);
        free(recs[i].headers_text);
    }
    free(recs);
}

const char *tally_test_record_header(const tally_test_record_t *r, const char *name)
{
    for (size_t k = r->n_headers; k-- > 0;)
        if (strcmp(r->headers[k].name, name) == 0)
            return r->headers[k].value;
    return NULL;
}

void tally_test_topic_offsets(const char *group, const char *const *topics, size_t n_topics, int64_t *end,
                              int64_t *committed)
{
    char err[512], own[128];
    if (group == NULL) {
        tally_test_unique_name("tally-test-offsets", own, sizeof own);
        group = own;
    }
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_CONSUMER, tally_test_brokers(), "tally-test-offsets",
                                                 group, NULL, err, sizeof err);
    cr_assert_not_null(conf, "%s", err);
    rd_kafka_t *rk = tally_kafka_new(TALLY_KAFKA_CONSUMER, conf, err, sizeof err);
    cr_assert_not_null(rk, "%s", err);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(16);
    *end = 0;
    for (size_t t = 0; t < n_topics; t++) {
        int np = partition_count(rk, topics[t]);
        for (int i = 0; i < np; i++) {
            int64_t lo, hi;
            /* A broker just restarted (the chaos suite kills it) on a loaded
             * machine may take longer than one 10 s query to answer: retry
             * for a minute before calling it a failure. */
            rd_kafka_resp_err_t qerr;
            long long give_up = tally_test_mono_ms() + 60000;
            while ((qerr = rd_kafka_query_watermark_offsets(rk, topics[t], i, &lo, &hi, 10000)) !=
                       RD_KAFKA_RESP_ERR_NO_ERROR &&
                   tally_test_mono_ms() < give_up)
                usleep(500000);
            cr_assert_eq(qerr, RD_KAFKA_RESP_ERR_NO_ERROR, "end offsets of %s [%d] for a minute: %s", topics[t], i,
                         rd_kafka_err2name(qerr));
            *end += hi;
            rd_kafka_topic_partition_list_add(parts, topics[t], i);
        }
    }
    if (committed) {
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
