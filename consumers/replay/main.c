/* tally-replay: audit, rebuild and export from the logs (docs/architecture.md "Replay
 * and audit"). Parses the command line, loads the schema catalog, runs one
 * command. */
#include "audit.h"
#include "build_info.h"
#include "config.h"
#include "export.h"
#include "log.h"
#include "process.h"
#include "rebuild.h"
#include "replay.h"
#include "rollup.h"
#include "schema_catalog.h"
#include "shadow.h"
#include "timeutil.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *brokers, *group, *client_id, *pg_url, *schemas;
    char *usage_topic, *rollups_topic, *product_topic, *controlpanel_topic, *alerts_topic;
    char *live_schema, *materializer_group;
    char *tenant, *from, *to, *period, *schema, *output;
    int format, log_level;
    bool json, swap, progress;
    int64_t open_days, reporter_idle_ms, warmup_ms, skew_ms, batch_max_records;
    int64_t connect_timeout_ms, stall_timeout_ms, lock_timeout_ms, progress_every_ms;
} replay_settings_t;

static const char *const format_names[] = {"table", "csv", "json", NULL};

static const char summary[] =
    "Replays Tally's logs to check and rebuild the PostgreSQL read model. Read-only on Kafka (partitions are "
    "assigned, never subscribed; no offset is ever committed) and on the live schema (except rebuild --swap).\n"
    "\n"
    "Commands:\n"
    "  audit [--tenant T] [--from TIME] [--to TIME]\n"
    "      Recompute the API usage and seat rollups from the usage log with the aggregator's own code and list\n"
    "      every difference with api_usage_daily / seat_usage_daily per tenant, environment and day (expected\n"
    "      against materialized). Whole UTC days from --from through --to are compared; --from reads from\n"
    "      --from minus --warmup so running reporters have their baselines, and what the warm-up cannot vouch\n"
    "      for is reported as unverifiable, not compared. On a running pipeline, audit up to a past midnight.\n"
    "  rebuild --schema NAME [--swap]\n"
    "      Project the rollups, product and Control Panel logs into the fresh schema NAME with the\n"
    "      materializer's own code and compare it with the live schema, table by table. --swap then makes\n"
    "      the rebuilt tables live in one transaction (views follow; the old tables stay in NAME).\n"
    "  export --tenant T --period YYYY-MM [--format table|csv|json]\n"
    "      The tenant's usage for the month, day by day and environment by environment, recomputed from the\n"
    "      usage log, with the topic, partition and offsets of the records behind each figure, and a check\n"
    "      against the read model.\n"
    "TIME is RFC 3339 (2024-03-01T00:00:00Z) or a date (2024-03-01, midnight UTC).\n"
    "Output: a table, or JSON with --json (--format). Progress and errors go to stderr.\n"
    "Exit status: 0 identical (or done), 1 differences found, 2 usage error (bad flag, time, period, schema "
    "name; unknown tenant), 3 failure (broker, database, topic).";

static volatile sig_atomic_t stop_requested;

/* An RFC 3339 time or a YYYY-MM-DD date (midnight UTC). */
static int parse_time(const char *flag, const char *s, int64_t *ms, char *err, size_t errsize)
{
    int64_t days;
    size_t n = strlen(s);
    int rc = tally_rfc3339_parse(s, n, ms);
    if (rc != 0 && n == 10 && tally_date_parse(s, n, &days) == 0) {
        *ms = days * TALLY_MS_PER_DAY;
        rc = 0;
    }
    if (rc == 0 && (*ms < TALLY_TIME_MIN_MS || *ms > TALLY_TIME_MAX_MS))
        rc = TALLY_TIME_ERR_DATE;
    if (rc != 0)
        snprintf(err, errsize, "bad time --%s=%s: %s (expected RFC 3339, e.g. 2024-03-01T00:00:00Z, or a date, "
                 "e.g. 2024-03-01)", flag, s, tally_time_strerror(rc));
    return rc == 0 ? 0 : -1;
}

