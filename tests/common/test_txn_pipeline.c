/* The transactional consume-transform-produce engine (common/txn_pipeline)
 * on the real broker, with hooks of its own (the anonymizer's and the
 * aggregator's use of it rely on this contract): an aborted transaction is
 * read again and its outputs never show; before_commit outputs share their
 * transaction; on_assign runs before any record and on_revoke after the
 * last commit; a fatal hook stops the engine; a second instance with the
 * same transactional.id fences the first. */
#include "config.h"
#include "fixtures.h"
#include "metrics.h"
#include "topic_producer.h"
#include "topic_reader.h"
#include "txn_pipeline.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RECORDS 3000

typedef struct probe_t {
    rd_kafka_topic_t *out, *marks;
    int abort_at;                /* process returns ABORT the first time it sees this record */
    int fatal_at;                /* process returns FATAL at this record */
    int slow_us;                 /* sleep per record */
    atomic_int processed, committed, aborted, assigned, revoked, marks_made;
    atomic_int processed_before_assign, records_committed;
    int in_txn;                  /* records processed since the last commit or abort */
    char log[64][16];            /* first hook calls, in order */
    int nlog;
} probe_t;

static void note(probe_t *p, const char *what)
{
    if (p->nlog < 64)
        snprintf(p->log[p->nlog++], sizeof p->log[0], "%s", what);
}

static int process(void *arg, tally_txn_t *txn, const tally_txn_record_t *rec)
{
    probe_t *p = arg;
    int i = atoi((const char *)rec->value + 4);   /* "rec-<i>" */
    if (atomic_load(&p->assigned) == 0)
        atomic_fetch_add(&p->processed_before_assign, 1);
    if (p->nlog < 64 && (p->nlog == 0 || strcmp(p->log[p->nlog - 1], "process") != 0))
        note(p, "process");
    if (p->slow_us)
        usleep((useconds_t)p->slow_us);
    if (i == p->abort_at) {
        p->abort_at = -1;
        return TALLY_TXN_ERR_ABORT;
    }
    if (i == p->fatal_at)
        return TALLY_TXN_ERR_FATAL;
    char out[32];
    int n = snprintf(out, sizeof out, "out-%d", i);
    tally_txn_header_t h = {"source", "test", 4};
    int rc = tally_txn_produce(txn, p->out, RD_KAFKA_PARTITION_UA, rec->key, rec->key_len, out, (size_t)n, &h, 1);
    if (rc == 0) {
        atomic_fetch_add(&p->processed, 1);
        p->in_txn++;
    }
    return rc;
}

static int before_commit(void *arg, tally_txn_t *txn)
{
    probe_t *p = arg;
    char mark[32];
    int n = snprintf(mark, sizeof mark, "records=%d", p->in_txn);
    atomic_fetch_add(&p->marks_made, 1);
    return tally_txn_produce(txn, p->marks, RD_KAFKA_PARTITION_UA, NULL, 0, mark, (size_t)n, NULL, 0);
}

static void after_commit(void *arg)
{
    probe_t *p = arg;
    atomic_fetch_add(&p->committed, 1);
    atomic_fetch_add(&p->records_committed, p->in_txn);
    p->in_txn = 0;
    note(p, "commit");
}

static void on_abort(void *arg)
{
    probe_t *p = arg;
    atomic_fetch_add(&p->aborted, 1);
    p->in_txn = 0;
    note(p, "abort");
}

static int on_assign(void *arg, tally_txn_t *txn, const rd_kafka_topic_partition_list_t *parts)
{
    probe_t *p = arg;
    if (parts->cnt > 0)
        atomic_store(&p->assigned, 1);
    note(p, "assign");
    return 0;
}

static void on_revoke(void *arg, tally_txn_t *txn, const rd_kafka_topic_partition_list_t *parts, int lost)
{
    probe_t *p = arg;
    atomic_fetch_add(&p->revoked, 1);
    note(p, lost ? "lost" : "revoke");
}

static const tally_txn_hooks_t hooks = {process, before_commit, after_commit, on_abort, on_assign, on_revoke};

typedef struct engine_t {
    tally_txn_t *txn;
    volatile sig_atomic_t stop;
    int rc;
    char err[512];
    pthread_t thread;
} engine_t;

static char in_topic[128], out_topic[128], marks_topic[128], group[128];

