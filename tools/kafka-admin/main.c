/* tally-kafka-admin: waits for the broker and creates the topics of
 * deploy/kafka/topics.conf, for the deploy scripts.
 *   tally-kafka-admin wait [--timeout=30s] [--min-brokers=N]
 *   tally-kafka-admin topics <topics.conf> [--max-replication=N]
 *   tally-kafka-admin leaders TOPIC      (partition and leader's node id, a line each)
 *   tally-kafka-admin list               (topic names, a line each)
 *   tally-kafka-admin delete TOPIC...    (e.g. what a test run created) */
#include "config.h"
#include "kafka.h"
#include "kafka_topics.h"
#include "log.h"
#include "xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *brokers;
    int64_t timeout_ms;
    int log_level;
    int64_t min_brokers, max_replication;
} admin_settings_t;

/* Brokers in the cluster's metadata (those registered and not fenced), or -1. */
static int broker_count(rd_kafka_t *rk, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    int n = md->broker_cnt;
    rd_kafka_metadata_destroy(md);
    return n;
}

/* Waits until the metadata lists at least min brokers: one answering is not
 * a cluster that can keep replicas (kafka.sh start in cluster mode). */
static int wait_brokers(rd_kafka_t *rk, int min, int timeout_ms, char *errbuf, size_t errsize)
{
    int have = -1;
    for (int waited = 0; waited <= timeout_ms; waited += 200) {
        have = broker_count(rk, 2000);
        if (have >= min)
            return 0;
        usleep(200000);
    }
    snprintf(errbuf, errsize, "%d broker(s) in the cluster's metadata after %d ms, waiting for %d", have,
             timeout_ms, min);
    return -1;
}

/* Prints `partition leader` (the leader's node id, -1 when none) for each
 * partition of topic: which node to kill to move a leadership. */
static int print_leaders(rd_kafka_t *rk, const char *topic, int timeout_ms, char *errbuf, size_t errsize)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && (md->topic_cnt != 1 || md->topics[0].err))
        err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errbuf, errsize, "metadata for %s: %s", topic, rd_kafka_err2str(err));
        if (md)
            rd_kafka_metadata_destroy(md);
        return -1;
    }
    for (int p = 0; p < md->topics[0].partition_cnt; p++)
        printf("%d %d\n", md->topics[0].partitions[p].id, md->topics[0].partitions[p].leader);
    rd_kafka_metadata_destroy(md);
    return fflush(stdout) == 0 ? 0 : -1;
}

/* Prints every topic's name but the broker's own (__consumer_offsets...). */
static int list_topics(rd_kafka_t *rk, int timeout_ms, char *errbuf, size_t errsize)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errbuf, errsize, "metadata: %s", rd_kafka_err2str(err));
        return -1;
    }
    for (int i = 0; i < md->topic_cnt; i++)
        if (strncmp(md->topics[i].topic, "__", 2) != 0)
            printf("%s\n", md->topics[i].topic);
    rd_kafka_metadata_destroy(md);
    return fflush(stdout) == 0 ? 0 : -1;
}

/* Deletes the topics named by positional arguments 1.. of cfg, in one
 * request; an unknown topic is already what was asked for. */
static int delete_topics(rd_kafka_t *rk, const tally_config_t *cfg, int timeout_ms, char *errbuf, size_t errsize)
{
    size_t n = tally_config_positional_count(cfg) - 1;
    rd_kafka_DeleteTopic_t **del = tally_xcalloc(n, sizeof *del);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_event_t *ev = NULL;
    int rc = -1, deleted = 0;
    if (q == NULL || opts == NULL) {
        snprintf(errbuf, errsize, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++)
        del[i] = rd_kafka_DeleteTopic_new(tally_config_positional_get(cfg, i + 1));
    char e[256];
    if (rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, e, sizeof e) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errbuf, errsize, "%s", e);
        goto cleanup;
    }
    rd_kafka_DeleteTopics(rk, del, n, opts, q);
    ev = rd_kafka_queue_poll(q, timeout_ms + 5000);
    if (ev == NULL || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errbuf, errsize, "delete topics: %s", ev ? rd_kafka_event_error_string(ev) : "timed out");
        goto cleanup;
    }
    size_t cnt;
    const rd_kafka_topic_result_t **res =
        rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &cnt);
    rc = 0;
    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t terr = rd_kafka_topic_result_error(res[i]);
        if (terr == RD_KAFKA_RESP_ERR_NO_ERROR)
            deleted++;
        else if (terr != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            snprintf(errbuf, errsize, "delete %.200s: %s", rd_kafka_topic_result_name(res[i]),
                     rd_kafka_err2str(terr));
            rc = -1;
        }
    }
    if (rc == 0)
        tally_log_info("kafka-admin", "%d of %zu topic(s) deleted (the others did not exist)", deleted, n);
cleanup:
    if (ev)
        rd_kafka_event_destroy(ev);
    for (size_t i = 0; i < n; i++)
        if (del[i])
            rd_kafka_DeleteTopic_destroy(del[i]);
    free(del);
    if (opts)
        rd_kafka_AdminOptions_destroy(opts);
    if (q)
        rd_kafka_queue_destroy(q);
    return rc;
}

