/* tally-aggregator as a process on the real broker: the rollups, the
 * changelog and the DLQ it writes, its state carried from one instance to
 * the next through the changelog, /metrics, SIGTERM and --help. */
#include "agg_gen.h"
#include "agg_kafka.h"
#include "changelog.h"
#include "codec.h"
#include "schema_catalog.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#define HOUR INT64_C(3600000)
#define T0 INT64_C(1714521600000) /* 2024-05-01T00:00:00Z */
#define DAY0 19844                /* 2024-05-01 */

TestSuite(aggregator, .timeout = 240);

static tally_catalog_t *load(void)
{
    char err[512];
    tally_catalog_t *cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    return cat;
}

static void produce_report(agg_producer_t *p, agg_gen_t *g, const char *topic, const char *key,
                           const tally_rollup_report_t *r)
{
    const void *buf;
    size_t len;
    cr_assert_eq(agg_gen_report(g, r, &buf, &len), 0);
    agg_produce(p, topic, RD_KAFKA_PARTITION_UA, key, strlen(key), buf, len);
}

static void produce_seat(agg_producer_t *p, agg_gen_t *g, const char *topic, const tally_rollup_seat_event_t *e)
{
    const void *buf;
    size_t len;
    cr_assert_eq(agg_gen_seat(g, e, &buf, &len), 0);
    agg_produce(p, topic, RD_KAFKA_PARTITION_UA, e->tenant_id, strlen(e->tenant_id), buf, len);
}

static tally_rollup_report_t report(const char *tenant, const char *env, const char *reporter, int64_t seq,
                                    int64_t at, int64_t calls)
{
    return (tally_rollup_report_t){.tenant_id = tenant, .environment_id = env, .reporter_id = reporter,
                                   .seq = seq, .observed_at = at, .api_calls = calls, .status_4xx = calls / 10,
                                   .status_5xx = calls / 100, .exec_ms = calls * 7};
}

/* The last rollup of each key of the rollups topic. */
typedef struct {
    char key[256];
    agg_rollup_t r;
} last_t;

static size_t read_rollups(const char *topic, tally_decoder_t *dec, last_t **out)
{
    agg_record_t *recs;
    size_t n = agg_read_all(topic, &recs), m = 0;
    last_t *last = calloc(n ? n : 1, sizeof *last);
    for (size_t i = 0; i < n; i++) {
        size_t k;
        for (k = 0; k < m; k++)
            if (strcmp(last[k].key, recs[i].key) == 0)
                break;
        if (k == m)
            snprintf(last[m++].key, sizeof last[0].key, "%s", recs[i].key);
        cr_assert_eq(agg_rollup_decode(dec, recs[i].value, recs[i].len, &last[k].r), 0, "rollup %s undecodable",
                     recs[i].key);
    }
    agg_records_free(recs, n);
    *out = last;
    return m;
}

static const agg_rollup_t *find(const last_t *last, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(last[i].key, key) == 0)
            return &last[i].r;
    cr_assert_fail("no rollup with key %s", key);
    return NULL;
}

