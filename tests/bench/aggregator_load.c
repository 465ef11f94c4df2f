/* bench_aggregator_load: the load and the stopwatches of
 * tests/bench/aggregator.sh. One mode per call:
 *
 *   --mode=produce --topic=T --records=N --schemas=DIR
 *       N clean usage records to T, keyed by tenant like the anonymizer:
 *       4 in 5 are UsageReports (200 tenants, 3 environments, 20,000
 *       reporters sending cumulative counters in turn, 5 minutes apart),
 *       1 in 5 SeatEventClean (60 seats per tenant). Prints
 *       "LOAD records=N bytes=B seconds=S".
 *   --mode=consume --topic=T --records=N
 *       a plain read_committed consumer of every partition of T from the
 *       beginning, polling and counting, nothing else: the baseline (same
 *       prefetch setting as the aggregator's consumer).
 *       Prints "CONSUME records=N seconds=S" (from assignment to the last).
 *       With --schemas=DIR it also decodes each record with the codec and
 *       reads it with tally_usage_record_read, as the aggregator does before
 *       applying it: where the aggregator's time goes.
 *   --mode=wait --topic=T --group=G [--timeout=S]
 *       waits until group G committed every record of T; prints
 *       "DONE epoch=<UTC seconds>".
 *   --mode=changelog --topic=T --entries=N --schemas=DIR
 *       builds one rollup state per partition of T, about N changelog
 *       entries in all (reporters, 100 per tenant and environment, and
 *       their API rollups), with the aggregator's own library and writes
 *       each snapshot to its partition. Prints "CHANGELOG entries=N".
 *   --mode=delete --topics=T1,T2,...
 *
 * --brokers=B is common to all.
 */
#include "agg_gen.h"
#include "codec.h"
#include "kafka.h"
#include "rollup.h"
#include "schema_catalog.h"
#include "usage_record.h"
#include "bench_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define T0 INT64_C(1714521600000)

static rd_kafka_t *producer(const char *brokers)
{
    char err[512];
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_PRODUCER, brokers, "bench-aggregator-load", NULL, NULL,
                                                 err, sizeof err);
    if (conf == NULL)
        bench_die("config", err);
    rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "50", err, sizeof err);
    rd_kafka_t *rk = tally_kafka_new(TALLY_KAFKA_PRODUCER, conf, err, sizeof err);
    if (rk == NULL)
        bench_die("producer", err);
    return rk;
}

static void produce(rd_kafka_t *rk, const char *topic, int32_t partition, const void *key, size_t key_len,
                    const void *value, size_t len)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY((void *)key, key_len),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            return;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            bench_die("produce", rd_kafka_err2str(err));
        rd_kafka_poll(rk, 10);
    }
}

static void producer_close(rd_kafka_t *rk)
{
    if (rd_kafka_flush(rk, 120000) != RD_KAFKA_RESP_ERR_NO_ERROR || rd_kafka_outq_len(rk) > 0)
        bench_die("flush", "records not delivered");
    rd_kafka_destroy(rk);
}

static tally_catalog_t *catalog(int argc, char **argv)
{
    char err[512];
    tally_catalog_t *cat = tally_catalog_load(bench_arg(argc, argv, "--schemas"), err, sizeof err);
    if (cat == NULL)
        bench_die("schemas", err);
    return cat;
}

