/*
 * tally-notifier's pipeline (notifier.h): hooks of the transactional
 * engine around the crossing core.
 */
#include "notifier.h"

#include "alert_record.h"
#include "changelog_reader.h"
#include "cp_table.h"
#include "log.h"
#include "notifier_input.h"
#include "timeutil.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPONENT "notifier"

enum { OUT_APPLIED, OUT_SKIPPED, OUT_UNDECODABLE, OUT_COUNT };
static const char *const outcome_names[OUT_COUNT] = {"applied", "skipped", "undecodable"};

struct tally_notifier_t {
    tally_txn_t *txn;
    rd_kafka_topic_t *alerts_out, *changelog_out;
    tally_crossing_t *cx;
    tally_notifier_input_t *in;
    tally_alert_encoder_t *enc;
    tally_cp_table_t *cp;
    tally_changelog_reader_t *reader;
    char *rollups_topic, *controlpanel_topic, *changelog_topic;
    int restore_timeout_ms;
    int rollup_parts, changelog_parts;
    int64_t *position;               /* per rollups partition: next offset the state includes (-1: none) */
    bool *moved;                     /* position changed in the open transaction */
    bool need_restore, need_evaluate;
    tally_alert_list_t alerts;
    tally_metric_t *m_outcome[OUT_COUNT], *m_alerts[2], *m_cp, *m_restores, *m_last_restore_ms;
};

/* ---- the Control Panel table -------------------------------------------- */

static void apply_cp(void *arg, const void *value, size_t len)
{
    tally_notifier_t *n = arg;
    char err[512];
    if (value == NULL)
        return;
    tally_metric_add(n->m_cp, 1);
    if (tally_notifier_input_controlpanel(n->in, n->cx, value, len, &n->alerts, err, sizeof err) < 0)
        tally_log_warn(COMPONENT, "a Control Panel record skipped: %s", err);
}

/* ---- restore --------------------------------------------------------------- */

static int apply_changelog(void *arg, size_t index, const void *key, size_t key_len, const void *value,
                           size_t value_len, char *why, size_t whysize)
{
    tally_notifier_t *n = arg;
    (void)index;
    const char *k = key;
    char name[1024];
    if (key_len < 3 || key_len >= sizeof name || k[1] != ':') {
        snprintf(why, whysize, "a key that is not t:<tenant> or p:<partition>");
        return -1;
    }
    memcpy(name, k + 2, key_len - 2);
    name[key_len - 2] = '\0';
    if (k[0] == 't')
        return tally_crossing_restore(n->cx, name, value, value_len, why, whysize);
    if (k[0] == 'p') {
        char *end, text[32];
        long p = strtol(name, &end, 10);
        if (*end != '\0' || p < 0 || p >= n->rollup_parts)
            return 0;   /* a partition the topic no longer has */
        long long off = -1;
        if (value != NULL) {
            if (value_len == 0 || value_len >= sizeof text) {
                snprintf(why, whysize, "position %ld: not an offset", p);
                return -1;
            }
            memcpy(text, value, value_len);
            text[value_len] = '\0';
            off = strtoll(text, &end, 10);
            if (*end != '\0' || off < 0) {
                snprintf(why, whysize, "position %ld: not an offset", p);
                return -1;
            }
        }
        n->position[p] = off;
        return 0;
    }
    snprintf(why, whysize, "a key that is not t:<tenant> or p:<partition>");
    return -1;
}

