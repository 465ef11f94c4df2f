/*
 * tally-aggregator's pipeline: the engine's hooks around one rollup state
 * per input partition (see aggregator.h).
 */
#include "aggregator.h"

#include "changelog.h"
#include "codec.h"
#include "log.h"
#include "restore.h"
#include "rollup.h"
#include "rollup_record.h"
#include "timeutil.h"
#include "usage_record.h"
#include "xalloc.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMPONENT "aggregator"
#define DEFAULT_EXPIRE_BUDGET 1024
#define DEFAULT_RESTORE_TIMEOUT_MS 120000

/* What the instance holds for one input partition. */
typedef struct part_t {
    bool active;            /* assigned to this instance */
    tally_rollup_t *state;  /* NULL until restored (at assignment, and after an abort) */
    int64_t next;           /* the input position of state: the next offset to apply, -1 unknown */
    bool moved;             /* next changed in the open transaction */
} part_t;

/* Outcomes counted in tally_aggregator_records_total. */
enum {
    OUT_APPLIED, OUT_DUPLICATE, OUT_STALE, OUT_TOO_LATE, OUT_INVALID,
    OUT_UNDECODABLE, OUT_UNSUPPORTED, OUT_WRONG_KEY, OUT_IN_STATE, OUT_COUNT
};
static const char *const outcome_names[OUT_COUNT] = {
    "applied", "duplicate", "stale", "too_late", "invalid", "undecodable", "unsupported", "wrong_key",
    "already_in_state",
};

enum { ST_REPORTERS, ST_API, ST_SEATS, ST_SEAT_EVENTS, ST_SEAT_ROLLUPS, ST_TENANTS, ST_COUNT };
static const char *const state_names[ST_COUNT] = {
    "reporters", "api_rollups", "seats", "seat_events", "seat_rollups", "tenants",
};

struct tally_aggregator_t {
    tally_txn_t *txn;
    tally_txn_hooks_t hooks;
    rd_kafka_topic_t *rollups_out, *changelog_out, *dlq_out;
    tally_restore_t *restore;
    tally_decoder_t *dec;
    tally_usage_reader_t *reader;
    tally_rollup_record_t *enc;
    tally_rollup_config_t config;
    char *usage_topic;
    size_t expire_budget;
    int restore_timeout_ms;

    part_t *parts;
    size_t n_parts;

    /* Scratch for rebalances, n_parts long. */
    int32_t *list;
    int64_t *ends, *positions;
    tally_rollup_t **states;
    tally_changelog_buf_t key, value;   /* position records */

    /* The partition whose changes before_commit is producing. */
    int32_t flushing;

    tally_metric_t *m_outcome[OUT_COUNT], *m_state[ST_COUNT];
    tally_metric_t *m_api_out, *m_seat_out, *m_entries_out, *m_tombstones_out;
    tally_metric_t *m_active, *m_restore_seconds, *m_restored, *m_last_restore_ms, *m_position_moved;
    tally_metric_t *m_expired, *m_flush_seconds;
};

/* ---- partitions ------------------------------------------------------------ */

/* The entry of input partition p; the table grows if the topic did. */
static part_t *part_get(tally_aggregator_t *a, int32_t p)
{
    if ((size_t)p >= a->n_parts) {
        size_t n = (size_t)p + 1;
        a->parts = tally_xrealloc(a->parts, n, sizeof *a->parts);
        a->list = tally_xrealloc(a->list, n, sizeof *a->list);
        a->ends = tally_xrealloc(a->ends, n, sizeof *a->ends);
        a->positions = tally_xrealloc(a->positions, n, sizeof *a->positions);
        a->states = tally_xrealloc(a->states, n, sizeof *a->states);
        for (size_t i = a->n_parts; i < n; i++)
            a->parts[i] = (part_t){.next = -1};
        a->n_parts = n;
    }
    return &a->parts[p];
}

/* Forgets the state (it is restored again before it is used). */
static void part_forget(part_t *part)
{
    tally_rollup_free(part->state);
    part->state = NULL;
    part->next = -1;
    part->moved = false;
}

