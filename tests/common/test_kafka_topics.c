/* topics.conf: the project's file declares every topic of docs/architecture.md,
 * those carrying usage, seats, rollups, changelogs, alerts and Control Panel
 * events with 3 replicas of which 2 must hold a write; bad lines are refused
 * naming file and line; creation on the real broker is idempotent and
 * refuses a partition count that differs, or fewer replicas than declared. */
#include "fixtures.h"
#include "kafka.h"
#include "kafka_topics.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char errbuf[1024];

static int load_text(const char *text, tally_topic_list_t *list, char *path, size_t pathsize)
{
    snprintf(path, pathsize, "/tmp/tally-topics-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    errbuf[0] = '\0';
    int rc = tally_topics_load(path, list, errbuf, sizeof errbuf);
    unlink(path);
    return rc;
}

static void expect_refused(const char *text, const char *where, const char *why)
{
    char path[64];
    tally_topic_list_t list = {0};
    cr_assert_neq(load_text(text, &list, path, sizeof path), 0, "accepted: %s", text);
    char at[128];
    snprintf(at, sizeof at, "%s%s", path, where);
    cr_assert(strstr(errbuf, at) != NULL, "error '%s' does not name %s", errbuf, at);
    cr_assert(strstr(errbuf, why) != NULL, "error '%s' does not say '%s'", errbuf, why);
    cr_assert_null(list.topics);
}

Test(kafka_topics, project_file_declares_every_topic)
{
    tally_topic_list_t list = {0};
    cr_assert_eq(tally_topics_load(tally_test_source_path("deploy/kafka/topics.conf"), &list, errbuf,
                                   sizeof errbuf), 0, "%s", errbuf);
    const char *want[] = {"tally.product.raw", "tally.usage.raw", "tally.product", "tally.usage",
                          "tally.aggregator.changelog", "tally.rollups", "tally.controlpanel", "tally.dlq",
                          "tally.alerts", "tally.notifier.changelog", "tally.webhooks.deliveries"};
    cr_assert_eq(list.count, sizeof want / sizeof want[0]);
    int usage_parts = 0, changelog_parts = 0, alerts_parts = 0, deliveries_parts = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const tally_topic_spec_t *t = NULL;
        for (size_t j = 0; j < list.count; j++)
            if (strcmp(list.topics[j].name, want[i]) == 0)
                t = &list.topics[j];
        cr_assert_not_null(t, "topics.conf lacks %s", want[i]);
        if (strstr(want[i], ".raw"))
            cr_assert(t->retention_ms > 0 && t->retention_ms <= 24LL * 3600 * 1000,
                      "%s holds identifiers: hours only", want[i]);
        if (strcmp(want[i], "tally.usage") == 0)
            usage_parts = t->partitions;
        if (strcmp(want[i], "tally.aggregator.changelog") == 0) {
            changelog_parts = t->partitions;
            cr_assert_str_eq(t->cleanup_policy, "compact");
        }
        if (strcmp(want[i], "tally.rollups") == 0 || strcmp(want[i], "tally.notifier.changelog") == 0)
            cr_assert_str_eq(t->cleanup_policy, "compact");
        if (strcmp(want[i], "tally.webhooks.deliveries") == 0) {
            deliveries_parts = t->partitions;
            cr_assert_str_eq(t->cleanup_policy, "compact");
        }
        if (strcmp(want[i], "tally.alerts") == 0) {
            alerts_parts = t->partitions;
            cr_assert_str_eq(t->cleanup_policy, "delete");
            cr_assert_eq(t->retention_ms, -1, "alerts are kept forever");
        }
    }
    for (size_t i = 0; i < list.count; i++) {
        const tally_topic_spec_t *t = &list.topics[i];
        char min_isr[24];
        int durable = strncmp(t->name, "tally.product", 13) != 0 && strcmp(t->name, "tally.dlq") != 0;
        cr_assert_eq(tally_topics_replication(&list, t, min_isr, sizeof min_isr), 3, "%s: 3 replicas", t->name);
        /* Two copies before an ack: a broker lost after it loses nothing. */
        cr_assert_str_eq(min_isr, durable ? "2" : "1", "%s: min.insync.replicas", t->name);
    }
    cr_assert_eq(usage_parts, changelog_parts, "the changelog is co-partitioned with tally.usage");
    cr_assert_eq(alerts_parts, deliveries_parts, "webhook deliveries are co-partitioned with tally.alerts");
    tally_topics_free(&list);
}

