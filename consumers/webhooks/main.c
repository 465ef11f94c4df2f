/* tally-webhooks: usage alerts in, signed webhooks out (docs/architecture.md
 * "Processes"). Parses the configuration, loads the schemas, the webhook
 * keys and the vendor secret, starts the delivery thread and the admin
 * port, runs the pipeline until SIGTERM. */
#include "admin_http.h"
#include "build_info.h"
#include "config.h"
#include "endpoints.h"
#include "log.h"
#include "metrics.h"
#include "process.h"
#include "schema_catalog.h"
#include "textbuf.h"
#include "txn_pipeline.h"
#include "webhook_seal.h"
#include "webhook_sign.h"
#include "webhook_url.h"
#include "webhooks.h"
#include "worker.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *brokers, *group, *instance_id, *txn_prefix, *schemas, *alerts_topic, *cp_topic, *deliveries_topic;
    char *webhook_keys, *vendor_url, *vendor_secret_file, *admin_bind;
    bool allow_private, allow_http_loopback, print_public_keys;
    int64_t request_timeout_ms, backoff_min_ms, backoff_max_ms, retry_for_ms, max_in_flight;
    int64_t batch_max_records, batch_max_ms, admin_port;
    int log_level;
} webhooks_settings_t;

static volatile sig_atomic_t stop_requested;

typedef struct {
    tally_webhooks_t *wh;
    tally_worker_t *worker;
} health_t;

static int healthy(void *arg, char *why, size_t whysize)
{
    health_t *h = arg;
    return tally_worker_healthy(h->worker, why, whysize) && tally_txn_healthy(tally_webhooks_txn(h->wh), why, whysize);
}

static int ready(void *arg, char *why, size_t whysize)
{
    health_t *h = arg;
    return healthy(arg, why, whysize) && tally_txn_ready(tally_webhooks_txn(h->wh), why, whysize);
}