static void make_topics_n(int records)
{
    tally_test_unique_name("txn.in", in_topic, sizeof in_topic);
    tally_test_unique_name("txn.out", out_topic, sizeof out_topic);
    tally_test_unique_name("txn.marks", marks_topic, sizeof marks_topic);
    tally_test_unique_name("txn-group", group, sizeof group);
    tally_test_topic_create(in_topic, 3);
    tally_test_topic_create(out_topic, 3);
    tally_test_topic_create(marks_topic, 1);
    tally_test_producer_t p;
    tally_test_producer_init(&p, "txn-test-input", 0);
    for (int i = 0; i < records; i++) {
        char key[16], value[32];
        int kl = snprintf(key, sizeof key, "k%d", i % 37);
        int vl = snprintf(value, sizeof value, "rec-%d", i);
        tally_test_producer_send(&p, in_topic, RD_KAFKA_PARTITION_UA, key, (size_t)kl, value, (size_t)vl, 0);
    }
    tally_test_producer_close(&p);
}

static void make_topics(void)
{
    make_topics_n(RECORDS);
}

static void engine_start_bounds(engine_t *e, probe_t *p, const char *instance, tally_metrics_t *m,
                               const tally_config_t *cfg, int max_records, int max_ms)
{
    const char *topics[] = {in_topic};
    tally_txn_opts_t o = {.brokers = tally_test_brokers(), .group_id = group, .txn_id_prefix = "tally-test-txn",
                          .instance_id = instance, .topics = topics, .n_topics = 1, .batch_max_records = max_records,
                          .batch_max_ms = max_ms, .cfg = cfg, .metrics = m, .hooks = &hooks, .arg = p};
    char topic_id[160];
    snprintf(topic_id, sizeof topic_id, "%s-%s", group, instance);
    o.instance_id = topic_id;
    e->stop = 0;
    e->txn = tally_txn_new(&o, e->err, sizeof e->err);
    cr_assert_not_null(e->txn, "%s", e->err);
    p->out = tally_txn_topic(e->txn, out_topic, e->err, sizeof e->err);
    p->marks = tally_txn_topic(e->txn, marks_topic, e->err, sizeof e->err);
    cr_assert(p->out && p->marks);
}

static void engine_start_cfg(engine_t *e, probe_t *p, const char *instance, tally_metrics_t *m,
                             const tally_config_t *cfg)
{
    engine_start_bounds(e, p, instance, m, cfg, 500, 100);
}

static void engine_start(engine_t *e, probe_t *p, const char *instance, tally_metrics_t *m)
{
    engine_start_cfg(e, p, instance, m, NULL);
}

static void *engine_main(void *arg)
{
    engine_t *e = arg;
    e->rc = tally_txn_run(e->txn, &e->stop, e->err, sizeof e->err);
    return NULL;
}

static void wait_for(atomic_int *counter, int want, int timeout_ms)
{
    long long deadline = tally_test_mono_ms() + timeout_ms;
    while (atomic_load(counter) < want && tally_test_mono_ms() < deadline)
        usleep(20000);
    cr_assert_geq(atomic_load(counter), want, "waited %d ms for %d, got %d", timeout_ms, want, atomic_load(counter));
}

/* Every "out-<i>" exactly once, for i in [0, RECORDS). */
static void expect_outputs_exactly_once(void)
{
    tally_test_record_t *recs;
    size_t n = tally_test_topic_read_all(out_topic, 120000, &recs);
    int *seen = calloc(RECORDS, sizeof *seen), dups = 0;
    for (size_t k = 0; k < n; k++) {
        int i = atoi(recs[k].value + 4);
        cr_assert(i >= 0 && i < RECORDS);
        if (seen[i]++ > 0 && dups++ < 20)
            fprintf(stderr, "doubled: rec-%d (key %s) again at %s[%d]@%lld\n", i, recs[k].key, out_topic,
                    (int)recs[k].partition, (long long)recs[k].offset);
        cr_assert(strstr(recs[k].headers_text, "source=test") != NULL, "headers go through");
    }
    int missing = 0;
    for (int i = 0; i < RECORDS; i++)
        missing += seen[i] == 0;
    cr_expect_eq(dups, 0, "%d outputs doubled", dups);
    cr_expect_eq(missing, 0, "%d outputs missing", missing);
    free(seen);
    tally_test_records_free(recs, n);
}