Test(kafka_topics, bad_lines_are_refused_with_their_line)
{
    expect_refused("# only a comment\n", "", "no topic");
    expect_refused("a.b 3 1000\n", ":1", "expected");
    expect_refused("ok 1 -1 delete\nbad/name 1 -1 delete\n", ":2", "invalid topic name");
    expect_refused("t 0 -1 delete\n", ":1", "partitions");
    expect_refused("t many -1 delete\n", ":1", "partitions");
    expect_refused("t 1 -5 delete\n", ":1", "retention.ms");
    expect_refused("t 1 99999999999999999999999 delete\n", ":1", "retention.ms");
    expect_refused("t 1 -1 shred\n", ":1", "cleanup.policy");
    expect_refused("t 1 -1 delete novalue\n", ":1", "key=value");
    expect_refused("t 1 -1 delete =x\n", ":1", "key=value");
    expect_refused("t 1 -1 delete\nt 2 -1 delete\n", ":2", "twice");
    expect_refused("t 1 -1 delete replication.factor=0\n", ":1", "replication.factor");
    expect_refused("t 1 -1 delete replication.factor=three\n", ":1", "replication.factor");
    expect_refused("t 1 -1 delete replication.factor=3 replication.factor=3\n", ":1", "replication.factor");
    expect_refused("t 1 -1 delete a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8 i=9\n", ":1", "too many");
    char longline[2100];
    memset(longline, 'x', sizeof longline - 2);
    longline[sizeof longline - 2] = '\n';
    longline[sizeof longline - 1] = '\0';
    expect_refused(longline, ":1", "too long");
}

Test(kafka_topics, creation_on_the_broker_is_idempotent)
{
    char name[128], err[512];
    tally_test_unique_name("tally.test.topics", name, sizeof name);
    tally_topic_list_t list = {0};
    char text[512];
    snprintf(text, sizeof text, "%s 3 3600000 compact min.cleanable.dirty.ratio=0.2\n", name);
    char path[64];
    cr_assert_eq(load_text(text, &list, path, sizeof path), 0, "%s", errbuf);

    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_PRODUCER, tally_test_brokers(), "t", NULL,
                                                 NULL, err, sizeof err);
    cr_assert_not_null(conf, "%s", err);
    rd_kafka_t *rk = tally_kafka_new(TALLY_KAFKA_PRODUCER, conf, err, sizeof err);
    cr_assert_not_null(rk, "%s", err);
    cr_assert_eq(tally_kafka_wait_ready(rk, 30000, err, sizeof err), 0, "%s", err);
    int created = -1;
    cr_assert_eq(tally_topics_ensure(rk, &list, 30000, &created, err, sizeof err), 0, "%s", err);
    cr_assert_eq(created, 1);
    cr_assert_eq(tally_topics_ensure(rk, &list, 30000, &created, err, sizeof err), 0, "%s", err);
    cr_assert_eq(created, 0, "a second run creates nothing");

    list.topics[0].partitions = 4;
    cr_assert_neq(tally_topics_ensure(rk, &list, 30000, &created, err, sizeof err), 0);
    cr_assert(strstr(err, name) != NULL && strstr(err, "3 partitions") != NULL, "%s", err);
    tally_topics_free(&list);
    rd_kafka_destroy(rk);
}

Test(kafka_topics, a_local_stack_caps_the_replicas_and_what_must_hold_a_write)
{
    char path[64], min_isr[24];
    tally_topic_list_t list = {0};
    cr_assert_eq(load_text("a 3 -1 delete replication.factor=3 min.insync.replicas=2\nb 3 -1 delete\n", &list, path,
                           sizeof path),
                 0, "%s", errbuf);
    cr_assert_eq(list.topics[0].config_count, 1, "replication.factor is no topic config");
    cr_assert_eq(tally_topics_replication(&list, &list.topics[0], min_isr, sizeof min_isr), 3);
    cr_assert_str_eq(min_isr, "2");
    cr_assert_eq(tally_topics_replication(&list, &list.topics[1], min_isr, sizeof min_isr), 0, "broker default");
    cr_assert_str_eq(min_isr, "");
    /* One node: one replica, and one is enough to take a write. */
    list.max_replication = 1;
    cr_assert_eq(tally_topics_replication(&list, &list.topics[0], min_isr, sizeof min_isr), 1);
    cr_assert_str_eq(min_isr, "1");
    list.max_replication = 5;
    cr_assert_eq(tally_topics_replication(&list, &list.topics[0], min_isr, sizeof min_isr), 3);
    cr_assert_str_eq(min_isr, "2");
    tally_topics_free(&list);
}