int main(int argc, char **argv)
{
    webhooks_settings_t s;
    memset(&s, 0, sizeof s);
    const tally_config_option_t options[] = {
        TALLY_CONFIG_STR("brokers", &s.brokers, "127.0.0.1:19092", "Kafka bootstrap servers"),
        TALLY_CONFIG_STR("group", &s.group, "tally-webhooks", "consumer group shared by all instances"),
        TALLY_CONFIG_STR("instance-id", &s.instance_id, NULL,
                         "unique, stable name of this instance (default: the host name); "
                         "the transactional.id is <transactional-id-prefix>-<instance-id>"),
        TALLY_CONFIG_STR("transactional-id-prefix", &s.txn_prefix, "tally-webhooks", "prefix of the transactional.id"),
        TALLY_CONFIG_STR("schemas", &s.schemas, "schemas", "the schema catalog folder"),
        TALLY_CONFIG_STR("alerts-topic", &s.alerts_topic, "tally.alerts", "usage alerts (in)"),
        TALLY_CONFIG_STR("controlpanel-topic", &s.cp_topic, "tally.controlpanel",
                         "Control Panel events: the tenants' webhook endpoints (in, read whole)"),
        TALLY_CONFIG_STR("deliveries-topic", &s.deliveries_topic, "tally.webhooks.deliveries",
                         "delivery state, compacted, key <alert_id>/<target> (in on start, out)"),
        TALLY_CONFIG_STR("webhook-keys", &s.webhook_keys, NULL,
                         "webhook key file, mode 600: \"<key id> <hex 32-byte seed>\" lines, the last current; "
                         "opens the tenants' sealed secrets"),
        TALLY_CONFIG_BOOL("print-public-keys", &s.print_public_keys, "false",
                          "print the public keys of --webhook-keys (\"<key id> <hex>\" lines, the last current: what "
                          "callers seal tenant secrets to) and exit"),
        TALLY_CONFIG_STR("vendor-url", &s.vendor_url, NULL, "the vendor's webhook URL: every alert goes there too"),
        TALLY_CONFIG_STR("vendor-secret-file", &s.vendor_secret_file, NULL,
                         "the vendor webhook's secret, mode 600: one \"whsec_...\" line"),
        TALLY_CONFIG_BOOL("allow-private-addresses", &s.allow_private, "false",
                          "send to private, link-local, CGNAT and other non-public addresses too"),
        TALLY_CONFIG_BOOL("webhook-allow-http-loopback", &s.allow_http_loopback, "false",
                          "local mode: http:// (and https://) to 127.0.0.0/8 and [::1]"),
        TALLY_CONFIG_DURATION("request-timeout", &s.request_timeout_ms, "10s", 100, 600000,
                              "longest one attempt may take"),
        TALLY_CONFIG_DURATION("backoff-min", &s.backoff_min_ms, "5s", 1, 86400000,
                              "first backoff ceiling (full jitter, doubling per failure)"),
        TALLY_CONFIG_DURATION("backoff-max", &s.backoff_max_ms, "1h", 1, 86400000, "largest backoff ceiling"),
        TALLY_CONFIG_DURATION("retry-for", &s.retry_for_ms, "24h", 1, (int64_t)30 * 86400000,
                              "how long a delivery is retried before it is dead"),
        TALLY_CONFIG_INT("max-in-flight", &s.max_in_flight, "32", 1, 10000, "attempts in parallel at most"),
        TALLY_CONFIG_INT("batch-max-records", &s.batch_max_records, "1000", 1, 1000000,
                         "alerts per transaction at most (a bound under backlog)"),
        TALLY_CONFIG_DURATION("batch-max-time", &s.batch_max_ms, "200ms", 1, 60000,
                              "longest a transaction stays open under backlog"),
        TALLY_CONFIG_STR("admin-bind", &s.admin_bind, "127.0.0.1", "IPv4 address of /healthz, /readyz, /metrics"),
        TALLY_CONFIG_INT("admin-port", &s.admin_port, "9106", 0, 65535, "admin port (0: any free port)"),
        TALLY_CONFIG_ENUM("log-level", &s.log_level, "info", tally_log_level_names, "debug, info, warn or error"),
    };
    char err[1024], host[256];
    int rc = 1;
    bool curl_ready = false;
    tally_catalog_t *schemas = NULL;
    tally_webhook_keyring_t *keys = NULL;
    tally_webhook_secret_t vendor_secret;
    memset(&vendor_secret, 0, sizeof vendor_secret);
    tally_endpoints_t *endpoints = tally_endpoints_new();
    tally_worker_t *worker = NULL;
    tally_webhooks_t *wh = NULL;
    tally_admin_t *admin = NULL;
    tally_metrics_t *metrics = tally_metrics_new();
    tally_config_t *cfg = tally_config_new(
        "tally-webhooks", TALLY_VERSION,
        "POSTs every usage alert of tally.alerts, signed (Standard Webhooks), to the tenant's webhook endpoint "
        "and to the vendor's URL; retries with exponential backoff and full jitter for --retry-for, then records "
        "it dead with the reason. Delivery state lives in the compacted tally.webhooks.deliveries topic and is "
        "restored on start. Only https URLs to public addresses, unless told otherwise. "
        "Admin: GET /healthz, /readyz, /metrics. Signals: SIGTERM/SIGINT finish the open transaction, leave "
        "the group and exit. -X key=value passes a librdkafka setting to every client, -X consumer.key=value to the "
        "alerts consumer only, -X producer.key=value to the producers only.",
        options, sizeof options / sizeof options[0]);
    if ((rc = tally_process_parse(cfg, "tally-webhooks", argc, argv, NULL, 0, &s.log_level)) != TALLY_PROCESS_RUN)
        goto cleanup;
    tally_build_info_announce("webhooks", "tally-webhooks", metrics);
    rc = 2;
    if ((s.vendor_url == NULL) != (s.vendor_secret_file == NULL)) {
        fprintf(stderr, "tally-webhooks: --vendor-url and --vendor-secret-file go together (see --help)\n");
        goto cleanup;
    }
    if (s.webhook_keys != NULL && (keys = tally_webhook_keyring_load(s.webhook_keys, err, sizeof err)) == NULL) {
        tally_log_error("webhooks", "%s", err);
        goto cleanup;
    }
    unsigned flags = (s.allow_private ? TALLY_WEBHOOK_URL_ALLOW_PRIVATE : 0) |
                     (s.allow_http_loopback ? TALLY_WEBHOOK_URL_ALLOW_LOOPBACK : 0);
    if (s.vendor_url != NULL) {
        tally_webhook_url_t u;
        if (tally_webhook_secret_load(s.vendor_secret_file, &vendor_secret, err, sizeof err) != 0) {
            tally_log_error("webhooks", "%s", err);
            goto cleanup;
        }
        if (tally_webhook_url_check(s.vendor_url, flags, &u, err, sizeof err) != 0) {
            tally_log_error("webhooks", "--vendor-url refused: %s", err);
            goto cleanup;
        }
    }
    if (s.print_public_keys) {
        if (keys == NULL) {
            fprintf(stderr, "tally-webhooks: --print-public-keys needs --webhook-keys\n");
            goto cleanup;
        }
        tally_textbuf_t pub = {0};
        tally_webhook_keyring_write_public(keys, &pub);
        fputs(pub.data, stdout);
        tally_textbuf_free(&pub);
        rc = 0;
        goto cleanup;
    }
    if (keys == NULL)
        tally_log_warn("webhooks", "no --webhook-keys: tenant endpoints cannot be used (their deliveries die)");
    rc = 1;
    tally_process_signals(&stop_requested, NULL);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        tally_log_error("webhooks", "libcurl failed to start");
        goto cleanup;
    }
    curl_ready = true;
    const char *instance = tally_process_instance_id(s.instance_id, "webhooks", host, sizeof host);
    char client_id[512];
    snprintf(client_id, sizeof client_id, "%s-%s", s.txn_prefix, instance);
    if ((schemas = tally_catalog_load(s.schemas, err, sizeof err)) == NULL) {
        tally_log_error("webhooks", "%s", err);
        goto cleanup;
    }
    tally_worker_opts_t wo = {
        .brokers = s.brokers, .controlpanel_topic = s.cp_topic, .deliveries_topic = s.deliveries_topic,
        .client_id = client_id, .cfg = cfg, .schemas = schemas, .endpoints = endpoints, .keys = keys,
        .vendor_url = s.vendor_url, .vendor_secret = s.vendor_url ? &vendor_secret : NULL, .url_flags = flags,
        .policy = {.backoff_min_ms = s.backoff_min_ms, .backoff_max_ms = s.backoff_max_ms,
                   .retry_for_ms = s.retry_for_ms},
        .timeout_ms = (long)s.request_timeout_ms, .max_in_flight = (int)s.max_in_flight, .metrics = metrics,
        .stop = &stop_requested,
    };
    if ((worker = tally_worker_new(&wo, err, sizeof err)) == NULL || tally_worker_start(worker, err, sizeof err) != 0) {
        tally_log_error("webhooks", "%s", err);
        goto cleanup;
    }
    tally_webhooks_opts_t ho = {
        .brokers = s.brokers, .group_id = s.group, .txn_id_prefix = s.txn_prefix, .instance_id = instance,
        .alerts_topic = s.alerts_topic, .deliveries_topic = s.deliveries_topic,
        .batch_max_records = (int)s.batch_max_records, .batch_max_ms = (int)s.batch_max_ms, .cfg = cfg,
        .metrics = metrics, .schemas = schemas, .endpoints = endpoints, .worker = worker,
        .vendor = s.vendor_url != NULL, .stop = &stop_requested,
    };
    if ((wh = tally_webhooks_new(&ho, err, sizeof err)) == NULL) {
        tally_log_error("webhooks", "%s", err);
        goto cleanup;
    }
    health_t health = {.wh = wh, .worker = worker};
    tally_admin_opts_t adm = {.bind = s.admin_bind, .port = (int)s.admin_port, .metrics = metrics,
                              .healthy = healthy, .ready = ready, .arg = &health};
    if ((admin = tally_admin_start(&adm, err, sizeof err)) == NULL) {
        tally_log_error("webhooks", "%s", err);
        goto cleanup;
    }
    tally_log_info("webhooks", "admin listening on %s:%d; %s -> %s; vendor target %s; private addresses %s",
                   s.admin_bind, tally_admin_port(admin), s.alerts_topic, s.deliveries_topic,
                   s.vendor_url ? "on" : "off", s.allow_private ? "allowed" : "refused");
    if (tally_webhooks_run(wh, err, sizeof err) != 0) {
        tally_log_error("webhooks", "%s", err);
        goto cleanup;
    }
    if (tally_worker_failed(worker)) {
        tally_log_error("webhooks", "stopped: the delivery thread failed");
        goto cleanup;
    }
    tally_log_info("webhooks", "stopped cleanly");
    rc = 0;
cleanup:
    tally_admin_stop(admin);
    tally_webhooks_free(wh);
    tally_worker_free(worker);
    tally_endpoints_free(endpoints);
    tally_webhook_keyring_free(keys);
    tally_webhook_secret_clear(&vendor_secret);
    tally_catalog_free(schemas);
    tally_config_free(cfg);
    tally_metrics_free(metrics);
    if (curl_ready)
        curl_global_cleanup();
    return rc;
}