/* Forgets the rollups and series and reads them back with the positions. */
static int restore(tally_notifier_t *n, char *errbuf, size_t errsize)
{
    long long t0 = tally_mono_ms();
    /* What arrived on the Control Panel topic first: its alerts are
     * recomputed from the restored state (need_evaluate). */
    tally_cp_table_poll(n->cp, apply_cp, n);
    tally_alert_list_clear(&n->alerts);
    tally_crossing_reset_state(n->cx);
    for (int p = 0; p < n->rollup_parts; p++) {
        n->position[p] = -1;
        n->moved[p] = false;
    }
    int32_t *parts = tally_xcalloc((size_t)n->changelog_parts, sizeof *parts);
    int64_t *ends = tally_xcalloc((size_t)n->changelog_parts, sizeof *ends);
    uint64_t records = 0;
    for (int p = 0; p < n->changelog_parts; p++)
        parts[p] = p;
    int rc = tally_changelog_reader_stable_ends(n->reader, parts, (size_t)n->changelog_parts, ends,
                                                n->restore_timeout_ms, errbuf, errsize);
    if (rc == 0)
        rc = tally_changelog_reader_read(n->reader, parts, (size_t)n->changelog_parts, ends, apply_changelog, n,
                                         n->restore_timeout_ms, &records, errbuf, errsize);
    free(parts);
    free(ends);
    if (rc != 0)
        return -1;
    n->need_restore = false;
    n->need_evaluate = true;
    tally_metric_add(n->m_restores, 1);
    tally_metric_set(n->m_last_restore_ms, tally_mono_ms() - t0);
    tally_log_info(COMPONENT, "state restored from %s: %" PRIu64 " record(s) in %lld ms", n->changelog_topic,
                   records, tally_mono_ms() - t0);
    return 0;
}

static int on_assign(void *arg, tally_txn_t *txn, const rd_kafka_topic_partition_list_t *parts)
{
    tally_notifier_t *n = arg;
    char err[1024];
    int rollup_parts = 0;
    for (int i = 0; i < parts->cnt; i++)
        rollup_parts += strcmp(parts->elems[i].topic, n->rollups_topic) == 0;
    if (parts->cnt == 0)
        return 0;
    if (rollup_parts < n->rollup_parts)
        tally_log_warn(COMPONENT,
                       "assigned %d of the %d partitions of %s: a tenant's rollups span every partition, so "
                       "run one instance of the group",
                       rollup_parts, n->rollup_parts, n->rollups_topic);
    if (restore(n, err, sizeof err) != 0) {
        tally_log_error(COMPONENT, "restore: %s", err);
        return TALLY_TXN_ERR_FATAL;
    }
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        if (strcmp(parts->elems[i].topic, n->rollups_topic) == 0 && p >= 0 && p < n->rollup_parts &&
            n->position[p] >= 0 &&
            tally_txn_set_start_offset(txn, parts->elems[i].topic, p, n->position[p]) != 0) {
            tally_log_error(COMPONENT, "cannot start %s[%" PRId32 "] at %" PRId64, parts->elems[i].topic, p,
                            n->position[p]);
            return TALLY_TXN_ERR_FATAL;
        }
    }
    return 0;
}

/* ---- the loop --------------------------------------------------------------- */

static int produce_alerts(tally_notifier_t *n)
{
    char err[512];
    for (size_t i = 0; i < n->alerts.count; i++) {
        const tally_alert_t *a = &n->alerts.items[i];
        const void *buf;
        size_t len;
        if (tally_alert_encode(n->enc, a, &buf, &len, err, sizeof err) != 0) {
            tally_log_error(COMPONENT, "encode: %s", err);
            return TALLY_TXN_ERR_FATAL;
        }
        int rc = tally_txn_produce(n->txn, n->alerts_out, RD_KAFKA_PARTITION_UA, a->tenant, strlen(a->tenant), buf,
                                   len, NULL, 0);
        if (rc != 0)
            return rc;
        tally_metric_add(n->m_alerts[a->state], 1);
    }
    tally_alert_list_clear(&n->alerts);
    return 0;
}

