/* tally: the command-line client of the Tally gateway. Parses the
 * configuration, starts libcurl once, and runs one command. */
#include "app.h"
#include "commands.h"
#include "config.h"
#include "process.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop_requested;

static const char *const counter_modes[] = {"increment", "absolute", NULL};

static const char summary[] =
    "Sends product analytics, usage reports, seat changes and Control Panel events to a Tally gateway;\n"
    "what cannot be delivered waits in a spool on disk and is retried with backoff.\n"
    "\n"
    "Commands:\n"
    "  send KIND [JSON...]      KIND is product, usage, seat or controlpanel. Events come from the\n"
    "                           arguments or, with none (or \"-\"), from stdin: a JSON object, an array\n"
    "                           of objects, or one object a line (NDJSON). The client fills in\n"
    "                           event_id (a random UUID, kept across retries so nothing counts twice),\n"
    "                           occurred_at (usage: observed_at), and for product events source=CLI,\n"
    "                           install_id, new_user and ci. Times: epoch ms or RFC 3339.\n"
    "                           usage and seat need --api-key; controlpanel needs --admin-token.\n"
    "  flush                    deliver the spool now (--retry-for: keep trying that long); events\n"
    "                           wait for the credential they were spooled with, unless refused\n"
    "                           by the gateway since (401/403) or --any-key is given\n"
    "  spool                    show what the spool holds and when the next retry is due\n"
    "  telemetry status|enable|disable\n"
    "                           product analytics on or off, kept in <config-dir>/config.json;\n"
    "                           DO_NOT_TRACK=1 or TALLY_TELEMETRY=0 also turn them off. When off,\n"
    "                           `send product` sends nothing (--verbose says why) and spooled product\n"
    "                           events are discarded; disable sends one last telemetry.disabled\n"
    "                           event, unless an environment variable already opted out.\n"
    "  report-usage             a usage reporter for one API process: --tenant, --environment,\n"
    "                           --api-key; counter lines (\"api_calls=10 status_4xx=1 status_5xx=0\n"
    "                           exec_ms=1234\") from --counters (stdin or a file) are increments, or\n"
    "                           totals with --counter-mode=absolute; reporter id, start time, seq and\n"
    "                           cumulative counters persist in --reporter-state across restarts; a\n"
    "                           UsageReport goes out every --interval, at the end of input, on\n"
    "                           SIGTERM, or once with --once.\n"
    "  license verify FILE      checks a signed license file offline (docs/licenses.md): the signature\n"
    "                           with --public-key FILE or --public-keys DIR (one of them), the key id,\n"
    "                           the validity window (300 s clock-skew allowance; --now to check at\n"
    "                           another instant) and, with --revoked LIST (a signed revocation list,\n"
    "                           verified with the same keys) or --online (that list from the console:\n"
    "                           --console-url, GET /api/v1/licenses/revoked), revocation; warns when\n"
    "                           the list is more than 7 days old. Exit 0 valid, 1 invalid or tampered (malformed,\n"
    "                           unknown key, bad signature, a refused or unavailable list), 2 usage (an\n"
    "                           unreadable file or key), 6 expired or not yet valid, 7 revoked.\n"
    "  license show FILE        prints the payload (pretty JSON) and the signing key id; the signature\n"
    "                           is checked only with --public-key or --public-keys. Exit 1 malformed.\n"
    "  license fetch            POSTs /api/v1/licenses to --console-url with --token (a member's console\n"
    "                           token) and saves the personal-dev license to --out (mode 0644, atomically;\n"
    "                           a different existing file only with --force). An Idempotency-Key goes\n"
    "                           with it: --idempotency-key, else a UUID kept in <out>.idempotency-key\n"
    "                           until the file is saved, so a retry after a timeout gets the same\n"
    "                           license. Exit 0 saved, 1 bad answer or another file in the way, 2 usage,\n"
    "                           4 refused (401/403/404), 5 console unavailable (retry).\n"
    "  webhook-listen PORT      a local receiver of Tally's signed webhooks on 127.0.0.1:PORT (0: any)\n"
    "                           with --secret-file FILE (one \"whsec_...\" line, mode 0600): checks the\n"
    "                           Standard Webhooks signature and timestamp (5 minutes either way),\n"
    "                           answers 204 and prints one line per new webhook-id (a retry is not\n"
    "                           printed twice), 401 on a bad signature or stale timestamp, 413 over\n"
    "                           64 KiB. Runs until SIGINT or SIGTERM.\n"
    "\n"
    "Delivery: events are written to the spool before they are sent and leave it once the gateway\n"
    "answered. Connection failures, timeouts, 408, 429 and 5xx keep them for a retry with exponential\n"
    "backoff and jitter (never sooner than Retry-After), by the next tally command or `tally flush`.\n"
    "401, 403, 404 keep them until the credential or --gateway is fixed. Other 4xx (invalid events)\n"
    "drop them with a message. The spool is capped: past the cap the oldest events are dropped.\n"
    "--debug prints every request (credentials hidden) and answer on stderr and still sends;\n"
    "--dry-run prints the requests on stdout and sends, spools and records nothing.\n"
    "\n"
    "Exit status: 0 delivered (or nothing to send); 1 error, an event lost; 2 bad command line or\n"
    "input, nothing sent; 3 the gateway rejected invalid events (dropped); 4 refused (401/403/404):\n"
    "events kept; 5 gateway unavailable: events spooled for a retry.\n"
    "\n"
    "Files: <config-dir>/config.json (telemetry choice, install id, first-run notice);\n"
    "<state-dir>/spool/ (undelivered events, retry.json); <state-dir>/reporter.json (report-usage).";

