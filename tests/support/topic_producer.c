#include "topic_producer.h"

#include "fixtures.h"
#include "kafka.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    tally_test_producer_t *p = opaque;
    size_t i = (size_t)(uintptr_t)m->_private;
    if (m->err)
        p->failed++;
    else
        p->delivered++;
    if (p->where && i < p->capacity) {
        p->where[i].err = m->err;
        if (!m->err) {
            p->where[i].partition = m->partition;
            p->where[i].offset = m->offset;
        }
    }
}

void tally_test_producer_init(tally_test_producer_t *p, const char *client_id, size_t capacity)
{
    char err[512];
    memset(p, 0, sizeof *p);
    if (capacity) {
        p->where = calloc(capacity, sizeof *p->where);
        if (p->where == NULL) {
            fprintf(stderr, "tally tests: out of memory\n");
            abort();
        }
        p->capacity = capacity;
    }
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_PRODUCER, tally_test_brokers(), client_id, NULL, NULL,
                                                 err, sizeof err);
    cr_assert_not_null(conf, "%s", err);
    cr_assert_eq(rd_kafka_conf_set(conf, "queue.buffering.max.messages", "500000", err, sizeof err),
                 RD_KAFKA_CONF_OK, "%s", err);
    cr_assert_eq(rd_kafka_conf_set(conf, "linger.ms", "20", err, sizeof err), RD_KAFKA_CONF_OK, "%s", err);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = tally_kafka_new(TALLY_KAFKA_PRODUCER, conf, err, sizeof err);
    cr_assert_not_null(p->rk, "%s", err);
}

void tally_test_producer_send(tally_test_producer_t *p, const char *topic, int32_t partition, const void *key,
                              size_t key_len, const void *value, size_t len, size_t index)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY((void *)key, key_len),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE((void *)(uintptr_t)index), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        cr_assert_eq(err, RD_KAFKA_RESP_ERR__QUEUE_FULL, "produce: %s", rd_kafka_err2str(err));
        rd_kafka_poll(p->rk, 10);
    }
    rd_kafka_poll(p->rk, 0);
}

void tally_test_producer_close(tally_test_producer_t *p)
{
    rd_kafka_flush(p->rk, 60000);
    cr_assert_eq(rd_kafka_outq_len(p->rk), 0, "records not delivered");
    cr_assert_eq(p->failed, 0, "%zu records failed", p->failed);
    rd_kafka_destroy(p->rk);
    p->rk = NULL;
}
