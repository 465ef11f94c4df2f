/* tally-aggregator: the clean usage log in, cumulative API usage and seat
 * rollups out, exactly once (docs/architecture.md "Processes"). Parses the
 * configuration, loads the schema catalog, starts the admin port, runs the
 * pipeline until SIGTERM. */
#include "aggregator.h"
#include "admin_http.h"
#include "build_info.h"
#include "config.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "process.h"
#include "rollup.h"
#include "schema_catalog.h"
#include "txn_pipeline.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *brokers, *group, *instance_id, *txn_prefix, *schemas;
    char *usage_topic, *rollups_topic, *changelog_topic, *dlq_topic, *admin_bind;
    int64_t batch_max_records, batch_max_ms, open_days, reporter_idle_ms, expire_budget, restore_timeout_ms;
    int64_t admin_port;
    int log_level;
} aggregator_settings_t;

static volatile sig_atomic_t stop_requested;

/* librdkafka settings of our own defaults, given before the operator's -X
 * pairs so that those win: the backlog prefetch of common/kafka.h (peak
 * RSS on a backlog of 1M records, tests/bench/aggregator.sh: 193 MiB with a 16 MiB queue and the 1 s backoff, 128 MiB with these, and 2.6x the throughput). */
static const char *const kafka_defaults[] = {
    "-Xconsumer.queued.max.messages.kbytes=" TALLY_KAFKA_PREFETCH_KBYTES,
    "-Xconsumer.fetch.queue.backoff.ms=" TALLY_KAFKA_PREFETCH_BACKOFF_MS,
    "-Xconsumer.queued.min.messages=" TALLY_KAFKA_PREFETCH_MIN_MESSAGES,
};
#define N_KAFKA_DEFAULTS (sizeof kafka_defaults / sizeof kafka_defaults[0])

