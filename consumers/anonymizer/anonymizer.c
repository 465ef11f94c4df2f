#include "anonymizer.h"

#include "log.h"
#include "transform.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tally_anonymizer_t {
    tally_transform_t *tr;
    tally_txn_t *txn;
    rd_kafka_topic_t *product_out, *usage_out, *dlq_out;
    tally_txn_hooks_t hooks;
};

static int produce_dlq(tally_anonymizer_t *a, tally_txn_t *txn, const tally_txn_record_t *rec,
                       const tally_anon_result_t *r)
{
    char partition[16], offset[24], length[24], schema[128];
    tally_txn_header_t h[9];
    size_t n = 0;
    snprintf(partition, sizeof partition, "%" PRId32, rec->partition);
    snprintf(offset, sizeof offset, "%" PRId64, rec->offset);
    snprintf(length, sizeof length, "%zu", rec->len);
    h[n++] = (tally_txn_header_t){"error", r->error, strlen(r->error)};
    h[n++] = (tally_txn_header_t){"stage", r->stage, strlen(r->stage)};
    h[n++] = (tally_txn_header_t){"detail", r->detail, strlen(r->detail)};
    h[n++] = (tally_txn_header_t){"source.topic", rec->topic, strlen(rec->topic)};
    h[n++] = (tally_txn_header_t){"source.partition", partition, strlen(partition)};
    h[n++] = (tally_txn_header_t){"source.offset", offset, strlen(offset)};
    h[n++] = (tally_txn_header_t){"source.length", length, strlen(length)};
    h[n++] = (tally_txn_header_t){"process", "tally-anonymizer", 16};
    if (r->writer) {
        snprintf(schema, sizeof schema, "%s/v%d", r->writer->name, r->writer->version);
        h[n++] = (tally_txn_header_t){"schema", schema, strlen(schema)};
    }
    tally_log_debug("anonymizer", "%s[%" PRId32 "]@%" PRId64 " to the DLQ: %s/%s", rec->topic, rec->partition,
                    rec->offset, r->stage, r->error);
    /* Keyed by source partition: one partition's rejects stay in order. */
    char key[300];
    int klen = snprintf(key, sizeof key, "%s/%s", rec->topic, partition);
    return tally_txn_produce(txn, a->dlq_out, RD_KAFKA_PARTITION_UA, key, (size_t)klen, NULL, 0, h, n);
}

static int process(void *arg, tally_txn_t *txn, const tally_txn_record_t *rec)
{
    tally_anonymizer_t *a = arg;
    tally_anon_result_t r;
    tally_transform_record(a->tr, rec->value, rec->value ? rec->len : 0, &r);
    switch (r.dest) {
    case TALLY_ANON_PRODUCT:
        return tally_txn_produce(txn, a->product_out, RD_KAFKA_PARTITION_UA, r.key, r.key_len, r.value, r.len,
                                 NULL, 0);
    case TALLY_ANON_USAGE:
        return tally_txn_produce(txn, a->usage_out, RD_KAFKA_PARTITION_UA, r.key, r.key_len, r.value, r.len, NULL,
                                 0);
    case TALLY_ANON_DLQ:
        break;
    }
    return produce_dlq(a, txn, rec, &r);
}

/* Transform counts go out once a transaction ends either way. */
static void flush_metrics(void *arg)
{
    tally_anonymizer_t *a = arg;
    tally_transform_flush_metrics(a->tr);
}

tally_anonymizer_t *tally_anonymizer_new(const tally_anonymizer_opts_t *o, char *errbuf, size_t errsize)
{
    tally_anonymizer_t *a = calloc(1, sizeof *a);
    if (a == NULL)
        abort();
    tally_transform_opts_t to = {.schemas = o->schemas, .events = o->events, .pseudonyms = o->pseudonyms,
                                 .metrics = o->metrics};
    if ((a->tr = tally_transform_new(&to, errbuf, errsize)) == NULL)
        goto err;
    a->hooks.process = process;
    a->hooks.after_commit = flush_metrics;
    a->hooks.on_abort = flush_metrics;
    const char *topics[] = {o->product_raw_topic, o->usage_raw_topic};
    tally_txn_opts_t eo = {
        .brokers = o->brokers, .group_id = o->group_id, .txn_id_prefix = o->txn_id_prefix,
        .instance_id = o->instance_id, .topics = topics, .n_topics = 2,
        .batch_max_records = o->batch_max_records, .batch_max_ms = o->batch_max_ms,
        .cfg = o->cfg, .metrics = o->metrics, .hooks = &a->hooks, .arg = a,
    };
    if ((a->txn = tally_txn_new(&eo, errbuf, errsize)) == NULL ||
        (a->product_out = tally_txn_topic(a->txn, o->product_topic, errbuf, errsize)) == NULL ||
        (a->usage_out = tally_txn_topic(a->txn, o->usage_topic, errbuf, errsize)) == NULL ||
        (a->dlq_out = tally_txn_topic(a->txn, o->dlq_topic, errbuf, errsize)) == NULL)
        goto err;
    return a;
err:
    tally_anonymizer_free(a);
    return NULL;
}

int tally_anonymizer_run(tally_anonymizer_t *a, volatile sig_atomic_t *stop, char *errbuf, size_t errsize)
{
    return tally_txn_run(a->txn, stop, errbuf, errsize);
}

tally_txn_t *tally_anonymizer_txn(tally_anonymizer_t *a)
{
    return a->txn;
}

void tally_anonymizer_free(tally_anonymizer_t *a)
{
    if (a == NULL)
        return;
    tally_txn_free(a->txn);
    tally_transform_free(a->tr);
    free(a);
}
