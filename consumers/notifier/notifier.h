/*
 * notifier.h: tally-notifier's pipeline: the crossing core (crossing.h)
 * inside the transactional engine (txn_pipeline.h). tally.rollups and
 * tally.controlpanel in (read_committed, group tally-notifier); per
 * transaction, the alerts to tally.alerts, the changed tenants' state and
 * each rollups partition's next offset to tally.notifier.changelog, and
 * the input offsets: all or nothing. tally.controlpanel is also a global
 * table (cp_table.h) read whole at start and before every record, so the
 * terms, rules and environments are all known whatever the group's
 * offsets; a Control Panel record through the group is then mostly a
 * repeat, which changes nothing (crossing.h), but it opens a transaction:
 * the alerts of a Control Panel change (terms raised mid-period) go out
 * at once, not with the next rollup.
 *
 * State is per tenant, and a tenant's rollups are spread over every
 * partition of tally.rollups (keyed tenant|environment|day), so the state
 * is the whole changelog, not a partition of it: ONE instance holds all
 * the partitions (a second instance of the group would split tenants; it
 * is warned about at every assignment that is not the whole topic).
 * Changelog keys: "t:<tenant>" (crossing_state.c's value; a tombstone
 * when nothing is left), "p:<partition>" (the decimal next offset of that
 * tally.rollups partition that the state includes).
 *
 * Hooks:
 *   on_assign      follow the Control Panel table, then forget the
 *                  rollups and series and read the whole changelog back
 *                  (common/changelog_reader.h: stable first), and start
 *                  each partition at the position stored with the state;
 *   process        apply the Control Panel records that arrived, then
 *                  (once after a restore) re-evaluate every tenant, then
 *                  the record: a Control Panel one, or a rollup (one below
 *                  the stored position is already in the state: skipped);
 *                  produce the alerts;
 *   before_commit  produce the changed tenants and the positions;
 *   on_abort       restore again before the next record.
 *
 * Metrics, besides the engine's tally_txn_*: tally_notifier_alerts_total
 * {state}, tally_notifier_records_total{outcome="applied"|"skipped"|
 * "undecodable"}, tally_notifier_controlpanel_records_total,
 * tally_notifier_restores_total, tally_notifier_last_restore_ms.
 */
#ifndef TALLY_NOTIFIER_NOTIFIER_H
#define TALLY_NOTIFIER_NOTIFIER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "crossing.h"
#include "metrics.h"
#include "schema_catalog.h"
#include "txn_pipeline.h"

typedef struct tally_notifier_opts_t {
    const char *brokers, *group_id, *txn_id_prefix, *instance_id;
    const char *rollups_topic, *controlpanel_topic;   /* in */
    const char *alerts_topic, *changelog_topic;       /* out */
    int batch_max_records, batch_max_ms;
    int restore_timeout_ms;                            /* 0: 120000 */
    const tally_alert_rules_t *defaults;               /* borrowed; copied */
    const tally_config_t *cfg;                         /* -X pairs; borrowed, may be NULL */
    tally_metrics_t *metrics;                          /* borrowed, may be NULL */
    const tally_catalog_t *schemas;                    /* borrowed */
} tally_notifier_opts_t;

typedef struct tally_notifier_t tally_notifier_t;

/* Reads the Control Panel table to its end, builds the engine (which joins
 * the group). Borrowed options must outlive the notifier. Returns an owned
 * notifier or NULL with errbuf. */
tally_notifier_t *tally_notifier_new(const tally_notifier_opts_t *opts, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Runs until *stop (0, after the open transaction) or a fatal error (-1). */
int tally_notifier_run(tally_notifier_t *n, volatile sig_atomic_t *stop, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* The engine, for health checks (borrowed). */
tally_txn_t *tally_notifier_txn(tally_notifier_t *n);

/* NULL is a no-op. */
void tally_notifier_free(tally_notifier_t *n);

#endif