Test(txn_pipeline, an_aborted_transaction_is_read_again_and_its_outputs_never_show, .timeout = 120)
{
    make_topics();
    probe_t p = {.abort_at = 1700, .fatal_at = -1};
    tally_metrics_t *m = tally_metrics_new();
    engine_t e;
    engine_start(&e, &p, "a", m);
    pthread_create(&e.thread, NULL, engine_main, &e);
    wait_for(&p.records_committed, RECORDS, 60000);
    e.stop = 1;
    pthread_join(e.thread, NULL);
    cr_assert_eq(e.rc, 0, "%s", e.err);
    tally_txn_free(e.txn);

    cr_assert_eq(atomic_load(&p.aborted), 1);
    cr_assert_gt(atomic_load(&p.processed), RECORDS, "the aborted transaction's records were processed again");
    cr_assert_eq(atomic_load(&p.processed_before_assign), 0);
    expect_outputs_exactly_once();

    /* One mark per committed transaction: the aborted one's never shows,
     * and the marks account for every record. */
    tally_test_record_t *marks;
    size_t n = tally_test_topic_read_all(marks_topic, 120000, &marks);
    int sum = 0;
    for (size_t k = 0; k < n; k++)
        sum += atoi(marks[k].value + 8);
    cr_expect_eq((int)n, atomic_load(&p.committed));
    cr_expect_eq(sum, RECORDS);
    tally_test_records_free(marks, n);

    char *text = tally_metrics_render(m, &(size_t){0});
    cr_expect(strstr(text, "tally_txn_transactions_total{result=\"aborted\"} 1") != NULL, "%s", text);
    cr_expect(strstr(text, "tally_txn_records_out_total") != NULL);
    free(text);
    tally_metrics_free(m);
}

Test(txn_pipeline, assign_comes_before_records_and_revoke_after_the_last_commit, .timeout = 120)
{
    make_topics();
    probe_t p = {.abort_at = -1, .fatal_at = -1};
    engine_t e;
    engine_start(&e, &p, "a", NULL);
    char why[128];
    cr_assert_eq(tally_txn_ready(e.txn, why, sizeof why), 0, "not ready before joining");
    cr_assert_eq(tally_txn_healthy(e.txn, why, sizeof why), 1, "%s", why);
    pthread_create(&e.thread, NULL, engine_main, &e);
    wait_for(&p.records_committed, RECORDS, 60000);
    cr_assert_eq(tally_txn_ready(e.txn, why, sizeof why), 1, "%s", why);
    e.stop = 1;
    pthread_join(e.thread, NULL);
    cr_assert_eq(e.rc, 0, "%s", e.err);
    tally_txn_free(e.txn);
    cr_assert_str_eq(p.log[0], "assign");
    cr_assert_str_eq(p.log[1], "process");
    cr_assert_str_eq(p.log[p.nlog - 1], "revoke", "last hook: %s", p.log[p.nlog - 1]);
    cr_assert_str_eq(p.log[p.nlog - 2], "commit");
    cr_assert_eq(atomic_load(&p.aborted), 0);
    expect_outputs_exactly_once();
}

Test(txn_pipeline, a_fatal_hook_stops_the_engine_and_its_transaction_never_shows, .timeout = 120)
{
    make_topics();
    probe_t p = {.abort_at = -1, .fatal_at = 10};
    engine_t e;
    engine_start(&e, &p, "a", NULL);
    e.rc = tally_txn_run(e.txn, &e.stop, e.err, sizeof e.err);
    cr_assert_eq(e.rc, -1);
    cr_assert(strstr(e.err, "process hook") != NULL, "%s", e.err);
    char why[128];
    cr_assert_eq(tally_txn_healthy(e.txn, why, sizeof why), 0);
    tally_txn_free(e.txn);
    tally_test_record_t *recs;
    size_t n = tally_test_topic_read_all(out_topic, 120000, &recs);
    tally_test_records_free(recs, n);
    /* The records before 10 on its partition were in the open transaction. */
    cr_assert_eq((int)n, atomic_load(&p.records_committed));
}

