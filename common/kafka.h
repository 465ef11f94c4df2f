#ifndef TALLY_KAFKA_H
#define TALLY_KAFKA_H

#include <stddef.h>
#include <librdkafka/rdkafka.h>

typedef enum {
    TALLY_KAFKA_PRODUCER,             /* idempotent, acks=all */
    TALLY_KAFKA_TRANSACTIONAL,        /* transactional producer; needs transactional_id */
    TALLY_KAFKA_CONSUMER,             /* group member, read_committed, manual commits */
} tally_kafka_role_t;

/* Builds a configuration with Tally's defaults for role: bootstrap servers,
 * client.id, the logger as log callback, and the role's delivery settings
 * (see kafka.c). group_id is required for consumers, transactional_id for
 * transactional producers, ignored otherwise. Apply operator overrides (-X)
 * to the result before tally_kafka_new. Returns an owned conf, or NULL with
 * the reason in errbuf. */
rd_kafka_conf_t *tally_kafka_conf_new(tally_kafka_role_t role, const char *brokers,
                                      const char *client_id, const char *group_id,
                                      const char *transactional_id,
                                      char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* The prefetch of a consumer that works through a backlog (the
 * aggregator, the anonymizer, the materializer, and the benchmarks' limit
 * consumers, so that both sides read alike). librdkafka's 64 MiB queue per
 * consumer was most of a consumer's memory on a backlog of 1M records
 * (issue 15: under 150 MiB); 4 MiB is enough once a drained queue is
 * refilled 5 ms later (fetch.queue.backoff.ms, librdkafka >= 2.4; its 1 s
 * default left the consumer idle, and 2.0 had no such setting).
 * queued.min.messages high, so that the byte bound is what stops a fetch.
 * Processes give these as -X consumer.* defaults (an operator's -X wins). */
#define TALLY_KAFKA_PREFETCH_KBYTES "4096"
#define TALLY_KAFKA_PREFETCH_BACKOFF_MS "5"
#define TALLY_KAFKA_PREFETCH_MIN_MESSAGES "1000000"

/* Sets the three prefetch settings above on a consumer's conf. Returns 0,
 * or -1 with librdkafka's reason in errbuf. Borrows conf. */
int tally_kafka_conf_prefetch(rd_kafka_conf_t *conf, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Creates the client. Takes conf in every case (destroys it on failure).
 * Consumers get their main queue redirected to the consumer queue. */
rd_kafka_t *tally_kafka_new(tally_kafka_role_t role, rd_kafka_conf_t *conf,
                            char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Waits until a broker answers a metadata request, up to timeout_ms.
 * Returns 0, or -1 with librdkafka's last error in errbuf. Borrows rk. */
int tally_kafka_wait_ready(rd_kafka_t *rk, int timeout_ms, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Producer shutdown: flush up to timeout_ms, destroy. Returns the number of
 * messages still unacknowledged (lost) at destroy time; 0 is a clean close.
 * Takes rk; NULL is a no-op. */
int tally_kafka_producer_close(rd_kafka_t *rk, int timeout_ms);

/* Consumer shutdown: leave the group (commits nothing), destroy.
 * Takes rk; NULL is a no-op. */
void tally_kafka_consumer_close(rd_kafka_t *rk);

#endif
