/* tally-anonymizer: the raw topics in, the clean topics and the DLQ out,
 * exactly once (docs/architecture.md "Processes"). Parses the configuration, loads
 * the catalogs and the pseudonym keys, starts the admin port, runs the
 * pipeline until SIGTERM. */
#include "admin_http.h"
#include "anonymizer.h"
#include "build_info.h"
#include "config.h"
#include "kafka.h"
#include "event_catalog.h"
#include "log.h"
#include "metrics.h"
#include "process.h"
#include "pseudonym.h"
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
    char *brokers, *group, *instance_id, *txn_prefix, *key_file, *schemas, *catalog;
    char *product_raw_topic, *usage_raw_topic, *product_topic, *usage_topic, *dlq_topic, *admin_bind;
    int64_t batch_max_records, batch_max_ms, admin_port;
    int log_level;
} anonymizer_settings_t;

static volatile sig_atomic_t stop_requested;

/* librdkafka settings of our own defaults, given before the operator's -X
 * pairs so that those win: the backlog prefetch of common/kafka.h (peak
 * RSS on a backlog of 1M records, tests/bench/anonymizer.sh: 167 MiB with a 16 MiB queue, 102 MiB with these). */
static const char *const kafka_defaults[] = {
    "-Xconsumer.queued.max.messages.kbytes=" TALLY_KAFKA_PREFETCH_KBYTES,
    "-Xconsumer.fetch.queue.backoff.ms=" TALLY_KAFKA_PREFETCH_BACKOFF_MS,
    "-Xconsumer.queued.min.messages=" TALLY_KAFKA_PREFETCH_MIN_MESSAGES,
};
#define N_KAFKA_DEFAULTS (sizeof kafka_defaults / sizeof kafka_defaults[0])