int main(int argc, char **argv)
{
    admin_settings_t s = {0};
    const tally_config_option_t options[] = {
        TALLY_CONFIG_STR("brokers", &s.brokers, "127.0.0.1:19092", "Kafka bootstrap servers"),
        TALLY_CONFIG_DURATION("timeout", &s.timeout_ms, "30s", 100, 3600000,
                              "how long to wait for the broker"),
        TALLY_CONFIG_INT("min-brokers", &s.min_brokers, "1", 1, 100,
                         "wait: until the metadata lists this many brokers"),
        TALLY_CONFIG_INT("max-replication", &s.max_replication, "0", 0, 32,
                         "topics: create with at most this many replicas (0: as the file says); the local "
                         "stack passes its node count"),
        TALLY_CONFIG_ENUM("log-level", &s.log_level, "warn", tally_log_level_names,
                          "debug, info, warn or error"),
    };
    char err[1024];
    int rc = 1;
    rd_kafka_t *rk = NULL;
    tally_topic_list_t topics = {0};
    tally_config_t *cfg = tally_config_new("tally-kafka-admin", TALLY_VERSION,
        "Commands: wait (until a broker answers metadata requests), "
        "topics FILE (create the missing topics FILE declares), "
        "list (print the topic names, internal ones excepted, a line each), "
        "leaders TOPIC (print each partition and its leader's node id), "
        "delete TOPIC... (delete these topics; a missing one is not an error).",
        options, sizeof options / sizeof options[0]);
    int prc = tally_config_parse(cfg, argc, argv, err, sizeof err);
    if (prc == TALLY_CONFIG_HELP || prc == TALLY_CONFIG_VERSION) {
        rc = 0;
        goto cleanup;
    }
    const char *cmd = tally_config_positional_get(cfg, 0);
    size_t npos = tally_config_positional_count(cfg);
    if (prc != 0 || cmd == NULL ||
        !((strcmp(cmd, "wait") == 0 && npos == 1) || (strcmp(cmd, "topics") == 0 && npos == 2) ||
          (strcmp(cmd, "list") == 0 && npos == 1) || (strcmp(cmd, "leaders") == 0 && npos == 2) ||
          (strcmp(cmd, "delete") == 0 && npos >= 2))) {
        fprintf(stderr, "tally-kafka-admin: %s (usage: wait | topics FILE | list | leaders TOPIC | delete TOPIC...; see --help)\n",
                prc != 0 ? err : "bad command");
        rc = 2;
        goto cleanup;
    }
    tally_log_set_level((tally_log_level_t)s.log_level);
    if (strcmp(cmd, "topics") == 0 &&
        tally_topics_load(tally_config_positional_get(cfg, 1), &topics, err, sizeof err) != 0) {
        tally_log_error("kafka-admin", "%s", err);
        goto cleanup;
    }
    topics.max_replication = (int)s.max_replication;
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_PRODUCER, s.brokers, "tally-kafka-admin",
                                                 NULL, NULL, err, sizeof err);
    /* An admin client produces nothing; and while the broker starts, refused
     * connections are expected: report only our own verdict. */
    if (conf != NULL && (rd_kafka_conf_set(conf, "enable.idempotence", "false", err, sizeof err) ||
                         rd_kafka_conf_set(conf, "log_level", "2", err, sizeof err))) {
        rd_kafka_conf_destroy(conf);
        conf = NULL;
    }
    if (conf == NULL || tally_config_apply_kafka(cfg, conf, err, sizeof err) != 0) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        tally_log_error("kafka-admin", "%s", err);
        goto cleanup;
    }
    rk = tally_kafka_new(TALLY_KAFKA_PRODUCER, conf, err, sizeof err);
    if (rk == NULL || tally_kafka_wait_ready(rk, (int)s.timeout_ms, err, sizeof err) != 0) {
        tally_log_error("kafka-admin", "%s", err);
        goto cleanup;
    }
    if (s.min_brokers > 1 && wait_brokers(rk, (int)s.min_brokers, (int)s.timeout_ms, err, sizeof err) != 0) {
        tally_log_error("kafka-admin", "%s", err);
        goto cleanup;
    }
    if (strcmp(cmd, "topics") == 0) {
        int created = 0;
        if (tally_topics_ensure(rk, &topics, (int)s.timeout_ms, &created, err, sizeof err) != 0) {
            tally_log_error("kafka-admin", "%s", err);
            goto cleanup;
        }
        tally_log_info("kafka-admin", "%zu topics declared, %d created", topics.count, created);
    } else if (strcmp(cmd, "list") == 0) {
        if (list_topics(rk, (int)s.timeout_ms, err, sizeof err) != 0) {
            tally_log_error("kafka-admin", "%s", err);
            goto cleanup;
        }
    } else if (strcmp(cmd, "leaders") == 0) {
        if (print_leaders(rk, tally_config_positional_get(cfg, 1), (int)s.timeout_ms, err, sizeof err) != 0) {
            tally_log_error("kafka-admin", "%s", err);
            goto cleanup;
        }
    } else if (strcmp(cmd, "delete") == 0) {
        if (delete_topics(rk, cfg, (int)s.timeout_ms, err, sizeof err) != 0) {
            tally_log_error("kafka-admin", "%s", err);
            goto cleanup;
        }
    }
    rc = 0;
cleanup:
    if (rk)
        rd_kafka_destroy(rk);
    tally_topics_free(&topics);
    tally_config_free(cfg);
    return rc;
}
