/* tally-kafka-admin: waits for the broker and creates the topics of
 * deploy/kafka/topics.conf, for the deploy scripts.
 *   tally-kafka-admin wait [--timeout=30s]
 *   tally-kafka-admin topics <topics.conf> */
#include "config.h"
#include "kafka.h"
#include "kafka_topics.h"
#include "log.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    char *brokers;
    int64_t timeout_ms;
    int log_level;
} admin_settings_t;

int main(int argc, char **argv)
{
    admin_settings_t s = {0};
    const tally_config_option_t options[] = {
        TALLY_CONFIG_STR("brokers", &s.brokers, "127.0.0.1:19092", "Kafka bootstrap servers"),
        TALLY_CONFIG_DURATION("timeout", &s.timeout_ms, "30s", 100, 3600000,
                              "how long to wait for the broker"),
        TALLY_CONFIG_ENUM("log-level", &s.log_level, "warn", tally_log_level_names,
                          "debug, info, warn or error"),
    };
    char err[1024];
    int rc = 1;
    rd_kafka_t *rk = NULL;
    tally_topic_list_t topics = {0};
    tally_config_t *cfg = tally_config_new("tally-kafka-admin", TALLY_VERSION,
        "Commands: wait (until a broker answers metadata requests), "
        "topics FILE (create the missing topics FILE declares).",
        options, sizeof options / sizeof options[0]);
    int prc = tally_config_parse(cfg, argc, argv, err, sizeof err);
    if (prc == TALLY_CONFIG_HELP || prc == TALLY_CONFIG_VERSION) {
        rc = 0;
        goto cleanup;
    }
    const char *cmd = tally_config_positional_get(cfg, 0);
    if (prc != 0 || cmd == NULL ||
        !(strcmp(cmd, "wait") == 0 || (strcmp(cmd, "topics") == 0 && tally_config_positional_count(cfg) == 2))) {
        fprintf(stderr, "tally-kafka-admin: %s (usage: wait | topics FILE; see --help)\n",
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
    if (strcmp(cmd, "topics") == 0) {
        int created = 0;
        if (tally_topics_ensure(rk, &topics, (int)s.timeout_ms, &created, err, sizeof err) != 0) {
            tally_log_error("kafka-admin", "%s", err);
            goto cleanup;
        }
        tally_log_info("kafka-admin", "%zu topics declared, %d created", topics.count, created);
    }
    rc = 0;
cleanup:
    if (rk)
        rd_kafka_destroy(rk);
    tally_topics_free(&topics);
    tally_config_free(cfg);
    return rc;
}
