/* bench_anonymizer: the Kafka chores of tests/bench/anonymizer.sh (issue #4).
 *
 *   bench_anonymizer create --partitions=P TOPIC...
 *   bench_anonymizer delete TOPIC...
 *   bench_anonymizer produce --product-topic=T --usage-topic=U --records=N
 *       N raw records encoded with the project's codec, as the gateway
 *       writes them: 70% product events (version, three properties, one of
 *       which the catalog does not allow; every fifth an error whose message
 *       and stack hold a home folder, an address, an e-mail and a token),
 *       15% usage reports, 15% seat events. Prints "PRODUCED records=N ms=T".
 *   bench_anonymizer copy --from=T1,T2 --to=O --group=G
 *       The plain consume-and-produce copy the anonymizer is measured
 *       against: the same consumer settings (group, read_committed, manual
 *       commits), an idempotent producer (acks=all, the same linger and
 *       compression), every record copied as it is (key, value), the
 *       consumed positions committed every 100 ms; no transaction, no
 *       decoding. Runs until SIGTERM, then flushes and commits.
 *   bench_anonymizer wait --group=G --topics=T1,T2 [--timeout=600s]
 *       Watches the group's committed offsets every 50 ms until they reach
 *       the topics' end offsets. Prints "RATE records=R seconds=S rate=R/S"
 *       from the first commit seen to the last (steady state: group joins
 *       and process starts are left out, the same way for both programs).
 */
#include "codec.h"
#include "config.h"
#include "kafka.h"
#include "kafka_topics.h"
#include "log.h"
#include "schema_catalog.h"

#include "../consumers/anonymizer/raw_gen.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *brokers, *schemas, *product_topic, *usage_topic, *from, *to, *group, *topics;
    int64_t records, partitions, timeout_ms;
} bench_settings_t;

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    stop_requested = sig;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Splits a comma-separated list in place; returns the count. */
static size_t split(char *list, char **out, size_t max)
{
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t && n < max; t = strtok_r(NULL, ",", &save))
        out[n++] = t;
    return n;
}

