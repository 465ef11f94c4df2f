/* Reading partition ranges once, read-only (see reader.h). */
#include "reader.h"

#include "kafka.h"
#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMPONENT "replay"
#define METADATA_TIMEOUT_MS 10000
#define PROGRESS_EVERY_MS 2000

struct tally_replay_reader_t {
    rd_kafka_t *rk;
    char *brokers, *label;
    int stall_timeout_ms, progress_every_ms;
    bool progress;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (p == NULL) {
        fputs("tally-replay: out of memory\n", stderr);
        abort();
    }
    return p;
}

void tally_replay_ranges_free(tally_replay_ranges_t *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

void tally_replay_ranges_add(tally_replay_ranges_t *l, const tally_replay_range_t *r)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (l->v == NULL) {
            fputs("tally-replay: out of memory\n", stderr);
            abort();
        }
    }
    l->v[l->n++] = *r;
}

uint64_t tally_replay_ranges_span(const tally_replay_ranges_t *l)
{
    uint64_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].end > l->v[i].start)
            n += (uint64_t)(l->v[i].end - l->v[i].start);
    return n;
}

uint64_t tally_replay_ranges_records(const tally_replay_ranges_t *l)
{
    uint64_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += l->v[i].records;
    return n;
}

tally_replay_reader_t *tally_replay_reader_new(const tally_replay_reader_opts_t *o, char *errbuf, size_t errsize)
{
    char err[512];
    tally_replay_reader_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        abort();
    r->brokers = xstrdup(o->brokers);
    r->label = xstrdup(o->label ? o->label : "replay");
    r->stall_timeout_ms = o->stall_timeout_ms > 0 ? o->stall_timeout_ms : 60000;
    r->progress = o->progress;
    r->progress_every_ms = o->progress_every_ms > 0 ? o->progress_every_ms : PROGRESS_EVERY_MS;
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_CONSUMER, o->brokers, o->client_id, o->group, NULL,
                                                 errbuf, errsize);
    if (conf == NULL)
        goto err;
    /* The end of each range is noticed by the partition-EOF events. */
    if (rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "allow.auto.create.topics", "false", err, sizeof err) != RD_KAFKA_CONF_OK) {
        snprintf(errbuf, errsize, "kafka config: %s", err);
        rd_kafka_conf_destroy(conf);
        goto err;
    }
    if (o->cfg != NULL && tally_config_apply_kafka(o->cfg, conf, errbuf, errsize) != 0) {
        rd_kafka_conf_destroy(conf);
        goto err;
    }
    if ((r->rk = tally_kafka_new(TALLY_KAFKA_CONSUMER, conf, errbuf, errsize)) == NULL)
        goto err;
    if (tally_kafka_wait_ready(r->rk, o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000, err,
                               sizeof err) != 0) {
        snprintf(errbuf, errsize, "cannot reach the Kafka broker at %s (%s)", o->brokers, err);
        goto err;
    }
    return r;
err:
    tally_replay_reader_free(r);
    return NULL;
}

void tally_replay_reader_free(tally_replay_reader_t *r)
{
    if (r == NULL)
        return;
    /* Never subscribed, never committed: closing leaves no trace. */
    tally_kafka_consumer_close(r->rk);
    free(r->brokers);
    free(r->label);
    free(r);
}

