#ifndef TALLY_KAFKA_TOPICS_H
#define TALLY_KAFKA_TOPICS_H

#include <stddef.h>
#include <librdkafka/rdkafka.h>

#define TALLY_TOPIC_MAX_CONFIGS 8

typedef struct {
    char name[250];
    int partitions;
    long long retention_ms;          /* -1: forever */
    char cleanup_policy[16];         /* delete | compact */
    int replication_factor;          /* replication.factor=N in the file; 0: the broker's default */
    int config_count;
    char config_keys[TALLY_TOPIC_MAX_CONFIGS][64];
    char config_values[TALLY_TOPIC_MAX_CONFIGS][64];
} tally_topic_spec_t;

typedef struct {
    tally_topic_spec_t *topics;
    size_t count;
    /* 0: each topic gets the replication factor the file declares. N > 0:
     * at most N (the brokers of a local stack: one node keeps one copy),
     * and min.insync.replicas at most what is left, so that a single node
     * still takes writes. Never set against a production cluster: there a
     * missing broker must make creation fail, not quietly keep fewer copies. */
    int max_replication;
} tally_topic_list_t;

/* Parses a topics.conf file (see deploy/kafka/topics.conf): one topic a line,
 * `name partitions retention.ms cleanup.policy [key=value ...]`, '#' comments.
 * `replication.factor=N` among the key=value pairs is the topic's replica
 * count (not a topic config: it goes to the creation request).
 * On error names the file and line. Fills list (free with
 * tally_topics_free). */
int tally_topics_load(const char *path, tally_topic_list_t *list, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Frees what tally_topics_load allocated; a zeroed list is a no-op. */
void tally_topics_free(tally_topic_list_t *list);

/* The replication factor (0: the broker's default) and the
 * min.insync.replicas value (NULL: none declared) topic t is created with,
 * under list->max_replication. */
int tally_topics_replication(const tally_topic_list_t *list, const tally_topic_spec_t *t, char *min_isr,
                             size_t min_isr_size);

/* Creates every topic of list that is missing, with the replication factor
 * tally_topics_replication says. An existing topic with a different
 * partition count is an error: partitions decide co-partitioning; so is
 * one with fewer replicas than that (it would not survive the broker loss
 * the file promises). Sets
 * *created to the number created (may be NULL). Borrows rk. */
int tally_topics_ensure(rd_kafka_t *rk, const tally_topic_list_t *list, int timeout_ms,
                        int *created, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

#endif