Test(aggregator, help_and_bad_flags)
{
    char *argv[] = {(char *)tally_test_bin("tally-aggregator"), "--help", NULL};
    char out[] = "/tmp/tally-test-agg-help-XXXXXX";
    int fd = mkstemp(out);
    cr_assert_geq(fd, 0);
    tally_test_sanitizer_dir();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, 1);
        tally_test_sanitizer_env(argv[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char buf[16384];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    cr_assert_gt(n, 0);
    buf[n] = '\0';
    const char *flags[] = {"--brokers", "--usage-topic", "--rollups-topic", "--changelog-topic", "--group",
                           "--instance-id", "--transactional-id-prefix", "--batch-max-records", "--batch-max-time",
                           "--open-days", "--reporter-idle", "--admin-port", "--log-level", "-X"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        cr_expect(strstr(buf, flags[i]) != NULL, "--help does not mention %s", flags[i]);
    close(fd);
    unlink(out);

    char *bad[] = {(char *)tally_test_bin("tally-aggregator"), "--open-days=0", NULL};
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        tally_test_sanitizer_env(bad[0]);
        execv(bad[0], bad);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2, "a bad flag exits with status 2");
}

Test(aggregator, rollups_changelog_dlq_metrics_and_sigterm)
{
    char line[512];
    agg_env_t e;
    agg_env_create(&e, "agg-basic", 6);
    tally_catalog_t *cat = load();
    agg_gen_t g;
    cr_assert_eq(agg_gen_init(&g, cat), 0);
    agg_producer_t p;
    agg_producer_init(&p);

    /* acme/prod: two reporters across midnight; a duplicate and a stale report. */
    tally_rollup_report_t r;
    r = report("acme", "prod", "r-1", 1, T0 + 10 * HOUR, 100);
    produce_report(&p, &g, e.usage, "acme", &r);
    r = report("acme", "prod", "r-2", 1, T0 + 12 * HOUR, 30);
    produce_report(&p, &g, e.usage, "acme", &r);
    r = report("acme", "prod", "r-1", 2, T0 + 24 * HOUR - 1, 150);
    produce_report(&p, &g, e.usage, "acme", &r);
    produce_report(&p, &g, e.usage, "acme", &r);                    /* duplicate */
    r = report("acme", "prod", "r-1", 3, T0 + 24 * HOUR + 60000, 170);
    produce_report(&p, &g, e.usage, "acme", &r);
    r = report("acme", "prod", "r-1", 1, T0 + 10 * HOUR, 100);      /* stale */
    produce_report(&p, &g, e.usage, "acme", &r);
    /* An id holding the key separator. */
    r = report("be|ta", "st%g", "r-3", 1, T0 + HOUR, 5);
    produce_report(&p, &g, e.usage, "be|ta", &r);
    /* acme's seats: day 1 peaks at 2 and ends at 1; day 2 starts with
     * 1, peaks at 2, ends at 1. The release of s1 arrives late. */
    tally_rollup_seat_event_t seats[] = {
        {"00000000-0000-4000-8000-000000000001", "acme", "s1", TALLY_SEAT_ASSIGNED, T0 + 9 * HOUR},
        {"00000000-0000-4000-8000-000000000002", "acme", "s2", TALLY_SEAT_ASSIGNED, T0 + 10 * HOUR},
        {"00000000-0000-4000-8000-000000000004", "acme", "s3", TALLY_SEAT_ASSIGNED, T0 + 32 * HOUR},
        {"00000000-0000-4000-8000-000000000003", "acme", "s1", TALLY_SEAT_RELEASED, T0 + 11 * HOUR},
        {"00000000-0000-4000-8000-000000000005", "acme", "s2", TALLY_SEAT_RELEASED, T0 + 33 * HOUR},
    };
    for (size_t i = 0; i < sizeof seats / sizeof seats[0]; i++)
        produce_seat(&p, &g, e.usage, &seats[i]);
    produce_seat(&p, &g, e.usage, &seats[0]);                      /* duplicate */
    /* For the DLQ: not Avro; a report keyed by another tenant; no value. */
    agg_produce(&p, e.usage, RD_KAFKA_PARTITION_UA, "acme", 4, "{\"not\":\"avro\"}", 14);
    r = report("acme", "prod", "r-9", 1, T0 + HOUR, 1000);
    produce_report(&p, &g, e.usage, "globex", &r);
    agg_produce(&p, e.usage, RD_KAFKA_PARTITION_UA, "acme", 4, NULL, 0);
    agg_producer_close(&p);

    tally_test_proc_t *proc = agg_spawn(&e, "basic", NULL, line, sizeof line);
    int port = tally_test_port_from_line(line);
    cr_assert_gt(port, 0);
    cr_assert_eq(agg_wait_done(&e, 60000), 0, "input not consumed; log:\n%s", tally_test_log(proc));
    cr_expect_eq(agg_metric(port, "tally_aggregator_records_total{outcome=\"applied\"}"), 10);
    cr_expect_eq(agg_metric(port, "tally_aggregator_records_total{outcome=\"duplicate\"}"), 2);
    cr_expect_eq(agg_metric(port, "tally_aggregator_records_total{outcome=\"stale\"}"), 1);
    cr_expect_eq(agg_metric(port, "tally_aggregator_records_total{outcome=\"undecodable\"}"), 2);
    cr_expect_eq(agg_metric(port, "tally_aggregator_records_total{outcome=\"wrong_key\"}"), 1);
    cr_expect_eq(agg_metric(port, "tally_aggregator_state_entries{kind=\"reporters\"}"), 3);
    cr_expect_eq(agg_metric(port, "tally_aggregator_state_entries{kind=\"seats\"}"), 3);
    cr_expect_eq(agg_metric(port, "tally_aggregator_partitions{state=\"active\"}"), 6);
    cr_expect_gt(agg_metric(port, "tally_aggregator_rollups_out_total{kind=\"api\"}"), 0);
    cr_expect_gt(agg_metric(port, "tally_txn_transactions_total{result=\"committed\"}"), 0);
    cr_expect_geq(agg_metric(port, "tally_aggregator_last_restore_ms"), 0, "the restore gauge is exported (-1: absent)");
    tally_test_signal(proc, SIGTERM);
    cr_assert_eq(tally_test_wait(proc, 30000), 0, "SIGTERM must end in a clean exit; log:\n%s", tally_test_log(proc));
    cr_assert(strstr(tally_test_log(proc), "stopped cleanly") != NULL);
    tally_test_proc_free(proc);

    tally_decoder_t *dec = tally_decoder_new_any(cat);
    last_t *last;
    size_t n = read_rollups(e.rollups, dec, &last);
    cr_expect_eq(n, 5, "3 API rollups and 2 seat rollups, got %zu", n);
    const agg_rollup_t *a = find(last, n, "acme|prod|2024-05-01");
    cr_expect_eq(a->v[0], 180);
    cr_expect_eq(a->v[1], 15 + 3);
    cr_expect_eq(a->v[2], 1 + 0);
    cr_expect_eq(a->v[3], 1050 + 210);
    cr_expect_eq(a->updated_at, T0 + 24 * HOUR - 1);
    cr_expect_eq(a->day, DAY0);
    a = find(last, n, "acme|prod|2024-05-02");
    cr_expect_eq(a->v[0], 20);
    cr_expect_eq(a->v[3], 140);
    cr_expect_eq(a->updated_at, T0 + 24 * HOUR + 60000);
    a = find(last, n, "be%7Cta|st%25g|2024-05-01");
    cr_expect_str_eq(a->tenant, "be|ta");
    cr_expect_str_eq(a->env, "st%g");
    cr_expect_eq(a->v[0], 5);
    a = find(last, n, "acme|2024-05-01");
    cr_expect_eq(a->seat, 1);
    cr_expect_eq(a->v[0], 1, "seats in use at the end of May 1");
    cr_expect_eq(a->v[1], 2, "peak of May 1");
    cr_expect_eq(a->updated_at, T0 + 11 * HOUR);
    a = find(last, n, "acme|2024-05-02");
    cr_expect_eq(a->v[0], 1);
    cr_expect_eq(a->v[1], 2);
    cr_expect_eq(a->updated_at, T0 + 33 * HOUR);
    free(last);

    /* The changelog: acme's entries all in acme's input partition. */
    agg_record_t *in, *cl, *dlq;
    size_t n_in = agg_read_all(e.usage, &in), n_cl = agg_read_all(e.changelog, &cl);
    int32_t acme_partition = -1, beta_partition = -1;
    for (size_t i = 0; i < n_in; i++) {
        if (strcmp(in[i].key, "acme") == 0)
            acme_partition = in[i].partition;
        if (strcmp(in[i].key, "be|ta") == 0)
            beta_partition = in[i].partition;
    }
    cr_assert_gt(n_cl, 0);
    /* State entries only where the tenants' records are; every partition
     * that had input ends with its position: the offset after its last
     * record (the records that went to the DLQ moved it too). */
    int64_t last_in[64], position[64];
    for (int i = 0; i < 64; i++)
        last_in[i] = position[i] = -1;
    for (size_t i = 0; i < n_in; i++)
        if (in[i].partition < 64 && in[i].offset > last_in[in[i].partition])
            last_in[in[i].partition] = in[i].offset;
    for (size_t i = 0; i < n_cl; i++) {
        if (cl[i].key_len == 1 && cl[i].key[0] == 'P') {
            tally_changelog_entry_t ce;
            char why[256];
            cr_assert_eq(tally_changelog_decode(cl[i].key, cl[i].key_len, cl[i].value, cl[i].len, &ce, why,
                                                sizeof why), 0, "%s", why);
            if (cl[i].partition < 64)
                position[cl[i].partition] = ce.next_offset;
            continue;
        }
        cr_expect(cl[i].partition == acme_partition || cl[i].partition == beta_partition,
                  "changelog record in partition %d, not the input's", cl[i].partition);
    }
    for (int i = 0; i < 64; i++)
        if (last_in[i] >= 0)
            cr_expect_eq(position[i], last_in[i] + 1, "partition %d: position %lld after input offset %lld", i,
                         (long long)position[i], (long long)last_in[i]);
    size_t n_dlq = agg_read_all(e.dlq, &dlq);
    cr_expect_eq(n_dlq, 3);
    int errors = 0;
    for (size_t i = 0; i < n_dlq; i++) {
        cr_expect(dlq[i].value_null, "a DLQ record carries no value");
        errors |= strcmp(dlq[i].error, "bad_magic") == 0 ? 1 : 0;
        errors |= strcmp(dlq[i].error, "wrong_key") == 0 ? 2 : 0;
        errors |= strcmp(dlq[i].error, "no_value") == 0 ? 4 : 0;
    }
    cr_expect_eq(errors, 7, "DLQ errors: bad_magic, wrong_key, no_value");
    agg_records_free(in, n_in);
    agg_records_free(cl, n_cl);
    agg_records_free(dlq, n_dlq);
    tally_decoder_free(dec);
    agg_gen_done(&g);
    tally_catalog_free(cat);
}

Test(aggregator, the_next_instance_continues_from_the_changelog)
{
    char line[512];
    agg_env_t e;
    agg_env_create(&e, "agg-restore", 6);
    tally_catalog_t *cat = load();
    agg_gen_t g;
    cr_assert_eq(agg_gen_init(&g, cat), 0);
    agg_producer_t p;
    tally_rollup_report_t r;
    tally_rollup_seat_event_t s = {"00000000-0000-4000-8000-000000000001", "acme", "s1", TALLY_SEAT_ASSIGNED,
                                   T0 + 9 * HOUR};

    agg_producer_init(&p);
    r = report("acme", "prod", "r-1", 1, T0 + HOUR, 100);
    produce_report(&p, &g, e.usage, "acme", &r);
    produce_seat(&p, &g, e.usage, &s);
    agg_producer_close(&p);
    tally_test_proc_t *proc = agg_spawn(&e, "first", NULL, NULL, 0);
    cr_assert_eq(agg_wait_done(&e, 60000), 0, "log:\n%s", tally_test_log(proc));
    tally_test_signal(proc, SIGTERM);
    cr_assert_eq(tally_test_wait(proc, 30000), 0, "log:\n%s", tally_test_log(proc));
    tally_test_proc_free(proc);

    /* Another instance: the reporter's total since its start is 130, so
     * the day gains 30, not 130; the seat is already assigned. */
    agg_producer_init(&p);
    r = report("acme", "prod", "r-1", 2, T0 + 2 * HOUR, 130);
    produce_report(&p, &g, e.usage, "acme", &r);
    r = report("acme", "prod", "r-1", 1, T0 + HOUR, 100);
    produce_report(&p, &g, e.usage, "acme", &r);
    produce_seat(&p, &g, e.usage, &s);
    s = (tally_rollup_seat_event_t){"00000000-0000-4000-8000-000000000002", "acme", "s2", TALLY_SEAT_ASSIGNED,
                                    T0 + 10 * HOUR};
    produce_seat(&p, &g, e.usage, &s);
    agg_producer_close(&p);
    proc = agg_spawn(&e, "second", NULL, line, sizeof line);
    int port = tally_test_port_from_line(line);
    cr_assert_eq(agg_wait_done(&e, 60000), 0, "log:\n%s", tally_test_log(proc));
    cr_expect_geq(agg_metric(port, "tally_aggregator_restored_records_total"), 3, "reporter, API day and seat entries");
    cr_expect_eq(agg_metric(port, "tally_aggregator_records_total{outcome=\"stale\"}"), 1);
    cr_expect_eq(agg_metric(port, "tally_aggregator_records_total{outcome=\"duplicate\"}"), 1);
    cr_assert(strstr(tally_test_log(proc), "restored 6 partition(s)") != NULL, "log:\n%s", tally_test_log(proc));
    tally_test_signal(proc, SIGTERM);
    cr_assert_eq(tally_test_wait(proc, 30000), 0, "log:\n%s", tally_test_log(proc));
    tally_test_proc_free(proc);

    tally_decoder_t *dec = tally_decoder_new_any(cat);
    last_t *last;
    size_t n = read_rollups(e.rollups, dec, &last);
    const agg_rollup_t *a = find(last, n, "acme|prod|2024-05-01");
    cr_expect_eq(a->v[0], 130);
    cr_expect_eq(a->updated_at, T0 + 2 * HOUR);
    a = find(last, n, "acme|2024-05-01");
    cr_expect_eq(a->v[0], 2);
    cr_expect_eq(a->v[1], 2);
    free(last);
    tally_decoder_free(dec);
    agg_gen_done(&g);
    tally_catalog_free(cat);
}

/* Sets group's committed offset of every partition of topic to offset, as
 * an operator's reset would (the group has no members now). */
static void commit_offsets(const char *group, const char *topic, int partitions, int64_t offset)
{
    char err[512];
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_CONSUMER, tally_test_brokers(), "agg-test-reset", group,
                                                 NULL, err, sizeof err);
    cr_assert_not_null(conf, "%s", err);
    rd_kafka_t *rk = tally_kafka_new(TALLY_KAFKA_CONSUMER, conf, err, sizeof err);
    cr_assert_not_null(rk, "%s", err);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(partitions);
    for (int i = 0; i < partitions; i++)
        rd_kafka_topic_partition_list_add(parts, topic, i)->offset = offset;
    rd_kafka_resp_err_t rerr = rd_kafka_commit(rk, parts, 0);
    cr_assert_eq(rerr, RD_KAFKA_RESP_ERR_NO_ERROR, "commit: %s", rd_kafka_err2str(rerr));
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* The input position committed with the state in the changelog decides
 * where an assigned partition starts: with the group's committed offsets
 * moved back to 0 behind the state, the next instance still starts after
 * what the state holds (nothing is read twice) and says so. */
Test(aggregator, a_partition_starts_where_its_restored_state_ends)
{
    char line[512];
    agg_env_t e;
    agg_env_create(&e, "agg-position", 6);
    tally_catalog_t *cat = load();
    agg_gen_t g;
    cr_assert_eq(agg_gen_init(&g, cat), 0);
    agg_producer_t p;
    tally_rollup_report_t r;
    tally_rollup_seat_event_t s = {"00000000-0000-4000-8000-000000000001", "acme", "s1", TALLY_SEAT_ASSIGNED,
                                   T0 + 9 * HOUR};
    agg_producer_init(&p);
    r = report("acme", "prod", "r-1", 1, T0 + HOUR, 100);
    produce_report(&p, &g, e.usage, "acme", &r);
    produce_seat(&p, &g, e.usage, &s);
    agg_producer_close(&p);
    tally_test_proc_t *proc = agg_spawn(&e, "first", NULL, NULL, 0);
    cr_assert_eq(agg_wait_done(&e, 60000), 0, "log:\n%s", tally_test_log(proc));
    tally_test_signal(proc, SIGTERM);
    cr_assert_eq(tally_test_wait(proc, 30000), 0, "log:\n%s", tally_test_log(proc));
    tally_test_proc_free(proc);

    commit_offsets(e.group, e.usage, 6, 0);
    agg_producer_init(&p);
    r = report("acme", "prod", "r-1", 2, T0 + 2 * HOUR, 130);
    produce_report(&p, &g, e.usage, "acme", &r);
    agg_producer_close(&p);
    proc = agg_spawn(&e, "second", NULL, line, sizeof line);
    int port = tally_test_port_from_line(line);
    cr_assert_eq(agg_wait_done(&e, 60000), 0, "log:\n%s", tally_test_log(proc));
    /* Read again from 0, the first report and the seat event would be
     * skipped as already in the state (or, without that guard, be a
     * duplicate and a repeat): neither is read at all. */
    cr_expect_eq(agg_metric(port, "tally_aggregator_records_total{outcome=\"applied\"}"), 1);
    cr_expect_eq(agg_metric(port, "tally_aggregator_records_total{outcome=\"duplicate\"}"), 0);
    cr_expect_eq(agg_metric(port, "tally_aggregator_records_total{outcome=\"already_in_state\"}"), 0,
                 "the consumer started at the state's position: nothing before it was even read");
    cr_expect_eq(agg_metric(port, "tally_aggregator_position_moved_total"), 1);
    cr_expect(strstr(tally_test_log(proc), "the committed offset read before it is 0") != NULL, "log:\n%s",
              tally_test_log(proc));
    tally_test_signal(proc, SIGTERM);
    cr_assert_eq(tally_test_wait(proc, 30000), 0, "log:\n%s", tally_test_log(proc));
    tally_test_proc_free(proc);

    tally_decoder_t *dec = tally_decoder_new_any(cat);
    last_t *last;
    size_t n = read_rollups(e.rollups, dec, &last);
    const agg_rollup_t *a = find(last, n, "acme|prod|2024-05-01");
    cr_expect_eq(a->v[0], 130);
    a = find(last, n, "acme|2024-05-01");
    cr_expect_eq(a->v[0], 1, "one seat, assigned once");
    free(last);
    tally_decoder_free(dec);
    agg_gen_done(&g);
    tally_catalog_free(cat);
}

Test(aggregator, an_aborted_transaction_is_redone_from_the_committed_state)
{
    char line[512];
    agg_env_t e;
    agg_env_create(&e, "agg-abort", 6);
    /* A DLQ that does not exist yet: the transaction holding the first DLQ
     * record fails to commit, is aborted and redone, again and again,
     * until the topic appears. */
    char dlq[128];
    tally_test_unique_name("agg-abort.late-dlq", dlq, sizeof dlq);
    snprintf(e.dlq, sizeof e.dlq, "%s", dlq);
    tally_catalog_t *cat = load();
    agg_gen_t g;
    cr_assert_eq(agg_gen_init(&g, cat), 0);
    agg_producer_t p;
    tally_rollup_report_t r;

    const char *extra[] = {"-Xproducer.topic.metadata.propagation.max.ms=1000", "--batch-max-time=200ms", NULL};
    tally_test_proc_t *proc = agg_spawn(&e, "abort", extra, line, sizeof line);
    int port = tally_test_port_from_line(line);
    agg_producer_init(&p);
    r = report("acme", "prod", "r-1", 1, T0 + HOUR, 100);
    produce_report(&p, &g, e.usage, "acme", &r);
    agg_producer_close(&p);
    cr_assert_eq(agg_wait_done(&e, 30000), 0, "log:\n%s", tally_test_log(proc));
    long long restored = agg_metric(port, "tally_aggregator_restored_records_total");

    agg_producer_init(&p);
    r = report("acme", "prod", "r-1", 2, T0 + 2 * HOUR, 150);
    produce_report(&p, &g, e.usage, "acme", &r);
    agg_produce(&p, e.usage, RD_KAFKA_PARTITION_UA, "acme", 4, "junk", 4);
    r = report("acme", "prod", "r-1", 3, T0 + 3 * HOUR, 170);
    produce_report(&p, &g, e.usage, "acme", &r);
    agg_producer_close(&p);
    long long deadline = agg_now_ms() + 30000;
    while (agg_metric(port, "tally_txn_transactions_total{result=\"aborted\"}") < 2 && agg_now_ms() < deadline)
        usleep(100 * 1000);
    cr_assert_geq(agg_metric(port, "tally_txn_transactions_total{result=\"aborted\"}"), 2, "log:\n%s",
                  tally_test_log(proc));
    tally_test_topic_create(e.dlq, 3);
    cr_assert_eq(agg_wait_done(&e, 60000), 0, "log:\n%s", tally_test_log(proc));
    /* Each abort dropped the state and restored it from the changelog
     * before the records were read again. */
    cr_expect_gt(agg_metric(port, "tally_aggregator_restored_records_total"), restored);
    cr_expect_geq(agg_metric(port, "tally_aggregator_records_total{outcome=\"applied\"}"), 5);
    tally_test_signal(proc, SIGTERM);
    cr_assert_eq(tally_test_wait(proc, 30000), 0, "log:\n%s", tally_test_log(proc));
    tally_test_proc_free(proc);

    tally_decoder_t *dec = tally_decoder_new_any(cat);
    last_t *last;
    size_t n = read_rollups(e.rollups, dec, &last);
    const agg_rollup_t *a = find(last, n, "acme|prod|2024-05-01");
    cr_expect_eq(a->v[0], 170, "counted once: %" PRId64, a->v[0]);
    cr_expect_eq(a->updated_at, T0 + 3 * HOUR);
    free(last);
    agg_record_t *d;
    size_t n_dlq = agg_read_all(e.dlq, &d);
    cr_expect_eq(n_dlq, 1, "the junk record once in the DLQ, got %zu", n_dlq);
    agg_records_free(d, n_dlq);
    tally_decoder_free(dec);
    agg_gen_done(&g);
    tally_catalog_free(cat);
}