int tally_replay_reader_plan(tally_replay_reader_t *r, const char *topic, int tag, int64_t from_ms,
                             tally_replay_ranges_t *out, char *errbuf, size_t errsize)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *times = NULL;
    size_t first = out->n;
    int rc = -1;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->rk, topic, NULL);
    if (rkt == NULL) {
        snprintf(errbuf, errsize, "topic %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    rd_kafka_resp_err_t err = rd_kafka_metadata(r->rk, 0, rkt, &md, METADATA_TIMEOUT_MS);
    rd_kafka_topic_destroy(rkt);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errbuf, errsize, "topic %s: metadata: %s", topic, rd_kafka_err2str(err));
        return -1;
    }
    if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR || md->topics[0].partition_cnt == 0) {
        snprintf(errbuf, errsize, "topic %s does not exist (%s)", topic,
                 md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err) : "no metadata");
        goto cleanup;
    }
    int np = md->topics[0].partition_cnt;
    for (int i = 0; i < np; i++) {
        tally_replay_range_t range = {.topic = topic, .partition = md->topics[0].partitions[i].id, .tag = tag,
                                      .first_offset = -1, .last_offset = -1, .first_timestamp = -1};
        int64_t lo = 0, hi = 0;
        err = rd_kafka_query_watermark_offsets(r->rk, topic, range.partition, &lo, &hi, METADATA_TIMEOUT_MS);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(errbuf, errsize, "%s [%" PRId32 "]: watermarks: %s", topic, range.partition,
                     rd_kafka_err2str(err));
            goto cleanup;
        }
        range.log_start = lo;
        range.start = lo;
        range.end = hi;
        tally_replay_ranges_add(out, &range);
    }
    if (from_ms >= 0) {
        times = rd_kafka_topic_partition_list_new(np);
        for (size_t i = first; i < out->n; i++)
            rd_kafka_topic_partition_list_add(times, topic, out->v[i].partition)->offset = from_ms;
        err = rd_kafka_offsets_for_times(r->rk, times, METADATA_TIMEOUT_MS);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(errbuf, errsize, "%s: offsets for times: %s", topic, rd_kafka_err2str(err));
            goto cleanup;
        }
        for (int k = 0; k < times->cnt; k++) {
            const rd_kafka_topic_partition_t *t = &times->elems[k];
            if (t->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                snprintf(errbuf, errsize, "%s [%" PRId32 "]: offsets for times: %s", topic, t->partition,
                         rd_kafka_err2str(t->err));
                goto cleanup;
            }
            for (size_t i = first; i < out->n; i++) {
                tally_replay_range_t *range = &out->v[i];
                if (range->partition != t->partition)
                    continue;
                /* -1: no record that late; nothing to read. */
                int64_t s = t->offset < 0 ? range->end : t->offset;
                range->start = s < range->log_start ? range->log_start : (s > range->end ? range->end : s);
            }
        }
    }
    rc = 0;
cleanup:
    if (rc != 0)
        out->n = first;
    if (times)
        rd_kafka_topic_partition_list_destroy(times);
    rd_kafka_metadata_destroy(md);
    return rc;
}

/* Per range while running. */
typedef struct run_part_t {
    int64_t position;   /* next offset expected */
    bool done;
} run_part_t;

static tally_replay_range_t *find_range(tally_replay_ranges_t *l, const char *topic, int32_t partition,
                                        size_t *hint)
{
    if (*hint < l->n && l->v[*hint].partition == partition && strcmp(l->v[*hint].topic, topic) == 0)
        return &l->v[*hint];
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].partition == partition && strcmp(l->v[i].topic, topic) == 0) {
            *hint = i;
            return &l->v[i];
        }
    return NULL;
}

static void pause_range(rd_kafka_t *rk, const tally_replay_range_t *range)
{
    rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(one, range->topic, range->partition);
    (void)rd_kafka_pause_partitions(rk, one);
    rd_kafka_topic_partition_list_destroy(one);
}

static void report_progress(const tally_replay_reader_t *r, const tally_replay_ranges_t *l, const run_part_t *parts,
                            uint64_t span, uint64_t delivered, uint64_t since, int64_t elapsed_ms)
{
    uint64_t done = 0;
    for (size_t i = 0; i < l->n; i++) {
        int64_t p = parts[i].done ? l->v[i].end : parts[i].position;
        if (p > l->v[i].start)
            done += (uint64_t)((p < l->v[i].end ? p : l->v[i].end) - l->v[i].start);
    }
    double share = span ? 100.0 * (double)done / (double)span : 100.0;
    double rate = elapsed_ms > 0 ? 1000.0 * (double)since / (double)elapsed_ms : 0.0;
    tally_log_info(COMPONENT, "%s: %.1f%% of %" PRIu64 " offset(s) read, %" PRIu64 " record(s), %.0f records/s",
                   r->label, share, span, delivered, rate);
}

