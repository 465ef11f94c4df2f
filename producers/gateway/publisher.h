#ifndef TALLY_GATEWAY_PUBLISHER_H
#define TALLY_GATEWAY_PUBLISHER_H

/* The gateway's Kafka producers (idempotent, acks=all): one for product
 * events (answered once queued: it lingers to batch), one for the
 * acknowledged topics (linger --ack-linger, 1 ms by default) that takes a
 * request of one record; a batch of several takes the first. Records are
 * enqueued without blocking; a request that must answer only after the
 * broker acknowledged (usage, seats, Control Panel) passes a waiter, which
 * the delivery reports count down. */

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"

typedef enum {
    TALLY_TOPIC_PRODUCT_RAW,
    TALLY_TOPIC_USAGE_RAW,
    TALLY_TOPIC_CONTROLPANEL,
    TALLY_TOPIC_COUNT,
} tally_gw_topic_t;

/* Counts the records of one request. done(arg) runs once, on a librdkafka
 * thread, after the last record of the request was acknowledged or failed
 * (tally_pub_wait_arm arms it after the last send), unless the owner
 * detached first. A wait outlives its owner until every record it counts
 * was reported, so a delivery report after the request is gone (at
 * shutdown) touches nothing freed. */
typedef struct tally_pub_wait_t tally_pub_wait_t;

typedef struct tally_publisher_t tally_publisher_t;

typedef struct {
    const char *brokers;
    const char *topics[TALLY_TOPIC_COUNT];
    int64_t ack_timeout_ms;      /* message.timeout.ms of acknowledged topics */
    int64_t ack_linger_ms;       /* linger.ms of the acknowledged topics' producer (after -X) */
    int64_t queue_max_messages;  /* producer queue bound of each producer (memory stays bounded) */
    int64_t queue_max_kbytes;
    const tally_config_t *cfg;   /* -X overrides, borrowed */
    tally_metrics_t *metrics;    /* borrowed */
} tally_publisher_opts_t;

/* Creates the producer, its poll thread and its health probe. Returns an
 * owned publisher or NULL with the reason in errbuf. */
tally_publisher_t *tally_publisher_new(const tally_publisher_opts_t *opts, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* A wait for one request: done(arg) runs after its last record. Returns an
 * owned wait (release it with tally_pub_wait_release). */
tally_pub_wait_t *tally_pub_wait_new(void (*done)(void *), void *arg);

/* Call after the last send of the request. Returns 1 when every record was
 * already reported (done was NOT called: the caller continues itself), or
 * 0 when done will be called later, or the wait was detached meanwhile
 * (whoever detached it continues). */
int tally_pub_wait_arm(tally_pub_wait_t *w);

/* Detaches: done will not be called after this returns 1. Returns 1 when
 * this call detached it, 0 when done was already claimed (it runs or ran:
 * the request goes on as acknowledged or failed) or it was detached before. */
int tally_pub_wait_detach(tally_pub_wait_t *w);

/* Records of the wait that failed (read once done ran). */
int tally_pub_wait_failed(const tally_pub_wait_t *w);

/* Detaches and drops the owner's reference; the wait is freed once its
 * last record is reported. NULL is a no-op. */
void tally_pub_wait_release(tally_pub_wait_t *w);

/* Enqueues one record (value and key are copied). w may be NULL (answered
 * once queued). Returns 0, or -1 when the queue is full or the producer
 * failed: the record is not sent and w is not counted. Never blocks. */
int tally_publisher_send(tally_publisher_t *p, tally_gw_topic_t topic, const void *key, size_t key_len,
                         const void *value, size_t len, tally_pub_wait_t *w);

/* One record of a batch: key and value borrowed until the call returns
 * (librdkafka copies them); failed is set by the call. */
typedef struct tally_pub_record_t {
    const void *key;
    size_t key_len;
    const void *value;
    size_t len;
    int failed;            /* out: 1 when it was not enqueued (queue full, producer failed) */
} tally_pub_record_t;

/* Enqueues records[0..n) to topic, in order, with librdkafka's batch call
 * (several records of an acknowledged topic: through the product producer)
 * (one topic lock per call instead of one per record). w as in
 * tally_publisher_send, counted per record enqueued. Once the queue is
 * full, no record after it is enqueued either. Returns the number
 * enqueued: those with failed == 0. Never blocks. */
size_t tally_publisher_send_batch(tally_publisher_t *p, tally_gw_topic_t topic, tally_pub_record_t *records,
                                  size_t n, tally_pub_wait_t *w);

/* Whether the gateway should take traffic: a broker answered recently and
 * the queue is below its high-water mark. why (may be NULL) gets a reason. */
int tally_publisher_ready(tally_publisher_t *p, char *why, size_t whysize);

/* Whether the producer hit a fatal error (the process should restart). */
int tally_publisher_failed(tally_publisher_t *p);

/* Records in the producer's queue (not yet acknowledged). */
int tally_publisher_queue_len(tally_publisher_t *p);

/* Waits up to timeout_ms for every queued record's delivery report (linger
 * is cut short); returns the records still queued. */
int tally_publisher_flush(tally_publisher_t *p, int timeout_ms);

/* Flushes for up to timeout_ms, stops the threads and frees; returns the
 * number of records left unacknowledged. NULL is a no-op. */
int tally_publisher_close(tally_publisher_t *p, int timeout_ms);

#endif
