/* tally-materializer: keeps the PostgreSQL read model of the Control Panel
 * from tally.rollups, tally.product and tally.controlpanel, exactly once in
 * effect (docs/architecture.md "PostgreSQL read model"). Parses the configuration,
 * applies the migrations, wires the parts and runs the loop. */
#include "admin_http.h"
#include "build_info.h"
#include "config.h"
#include "log.h"
#include "materializer.h"
#include "metrics.h"
#include "process.h"
#include "pg.h"
#include "pg_migrate.h"
#include "schema_catalog.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *brokers, *pg_url, *group, *client_id, *schema, *schemas, *migrations;
    char *rollups_topic, *product_topic, *controlpanel_topic, *alerts_topic, *dlq_topic, *admin_bind;
    int64_t batch_max_records, batch_max_bytes, batch_max_wait_ms, retry_initial_ms, retry_max_ms;
    int64_t shutdown_ms, admin_port;
    bool migrate_only, apply_migrations;
    int log_level;
} materializer_settings_t;

static volatile sig_atomic_t stop_requested;

/* Applies the migrations, retrying while PostgreSQL cannot be reached (it
 * may start after us). Returns 0, or -1 on a refused migration or a stop. */
static int migrate(const materializer_settings_t *s, bool retry)
{
    char err[1024];
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    for (int attempt = 0;; attempt++) {
        PGconn *conn = tally_pg_connect(s->pg_url, "tally-materializer-migrate", err, sizeof err);
        if (conn != NULL) {
            int applied = 0;
            int rc = tally_migrate_apply(conn, s->migrations, &applied, err, sizeof err);
            PQfinish(conn);
            if (rc != 0) {
                tally_log_error("materializer", "migrations: %s", err);
                return -1;
            }
            tally_log_info("materializer", "%d migration(s) applied; schema up to date", applied);
            return 0;
        }
        if (!retry) {
            tally_log_error("materializer", "%s", err);
            return -1;
        }
        int64_t d = tally_materializer_backoff_ms(attempt, s->retry_initial_ms, s->retry_max_ms, &seed);
        tally_log_warn("materializer", "%s; retrying in %lld ms", err, (long long)d);
        for (int64_t waited = 0; waited < d && !stop_requested; waited += 50)
            usleep(50 * 1000);
        if (stop_requested)
            return -1;
    }
}