int main(int argc, char **argv)
{
    aggregator_settings_t s;
    memset(&s, 0, sizeof s);
    const tally_config_option_t options[] = {
        TALLY_CONFIG_STR("brokers", &s.brokers, "127.0.0.1:19092", "Kafka bootstrap servers"),
        TALLY_CONFIG_STR("group", &s.group, "tally-aggregator", "consumer group shared by all instances"),
        TALLY_CONFIG_STR("instance-id", &s.instance_id, NULL,
                         "unique, stable name of this instance (default: the host name); "
                         "the transactional.id is <transactional-id-prefix>-<instance-id>"),
        TALLY_CONFIG_STR("transactional-id-prefix", &s.txn_prefix, "tally-aggregator",
                         "prefix of the transactional.id"),
        TALLY_CONFIG_STR("schemas", &s.schemas, "schemas", "the schema catalog folder"),
        TALLY_CONFIG_STR("usage-topic", &s.usage_topic, "tally.usage", "clean usage reports and seat events (in)"),
        TALLY_CONFIG_STR("rollups-topic", &s.rollups_topic, "tally.rollups",
                         "ApiUsageRollup and SeatRollup records (out, compacted)"),
        TALLY_CONFIG_STR("changelog-topic", &s.changelog_topic, "tally.aggregator.changelog",
                         "the state (out, compacted, as many partitions as the usage topic)"),
        TALLY_CONFIG_STR("dlq-topic", &s.dlq_topic, "tally.dlq", "records that cannot be applied (out, headers only)"),
        TALLY_CONFIG_INT("batch-max-records", &s.batch_max_records, "200000", 1, 1000000,
                         "records per transaction at most (a bound under backlog)"),
        TALLY_CONFIG_DURATION("batch-max-time", &s.batch_max_ms, "1s", 1, 60000,
                              "longest a transaction stays open under backlog (a drained input commits at once)"),
        TALLY_CONFIG_INT("open-days", &s.open_days, "35", 1, TALLY_ROLLUP_MAX_OPEN_DAYS,
                         "UTC days still open to late records; older days are final "
                         "(must equal tally-replay's; >= 33 accepts all the gateway accepts)"),
        TALLY_CONFIG_DURATION("reporter-idle", &s.reporter_idle_ms, "840h", 1000, TALLY_ROLLUP_MAX_IDLE_MS,
                              "a reporter silent this long (by record time) is forgotten; must exceed the "
                              "longest silence of a live reporter plus clock skew (must equal tally-replay's); "
                              "the default, 35 days, covers the gateway's 30-day event age and its 24 h skew"),
        TALLY_CONFIG_INT("expire-budget", &s.expire_budget, "1024", 1, 1 << 30,
                         "state slots swept for expiry per partition and transaction"),
        TALLY_CONFIG_DURATION("restore-timeout", &s.restore_timeout_ms, "2m", 1000, 3600000,
                              "how long an assignment may wait for an open changelog transaction to end, "
                              "and for changelog records"),
        TALLY_CONFIG_STR("admin-bind", &s.admin_bind, "127.0.0.1", "IPv4 address of /healthz, /readyz, /metrics"),
        TALLY_CONFIG_INT("admin-port", &s.admin_port, "9102", 0, 65535, "admin port (0: any free port)"),
        TALLY_CONFIG_ENUM("log-level", &s.log_level, "info", tally_log_level_names, "debug, info, warn or error"),
    };
    char err[1024], host[256];
    int rc = 1;
    tally_catalog_t *schemas = NULL;
    tally_aggregator_t *agg = NULL;
    tally_admin_t *admin = NULL;
    tally_metrics_t *metrics = tally_metrics_new();
    tally_config_t *cfg = tally_config_new(
        "tally-aggregator", TALLY_VERSION,
        "Turns the clean usage log (UsageReport, SeatEventClean) into cumulative ApiUsageRollup and SeatRollup "
        "records, exactly once (Kafka transactions: rollups, state changelog and input offsets commit together). "
        "On assignment each partition's state is restored from the changelog before its input is processed. "
        "Admin: GET /healthz, /readyz, /metrics. Signals: SIGTERM/SIGINT finish the open transaction, leave the "
        "group and exit. -X key=value passes a librdkafka setting to every client, -X consumer.key=value, "
        "-X producer.key=value and -X restore.key=value to one (the group consumer, the transactional producer, "
        "the changelog readers). Defaults: -X consumer.queued.max.messages.kbytes=" TALLY_KAFKA_PREFETCH_KBYTES ", "
        "-X consumer.fetch.queue.backoff.ms=" TALLY_KAFKA_PREFETCH_BACKOFF_MS ", -X consumer.queued.min.messages=" TALLY_KAFKA_PREFETCH_MIN_MESSAGES ".",
        options, sizeof options / sizeof options[0]);
    if ((rc = tally_process_parse(cfg, "tally-aggregator", argc, argv, kafka_defaults, N_KAFKA_DEFAULTS, &s.log_level)) != TALLY_PROCESS_RUN)
        goto cleanup;
    tally_build_info_announce("aggregator", "tally-aggregator", metrics);
    rc = 1;
    tally_process_signals(&stop_requested, NULL);

    const char *instance = tally_process_instance_id(s.instance_id, "aggregator", host, sizeof host);
    if ((schemas = tally_catalog_load(s.schemas, err, sizeof err)) == NULL) {
        tally_log_error("aggregator", "%s", err);
        goto cleanup;
    }
    tally_aggregator_opts_t ao = {
        .brokers = s.brokers, .group_id = s.group, .txn_id_prefix = s.txn_prefix, .instance_id = instance,
        .usage_topic = s.usage_topic, .rollups_topic = s.rollups_topic, .changelog_topic = s.changelog_topic,
        .dlq_topic = s.dlq_topic, .batch_max_records = (int)s.batch_max_records,
        .batch_max_ms = (int)s.batch_max_ms, .open_days = (int32_t)s.open_days,
        .reporter_idle_ms = s.reporter_idle_ms, .expire_budget = (size_t)s.expire_budget,
        .restore_timeout_ms = (int)s.restore_timeout_ms, .cfg = cfg, .metrics = metrics, .schemas = schemas,
    };
    if ((agg = tally_aggregator_new(&ao, err, sizeof err)) == NULL) {
        tally_log_error("aggregator", "%s", err);
        goto cleanup;
    }
    tally_admin_opts_t adm = {.bind = s.admin_bind, .port = (int)s.admin_port, .metrics = metrics,
                              .healthy = tally_txn_healthy, .ready = tally_txn_ready,
                              .arg = tally_aggregator_txn(agg)};
    if ((admin = tally_admin_start(&adm, err, sizeof err)) == NULL) {
        tally_log_error("aggregator", "%s", err);
        goto cleanup;
    }
    tally_log_info("aggregator", "admin listening on %s:%d; %s -> %s, %s (%s); open days %d, reporter idle %lld s",
                   s.admin_bind, tally_admin_port(admin), s.usage_topic, s.rollups_topic, s.changelog_topic,
                   s.dlq_topic, (int)s.open_days, (long long)(s.reporter_idle_ms / 1000));
    if (tally_aggregator_run(agg, &stop_requested, err, sizeof err) != 0) {
        tally_log_error("aggregator", "%s", err);
        goto cleanup;
    }
    tally_log_info("aggregator", "stopped cleanly");
    rc = 0;
cleanup:
    tally_admin_stop(admin);
    tally_aggregator_free(agg);
    tally_catalog_free(schemas);
    tally_config_free(cfg);
    tally_metrics_free(metrics);
    return rc;
}
