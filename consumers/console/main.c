/* tally-console: the Control Panel's usage pages and JSON API, read from
 * PostgreSQL as tally_reader (docs/console.md). Parses the configuration,
 * wires the parts, serves until SIGTERM; or runs one token command. */
#include "auth.h"
#include "build_info.h"
#include "config.h"
#include "dbpool.h"
#include "download.h"
#include "issue_token.h"
#include "alert_settings.h"
#include "license_keys.h"
#include "log.h"
#include "metrics.h"
#include "pages.h"
#include "process.h"
#include "schema_catalog.h"
#include "server.h"
#include "session.h"
#include "timeutil.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <time.h>

typedef struct {
    char *bind, *pg_url, *staff_token, *gateway_url, *admin_token, *brokers, *schemas, *usage_topic;
    char *tenant, *member, *token_id, *now, *license_keys, *webhook_public_key;
    int64_t port, threads, connection_limit, per_client_limit, timeout_ms, header_memory, max_form;
    int64_t session_ttl_ms, session_recheck_ms, max_sessions, api_max_age_ms, downloads_max;
    int64_t pg_pool, pg_connect_timeout_ms, pg_statement_timeout_ms, pg_wait_ms, shutdown_ms, token_ttl_ms;
    int64_t license_wait_ms, license_member_max;
    bool insecure_cookies, webhook_allow_http_loopback;
    int log_level;
} console_settings_t;

static const char summary[] =
    "The Control Panel's usage pages and JSON API (docs/console.md), read from PostgreSQL as tally_reader.\n"
    "\n"
    "Commands:\n"
    "  serve (the default)\n"
    "      Serve the pages on --bind:--port: /t/{tenant}/..., /vendor/..., /api/v1/..., /signin, /signout,\n"
    "      /healthz, /readyz, /metrics. SIGTERM/SIGINT drain (stop accepting, answer what is in flight) and exit 0.\n"
    "  issue-token --tenant T --member M [--ttl 24h]\n"
    "      Issue a console token for a member through the gateway's Control Panel route (--gateway-url,\n"
    "      --admin-token): prints the token on stdout, once; it is stored only as its SHA-256.\n"
    "  revoke-token --tenant T --token-id ID\n"
    "      Revoke a console token; its sessions end within --session-recheck.\n"
    "Environment: TALLY_PG_READER_URL, when set, is the default of --pg-url, and TALLY_CONSOLE_STAFF_TOKEN of\n"
    "--staff-token (before TALLY_PG_URL and TALLY_STAFF_TOKEN). Exit status: 0 done, 1 failure, 2 usage error.";

static volatile sig_atomic_t stop_requested;

/* What a download needs besides the request: the export's settings. */
typedef struct {
    const console_settings_t *s;
    const tally_catalog_t *catalog;
} download_ctx_t;

