#include "kafka_topics.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int valid_topic_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 249 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return 0;
    return 1;
}

static int parse_line(char *line, tally_topic_spec_t *t, char *why, size_t whysize)
{
    char *save = NULL, *tok[4 + TALLY_TOPIC_MAX_CONFIGS];
    int n = 0;
    for (char *w = strtok_r(line, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save)) {
        if (n == (int)(sizeof tok / sizeof tok[0])) {
            snprintf(why, whysize, "too many fields (at most %d configs)", TALLY_TOPIC_MAX_CONFIGS);
            return -1;
        }
        tok[n++] = w;
    }
    if (n < 4) {
        snprintf(why, whysize, "expected: name partitions retention.ms cleanup.policy [key=value ...]");
        return -1;
    }
    memset(t, 0, sizeof *t);
    if (!valid_topic_name(tok[0])) {
        snprintf(why, whysize, "invalid topic name '%.64s'", tok[0]);
        return -1;
    }
    snprintf(t->name, sizeof t->name, "%s", tok[0]);
    char *end;
    errno = 0;
    long p = strtol(tok[1], &end, 10);
    if (errno || *end || p < 1 || p > 10000) {
        snprintf(why, whysize, "partitions must be 1..10000, got '%.32s'", tok[1]);
        return -1;
    }
    t->partitions = (int)p;
    errno = 0;
    long long r = strtoll(tok[2], &end, 10);
    if (errno || *end || r < -1) {
        snprintf(why, whysize, "retention.ms must be -1 or a positive number, got '%.32s'", tok[2]);
        return -1;
    }
    t->retention_ms = r;
    if (strcmp(tok[3], "delete") != 0 && strcmp(tok[3], "compact") != 0) {
        snprintf(why, whysize, "cleanup.policy must be delete or compact, got '%.32s'", tok[3]);
        return -1;
    }
    snprintf(t->cleanup_policy, sizeof t->cleanup_policy, "%s", tok[3]);
    for (int i = 4; i < n; i++) {
        char *eq = strchr(tok[i], '=');
        if (eq == NULL || eq == tok[i] || !eq[1] || (size_t)(eq - tok[i]) >= 64 || strlen(eq + 1) >= 64) {
            snprintf(why, whysize, "config '%.64s' must be key=value (each under 64 bytes)", tok[i]);
            return -1;
        }
        *eq = '\0';
        if (strcmp(tok[i], "replication.factor") == 0) {
            errno = 0;
            long rf = strtol(eq + 1, &end, 10);
            if (errno || *end || rf < 1 || rf > 32 || t->replication_factor) {
                snprintf(why, whysize, "replication.factor must be 1..32, once, got '%.32s'", eq + 1);
                return -1;
            }
            t->replication_factor = (int)rf;
            continue;
        }
        snprintf(t->config_keys[t->config_count], 64, "%s", tok[i]);
        snprintf(t->config_values[t->config_count], 64, "%s", eq + 1);
        t->config_count++;
    }
    return 0;
}

int tally_topics_load(const char *path, tally_topic_list_t *list, char *errbuf, size_t errsize)
{
    int rc = -1, lineno = 0;
    char line[1024], why[256];
    size_t cap = 0;
    memset(list, 0, sizeof *list);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(errbuf, errsize, "topics file %s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            snprintf(errbuf, errsize, "%s:%d: line too long", path, lineno);
            goto cleanup;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            continue;
        if (list->count == cap) {
            cap = cap ? cap * 2 : 16;
            tally_topic_spec_t *grown = realloc(list->topics, cap * sizeof *grown);
            if (grown == NULL)
                abort();
            list->topics = grown;
        }
        tally_topic_spec_t *t = &list->topics[list->count];
        if (parse_line(p, t, why, sizeof why) != 0) {
            snprintf(errbuf, errsize, "%s:%d: %s", path, lineno, why);
            goto cleanup;
        }
        for (size_t i = 0; i < list->count; i++)
            if (strcmp(list->topics[i].name, t->name) == 0) {
                snprintf(errbuf, errsize, "%s:%d: topic %s declared twice", path, lineno, t->name);
                goto cleanup;
            }
        list->count++;
    }
    if (list->count == 0) {
        snprintf(errbuf, errsize, "topics file %s declares no topic", path);
        goto cleanup;
    }
    rc = 0;
cleanup:
    fclose(f);
    if (rc != 0)
        tally_topics_free(list);
    return rc;
}

