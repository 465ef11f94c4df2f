/* Projecting records with the materializer's code (see project.h). */
#include "project.h"

#include "batch.h"
#include "inbound.h"
#include "log.h"
#include "writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define COMPONENT "replay"
#define WRITE_ATTEMPTS 5

typedef struct stored_t {
    int role;
    int32_t partition;
    int64_t next;       /* stored in PostgreSQL; -1: no row */
} stored_t;

struct tally_project_t {
    tally_inbound_t *inbound;
    tally_batch_t *batch;
    tally_writer_t *writer;
    int64_t batch_max_records, batch_max_bytes;
    stored_t *stored;
    size_t n_stored, cap_stored;
    tally_project_stats_t stats;
    char error[1024];
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static stored_t *find_stored(const tally_project_t *p, int role, int32_t partition)
{
    for (size_t i = 0; i < p->n_stored; i++)
        if (p->stored[i].role == role && p->stored[i].partition == partition)
            return &p->stored[i];
    return NULL;
}

static stored_t *get_stored(tally_project_t *p, int role, int32_t partition)
{
    stored_t *s = find_stored(p, role, partition);
    if (s)
        return s;
    if (p->n_stored == p->cap_stored) {
        p->cap_stored = p->cap_stored ? 2 * p->cap_stored : 32;
        p->stored = realloc(p->stored, p->cap_stored * sizeof *p->stored);
        if (p->stored == NULL)
            abort();
    }
    s = &p->stored[p->n_stored++];
    *s = (stored_t){role, partition, -1};
    return s;
}

tally_project_t *tally_project_new(const tally_project_opts_t *o, char *errbuf, size_t errsize)
{
    tally_project_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        abort();
    p->batch_max_records = o->batch_max_records > 0 ? o->batch_max_records : 20000;
    p->batch_max_bytes = o->batch_max_bytes > 0 ? o->batch_max_bytes : (int64_t)16 << 20;
    if ((p->inbound = tally_inbound_new(o->catalog, errbuf, errsize)) == NULL)
        goto err;
    p->batch = tally_batch_new();
    tally_writer_opts_t wo = {.conninfo = o->pg_url, .schema = o->schema, .group = o->group,
                              .application_name = "tally-replay-rebuild"};
    for (int r = 0; r < TALLY_ROLE_COUNT; r++)
        wo.topics[r] = o->topics[r];
    p->writer = tally_writer_new(&wo);
    if (tally_writer_connect(p->writer, errbuf, errsize) != 0)
        goto err;
    /* Offsets this group already stored in the schema (a resumed run). */
    tally_stored_offset_t *rows = NULL;
    size_t n = 0;
    if (tally_writer_load_offsets(p->writer, &rows, &n, errbuf, errsize) != 0)
        goto err;
    for (size_t i = 0; i < n; i++)
        get_stored(p, (int)rows[i].role, rows[i].partition)->next = rows[i].next_offset;
    free(rows);
    return p;
err:
    tally_project_free(p);
    return NULL;
}

void tally_project_free(tally_project_t *p)
{
    if (p == NULL)
        return;
    tally_writer_free(p->writer);
    tally_batch_free(p->batch);
    tally_inbound_free(p->inbound);
    free(p->stored);
    free(p);
}

/* Writes the batch: a lost connection is retried on a new one; anything
 * else (a refused statement, offsets moved by another writer) is final. */
static int write_batch(tally_project_t *p, char *errbuf, size_t errsize)
{
    tally_batch_t *b = p->batch;
    if (tally_batch_empty(b))
        return 0;
    int rc = TALLY_WRITER_LOST;
    for (int attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
        if (attempt > 0) {
            tally_log_warn(COMPONENT, "rebuild: %s; retrying (attempt %d of %d)", errbuf, attempt + 1,
                           WRITE_ATTEMPTS);
            sleep(1);
            if (tally_writer_connect(p->writer, errbuf, errsize) != 0)
                continue;
        }
        rc = tally_writer_write(p->writer, b, errbuf, errsize);
        if (rc != TALLY_WRITER_LOST)
            break;
    }
    if (rc == TALLY_WRITER_FENCED) {
        size_t n = strlen(errbuf);
        snprintf(errbuf + n, errsize - n, " (another process writes this group's offsets into the schema)");
    }
    if (rc != 0)
        return -1;
    for (size_t i = 0; i < b->n_progress; i++)
        get_stored(p, (int)b->progress[i].role, b->progress[i].partition)->next = b->progress[i].next;
    p->stats.refused += b->n_dlq;
    p->stats.batches++;
    tally_batch_reset(b);
    return 0;
}

int tally_project_record(void *ctx, const tally_replay_record_t *rec)
{
    tally_project_t *p = ctx;
    char why[512];
    const char *error = NULL;
    int role = rec->range->tag;
    int rc = tally_inbound_add(p->inbound, p->batch, (tally_topic_role_t)role, rec->partition, rec->offset,
                               rec->value, rec->len, &error, why, sizeof why);
    if (rc == TALLY_INBOUND_UNKNOWN_BRANCH) {
        tally_log_debug(COMPONENT, "%s [%d] offset %lld: the materializer skips it: %s", rec->range->topic,
                        (int)rec->partition, (long long)rec->offset, why);
        p->stats.skipped++;
    } else if (rc < 0) {
        tally_log_debug(COMPONENT, "%s [%d] offset %lld: the materializer dead-letters it: %s: %s",
                        rec->range->topic, (int)rec->partition, (long long)rec->offset, error, why);
        tally_batch_add_dlq(p->batch, (tally_topic_role_t)role, rec->partition, rec->offset, error, why);
    }
    const stored_t *s = find_stored(p, role, rec->partition);
    tally_batch_track(p->batch, (tally_topic_role_t)role, rec->partition, rec->offset, s ? s->next : -1,
                      rec->len, mono_ms());
    p->stats.records[role]++;
    if ((int64_t)p->batch->records >= p->batch_max_records || (int64_t)p->batch->bytes >= p->batch_max_bytes)
        return write_batch(p, p->error, sizeof p->error);
    return 0;
}

int tally_project_flush(tally_project_t *p, char *errbuf, size_t errsize)
{
    return write_batch(p, errbuf, errsize);
}

const char *tally_project_error(const tally_project_t *p)
{
    return p->error;
}

int64_t tally_project_next_offset(const tally_project_t *p, int role, int32_t partition)
{
    const stored_t *s = find_stored(p, role, partition);
    return s ? s->next : -1;
}

void tally_project_stats(const tally_project_t *p, tally_project_stats_t *out)
{
    *out = p->stats;
}