int main(int argc, char **argv)
{
    materializer_settings_t s;
    memset(&s, 0, sizeof s);
    const tally_config_option_t options[] = {
        TALLY_CONFIG_STR("brokers", &s.brokers, "127.0.0.1:19092", "Kafka bootstrap servers"),
        TALLY_CONFIG_SECRET_STR("pg-url", &s.pg_url, "postgresql://postgres@127.0.0.1:55432/tally",
                                "PostgreSQL connection URL or key=value string; prefer TALLY_PG_URL"),
        TALLY_CONFIG_STR("group", &s.group, "tally-materializer",
                         "consumer group; also the key of its offsets in tally.kafka_offsets"),
        TALLY_CONFIG_STR("client-id", &s.client_id, "tally-materializer", "Kafka client.id"),
        TALLY_CONFIG_STR("rollups-topic", &s.rollups_topic, "tally.rollups", "topic of usage and seat rollups"),
        TALLY_CONFIG_STR("product-topic", &s.product_topic, "tally.product", "topic of clean product events"),
        TALLY_CONFIG_STR("controlpanel-topic", &s.controlpanel_topic, "tally.controlpanel",
                         "topic of Control Panel events"),
        TALLY_CONFIG_STR("alerts-topic", &s.alerts_topic, "tally.alerts",
                         "topic of usage alerts (tally-notifier); empty: alerts are not projected"),
        TALLY_CONFIG_STR("dlq-topic", &s.dlq_topic, "tally.dlq", "dead-letter topic for records that cannot be written"),
        TALLY_CONFIG_STR("schema", &s.schema, "tally", "PostgreSQL schema of the read model"),
        TALLY_CONFIG_STR("schemas", &s.schemas, "schemas", "the schema catalog folder"),
        TALLY_CONFIG_STR("migrations", &s.migrations, "deploy/postgres/migrations", "folder of NNNN_name.sql migrations"),
        TALLY_CONFIG_BOOL("migrate", &s.migrate_only, "false", "apply the migrations and exit"),
        TALLY_CONFIG_BOOL("apply-migrations", &s.apply_migrations, "true",
                          "apply the migrations at start (--no-apply-migrations: expect them applied)"),
        TALLY_CONFIG_INT("batch-max-records", &s.batch_max_records, "20000", 1, 1000000,
                         "records per batch (one PostgreSQL transaction) at most, under backlog"),
        TALLY_CONFIG_SIZE("batch-max-bytes", &s.batch_max_bytes, "16MiB", 1024, (int64_t)1 << 30,
                          "record bytes per batch at most, under backlog"),
        TALLY_CONFIG_DURATION("batch-max-wait", &s.batch_max_wait_ms, "500ms", 1, 600000,
                              "under backlog, longest a record waits in a batch (a drained input is written at once)"),
        TALLY_CONFIG_DURATION("retry-initial", &s.retry_initial_ms, "200ms", 1, 600000,
                              "first delay before retrying PostgreSQL (doubles, with jitter)"),
        TALLY_CONFIG_DURATION("retry-max", &s.retry_max_ms, "30s", 1, 3600000, "longest delay between retries"),
        TALLY_CONFIG_DURATION("shutdown-timeout", &s.shutdown_ms, "30s", 0, 600000,
                              "on SIGTERM, how long the last batch may be retried"),
        TALLY_CONFIG_STR("admin-bind", &s.admin_bind, "127.0.0.1", "IPv4 address of /healthz, /readyz, /metrics"),
        TALLY_CONFIG_INT("admin-port", &s.admin_port, "9103", 0, 65535, "admin HTTP port (0: any free port)"),
        TALLY_CONFIG_ENUM("log-level", &s.log_level, "info", tally_log_level_names, "debug, info, warn or error"),
    };
    char err[1024];
    int rc = 1;
    tally_catalog_t *catalog = NULL;
    tally_materializer_t *m = NULL;
    tally_admin_t *admin = NULL;
    tally_metrics_t *metrics = tally_metrics_new();
    tally_config_t *cfg = tally_config_new(
        "tally-materializer", TALLY_VERSION,
        "Keeps the PostgreSQL read model (Control Panel projection, daily usage, product analytics, views) from "
        "the rollups, product, Control Panel and alerts topics, exactly once: offsets live in PostgreSQL, in the same "
        "transaction as the rows. Admin: GET /healthz, /readyz, /metrics. SIGTERM/SIGINT: write the last batch "
        "and leave the group. -X key=value passes a setting to librdkafka.",
        options, sizeof options / sizeof options[0]);
    if ((rc = tally_process_parse(cfg, "tally-materializer", argc, argv, NULL, 0, &s.log_level)) != TALLY_PROCESS_RUN)
        goto cleanup;
    tally_build_info_announce("materializer", "tally-materializer", metrics);
    rc = 1;
    tally_process_signals(&stop_requested, NULL);

    if (s.migrate_only) {
        rc = migrate(&s, false) == 0 ? 0 : 1;
        goto cleanup;
    }
    if ((catalog = tally_catalog_load(s.schemas, err, sizeof err)) == NULL) {
        tally_log_error("materializer", "%s", err);
        goto cleanup;
    }
    tally_materializer_opts_t mo = {
        .brokers = s.brokers, .group = s.group, .client_id = s.client_id,
        .topics = {s.rollups_topic, s.product_topic, s.controlpanel_topic, *s.alerts_topic ? s.alerts_topic : NULL},
        .dlq_topic = s.dlq_topic,
        .pg_url = s.pg_url, .schema = s.schema,
        .batch_max_records = s.batch_max_records, .batch_max_bytes = s.batch_max_bytes,
        .batch_max_wait_ms = s.batch_max_wait_ms, .retry_initial_ms = s.retry_initial_ms,
        .retry_max_ms = s.retry_max_ms, .shutdown_timeout_ms = s.shutdown_ms,
        .catalog = catalog, .metrics = metrics, .cfg = cfg, .stop = &stop_requested,
    };
    if ((m = tally_materializer_new(&mo, err, sizeof err)) == NULL) {
        tally_log_error("materializer", "%s", err);
        goto cleanup;
    }
    tally_admin_opts_t ao = {.bind = s.admin_bind, .port = (int)s.admin_port, .metrics = metrics,
                             .healthy = tally_materializer_healthy, .ready = tally_materializer_ready, .arg = m};
    if ((admin = tally_admin_start(&ao, err, sizeof err)) == NULL) {
        tally_log_error("materializer", "%s", err);
        goto cleanup;
    }
    tally_log_info("materializer", "admin listening on %s:%d", s.admin_bind, tally_admin_port(admin));
    if (s.apply_migrations && migrate(&s, true) != 0)
        goto cleanup;
    if (stop_requested) {
        rc = 0;
        goto cleanup;
    }
    rc = tally_materializer_run(m) == 0 ? 0 : 1;
    if (rc == 0)
        tally_log_info("materializer", "stopped cleanly");
cleanup:
    tally_admin_stop(admin);
    tally_materializer_free(m);
    tally_catalog_free(catalog);
    tally_config_free(cfg);
    tally_metrics_free(metrics);
    return rc;
}