void tally_topics_free(tally_topic_list_t *list)
{
    free(list->topics);
    list->topics = NULL;
    list->count = 0;
}

/* Partition count of an existing topic, 0 when it does not exist, -1 on
 * error; *replicas (may be NULL): the fewest replicas of its partitions. */
static int existing_partitions(rd_kafka_t *rk, const char *name, int timeout_ms, int *replicas,
                               char *errbuf, size_t errsize)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, name, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (err) {
        snprintf(errbuf, errsize, "metadata for %s: %s", name, rd_kafka_err2str(err));
        return -1;
    }
    int n = 0, fewest = 0;
    if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        n = md->topics[0].partition_cnt;
        for (int p = 0; p < n; p++)
            if (p == 0 || md->topics[0].partitions[p].replica_cnt < fewest)
                fewest = md->topics[0].partitions[p].replica_cnt;
    }
    rd_kafka_metadata_destroy(md);
    if (replicas)
        *replicas = fewest;
    return n;
}

int tally_topics_replication(const tally_topic_list_t *list, const tally_topic_spec_t *t, char *min_isr,
                             size_t min_isr_size)
{
    int rf = t->replication_factor;
    if (rf > 0 && list->max_replication > 0 && rf > list->max_replication)
        rf = list->max_replication;
    if (min_isr && min_isr_size)
        min_isr[0] = '\0';
    for (int c = 0; c < t->config_count && min_isr; c++)
        if (strcmp(t->config_keys[c], "min.insync.replicas") == 0) {
            long want = strtol(t->config_values[c], NULL, 10);
            /* One copy left cannot wait for two: cap it, or a single node
             * would refuse every acks=all write. */
            snprintf(min_isr, min_isr_size, "%ld", rf > 0 && want > rf ? (long)rf : want);
        }
    return rf;
}

/* An existing topic against what the list declares: the same partition
 * count, and at least the replicas it would be created with. */
static int check_shape(const tally_topic_list_t *list, const tally_topic_spec_t *t, int partitions, int replicas,
                       char *errbuf, size_t errsize)
{
    if (partitions != t->partitions) {
        snprintf(errbuf, errsize, "topic %s exists with %d partitions, topics.conf says %d", t->name, partitions,
                 t->partitions);
        return -1;
    }
    int rf = tally_topics_replication(list, t, NULL, 0);
    if (rf > 0 && replicas < rf) {
        snprintf(errbuf, errsize,
                 "topic %s exists with %d replicas, topics.conf says %d (kafka-reassign-partitions can add them)",
                 t->name, replicas, rf);
        return -1;
    }
    return 0;
}

/* A topic the broker says exists: waits (up to timeout_ms) until its
 * metadata shows it, then compares its partition count with the list's.
 * Returns 0, or -1 with errbuf. */
static int check_existing(rd_kafka_t *rk, const tally_topic_list_t *list, const char *name, int timeout_ms,
                          char *errbuf, size_t errsize)
{
    const tally_topic_spec_t *t = NULL;
    for (size_t i = 0; i < list->count && t == NULL; i++)
        if (strcmp(list->topics[i].name, name) == 0)
            t = &list->topics[i];
    if (t == NULL)
        return 0;
    int replicas = 0;
    int have = existing_partitions(rk, name, timeout_ms, &replicas, errbuf, errsize);
    for (int waited = 0; have == 0 && waited < timeout_ms; waited += 100) {
        usleep(100000);
        have = existing_partitions(rk, name, timeout_ms, &replicas, errbuf, errsize);
    }
    if (have < 0)
        return -1;
    return check_shape(list, t, have, replicas, errbuf, errsize);
}

