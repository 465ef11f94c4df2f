/* What the broker-loss suite measures on the cluster (cluster_probes.h). */
#include "cluster_probes.h"

#include "fixtures.h"
#include "pg.h"
#include "services.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cluster_node_kill(int node, char *why, size_t whysize)
{
    char cmd[64], out[2048];
    snprintf(cmd, sizeof cmd, "pid-node %d", node);
    if (tally_test_service_run("kafka", cmd, out, sizeof out) != 0) {
        snprintf(why, whysize, "node %d not running before its kill: %.500s", node, out);
        return -1;
    }
    pid_t pid = (pid_t)strtol(out, NULL, 10);
    snprintf(cmd, sizeof cmd, "kill-node %d", node);
    if (pid <= 0 || tally_test_service_run("kafka", cmd, out, sizeof out) != 0 || tally_test_pid_alive(pid)) {
        snprintf(why, whysize, "kill-node %d (pid %d): %.500s", node, (int)pid, out);
        return -1;
    }
    return 0;
}

int cluster_node_start(int node, char *why, size_t whysize)
{
    char cmd[64], out[2048];
    snprintf(cmd, sizeof cmd, "start-node %d", node);
    if (tally_test_service_run("kafka", cmd, out, sizeof out) != 0) {
        snprintf(why, whysize, "start-node %d: %.1000s", node, out);
        return -1;
    }
    return 0;
}

int cluster_leaders(rd_kafka_t *rk, const char *topic, int32_t *leader, int max)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    if (err || md->topic_cnt != 1 || md->topics[0].err) {
        if (md)
            rd_kafka_metadata_destroy(md);
        return -1;
    }
    int n = md->topics[0].partition_cnt < max ? md->topics[0].partition_cnt : max;
    for (int i = 0; i < n; i++)
        leader[md->topics[0].partitions[i].id] = md->topics[0].partitions[i].leader;
    rd_kafka_metadata_destroy(md);
    return n;
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char err[256];
    cr_assert_eq(rd_kafka_conf_set(conf, k, v, err, sizeof err), RD_KAFKA_CONF_OK, "%s: %s", k, err);
}

/* Delivery reports of the produce probe: the partitions that took a write. */
static atomic_int delivered[PROBE_PARTITIONS];

static void probe_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk, (void)opaque;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->partition >= 0 && m->partition < PROBE_PARTITIONS)
        atomic_store(&delivered[m->partition], 1);
}

static rd_kafka_conf_t *probe_conf(void)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", tally_test_brokers());
    set(conf, "acks", "all");
    set(conf, "enable.idempotence", "true");
    /* Short: a write stuck on a dead leader is given up and sent again. */
    set(conf, "message.timeout.ms", "3000");
    set(conf, "linger.ms", "0");
    set(conf, "log_level", "3");
    return conf;
}

rd_kafka_t *cluster_probe_producer(void)
{
    char err[256];
    rd_kafka_conf_t *conf = probe_conf();
    rd_kafka_conf_set_dr_msg_cb(conf, probe_dr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    cr_assert_not_null(rk, "%s", err);
    return rk;
}

long long cluster_produce_heal(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
    long long until = tally_test_mono_ms() + timeout_ms;
    int done[PROBE_PARTITIONS] = {0}, left = PROBE_PARTITIONS;
    while (left > 0 && tally_test_mono_ms() < until) {
        for (int p = 0; p < PROBE_PARTITIONS; p++) {
            atomic_store(&delivered[p], 0);
            if (!done[p])
                (void)rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(p),
                                        RD_KAFKA_V_VALUE("probe", 5), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_END);
        }
        rd_kafka_flush(rk, 4000);
        for (int p = 0; p < PROBE_PARTITIONS; p++)
            if (!done[p] && atomic_load(&delivered[p])) {
                done[p] = 1;
                left--;
            }
        if (left > 0)
            usleep(100000);
    }
    return left == 0 ? tally_test_mono_ms() : -1;
}