static int process(void *arg, tally_txn_t *txn, const tally_txn_record_t *rec)
{
    tally_notifier_t *n = arg;
    char err[1024];
    (void)txn;
    if (n->need_restore && restore(n, err, sizeof err) != 0) {
        tally_log_error(COMPONENT, "restore: %s", err);
        return TALLY_TXN_ERR_FATAL;
    }
    tally_cp_table_poll(n->cp, apply_cp, n);
    if (n->need_evaluate) {
        tally_crossing_evaluate_all(n->cx, rec->timestamp, &n->alerts);
        n->need_evaluate = false;
    }
    if (strcmp(rec->topic, n->controlpanel_topic) == 0) {
        /* Most often already applied by the table above: applying it again
         * changes nothing. It brings a transaction of its own, so that the
         * alerts of a Control Panel change do not wait for a rollup. */
        if (rec->value != NULL)
            apply_cp(n, rec->value, rec->len);
        return produce_alerts(n);
    }
    int32_t p = rec->partition;
    if (p < 0 || p >= n->rollup_parts) {
        tally_log_error(COMPONENT, "%s[%" PRId32 "]: a partition the topic did not have at start", rec->topic, p);
        return TALLY_TXN_ERR_FATAL;
    }
    if (n->position[p] >= 0 && rec->offset < n->position[p]) {
        tally_metric_add(n->m_outcome[OUT_SKIPPED], 1);   /* already in the state */
    } else if (rec->value == NULL) {
        tally_metric_add(n->m_outcome[OUT_SKIPPED], 1);   /* a compaction tombstone */
    } else if (tally_notifier_input_rollup(n->in, n->cx, rec->value, rec->len, &n->alerts, err, sizeof err) < 0) {
        tally_log_warn(COMPONENT, "%s[%" PRId32 "]@%" PRId64 " skipped: %s", rec->topic, p, rec->offset, err);
        tally_metric_add(n->m_outcome[OUT_UNDECODABLE], 1);
    } else {
        tally_metric_add(n->m_outcome[OUT_APPLIED], 1);
    }
    if (rec->offset + 1 > n->position[p]) {
        n->position[p] = rec->offset + 1;
        n->moved[p] = true;
    }
    return produce_alerts(n);
}

static int emit_tenant(void *arg, const char *tenant, const void *value, size_t len)
{
    tally_notifier_t *n = arg;
    size_t tl = strlen(tenant);
    char *key = tally_xcalloc(1, tl + 3);
    memcpy(key, "t:", 2);
    memcpy(key + 2, tenant, tl);
    int rc = tally_txn_produce(n->txn, n->changelog_out, RD_KAFKA_PARTITION_UA, key, tl + 2, value, len, NULL, 0);
    free(key);
    return rc;
}

static int before_commit(void *arg, tally_txn_t *txn)
{
    tally_notifier_t *n = arg;
    (void)txn;
    int rc = produce_alerts(n);   /* none left by process; kept for safety */
    if (rc == 0)
        rc = tally_crossing_flush(n->cx, emit_tenant, n);
    for (int p = 0; rc == 0 && p < n->rollup_parts; p++) {
        if (!n->moved[p])
            continue;
        char key[32], value[32];
        int kl = snprintf(key, sizeof key, "p:%d", p);
        int vl = snprintf(value, sizeof value, "%" PRId64, n->position[p]);
        rc = tally_txn_produce(n->txn, n->changelog_out, RD_KAFKA_PARTITION_UA, key, (size_t)kl, value, (size_t)vl,
                               NULL, 0);
    }
    return rc;
}

static void after_commit(void *arg)
{
    tally_notifier_t *n = arg;
    for (int p = 0; p < n->rollup_parts; p++)
        n->moved[p] = false;
}

static void on_abort(void *arg)
{
    tally_notifier_t *n = arg;
    /* The state holds effects of the aborted records: read the committed
     * one back before the next record (the engine rewinds the input to the
     * committed offsets, which are the stored positions). */
    tally_alert_list_clear(&n->alerts);
    n->need_restore = true;
}

/* ---- construction ------------------------------------------------------------- */

static void register_metrics(tally_notifier_t *n, tally_metrics_t *m)
{
    char labels[64];
    if (m == NULL)
        return;
    for (int k = 0; k < OUT_COUNT; k++) {
        snprintf(labels, sizeof labels, "outcome=\"%s\"", outcome_names[k]);
        n->m_outcome[k] = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_notifier_records_total",
                                            "Rollup records by outcome (counted again when their transaction "
                                            "aborts)", labels, NULL, 0);
    }
    for (int s = 0; s < 2; s++) {
        snprintf(labels, sizeof labels, "state=\"%s\"", tally_alert_state_name((tally_alert_state_t)s));
        n->m_alerts[s] = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_notifier_alerts_total",
                                           "Alerts produced into transactions", labels, NULL, 0);
    }
    n->m_cp = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_notifier_controlpanel_records_total",
                                "Control Panel records read (the global table)", "", NULL, 0);
    n->m_restores = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_notifier_restores_total",
                                      "State restores from the changelog", "", NULL, 0);
    n->m_last_restore_ms = tally_metrics_get(m, TALLY_METRIC_GAUGE, "tally_notifier_last_restore_ms",
                                             "Duration of the latest restore, in milliseconds", "", NULL, 0);
}