int tally_topics_ensure(rd_kafka_t *rk, const tally_topic_list_t *list, int timeout_ms,
                        int *created, char *errbuf, size_t errsize)
{
    int rc = -1, count = 0;
    size_t n_new = 0;
    char err[512];
    rd_kafka_NewTopic_t **nt = calloc(list->count ? list->count : 1, sizeof *nt);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_event_t *ev = NULL;
    if (nt == NULL)
        abort();

    for (size_t i = 0; i < list->count; i++) {
        const tally_topic_spec_t *t = &list->topics[i];
        int replicas = 0;
        int have = existing_partitions(rk, t->name, timeout_ms, &replicas, errbuf, errsize);
        if (have < 0)
            goto cleanup;
        if (have > 0) {
            if (check_shape(list, t, have, replicas, errbuf, errsize) != 0)
                goto cleanup;
            continue;
        }
        char min_isr[24];
        int rf = tally_topics_replication(list, t, min_isr, sizeof min_isr);
        nt[n_new] = rd_kafka_NewTopic_new(t->name, t->partitions, rf > 0 ? rf : -1, err, sizeof err);
        if (nt[n_new] == NULL) {
            snprintf(errbuf, errsize, "topic %s: %s", t->name, err);
            goto cleanup;
        }
        char retention[32];
        snprintf(retention, sizeof retention, "%lld", t->retention_ms);
        rd_kafka_resp_err_t e1 = rd_kafka_NewTopic_set_config(nt[n_new], "retention.ms", retention);
        rd_kafka_resp_err_t e2 = rd_kafka_NewTopic_set_config(nt[n_new], "cleanup.policy", t->cleanup_policy);
        n_new++;
        if (e1 || e2) {
            snprintf(errbuf, errsize, "topic %s: %s", t->name, rd_kafka_err2str(e1 ? e1 : e2));
            goto cleanup;
        }
        for (int c = 0; c < t->config_count; c++)
            if (rd_kafka_NewTopic_set_config(nt[n_new - 1], t->config_keys[c],
                                             strcmp(t->config_keys[c], "min.insync.replicas") == 0
                                                 ? min_isr
                                                 : t->config_values[c])) {
                snprintf(errbuf, errsize, "topic %s: bad config %s", t->name, t->config_keys[c]);
                goto cleanup;
            }
    }
    if (n_new > 0) {
        rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, err, sizeof err);
        rd_kafka_CreateTopics(rk, nt, n_new, opts, q);
        rd_kafka_AdminOptions_destroy(opts);
        ev = rd_kafka_queue_poll(q, timeout_ms + 5000);
        if (ev == NULL) {
            snprintf(errbuf, errsize, "create topics: no answer within %d ms", timeout_ms + 5000);
            goto cleanup;
        }
        if (rd_kafka_event_error(ev)) {
            snprintf(errbuf, errsize, "create topics: %s", rd_kafka_event_error_string(ev));
            goto cleanup;
        }
        size_t cnt = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        for (size_t i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
            if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                /* Created meanwhile by another runner, or by us a moment
                 * ago while the broker's metadata did not show it yet: it
                 * must still have the partitions topics.conf says. */
                if (check_existing(rk, list, rd_kafka_topic_result_name(res[i]), timeout_ms, errbuf, errsize) != 0)
                    goto cleanup;
                continue;
            }
            if (e) {
                snprintf(errbuf, errsize, "create topic %s: %s", rd_kafka_topic_result_name(res[i]),
                         rd_kafka_topic_result_error_string(res[i]));
                goto cleanup;
            }
            count++;
        }
    }
    if (created)
        *created = count;
    rc = 0;
cleanup:
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    for (size_t i = 0; i < n_new; i++)
        rd_kafka_NewTopic_destroy(nt[i]);
    free(nt);
    return rc;
}