Test(txn_pipeline, a_second_instance_with_the_same_id_fences_the_first, .timeout = 180)
{
    make_topics();
    probe_t pa = {.abort_at = -1, .fatal_at = -1, .slow_us = 2000};
    probe_t pb = {.abort_at = -1, .fatal_at = -1};
    engine_t a, b;
    engine_start(&a, &pa, "same", NULL);
    pthread_create(&a.thread, NULL, engine_main, &a);
    wait_for(&pa.records_committed, 500, 60000);
    /* The zombie: same transactional.id, started while a still runs. */
    engine_start(&b, &pb, "same", NULL);
    pthread_join(a.thread, NULL);
    cr_assert_eq(a.rc, -1, "the first instance must stop, fenced");
    fprintf(stderr, "txn_pipeline: the fenced instance said: %s\n", a.err);
    tally_txn_free(a.txn);
    pthread_create(&b.thread, NULL, engine_main, &b);
    wait_for(&pb.records_committed, RECORDS - atomic_load(&pa.records_committed), 60000);
    b.stop = 1;
    pthread_join(b.thread, NULL);
    cr_assert_eq(b.rc, 0, "%s", b.err);
    tally_txn_free(b.txn);
    cr_assert_eq(atomic_load(&pa.records_committed) + atomic_load(&pb.records_committed), RECORDS);
    expect_outputs_exactly_once();
}

Test(txn_pipeline, cooperative_rebalances_move_partitions_without_loss_or_doubles, .timeout = 180)
{
    make_topics();
    int64_t unused = 0;
    tally_config_option_t opt[] = {TALLY_CONFIG_INT("unused", &unused, "0", 0, 0, "unused")};
    tally_config_t *cfg = tally_config_new("test", "0", NULL, opt, 1);
    char *argv[] = {"test", "-Xconsumer.partition.assignment.strategy=cooperative-sticky", NULL};
    char err[256];
    cr_assert_eq(tally_config_parse(cfg, 2, argv, err, sizeof err), 0, "%s", err);
    probe_t pa = {.abort_at = -1, .fatal_at = -1, .slow_us = 3000};
    probe_t pb = {.abort_at = -1, .fatal_at = -1, .slow_us = 500};
    engine_t a, b;
    engine_start_cfg(&a, &pa, "a", NULL, cfg);
    pthread_create(&a.thread, NULL, engine_main, &a);
    wait_for(&pa.records_committed, 300, 60000);
    engine_start_cfg(&b, &pb, "b", NULL, cfg);   /* takes some of a's partitions, incrementally */
    pthread_create(&b.thread, NULL, engine_main, &b);
    wait_for(&pb.assigned, 1, 60000);
    wait_for(&pa.revoked, 1, 60000);
    a.stop = 1;                                    /* hands the rest over */
    pthread_join(a.thread, NULL);
    cr_assert_eq(a.rc, 0, "%s", a.err);
    tally_txn_free(a.txn);
    long long deadline = tally_test_mono_ms() + 60000;
    while (atomic_load(&pa.records_committed) + atomic_load(&pb.records_committed) < RECORDS &&
           tally_test_mono_ms() < deadline)
        usleep(20000);
    b.stop = 1;
    pthread_join(b.thread, NULL);
    cr_assert_eq(b.rc, 0, "%s", b.err);
    tally_txn_free(b.txn);
    tally_config_free(cfg);
    cr_assert_gt(atomic_load(&pb.records_committed), 0, "b got work from a");
    cr_assert_eq(atomic_load(&pa.records_committed) + atomic_load(&pb.records_committed), RECORDS);
    expect_outputs_exactly_once();
}

/* The value of one series (name and labels, exactly as rendered) in m, or
 * -1 when it is not there. */
static double metric_value(tally_metrics_t *m, const char *series)
{
    char *text = tally_metrics_render(m, &(size_t){0});
    double v = -1;
    for (const char *s = text; (s = strstr(s, series)) != NULL; s += strlen(series))
        if ((s == text || s[-1] == '\n') && s[strlen(series)] == ' ') {
            v = strtod(s + strlen(series) + 1, NULL);
            break;
        }
    free(text);
    return v;
}

/* Sends "rec-<i>" to the input topic and returns once the broker has it. */
static void send_one(int i)
{
    tally_test_producer_t p;
    char value[32];
    int vl = snprintf(value, sizeof value, "rec-%d", i);
    tally_test_producer_init(&p, "txn-test-lone", 0);
    tally_test_producer_send(&p, in_topic, RD_KAFKA_PARTITION_UA, "k", 1, value, (size_t)vl, 0);
    tally_test_producer_close(&p);
}

