/* bench_produce_direct: the physical limit tally-gateway is measured against
 * (tests/bench/gateway.sh, issue #3), and the Kafka chores of that script.
 *
 *   bench_produce_direct produce --topic=T --records=N --event=FILE
 *       Converts the product event of FILE (JSON) into an Avro value once,
 *       then encodes it N times with the gateway's codec and produces each
 *       record straight through librdkafka with the gateway's producer
 *       settings (idempotent, acks=all, same queue bounds), keyed like the
 *       gateway keys product events, as fast as the queue takes them; waits
 *       for every delivery report and prints one "DIRECT key=value ..." line.
 *   bench_produce_direct offsets TOPIC...
 *       Prints "TOPIC <sum of the partitions' end offsets>" a line.
 *   bench_produce_direct delete TOPIC...
 *       Deletes the topics (the benchmark's own, when it is done).
 */
#include "codec.h"
#include "config.h"
#include "json_avro.h"
#include "kafka.h"
#include "log.h"
#include "schema_catalog.h"
#include "bench_util.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* The gateway's key of a product event: 16-byte BLAKE2b of install_id, in hex. */
#define KEY_LEN 32

typedef struct {
    char *brokers, *schemas, *event_file, *topic;
    int64_t records, installs, queue_max_messages, queue_max_bytes, timeout_ms;
    int log_level;
} bench_settings_t;

typedef struct {
    int64_t delivered, failed;
    rd_kafka_resp_err_t first_err;
} delivery_counts_t;

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Delivery reports arrive on the thread that polls, this one. */
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    delivery_counts_t *c = opaque;
    if (m->err) {
        if (c->failed++ == 0)
            c->first_err = m->err;
    } else {
        c->delivered++;
    }
}

/* A producer with the gateway's settings (publisher.c), plus any -X. */
static rd_kafka_t *producer_new(const bench_settings_t *s, const tally_config_t *cfg, delivery_counts_t *counts,
                                char *err, size_t errsize)
{
    char v[32];
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_PRODUCER, s->brokers, "tally-bench-direct", NULL, NULL,
                                                 err, errsize);
    if (conf == NULL)
        return NULL;
    snprintf(v, sizeof v, "%lld", (long long)s->queue_max_messages);
    if (rd_kafka_conf_set(conf, "queue.buffering.max.messages", v, err, errsize) != RD_KAFKA_CONF_OK)
        goto err;
    snprintf(v, sizeof v, "%lld", (long long)(s->queue_max_bytes / 1024));
    if (rd_kafka_conf_set(conf, "queue.buffering.max.kbytes", v, err, errsize) != RD_KAFKA_CONF_OK)
        goto err;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, counts);
    if (tally_config_apply_kafka(cfg, conf, err, errsize) != 0)
        goto err;
    return tally_kafka_new(TALLY_KAFKA_PRODUCER, conf, err, errsize);
err:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* A client for metadata and admin requests only: produces nothing. */
static rd_kafka_t *admin_new(const bench_settings_t *s, const tally_config_t *cfg, char *err, size_t errsize)
{
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_PRODUCER, s->brokers, "tally-bench-admin", NULL, NULL,
                                                 err, errsize);
    if (conf == NULL)
        return NULL;
    if (rd_kafka_conf_set(conf, "enable.idempotence", "false", err, errsize) != RD_KAFKA_CONF_OK ||
        tally_config_apply_kafka(cfg, conf, err, errsize) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return tally_kafka_new(TALLY_KAFKA_PRODUCER, conf, err, errsize);
}

/* The event of s->event_file as a value of the latest ProductEvent schema,
 * with received_at set as the gateway sets it. *value is owned by the caller
 * (avro_value_decref); *schema is borrowed from cat. */