/* Sums the states held into the gauges. */
static void update_gauges(tally_aggregator_t *a)
{
    size_t sums[ST_COUNT] = {0}, active = 0;
    for (size_t i = 0; i < a->n_parts; i++) {
        part_t *part = &a->parts[i];
        active += part->active;
        if (part->state == NULL)
            continue;
        tally_rollup_stats_t st;
        tally_rollup_stats(part->state, &st);
        sums[ST_REPORTERS] += st.reporters;
        sums[ST_API] += st.api_rollups;
        sums[ST_SEATS] += st.seats;
        sums[ST_SEAT_EVENTS] += st.seat_events;
        sums[ST_SEAT_ROLLUPS] += st.seat_rollups;
        sums[ST_TENANTS] += st.tenants;
    }
    for (int k = 0; k < ST_COUNT; k++)
        if (a->m_state[k])
            tally_metric_set(a->m_state[k], (int64_t)sums[k]);
    if (a->m_active)
        tally_metric_set(a->m_active, (int64_t)active);
}

/* Reads the committed states of partitions list[0..n) (active) from
 * their changelog, with the input positions they belong to. Returns 0, or
 * -1 (logged). */
static int restore_parts(tally_aggregator_t *a, const int32_t *list, size_t n)
{
    char err[512];
    long long t0 = tally_mono_ms();
    uint64_t records = 0;
    if (n == 0)
        return 0;
    /* list may be a->list: stable_ends writes a->ends only. */
    if (tally_restore_stable_ends(a->restore, list, n, a->ends, a->restore_timeout_ms, err, sizeof err) != 0) {
        tally_log_error(COMPONENT, "restore: %s", err);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        part_t *part = part_get(a, list[i]);
        part_forget(part);
        part->state = tally_rollup_new(&a->config, err, sizeof err);
        if (part->state == NULL) {
            /* The configuration was checked at start. */
            tally_log_error(COMPONENT, "restore: %s", err);
            return -1;
        }
        a->states[i] = part->state;
    }
    if (tally_restore_read(a->restore, list, n, a->ends, a->states, a->positions, a->restore_timeout_ms,
                           &records, err, sizeof err) != 0) {
        tally_log_error(COMPONENT, "restore: %s", err);
        for (size_t i = 0; i < n; i++)
            part_forget(part_get(a, list[i]));
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        part_get(a, list[i])->next = a->positions[i];
    long long took = tally_mono_ms() - t0;
    tally_metric_add(a->m_restored, records);
    if (a->m_restore_seconds)
        tally_metric_observe(a->m_restore_seconds, (double)took / 1000.0);
    if (a->m_last_restore_ms)
        tally_metric_set(a->m_last_restore_ms, took);
    tally_log_info(COMPONENT, "restored %zu partition(s) from %" PRIu64 " changelog record(s) in %lld ms", n,
                   records, took);
    update_gauges(a);
    return 0;
}

/* ---- hooks --------------------------------------------------------------- */

static int on_assign(void *arg, tally_txn_t *txn, const rd_kafka_topic_partition_list_t *parts)
{
    tally_aggregator_t *a = arg;
    size_t n = 0;
    for (int i = 0; i < parts->cnt; i++)
        if (strcmp(parts->elems[i].topic, a->usage_topic) == 0)
            (void)part_get(a, parts->elems[i].partition);
    for (int i = 0; i < parts->cnt; i++)
        if (strcmp(parts->elems[i].topic, a->usage_topic) == 0) {
            a->list[n++] = parts->elems[i].partition;
            part_get(a, parts->elems[i].partition)->active = true;
        }
    if (restore_parts(a, a->list, n) != 0)
        return TALLY_TXN_ERR_FATAL;
    /* Start where the state ends: its position was committed with it.
     * The group's committed offset is the same one unless a transaction
     * ended between the engine's read of the offsets and the restore. */
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *el = &parts->elems[i];
        if (strcmp(el->topic, a->usage_topic) != 0)
            continue;
        int64_t next = part_get(a, el->partition)->next;
        if (next < 0)
            continue;   /* never processed, or written before positions were: the committed offset */
        if (el->offset != next) {
            tally_metric_add(a->m_position_moved, 1);
            tally_log_warn(COMPONENT, "%s[%" PRId32 "]: the restored state belongs to offset %" PRId64
                           ", the committed offset read before it is %" PRId64 ": starting at %" PRId64,
                           el->topic, el->partition, next, el->offset, next);
        }
        if (tally_txn_set_start_offset(txn, el->topic, el->partition, next) != 0) {
            tally_log_error(COMPONENT, "%s[%" PRId32 "]: cannot set the start offset", el->topic, el->partition);
            return TALLY_TXN_ERR_FATAL;
        }
    }
    return 0;
}