tally_notifier_t *tally_notifier_new(const tally_notifier_opts_t *o, char *errbuf, size_t errsize)
{
    static const tally_txn_hooks_t hooks = {
        .process = process, .before_commit = before_commit, .after_commit = after_commit,
        .on_abort = on_abort, .on_assign = on_assign,
    };
    char client[256];
    tally_notifier_t *n = tally_xcalloc(1, sizeof *n);
    n->rollups_topic = tally_xstrdup(o->rollups_topic);
    n->controlpanel_topic = tally_xstrdup(o->controlpanel_topic);
    n->changelog_topic = tally_xstrdup(o->changelog_topic);
    n->restore_timeout_ms = o->restore_timeout_ms > 0 ? o->restore_timeout_ms : 120000;
    n->cx = tally_crossing_new(o->defaults);
    register_metrics(n, o->metrics);
    snprintf(client, sizeof client, "%s-%s", o->txn_id_prefix, o->instance_id);
    tally_changelog_reader_opts_t ro = {.brokers = o->brokers, .topic = o->changelog_topic, .client_id = client,
                                        .group_id = o->group_id, .cfg = o->cfg};
    if ((n->in = tally_notifier_input_new(o->schemas, errbuf, errsize)) == NULL ||
        (n->enc = tally_alert_encoder_new(o->schemas, errbuf, errsize)) == NULL ||
        (n->reader = tally_changelog_reader_new(&ro, errbuf, errsize)) == NULL ||
        tally_changelog_reader_partition_count(n->reader, o->rollups_topic, n->restore_timeout_ms,
                                               &n->rollup_parts, errbuf, errsize) != 0 ||
        tally_changelog_reader_partition_count(n->reader, o->changelog_topic, n->restore_timeout_ms,
                                               &n->changelog_parts, errbuf, errsize) != 0 ||
        (n->cp = tally_cp_table_new(o->brokers, o->controlpanel_topic, client, o->cfg, n->restore_timeout_ms, errbuf,
                                    errsize)) == NULL ||
        tally_cp_table_load(n->cp, apply_cp, n, n->restore_timeout_ms, errbuf, errsize) != 0)
        goto err;
    tally_alert_list_clear(&n->alerts);   /* no state yet: nothing to alert */
    n->position = tally_xcalloc((size_t)n->rollup_parts, sizeof *n->position);
    n->moved = tally_xcalloc((size_t)n->rollup_parts, sizeof *n->moved);
    for (int p = 0; p < n->rollup_parts; p++)
        n->position[p] = -1;
    const char *topics[] = {o->rollups_topic, o->controlpanel_topic};
    tally_txn_opts_t to = {
        .brokers = o->brokers, .group_id = o->group_id, .txn_id_prefix = o->txn_id_prefix,
        .instance_id = o->instance_id, .topics = topics, .n_topics = 2,
        .batch_max_records = o->batch_max_records, .batch_max_ms = o->batch_max_ms, .cfg = o->cfg,
        .metrics = o->metrics, .hooks = &hooks, .arg = n,
    };
    if ((n->txn = tally_txn_new(&to, errbuf, errsize)) == NULL ||
        (n->alerts_out = tally_txn_topic(n->txn, o->alerts_topic, errbuf, errsize)) == NULL ||
        (n->changelog_out = tally_txn_topic(n->txn, o->changelog_topic, errbuf, errsize)) == NULL)
        goto err;
    return n;
err:
    tally_notifier_free(n);
    return NULL;
}

int tally_notifier_run(tally_notifier_t *n, volatile sig_atomic_t *stop, char *errbuf, size_t errsize)
{
    return tally_txn_run(n->txn, stop, errbuf, errsize);
}

tally_txn_t *tally_notifier_txn(tally_notifier_t *n)
{
    return n->txn;
}

void tally_notifier_free(tally_notifier_t *n)
{
    if (n == NULL)
        return;
    tally_txn_free(n->txn);
    tally_cp_table_free(n->cp);
    tally_changelog_reader_free(n->reader);
    tally_alert_encoder_free(n->enc);
    tally_notifier_input_free(n->in);
    tally_crossing_free(n->cx);
    tally_alert_list_free(&n->alerts);
    free(n->position);
    free(n->moved);
    free(n->rollups_topic);
    free(n->controlpanel_topic);
    free(n->changelog_topic);
    free(n);
}
