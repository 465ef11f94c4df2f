/*
 * webhooks.h: tally-webhooks' engine side. A transactional pipeline
 * (common/txn_pipeline.h, group tally-webhooks) reads tally.alerts
 * (read_committed) and, for each alert, writes a `pending` delivery per
 * target (delivery.h: the tenant's endpoint when it has one, the vendor's
 * when --vendor-url is set) to tally.webhooks.deliveries, in the alert's
 * partition, in the same transaction as the alert's offset: an alert is
 * consumed exactly when its deliveries are recorded. Once the transaction
 * committed they go to the delivery thread (worker.h).
 *
 * On assignment of alerts partition p, before any alert of it is read,
 * deliveries partition p is read from its beginning to its end once it is
 * stable (common/changelog_reader.h: every transaction that wrote to it is
 * resolved, so a killed or previous owner's pending records are either
 * there or its alert offsets were not committed) and the deliveries still
 * pending go to the delivery thread: a restart loses none and sends none
 * again that was recorded as delivered or dead. The assignment also waits
 * until the endpoint table has been read (worker.h), so "the tenant has an
 * endpoint" is decided on the whole control panel.
 */
#ifndef TALLY_WEBHOOKS_WEBHOOKS_H
#define TALLY_WEBHOOKS_WEBHOOKS_H

#include <signal.h>
#include <stddef.h>

#include "config.h"
#include "endpoints.h"
#include "metrics.h"
#include "schema_catalog.h"
#include "txn_pipeline.h"
#include "worker.h"

typedef struct tally_webhooks_t tally_webhooks_t;

typedef struct tally_webhooks_opts_t {
    const char *brokers, *group_id, *txn_id_prefix, *instance_id;
    const char *alerts_topic, *deliveries_topic;
    int batch_max_records, batch_max_ms;
    const tally_config_t *cfg;          /* borrowed */
    tally_metrics_t *metrics;           /* borrowed */
    const tally_catalog_t *schemas;     /* borrowed */
    tally_endpoints_t *endpoints;       /* borrowed */
    tally_worker_t *worker;             /* borrowed, started */
    int vendor;                         /* 1: a vendor target for every alert */
    volatile sig_atomic_t *stop;        /* borrowed */
} tally_webhooks_opts_t;

tally_webhooks_t *tally_webhooks_new(const tally_webhooks_opts_t *opts, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Runs until *stop or a fatal error (-1, errbuf). */
int tally_webhooks_run(tally_webhooks_t *wh, char *errbuf, size_t errsize) __attribute__((warn_unused_result));

void tally_webhooks_free(tally_webhooks_t *wh);

tally_txn_t *tally_webhooks_txn(tally_webhooks_t *wh);

#endif /* TALLY_WEBHOOKS_WEBHOOKS_H */
