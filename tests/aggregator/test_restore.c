/* aggregator/restore on the real broker: a state written to a changelog
 * partition in transactions reads back equal; aborted records are never
 * read; an open transaction is waited for (committed, aborted, or fenced
 * by a successor with the same transactional.id, as after kill -9). */
#include "restore.h"

#include "changelog.h"
#include "fixtures.h"
#include "kafka.h"
#include "rollup.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HOUR INT64_C(3600000)
#define T0 INT64_C(1714521600000)

TestSuite(restore, .timeout = 120);

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static tally_rollup_t *state_new(void)
{
    char err[256];
    tally_rollup_config_t c = {.reporter_idle_ms = 7 * 24 * HOUR};
    memcpy(c.hash_key, "0123456789abcdef", 16);
    tally_rollup_t *r = tally_rollup_new(&c, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    return r;
}

/* A state with reporters of `tenants` tenants and a few seats each. */
static tally_rollup_t *state_make(int tenants, int tag)
{
    tally_rollup_t *r = state_new();
    char tenant[32], rep[48], id[48], seat[32];
    for (int t = 0; t < tenants; t++) {
        snprintf(tenant, sizeof tenant, "tenant-%d-%d", tag, t);
        for (int k = 0; k < 3; k++) {
            snprintf(rep, sizeof rep, "reporter-%d-%d", t, k);
            for (int s = 1; s <= 3; s++) {
                tally_rollup_report_t rp = {tenant, "prod", rep, s, T0 + s * 10 * HOUR + k, 100 * s + k, s, 0, 7 * s};
                cr_assert_eq(tally_rollup_apply_usage(r, &rp), TALLY_ROLLUP_APPLIED);
            }
        }
        for (int s = 0; s < 4; s++) {
            snprintf(id, sizeof id, "event-%d-%d", t, s);
            snprintf(seat, sizeof seat, "seat-%d", s % 3);
            tally_rollup_seat_event_t ev = {id, tenant, seat, s == 3 ? TALLY_SEAT_RELEASED : TALLY_SEAT_ASSIGNED,
                                            T0 + s * 7 * HOUR};
            cr_assert_eq(tally_rollup_apply_seat(r, &ev), TALLY_ROLLUP_APPLIED);
        }
    }
    return r;
}

typedef struct {
    tally_rollup_t *other;
    size_t seen;
} cmp_t;

static int cmp_api(void *ctx, const tally_api_rollup_t *a)
{
    cmp_t *c = ctx;
    tally_api_rollup_t b;
    cr_assert(tally_rollup_get_api(c->other, a->tenant_id, a->environment_id, a->day, &b), "missing %s/%s/%d",
              a->tenant_id, a->environment_id, a->day);
    cr_assert(a->api_calls == b.api_calls && a->status_4xx == b.status_4xx && a->status_5xx == b.status_5xx &&
              a->exec_ms == b.exec_ms && a->updated_at == b.updated_at);
    c->seen++;
    return 0;
}

static int cmp_seat(void *ctx, const tally_seat_rollup_t *a)
{
    cmp_t *c = ctx;
    tally_seat_rollup_t b;
    cr_assert(tally_rollup_get_seat(c->other, a->tenant_id, a->day, &b));
    cr_assert(a->seats_in_use == b.seats_in_use && a->seats_peak == b.seats_peak && a->updated_at == b.updated_at);
    c->seen++;
    return 0;
}

static void assert_same(tally_rollup_t *a, tally_rollup_t *b)
{
    tally_rollup_stats_t sa, sb;
    tally_rollup_stats(a, &sa);
    tally_rollup_stats(b, &sb);
    cr_assert_eq(sa.reporters, sb.reporters);
    cr_assert_eq(sa.api_rollups, sb.api_rollups);
    cr_assert_eq(sa.seats, sb.seats);
    cr_assert_eq(sa.seat_rollups, sb.seat_rollups);
    cmp_t c = {b, 0};
    cr_assert_eq(tally_rollup_each_api(a, cmp_api, &c), 0);
    cr_assert_eq(tally_rollup_each_seat(a, cmp_seat, &c), 0);
    cr_assert_eq(c.seen, sa.api_rollups + sa.seat_rollups);
}

/* ---- a transactional writer of changelog records --------------------------------- */

static rd_kafka_t *txn_producer(const char *txn_id)
{
    char err[512];
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_TRANSACTIONAL, tally_test_brokers(), "restore-test",
                                                 NULL, txn_id, err, sizeof err);
    cr_assert_not_null(conf, "%s", err);
    rd_kafka_t *rk = tally_kafka_new(TALLY_KAFKA_TRANSACTIONAL, conf, err, sizeof err);
    cr_assert_not_null(rk, "%s", err);
    rd_kafka_error_t *e = rd_kafka_init_transactions(rk, 30000);
    cr_assert_null(e, "init transactions: %s", e ? rd_kafka_error_string(e) : "");
    return rk;
}

