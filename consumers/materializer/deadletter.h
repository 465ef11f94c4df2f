/*
 * deadletter.h: records the materializer cannot write go to the dead-letter
 * topic (docs/architecture.md "Wire format"), without their content: headers name the
 * error, the stage ("materializer") and the source topic, partition and
 * offset, where the record itself can still be read.
 *
 * A batch's dead letters are produced and acknowledged by the broker before
 * the batch's PostgreSQL transaction moves its offsets past them, so none is
 * lost; a crash between the two may send one twice (at least once).
 */
#ifndef TALLY_DEADLETTER_H
#define TALLY_DEADLETTER_H

#include <stddef.h>

#include "batch.h"
#include "config.h"

typedef struct tally_deadletter_t tally_deadletter_t;

/* An idempotent producer to topic; cfg's -X pairs (borrowed, may be NULL)
 * are applied. Returns an owned producer or NULL with errbuf. */
tally_deadletter_t *tally_deadletter_new(const char *brokers, const char *topic, const char *client_id,
                                         const tally_config_t *cfg, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Flushes (up to 10 s) and frees; NULL is a no-op. */
void tally_deadletter_free(tally_deadletter_t *d);

/* Produces the batch's dead letters not yet acknowledged (b->dlq_sent on)
 * and waits up to timeout_ms for the broker. topics names the source topic
 * of each role. Returns 0 with b->dlq_sent == b->n_dlq, or -1 with errbuf
 * (the caller retries; records already acknowledged are not sent again). */
int tally_deadletter_send(tally_deadletter_t *d, tally_batch_t *b, const char *const topics[TALLY_ROLE_COUNT],
                          int timeout_ms, char *errbuf, size_t errsize) __attribute__((warn_unused_result));

#endif
