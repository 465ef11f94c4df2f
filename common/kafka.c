#include "kafka.h"

#include "log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                    char *errbuf, size_t errsize)
{
    char rderr[256];
    if (rd_kafka_conf_set(conf, key, value, rderr, sizeof rderr) != RD_KAFKA_CONF_OK) {
        snprintf(errbuf, errsize, "kafka config %s: %s", key, rderr);
        return -1;
    }
    return 0;
}

rd_kafka_conf_t *tally_kafka_conf_new(tally_kafka_role_t role, const char *brokers,
                                      const char *client_id, const char *group_id,
                                      const char *transactional_id,
                                      char *errbuf, size_t errsize)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    struct { const char *key, *value; } common[] = {
        {"bootstrap.servers", brokers},
        {"client.id", client_id ? client_id : "tally"},
        /* Fail fast on a wrong address rather than retrying DNS for minutes. */
        {"socket.connection.setup.timeout.ms", "10000"},
        {"log.connection.close", "false"},
    };
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
        if (conf_set(conf, common[i].key, common[i].value, errbuf, errsize) != 0)
            goto err;
    rd_kafka_conf_set_log_cb(conf, tally_log_rdkafka_cb);

    switch (role) {
    case TALLY_KAFKA_TRANSACTIONAL:
        if (transactional_id == NULL || !*transactional_id) {
            snprintf(errbuf, errsize, "kafka: a transactional producer needs a transactional.id");
            goto err;
        }
        /* librdkafka 2.10+ drops a broker missing from a metadata answer
         * (a killed one) and, while it is the cached group coordinator,
         * rd_kafka_send_offsets_to_transaction waits, past its timeout,
         * for a broker state change to look the coordinator up again
         * (its open #5511 and #5456). The broker's return is such a change
         * once a metadata refresh sees it: refresh every 5 s rather than
         * every 5 min, so that such a wait ends seconds after a broker is
         * back (seen in tests/cluster: over 80 s, a stop past 60 s). */
        if (conf_set(conf, "transactional.id", transactional_id, errbuf, errsize) != 0 ||
            conf_set(conf, "topic.metadata.refresh.interval.ms", "5000", errbuf, errsize) != 0)
            goto err;
        /* transactions imply idempotence */
        __attribute__((fallthrough));
    case TALLY_KAFKA_PRODUCER:
        if (conf_set(conf, "enable.idempotence", "true", errbuf, errsize) != 0 ||
            conf_set(conf, "acks", "all", errbuf, errsize) != 0 ||
            conf_set(conf, "linger.ms", "5", errbuf, errsize) != 0 ||
            conf_set(conf, "compression.type", "lz4", errbuf, errsize) != 0)
            goto err;
        break;
    case TALLY_KAFKA_CONSUMER:
        if (group_id == NULL || !*group_id) {
            snprintf(errbuf, errsize, "kafka: a consumer needs a group.id");
            goto err;
        }
        if (conf_set(conf, "group.id", group_id, errbuf, errsize) != 0 ||
            conf_set(conf, "isolation.level", "read_committed", errbuf, errsize) != 0 ||
            conf_set(conf, "enable.auto.commit", "false", errbuf, errsize) != 0 ||
            conf_set(conf, "enable.auto.offset.store", "false", errbuf, errsize) != 0 ||
            conf_set(conf, "auto.offset.reset", "earliest", errbuf, errsize) != 0)
            goto err;
        break;
    }
    return conf;
err:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

rd_kafka_t *tally_kafka_new(tally_kafka_role_t role, rd_kafka_conf_t *conf,
                            char *errbuf, size_t errsize)
{
    char rderr[512];
    rd_kafka_type_t type = role == TALLY_KAFKA_CONSUMER ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER;
    rd_kafka_t *rk = rd_kafka_new(type, conf, rderr, sizeof rderr);
    if (rk == NULL) {
        /* rd_kafka_new leaves conf with us when it fails. */
        rd_kafka_conf_destroy(conf);
        snprintf(errbuf, errsize, "kafka: cannot create client: %s", rderr);
        return NULL;
    }
    if (type == RD_KAFKA_CONSUMER)
        rd_kafka_poll_set_consumer(rk);
    return rk;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tally_kafka_wait_ready(rd_kafka_t *rk, int timeout_ms, char *errbuf, size_t errsize)
{
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        long long left = deadline - now_ms();
        err = rd_kafka_metadata(rk, 0, NULL, &md, (int)(left < 1000 ? (left > 0 ? left : 1) : 1000));
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            int brokers = md->broker_cnt;
            rd_kafka_metadata_destroy(md);
            if (brokers > 0)
                return 0;
        }
        if (now_ms() >= deadline)
            break;
        usleep(100 * 1000);
    }
    snprintf(errbuf, errsize, "kafka: no broker answered within %d ms: %s", timeout_ms,
             rd_kafka_err2str(err));
    return -1;
}

int tally_kafka_producer_close(rd_kafka_t *rk, int timeout_ms)
{
    if (rk == NULL)
        return 0;
    rd_kafka_resp_err_t err = rd_kafka_flush(rk, timeout_ms);
    int left = rd_kafka_outq_len(rk);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR || left > 0)
        tally_log_warn("kafka", "%d message(s) not acknowledged at shutdown: %s", left,
                       rd_kafka_err2str(err));
    rd_kafka_destroy(rk);
    return left;
}

void tally_kafka_consumer_close(rd_kafka_t *rk)
{
    if (rk == NULL)
        return;
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        tally_log_warn("kafka", "consumer close: %s", rd_kafka_err2str(err));
    rd_kafka_destroy(rk);
}

int tally_kafka_conf_prefetch(rd_kafka_conf_t *conf, char *errbuf, size_t errsize)
{
    if (rd_kafka_conf_set(conf, "queued.max.messages.kbytes", TALLY_KAFKA_PREFETCH_KBYTES, errbuf, errsize) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "fetch.queue.backoff.ms", TALLY_KAFKA_PREFETCH_BACKOFF_MS, errbuf, errsize) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "queued.min.messages", TALLY_KAFKA_PREFETCH_MIN_MESSAGES, errbuf, errsize) !=
            RD_KAFKA_CONF_OK)
        return -1;
    return 0;
}
