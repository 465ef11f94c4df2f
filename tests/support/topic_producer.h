#ifndef TALLY_TEST_TOPIC_PRODUCER_H
#define TALLY_TEST_TOPIC_PRODUCER_H

/* A producer of test input on the local broker that can remember where
 * each record landed. */

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/* Where record index went (from its delivery report). */
typedef struct tally_test_where_t {
    int32_t partition;
    int64_t offset;
    int err;
} tally_test_where_t;

typedef struct tally_test_producer_t {
    rd_kafka_t *rk;
    tally_test_where_t *where;   /* capacity entries by the index passed to send; NULL when 0 */
    size_t capacity, delivered, failed;
} tally_test_producer_t;

/* Starts p as client_id; where gets capacity entries (0: none). The
 * delivery reports write into *p: keep it where it is until close. */
void tally_test_producer_init(tally_test_producer_t *p, const char *client_id, size_t capacity);

/* Queues a copy of key and value to partition of topic (RD_KAFKA_PARTITION_UA:
 * by key), polling while the queue is full; index names the record in where. */
void tally_test_producer_send(tally_test_producer_t *p, const char *topic, int32_t partition, const void *key,
                              size_t key_len, const void *value, size_t len, size_t index);

/* Flushes, fails the test unless every record was delivered, destroys the
 * producer. where stays (the caller frees it). */
void tally_test_producer_close(tally_test_producer_t *p);

#endif