int main(int argc, char **argv)
{
    anonymizer_settings_t s;
    memset(&s, 0, sizeof s);
    const tally_config_option_t options[] = {
        TALLY_CONFIG_STR("brokers", &s.brokers, "127.0.0.1:19092", "Kafka bootstrap servers"),
        TALLY_CONFIG_STR("group", &s.group, "tally-anonymizer", "consumer group shared by all instances"),
        TALLY_CONFIG_STR("instance-id", &s.instance_id, NULL,
                         "unique, stable name of this instance (default: the host name); "
                         "the transactional.id is <transactional-id-prefix>-<instance-id>"),
        TALLY_CONFIG_STR("transactional-id-prefix", &s.txn_prefix, "tally-anonymizer",
                         "prefix of the transactional.id"),
        TALLY_CONFIG_STR("key-file", &s.key_file, NULL,
                         "pseudonym keys, mode 600: \"<version> <hex key>\" a line, newest used; with several keys, "
                         "\"seat <version>\" names the key seat references keep (required)"),
        TALLY_CONFIG_STR("schemas", &s.schemas, "schemas", "the schema catalog folder"),
        TALLY_CONFIG_STR("catalog", &s.catalog, "schemas/product-events.json", "the product-event catalog"),
        TALLY_CONFIG_STR("product-raw-topic", &s.product_raw_topic, "tally.product.raw", "raw product events (in)"),
        TALLY_CONFIG_STR("usage-raw-topic", &s.usage_raw_topic, "tally.usage.raw",
                         "raw usage reports and seat events (in)"),
        TALLY_CONFIG_STR("product-topic", &s.product_topic, "tally.product", "clean product events (out)"),
        TALLY_CONFIG_STR("usage-topic", &s.usage_topic, "tally.usage", "clean usage reports and seat events (out)"),
        TALLY_CONFIG_STR("dlq-topic", &s.dlq_topic, "tally.dlq", "records that cannot be cleaned (out, no content)"),
        TALLY_CONFIG_INT("batch-max-records", &s.batch_max_records, "10000", 1, 1000000,
                         "records per transaction at most (a bound under backlog)"),
        TALLY_CONFIG_DURATION("batch-max-time", &s.batch_max_ms, "200ms", 1, 60000,
                              "longest a transaction stays open under backlog (a drained input commits at once)"),
        TALLY_CONFIG_STR("admin-bind", &s.admin_bind, "127.0.0.1", "IPv4 address of /healthz, /readyz, /metrics"),
        TALLY_CONFIG_INT("admin-port", &s.admin_port, "9101", 0, 65535, "admin port (0: any free port)"),
        TALLY_CONFIG_ENUM("log-level", &s.log_level, "info", tally_log_level_names, "debug, info, warn or error"),
    };
    char err[1024], host[256];
    int rc = 1;
    tally_catalog_t *schemas = NULL;
    tally_event_catalog_t *events = NULL;
    tally_pseudonym_t *keys = NULL;
    tally_anonymizer_t *anon = NULL;
    tally_admin_t *admin = NULL;
    tally_metrics_t *metrics = tally_metrics_new();
    tally_config_t *cfg = tally_config_new(
        "tally-anonymizer", TALLY_VERSION,
        "Pseudonymizes, scrubs and filters raw product, usage and seat records into the clean topics, exactly "
        "once (Kafka transactions); what cannot be cleaned goes to the DLQ as headers only. "
        "Admin: GET /healthz, /readyz, /metrics. Signals: SIGTERM/SIGINT finish the open transaction, leave "
        "the group and exit. -X key=value passes a librdkafka setting to both clients, -X consumer.key=value "
        "and -X producer.key=value to one (e.g. -X consumer.group.instance.id=<name>: static membership). "
        "Defaults: -X consumer.queued.max.messages.kbytes=" TALLY_KAFKA_PREFETCH_KBYTES ", -X consumer.fetch.queue.backoff.ms=" TALLY_KAFKA_PREFETCH_BACKOFF_MS
        ", -X consumer.queued.min.messages=" TALLY_KAFKA_PREFETCH_MIN_MESSAGES ".",
        options, sizeof options / sizeof options[0]);
    if ((rc = tally_process_parse(cfg, "tally-anonymizer", argc, argv, kafka_defaults, N_KAFKA_DEFAULTS, &s.log_level)) != TALLY_PROCESS_RUN)
        goto cleanup;
    tally_build_info_announce("anonymizer", "tally-anonymizer", metrics);
    rc = 1;
    if (s.key_file == NULL) {
        fprintf(stderr, "tally-anonymizer: --key-file is required (see --help)\n");
        rc = 2;
        goto cleanup;
    }
    tally_process_signals(&stop_requested, NULL);

    const char *instance = tally_process_instance_id(s.instance_id, "anonymizer", host, sizeof host);
    /* The key file first: a refused one is a configuration error (exit 2). */
    if ((keys = tally_pseudonym_load(s.key_file, err, sizeof err)) == NULL) {
        tally_log_error("anonymizer", "%s", err);
        rc = 2;
        goto cleanup;
    }
    if ((schemas = tally_catalog_load(s.schemas, err, sizeof err)) == NULL ||
        (events = tally_event_catalog_load(s.catalog, err, sizeof err)) == NULL) {
        tally_log_error("anonymizer", "%s", err);
        goto cleanup;
    }
    tally_anonymizer_opts_t ao = {
        .brokers = s.brokers, .group_id = s.group, .txn_id_prefix = s.txn_prefix, .instance_id = instance,
        .product_raw_topic = s.product_raw_topic, .usage_raw_topic = s.usage_raw_topic,
        .product_topic = s.product_topic, .usage_topic = s.usage_topic, .dlq_topic = s.dlq_topic,
        .batch_max_records = (int)s.batch_max_records, .batch_max_ms = (int)s.batch_max_ms,
        .cfg = cfg, .metrics = metrics, .schemas = schemas, .events = events, .pseudonyms = keys,
    };
    if ((anon = tally_anonymizer_new(&ao, err, sizeof err)) == NULL) {
        tally_log_error("anonymizer", "%s", err);
        goto cleanup;
    }
    tally_admin_opts_t adm = {.bind = s.admin_bind, .port = (int)s.admin_port, .metrics = metrics,
                              .healthy = tally_txn_healthy, .ready = tally_txn_ready,
                              .arg = tally_anonymizer_txn(anon)};
    if ((admin = tally_admin_start(&adm, err, sizeof err)) == NULL) {
        tally_log_error("anonymizer", "%s", err);
        goto cleanup;
    }
    tally_log_info("anonymizer", "admin listening on %s:%d; %s + %s -> %s, %s, %s; pseudonym key v%d, seat key v%d",
                   s.admin_bind, tally_admin_port(admin), s.product_raw_topic, s.usage_raw_topic, s.product_topic,
                   s.usage_topic, s.dlq_topic, tally_pseudonym_version(keys),
                   tally_pseudonym_seat_version(keys));
    if (tally_anonymizer_run(anon, &stop_requested, err, sizeof err) != 0) {
        tally_log_error("anonymizer", "%s", err);
        goto cleanup;
    }
    tally_log_info("anonymizer", "stopped cleanly");
    rc = 0;
cleanup:
    tally_admin_stop(admin);
    tally_anonymizer_free(anon);
    tally_pseudonym_free(keys);
    tally_event_catalog_free(events);
    tally_catalog_free(schemas);
    tally_config_free(cfg);
    tally_metrics_free(metrics);
    return rc;
}
