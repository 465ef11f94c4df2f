/*
 * anonymizer.h: tally-anonymizer's pipeline: the transform (transform.h)
 * run inside the transactional engine (txn_pipeline.h), reading the raw
 * topics and writing the clean topics and the DLQ in one transaction per
 * batch, so each raw record yields exactly one clean or DLQ record.
 *
 * A DLQ record carries no value: only headers, all value-free —
 *   error             stable name ("undecodable", "unknown_schema",
 *                     "unknown_event", "invalid_event_id", ...)
 *   stage             "decode", "route", "validate" (or "transform"
 *                     for a bug: a value the reader schema has that
 *                     avro-c would not read)
 *   detail            why, naming fields, schemas and byte positions
 *   source.topic, source.partition, source.offset
 *                     where the raw record is
 *   source.length     its size in bytes
 *   schema            "<Name>/v<version>" of its writer schema, when known
 *   process           "tally-anonymizer"
 * and the key "<source topic>/<source partition>", so one partition's
 * rejects stay in order.
 * Why no value: the raw record is the one thing the DLQ must not copy. It
 * holds raw identifiers and unscrubbed text, and the DLQ keeps 30 days
 * where the raw topics keep hours; a copy would outlive the promise that
 * identifiers are gone within hours. The headers point at the raw record
 * for whoever must look at it before the raw topic expires it.
 */
#ifndef TALLY_ANONYMIZER_ANONYMIZER_H
#define TALLY_ANONYMIZER_ANONYMIZER_H

#include <signal.h>
#include <stddef.h>

#include "config.h"
#include "event_catalog.h"
#include "metrics.h"
#include "pseudonym.h"
#include "schema_catalog.h"
#include "txn_pipeline.h"

typedef struct tally_anonymizer_opts_t {
    const char *brokers;
    const char *group_id;
    const char *txn_id_prefix;
    const char *instance_id;
    const char *product_raw_topic, *usage_raw_topic;     /* in */
    const char *product_topic, *usage_topic, *dlq_topic; /* out */
    int batch_max_records, batch_max_ms;
    const tally_config_t *cfg;               /* -X pairs; borrowed, may be NULL */
    tally_metrics_t *metrics;                /* borrowed, may be NULL */
    const tally_catalog_t *schemas;          /* borrowed */
    const tally_event_catalog_t *events;     /* borrowed */
    const tally_pseudonym_t *pseudonyms;     /* borrowed */
} tally_anonymizer_opts_t;

typedef struct tally_anonymizer_t tally_anonymizer_t;

/* Builds the transform and the engine (which joins the group). Borrowed
 * options must outlive the anonymizer; strings are copied. Returns an
 * owned anonymizer or NULL with errbuf. */
tally_anonymizer_t *tally_anonymizer_new(const tally_anonymizer_opts_t *opts, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Runs until *stop (returns 0 after committing or aborting the open
 * transaction and leaving the group) or a fatal error (-1, errbuf). */
int tally_anonymizer_run(tally_anonymizer_t *a, volatile sig_atomic_t *stop, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* The engine, for health checks (borrowed). */
tally_txn_t *tally_anonymizer_txn(tally_anonymizer_t *a);

/* NULL is a no-op. */
void tally_anonymizer_free(tally_anonymizer_t *a);

#endif /* TALLY_ANONYMIZER_ANONYMIZER_H */