int tally_replay_reader_run(tally_replay_reader_t *r, tally_replay_ranges_t *l, tally_replay_record_fn fn,
                            void *ctx, volatile sig_atomic_t *stop, char *errbuf, size_t errsize)
{
    int rc = -1;
    size_t left = 0, hint = 0;
    uint64_t delivered = 0, at_last_report = 0;
    uint64_t span = tally_replay_ranges_span(l);
    run_part_t *parts = calloc(l->n ? l->n : 1, sizeof *parts);
    rd_kafka_topic_partition_list_t *assign = rd_kafka_topic_partition_list_new((int)l->n + 1);
    if (parts == NULL)
        abort();
    for (size_t i = 0; i < l->n; i++) {
        tally_replay_range_t *range = &l->v[i];
        range->records = 0;
        range->first_offset = range->last_offset = range->first_timestamp = -1;
        parts[i].position = range->start;
        parts[i].done = range->start >= range->end;
        if (!parts[i].done) {
            rd_kafka_topic_partition_list_add(assign, range->topic, range->partition)->offset = range->start;
            left++;
        }
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(r->rk, assign);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errbuf, errsize, "kafka assign: %s", rd_kafka_err2str(err));
        goto cleanup;
    }
    /* A partition paused at the end of an earlier run stays paused across
     * assignments. */
    (void)rd_kafka_resume_partitions(r->rk, assign);
    int64_t started = mono_ms(), last_move = started, last_report = started;
    while (left > 0) {
        if (stop && *stop) {
            snprintf(errbuf, errsize, "interrupted");
            goto cleanup;
        }
        int64_t now = mono_ms();
        if (r->progress && now - last_report >= r->progress_every_ms) {
            report_progress(r, l, parts, span, delivered, delivered - at_last_report, now - last_report);
            last_report = now;
            at_last_report = delivered;
        }
        if (now - last_move > r->stall_timeout_ms) {
            int k = snprintf(errbuf, errsize, "no progress for %d s; short of their end:", r->stall_timeout_ms / 1000);
            for (size_t i = 0, shown = 0; i < l->n && shown < 4 && k > 0 && (size_t)k < errsize; i++)
                if (!parts[i].done) {
                    k += snprintf(errbuf + k, errsize - (size_t)k, " %s [%" PRId32 "] at %" PRId64 " of %" PRId64,
                                  l->v[i].topic, l->v[i].partition, parts[i].position, l->v[i].end);
                    shown++;
                }
            if (k > 0 && (size_t)k < errsize)
                snprintf(errbuf + k, errsize - (size_t)k,
                         " (broker unreachable, or a transaction still open at the end)");
            goto cleanup;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, 100);
        if (m == NULL)
            continue;
        if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* librdkafka retries transient errors itself; these are final. */
            if (m->err == RD_KAFKA_RESP_ERR__FATAL || m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                m->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION || m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
                m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
                snprintf(errbuf, errsize, "kafka: %s", rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                goto cleanup;
            }
            tally_log_warn(COMPONENT, "kafka: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        tally_replay_range_t *range = m->rkt ? find_range(l, rd_kafka_topic_name(m->rkt), m->partition, &hint) : NULL;
        if (range == NULL || parts[range - l->v].done) {
            rd_kafka_message_destroy(m);
            continue;
        }
        run_part_t *part = &parts[range - l->v];
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* The offset of an EOF event is the next offset to fetch. */
            if (m->offset > part->position) {
                part->position = m->offset;
                last_move = mono_ms();
            }
        } else if (m->offset < range->end) {
            rd_kafka_timestamp_type_t tstype;
            tally_replay_record_t rec = {.range = range, .partition = m->partition, .offset = m->offset,
                                         .timestamp = rd_kafka_message_timestamp(m, &tstype), .key = m->key,
                                         .key_len = m->key_len, .value = m->payload, .len = m->len};
            if (range->first_offset < 0) {
                range->first_offset = m->offset;
                range->first_timestamp = rec.timestamp;
            }
            range->last_offset = m->offset;
            range->records++;
            delivered++;
            part->position = m->offset + 1;
            last_move = mono_ms();
            int frc = fn(ctx, &rec);
            if (frc != 0) {
                rd_kafka_message_destroy(m);
                rc = frc;
                goto cleanup;
            }
        } else {
            part->position = range->end;
        }
        rd_kafka_message_destroy(m);
        if (part->position >= range->end) {
            part->done = true;
            left--;
            pause_range(r->rk, range);
        }
    }
    if (r->progress && mono_ms() - started >= r->progress_every_ms)
        report_progress(r, l, parts, span, delivered, delivered - at_last_report, mono_ms() - last_report);
    rc = 0;
cleanup:
    (void)rd_kafka_assign(r->rk, NULL);
    rd_kafka_topic_partition_list_destroy(assign);
    free(parts);
    return rc;
}