static void on_revoke(void *arg, tally_txn_t *txn, const rd_kafka_topic_partition_list_t *parts, int lost)
{
    tally_aggregator_t *a = arg;
    /* The next owner restores from the changelog; so would this instance
     * if the partitions came back. */
    for (int i = 0; i < parts->cnt; i++) {
        if (strcmp(parts->elems[i].topic, a->usage_topic) != 0)
            continue;
        part_t *part = part_get(a, parts->elems[i].partition);
        part_forget(part);
        part->active = false;
    }
    update_gauges(a);
}

static int produce_dlq(tally_aggregator_t *a, tally_txn_t *txn, const tally_txn_record_t *rec, const char *error,
                       const char *stage, const char *detail, const tally_catalog_entry_t *writer)
{
    char partition[16], offset[24], length[24], schema[128], key[300];
    tally_txn_header_t h[9];
    size_t n = 0;
    snprintf(partition, sizeof partition, "%" PRId32, rec->partition);
    snprintf(offset, sizeof offset, "%" PRId64, rec->offset);
    snprintf(length, sizeof length, "%zu", rec->value ? rec->len : 0);
    h[n++] = (tally_txn_header_t){"error", error, strlen(error)};
    h[n++] = (tally_txn_header_t){"stage", stage, strlen(stage)};
    h[n++] = (tally_txn_header_t){"detail", detail, strlen(detail)};
    h[n++] = (tally_txn_header_t){"source.topic", rec->topic, strlen(rec->topic)};
    h[n++] = (tally_txn_header_t){"source.partition", partition, strlen(partition)};
    h[n++] = (tally_txn_header_t){"source.offset", offset, strlen(offset)};
    h[n++] = (tally_txn_header_t){"source.length", length, strlen(length)};
    if (writer) {
        snprintf(schema, sizeof schema, "%s/v%d", writer->name, writer->version);
        h[n++] = (tally_txn_header_t){"schema", schema, strlen(schema)};
    }
    h[n++] = (tally_txn_header_t){"process", "tally-aggregator", strlen("tally-aggregator")};
    tally_log_debug(COMPONENT, "%s[%" PRId32 "]@%" PRId64 " to the DLQ: %s/%s", rec->topic, rec->partition,
                    rec->offset, stage, error);
    int klen = snprintf(key, sizeof key, "%s/%s", rec->topic, partition);
    return tally_txn_produce(txn, a->dlq_out, RD_KAFKA_PARTITION_UA, key, (size_t)klen, NULL, 0, h, n);
}

static int process(void *arg, tally_txn_t *txn, const tally_txn_record_t *rec)
{
    tally_aggregator_t *a = arg;
    char why[512];
    const tally_catalog_entry_t *writer = NULL;
    tally_usage_record_t ur;

    part_t *part = part_get(a, rec->partition);
    if (part->state == NULL) {
        /* After an abort: the committed state, before the first record
         * read again. */
        if (restore_parts(a, &rec->partition, 1) != 0)
            return TALLY_TXN_ERR_FATAL;
    }
    if (rec->offset < part->next) {
        /* The state holds this record's effect already (its position says
         * so): a rewind to a committed offset behind the state. */
        tally_metric_add(a->m_outcome[OUT_IN_STATE], 1);
        return 0;
    }
    /* Past it, whatever the outcome below (a gap is normal: transaction
     * markers take offsets too). */
    part->next = rec->offset + 1;
    part->moved = true;
    if (rec->value == NULL) {
        tally_metric_add(a->m_outcome[OUT_UNDECODABLE], 1);
        return produce_dlq(a, txn, rec, "no_value", "decode", "the record has no value", NULL);
    }
    int rc = tally_usage_reader_decode(a->reader, a->dec, rec->value, rec->len, &ur, &writer, why, sizeof why);
    if (rc < 0) {
        tally_metric_add(a->m_outcome[OUT_UNDECODABLE], 1);
        return produce_dlq(a, txn, rec, tally_codec_error_name(rc), "decode", why, NULL);
    }
    if (rc > 0) {
        tally_metric_add(a->m_outcome[OUT_UNSUPPORTED], 1);
        return produce_dlq(a, txn, rec, "unsupported_record", "read", why, writer);
    }
    /* The tenant's records must all be in one partition, the one its key
     * picks: a rollup computed from two partitions' states would be
     * overwritten by either's partial sums. */
    const char *tenant = ur.kind == TALLY_USAGE_RECORD_REPORT ? ur.report.tenant_id : ur.seat.tenant_id;
    size_t tlen = strlen(tenant);
    if (rec->key == NULL || rec->key_len != tlen || memcmp(rec->key, tenant, tlen) != 0) {
        tally_metric_add(a->m_outcome[OUT_WRONG_KEY], 1);
        return produce_dlq(a, txn, rec, "wrong_key", "validate", "the record key is not its tenant_id", writer);
    }
    tally_rollup_outcome_t outcome = tally_usage_record_apply(part->state, &ur);
    switch (outcome) {
    case TALLY_ROLLUP_APPLIED: tally_metric_add(a->m_outcome[OUT_APPLIED], 1); break;
    case TALLY_ROLLUP_DUPLICATE: tally_metric_add(a->m_outcome[OUT_DUPLICATE], 1); break;
    case TALLY_ROLLUP_STALE: tally_metric_add(a->m_outcome[OUT_STALE], 1); break;
    case TALLY_ROLLUP_TOO_LATE: tally_metric_add(a->m_outcome[OUT_TOO_LATE], 1); break;
    case TALLY_ROLLUP_INVALID:
        tally_metric_add(a->m_outcome[OUT_INVALID], 1);
        return produce_dlq(a, txn, rec, "invalid", "validate",
                           "empty id, time outside years 0-9999 or unknown seat op", writer);
    }
    return 0;
}