static int download(void *arg, const char *tenant_id, const char *period, int json, tally_textbuf_t *out,
                    char *errbuf, size_t errsize)
{
    const download_ctx_t *d = arg;
    tally_console_download_opts_t o = {
        .brokers = d->s->brokers,
        .pg_url = d->s->pg_url,
        .catalog = d->catalog, .usage_topic = d->s->usage_topic, .tenant = tenant_id, .period = period,
        .format = json ? "json" : "csv", .stop = &stop_requested,
    };
    char *body = NULL;
    size_t len = 0;
    int rc = tally_console_download(&o, &body, &len, errbuf, errsize);
    if (rc == 0) {
        tally_textbuf_append(out, body, len);
        free(body);
        return 0;
    }
    return rc == TALLY_CONSOLE_DOWNLOAD_ERR_USAGE            ? TALLY_PAGE_BAD_QUERY
           : rc == TALLY_CONSOLE_DOWNLOAD_ERR_UNKNOWN_TENANT ? TALLY_PAGE_NOT_FOUND
                                                             : TALLY_PAGE_DB_ERROR;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Refuses to serve as a role that may write (a superuser URL given by
 * mistake): the console reads as tally_reader. A database that cannot be
 * reached at start is no error (the pool retries). Returns 0 or -1. */
static int check_role(const char *url)
{
    const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *values[] = {url, "tally-console", "3", NULL};
    PGconn *c = PQconnectdbParams(keys, values, 1);
    int rc = 0;
    if (c && PQstatus(c) == CONNECTION_OK) {
        const char *su = PQparameterStatus(c, "is_superuser");
        if (su && strcmp(su, "on") == 0) {
            tally_log_error("console", "--pg-url connects as a superuser; the console reads as tally_reader "
                                       "(TALLY_PG_READER_URL)");
            rc = -1;
        }
    } else {
        tally_log_warn("console", "postgres: not reachable at start; serving 503 until it is");
    }
    PQfinish(c);
    return rc;
}

static int serve(console_settings_t *s)
{
    char err[1024];
    int rc = 1;
    int64_t offset_ms = 0;
    if (s->now) {
        int64_t pinned;
        if (tally_rfc3339_parse(s->now, strlen(s->now), &pinned) != 0) {
            tally_log_error("console", "--now: not an RFC 3339 time");
            return 2;
        }
        offset_ms = pinned - wall_ms();
    }
    if (check_role(s->pg_url) != 0)
        return 2;
    /* The webhook public key: sealing only; absent, the webhook routes answer 503. */
    tally_alert_seal_key_t webhook_key;
    int have_webhook_key = s->webhook_public_key != NULL && *s->webhook_public_key;
    if (have_webhook_key && tally_alert_seal_key_load(s->webhook_public_key, &webhook_key, err, sizeof err) != 0) {
        tally_log_error("console", "--webhook-public-key: %s", err);
        return 2;
    }
    /* The license signing keys: refused (exit 2) when unreadable, malformed or
     * readable by group or world; absent, the license routes answer 503. */
    const char *key_path =
        s->license_keys && *s->license_keys ? s->license_keys : getenv("TALLY_CONSOLE_LICENSE_KEYS");
    tally_license_keyring_t *ring = NULL;
    tally_license_pubkeys_t *pubkeys = NULL;
    if (key_path && *key_path) {
        ring = tally_license_keyring_load(key_path, err, sizeof err);
        if (ring == NULL) {
            tally_log_error("console", "--license-keys: %s", err);
            return 2;
        }
        pubkeys = tally_license_keyring_public(ring);
        tally_log_info("console", "license signing key %s (%zu key(s))", tally_license_keyring_newest_id(ring),
                       tally_license_keyring_count(ring));
    }
    tally_catalog_t *catalog = tally_catalog_load(s->schemas, err, sizeof err);
    if (catalog == NULL) {
        tally_log_error("console", "--schemas: %s", err);
        tally_license_pubkeys_free(pubkeys);
        tally_license_keyring_free(ring);
        return 1;
    }
    download_ctx_t dctx = {.s = s, .catalog = catalog};
    tally_metrics_t *metrics = tally_metrics_new();
    tally_build_info_announce("console", "tally-console", metrics);
    tally_dbpool_opts_t po = {.url = s->pg_url, .application_name = "tally-console",
                              .size = (int)(s->pg_pool > 0 ? s->pg_pool : s->threads),
                              .connect_timeout_ms = s->pg_connect_timeout_ms,
                              .statement_timeout_ms = s->pg_statement_timeout_ms, .wait_ms = s->pg_wait_ms,
                              .metrics = metrics};
    tally_dbpool_t *db = tally_dbpool_new(&po);
    tally_auth_t *auth = tally_auth_new(s->staff_token);
    tally_sessions_t *sessions = tally_sessions_new((size_t)s->max_sessions, s->session_ttl_ms,
                                                    s->session_recheck_ms);
    size_t n_pages = 0;
    const tally_page_t *pages = tally_page_all(&n_pages);
    tally_console_server_opts_t so = {
        .bind = s->bind, .port = (int)s->port, .threads = (int)s->threads,
        .connection_limit = (int)s->connection_limit, .per_client_connection_limit = (int)s->per_client_limit,
        .timeout_s = (int)((s->timeout_ms + 999) / 1000), .header_memory = (size_t)s->header_memory,
        .max_form = (size_t)s->max_form, .insecure_cookies = s->insecure_cookies,
        .api_max_age_s = (int)(s->api_max_age_ms / 1000), .downloads_max = (int)s->downloads_max,
        .clock_offset_ms = offset_ms, .pages = pages, .n_pages = n_pages, .db = db, .auth = auth,
        .sessions = sessions, .metrics = metrics, .download = download, .download_arg = &dctx,
        .license_keys = pubkeys,
        .license_ring = ring, .gateway_url = s->gateway_url, .admin_token = s->admin_token,
        .license_wait_ms = s->license_wait_ms, .license_member_max = (int)s->license_member_max,
        .webhook_key = have_webhook_key ? &webhook_key : NULL,
        .webhook_allow_http_loopback = s->webhook_allow_http_loopback,
    };
    tally_console_server_t *srv = tally_console_server_new(&so, err, sizeof err);
    if (srv == NULL) {
        tally_log_error("console", "%s", err);
        goto cleanup;
    }
    tally_log_info("console", "listening on %s:%d (%zu pages, %s cookies, staff sign-in %s)", s->bind,
                   tally_console_server_port(srv), n_pages, s->insecure_cookies ? "insecure" : "secure",
                   s->staff_token && *s->staff_token ? "on" : "off");
    long long last_tick = tally_mono_ms();
    while (!stop_requested) {
        tally_sleep_ms(100);
        if (tally_mono_ms() - last_tick >= 1000) {
            tally_console_server_tick(srv);
            last_tick = tally_mono_ms();
        }
    }
    /* Drain: no new connection; what is in flight is answered (with
     * Connection: close) within --shutdown-timeout; then stop. */
    tally_log_info("console", "stopping: draining %d request(s) in flight", tally_console_server_inflight(srv));
    tally_console_server_drain(srv);
    long long until = tally_mono_ms() + s->shutdown_ms;
    while (tally_console_server_inflight(srv) > 0 && tally_mono_ms() < until)
        tally_sleep_ms(20);
    int left = tally_console_server_inflight(srv);
    if (left > 0)
        tally_log_warn("console", "%d request(s) still in flight at the shutdown timeout", left);
    tally_console_server_free(srv);
    srv = NULL;
    tally_log_info("console", "stopped cleanly");
    rc = 0;
cleanup:
    tally_console_server_free(srv);
    tally_sessions_free(sessions);
    tally_auth_free(auth);
    tally_dbpool_free(db);
    tally_metrics_free(metrics);
    tally_license_pubkeys_free(pubkeys);
    tally_license_keyring_free(ring);
    tally_catalog_free(catalog);
    return rc;
}

/* issue-token: the token on stdout, its id and expiry on stderr; nothing
 * secret in the log. */
static int issue(const console_settings_t *s)
{
    char token[TALLY_CONSOLE_TOKEN_SIZE], token_id[TALLY_CONSOLE_TOKEN_ID_SIZE], err[1024], when[TALLY_RFC3339_SIZE];
    int64_t expires = 0;
    tally_issue_token_opts_t o = {.gateway_url = s->gateway_url, .admin_token = s->admin_token,
                                  .tenant_id = s->tenant, .member_id = s->member, .ttl_ms = s->token_ttl_ms};
    int rc = tally_console_issue_token(&o, token, sizeof token, token_id, &expires, err, sizeof err);
    if (rc != 0) {
        tally_log_error("console", "issue-token: %s", err);
        return rc == TALLY_CONSOLE_TOKEN_ERR_USAGE ? 2 : 1;
    }
    if (tally_rfc3339_format(expires, when) != 0)
        when[0] = '\0';
    printf("%s\n", token);
    fflush(stdout);
    sodium_memzero(token, sizeof token);
    fprintf(stderr, "token_id %s expires %s\n", token_id, when);
    return 0;
}

static int revoke(const console_settings_t *s)
{
    char err[1024];
    tally_revoke_token_opts_t o = {.gateway_url = s->gateway_url, .admin_token = s->admin_token,
                                   .tenant_id = s->tenant, .token_id = s->token_id};
    int rc = tally_console_revoke_token(&o, err, sizeof err);
    if (rc != 0) {
        tally_log_error("console", "revoke-token: %s", err);
        return rc == TALLY_CONSOLE_TOKEN_ERR_USAGE ? 2 : 1;
    }
    tally_log_info("console", "revoke-token: the gateway accepted the revocation");
    return 0;
}


int main(int argc, char **argv)
{
    console_settings_t s;
    memset(&s, 0, sizeof s);
    const tally_config_option_t options[] = {
        TALLY_CONFIG_STR("bind", &s.bind, "127.0.0.1", "IPv4 address to listen on (0.0.0.0: all)"),
        TALLY_CONFIG_INT("port", &s.port, "8090", 0, 65535, "HTTP port (0: any free port, printed at start)"),
        TALLY_CONFIG_SECRET_STR("pg-url", &s.pg_url, "postgresql://tally_reader@127.0.0.1:55432/tally",
                                "PostgreSQL as the role tally_reader (never a superuser: refused); prefer "
                                "TALLY_PG_READER_URL"),
        TALLY_CONFIG_SECRET_STR("staff-token", &s.staff_token, NULL,
                                "vendor staff token, at least 32 characters (enables staff sign-in); prefer "
                                "TALLY_CONSOLE_STAFF_TOKEN"),
        TALLY_CONFIG_BOOL("insecure-cookies", &s.insecure_cookies, "false",
                          "session cookies without Secure, for plain-HTTP local use only"),
        TALLY_CONFIG_DURATION("session-ttl", &s.session_ttl_ms, "8h", 60000, (int64_t)720 * 3600000,
                              "a session's longest life (never past its console token's expiry)"),
        TALLY_CONFIG_DURATION("session-recheck", &s.session_recheck_ms, "5s", 0, 3600000,
                              "a member session's token is checked again once its last check is this old: a "
                              "revoked token or removed member loses its sessions within it"),
        TALLY_CONFIG_INT("max-sessions", &s.max_sessions, "10000", 1, 10000000,
                         "sessions held at most (this instance); when full, the one nearest its end goes"),
        TALLY_CONFIG_DURATION("api-max-age", &s.api_max_age_ms, "30s", 0, 3600000,
                              "Cache-Control max-age of /api/v1 answers (whole seconds)"),
        TALLY_CONFIG_INT("threads", &s.threads, "4", 1, 256, "HTTP worker threads"),
        TALLY_CONFIG_INT("connection-limit", &s.connection_limit, "256", 1, 100000, "open connections at most"),
        TALLY_CONFIG_INT("per-client-connection-limit", &s.per_client_limit, "32", 0, 100000,
                         "open connections per client address at most (0: no limit)"),
        TALLY_CONFIG_DURATION("timeout", &s.timeout_ms, "30s", 1000, 3600000, "idle connection timeout"),
        TALLY_CONFIG_SIZE("header-memory", &s.header_memory, "32KiB", 4096, 1 << 20,
                          "memory of a connection for the request line and headers (past it: 414 or 431)"),
        TALLY_CONFIG_SIZE("max-form", &s.max_form, "4KiB", 256, 1 << 20, "largest POST body (the sign-in form)"),
        TALLY_CONFIG_INT("pg-pool", &s.pg_pool, "0", 0, 256, "PostgreSQL connections (0: --threads)"),
        TALLY_CONFIG_DURATION("pg-connect-timeout", &s.pg_connect_timeout_ms, "3s", 1000, 60000,
                              "one PostgreSQL connection attempt at most"),
        TALLY_CONFIG_DURATION("pg-statement-timeout", &s.pg_statement_timeout_ms, "5s", 100, 600000,
                              "one query at most (statement_timeout)"),
        TALLY_CONFIG_DURATION("pg-wait", &s.pg_wait_ms, "2s", 0, 60000,
                              "how long a request waits for a free PostgreSQL connection (then 503)"),
        TALLY_CONFIG_DURATION("shutdown-timeout", &s.shutdown_ms, "30s", 0, 600000,
                              "on SIGTERM, how long requests in flight may take to finish"),
        TALLY_CONFIG_STR("brokers", &s.brokers, "127.0.0.1:19092", "Kafka bootstrap servers (usage downloads)"),
        TALLY_CONFIG_STR("schemas", &s.schemas, "schemas", "the schema catalog folder (usage downloads)"),
        TALLY_CONFIG_STR("usage-topic", &s.usage_topic, "tally.usage", "clean usage log (usage downloads)"),
        TALLY_CONFIG_INT("downloads-max", &s.downloads_max, "2", 1, 64,
                         "usage downloads at once; more get 503 with Retry-After"),
        TALLY_CONFIG_STR("gateway-url", &s.gateway_url, "http://127.0.0.1:8080",
                         "the gateway whose Control Panel route takes the console's events (issue-token, "
                         "revoke-token, license issues and revocations)"),
        TALLY_CONFIG_SECRET_STR("admin-token", &s.admin_token, NULL,
                                "the gateway's admin token, for those events (without it the license POSTs "
                                "answer 503); prefer TALLY_ADMIN_TOKEN"),
        TALLY_CONFIG_STR("tenant", &s.tenant, NULL, "issue-token/revoke-token: the tenant"),
        TALLY_CONFIG_STR("member", &s.member, NULL, "issue-token: the member"),
        TALLY_CONFIG_STR("token-id", &s.token_id, NULL, "revoke-token: the token's id"),
        TALLY_CONFIG_DURATION("ttl", &s.token_ttl_ms, "24h", 60000, (int64_t)30 * 24 * 3600000,
                              "issue-token: the token's life"),
        TALLY_CONFIG_STR("license-keys", &s.license_keys, NULL,
                         "the license signing key file (<key id> <hex seed> lines, owner-only: 0600/0400; "
                         "else exit 2); without it the license routes answer 503; TALLY_CONSOLE_LICENSE_KEYS"),
        TALLY_CONFIG_STR("webhook-public-key", &s.webhook_public_key, NULL,
                         "the webhook public key file (\"<key id> <hex public key>\" lines, the last seals; "
                         "tally-webhooks --print-public-key writes it): lets tenants set their webhook"),
        TALLY_CONFIG_BOOL("webhook-allow-http-loopback", &s.webhook_allow_http_loopback, "false",
                          "local mode: webhook URLs may be http:// to a loopback address (as the gateway's flag)"),
        TALLY_CONFIG_INT("license-member-max", &s.license_member_max, "5", 0, 1000,
                         "personal-dev licenses a member may hold at once (valid, not revoked); one more is a "
                         "409 until one expires or is revoked (0: no limit)"),
        TALLY_CONFIG_DURATION("license-wait", &s.license_wait_ms, "5s", 0, 60000,
                              "how long a license POST waits, after the gateway took its event, for the row in "
                              "tally.licenses (then 503: retry with the same Idempotency-Key); "
                              "TALLY_CONSOLE_LICENSE_WAIT"),
        TALLY_CONFIG_STR("now", &s.now, NULL, "tests: the wall clock's reading at start (RFC 3339)"),
        TALLY_CONFIG_ENUM("log-level", &s.log_level, "info", tally_log_level_names, "debug, info, warn or error"),
    };
    char err[1024];
    int rc = 2;
    tally_config_t *cfg = tally_config_new("tally-console", TALLY_VERSION, summary, options,
                                           sizeof options / sizeof options[0]);
    /* The local environment's reader URL and staff token come before the
     * generic TALLY_PG_URL (the superuser, in deploy/local/env.sh) and
     * TALLY_STAFF_TOKEN, and after the command line. */
    char **args = calloc((size_t)argc + 4, sizeof *args);
    char *reader = NULL, *staff = NULL, *license_wait = NULL;
    int n = 0;
    args[n++] = argv[0];
    if (getenv("TALLY_PG_READER_URL") && *getenv("TALLY_PG_READER_URL")) {
        size_t len = strlen(getenv("TALLY_PG_READER_URL")) + 16;
        reader = malloc(len);
        snprintf(reader, len, "--pg-url=%s", getenv("TALLY_PG_READER_URL"));
        args[n++] = reader;
    }
    if (getenv("TALLY_CONSOLE_STAFF_TOKEN") && *getenv("TALLY_CONSOLE_STAFF_TOKEN")) {
        size_t len = strlen(getenv("TALLY_CONSOLE_STAFF_TOKEN")) + 16;
        staff = malloc(len);
        snprintf(staff, len, "--staff-token=%s", getenv("TALLY_CONSOLE_STAFF_TOKEN"));
        args[n++] = staff;
    }
    if (getenv("TALLY_CONSOLE_LICENSE_WAIT") && *getenv("TALLY_CONSOLE_LICENSE_WAIT")) {
        size_t len = strlen(getenv("TALLY_CONSOLE_LICENSE_WAIT")) + 20;
        license_wait = malloc(len);
        snprintf(license_wait, len, "--license-wait=%s", getenv("TALLY_CONSOLE_LICENSE_WAIT"));
        args[n++] = license_wait;
    }
    for (int i = 1; i < argc; i++)
        args[n++] = argv[i];
    int prc = tally_config_parse(cfg, n, args, err, sizeof err);
    if (staff)
        memset(staff, 0, strlen(staff));
    free(reader);
    free(staff);
    free(license_wait);
    free(args);
    if (prc > 0) {
        rc = 0;
        goto cleanup;
    }
    const char *cmd =
        prc == 0 && tally_config_positional_count(cfg) > 0 ? tally_config_positional_get(cfg, 0) : "serve";
    if (prc == 0 && tally_config_positional_count(cfg) > 1)
        snprintf(err, sizeof err, "one command at a time");
    else if (prc == 0 && strcmp(cmd, "serve") != 0 && strcmp(cmd, "issue-token") != 0 &&
             strcmp(cmd, "revoke-token") != 0)
        snprintf(err, sizeof err, "unknown command \"%s\": serve, issue-token or revoke-token", cmd);
    else if (prc == 0 && strcmp(cmd, "serve") == 0 && s.staff_token && *s.staff_token &&
             tally_auth_staff_token_check(s.staff_token, err, sizeof err) != 0)
        ;
    else if (prc == 0)
        err[0] = '\0';
    if (prc < 0 || err[0]) {
        fprintf(stderr, "tally-console: %s (see --help)\n", err);
        goto cleanup;
    }
    tally_log_set_level((tally_log_level_t)s.log_level);
    tally_process_signals(&stop_requested, NULL);
    if (strcmp(cmd, "serve") == 0) {
        curl_global_init(CURL_GLOBAL_DEFAULT);   /* the license routes post to the gateway */
        rc = serve(&s);
        curl_global_cleanup();
    } else {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        rc = strcmp(cmd, "issue-token") == 0 ? issue(&s) : revoke(&s);
        curl_global_cleanup();
    }
cleanup:
    tally_config_free(cfg);
    return rc;
}
