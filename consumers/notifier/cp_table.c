/*
 * The Control Panel topic as a global table (cp_table.h).
 */
#include "cp_table.h"

#include "kafka.h"
#include "log.h"
#include "timeutil.h"
#include "xalloc.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPONENT "controlpanel"

struct tally_cp_table_t {
    rd_kafka_t *rk;
    char *topic;
    int partitions;
    bool *at_end;                    /* per partition, during a load */
};

static int configure(rd_kafka_conf_t *conf, const tally_config_t *cfg, char *errbuf, size_t errsize)
{
    char rderr[256];
    const char *settings[][2] = {
        {"isolation.level", "read_committed"},
        {"enable.partition.eof", "true"},
        {"enable.auto.commit", "false"},
        {"auto.offset.reset", "earliest"},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], rderr, sizeof rderr) != RD_KAFKA_CONF_OK) {
            snprintf(errbuf, errsize, "kafka config %s: %s", settings[i][0], rderr);
            return -1;
        }
    size_t n = cfg ? tally_config_kafka_count(cfg) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *key, *value;
        if (tally_config_kafka_get(cfg, i, &key, &value) != 0 || strncmp(key, "consumer.", 9) == 0 ||
            strncmp(key, "producer.", 9) == 0 || strncmp(key, "restore.", 8) == 0)
            continue;
        if (strncmp(key, "controlpanel.", 13) == 0)
            key += 13;
        if (rd_kafka_conf_set(conf, key, value, rderr, sizeof rderr) != RD_KAFKA_CONF_OK) {
            snprintf(errbuf, errsize, "-X %s: %s", key, rderr);
            return -1;
        }
    }
    return 0;
}

static int partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms, int *count, char *errbuf,
                           size_t errsize)
{
    long long deadline = tally_mono_ms() + timeout_ms;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    while (rkt != NULL) {
        const struct rd_kafka_metadata *md = NULL;
        err = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
            *count = err == RD_KAFKA_RESP_ERR_NO_ERROR ? md->topics[0].partition_cnt : 0;
            rd_kafka_metadata_destroy(md);
            if (*count > 0)
                break;
        }
        if (tally_mono_ms() >= deadline)
            break;
        tally_sleep_ms(100);
    }
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (rkt == NULL || *count <= 0) {
        snprintf(errbuf, errsize, "kafka: topic %.200s: no partitions within %d ms: %s", topic, timeout_ms,
                 rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

tally_cp_table_t *tally_cp_table_new(const char *brokers, const char *topic, const char *client_id,
                                     const tally_config_t *cfg, int timeout_ms, char *errbuf, size_t errsize)
{
    /* A group id is required by librdkafka's consumer; it is never joined. */
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_CONSUMER, brokers, client_id, client_id, NULL, errbuf,
                                                 errsize);
    if (conf == NULL)
        return NULL;
    if (configure(conf, cfg, errbuf, errsize) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    tally_cp_table_t *t = tally_xcalloc(1, sizeof *t);
    t->topic = tally_xstrdup(topic);
    if ((t->rk = tally_kafka_new(TALLY_KAFKA_CONSUMER, conf, errbuf, errsize)) == NULL ||
        partition_count(t->rk, topic, timeout_ms, &t->partitions, errbuf, errsize) != 0) {
        tally_cp_table_free(t);
        return NULL;
    }
    t->at_end = tally_xcalloc((size_t)t->partitions, sizeof *t->at_end);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(t->partitions);
    for (int p = 0; p < t->partitions; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(t->rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errbuf, errsize, "kafka: assign %.200s: %s", topic, rd_kafka_err2str(err));
        tally_cp_table_free(t);
        return NULL;
    }
    return t;
}

void tally_cp_table_free(tally_cp_table_t *t)
{
    if (t == NULL)
        return;
    if (t->rk)
        rd_kafka_destroy(t->rk);   /* never a group member: nothing to leave */
    free(t->at_end);
    free(t->topic);
    free(t);
}

/* One polled message: a record to fn, an end of partition noted. Returns
 * 1 for a record passed on. */
static int take(tally_cp_table_t *t, rd_kafka_message_t *m, tally_cp_table_fn fn, void *arg)
{
    int passed = 0;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (m->partition >= 0 && m->partition < t->partitions)
            t->at_end[m->partition] = true;
    } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        tally_log_warn(COMPONENT, "%s: %s", t->topic, rd_kafka_message_errstr(m));
    } else {
        fn(arg, m->payload, m->payload ? m->len : 0);
        passed = 1;
    }
    rd_kafka_message_destroy(m);
    return passed;
}

int tally_cp_table_load(tally_cp_table_t *t, tally_cp_table_fn fn, void *arg, int timeout_ms, char *errbuf,
                        size_t errsize)
{
    long long deadline = tally_mono_ms() + timeout_ms;
    size_t records = 0;
    for (;;) {
        int left = 0;
        for (int p = 0; p < t->partitions; p++)
            left += !t->at_end[p];
        if (left == 0)
            break;
        if (tally_mono_ms() >= deadline) {
            snprintf(errbuf, errsize, "%.200s: %d partition(s) not read to their end within %d ms", t->topic, left,
                     timeout_ms);
            return -1;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(t->rk, 100);
        if (m != NULL)
            records += (size_t)take(t, m, fn, arg);
    }
    tally_log_info(COMPONENT, "%s: %zu record(s) read", t->topic, records);
    return 0;
}

size_t tally_cp_table_poll(tally_cp_table_t *t, tally_cp_table_fn fn, void *arg)
{
    size_t n = 0;
    rd_kafka_message_t *m;
    while ((m = rd_kafka_consumer_poll(t->rk, 0)) != NULL)
        n += (size_t)take(t, m, fn, arg);
    return n;
}