/* Encode errors are bugs (every value the library holds fits the schema). */
static int emit_api(void *arg, const tally_api_rollup_t *r)
{
    tally_aggregator_t *a = arg;
    char err[256];
    const char *key;
    const void *value;
    size_t key_len, len;
    if (tally_rollup_record_api(a->enc, r, &key, &key_len, &value, &len, err, sizeof err) != 0) {
        tally_log_error(COMPONENT, "encode: %s", err);
        return TALLY_TXN_ERR_FATAL;
    }
    int rc = tally_txn_produce(a->txn, a->rollups_out, RD_KAFKA_PARTITION_UA, key, key_len, value, len, NULL, 0);
    if (rc == 0)
        tally_metric_add(a->m_api_out, 1);
    return rc;
}

static int emit_seat(void *arg, const tally_seat_rollup_t *r)
{
    tally_aggregator_t *a = arg;
    char err[256];
    const char *key;
    const void *value;
    size_t key_len, len;
    if (tally_rollup_record_seat(a->enc, r, &key, &key_len, &value, &len, err, sizeof err) != 0) {
        tally_log_error(COMPONENT, "encode: %s", err);
        return TALLY_TXN_ERR_FATAL;
    }
    int rc = tally_txn_produce(a->txn, a->rollups_out, RD_KAFKA_PARTITION_UA, key, key_len, value, len, NULL, 0);
    if (rc == 0)
        tally_metric_add(a->m_seat_out, 1);
    return rc;
}

static int emit_entry(void *arg, const tally_changelog_record_t *r)
{
    tally_aggregator_t *a = arg;
    /* Co-partitioned: the changelog partition is the input partition. */
    int rc = tally_txn_produce(a->txn, a->changelog_out, a->flushing, r->key, r->key_len, r->value,
                               r->value ? r->value_len : 0, NULL, 0);
    if (rc == 0)
        tally_metric_add(r->value ? a->m_entries_out : a->m_tombstones_out, 1);
    return rc;
}

/* The input position of the partition being flushed, in the same
 * transaction as its state changes (changelog.h). */
static int emit_position(tally_aggregator_t *a, int64_t next)
{
    tally_changelog_buf_reset(&a->key);
    tally_changelog_buf_reset(&a->value);
    tally_changelog_key_position(&a->key);
    tally_changelog_value_position(&a->value, next);
    tally_changelog_record_t r = {a->key.data, a->key.len, a->value.data, a->value.len};
    return emit_entry(a, &r);
}

static int before_commit(void *arg, tally_txn_t *txn)
{
    tally_aggregator_t *a = arg;
    long long t0 = tally_mono_ms();
    for (size_t p = 0; p < a->n_parts; p++) {
        part_t *part = &a->parts[p];
        if (!part->active || part->state == NULL)
            continue;
        tally_metric_add(a->m_expired, tally_rollup_expire(part->state, a->expire_budget));
        a->flushing = (int32_t)p;
        int rc = tally_rollup_each_changed_api(part->state, emit_api, a);
        if (rc == 0)
            rc = tally_rollup_each_changed_seat(part->state, emit_seat, a);
        if (rc == 0)
            rc = tally_rollup_each_changed_entry(part->state, emit_entry, a);
        if (rc == 0 && part->moved)
            rc = emit_position(a, part->next);
        if (rc != 0)
            return rc;
    }
    if (a->m_flush_seconds)
        tally_metric_observe(a->m_flush_seconds, (double)(tally_mono_ms() - t0) / 1000.0);
    return 0;
}