static int event_value(const bench_settings_t *s, const tally_catalog_t *cat, const tally_catalog_entry_t **schema,
                       avro_value_t *value, char *err, size_t errsize)
{
    json_error_t je;
    int rc = -1;
    tally_json_avro_t *conv = NULL;
    json_t *event = json_load_file(s->event_file, 0, &je);
    if (event == NULL || !json_is_object(event)) {
        snprintf(err, errsize, "%s: not a JSON object: %s", s->event_file, event ? "" : je.text);
        goto cleanup;
    }
    if (json_object_get(event, "event_id") == NULL) {
        snprintf(err, errsize, "%s: the event needs an event_id (the gateway's clients send one)", s->event_file);
        goto cleanup;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_object_set_new(event, "received_at", json_integer((json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
    if ((*schema = tally_catalog_latest(cat, "ProductEvent")) == NULL) {
        snprintf(err, errsize, "%s: no ProductEvent schema", s->schemas);
        goto cleanup;
    }
    if ((conv = tally_json_avro_new((*schema)->json, NULL, err, errsize)) == NULL ||
        tally_json_avro_check_schema(conv, (*schema)->schema, err, errsize) != 0 ||
        tally_codec_value_new(*schema, value, err, errsize) != 0)
        goto cleanup;
    if (tally_json_avro_from_json(conv, event, value, err, errsize) != 0) {
        avro_value_decref(value);
        goto cleanup;
    }
    rc = 0;
cleanup:
    tally_json_avro_free(conv);
    json_decref(event);
    return rc;
}

static int cmd_produce(const bench_settings_t *s, const tally_config_t *cfg)
{
    char err[1024];
    int rc = 1, have_value = 0;
    tally_catalog_t *cat = NULL;
    tally_encoder_t *enc = NULL;
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_t *rkt = NULL;
    char (*keys)[KEY_LEN + 1] = NULL;
    const tally_catalog_entry_t *schema = NULL;
    avro_value_t value;
    delivery_counts_t counts = {0};

    if (s->topic == NULL || s->event_file == NULL || s->records <= 0) {
        fprintf(stderr, "bench_produce_direct: produce needs --topic, --event and --records\n");
        return 2;
    }
    if (sodium_init() < 0)
        abort();
    if ((cat = tally_catalog_load(s->schemas, err, sizeof err)) == NULL ||
        event_value(s, cat, &schema, &value, err, sizeof err) != 0) {
        tally_log_error("bench", "%s", err);
        goto cleanup;
    }
    have_value = 1;
    enc = tally_encoder_new(schema);
    /* The same spread over partitions as the wrk script's installation ids. */
    if ((keys = calloc((size_t)s->installs, sizeof *keys)) == NULL)
        abort();
    for (int64_t i = 0; i < s->installs; i++) {
        char id[64];
        unsigned char h[16];
        int n = snprintf(id, sizeof id, "bench-install-%04lld", (long long)i);
        crypto_generichash(h, sizeof h, (const unsigned char *)id, (size_t)n, NULL, 0);
        sodium_bin2hex(keys[i], sizeof keys[i], h, sizeof h);
    }
    if ((rk = producer_new(s, cfg, &counts, err, sizeof err)) == NULL ||
        tally_kafka_wait_ready(rk, (int)s->timeout_ms, err, sizeof err) != 0) {
        tally_log_error("bench", "%s", err);
        goto cleanup;
    }
    if ((rkt = rd_kafka_topic_new(rk, s->topic, NULL)) == NULL) {
        tally_log_error("bench", "topic %s: %s", s->topic, rd_kafka_err2str(rd_kafka_last_error()));
        goto cleanup;
    }

    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    double t0 = bench_now_s();
    size_t record_len = 0;
    int64_t queue_full = 0;
    for (int64_t i = 0; i < s->records; i++) {
        const void *buf;
        if (tally_encoder_encode(enc, &value, &buf, &record_len, err, sizeof err) != 0) {
            tally_log_error("bench", "encode: %s", err);
            goto cleanup;
        }
        /* The gateway copies too: the encoder's buffer is reused. */
        while (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)buf, record_len,
                                keys[i % s->installs], KEY_LEN, NULL) != 0) {
            rd_kafka_resp_err_t e = rd_kafka_last_error();
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                tally_log_error("bench", "produce: %s", rd_kafka_err2str(e));
                goto cleanup;
            }
            queue_full++;
            rd_kafka_poll(rk, 10);
        }
        rd_kafka_poll(rk, 0);
    }
    double t_enqueued = bench_now_s();
    double deadline = t_enqueued + (double)s->timeout_ms / 1000;
    while (rd_kafka_outq_len(rk) > 0 && bench_now_s() < deadline)
        rd_kafka_flush(rk, 100);
    double t1 = bench_now_s();
    getrusage(RUSAGE_SELF, &ru1);
    int left = rd_kafka_outq_len(rk);
    double secs = t1 - t0;
    printf("DIRECT records=%lld delivered=%lld failed=%lld unacknowledged=%d seconds=%.3f enqueue_seconds=%.3f "
           "records_per_s=%.0f record_bytes=%zu queue_full_waits=%lld cpu_user_s=%.2f cpu_sys_s=%.2f "
           "maxrss_kib=%ld\n",
           (long long)s->records, (long long)counts.delivered, (long long)counts.failed, left, secs,
           t_enqueued - t0, (double)counts.delivered / secs, record_len, (long long)queue_full,
           tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime), tv_s(ru1.ru_stime) - tv_s(ru0.ru_stime), ru1.ru_maxrss);
    if (counts.failed > 0)
        tally_log_error("bench", "%lld records failed, first: %s", (long long)counts.failed,
                        rd_kafka_err2str(counts.first_err));
    rc = counts.failed == 0 && left == 0 && counts.delivered == s->records ? 0 : 1;
cleanup:
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (rk)
        tally_kafka_producer_close(rk, 10000);
    free(keys);
    tally_encoder_free(enc);
    if (have_value)
        avro_value_decref(&value);
    tally_catalog_free(cat);
    return rc;
}

