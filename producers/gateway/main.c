/* tally-gateway: HTTP ingest of product, usage, seat and Control Panel
 * events into Kafka (docs/architecture.md "Gateway HTTP API"). Parses the
 * configuration, wires the parts, and waits for a signal. */
#include "admin_http.h"
#include "build_info.h"
#include "config.h"
#include "event_catalog.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "optout.h"
#include "process.h"
#include "publisher.h"
#include "ratelimit.h"
#include "schema_catalog.h"
#include "server.h"
#include "timeutil.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *brokers, *bind, *admin_bind, *schemas, *catalog, *cors_origins, *admin_token;
    char *keys_file, *keys_pg_url, *optout_file;
    char *product_topic, *usage_topic, *controlpanel_topic;
    int64_t port, threads, connection_limit, per_client_limit, timeout_ms;
    int64_t max_body, max_inflated, max_batch, memory_budget, max_string;
    int64_t keys_refresh_ms, keys_max_stale_ms, keys_pg_timeout_ms, auth_failures, auth_failure_window_ms;
    int64_t rate, burst, max_age_ms, max_skew_ms;
    int64_t ack_timeout_ms, ack_linger_ms, queue_max_messages, queue_max_bytes, shutdown_ms;
    int64_t request_deadline_ms, admin_port, trusted_proxies;
    bool trust_forwarded_for, webhook_allow_http_loopback;
    int log_level;
} gateway_settings_t;

static volatile sig_atomic_t stop_requested, reload_requested;