long long cluster_txn_heal(const char *txn_id, const char *topic, int timeout_ms, int *attempts)
{
    long long until = tally_test_mono_ms() + timeout_ms;
    rd_kafka_t *rk = NULL;
    long long healed = -1;
    *attempts = 0;
    while (healed < 0 && tally_test_mono_ms() < until) {
        char err[256];
        (*attempts)++;
        if (rk == NULL) {
            rd_kafka_conf_t *conf = probe_conf();
            set(conf, "transactional.id", txn_id);
            set(conf, "transaction.timeout.ms", "10000");
            rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
            cr_assert_not_null(rk, "%s", err);
        }
        rd_kafka_error_t *e = rd_kafka_init_transactions(rk, 5000);
        if (e && rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__STATE) {
            rd_kafka_error_destroy(e);   /* initialized by an earlier round */
            e = NULL;
        }
        if (e == NULL)
            e = rd_kafka_begin_transaction(rk);
        if (e == NULL) {
            rd_kafka_resp_err_t pe = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                                                       RD_KAFKA_V_VALUE("txn-probe", 9),
                                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            e = pe ? rd_kafka_error_new(pe, "produce") : rd_kafka_commit_transaction(rk, 5000);
        }
        if (e == NULL) {
            healed = tally_test_mono_ms();
            break;
        }
        /* Any failure: a new producer, whose init_transactions fences and
         * aborts what this one left open. */
        rd_kafka_error_destroy(e);
        rd_kafka_destroy(rk);
        rk = NULL;
        usleep(200000);
    }
    if (rk)
        rd_kafka_destroy(rk);
    return healed;
}

int cluster_group_positions(const char *group, const char *topic, const char *pg_url, int64_t *committed,
                            int64_t *end)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", tally_test_brokers());
    set(conf, "group.id", group);
    set(conf, "log_level", "3");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    cr_assert_not_null(rk, "%s", err);
    int32_t leader[MAX_PARTITIONS];
    int n = cluster_leaders(rk, topic, leader, MAX_PARTITIONS);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n > 0 ? n : 1);
    for (int p = 0; p < n; p++) {
        int64_t lo = -1, hi = -1;
        end[p] = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 5000) ? -1 : hi;
        committed[p] = -1;
        rd_kafka_topic_partition_list_add(parts, topic, p);
    }
    if (pg_url == NULL && n > 0 && rd_kafka_committed(rk, parts, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        for (int i = 0; i < parts->cnt; i++)
            committed[parts->elems[i].partition] = parts->elems[i].err ? -1 : parts->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_destroy(rk);
    if (pg_url != NULL && n > 0) {
        PGconn *c = tally_pg_connect(pg_url, "tally-test-cluster", err, sizeof err);
        if (c != NULL) {
            const char *params[] = {topic};
            PGresult *r = PQexecParams(c, "SELECT partition, next_offset FROM tally.kafka_offsets WHERE topic = $1",
                                       1, NULL, params, NULL, NULL, 0);
            for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++) {
                int p = atoi(PQgetvalue(r, i, 0));
                if (p >= 0 && p < n)
                    committed[p] = strtoll(PQgetvalue(r, i, 1), NULL, 10);
            }
            PQclear(r);
            PQfinish(c);
        }
    }
    return n;
}

long long cluster_group_heal(const char *group, const char *topic, const char *pg_url, const int64_t *c0,
                             const int64_t *e0, int timeout_ms)
{
    long long until = tally_test_mono_ms() + timeout_ms;
    int64_t c[MAX_PARTITIONS], e[MAX_PARTITIONS];
    int n = 0;
    while (tally_test_mono_ms() < until) {
        int behind = 0;
        n = cluster_group_positions(group, topic, pg_url, c, e);
        /* Where records came after the kill: one of them processed (so
         * the partition has an owner again); where none came: nothing
         * left from before (a transaction's marker may follow the last
         * record; no commit yet is offset 0). */
        for (int p = 0; p < n; p++) {
            int64_t done = c[p] < 0 ? 0 : c[p];
            if (e[p] > e0[p] ? done <= e0[p] : done < e0[p] - 1)
                behind++;
        }
        if (n > 0 && behind == 0)
            return tally_test_mono_ms();
        usleep(250000);
    }
    for (int p = 0; p < n; p++)
        fprintf(stderr,
                "cluster: %s on %s[%d]: committed %" PRId64 " and end %" PRId64 " at the kill, %" PRId64 " and %" PRId64
                " now\n",
                group, topic, p, c0[p], e0[p], c[p], e[p]);
    return -1;
}