static int cmd_offsets(const bench_settings_t *s, const tally_config_t *cfg)
{
    char err[1024];
    int rc = 1;
    rd_kafka_t *rk = admin_new(s, cfg, err, sizeof err);
    if (rk == NULL) {
        tally_log_error("bench", "%s", err);
        return 1;
    }
    for (size_t t = 1; t < tally_config_positional_count(cfg); t++) {
        const char *topic = tally_config_positional_get(cfg, t);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, (int)s->timeout_ms);
        rd_kafka_topic_destroy(rkt);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR && (md->topic_cnt != 1 || md->topics[0].err))
            e = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
        long long sum = 0;
        for (int p = 0; e == RD_KAFKA_RESP_ERR_NO_ERROR && p < md->topics[0].partition_cnt; p++) {
            int64_t lo, hi;
            e = rd_kafka_query_watermark_offsets(rk, topic, md->topics[0].partitions[p].id, &lo, &hi,
                                                 (int)s->timeout_ms);
            sum += hi;
        }
        if (md)
            rd_kafka_metadata_destroy(md);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            tally_log_error("bench", "end offsets of %s: %s", topic, rd_kafka_err2str(e));
            goto cleanup;
        }
        printf("%s %lld\n", topic, sum);
    }
    rc = 0;
cleanup:
    rd_kafka_destroy(rk);
    return rc;
}