static int mode_produce(int argc, char **argv, const char *brokers)
{
    const char *topic = bench_arg(argc, argv, "--topic");
    long records = atol(bench_arg(argc, argv, "--records"));
    tally_catalog_t *cat = catalog(argc, argv);
    agg_gen_t g;
    if (agg_gen_init(&g, cat) != 0)
        bench_die("generator", "no UsageReport or SeatEventClean schema");
    enum { TENANTS = 200, ENVS = 3, REPORTERS = 20000, SEATS = 60 };
    static const char *const envs[ENVS] = {"prod", "staging", "dev"};
    static int64_t seq[REPORTERS], calls[REPORTERS];
    rd_kafka_t *rk = producer(brokers);
    double t0 = bench_now_s();
    size_t bytes = 0;
    for (long i = 0; i < records; i++) {
        char tenant[32], id[37], seat[16];
        const void *buf;
        size_t len;
        if (i % 5 == 4) {
            long k = i / 5;
            int t = (int)(k % TENANTS);
            snprintf(tenant, sizeof tenant, "tenant-%03d", t);
            snprintf(seat, sizeof seat, "seat-%02ld", (k / TENANTS) % SEATS);
            agg_uuid(id, 0x5ea7u, (uint64_t)k);
            tally_rollup_seat_event_t e = {id, tenant, seat, (k / 7) % 3 ? TALLY_SEAT_ASSIGNED : TALLY_SEAT_RELEASED,
                                           T0 + k * 1000};
            if (agg_gen_seat(&g, &e, &buf, &len) != 0)
                bench_die("encode", "seat event");
        } else {
            long k = i - i / 5;
            int r = (int)(k % REPORTERS);
            int t = r % TENANTS;
            snprintf(tenant, sizeof tenant, "tenant-%03d", t);
            agg_uuid(id, 0x5e9017e5u, (uint64_t)r);
            seq[r]++;
            calls[r] += 1 + (k % 37);
            tally_rollup_report_t rep = {tenant, envs[(r / TENANTS) % ENVS], id, seq[r],
                                         T0 + seq[r] * 300000, calls[r], calls[r] / 20, calls[r] / 200,
                                         calls[r] * 9};
            if (agg_gen_report(&g, &rep, &buf, &len) != 0)
                bench_die("encode", "report");
        }
        bytes += len;
        produce(rk, topic, RD_KAFKA_PARTITION_UA, tenant, strlen(tenant), buf, len);
        if (i % 10000 == 0)
            rd_kafka_poll(rk, 0);
    }
    producer_close(rk);
    printf("LOAD records=%ld bytes=%zu seconds=%.2f\n", records, bytes, bench_now_s() - t0);
    agg_gen_done(&g);
    tally_catalog_free(cat);
    return 0;
}

static rd_kafka_t *consumer(const char *brokers, const char *group)
{
    char err[512];
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_CONSUMER, brokers, "bench-aggregator-consume", group,
                                                 NULL, err, sizeof err);
    if (conf == NULL)
        bench_die("config", err);
    /* The aggregator's prefetch (common/kafka.h), so that both read alike. */
    if (tally_kafka_conf_prefetch(conf, err, sizeof err) != 0)
        bench_die("config", err);
    rd_kafka_t *rk = tally_kafka_new(TALLY_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk == NULL)
        bench_die("consumer", err);
    return rk;
}

static int partitions_of(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR || md->topics[0].err)
        bench_die("metadata", topic);
    int n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