typedef struct {
    rd_kafka_t *rk;
    const char *topic;
    size_t n;
} writer_t;

static int write_entry(void *ctx, const tally_changelog_record_t *rec)
{
    writer_t *w = ctx;
    cr_assert_eq(rd_kafka_producev(w->rk, RD_KAFKA_V_TOPIC(w->topic), RD_KAFKA_V_PARTITION(0),
                                   RD_KAFKA_V_KEY((void *)rec->key, rec->key_len),
                                   RD_KAFKA_V_VALUE((void *)rec->value, rec->value ? rec->value_len : 0),
                                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                 RD_KAFKA_RESP_ERR_NO_ERROR);
    w->n++;
    return 0;
}

/* Writes the snapshot of state into an open transaction of rk. */
static size_t write_state(rd_kafka_t *rk, const char *topic, tally_rollup_t *state)
{
    writer_t w = {rk, topic, 0};
    cr_assert_null(rd_kafka_begin_transaction(rk));
    cr_assert_eq(tally_rollup_snapshot(state, write_entry, &w), 0);
    cr_assert_eq(rd_kafka_flush(rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    return w.n;
}

static void commit(rd_kafka_t *rk)
{
    rd_kafka_error_t *e = rd_kafka_commit_transaction(rk, 30000);
    cr_assert_null(e, "commit: %s", e ? rd_kafka_error_string(e) : "");
}

static tally_restore_t *restorer(const char *topic)
{
    char err[512], group[128];
    tally_test_unique_name("restore-test", group, sizeof group);
    tally_restore_opts_t o = {.brokers = tally_test_brokers(), .topic = topic, .client_id = "restore-test",
                              .group_id = group};
    tally_restore_t *r = tally_restore_new(&o, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    return r;
}

static tally_rollup_t *restore_one(tally_restore_t *rs, int64_t end, uint64_t *records, int64_t *position)
{
    char err[512];
    int32_t p = 0;
    tally_rollup_t *s = state_new();
    *records = 0;
    cr_assert_eq(tally_restore_read(rs, &p, 1, &end, &s, position, 30000, records, err, sizeof err), 0, "%s",
                 err);
    return s;
}

/* Produces a position record (changelog.h) into rk's open transaction. */
static void write_position(rd_kafka_t *rk, const char *topic, int64_t next)
{
    tally_changelog_buf_t k = {0}, v = {0};
    tally_changelog_key_position(&k);
    tally_changelog_value_position(&v, next);
    writer_t w = {rk, topic, 0};
    tally_changelog_record_t rec = {k.data, k.len, v.data, v.len};
    write_entry(&w, &rec);
    tally_changelog_buf_free(&k);
    tally_changelog_buf_free(&v);
}

Test(restore, reads_the_committed_state_and_never_aborted_records)
{
    char topic[128], txn_id[128], err[512];
    tally_test_unique_name("restore-committed", topic, sizeof topic);
    tally_test_unique_name("restore-committed-txn", txn_id, sizeof txn_id);
    tally_test_topic_create(topic, 1);
    tally_rollup_t *s1 = state_make(20, 1), *junk = state_make(5, 2);
    rd_kafka_t *rk = txn_producer(txn_id);
    size_t n = write_state(rk, topic, s1);
    commit(rk);
    /* Entries of another state, aborted: reading them would add tenants. */
    write_state(rk, topic, junk);
    rd_kafka_error_t *e = rd_kafka_abort_transaction(rk, 30000);
    cr_assert_null(e);

    tally_restore_t *rs = restorer(topic);
    int count = 0;
    cr_assert_eq(tally_restore_partition_count(rs, topic, 10000, &count, err, sizeof err), 0, "%s", err);
    cr_assert_eq(count, 1);
    int32_t p = 0;
    int64_t end;
    cr_assert_eq(tally_restore_stable_ends(rs, &p, 1, &end, 10000, err, sizeof err), 0, "%s", err);
    cr_assert_gt(end, (int64_t)n);
    uint64_t records;
    int64_t position;
    tally_rollup_t *s2 = restore_one(rs, end, &records, &position);
    cr_assert_eq(records, n, "%llu records read, %zu committed", (unsigned long long)records, n);
    cr_assert_eq(position, -1, "no position record was written");
    assert_same(s1, s2);
    assert_same(s2, s1);

    /* Read again with the same restorer: the same state. */
    tally_rollup_t *s3 = restore_one(rs, end, &records, &position);
    cr_assert_eq(records, n);
    assert_same(s1, s3);

    tally_rollup_free(s1);
    tally_rollup_free(s2);
    tally_rollup_free(s3);
    tally_rollup_free(junk);
    tally_restore_free(rs);
    rd_kafka_destroy(rk);
}

static void *commit_later(void *arg)
{
    usleep(1000 * 1000);
    commit(arg);
    return NULL;
}

Test(restore, waits_for_an_open_transaction_to_commit)
{
    char topic[128], txn_id[128], err[512];
    tally_test_unique_name("restore-open", topic, sizeof topic);
    tally_test_unique_name("restore-open-txn", txn_id, sizeof txn_id);
    tally_test_topic_create(topic, 1);
    tally_rollup_t *s1 = state_make(10, 1);
    rd_kafka_t *rk = txn_producer(txn_id);
    size_t n = write_state(rk, topic, s1);

    tally_restore_t *rs = restorer(topic);
    int32_t p = 0;
    int64_t end = -1;
    long long t0 = now_ms();
    cr_assert_neq(tally_restore_stable_ends(rs, &p, 1, &end, 1000, err, sizeof err), 0);
    cr_assert_geq(now_ms() - t0, 1000);
    cr_assert(strstr(err, "still open") != NULL, "%s", err);

    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, commit_later, rk), 0);
    t0 = now_ms();
    cr_assert_eq(tally_restore_stable_ends(rs, &p, 1, &end, 20000, err, sizeof err), 0, "%s", err);
    long long waited = now_ms() - t0;
    pthread_join(th, NULL);
    cr_assert_geq(waited, 500, "returned after %lld ms, before the commit", waited);
    cr_assert_eq(end, (int64_t)n + 1, "the records and the commit marker");
    uint64_t records;
    int64_t position;
    tally_rollup_t *s2 = restore_one(rs, end, &records, &position);
    cr_assert_eq(records, n);
    assert_same(s1, s2);
    tally_rollup_free(s1);
    tally_rollup_free(s2);
    tally_restore_free(rs);
    rd_kafka_destroy(rk);
}

Test(restore, a_dead_writers_transaction_ends_when_its_successor_starts)
{
    char topic[128], txn_id[128], err[512];
    tally_test_unique_name("restore-zombie", topic, sizeof topic);
    tally_test_unique_name("restore-zombie-txn", txn_id, sizeof txn_id);
    tally_test_topic_create(topic, 1);
    tally_rollup_t *s1 = state_make(8, 1), *lost = state_make(8, 2);
    rd_kafka_t *old = txn_producer(txn_id);
    size_t n = write_state(old, topic, s1);
    commit(old);
    /* The writer "dies" with a transaction open... */
    write_state(old, topic, lost);
    tally_restore_t *rs = restorer(topic);
    int32_t p = 0;
    int64_t end;
    cr_assert_neq(tally_restore_stable_ends(rs, &p, 1, &end, 500, err, sizeof err), 0);
    /* ... and its successor, same transactional.id, fences it. */
    long long t0 = now_ms();
    rd_kafka_t *successor = txn_producer(txn_id);
    cr_assert_eq(tally_restore_stable_ends(rs, &p, 1, &end, 20000, err, sizeof err), 0, "%s", err);
    cr_assert_lt(now_ms() - t0, 15000, "the open transaction ended with the fencing, not its timeout");
    uint64_t records;
    int64_t position;
    tally_rollup_t *s2 = restore_one(rs, end, &records, &position);
    cr_assert_eq(records, n);
    assert_same(s1, s2);
    tally_rollup_free(s1);
    tally_rollup_free(s2);
    tally_rollup_free(lost);
    tally_restore_free(rs);
    rd_kafka_destroy(successor);
    rd_kafka_destroy(old);
}

Test(restore, an_empty_partition_restores_an_empty_state)
{
    char topic[128], err[512];
    tally_test_unique_name("restore-empty", topic, sizeof topic);
    tally_test_topic_create(topic, 2);
    tally_restore_t *rs = restorer(topic);
    int32_t parts[2] = {0, 1};
    int64_t ends[2];
    cr_assert_eq(tally_restore_stable_ends(rs, parts, 2, ends, 10000, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ends[0], 0);
    cr_assert_eq(ends[1], 0);
    tally_rollup_t *states[2] = {state_new(), state_new()};
    uint64_t records = 0;
    int64_t positions[2];
    cr_assert_eq(tally_restore_read(rs, parts, 2, ends, states, positions, 10000, &records, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(positions[0], -1);
    cr_assert_eq(positions[1], -1);
    cr_assert_eq(records, 0);
    tally_rollup_stats_t st;
    tally_rollup_stats(states[0], &st);
    cr_assert_eq(st.reporters + st.api_rollups + st.seats, 0);
    tally_rollup_free(states[0]);
    tally_rollup_free(states[1]);
    int count;
    cr_assert_neq(tally_restore_partition_count(rs, "no.such.topic.restore-test", 1000, &count, err, sizeof err), 0);
    tally_restore_free(rs);
}

Test(restore, an_undecodable_record_fails_the_restore)
{
    char topic[128], txn_id[128], err[512];
    tally_test_unique_name("restore-bad", topic, sizeof topic);
    tally_test_unique_name("restore-bad-txn", txn_id, sizeof txn_id);
    tally_test_topic_create(topic, 1);
    rd_kafka_t *rk = txn_producer(txn_id);
    cr_assert_null(rd_kafka_begin_transaction(rk));
    cr_assert_eq(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_KEY("Zz", 2),
                                   RD_KAFKA_V_VALUE("\x01", 1), RD_KAFKA_V_END),
                 RD_KAFKA_RESP_ERR_NO_ERROR);
    commit(rk);
    tally_restore_t *rs = restorer(topic);
    int32_t p = 0;
    int64_t end;
    cr_assert_eq(tally_restore_stable_ends(rs, &p, 1, &end, 10000, err, sizeof err), 0, "%s", err);
    tally_rollup_t *s = state_new();
    uint64_t records = 0;
    int64_t position;
    cr_assert_neq(tally_restore_read(rs, &p, 1, &end, &s, &position, 10000, &records, err, sizeof err), 0);
    cr_assert(strstr(err, "@0") != NULL, "the error names the offset: %s", err);
    tally_rollup_free(s);
    tally_restore_free(rs);
    rd_kafka_destroy(rk);
}

/* The aggregator starts a partition where its state ends: the position
 * read is the last committed one, never an aborted one, and the state
 * beside it is the one committed with it. */
Test(restore, the_last_committed_position_comes_with_its_state)
{
    char topic[128], txn_id[128], err[512];
    tally_test_unique_name("restore-position", topic, sizeof topic);
    tally_test_unique_name("restore-position-txn", txn_id, sizeof txn_id);
    tally_test_topic_create(topic, 1);
    tally_rollup_t *s1 = state_make(10, 1), *junk = state_make(3, 2);
    rd_kafka_t *rk = txn_producer(txn_id);
    size_t n = write_state(rk, topic, s1);
    write_position(rk, topic, 100);
    commit(rk);
    /* A transaction of records that changed nothing (duplicates): only
     * the position moves. */
    cr_assert_null(rd_kafka_begin_transaction(rk));
    write_position(rk, topic, 250);
    commit(rk);
    write_state(rk, topic, junk);
    write_position(rk, topic, 999);
    rd_kafka_error_t *e = rd_kafka_abort_transaction(rk, 30000);
    cr_assert_null(e);

    tally_restore_t *rs = restorer(topic);
    int32_t p = 0;
    int64_t end, position = 0;
    uint64_t records;
    cr_assert_eq(tally_restore_stable_ends(rs, &p, 1, &end, 10000, err, sizeof err), 0, "%s", err);
    tally_rollup_t *got = restore_one(rs, end, &records, &position);
    cr_assert_eq(position, 250, "the last committed position, not the aborted 999: %lld", (long long)position);
    cr_assert_eq(records, n + 2, "every committed entry and both positions are read");
    assert_same(s1, got);
    assert_same(got, s1);

    /* The rollup library refuses a position record: it is not state. */
    tally_rollup_t *fresh = state_new();
    tally_changelog_record_t pos = {"P", 1, "\x01\x02", 2};
    cr_assert_eq(tally_rollup_restore(fresh, &pos, err, sizeof err), -1);
    tally_rollup_free(fresh);
    tally_rollup_free(got);
    tally_rollup_free(s1);
    tally_rollup_free(junk);
    tally_restore_free(rs);
    rd_kafka_destroy(rk);
}