/* Checks the flags against the command; fills o. Returns 0 or -1 (err). */
static int check_command(const char *cmd, const replay_settings_t *s, tally_replay_opts_t *o, char *err,
                         size_t errsize)
{
    bool audit = strcmp(cmd, "audit") == 0, rebuild = strcmp(cmd, "rebuild") == 0, export = strcmp(cmd, "export") == 0;
    if (!audit && !rebuild && !export) {
        snprintf(err, errsize, "unknown command \"%s\": audit, rebuild or export", cmd);
        return -1;
    }
    const char *misplaced = !audit && (s->from || s->to)   ? "--from/--to belong to audit"
                            : !rebuild && (s->schema || s->swap) ? "--schema/--swap belong to rebuild"
                            : !export && s->period             ? "--period belongs to export"
                            : rebuild && s->tenant             ? "rebuild takes no --tenant"
                            : !export && o->format == TALLY_REPLAY_FORMAT_CSV ? "--format=csv belongs to export"
                                                                              : NULL;
    if (misplaced) {
        snprintf(err, errsize, "%s", misplaced);
        return -1;
    }
    if (s->tenant && !*s->tenant) {
        snprintf(err, errsize, "--tenant is empty");
        return -1;
    }
    o->tenant = s->tenant;
    if (s->from && parse_time("from", s->from, &o->from_ms, err, errsize) != 0)
        return -1;
    if (s->to && parse_time("to", s->to, &o->to_ms, err, errsize) != 0)
        return -1;
    o->has_from = s->from != NULL;
    o->has_to = s->to != NULL;
    if (o->has_from && o->has_to && o->from_ms >= o->to_ms) {
        snprintf(err, errsize, "bad time window: --from %s is not before --to %s", s->from, s->to);
        return -1;
    }
    if (export) {
        if (!s->tenant || !s->period) {
            snprintf(err, errsize, "export needs --tenant and --period");
            return -1;
        }
        if (tally_replay_period_parse(s->period, &o->period_first_day, &o->period_last_day, err, errsize) != 0) {
            snprintf(err, errsize, "bad --period=%s: expected a month as YYYY-MM, e.g. 2024-03", s->period);
            return -1;
        }
        o->period = s->period;
    }
    if (rebuild) {
        if (!s->schema) {
            snprintf(err, errsize, "rebuild needs --schema NAME (a schema that does not exist yet)");
            return -1;
        }
        if (!tally_shadow_name_ok(s->schema) || strcmp(s->schema, s->live_schema) == 0) {
            snprintf(err, errsize, "bad --schema=%s: a new schema name of lower-case letters, digits and '_' "
                     "(at most 63, not pg_*, public or the live schema)", s->schema);
            return -1;
        }
        o->shadow_schema = s->schema;
        o->swap = s->swap;
    }
    return 0;
}