static rd_kafka_t *client(tally_kafka_role_t role, const bench_settings_t *s, const char *group, char *err,
                          size_t errsize)
{
    rd_kafka_conf_t *conf = tally_kafka_conf_new(role, s->brokers, "tally-bench-anonymizer", group, NULL, err,
                                                 errsize);
    if (conf == NULL)
        return NULL;
    if (role == TALLY_KAFKA_PRODUCER)
        rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", err, errsize);
    /* The anonymizer's prefetch (common/kafka.h), so that copy and anonymizer read alike. */
    if (role == TALLY_KAFKA_CONSUMER && tally_kafka_conf_prefetch(conf, err, errsize) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return tally_kafka_new(role, conf, err, errsize);
}

static int cmd_topics(const bench_settings_t *s, int create, int argc, char **argv, int first)
{
    char err[512];
    int rc = 1;
    rd_kafka_t *rk = client(TALLY_KAFKA_PRODUCER, s, NULL, err, sizeof err);
    if (rk == NULL || tally_kafka_wait_ready(rk, 30000, err, sizeof err) != 0) {
        fprintf(stderr, "bench_anonymizer: %s\n", err);
        goto cleanup;
    }
    if (create) {
        tally_topic_list_t list = {.topics = calloc((size_t)(argc - first), sizeof(tally_topic_spec_t))};
        for (int i = first; i < argc; i++) {
            tally_topic_spec_t *t = &list.topics[list.count++];
            snprintf(t->name, sizeof t->name, "%s", argv[i]);
            t->partitions = (int)s->partitions;
            t->retention_ms = 3600000;
            snprintf(t->cleanup_policy, sizeof t->cleanup_policy, "delete");
        }
        rc = tally_topics_ensure(rk, &list, 30000, NULL, err, sizeof err) != 0;
        if (rc)
            fprintf(stderr, "bench_anonymizer: %s\n", err);
        free(list.topics);
    } else {
        rd_kafka_DeleteTopic_t *del[16];
        int n = 0;
        for (int i = first; i < argc && n < 16; i++)
            del[n++] = rd_kafka_DeleteTopic_new(argv[i]);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_DeleteTopics(rk, del, (size_t)n, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
        rc = ev == NULL || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR;
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        rd_kafka_DeleteTopic_destroy_array(del, (size_t)n);
    }
cleanup:
    if (rk)
        rd_kafka_destroy(rk);
    return rc;
}

static void produce_one(rd_kafka_t *rk, const char *topic, const char *key, const void *value, size_t len)
{
    while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, strlen(key)),
                             RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(rk, 10);
}

static int cmd_produce(const bench_settings_t *s)
{
    char err[512];
    tally_catalog_t *cat = tally_catalog_load(s->schemas, err, sizeof err);
    if (cat == NULL) {
        fprintf(stderr, "bench_anonymizer: %s\n", err);
        return 1;
    }
    raw_gen_t g;
    rd_kafka_t *rk = client(TALLY_KAFKA_PRODUCER, s, NULL, err, sizeof err);
    if (rk == NULL || raw_gen_init(&g, cat) != 0) {
        fprintf(stderr, "bench_anonymizer: %s\n", err);
        return 1;
    }
    long long t0 = now_ms();
    const int64_t t = INT64_C(1714560000000);
    for (int64_t i = 0; i < s->records; i++) {
        char id[37], install[32], project[32], tenant[32], user[32], msg[256], stack[512];
        const void *buf;
        size_t len;
        int r = (int)(i % 20), rc;
        snprintf(tenant, sizeof tenant, "tenant-%02d", (int)(i % 23));
        if (r < 14) {
            const char *props[] = {"template", "blog-starter", "package_manager", "pnpm", "hostname", "build-box-7"};
            raw_uuid(id, 1, (uint64_t)i);
            snprintf(install, sizeof install, "install-%06d", (int)(i % 50000));
            snprintf(project, sizeof project, "project-%05d", (int)(i % 7000));
            snprintf(msg, sizeof msg, "EACCES: permission denied, open '/home/user%d/.npmrc' from 10.%d.%d.7 "
                     "(dev%d@example.com)", (int)(i % 97), (int)(i % 200), (int)(i % 100), (int)(i % 31));
            snprintf(stack, sizeof stack, "Error: EACCES\n    at Object.openSync (node:fs:601:3)\n"
                     "    at /home/user%d/.npm/_npx/cli.js:12:7\n    at https://registry.example.com/x?token=abc%d",
                     (int)(i % 97), (int)i);
            raw_product_t p = {.event_id = id, .source = "CLI",
                               .event = i % 5 == 0 ? "project.create.error" : "project.create.start",
                               .install_id = install, .project_id = project, .version = "5.4.1",
                               .occurred_at = t + i, .received_at = t + i + 20, .ci = (int)(i % 2), .new_user = 0,
                               .props = props, .n_props = 3, .error_message = i % 5 == 0 ? msg : NULL,
                               .error_stack = i % 5 == 0 ? stack : NULL};
            if ((rc = raw_gen_product(&g, &p, &buf, &len)) == 0)
                produce_one(rk, s->product_topic, install, buf, len);
        } else if (r < 17) {
            raw_uuid(id, 3, (uint64_t)(i % 500));
            if ((rc = raw_gen_usage(&g, tenant, "env-prod", id, t, i, t + i, i * 3, &buf, &len)) == 0)
                produce_one(rk, s->usage_topic, tenant, buf, len);
        } else {
            raw_uuid(id, 2, (uint64_t)i);
            snprintf(user, sizeof user, "user-%06d", (int)(i % 90000));
            if ((rc = raw_gen_seat(&g, id, tenant, user, i % 2 ? "ASSIGNED" : "RELEASED", t + i, &buf, &len)) == 0)
                produce_one(rk, s->usage_topic, tenant, buf, len);
        }
        if (rc != 0) {
            fprintf(stderr, "bench_anonymizer: cannot encode record %lld\n", (long long)i);
            return 1;
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 120000);
    int left = rd_kafka_outq_len(rk);
    rd_kafka_destroy(rk);
    raw_gen_done(&g);
    tally_catalog_free(cat);
    printf("PRODUCED records=%lld ms=%lld left=%d\n", (long long)s->records, now_ms() - t0, left);
    return left != 0;
}

static int cmd_copy(const bench_settings_t *s)
{
    char err[512], *from[8];
    size_t nfrom = split(s->from, from, 8);
    rd_kafka_t *cons = client(TALLY_KAFKA_CONSUMER, s, s->group, err, sizeof err);
    rd_kafka_t *prod = client(TALLY_KAFKA_PRODUCER, s, NULL, err, sizeof err);
    if (cons == NULL || prod == NULL || nfrom == 0) {
        fprintf(stderr, "bench_anonymizer: %s\n", err);
        return 1;
    }
    rd_kafka_topic_t *out = rd_kafka_topic_new(prod, s->to, NULL);
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)nfrom);
    for (size_t i = 0; i < nfrom; i++)
        rd_kafka_topic_partition_list_add(subs, from[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(cons, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    long long last_commit = now_ms(), copied = 0;
    while (!stop_requested) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 50);
        if (m != NULL) {
            if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                while (rd_kafka_produce(out, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, m->payload, m->len,
                                        m->key, m->key_len, NULL) != 0)
                    rd_kafka_poll(prod, 10);
                copied++;
            }
            rd_kafka_message_destroy(m);
        }
        rd_kafka_poll(prod, 0);
        if (now_ms() - last_commit >= 100) {
            /* Plain at-least-once bookkeeping: the consumed positions. */
            rd_kafka_topic_partition_list_t *parts = NULL;
            if (rd_kafka_assignment(cons, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts->cnt > 0 &&
                rd_kafka_position(cons, parts) == RD_KAFKA_RESP_ERR_NO_ERROR)
                rd_kafka_commit(cons, parts, 1);
            if (parts)
                rd_kafka_topic_partition_list_destroy(parts);
            last_commit = now_ms();
        }
    }
    rd_kafka_flush(prod, 30000);
    rd_kafka_commit(cons, NULL, 0);
    rd_kafka_topic_destroy(out);
    rd_kafka_destroy(prod);
    tally_kafka_consumer_close(cons);
    fprintf(stderr, "bench_anonymizer: copied %lld records\n", copied);
    return 0;
}

static int cmd_wait(const bench_settings_t *s)
{
    char err[512], *topics[8];
    size_t nt = split(s->topics, topics, 8);
    rd_kafka_t *rk = client(TALLY_KAFKA_CONSUMER, s, s->group, err, sizeof err);
    if (rk == NULL || nt == 0) {
        fprintf(stderr, "bench_anonymizer: %s\n", err);
        return 1;
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(32);
    int64_t end = 0;
    for (size_t t = 0; t < nt; t++) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topics[t], NULL);
        if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "bench_anonymizer: no metadata for %s\n", topics[t]);
            return 1;
        }
        rd_kafka_topic_destroy(rkt);
        for (int i = 0; i < md->topics[0].partition_cnt; i++) {
            int64_t lo, hi;
            rd_kafka_query_watermark_offsets(rk, topics[t], i, &lo, &hi, 10000);
            end += hi;
            rd_kafka_topic_partition_list_add(parts, topics[t], i);
        }
        rd_kafka_metadata_destroy(md);
    }
    long long t_first = 0, t_done = 0, deadline = now_ms() + s->timeout_ms;
    int64_t c_first = 0;
    while (now_ms() < deadline) {
        int64_t c = 0;
        if (rd_kafka_committed(rk, parts, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            for (int i = 0; i < parts->cnt; i++)
                if (parts->elems[i].offset > 0)
                    c += parts->elems[i].offset;
            if (c > 0 && t_first == 0) {
                t_first = now_ms();
                c_first = c;
            }
            if (c >= end) {
                t_done = now_ms();
                break;
            }
        }
        usleep(50 * 1000);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_destroy(rk);
    if (t_done == 0) {
        fprintf(stderr, "bench_anonymizer: the group did not reach the end offsets (%lld) in time\n", (long long)end);
        return 1;
    }
    double secs = (double)(t_done - t_first) / 1000.0;
    long long recs = (long long)(end - c_first);
    printf("RATE records=%lld seconds=%.3f rate=%.0f\n", recs, secs, secs > 0 ? (double)recs / secs : 0.0);
    return 0;
}

int main(int argc, char **argv)
{
    bench_settings_t s;
    memset(&s, 0, sizeof s);
    const tally_config_option_t options[] = {
        TALLY_CONFIG_STR("brokers", &s.brokers, "127.0.0.1:19092", "Kafka bootstrap servers"),
        TALLY_CONFIG_STR("schemas", &s.schemas, "schemas", "the schema catalog folder"),
        TALLY_CONFIG_STR("product-topic", &s.product_topic, NULL, "produce: raw product topic"),
        TALLY_CONFIG_STR("usage-topic", &s.usage_topic, NULL, "produce: raw usage topic"),
        TALLY_CONFIG_INT("records", &s.records, "100000", 1, 100000000, "produce: records"),
        TALLY_CONFIG_INT("partitions", &s.partitions, "6", 1, 1000, "create: partitions per topic"),
        TALLY_CONFIG_STR("from", &s.from, NULL, "copy: input topics, comma-separated"),
        TALLY_CONFIG_STR("to", &s.to, NULL, "copy: output topic"),
        TALLY_CONFIG_STR("group", &s.group, NULL, "copy, wait: consumer group"),
        TALLY_CONFIG_STR("topics", &s.topics, NULL, "wait: input topics, comma-separated"),
        TALLY_CONFIG_DURATION("timeout", &s.timeout_ms, "600s", 1000, 3600000, "wait: give up after"),
    };
    char err[512];
    int rc = 2;
    tally_config_t *cfg = tally_config_new("bench_anonymizer", TALLY_VERSION,
                                           "Benchmark chores: create, delete, produce, copy, wait", options,
                                           sizeof options / sizeof options[0]);
    int prc = tally_config_parse(cfg, argc, argv, err, sizeof err);
    size_t npos = tally_config_positional_count(cfg);
    const char *cmd = npos ? tally_config_positional_get(cfg, 0) : "";
    tally_log_set_level(TALLY_LOG_WARN);
    signal(SIGTERM, on_stop);
    signal(SIGINT, on_stop);
    if (prc != 0) {
        if (prc < 0)
            fprintf(stderr, "bench_anonymizer: %s\n", err);
        rc = prc < 0 ? 2 : 0;
    } else if (strcmp(cmd, "create") == 0 || strcmp(cmd, "delete") == 0) {
        char *names[16];
        int n = 0;
        names[n++] = (char *)"";
        for (size_t i = 1; i < npos && n < 16; i++)
            names[n++] = (char *)tally_config_positional_get(cfg, i);
        rc = cmd_topics(&s, cmd[0] == 'c', n, names, 1);
    } else if (strcmp(cmd, "produce") == 0 && s.product_topic && s.usage_topic) {
        rc = cmd_produce(&s);
    } else if (strcmp(cmd, "copy") == 0 && s.from && s.to && s.group) {
        rc = cmd_copy(&s);
    } else if (strcmp(cmd, "wait") == 0 && s.topics && s.group) {
        rc = cmd_wait(&s);
    } else {
        fprintf(stderr, "bench_anonymizer: expected create|delete|produce|copy|wait with its options (see --help)\n");
    }
    tally_config_free(cfg);
    return rc;
}