/* The shared usage printer ends with a librdkafka flag the client does not
 * have: print everything but those lines. */
static void print_help(const tally_config_t *cfg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (mem == NULL)
        abort();
    tally_config_usage(cfg, mem);
    fclose(mem);
    char *x = strstr(text, "  -X KEY=VALUE\n");
    char *h = x ? strstr(x, "  -h, --help\n") : NULL;
    if (x != NULL && h != NULL)
        memmove(x, h, strlen(h) + 1);
    fputs(text, stdout);
    free(text);
}

int main(int argc, char **argv)
{
    tally_client_settings_t s;
    memset(&s, 0, sizeof s);
    const tally_config_option_t options[] = {
        TALLY_CONFIG_STR("gateway", &s.gateway, "http://127.0.0.1:8080", "the gateway's base URL"),
        TALLY_CONFIG_SECRET_STR("api-key", &s.api_key, NULL,
                                "the environment's API key (send usage|seat, report-usage); prefer TALLY_API_KEY"),
        TALLY_CONFIG_SECRET_STR("admin-token", &s.admin_token, NULL,
                                "the Control Panel admin token (send controlpanel); prefer TALLY_ADMIN_TOKEN"),
        TALLY_CONFIG_STR("config-dir", &s.config_dir, NULL, "settings folder (default $XDG_CONFIG_HOME/tally, "
                                                            "else ~/.config/tally)"),
        TALLY_CONFIG_STR("state-dir", &s.state_dir, NULL, "spool and reporter state folder (default "
                                                          "$XDG_STATE_HOME/tally, else ~/.local/state/tally)"),
        TALLY_CONFIG_BOOL("verbose", &s.verbose, "false", "say what happened, and why nothing was sent"),
        TALLY_CONFIG_BOOL("debug", &s.debug, "false",
                          "print every request (credentials hidden) and answer on stderr; still sends"),
        TALLY_CONFIG_BOOL("dry-run", &s.dry_run, "false",
                          "print the requests on stdout; send, spool and record nothing"),
        TALLY_CONFIG_STR("at", &s.at, NULL, "use this time (epoch ms or RFC 3339) for the times the client "
                                            "fills in (simulations, backfills)"),
        TALLY_CONFIG_DURATION("request-timeout", &s.request_timeout_ms, "10s", 100, 600000,
                              "longest a request may take"),
        TALLY_CONFIG_DURATION("connect-timeout", &s.connect_timeout_ms, "5s", 100, 600000,
                              "longest connecting may take"),
        TALLY_CONFIG_INT("batch-size", &s.batch_size, "500", 1, 100000, "events per request at most"),
        TALLY_CONFIG_INT("spool-max-events", &s.spool_max_events, "10000", 1, 100000000,
                         "events the spool keeps at most (then the oldest are dropped)"),
        TALLY_CONFIG_SIZE("spool-max-bytes", &s.spool_max_bytes, "16MiB", 1024, (int64_t)1 << 40,
                          "bytes the spool keeps at most (then the oldest are dropped)"),
        TALLY_CONFIG_DURATION("retry-for", &s.retry_for_ms, "0", 0, (int64_t)7 * 86400000,
                              "send, flush, report-usage --once: keep retrying in the foreground this long"),
        TALLY_CONFIG_DURATION("retry-base", &s.retry_base_ms, "1s", 10, 3600000,
                              "first backoff delay (doubles per failure, with jitter)"),
        TALLY_CONFIG_DURATION("retry-max", &s.retry_max_ms, "15m", 10, 86400000, "longest backoff delay"),
        TALLY_CONFIG_BOOL("any-key", &s.any_key, "false",
                          "flush: send spooled usage, seat or Control Panel events with the credential given even "
                          "if they were spooled with another (after a key rotation)"),
        TALLY_CONFIG_STR("tenant", &s.tenant, NULL, "report-usage: the tenant id"),
        TALLY_CONFIG_STR("environment", &s.environment, NULL, "report-usage: the environment id"),
        TALLY_CONFIG_STR("reporter-state", &s.reporter_state, NULL,
                         "report-usage: state file (default <state-dir>/reporter.json), one per reporter"),
        TALLY_CONFIG_STR("counters", &s.counters, "-",
                         "report-usage: counter lines from \"-\" (stdin), a file, or \"none\""),
        TALLY_CONFIG_ENUM("counter-mode", &s.counter_mode, "increment", counter_modes,
                          "report-usage: lines are increments, or absolute totals (a file's last line)"),
        TALLY_CONFIG_DURATION("interval", &s.interval_ms, "60s", 10, 86400000, "report-usage: time between reports"),
        TALLY_CONFIG_BOOL("once", &s.once, "false", "report-usage: read the input, send one report, exit"),
        TALLY_CONFIG_BOOL("reset", &s.reset, "false",
                          "report-usage: start a new reporter (new id, counters from 0)"),
        TALLY_CONFIG_STR("public-key", &s.public_key, NULL,
                         "license verify|show: a public key file (\"<key id> <hex>\" lines)"),
        TALLY_CONFIG_STR("public-keys", &s.public_keys, NULL,
                         "license verify|show: a folder of *.pub public key files"),
        TALLY_CONFIG_STR("revoked", &s.revoked, NULL, "license verify: a signed revocation list file"),
        TALLY_CONFIG_STR("now", &s.now, NULL,
                         "license verify: check at this instant (YYYY-MM-DDTHH:MM:SSZ), not the clock"),
        TALLY_CONFIG_STR("console-url", &s.console_url, NULL, "license fetch: the console's base URL"),
        TALLY_CONFIG_SECRET_STR("token", &s.token, NULL,
                                "license fetch: the member's console token (tct_...); prefer TALLY_TOKEN"),
        TALLY_CONFIG_STR("out", &s.out, "tally.license", "license fetch: where to save the license file"),
        TALLY_CONFIG_STR("idempotency-key", &s.idempotency_key, NULL,
                         "license fetch: the Idempotency-Key to send (default: kept in <out>.idempotency-key)"),
        TALLY_CONFIG_BOOL("force", &s.force, "false", "license fetch: replace a different file at --out"),
        TALLY_CONFIG_BOOL("online", &s.online, "false",
                          "license verify: get the revocation list from --console-url (GET /api/v1/licenses/revoked)"),
        TALLY_CONFIG_STR("secret-file", &s.secret_file, NULL,
                         "webhook-listen: the webhook secret file (one \"whsec_...\" line, mode 0600)"),
    };
    char err[1024];
    int rc = TALLY_EXIT_USAGE;
    tally_app_t app;
    bool app_ready = false;
    tally_config_t *cfg = tally_config_new("tally", TALLY_VERSION, summary, options, sizeof options / sizeof options[0]);
    /* --help before the parser, which would print the -X lines too. */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_help(cfg);
            rc = TALLY_EXIT_OK;
            goto cleanup;
        }
    int prc = tally_config_parse(cfg, argc, argv, err, sizeof err);
    if (prc > 0) {
        rc = TALLY_EXIT_OK;
        goto cleanup;
    }
    if (prc < 0) {
        fprintf(stderr, "tally: %s (see tally --help)\n", err);
        goto cleanup;
    }
    if (tally_config_kafka_count(cfg) > 0) {
        fprintf(stderr, "tally: -X: the client has no Kafka settings (see tally --help)\n");
        goto cleanup;
    }
    size_t npos = tally_config_positional_count(cfg);
    if (npos == 0) {
        fprintf(stderr,
                "tally: which command? send, flush, spool, telemetry, report-usage, license or webhook-listen "
                "(see tally --help)\n");
        goto cleanup;
    }
    const char *command = tally_config_positional_get(cfg, 0);
    const char *args[256];
    if (npos - 1 > sizeof args / sizeof args[0]) {
        fprintf(stderr, "tally: too many arguments (give many events through stdin)\n");
        goto cleanup;
    }
    for (size_t i = 1; i < npos; i++)
        args[i - 1] = tally_config_positional_get(cfg, i);

    tally_process_signals(&stop_requested, NULL);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "tally: libcurl failed to start\n");
        rc = TALLY_EXIT_ERROR;
        goto cleanup;
    }
    /* license needs neither the spool nor the state folders. */
    if (strcmp(command, "license") == 0) {
        rc = tally_cmd_license(&s, npos - 1, args);
        curl_global_cleanup();
        goto cleanup;
    }
    if (strcmp(command, "webhook-listen") == 0) {
        rc = tally_cmd_webhook_listen(&s, npos - 1, args, &stop_requested);
        curl_global_cleanup();
        goto cleanup;
    }
    if ((rc = tally_app_init(&app, &s, &stop_requested)) != TALLY_EXIT_OK) {
        tally_app_clear(&app);
        curl_global_cleanup();
        goto cleanup;
    }
    app_ready = true;
    typedef int (*command_fn)(tally_app_t *, size_t, const char *const[]);
    static const struct {
        const char *name;
        command_fn run;
    } commands[] = {
        {"send", tally_cmd_send},          {"flush", tally_cmd_flush},
        {"spool", tally_cmd_spool},        {"telemetry", tally_cmd_telemetry},
        {"report-usage", tally_cmd_report_usage},
    };
    rc = -1;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(command, commands[i].name) == 0)
            rc = commands[i].run(&app, npos - 1, args);
    if (rc < 0) {
        fprintf(stderr,
                "tally: unknown command \"%.40s\": send, flush, spool, telemetry, report-usage, license or "
                "webhook-listen\n",
                command);
        rc = TALLY_EXIT_USAGE;
    }
cleanup:
    if (app_ready) {
        tally_app_clear(&app);
        curl_global_cleanup();
    }
    tally_config_free(cfg);
    return rc;
}