static int mode_consume(int argc, char **argv, const char *brokers)
{
    const char *topic = bench_arg(argc, argv, "--topic");
    long records = atol(bench_arg(argc, argv, "--records"));
    char group[128];
    snprintf(group, sizeof group, "bench-aggregator-consume-%d", (int)getpid());
    rd_kafka_t *rk = consumer(brokers, group);
    int np = partitions_of(rk, topic);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(np);
    for (int i = 0; i < np; i++)
        rd_kafka_topic_partition_list_add(parts, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    double t0 = bench_now_s();
    if (rd_kafka_assign(rk, parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
        bench_die("assign", topic);
    rd_kafka_topic_partition_list_destroy(parts);
    tally_catalog_t *cat = bench_opt_arg(argc, argv, "--schemas") ? catalog(argc, argv) : NULL;
    tally_decoder_t *dec = cat ? tally_decoder_new_any(cat) : NULL;
    long n = 0, bad = 0;
    size_t bytes = 0;
    while (n < records) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
        if (m == NULL) {
            if (bench_now_s() - t0 > 600)
                bench_die("consume", "timed out");
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            n++;
            bytes += m->len;
            if (dec) {
                char why[256];
                avro_value_t *v;
                const tally_catalog_entry_t *w;
                tally_usage_record_t ur;
                if (tally_decoder_decode(dec, m->payload, m->len, &v, &w, why, sizeof why) != 0 ||
                    tally_usage_record_read(w->name, v, &ur, why, sizeof why) != 0)
                    bad++;
            }
        }
        rd_kafka_message_destroy(m);
    }
    double took = bench_now_s() - t0;
    if (bad)
        bench_die("decode", "undecodable records");
    printf("CONSUME records=%ld bytes=%zu seconds=%.3f\n", n, bytes, took);
    tally_decoder_free(dec);
    tally_catalog_free(cat);
    rd_kafka_destroy(rk);
    return 0;
}

static int mode_wait(int argc, char **argv, const char *brokers)
{
    const char *topic = bench_arg(argc, argv, "--topic");
    const char *group = bench_arg(argc, argv, "--group");
    double timeout = bench_opt_arg(argc, argv, "--timeout") ? atof(bench_opt_arg(argc, argv, "--timeout")) : 600;
    rd_kafka_t *rk = consumer(brokers, group);
    int np = partitions_of(rk, topic);
    int64_t end = 0;
    for (int i = 0; i < np; i++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
            bench_die("watermarks", topic);
        end += hi;
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(np);
    for (int i = 0; i < np; i++)
        rd_kafka_topic_partition_list_add(parts, topic, i);
    double t0 = bench_now_s();
    for (;;) {
        for (int i = 0; i < np; i++)
            parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        int64_t committed = 0;
        if (rd_kafka_committed(rk, parts, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
            for (int i = 0; i < np; i++)
                committed += parts->elems[i].offset > 0 ? parts->elems[i].offset : 0;
        if (committed >= end)
            break;
        if (bench_now_s() - t0 > timeout)
            bench_die("wait", "the group did not commit every record in time");
        usleep(20000);
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    printf("DONE epoch=%.3f\n", (double)tv.tv_sec + (double)tv.tv_usec / 1e6);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_destroy(rk);
    return 0;
}

typedef struct {
    rd_kafka_t *rk;
    const char *topic;
    int32_t partition;
    size_t n;
} writer_t;

static int write_entry(void *ctx, const tally_changelog_record_t *rec)
{
    writer_t *w = ctx;
    produce(w->rk, w->topic, w->partition, rec->key, rec->key_len, rec->value, rec->value ? rec->value_len : 0);
    if (++w->n % 10000 == 0)
        rd_kafka_poll(w->rk, 0);
    return 0;
}

static int mode_changelog(int argc, char **argv, const char *brokers)
{
    char err[512];
    const char *topic = bench_arg(argc, argv, "--topic");
    long entries = atol(bench_arg(argc, argv, "--entries"));
    rd_kafka_t *rk = producer(brokers);
    int np = partitions_of(rk, topic);
    writer_t w = {rk, topic, 0, 0};
    tally_rollup_config_t config = {.reporter_idle_ms = INT64_C(7) * 86400000};
    memcpy(config.hash_key, "bench-aggregator", 16);
    for (int p = 0; p < np; p++) {
        tally_rollup_t *r = tally_rollup_new(&config, err, sizeof err);
        if (r == NULL)
            bench_die("rollup", err);
        long want = entries / np + (p < entries % np ? 1 : 0), have = 0;
        /* Reporters of 100 per (tenant, environment), one report each:
         * one reporter entry each and one API rollup per group. */
        for (long k = 0; have < want; k++) {
            char tenant[48], id[37];
            long group = k / 100;
            snprintf(tenant, sizeof tenant, "tenant-%d-%05ld", p, group / 3);
            agg_uuid(id, (uint64_t)p, (uint64_t)k);
            tally_rollup_report_t rep = {tenant, group % 3 == 0 ? "prod" : group % 3 == 1 ? "staging" : "dev", id, 1,
                                         T0 + k, 100 + k % 1000, k % 10, k % 3, 1000 + k};
            if (tally_rollup_apply_usage(r, &rep) != TALLY_ROLLUP_APPLIED)
                bench_die("rollup", "report not applied");
            have += k % 100 == 0 ? 2 : 1;
        }
        w.partition = p;
        if (tally_rollup_snapshot(r, write_entry, &w) != 0)
            bench_die("snapshot", "failed");
        tally_rollup_free(r);
    }
    producer_close(rk);
    printf("CHANGELOG entries=%zu\n", w.n);
    return 0;
}

static int mode_delete(int argc, char **argv, const char *brokers)
{
    char names[4096];
    rd_kafka_t *rk = producer(brokers);
    snprintf(names, sizeof names, "%s", bench_arg(argc, argv, "--topics"));
    rd_kafka_DeleteTopic_t *del[16];
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(names, ",", &save); t && n < 16; t = strtok_r(NULL, ",", &save))
        del[n++] = rd_kafka_DeleteTopic_new(t);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopics(rk, del, n, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    int rc = ev && rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : 1;
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_DeleteTopic_destroy_array(del, n);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

int main(int argc, char **argv)
{
    bench_program = "bench_aggregator_load";
    const char *brokers = bench_arg(argc, argv, "--brokers");
    const char *mode = bench_arg(argc, argv, "--mode");
    if (strcmp(mode, "produce") == 0)
        return mode_produce(argc, argv, brokers);
    if (strcmp(mode, "consume") == 0)
        return mode_consume(argc, argv, brokers);
    if (strcmp(mode, "wait") == 0)
        return mode_wait(argc, argv, brokers);
    if (strcmp(mode, "changelog") == 0)
        return mode_changelog(argc, argv, brokers);
    if (strcmp(mode, "delete") == 0)
        return mode_delete(argc, argv, brokers);
    bench_die("mode", mode);
    return 2;
}
