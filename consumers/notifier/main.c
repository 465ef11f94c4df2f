/* tally-notifier: usage threshold alerts from the rollups and the license
 * terms, exactly once per crossing (docs/architecture.md "Processes").
 * Parses the configuration, loads the schema catalog, starts the admin
 * port, runs the pipeline until SIGTERM. */
#include "admin_http.h"
#include "build_info.h"
#include "config.h"
#include "crossing.h"
#include "log.h"
#include "metrics.h"
#include "notifier.h"
#include "process.h"
#include "schema_catalog.h"
#include "txn_pipeline.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *brokers, *group, *instance_id, *txn_prefix, *schemas;
    char *rollups_topic, *controlpanel_topic, *alerts_topic, *changelog_topic, *admin_bind;
    char *api_calls_percent, *nonprod_daily_percent, *seats_percent;
    int64_t batch_max_records, batch_max_ms, restore_timeout_ms, admin_port;
    int log_level;
} notifier_settings_t;

static volatile sig_atomic_t stop_requested;

int main(int argc, char **argv)
{
    notifier_settings_t s;
    memset(&s, 0, sizeof s);
    const tally_config_option_t options[] = {
        TALLY_CONFIG_STR("brokers", &s.brokers, "127.0.0.1:19092", "Kafka bootstrap servers"),
        TALLY_CONFIG_STR("group", &s.group, "tally-notifier", "consumer group (run one instance: tenants span every rollups partition)"),
        TALLY_CONFIG_STR("instance-id", &s.instance_id, NULL,
                         "unique, stable name of this instance (default: the host name); "
                         "the transactional.id is <transactional-id-prefix>-<instance-id>"),
        TALLY_CONFIG_STR("transactional-id-prefix", &s.txn_prefix, "tally-notifier", "prefix of the transactional.id"),
        TALLY_CONFIG_STR("schemas", &s.schemas, "schemas", "the schema catalog folder"),
        TALLY_CONFIG_STR("rollups-topic", &s.rollups_topic, "tally.rollups", "ApiUsageRollup and SeatRollup (in)"),
        TALLY_CONFIG_STR("controlpanel-topic", &s.controlpanel_topic, "tally.controlpanel",
                         "license terms, environments and alert rules (in, read whole)"),
        TALLY_CONFIG_STR("alerts-topic", &s.alerts_topic, "tally.alerts", "UsageAlert records (out)"),
        TALLY_CONFIG_STR("changelog-topic", &s.changelog_topic, "tally.notifier.changelog",
                         "the state and input positions (out, compacted)"),
        TALLY_CONFIG_STR("api-calls-percent", &s.api_calls_percent, "80,100,150",
                         "thresholds of the monthly API calls, percent of monthly_api_calls_max, for tenants "
                         "without an AlertRulesSet (ascending, 1..1000, at most 8; empty: none)"),
        TALLY_CONFIG_STR("nonprod-daily-percent", &s.nonprod_daily_percent, "100",
                         "thresholds of each non-production environment's daily API calls, percent of "
                         "daily_api_calls_max_nonprod"),
        TALLY_CONFIG_STR("seats-percent", &s.seats_percent, "100", "thresholds of the peak seats, percent of seats_max"),
        TALLY_CONFIG_INT("batch-max-records", &s.batch_max_records, "10000", 1, 1000000,
                         "records per transaction at most (a bound under backlog)"),
        TALLY_CONFIG_DURATION("batch-max-time", &s.batch_max_ms, "500ms", 1, 60000,
                              "longest a transaction stays open under backlog (a drained input commits at once)"),
        TALLY_CONFIG_DURATION("restore-timeout", &s.restore_timeout_ms, "2m", 1000, 3600000,
                              "how long a restore may wait for an open changelog transaction to end, for "
                              "changelog records, and for the Control Panel topic's end at start"),
        TALLY_CONFIG_STR("admin-bind", &s.admin_bind, "127.0.0.1", "IPv4 address of /healthz, /readyz, /metrics"),
        TALLY_CONFIG_INT("admin-port", &s.admin_port, "9105", 0, 65535, "admin port (0: any free port)"),
        TALLY_CONFIG_ENUM("log-level", &s.log_level, "info", tally_log_level_names, "debug, info, warn or error"),
    };
    char err[1024], host[256];
    int rc = 1;
    tally_catalog_t *schemas = NULL;
    tally_notifier_t *nt = NULL;
    tally_admin_t *admin = NULL;
    tally_metrics_t *metrics = tally_metrics_new();
    tally_config_t *cfg = tally_config_new(
        "tally-notifier", TALLY_VERSION,
        "Turns the rollups (tally.rollups) and the license terms, environments and alert rules of the Control "
        "Panel (tally.controlpanel, read whole on start and followed) into UsageAlert records on tally.alerts: "
        "TRIGGERED when a threshold is reached, RESOLVED when it no longer is, exactly once per crossing (Kafka "
        "transactions: alerts, state changelog and input offsets commit together; the state is restored from "
        "the changelog on assignment). A tenant's rollups span every partition of tally.rollups: run ONE "
        "instance. Admin: GET /healthz, /readyz, /metrics. Signals: SIGTERM/SIGINT finish the open transaction, "
        "leave the group and exit. -X key=value passes a librdkafka setting to every client, -X consumer.key=, "
        "-X producer.key=, -X restore.key= and -X controlpanel.key= to one.",
        options, sizeof options / sizeof options[0]);
    if ((rc = tally_process_parse(cfg, "tally-notifier", argc, argv, NULL, 0, &s.log_level)) != TALLY_PROCESS_RUN)
        goto cleanup;
    tally_build_info_announce("notifier", "tally-notifier", metrics);
    rc = 1;
    tally_alert_rules_t defaults;
    memset(&defaults, 0, sizeof defaults);
    const char *texts[TALLY_ALERT_METRICS] = {s.api_calls_percent, s.nonprod_daily_percent, s.seats_percent};
    const char *names[TALLY_ALERT_METRICS] = {"--api-calls-percent", "--nonprod-daily-percent", "--seats-percent"};
    for (int m = 0; m < TALLY_ALERT_METRICS; m++)
        if (tally_alert_percents_parse(texts[m], defaults.percent[m], &defaults.n[m], err, sizeof err) != 0) {
            fprintf(stderr, "tally-notifier: %s: %s\n", names[m], err);
            rc = 2;
            goto cleanup;
        }
    tally_process_signals(&stop_requested, NULL);

    const char *instance = tally_process_instance_id(s.instance_id, "notifier", host, sizeof host);
    if ((schemas = tally_catalog_load(s.schemas, err, sizeof err)) == NULL) {
        tally_log_error("notifier", "%s", err);
        goto cleanup;
    }
    tally_notifier_opts_t no = {
        .brokers = s.brokers, .group_id = s.group, .txn_id_prefix = s.txn_prefix, .instance_id = instance,
        .rollups_topic = s.rollups_topic, .controlpanel_topic = s.controlpanel_topic,
        .alerts_topic = s.alerts_topic, .changelog_topic = s.changelog_topic,
        .batch_max_records = (int)s.batch_max_records, .batch_max_ms = (int)s.batch_max_ms,
        .restore_timeout_ms = (int)s.restore_timeout_ms, .defaults = &defaults, .cfg = cfg, .metrics = metrics,
        .schemas = schemas,
    };
    if ((nt = tally_notifier_new(&no, err, sizeof err)) == NULL) {
        tally_log_error("notifier", "%s", err);
        goto cleanup;
    }
    tally_admin_opts_t adm = {.bind = s.admin_bind, .port = (int)s.admin_port, .metrics = metrics,
                              .healthy = tally_txn_healthy, .ready = tally_txn_ready,
                              .arg = tally_notifier_txn(nt)};
    if ((admin = tally_admin_start(&adm, err, sizeof err)) == NULL) {
        tally_log_error("notifier", "%s", err);
        goto cleanup;
    }
    tally_log_info("notifier", "admin listening on %s:%d; %s + %s -> %s, %s", s.admin_bind, tally_admin_port(admin),
                   s.rollups_topic, s.controlpanel_topic, s.alerts_topic, s.changelog_topic);
    if (tally_notifier_run(nt, &stop_requested, err, sizeof err) != 0) {
        tally_log_error("notifier", "%s", err);
        goto cleanup;
    }
    tally_log_info("notifier", "stopped cleanly");
    rc = 0;
cleanup:
    tally_admin_stop(admin);
    tally_notifier_free(nt);
    tally_catalog_free(schemas);
    tally_config_free(cfg);
    tally_metrics_free(metrics);
    return rc;
}
