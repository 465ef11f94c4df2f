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
    int config_count;
    char config_keys[TALLY_TOPIC_MAX_CONFIGS][64];
    char config_values[TALLY_TOPIC_MAX_CONFIGS][64];
} tally_topic_spec_t;

typedef struct {
    tally_topic_spec_t *topics;
    size_t count;
} tally_topic_list_t;

/* Parses a topics.conf file (see deploy/kafka/topics.conf): one topic a line,
 * `name partitions retention.ms cleanup.policy [key=value ...]`, '#' comments.
 * On error names the file and line. Fills list (free with
 * tally_topics_free). */
int tally_topics_load(const char *path, tally_topic_list_t *list, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Frees what tally_topics_load allocated; a zeroed list is a no-op. */
void tally_topics_free(tally_topic_list_t *list);

/* Creates every topic of list that is missing (replication factor 1 is the
 * broker default on the local stack). An existing topic with a different
 * partition count is an error: partitions decide co-partitioning. Sets
 * *created to the number created (may be NULL). Borrows rk. */
int tally_topics_ensure(rd_kafka_t *rk, const tally_topic_list_t *list, int timeout_ms,
                        int *created, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

#endif