int main(int argc, char **argv)
{
    gateway_settings_t s;
    memset(&s, 0, sizeof s);
    const tally_config_option_t options[] = {
        TALLY_CONFIG_STR("brokers", &s.brokers, "127.0.0.1:19092", "Kafka bootstrap servers"),
        TALLY_CONFIG_STR("bind", &s.bind, "127.0.0.1", "IPv4 address to listen on (0.0.0.0: all)"),
        TALLY_CONFIG_INT("port", &s.port, "8080", 0, 65535, "HTTP port (0: any free port, printed at start)"),
        TALLY_CONFIG_INT("threads", &s.threads, "4", 1, 256, "HTTP worker threads"),
        TALLY_CONFIG_INT("connection-limit", &s.connection_limit, "1024", 1, 100000, "open connections at most"),
        TALLY_CONFIG_INT("per-client-connection-limit", &s.per_client_limit, "64", 0, 100000,
                         "open connections per client address at most (0: no limit)"),
        TALLY_CONFIG_DURATION("timeout", &s.timeout_ms, "30s", 1000, 3600000,
                              "idle connection timeout (slow clients are cut off)"),
        TALLY_CONFIG_DURATION("request-deadline", &s.request_deadline_ms, "30s", 1000, 3600000,
                              "a request's whole body must arrive within this, however steadily it trickles; "
                              "past it the connection is closed unanswered and its memory freed"),
        TALLY_CONFIG_INT("admin-port", &s.admin_port, "0", 0, 65535,
                         "port of /healthz, /readyz and /metrics (0: served on the ingest port; otherwise the "
                         "ingest port answers 404 on them)"),
        TALLY_CONFIG_STR("admin-bind", &s.admin_bind, "127.0.0.1", "IPv4 address of the admin port"),
        TALLY_CONFIG_SIZE("max-body", &s.max_body, "1MiB", 1024, 256 << 20, "largest request body as sent"),
        TALLY_CONFIG_SIZE("max-inflated", &s.max_inflated, "8MiB", 1024, 1 << 30, "largest body after gzip"),
        TALLY_CONFIG_INT("max-batch", &s.max_batch, "1000", 1, 100000, "events per request at most"),
        TALLY_CONFIG_SIZE("memory-budget", &s.memory_budget, "64MiB", 1 << 20, (int64_t)1 << 34,
                          "request bodies held at once, all connections together"),
        TALLY_CONFIG_SIZE("max-string", &s.max_string, "16KiB", 64, 1 << 20, "longest string field of an event"),
        TALLY_CONFIG_STR("cors-origins", &s.cors_origins, "",
                         "origins allowed to post product events from a browser, comma-separated, * for any"),
        TALLY_CONFIG_SECRET_STR("admin-token", &s.admin_token, NULL,
                                "Control Panel admin token, at least 32 characters (enables /v1/controlpanel/events); "
                                "prefer TALLY_ADMIN_TOKEN"),
        TALLY_CONFIG_STR("keys-file", &s.keys_file, NULL,
                         "API key hashes from a file (<sha256> <tenant> <environment> [production|staging|"
                         "development] a line; no kind: production) instead of PostgreSQL"),
        TALLY_CONFIG_SECRET_STR("keys-pg-url", &s.keys_pg_url, "postgresql://tally_gateway@127.0.0.1:55432/tally",
                                "PostgreSQL holding the view tally.gateway_keys, as the role tally_gateway "
                                "(migration 0005), which may read that view only"),
        TALLY_CONFIG_DURATION("keys-refresh", &s.keys_refresh_ms, "30s", 100, 86400000,
                              "how often API keys are reloaded (and on SIGHUP)"),
        TALLY_CONFIG_DURATION("keys-max-stale", &s.keys_max_stale_ms, "15m", 0, (int64_t)720 * 3600000,
                              "once the last successful key load is older, usage and seat routes answer 503 "
                              "and /readyz fails (a revoked key must not live on); 0: never"),
        TALLY_CONFIG_DURATION("keys-pg-timeout", &s.keys_pg_timeout_ms, "10s", 100, 600000,
                              "a key load from PostgreSQL (connect and query) at most; also its statement_timeout"),
        TALLY_CONFIG_INT("auth-failures", &s.auth_failures, "20", 0, 1000000,
                         "failed authentications (401) per client address per --auth-failure-window, then 429 "
                         "(0: no limit)"),
        TALLY_CONFIG_DURATION("auth-failure-window", &s.auth_failure_window_ms, "1m", 1000, 86400000,
                              "the window of --auth-failures (the allowance refills evenly over it)"),
        TALLY_CONFIG_STR("optout-file", &s.optout_file, NULL,
                         "project ids whose product events are dropped, one a line (reloaded on SIGHUP)"),
        TALLY_CONFIG_INT("rate", &s.rate, "20", 1, 1000000, "product requests per second per client address"),
        TALLY_CONFIG_INT("burst", &s.burst, "100", 1, 1000000, "product requests a client may send at once"),
        TALLY_CONFIG_INT("trusted-proxies", &s.trusted_proxies, "0", 0, 16,
                         "proxies in front of the gateway (the socket's peer is the first), each appending the address "
                         "it received the request from to X-Forwarded-For: the client is the "
                         "N-th entry from the right of all X-Forwarded-For lines (the leftmost if fewer; the "
                         "socket address if one read is not an IP address). 0: the socket address, "
                         "X-Forwarded-For ignored"),
        TALLY_CONFIG_BOOL("trust-forwarded-for", &s.trust_forwarded_for, "false",
                          "deprecated alias of --trusted-proxies=1"),
        TALLY_CONFIG_BOOL("webhook-allow-http-loopback", &s.webhook_allow_http_loopback, "false",
                          "a WebhookEndpointSet may name http://127.x or http://[::1] (local mode); otherwise "
                          "https:// only"),
        TALLY_CONFIG_DURATION("max-event-age", &s.max_age_ms, "720h", 60000, (int64_t)87600 * 3600000,
                              "oldest event time accepted"),
        TALLY_CONFIG_DURATION("max-clock-skew", &s.max_skew_ms, "24h", 1000, (int64_t)720 * 3600000,
                              "how far in the future an event time may be"),
        TALLY_CONFIG_DURATION("ack-timeout", &s.ack_timeout_ms, "10s", 1000, 300000,
                              "how long usage, seat and Control Panel requests wait for Kafka's acknowledgement"),
        TALLY_CONFIG_DURATION("ack-linger", &s.ack_linger_ms, "1ms", 0, 5000,
                              "linger.ms of the producer of usage, seat and Control Panel requests of one record, "
                              "which has its own connection: they wait for the acknowledgement, so it sends within "
                              "this (0 wakes librdkafka per record: more CPU, fewer records a second); -X linger.ms "
                              "sets the other producer only (5 ms by default), which also takes requests of several "
                              "records"),
        TALLY_CONFIG_INT("queue-max-messages", &s.queue_max_messages, "100000", 100, 10000000,
                         "records each producer queues at most (then 503)"),
        TALLY_CONFIG_SIZE("queue-max-bytes", &s.queue_max_bytes, "32MiB", 1 << 20, (int64_t)1 << 32,
                          "bytes each producer queues at most (then 503)"),
        TALLY_CONFIG_DURATION("shutdown-timeout", &s.shutdown_ms, "30s", 0, 600000,
                              "on SIGTERM, how long to finish requests and flush; requests still waiting for Kafka's "
                              "acknowledgement then get 503 \"shutting down\" (exit status 1 when records were left "
                              "unacknowledged)"),
        TALLY_CONFIG_STR("schemas", &s.schemas, "schemas", "the schema catalog folder"),
        TALLY_CONFIG_STR("catalog", &s.catalog, "schemas/product-events.json", "the product-event catalog"),
        TALLY_CONFIG_STR("product-topic", &s.product_topic, "tally.product.raw", "topic of product events"),
        TALLY_CONFIG_STR("usage-topic", &s.usage_topic, "tally.usage.raw", "topic of usage reports and seat events"),
        TALLY_CONFIG_STR("controlpanel-topic", &s.controlpanel_topic, "tally.controlpanel",
                         "topic of Control Panel events"),
        TALLY_CONFIG_ENUM("log-level", &s.log_level, "info", tally_log_level_names, "debug, info, warn or error"),
    };
    char err[1024];
    int rc = 1;
    tally_catalog_t *schemas = NULL;
    tally_event_catalog_t *events = NULL;
    tally_keys_t *keys = NULL;
    tally_optout_t *optout = NULL;
    tally_ratelimit_t *rl = NULL, *auth_rl = NULL;
    tally_publisher_t *pub = NULL;
    tally_server_t *srv = NULL;
    tally_admin_t *admin = NULL;
    tally_metrics_t *metrics = tally_metrics_new();
    tally_config_t *cfg = tally_config_new(
        "tally-gateway", TALLY_VERSION,
        "HTTP ingest of product, usage, seat and Control Panel events into Kafka. "
        "Routes: POST /v1/product/events, /v1/usage/reports, /v1/usage/seats, /v1/controlpanel/events; "
        "GET /healthz, /readyz, /metrics (on --admin-port when set). Seat events need an API key of a production "
        "environment. Signals: SIGTERM/SIGINT drain and exit, SIGHUP reloads keys and opt-outs.",
        options, sizeof options / sizeof options[0]);
    if ((rc = tally_process_parse(cfg, "tally-gateway", argc, argv, NULL, 0, &s.log_level)) != TALLY_PROCESS_RUN)
        goto cleanup;
    tally_build_info_announce("gateway", "tally-gateway", metrics);
    if (s.admin_token && *s.admin_token && tally_keys_check_admin_token(s.admin_token, err, sizeof err) != 0) {
        /* A configuration error, as tally_process_parse's: exit code 2. */
        tally_log_error("gateway", "--admin-token: %s", err);
        rc = 2;
        goto cleanup;
    }
    rc = 1;
    tally_process_signals(&stop_requested, &reload_requested);

    if ((schemas = tally_catalog_load(s.schemas, err, sizeof err)) == NULL ||
        (events = tally_event_catalog_load(s.catalog, err, sizeof err)) == NULL) {
        tally_log_error("gateway", "%s", err);
        goto cleanup;
    }
    keys = s.keys_file ? tally_keys_new_file(s.keys_file) : tally_keys_new_postgres(s.keys_pg_url);
    tally_keys_configure(keys, &(tally_keys_limits_t){.timeout_ms = s.keys_pg_timeout_ms,
                                                      .max_stale_ms = s.keys_max_stale_ms});
    /* The refresh thread loads the keys at once, then every --keys-refresh
     * and on SIGHUP: never on this thread, so a hung database cannot hold
     * up signals. Until the first load the usage and seat routes answer
     * 503 and /readyz fails. */
    if (tally_keys_start_refresh(keys, s.keys_refresh_ms, err, sizeof err) != 0) {
        tally_log_error("gateway", "%s", err);
        goto cleanup;
    }
    if (s.optout_file && (optout = tally_optout_new(s.optout_file, err, sizeof err)) == NULL) {
        tally_log_error("gateway", "%s", err);
        goto cleanup;
    }
    tally_ratelimit_config_t rlc = {.rate_per_second = (double)s.rate, .burst = (double)s.burst,
                                    .capacity = 65536, .ipv6_prefix_bits = 64};
    if ((rl = tally_ratelimit_new(&rlc, err, sizeof err)) == NULL) {
        tally_log_error("gateway", "%s", err);
        goto cleanup;
    }
    if (s.auth_failures > 0) {
        tally_ratelimit_config_t arc = {.rate_per_second = (double)s.auth_failures * 1000.0 /
                                                           (double)s.auth_failure_window_ms,
                                        .burst = (double)s.auth_failures, .capacity = 16384, .ipv6_prefix_bits = 64};
        if ((auth_rl = tally_ratelimit_new(&arc, err, sizeof err)) == NULL) {
            tally_log_error("gateway", "--auth-failures: %s", err);
            goto cleanup;
        }
    }
    tally_publisher_opts_t po = {
        .brokers = s.brokers,
        .topics = {s.product_topic, s.usage_topic, s.controlpanel_topic},
        .ack_timeout_ms = s.ack_timeout_ms,
        .ack_linger_ms = s.ack_linger_ms,
        .queue_max_messages = s.queue_max_messages,
        .queue_max_kbytes = s.queue_max_bytes / 1024,
        .cfg = cfg,
        .metrics = metrics,
    };
    if ((pub = tally_publisher_new(&po, err, sizeof err)) == NULL) {
        tally_log_error("gateway", "%s", err);
        goto cleanup;
    }
    tally_server_opts_t so = {
        .bind = s.bind, .port = (int)s.port, .threads = (int)s.threads,
        .connection_limit = (int)s.connection_limit, .per_client_connection_limit = (int)s.per_client_limit,
        .timeout_s = (int)(s.timeout_ms / 1000), .max_body = (size_t)s.max_body,
        .max_inflated = (size_t)s.max_inflated, .max_batch = (size_t)s.max_batch,
        .memory_budget = (size_t)s.memory_budget, .cors_origins = s.cors_origins,
        .admin_token = (s.admin_token && *s.admin_token) ? s.admin_token : NULL,
        .request_deadline_ms = s.request_deadline_ms,
        .trusted_proxies = s.trusted_proxies == 0 && s.trust_forwarded_for ? 1 : (int)s.trusted_proxies,
        .admin_elsewhere = s.admin_port > 0,
        .rules = {.schemas = schemas, .events = events, .optout = optout, .max_past_ms = s.max_age_ms,
                  .max_future_ms = s.max_skew_ms, .max_string = (size_t)s.max_string,
                  .cp = {.webhook_allow_http_loopback = s.webhook_allow_http_loopback}},
        .publisher = pub, .keys = keys, .ratelimit = rl, .auth_failures = auth_rl, .metrics = metrics,
    };
    if ((srv = tally_server_new(&so, err, sizeof err)) == NULL) {
        tally_log_error("gateway", "%s", err);
        goto cleanup;
    }
    tally_log_info("gateway", "listening on %s:%d, producing to %s", s.bind, tally_server_port(srv), s.brokers);
    if (s.admin_port > 0) {
        tally_admin_opts_t ao = {.bind = s.admin_bind, .port = (int)s.admin_port, .metrics = metrics,
                                 .healthy = tally_server_check_healthy, .ready = tally_server_check_ready,
                                 .arg = srv, .refresh = tally_server_refresh_gauges};
        if ((admin = tally_admin_start(&ao, err, sizeof err)) == NULL) {
            tally_log_error("gateway", "%s", err);
            goto cleanup;
        }
        tally_log_info("gateway", "admin routes on %s:%d", s.admin_bind, tally_admin_port(admin));
    }

    while (!stop_requested) {
        tally_sleep_ms(100);
        if (reload_requested) {
            reload_requested = 0;
            if (tally_keys_request_refresh(keys) != 0)
                tally_log_warn("gateway", "SIGHUP: no API key refresh thread");
            if (optout && tally_optout_reload(optout, err, sizeof err) != 0)
                tally_log_warn("gateway", "SIGHUP: opt-out list kept: %s", err);
            tally_log_info("gateway", "SIGHUP: opt-outs reloaded, API keys refreshing");
        }
    }
    /* Drain: stop accepting; flush, so requests waiting for acks get them
     * (linger cut short) and their 202; answer what is in flight within
     * --shutdown-timeout; then the server answers those still waiting
     * with 503 and stops; the producer flushes what is left. Exit 0, or 1
     * when records were left unacknowledged. */
    tally_log_info("gateway", "stopping: draining %d request(s) in flight", tally_server_inflight(srv));
    tally_server_drain(srv);
    int64_t until = tally_mono_ms() + s.shutdown_ms;
    (void)tally_publisher_flush(pub, (int)s.shutdown_ms);
    while (tally_server_inflight(srv) > 0 && tally_mono_ms() < until)
        tally_sleep_ms(50);
    if (tally_server_inflight(srv) > 0)
        tally_log_warn("gateway", "%d request(s) still in flight at the shutdown timeout", tally_server_inflight(srv));
    tally_admin_stop(admin);
    admin = NULL;
    tally_server_free(srv);
    srv = NULL;
    int left = tally_publisher_close(pub, (int)s.shutdown_ms);
    pub = NULL;
    if (left > 0) {
        tally_log_error("gateway", "%d record(s) not acknowledged at exit", left);
        goto cleanup;
    }
    tally_log_info("gateway", "stopped cleanly");
    rc = 0;
cleanup:
    tally_admin_stop(admin);
    tally_server_free(srv);
    tally_publisher_close(pub, 5000);
    tally_ratelimit_free(rl);
    tally_ratelimit_free(auth_rl);
    tally_optout_free(optout);
    tally_keys_free(keys);
    tally_event_catalog_free(events);
    tally_catalog_free(schemas);
    tally_config_free(cfg);
    tally_metrics_free(metrics);
    return rc;
}