static int cmd_delete(const bench_settings_t *s, const tally_config_t *cfg)
{
    char err[1024];
    int rc = 1;
    size_t n = tally_config_positional_count(cfg) - 1;
    rd_kafka_t *rk = admin_new(s, cfg, err, sizeof err);
    if (rk == NULL) {
        tally_log_error("bench", "%s", err);
        return 1;
    }
    rd_kafka_DeleteTopic_t **del = calloc(n, sizeof *del);
    if (del == NULL)
        abort();
    for (size_t i = 0; i < n; i++)
        del[i] = rd_kafka_DeleteTopic_new(tally_config_positional_get(cfg, i + 1));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopics(rk, del, n, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, (int)s->timeout_ms + 1000);
    const rd_kafka_DeleteTopics_result_t *res = ev ? rd_kafka_event_DeleteTopics_result(ev) : NULL;
    if (ev == NULL) {
        tally_log_error("bench", "delete topics: no answer in time");
    } else if (rd_kafka_event_error(ev)) {
        tally_log_error("bench", "delete topics: %s", rd_kafka_event_error_string(ev));
    } else if (res) {
        size_t cnt;
        const rd_kafka_topic_result_t **tr = rd_kafka_DeleteTopics_result_topics(res, &cnt);
        rc = 0;
        for (size_t i = 0; i < cnt; i++)
            if (rd_kafka_topic_result_error(tr[i])) {
                tally_log_error("bench", "delete %s: %s", rd_kafka_topic_result_name(tr[i]),
                                rd_kafka_topic_result_error_string(tr[i]));
                rc = 1;
            }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy_array(del, n);
    free(del);
    rd_kafka_destroy(rk);
    return rc;
}

int main(int argc, char **argv)
{
    bench_program = "bench_produce_direct";
    bench_settings_t s;
    memset(&s, 0, sizeof s);
    /* Queue bounds default to the gateway's (--queue-max-messages, --queue-max-bytes). */
    const tally_config_option_t options[] = {
        TALLY_CONFIG_STR("brokers", &s.brokers, "127.0.0.1:19092", "Kafka bootstrap servers"),
        TALLY_CONFIG_STR("schemas", &s.schemas, "schemas", "the schema catalog folder"),
        TALLY_CONFIG_STR("event", &s.event_file, NULL, "produce: file holding one product event as JSON"),
        TALLY_CONFIG_STR("topic", &s.topic, NULL, "produce: topic to produce to (must exist)"),
        TALLY_CONFIG_INT("records", &s.records, "1000000", 1, 1000000000, "produce: records to produce"),
        TALLY_CONFIG_INT("installs", &s.installs, "1000", 1, 1000000,
                         "produce: distinct record keys, as bench-install-NNNN ids hashed by the gateway"),
        TALLY_CONFIG_INT("queue-max-messages", &s.queue_max_messages, "100000", 100, 10000000,
                         "produce: records librdkafka queues at most"),
        TALLY_CONFIG_SIZE("queue-max-bytes", &s.queue_max_bytes, "32MiB", 1 << 20, (int64_t)1 << 32,
                          "produce: bytes librdkafka queues at most"),
        TALLY_CONFIG_DURATION("timeout", &s.timeout_ms, "60s", 1000, 3600000,
                              "how long to wait for the broker and for the last acknowledgements"),
        TALLY_CONFIG_ENUM("log-level", &s.log_level, "warn", tally_log_level_names, "debug, info, warn or error"),
    };
    char err[1024];
    int rc = 2;
    tally_config_t *cfg = tally_config_new(
        "bench_produce_direct", TALLY_VERSION,
        "Commands: produce (N records of one product event straight into Kafka; prints records/s), "
        "offsets TOPIC... (sum of end offsets), delete TOPIC...",
        options, sizeof options / sizeof options[0]);
    int prc = tally_config_parse(cfg, argc, argv, err, sizeof err);
    if (prc == TALLY_CONFIG_HELP || prc == TALLY_CONFIG_VERSION) {
        rc = 0;
        goto cleanup;
    }
    const char *cmd = tally_config_positional_get(cfg, 0);
    size_t npos = tally_config_positional_count(cfg);
    if (prc != 0 || cmd == NULL) {
        fprintf(stderr, "bench_produce_direct: %s (see --help)\n", prc != 0 ? err : "no command");
        goto cleanup;
    }
    tally_log_set_level((tally_log_level_t)s.log_level);
    if (strcmp(cmd, "produce") == 0 && npos == 1)
        rc = cmd_produce(&s, cfg);
    else if (strcmp(cmd, "offsets") == 0 && npos > 1)
        rc = cmd_offsets(&s, cfg);
    else if (strcmp(cmd, "delete") == 0 && npos > 1)
        rc = cmd_delete(&s, cfg);
    else
        fprintf(stderr, "bench_produce_direct: usage: produce | offsets TOPIC... | delete TOPIC... (see --help)\n");
cleanup:
    tally_config_free(cfg);
    return rc;
}