Test(kafka_topics, fewer_replicas_than_declared_are_refused)
{
    char name[128], err[512], text[512], path[64];
    tally_test_unique_name("tally.test.replicas", name, sizeof name);
    tally_topic_list_t list = {0};
    snprintf(text, sizeof text, "%s 2 3600000 delete replication.factor=3 min.insync.replicas=2\n", name);
    cr_assert_eq(load_text(text, &list, path, sizeof path), 0, "%s", errbuf);
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_PRODUCER, tally_test_brokers(), "t", NULL,
                                                 NULL, err, sizeof err);
    cr_assert_not_null(conf, "%s", err);
    rd_kafka_t *rk = tally_kafka_new(TALLY_KAFKA_PRODUCER, conf, err, sizeof err);
    cr_assert_not_null(rk, "%s", err);
    cr_assert_eq(tally_kafka_wait_ready(rk, 30000, err, sizeof err), 0, "%s", err);
    /* Created as a single local node does (kafka.sh: --max-replication=1)... */
    list.max_replication = 1;
    int created = -1;
    cr_assert_eq(tally_topics_ensure(rk, &list, 30000, &created, err, sizeof err), 0, "%s", err);
    cr_assert_eq(created, 1);
    cr_assert_eq(tally_topics_ensure(rk, &list, 30000, &created, err, sizeof err), 0, "%s", err);
    /* ...it is not what a cluster promising 3 copies may accept. */
    list.max_replication = 0;
    cr_assert_neq(tally_topics_ensure(rk, &list, 30000, &created, err, sizeof err), 0);
    cr_assert(strstr(err, name) != NULL && strstr(err, "1 replicas, topics.conf says 3") != NULL, "%s", err);
    tally_topics_free(&list);
    rd_kafka_destroy(rk);
}

Test(kafka_topics, unreachable_broker_is_a_clear_error)
{
    char err[512];
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_PRODUCER, "127.0.0.1:1", "t", NULL, NULL,
                                                 err, sizeof err);
    cr_assert_not_null(conf, "%s", err);
    rd_kafka_t *rk = tally_kafka_new(TALLY_KAFKA_PRODUCER, conf, err, sizeof err);
    cr_assert_not_null(rk, "%s", err);
    cr_assert_neq(tally_kafka_wait_ready(rk, 1500, err, sizeof err), 0);
    cr_assert(strstr(err, "no broker answered") != NULL, "%s", err);
    rd_kafka_destroy(rk);
}

Test(kafka, role_settings_are_checked)
{
    char err[512];
    cr_assert_null(tally_kafka_conf_new(TALLY_KAFKA_CONSUMER, "b:1", "c", NULL, NULL, err, sizeof err));
    cr_assert(strstr(err, "group.id") != NULL, "%s", err);
    cr_assert_null(tally_kafka_conf_new(TALLY_KAFKA_TRANSACTIONAL, "b:1", "c", NULL, "", err, sizeof err));
    cr_assert(strstr(err, "transactional.id") != NULL, "%s", err);

    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_CONSUMER, "b:1", "c", "g", NULL, err, sizeof err);
    cr_assert_not_null(conf, "%s", err);
    char v[64];
    size_t n = sizeof v;
    cr_assert_eq(rd_kafka_conf_get(conf, "isolation.level", v, &n), RD_KAFKA_CONF_OK);
    cr_assert_str_eq(v, "read_committed");
    n = sizeof v;
    cr_assert_eq(rd_kafka_conf_get(conf, "enable.auto.commit", v, &n), RD_KAFKA_CONF_OK);
    cr_assert_str_eq(v, "false");
    rd_kafka_conf_destroy(conf);

    conf = tally_kafka_conf_new(TALLY_KAFKA_PRODUCER, "b:1", "c", NULL, NULL, err, sizeof err);
    n = sizeof v;
    cr_assert_eq(rd_kafka_conf_get(conf, "enable.idempotence", v, &n), RD_KAFKA_CONF_OK);
    cr_assert_str_eq(v, "true");
    rd_kafka_conf_destroy(conf);
}
