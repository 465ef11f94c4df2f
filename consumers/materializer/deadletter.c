#include "deadletter.h"

#include "kafka.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tally_deadletter_t {
    rd_kafka_t *rk;
    char *topic;
    /* Delivery reports of the current send (only touched on this thread:
     * reports are served by rd_kafka_flush/poll). */
    size_t delivered, failed;
    rd_kafka_resp_err_t first_err;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    tally_deadletter_t *d = opaque;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        d->delivered++;
    } else {
        if (d->failed++ == 0)
            d->first_err = m->err;
    }
}

tally_deadletter_t *tally_deadletter_new(const char *brokers, const char *topic, const char *client_id,
                                         const tally_config_t *cfg, char *errbuf, size_t errsize)
{
    tally_deadletter_t *d = calloc(1, sizeof *d);
    if (d == NULL)
        abort();
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_PRODUCER, brokers, client_id, NULL, NULL, errbuf,
                                                 errsize);
    if (conf == NULL)
        goto err;
    if (cfg != NULL && tally_config_apply_kafka(cfg, conf, errbuf, errsize) != 0) {
        rd_kafka_conf_destroy(conf);
        goto err;
    }
    rd_kafka_conf_set_opaque(conf, d);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    if ((d->rk = tally_kafka_new(TALLY_KAFKA_PRODUCER, conf, errbuf, errsize)) == NULL)
        goto err;
    d->topic = strdup(topic);
    if (d->topic == NULL)
        abort();
    return d;
err:
    free(d);
    return NULL;
}

void tally_deadletter_free(tally_deadletter_t *d)
{
    if (d == NULL)
        return;
    tally_kafka_producer_close(d->rk, 10000);
    free(d->topic);
    free(d);
}

int tally_deadletter_send(tally_deadletter_t *d, tally_batch_t *b, const char *const topics[TALLY_ROLE_COUNT],
                          int timeout_ms, char *errbuf, size_t errsize)
{
    size_t want = b->n_dlq - b->dlq_sent;
    if (want == 0)
        return 0;
    d->delivered = d->failed = 0;
    d->first_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (size_t i = b->dlq_sent; i < b->n_dlq; i++) {
        const tally_dlq_entry_t *e = &b->dlq[i];
        char partition[16], offset[24];
        snprintf(partition, sizeof partition, "%d", (int)e->partition);
        snprintf(offset, sizeof offset, "%lld", (long long)e->offset);
        const char *detail = tally_batch_str(b, e->detail);
        for (;;) {
            rd_kafka_resp_err_t err = rd_kafka_producev(
                /* The header names of every Tally dead letter (anonymizer,
                 * aggregator): one DLQ, one way to read it. */
                d->rk, RD_KAFKA_V_TOPIC(d->topic), RD_KAFKA_V_HEADER("error", e->error, -1),
                RD_KAFKA_V_HEADER("stage", "materialize", -1), RD_KAFKA_V_HEADER("detail", detail, -1),
                RD_KAFKA_V_HEADER("source.topic", topics[e->role], -1),
                RD_KAFKA_V_HEADER("source.partition", partition, -1),
                RD_KAFKA_V_HEADER("source.offset", offset, -1),
                RD_KAFKA_V_HEADER("process", "tally-materializer", -1), RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(d->rk, 100);
                continue;
            }
            if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                snprintf(errbuf, errsize, "dead-letter produce to %s: %s", d->topic, rd_kafka_err2str(err));
                rd_kafka_flush(d->rk, timeout_ms);
                return -1;
            }
            break;
        }
    }
    rd_kafka_flush(d->rk, timeout_ms);
    if (d->delivered != want || d->failed > 0) {
        /* Drop what is still queued so its late reports cannot be counted
         * in the next attempt, which sends everything again. */
        rd_kafka_purge(d->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(d->rk, 0);
        snprintf(errbuf, errsize, "dead-letter topic %s: %zu of %zu record(s) acknowledged: %s", d->topic,
                 d->delivered, want, d->failed ? rd_kafka_err2str(d->first_err) : "timed out");
        return -1;
    }
    b->dlq_sent = b->n_dlq;
    return 0;
}