static void after_commit(void *arg)
{
    tally_aggregator_t *a = arg;
    for (size_t p = 0; p < a->n_parts; p++)
        if (a->parts[p].active && a->parts[p].state != NULL) {
            tally_rollup_clear_changes(a->parts[p].state);
            a->parts[p].moved = false;
        }
    update_gauges(a);
}

static void on_abort(void *arg)
{
    tally_aggregator_t *a = arg;
    /* The states hold effects of the aborted records; re-applying those
     * records to them could count a reporter that expired meanwhile
     * twice (rollup.h), so each is restored from the changelog before its
     * partition's next record. */
    for (size_t p = 0; p < a->n_parts; p++)
        if (a->parts[p].active)
            part_forget(&a->parts[p]);
    update_gauges(a);
}

/* ---- construction ---------------------------------------------------------- */

static void register_metrics(tally_aggregator_t *a, tally_metrics_t *m)
{
    static const double secs[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
    char labels[64];
    if (m == NULL)
        return;
    for (int k = 0; k < OUT_COUNT; k++) {
        snprintf(labels, sizeof labels, "outcome=\"%s\"", outcome_names[k]);
        a->m_outcome[k] = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_aggregator_records_total",
                                            "Input records by outcome (counted again when their transaction "
                                            "aborts)", labels, NULL, 0);
    }
    for (int k = 0; k < ST_COUNT; k++) {
        snprintf(labels, sizeof labels, "kind=\"%s\"", state_names[k]);
        a->m_state[k] = tally_metrics_get(m, TALLY_METRIC_GAUGE, "tally_aggregator_state_entries",
                                          "Entries of the rollup states held, all partitions", labels, NULL, 0);
    }
    a->m_api_out = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_aggregator_rollups_out_total",
                                     "Rollups produced into transactions", "kind=\"api\"", NULL, 0);
    a->m_seat_out = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_aggregator_rollups_out_total",
                                      "Rollups produced into transactions", "kind=\"seat\"", NULL, 0);
    a->m_entries_out = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_aggregator_changelog_out_total",
                                         "Changelog records produced into transactions", "kind=\"entry\"", NULL, 0);
    a->m_tombstones_out = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_aggregator_changelog_out_total",
                                            "Changelog records produced into transactions", "kind=\"tombstone\"",
                                            NULL, 0);
    a->m_active = tally_metrics_get(m, TALLY_METRIC_GAUGE, "tally_aggregator_partitions",
                                    "Input partitions by what this instance holds for them", "state=\"active\"",
                                    NULL, 0);
    a->m_restore_seconds = tally_metrics_get(m, TALLY_METRIC_HISTOGRAM, "tally_aggregator_restore_seconds",
                                             "Time to make assigned partitions ready: waiting for a stable "
                                             "changelog, then reading it",
                                             "", secs, sizeof secs / sizeof secs[0]);
    a->m_restored = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_aggregator_restored_records_total",
                                      "Changelog records read by restores", "", NULL, 0);
    a->m_last_restore_ms = tally_metrics_get(m, TALLY_METRIC_GAUGE, "tally_aggregator_last_restore_ms",
                                             "Duration of the latest restore, in milliseconds", "", NULL, 0);
    a->m_position_moved = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_aggregator_position_moved_total",
                                            "Assignments that started at the restored state's input position "
                                            "because the committed offset read before the restore differed",
                                            "", NULL, 0);
    a->m_expired = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_aggregator_expired_total",
                                     "State entries removed by expiry (idle reporters, closed days)", "", NULL, 0);
    a->m_flush_seconds = tally_metrics_get(m, TALLY_METRIC_HISTOGRAM, "tally_aggregator_flush_seconds",
                                           "Time to produce one transaction's rollups and changelog records", "",
                                           secs, sizeof secs / sizeof secs[0]);
}

