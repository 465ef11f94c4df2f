/*
 * Reading a transactional changelog back: see changelog_reader.h for why
 * the partitions must be stable first.
 */
#include "changelog_reader.h"

#include "kafka.h"
#include "log.h"
#include "timeutil.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#define COMPONENT "changelog"
/* Pause between two looks at an unstable partition. */
#define STABLE_POLL_MS 20
/* Longest single broker call inside a wait. */
#define CALL_TIMEOUT_MS 5000

struct tally_changelog_reader_t {
    char *topic;
    rd_kafka_t *committed;   /* read_committed: reads, and last stable offsets */
    rd_kafka_t *uncommitted; /* read_uncommitted: high watermarks */
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* -X pairs without a role prefix, and "restore.<key>". */
static int apply_overrides(const tally_config_t *cfg, rd_kafka_conf_t *conf, char *errbuf, size_t errsize)
{
    size_t n = cfg ? tally_config_kafka_count(cfg) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *key, *value;
        char rderr[256];
        if (tally_config_kafka_get(cfg, i, &key, &value) != 0)
            continue;
        if (strncmp(key, "consumer.", 9) == 0 || strncmp(key, "producer.", 9) == 0)
            continue;
        if (strncmp(key, "restore.", 8) == 0)
            key += 8;
        if (rd_kafka_conf_set(conf, key, value, rderr, sizeof rderr) != RD_KAFKA_CONF_OK) {
            snprintf(errbuf, errsize, "-X %s: %s", key, rderr);
            return -1;
        }
    }
    return 0;
}

static rd_kafka_t *consumer_new(const tally_changelog_reader_opts_t *o, const char *isolation, char *errbuf,
                                size_t errsize)
{
    char rderr[256];
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_CONSUMER, o->brokers, o->client_id, o->group_id,
                                                 NULL, errbuf, errsize);
    if (conf == NULL)
        return NULL;
    /* A restore reads a whole partition as fast as it can, and must see
     * where the readable part ends. */
    const char *settings[][2] = {
        {"isolation.level", isolation},
        {"enable.partition.eof", "true"},
        {"max.partition.fetch.bytes", "8388608"},
        {"fetch.wait.max.ms", "10"},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], rderr, sizeof rderr) != RD_KAFKA_CONF_OK) {
            snprintf(errbuf, errsize, "kafka config %s: %s", settings[i][0], rderr);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    if (apply_overrides(o->cfg, conf, errbuf, errsize) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return tally_kafka_new(TALLY_KAFKA_CONSUMER, conf, errbuf, errsize);
}

tally_changelog_reader_t *tally_changelog_reader_new(const tally_changelog_reader_opts_t *o, char *errbuf, size_t errsize)
{
    tally_changelog_reader_t *r = tally_xcalloc(1, sizeof *r);
    r->topic = tally_xstrdup(o->topic);
    if ((r->committed = consumer_new(o, "read_committed", errbuf, errsize)) == NULL ||
        (r->uncommitted = consumer_new(o, "read_uncommitted", errbuf, errsize)) == NULL) {
        tally_changelog_reader_free(r);
        return NULL;
    }
    return r;
}

void tally_changelog_reader_free(tally_changelog_reader_t *r)
{
    if (r == NULL)
        return;
    /* Neither ever joined the group: nothing to leave, nothing to commit. */
    if (r->committed)
        rd_kafka_destroy(r->committed);
    if (r->uncommitted)
        rd_kafka_destroy(r->uncommitted);
    free(r->topic);
    free(r);
}

int tally_changelog_reader_partition_count(tally_changelog_reader_t *r, const char *topic, int timeout_ms, int *count,
                                  char *errbuf, size_t errsize)
{
    long long deadline = tally_mono_ms() + timeout_ms;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->committed, topic, NULL);
    if (rkt == NULL) {
        snprintf(errbuf, errsize, "kafka: topic %.200s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    int rc = -1;
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        long long left = deadline - tally_mono_ms();
        rd_kafka_resp_err_t err = rd_kafka_metadata(r->committed, 0, rkt, &md,
                                                    (int)(left > CALL_TIMEOUT_MS ? CALL_TIMEOUT_MS
                                                                                 : left > 0 ? left : 1));
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topics[0].partition_cnt > 0) {
                *count = md->topics[0].partition_cnt;
                rc = 0;
            }
            rd_kafka_metadata_destroy(md);
        }
        if (rc == 0)
            break;
        if (tally_mono_ms() >= deadline) {
            snprintf(errbuf, errsize, "kafka: topic %.200s: no partitions within %d ms: %s", topic, timeout_ms,
                     rd_kafka_err2str(err));
            break;
        }
        sleep_ms(100);
    }
    rd_kafka_topic_destroy(rkt);
    return rc;
}

/* Serves the queues of a consumer that is not reading (errors, logs). */
static void drain(rd_kafka_t *rk)
{
    rd_kafka_message_t *m;
    while ((m = rd_kafka_consumer_poll(rk, 0)) != NULL)
        rd_kafka_message_destroy(m);
}

/* Asks the cluster where topic's partitions are now. A leader moved by a
 * broker's loss answers NOT_LEADER to the offset queries below, and
 * librdkafka 2.0.2 asked the old leader again and again (an aggregator
 * restoring waited minutes, tests/cluster): a metadata request for the
 * topic updates its cache. */