/* Issue 15: a record that finds the input drained is committed at once; a
 * transaction is held open up to batch_max_ms only while more input is
 * waiting. With batch_max_ms = 5 s, each lone record must be committed
 * (visible downstream, its offset consumed) well under it. */
Test(txn_pipeline, a_lone_record_is_committed_at_once_not_after_batch_max_ms, .timeout = 120)
{
    enum { LONE = 5, MAX_MS = 5000, WITHIN_MS = 1500 };
    make_topics_n(0);
    probe_t p = {.abort_at = -1, .fatal_at = -1};
    tally_metrics_t *m = tally_metrics_new();
    engine_t e;
    engine_start_bounds(&e, &p, "a", m, NULL, 500, MAX_MS);
    pthread_create(&e.thread, NULL, engine_main, &e);
    wait_for(&p.assigned, 1, 60000);
    long long worst = 0;
    for (int i = 0; i < LONE; i++) {
        send_one(i);
        long long t0 = tally_test_mono_ms();
        wait_for(&p.records_committed, i + 1, 30000);
        long long took = tally_test_mono_ms() - t0;
        fprintf(stderr, "txn_pipeline: lone record %d committed %lld ms after the broker had it\n", i, took);
        worst = took > worst ? took : worst;
    }
    cr_expect_lt(worst, WITHIN_MS, "a lone record waited %lld ms (batch_max_ms %d)", worst, MAX_MS);
    cr_expect_eq(metric_value(m, "tally_txn_commits_total{reason=\"drained\"}"), LONE);
    cr_expect_eq(metric_value(m, "tally_txn_commits_total{reason=\"time\"}"), 0);
    cr_expect_eq(metric_value(m, "tally_txn_commits_total{reason=\"size\"}"), 0);
    e.stop = 1;
    pthread_join(e.thread, NULL);
    cr_assert_eq(e.rc, 0, "%s", e.err);
    tally_txn_free(e.txn);
    tally_metrics_free(m);
    cr_assert_eq(atomic_load(&p.committed), LONE, "one transaction per lone record");
}

/* Under backlog a transaction still ends at batch_max_records, and at
 * batch_max_ms when records are slow: the bounds hold, every record once. */
Test(txn_pipeline, under_backlog_a_transaction_ends_at_its_size_or_time_bound, .timeout = 180)
{
    make_topics();
    probe_t ps = {.abort_at = -1, .fatal_at = -1};
    tally_metrics_t *ms = tally_metrics_new();
    engine_t e;
    engine_start_bounds(&e, &ps, "size", ms, NULL, 100, 60000);
    pthread_create(&e.thread, NULL, engine_main, &e);
    wait_for(&ps.records_committed, RECORDS, 60000);
    e.stop = 1;
    pthread_join(e.thread, NULL);
    cr_assert_eq(e.rc, 0, "%s", e.err);
    tally_txn_free(e.txn);
    cr_expect_geq(metric_value(ms, "tally_txn_commits_total{reason=\"size\"}"), 1);
    cr_expect_eq(metric_value(ms, "tally_txn_commits_total{reason=\"time\"}"), 0);
    cr_expect_eq(metric_value(ms, "tally_txn_batch_records_bucket{le=\"100\"}"),
                 metric_value(ms, "tally_txn_batch_records_count"), "no transaction over 100 records");
    tally_metrics_free(ms);
    expect_outputs_exactly_once();

    /* Slow records (2 ms each) and a 50 ms bound: transactions end on time. */
    make_topics();
    probe_t pt = {.abort_at = -1, .fatal_at = -1, .slow_us = 2000};
    tally_metrics_t *mt = tally_metrics_new();
    engine_start_bounds(&e, &pt, "time", mt, NULL, 100000, 50);
    pthread_create(&e.thread, NULL, engine_main, &e);
    wait_for(&pt.records_committed, RECORDS, 90000);
    e.stop = 1;
    pthread_join(e.thread, NULL);
    cr_assert_eq(e.rc, 0, "%s", e.err);
    tally_txn_free(e.txn);
    cr_expect_geq(metric_value(mt, "tally_txn_commits_total{reason=\"time\"}"), 1);
    cr_expect_eq(metric_value(mt, "tally_txn_commits_total{reason=\"size\"}"), 0);
    tally_metrics_free(mt);
    expect_outputs_exactly_once();
}