tally_aggregator_t *tally_aggregator_new(const tally_aggregator_opts_t *o, char *errbuf, size_t errsize)
{
    char name[512];
    int n_in = 0, n_changelog = 0, n_rollups = 0;
    tally_aggregator_t *a = tally_xcalloc(1, sizeof *a);

    a->config.open_days = o->open_days;
    a->config.reporter_idle_ms = o->reporter_idle_ms;
    if (sodium_init() < 0) {
        snprintf(errbuf, errsize, "libsodium: cannot initialize");
        goto err;
    }
    /* Random table keys: ids chosen by clients cannot aim collisions. */
    randombytes_buf(a->config.hash_key, sizeof a->config.hash_key);
    tally_rollup_t *probe = tally_rollup_new(&a->config, errbuf, errsize);
    if (probe == NULL)
        goto err;
    tally_rollup_free(probe);
    a->usage_topic = tally_xstrdup(o->usage_topic);
    a->expire_budget = o->expire_budget ? o->expire_budget : DEFAULT_EXPIRE_BUDGET;
    a->restore_timeout_ms = o->restore_timeout_ms > 0 ? o->restore_timeout_ms : DEFAULT_RESTORE_TIMEOUT_MS;

    snprintf(name, sizeof name, "%s-%s-restore", o->txn_id_prefix, o->instance_id);
    char group[512];
    snprintf(group, sizeof group, "%s.restore", o->group_id);
    tally_restore_opts_t ro = {.brokers = o->brokers, .topic = o->changelog_topic, .client_id = name,
                               .group_id = group, .cfg = o->cfg};
    if ((a->restore = tally_restore_new(&ro, errbuf, errsize)) == NULL)
        goto err;
    if (tally_restore_partition_count(a->restore, o->usage_topic, 30000, &n_in, errbuf, errsize) != 0 ||
        tally_restore_partition_count(a->restore, o->changelog_topic, 30000, &n_changelog, errbuf, errsize) != 0 ||
        tally_restore_partition_count(a->restore, o->rollups_topic, 30000, &n_rollups, errbuf, errsize) != 0)
        goto err;
    if (n_in != n_changelog) {
        snprintf(errbuf, errsize, "%.200s has %d partitions but %.200s %d: the changelog must be co-partitioned "
                 "with the input", o->changelog_topic, n_changelog, o->usage_topic, n_in);
        goto err;
    }
    (void)part_get(a, (int32_t)n_in - 1);
    a->dec = tally_decoder_new_any(o->schemas);
    a->reader = tally_usage_reader_new();
    if ((a->enc = tally_rollup_record_new(o->schemas, errbuf, errsize)) == NULL)
        goto err;
    register_metrics(a, o->metrics);

    a->hooks.process = process;
    a->hooks.before_commit = before_commit;
    a->hooks.after_commit = after_commit;
    a->hooks.on_abort = on_abort;
    a->hooks.on_assign = on_assign;
    a->hooks.on_revoke = on_revoke;
    const char *topics[] = {o->usage_topic};
    tally_txn_opts_t eo = {
        .brokers = o->brokers, .group_id = o->group_id, .txn_id_prefix = o->txn_id_prefix,
        .instance_id = o->instance_id, .topics = topics, .n_topics = 1,
        .batch_max_records = o->batch_max_records, .batch_max_ms = o->batch_max_ms,
        .cfg = o->cfg, .metrics = o->metrics, .hooks = &a->hooks, .arg = a,
    };
    if ((a->txn = tally_txn_new(&eo, errbuf, errsize)) == NULL ||
        (a->rollups_out = tally_txn_topic(a->txn, o->rollups_topic, errbuf, errsize)) == NULL ||
        (a->changelog_out = tally_txn_topic(a->txn, o->changelog_topic, errbuf, errsize)) == NULL ||
        (a->dlq_out = tally_txn_topic(a->txn, o->dlq_topic, errbuf, errsize)) == NULL)
        goto err;
    return a;
err:
    tally_aggregator_free(a);
    return NULL;
}

int tally_aggregator_run(tally_aggregator_t *a, volatile sig_atomic_t *stop, char *errbuf, size_t errsize)
{
    return tally_txn_run(a->txn, stop, errbuf, errsize);
}

tally_txn_t *tally_aggregator_txn(tally_aggregator_t *a)
{
    return a->txn;
}

void tally_aggregator_free(tally_aggregator_t *a)
{
    if (a == NULL)
        return;
    /* The engine first: closing its consumer may still run the hooks. */
    tally_txn_free(a->txn);
    for (size_t p = 0; p < a->n_parts; p++)
        tally_rollup_free(a->parts[p].state);
    free(a->parts);
    free(a->list);
    free(a->ends);
    free(a->positions);
    free(a->states);
    tally_changelog_buf_free(&a->key);
    tally_changelog_buf_free(&a->value);
    tally_restore_free(a->restore);
    tally_rollup_record_free(a->enc);
    tally_decoder_free(a->dec);
    tally_usage_reader_free(a->reader);
    free(a->usage_topic);
    free(a);
}