static void refresh_leaders(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rkt == NULL)
        return;
    if (rd_kafka_metadata(rk, 0, rkt, &md, CALL_TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
}

static bool leader_moved(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION || err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
           err == RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH || err == RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH ||
           err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__TIMED_OUT;
}

int tally_changelog_reader_stable_ends(tally_changelog_reader_t *r, const int32_t *partitions, size_t n, int64_t *ends,
                              int timeout_ms, char *errbuf, size_t errsize)
{
    long long start = tally_mono_ms(), deadline = start + timeout_ms, warned = start;
    bool *done = tally_xcalloc(n, sizeof *done);
    size_t left = n;
    int rc = -1;
    drain(r->uncommitted);
    for (;;) {
        int32_t waiting = -1;
        int64_t lso = -1, hw = -1;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        for (size_t i = 0; i < n; i++) {
            int64_t lo;
            if (done[i])
                continue;
            /* Last stable offset first: if a transaction opens between the
             * two calls, the high watermark read second is above it. */
            err = rd_kafka_query_watermark_offsets(r->committed, r->topic, partitions[i], &lo, &lso,
                                                   CALL_TIMEOUT_MS);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
                err = rd_kafka_query_watermark_offsets(r->uncommitted, r->topic, partitions[i], &lo, &hw,
                                                       CALL_TIMEOUT_MS);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR && lso == hw) {
                ends[i] = hw;
                done[i] = true;
                left--;
            } else if (waiting < 0) {
                waiting = partitions[i];
            }
        }
        if (left == 0) {
            rc = 0;
            break;
        }
        if (leader_moved(err)) {
            refresh_leaders(r->committed, r->topic);
            refresh_leaders(r->uncommitted, r->topic);
        }
        long long now = tally_mono_ms();
        if (now >= deadline) {
            if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
                snprintf(errbuf, errsize, "changelog %.200s[%" PRId32 "]: end offsets: %s", r->topic, waiting,
                         rd_kafka_err2str(err));
            else
                snprintf(errbuf, errsize,
                         "changelog %.200s[%" PRId32 "]: a transaction is still open after %d ms "
                         "(last stable offset %" PRId64 ", high watermark %" PRId64 ")",
                         r->topic, waiting, timeout_ms, lso, hw);
            break;
        }
        if (now - warned >= 5000) {
            warned = now;
            tally_log_info(COMPONENT,
                           "changelog %s[%" PRId32 "]: waiting for an open transaction to end (%s) for %lld ms",
                           r->topic, waiting, err ? rd_kafka_err2str(err) : "fenced or timed out soon",
                           now - start);
        }
        sleep_ms(STABLE_POLL_MS);
    }
    free(done);
    return rc;
}

static ssize_t index_of(const int32_t *partitions, size_t n, int32_t partition)
{
    for (size_t i = 0; i < n; i++)
        if (partitions[i] == partition)
            return (ssize_t)i;
    return -1;
}

int tally_changelog_reader_read(tally_changelog_reader_t *r, const int32_t *partitions, size_t n,
                                const int64_t *ends, tally_changelog_apply_fn apply, void *arg, int timeout_ms,
                                uint64_t *records, char *errbuf, size_t errsize)
{
    bool *done = tally_xcalloc(n, sizeof *done);
    size_t left = 0;
    int rc = -1;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        if (ends[i] <= 0) {
            done[i] = true;   /* never written to */
            continue;
        }
        rd_kafka_topic_partition_list_add(parts, r->topic, partitions[i])->offset = RD_KAFKA_OFFSET_BEGINNING;
        left++;
    }
    if (left > 0) {
        rd_kafka_resp_err_t err = rd_kafka_assign(r->committed, parts);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(errbuf, errsize, "changelog %.200s: assign: %s", r->topic, rd_kafka_err2str(err));
            goto cleanup;
        }
    }
    long long idle_since = tally_mono_ms();
    while (left > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->committed, 100);
        if (m == NULL) {
            if (tally_mono_ms() - idle_since > timeout_ms) {
                snprintf(errbuf, errsize, "changelog %.200s: nothing read for %d ms (%zu partition(s) unfinished)",
                         r->topic, timeout_ms, left);
                goto unassign;
            }
            continue;
        }
        idle_since = tally_mono_ms();
        ssize_t i = m->rkt && strcmp(rd_kafka_topic_name(m->rkt), r->topic) == 0
                        ? index_of(partitions, n, m->partition)
                        : -1;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* The readable end of the partition; the stable end found
             * earlier lies at or before it. */
            if (i >= 0 && !done[i] && m->offset >= ends[i]) {
                done[i] = true;
                left--;
            }
        } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (m->err == RD_KAFKA_RESP_ERR__FATAL || m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || m->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
                m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED || m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
                snprintf(errbuf, errsize, "changelog %.200s: %s", r->topic, rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                goto unassign;
            }
            tally_log_warn(COMPONENT, "changelog %s: %s", r->topic, rd_kafka_message_errstr(m));
        } else if (i >= 0 && !done[i] && m->offset < ends[i]) {
            char why[256];
            why[0] = '\0';
            if (apply(arg, (size_t)i, m->key, m->key_len, m->payload, m->payload ? m->len : 0, why, sizeof why) !=
                0) {
                snprintf(errbuf, errsize, "changelog %.200s[%" PRId32 "]@%" PRId64 ": %s", r->topic, m->partition,
                         m->offset, why);
                rd_kafka_message_destroy(m);
                goto unassign;
            }
            (*records)++;
            if (m->offset == ends[i] - 1) {
                done[i] = true;
                left--;
            }
        }
        rd_kafka_message_destroy(m);
    }
    rc = 0;
unassign:
    if (parts->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_assign(r->committed, NULL);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            tally_log_warn(COMPONENT, "changelog %s: unassign: %s", r->topic, rd_kafka_err2str(err));
            rc = -1;
            snprintf(errbuf, errsize, "changelog %.200s: unassign: %s", r->topic, rd_kafka_err2str(err));
        }
    }
cleanup:
    rd_kafka_topic_partition_list_destroy(parts);
    free(done);
    return rc;
}