int main(int argc, char **argv)
{
    replay_settings_t s;
    memset(&s, 0, sizeof s);
    const tally_config_option_t options[] = {
        TALLY_CONFIG_STR("brokers", &s.brokers, "127.0.0.1:19092", "Kafka bootstrap servers"),
        TALLY_CONFIG_SECRET_STR("pg-url", &s.pg_url, "postgresql://postgres@127.0.0.1:55432/tally",
                                "PostgreSQL connection URL or key=value string; prefer TALLY_PG_URL"),
        TALLY_CONFIG_STR("group", &s.group, "tally-replay",
                         "Kafka group.id of the reader: only a name, never joined, no offset ever committed"),
        TALLY_CONFIG_STR("client-id", &s.client_id, "tally-replay", "Kafka client.id"),
        TALLY_CONFIG_STR("schemas", &s.schemas, "schemas", "the schema catalog folder"),
        TALLY_CONFIG_STR("usage-topic", &s.usage_topic, "tally.usage", "clean usage reports and seat events"),
        TALLY_CONFIG_STR("rollups-topic", &s.rollups_topic, "tally.rollups", "usage and seat rollups (rebuild)"),
        TALLY_CONFIG_STR("product-topic", &s.product_topic, "tally.product", "clean product events (rebuild)"),
        TALLY_CONFIG_STR("controlpanel-topic", &s.controlpanel_topic, "tally.controlpanel",
                         "Control Panel events (rebuild)"),
        TALLY_CONFIG_STR("alerts-topic", &s.alerts_topic, "tally.alerts",
                         "usage alerts (rebuild); empty: not projected, as the materializer's option"),
        TALLY_CONFIG_STR("live-schema", &s.live_schema, "tally", "PostgreSQL schema of the live read model"),
        TALLY_CONFIG_STR("materializer-group", &s.materializer_group, "tally-materializer",
                         "the live materializer's group: rebuild stores its offsets under it, so that after "
                         "--swap tally-materializer goes on from there"),
        TALLY_CONFIG_STR("tenant", &s.tenant, NULL, "audit: only this tenant; export: the tenant (required)"),
        TALLY_CONFIG_STR("from", &s.from, NULL, "audit: compare whole UTC days from this time on"),
        TALLY_CONFIG_STR("to", &s.to, NULL, "audit: compare whole UTC days up to this time"),
        TALLY_CONFIG_STR("period", &s.period, NULL, "export: the month, YYYY-MM (required)"),
        TALLY_CONFIG_STR("schema", &s.schema, NULL, "rebuild: the new schema to project into (required)"),
        TALLY_CONFIG_BOOL("swap", &s.swap, "false", "rebuild: then make the rebuilt tables the live ones"),
        TALLY_CONFIG_ENUM("format", &s.format, "table", format_names, "table, csv (export only) or json"),
        TALLY_CONFIG_BOOL("json", &s.json, "false", "JSON output (same as --format=json)"),
        TALLY_CONFIG_STR("output", &s.output, "-", "where the report goes; - is stdout"),
        /* These three defaults are TALLY_REPLAY_OPEN_DAYS, _REPORTER_IDLE_MS and
         * _MAX_CLOCK_SKEW_MS (replay.h); tests/consumers/console/test_download.c
         * fails when they part. */
        TALLY_CONFIG_INT("open-days", &s.open_days, "35", 1, TALLY_ROLLUP_MAX_OPEN_DAYS,
                         "UTC days open to late records: must equal tally-aggregator's --open-days"),
        TALLY_CONFIG_DURATION("reporter-idle", &s.reporter_idle_ms, "840h", 1000, TALLY_ROLLUP_MAX_IDLE_MS,
                              "must equal tally-aggregator's --reporter-idle"),
        TALLY_CONFIG_DURATION("warmup", &s.warmup_ms, "0", 0, TALLY_ROLLUP_MAX_IDLE_MS,
                              "audit --from reads this much earlier to learn the reporters' baselines "
                              "(0: reporter-idle + max-clock-skew + 24h)"),
        TALLY_CONFIG_DURATION("max-clock-skew", &s.skew_ms, "24h", 0, 7 * 86400000LL,
                              "how far ahead of the broker a reporter's clock may be (the gateway's limit)"),
        TALLY_CONFIG_INT("batch-max-records", &s.batch_max_records, "20000", 1, 1000000,
                         "rebuild: records per PostgreSQL transaction"),
        TALLY_CONFIG_DURATION("connect-timeout", &s.connect_timeout_ms, "10s", 100, 600000,
                              "how long the broker may take to answer at start"),
        TALLY_CONFIG_DURATION("stall-timeout", &s.stall_timeout_ms, "60s", 1000, 3600000,
                              "give up when no partition moved for this long"),
        TALLY_CONFIG_DURATION("lock-timeout", &s.lock_timeout_ms, "30s", 100, 3600000,
                              "rebuild --swap: longest wait for the live tables' locks"),
        TALLY_CONFIG_BOOL("progress", &s.progress, "true", "progress lines on stderr (records/s, share done)"),
        TALLY_CONFIG_DURATION("progress-every", &s.progress_every_ms, "2s", 1, 3600000,
                              "how often a progress line is written, once a run lasts that long"),
        TALLY_CONFIG_ENUM("log-level", &s.log_level, "info", tally_log_level_names, "debug, info, warn or error"),
    };
    char err[1024];
    int rc = TALLY_REPLAY_EXIT_USAGE;
    tally_catalog_t *catalog = NULL;
    FILE *out = NULL;
    tally_config_t *cfg = tally_config_new("tally-replay", TALLY_VERSION, summary, options,
                                           sizeof options / sizeof options[0]);
    tally_replay_opts_t o;
    memset(&o, 0, sizeof o);
    int prc = tally_config_parse(cfg, argc, argv, err, sizeof err);
    if (prc > 0) {
        rc = TALLY_REPLAY_EXIT_OK;
        goto cleanup;
    }
    if (prc == 0 && tally_config_positional_count(cfg) != 1)
        snprintf(err, sizeof err, "%s", tally_config_positional_count(cfg) == 0 ? "no command: audit, rebuild or export"
                                                                               : "one command at a time");
    o.format = s.json ? TALLY_REPLAY_FORMAT_JSON : (tally_replay_format_t)s.format;
    o.live_schema = s.live_schema;
    if (prc < 0 || tally_config_positional_count(cfg) != 1 ||
        check_command(tally_config_positional_get(cfg, 0), &s, &o, err, sizeof err) != 0) {
        fprintf(stderr, "tally-replay: %s (see --help)\n", err);
        goto cleanup;
    }
    tally_log_set_level((tally_log_level_t)s.log_level);
    tally_build_info_announce("replay", "tally-replay", NULL);
    tally_process_signals(&stop_requested, NULL);

    rc = TALLY_REPLAY_EXIT_FAILED;
    if ((catalog = tally_catalog_load(s.schemas, err, sizeof err)) == NULL) {
        tally_log_error("replay", "schema catalog: %s", err);
        goto cleanup;
    }
    out = strcmp(s.output, "-") == 0 ? stdout : fopen(s.output, "w");
    if (out == NULL) {
        tally_log_error("replay", "cannot open --output %s for writing", s.output);
        goto cleanup;
    }
    o.brokers = s.brokers;
    o.group = s.group;
    o.client_id = s.client_id;
    o.pg_url = s.pg_url;
    o.catalog = catalog;
    o.cfg = cfg;
    o.usage_topic = s.usage_topic;
    o.rollups_topic = s.rollups_topic;
    o.product_topic = s.product_topic;
    o.controlpanel_topic = s.controlpanel_topic;
    o.alerts_topic = *s.alerts_topic ? s.alerts_topic : NULL;
    o.materializer_group = s.materializer_group;
    o.batch_max_records = s.batch_max_records;
    o.lock_timeout_ms = (int)s.lock_timeout_ms;
    o.open_days = (int32_t)s.open_days;
    o.reporter_idle_ms = s.reporter_idle_ms;
    o.skew_ms = s.skew_ms;
    o.warmup_ms = s.warmup_ms > 0 ? s.warmup_ms : tally_replay_default_warmup(s.reporter_idle_ms, s.skew_ms);
    o.out = out;
    o.connect_timeout_ms = (int)s.connect_timeout_ms;
    o.stall_timeout_ms = (int)s.stall_timeout_ms;
    o.progress = s.progress;
    o.progress_every_ms = (int)s.progress_every_ms;
    o.stop = &stop_requested;

    const char *cmd = tally_config_positional_get(cfg, 0);
    if (strcmp(cmd, "audit") == 0)
        rc = tally_replay_audit(&o);
    else if (strcmp(cmd, "rebuild") == 0)
        rc = tally_replay_rebuild(&o);
    else
        rc = tally_replay_export(&o);
cleanup:
    if (out != NULL && out != stdout && fclose(out) != 0 && rc != TALLY_REPLAY_EXIT_FAILED) {
        tally_log_error("replay", "cannot write --output %s", s.output);
        rc = TALLY_REPLAY_EXIT_FAILED;
    }
    tally_catalog_free(catalog);
    tally_config_free(cfg);
    return rc;
}
