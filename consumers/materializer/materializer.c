#include "materializer.h"

#include "assignment.h"
#include "deadletter.h"
#include "inbound.h"
#include "kafka.h"
#include "log.h"
#include "timeutil.h"
#include "writer.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define COMPONENT "materializer"
#define HEALTHY_WITHIN_MS 120000
#define PG_CHECK_MS 2000   /* how often an idle loop checks PostgreSQL */
#define KNOWN_INSTALLS_MAX 500000   /* committed install keys remembered */
#define CONSUME_BURST 512  /* messages read between two looks at the clock */
#define BUSY_POLL_MS 5     /* poll timeout while a filled batch waits for the writer */

/* Why a batch stopped taking records (tally_materializer_batches_closed_total). */
enum { CLOSE_DRAINED, CLOSE_SIZE, CLOSE_TIME, CLOSE_REVOKE, CLOSE_STOP, CLOSE_REASONS };

struct tally_materializer_t {
    tally_materializer_opts_t o;
    rd_kafka_t *rk;
    tally_writer_t *writer;
    tally_deadletter_t *dlq;
    tally_inbound_t *inbound;
    tally_batch_t *batch;             /* filling: the main thread's */
    tally_batch_t *inflight;          /* handed to the writer thread, or NULL */
    tally_batch_t *spare;
    tally_seen_t *known_installs;     /* committed installs (main thread) */
    tally_textbuf_t key;
    tally_assignment_t assigned;      /* main thread */
    unsigned seed;
    int64_t last_pg_check_ms;
    atomic_llong stop_seen_ms;
    int fatal;

    /* The writer thread: writes `inflight` while the main thread fills
     * `batch`, so decoding and PostgreSQL work overlap. Between hand-offs
     * only one thread uses the writer, the dead-letter producer and the
     * connection: the main thread touches them only when nothing is in
     * flight. */
    pthread_t writer_thread;
    int writer_started;
    pthread_mutex_t wlock;
    pthread_cond_t wcond;
    int w_pending, w_done, w_quit, w_result;
    const rd_kafka_topic_t *last_rkt; /* cache of handle()'s partition lookup */
    tally_part_t *last_part;
    uint64_t counted[TALLY_ROLE_COUNT];

    atomic_int pg_up, stopping;
    atomic_llong heartbeat_ms;
    pthread_mutex_t why_lock;
    char pg_why[256];

    tally_metric_t *m_records[TALLY_ROLE_COUNT], *m_dead, *m_skipped, *m_batches_ok, *m_batches_fenced, *m_failures,
        *m_batch_seconds, *m_batch_records, *m_rows[4], *m_pg_up, *m_assigned, *m_dropped;
    tally_metric_t *m_closed[CLOSE_REASONS];
};

static const char *const role_names[TALLY_ROLE_COUNT] = {"rollups", "product", "controlpanel", "alerts"};

int64_t tally_materializer_backoff_ms(int attempt, int64_t initial_ms, int64_t max_ms, unsigned *seed)
{
    int64_t d = initial_ms > 0 ? initial_ms : 1;
    for (int i = 0; i < attempt && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    int64_t half = d / 2;
    return half + (int64_t)(rand_r(seed) % (unsigned)(d - half + 1));
}

static void set_pg_state(tally_materializer_t *m, int up, const char *why)
{
    if (!up) {
        pthread_mutex_lock(&m->why_lock);
        snprintf(m->pg_why, sizeof m->pg_why, "%s", why);
        pthread_mutex_unlock(&m->why_lock);
    }
    if (atomic_exchange(&m->pg_up, up) != up) {
        if (up)
            tally_log_info(COMPONENT, "PostgreSQL connected");
        else
            tally_log_warn(COMPONENT, "PostgreSQL lost: %s", why);
    }
    tally_metric_set(m->m_pg_up, up);
}

int tally_materializer_ready(void *arg, char *why, size_t whysize)
{
    tally_materializer_t *m = arg;
    if (atomic_load(&m->stopping)) {
        snprintf(why, whysize, "stopping");
        return 0;
    }
    if (!atomic_load(&m->pg_up)) {
        pthread_mutex_lock(&m->why_lock);
        snprintf(why, whysize, "postgres unavailable: %s", m->pg_why);
        pthread_mutex_unlock(&m->why_lock);
        return 0;
    }
    return 1;
}

int tally_materializer_healthy(void *arg, char *why, size_t whysize)
{
    tally_materializer_t *m = arg;
    int64_t idle = tally_mono_ms() - atomic_load(&m->heartbeat_ms);
    if (idle > HEALTHY_WITHIN_MS) {
        snprintf(why, whysize, "main loop stuck for %lld ms", (long long)idle);
        return 0;
    }
    return 1;
}

static void beat(tally_materializer_t *m)
{
    atomic_store(&m->heartbeat_ms, tally_mono_ms());
}

/* Whether the stop flag is up, noting when it was first seen. */
static int stopping(tally_materializer_t *m)
{
    if (!*m->o.stop)
        return 0;
    long long none = 0;
    if (atomic_compare_exchange_strong(&m->stop_seen_ms, &none, (long long)tally_mono_ms()))
        atomic_store(&m->stopping, 1);
    return 1;
}

/* Waits before retry attempt; returns -1 instead when stopping and the
 * shutdown timeout is spent. */
static int backoff(tally_materializer_t *m, int attempt)
{
    int64_t d = tally_materializer_backoff_ms(attempt, m->o.retry_initial_ms, m->o.retry_max_ms, &m->seed);
    if (stopping(m)) {
        int64_t left = m->o.shutdown_timeout_ms - (tally_mono_ms() - atomic_load(&m->stop_seen_ms));
        if (left <= 0)
            return -1;
        if (d > left)
            d = left;
    }
    for (int64_t until = tally_mono_ms() + d; tally_mono_ms() < until;) {
        beat(m);
        int64_t step = until - tally_mono_ms();
        tally_sleep_ms((int)(step > 100 ? 100 : (step > 0 ? step : 0)));
        if (!atomic_load(&m->stop_seen_ms) && stopping(m))
            break;   /* a stop request shortens the wait once */
    }
    return 0;
}

/* A connection that works, or -1 (errbuf) after one attempt. */
static int ensure_pg(tally_materializer_t *m, char *errbuf, size_t errsize)
{
    if (tally_writer_connected(m->writer))
        return 0;
    if (tally_writer_connect(m->writer, errbuf, errsize) != 0) {
        set_pg_state(m, 0, errbuf);
        return -1;
    }
    set_pg_state(m, 1, "");
    return 0;
}

/* Reads the stored offsets into the partition states of the assignment
 * (those without a row get -1). Retries until it works or the process
 * stops (then -1). */
static int load_stored(tally_materializer_t *m, int retry)
{
    char err[512];
    for (int attempt = 0;; attempt++) {
        tally_stored_offset_t *rows = NULL;
        size_t n = 0;
        int rc = ensure_pg(m, err, sizeof err);
        if (rc == 0) {
            rc = tally_writer_load_offsets(m->writer, &rows, &n, err, sizeof err);
            if (rc == TALLY_WRITER_LOST)
                set_pg_state(m, 0, err);
        }
        if (rc == 0) {
            for (size_t i = 0; i < m->assigned.n; i++)
                m->assigned.parts[i].stored = -1;
            for (size_t i = 0; i < n; i++) {
                tally_part_t *p = tally_assignment_find(&m->assigned, rows[i].role, rows[i].partition);
                if (p)
                    p->stored = rows[i].next_offset;
            }
            free(rows);
            return 0;
        }
        tally_log_warn(COMPONENT, "cannot read stored offsets (attempt %d): %s", attempt + 1, err);
        tally_metric_add(m->m_failures, 1);
        if (!retry || backoff(m, attempt) != 0)
            return -1;
    }
}

/* After a fence or a dropped batch: every assigned partition goes back to
 * what PostgreSQL holds. */
static int rewind_to_stored(tally_materializer_t *m)
{
    if (m->assigned.n == 0)
        return 0;
    if (load_stored(m, 1) != 0)
        return -1;
    rd_kafka_topic_partition_list_t *l = tally_assignment_list(&m->assigned);
    rd_kafka_error_t *e = rd_kafka_seek_partitions(m->rk, l, 10000);
    int rc = 0;
    if (e != NULL) {
        tally_log_error(COMPONENT, "seek to stored offsets: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        rc = -1;
    }
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].err) {
            tally_log_error(COMPONENT, "seek %s [%d]: %s", l->elems[i].topic, (int)l->elems[i].partition,
                            rd_kafka_err2str(l->elems[i].err));
            rc = -1;
        }
    rd_kafka_topic_partition_list_destroy(l);
    if (rc != 0)
        m->fatal = 1;   /* positions unknown: safer to restart than to guess */
    return rc;
}

static void commit_to_kafka(tally_materializer_t *m, const tally_batch_t *b)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)b->n_progress + 1);
    for (size_t i = 0; i < b->n_progress; i++) {
        const tally_batch_progress_t *g = &b->progress[i];
        rd_kafka_topic_partition_list_add(l, m->o.topics[g->role], g->partition)->offset = g->next;
    }
    /* Only for lag monitoring: PostgreSQL already holds the truth. */
    rd_kafka_resp_err_t err = rd_kafka_commit(m->rk, l, 1);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        tally_log_debug(COMPONENT, "Kafka offset commit: %s", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
}

/* Outcomes of write_batch. */
enum { WRITTEN = 0, REWIND = 1, DROPPED = -1 };

/* Writes b: one attempt when once (rebalance), else retries with backoff
 * until it is written, fenced, or the process stops and the shutdown
 * timeout is spent. Uses only the writer, the dead-letter producer and
 * thread-safe state: it runs on the writer thread, or on the main thread
 * while nothing is in flight. Returns WRITTEN, REWIND (stored offsets are
 * not the batch's: nothing written, rewind) or DROPPED (not written). */
static int write_batch(tally_materializer_t *m, tally_batch_t *b, int once)
{
    char err[1024];
    int64_t started = tally_mono_ms();
    for (int attempt = 0;; attempt++) {
        beat(m);
        int rc;
        if (b->dlq_sent < b->n_dlq &&
            tally_deadletter_send(m->dlq, b, m->o.topics, 10000, err, sizeof err) != 0) {
            tally_log_warn(COMPONENT, "%s", err);
            goto retry;
        }
        if (ensure_pg(m, err, sizeof err) != 0)
            goto retry;
        rc = tally_writer_write(m->writer, b, err, sizeof err);
        if (rc == 0) {
            set_pg_state(m, 1, "");
            tally_metric_observe(m->m_batch_seconds, (double)(tally_mono_ms() - started) / 1000.0);
            return WRITTEN;
        }
        if (rc == TALLY_WRITER_FENCED) {
            tally_log_warn(COMPONENT, "batch of %zu record(s) not written: %s; rewinding to the stored offsets",
                           b->records, err);
            tally_metric_add(m->m_batches_fenced, 1);
            return REWIND;
        }
        if (rc == TALLY_WRITER_LOST)
            set_pg_state(m, 0, err);
        else
            tally_log_error(COMPONENT, "batch of %zu record(s) failed: %s", b->records, err);
    retry:
        tally_metric_add(m->m_failures, 1);
        if (once || backoff(m, attempt) != 0)
            break;
        if (attempt < 3 || attempt % 10 == 0)
            tally_log_info(COMPONENT, "retrying a batch of %zu record(s) (attempt %d)", b->records, attempt + 2);
    }
    tally_log_warn(COMPONENT, "batch of %zu record(s) not written; it will be read again", b->records);
    tally_metric_add(m->m_dropped, 1);
    return DROPPED;
}

/* After a batch is written: Kafka's copy of the offsets, metrics. */
static void written(tally_materializer_t *m, tally_batch_t *b)
{
    commit_to_kafka(m, b);
    /* Every install of a committed batch is in product_daily_installs now,
     * whichever path its events took. */
    for (size_t i = 0; i < b->n_installs; i++) {
        uint64_t h;
        tally_batch_install_key(b, i, &m->key, &h);
        tally_seen_add(m->known_installs, m->key.data, m->key.len, h);
    }
    tally_metric_add(m->m_batches_ok, 1);
    tally_metric_observe(m->m_batch_records, (double)b->records);
    tally_metric_add(m->m_rows[0], b->n_product);
    tally_metric_add(m->m_rows[1], b->n_api);
    tally_metric_add(m->m_rows[2], b->n_seat);
    tally_metric_add(m->m_rows[3], b->n_cp);
    tally_log_debug(COMPONENT, "batch committed: %zu record(s): %zu product, %zu+%zu rollup row(s), %zu Control "
                    "Panel, %zu dead letter(s)", b->records, b->n_product, b->n_api, b->n_seat, b->n_cp, b->n_dlq);
}

static void *writer_main(void *arg)
{
    tally_materializer_t *m = arg;
    pthread_mutex_lock(&m->wlock);
    for (;;) {
        while (!m->w_pending && !m->w_quit)
            pthread_cond_wait(&m->wcond, &m->wlock);
        if (m->w_quit)
            break;
        tally_batch_t *b = m->inflight;
        pthread_mutex_unlock(&m->wlock);
        int result = write_batch(m, b, 0);
        pthread_mutex_lock(&m->wlock);
        m->w_result = result;
        m->w_pending = 0;
        m->w_done = 1;
        pthread_cond_broadcast(&m->wcond);
    }
    pthread_mutex_unlock(&m->wlock);
    return NULL;
}

/* Settles the batch in flight, if any: when wait, after the writer is done
 * with it; else only if it is done. Returns 1 while it is still in flight,
 * else 0, or -1 when it was not written: then it takes the filling batch
 * with it (whose offsets follow on from it) and, unless in_rebalance (the
 * caller then deals with positions), rewinds the assignment to what
 * PostgreSQL holds. */
static int settle(tally_materializer_t *m, int wait, int in_rebalance)
{
    if (m->inflight == NULL)
        return 0;
    pthread_mutex_lock(&m->wlock);
    if (!m->w_done && !wait) {
        pthread_mutex_unlock(&m->wlock);
        return 1;
    }
    while (!m->w_done)
        pthread_cond_wait(&m->wcond, &m->wlock);
    int result = m->w_result;
    m->w_done = 0;
    pthread_mutex_unlock(&m->wlock);

    tally_batch_t *b = m->inflight;
    m->inflight = NULL;
    if (result == WRITTEN) {
        written(m, b);
    } else {
        if (!tally_batch_empty(m->batch))
            tally_log_info(COMPONENT, "dropping the %zu record(s) read since; they will be read again",
                           m->batch->records);
        tally_batch_reset(m->batch);
        if (!in_rebalance)
            (void)rewind_to_stored(m);
    }
    tally_batch_reset(b);
    m->spare = b;
    return result == WRITTEN ? 0 : -1;
}

/* The filling batch is due: hands it to the writer thread once the batch
 * before it is settled, and starts a new one. The stored offsets move on
 * at once (they are the fence of the next batch); a failure rewinds. */
static void hand_off(tally_materializer_t *m)
{
    settle(m, 1, 0);
    tally_batch_t *b = m->batch;
    if (tally_batch_empty(b))
        return;   /* dropped by settle */
    tally_assignment_advance(&m->assigned, b);
    m->batch = m->spare;
    m->spare = NULL;
    pthread_mutex_lock(&m->wlock);
    m->inflight = b;
    m->w_pending = 1;
    pthread_cond_broadcast(&m->wcond);
    pthread_mutex_unlock(&m->wlock);
}

/* Writes the filling batch on this thread (nothing in flight): at a
 * revocation (once) or at shutdown. Returns 0 when it was written or
 * rewound, -1 when it was dropped. */
static int flush_here(tally_materializer_t *m, int once, int in_rebalance)
{
    settle(m, 1, in_rebalance);
    tally_batch_t *b = m->batch;
    if (tally_batch_empty(b))
        return 0;
    int result = write_batch(m, b, once);
    if (result == WRITTEN) {
        tally_assignment_advance(&m->assigned, b);
        written(m, b);
    } else if (result == REWIND && !in_rebalance) {
        (void)rewind_to_stored(m);
    }
    tally_batch_reset(b);
    return result == DROPPED ? -1 : 0;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque)
{
    tally_materializer_t *m = opaque;
    int cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *e = NULL;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* The writer must be idle: PostgreSQL is read below. */
        int lost = settle(m, 1, 1) < 0;
        m->last_part = NULL;
        tally_assignment_add(&m->assigned, parts);
        /* PostgreSQL says where each partition starts; without it, take
         * nothing rather than guess. */
        if (load_stored(m, 1) != 0) {
            tally_log_warn(COMPONENT, "stopping before the assignment could be taken");
            m->last_part = NULL;
            tally_assignment_remove(&m->assigned, parts);
            return;
        }
        tally_assignment_start_at_stored(&m->assigned, parts);
        if (cooperative)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        /* Partitions kept (cooperative) lost the records of a failed batch. */
        if (lost && cooperative)
            (void)rewind_to_stored(m);
        tally_metric_set(m->m_assigned, (int64_t)m->assigned.n);
        tally_log_info(COMPONENT, "assigned %d partition(s), starting at the offsets stored in PostgreSQL",
                       parts->cnt);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        int dropped = settle(m, 1, 1) < 0;
        if (!tally_batch_empty(m->batch)) {
            if (rd_kafka_assignment_lost(rk)) {
                tally_log_warn(COMPONENT, "assignment lost: dropping %zu unwritten record(s)", m->batch->records);
                tally_batch_reset(m->batch);
                dropped = 1;
            } else {
                tally_metric_add(m->m_closed[CLOSE_REVOKE], 1);
                if (flush_here(m, 1, 1) != 0)
                    dropped = 1;
            }
        }
        m->last_part = NULL;
        tally_assignment_remove(&m->assigned, parts);
        if (cooperative)
            e = rd_kafka_incremental_unassign(rk, parts);
        else
            rd_kafka_assign(rk, NULL);
        /* Partitions kept (cooperative) lost their dropped records too. */
        if (dropped && cooperative)
            (void)rewind_to_stored(m);
        tally_metric_set(m->m_assigned, (int64_t)m->assigned.n);
        tally_log_info(COMPONENT, "revoked %d partition(s)", parts->cnt);
    } else {
        tally_log_error(COMPONENT, "rebalance failed: %s", rd_kafka_err2str(err));
        settle(m, 1, 1);
        tally_batch_reset(m->batch);
        tally_assignment_clear(&m->assigned);
        m->last_part = NULL;
        rd_kafka_assign(rk, NULL);
    }
    if (e != NULL) {
        tally_log_error(COMPONENT, "rebalance: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
}

tally_materializer_t *tally_materializer_new(const tally_materializer_opts_t *o, char *errbuf, size_t errsize)
{
    tally_materializer_t *m = calloc(1, sizeof *m);
    char app[64], labels[64];
    if (m == NULL)
        abort();
    m->o = *o;
    tally_assignment_init(&m->assigned, m->o.topics);
    m->seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    pthread_mutex_init(&m->why_lock, NULL);
    pthread_mutex_init(&m->wlock, NULL);
    pthread_cond_init(&m->wcond, NULL);
    snprintf(m->pg_why, sizeof m->pg_why, "not connected yet");
    beat(m);

    tally_metrics_t *mx = o->metrics;
    for (int r = 0; r < TALLY_ROLE_COUNT; r++) {
        snprintf(labels, sizeof labels, "topic=\"%s\"", role_names[r]);
        m->m_records[r] = tally_metrics_get(mx, TALLY_METRIC_COUNTER, "tally_materializer_records_total",
                                            "Records read, by input topic", labels, NULL, 0);
    }
    m->m_dead = tally_metrics_get(mx, TALLY_METRIC_COUNTER, "tally_materializer_dead_letters_total",
                                  "Records sent to the dead-letter topic", "", NULL, 0);
    m->m_skipped = tally_metrics_get(mx, TALLY_METRIC_COUNTER, "tally_materializer_skipped_total",
                                     "Sound records skipped, by reason (unknown_branch: a newer schema's branch)",
                                     "reason=\"unknown_branch\"", NULL, 0);
    m->m_batches_ok = tally_metrics_get(mx, TALLY_METRIC_COUNTER, "tally_materializer_batches_total",
                                        "Batches by outcome", "result=\"committed\"", NULL, 0);
    m->m_batches_fenced = tally_metrics_get(mx, TALLY_METRIC_COUNTER, "tally_materializer_batches_total",
                                            "Batches by outcome", "result=\"fenced\"", NULL, 0);
    m->m_dropped = tally_metrics_get(mx, TALLY_METRIC_COUNTER, "tally_materializer_batches_total",
                                     "Batches by outcome", "result=\"dropped\"", NULL, 0);
    m->m_failures = tally_metrics_get(mx, TALLY_METRIC_COUNTER, "tally_materializer_postgres_failures_total",
                                      "Failed attempts to write a batch or read offsets", "", NULL, 0);
    static const double secs[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    static const double recs[] = {1, 10, 100, 1000, 5000, 10000, 50000, 100000};
    m->m_batch_seconds = tally_metrics_get(mx, TALLY_METRIC_HISTOGRAM, "tally_materializer_batch_seconds",
                                           "Time to write one batch, retries included", "", secs,
                                           sizeof secs / sizeof secs[0]);
    m->m_batch_records = tally_metrics_get(mx, TALLY_METRIC_HISTOGRAM, "tally_materializer_batch_records",
                                           "Records per committed batch", "", recs, sizeof recs / sizeof recs[0]);
    static const char *const tables[4] = {"product_events", "api_usage_daily", "seat_usage_daily", "controlpanel"};
    for (int i = 0; i < 4; i++) {
        snprintf(labels, sizeof labels, "table=\"%s\"", tables[i]);
        m->m_rows[i] = tally_metrics_get(mx, TALLY_METRIC_COUNTER, "tally_materializer_rows_total",
                                         "Rows sent to PostgreSQL in committed batches (after pre-aggregation)",
                                         labels, NULL, 0);
    }
    static const char *const closes[CLOSE_REASONS] = {"drained", "size", "time", "revoke", "stop"};
    for (int i = 0; i < CLOSE_REASONS; i++) {
        snprintf(labels, sizeof labels, "reason=\"%s\"", closes[i]);
        m->m_closed[i] = tally_metrics_get(mx, TALLY_METRIC_COUNTER, "tally_materializer_batches_closed_total",
                                           "Batches by why they stopped taking records: drained (nothing more to "
                                           "read), size or time (a batch bound, under backlog), revoke, stop",
                                           labels, NULL, 0);
    }
    m->m_pg_up = tally_metrics_get(mx, TALLY_METRIC_GAUGE, "tally_materializer_postgres_up",
                                   "1 while PostgreSQL answers", "", NULL, 0);
    m->m_assigned = tally_metrics_get(mx, TALLY_METRIC_GAUGE, "tally_materializer_assigned_partitions",
                                      "Partitions assigned to this member", "", NULL, 0);

    if ((m->inbound = tally_inbound_new(o->catalog, errbuf, errsize)) == NULL)
        goto err;
    m->batch = tally_batch_new();
    m->spare = tally_batch_new();
    m->known_installs = tally_seen_new(KNOWN_INSTALLS_MAX);
    m->batch->known = m->spare->known = m->known_installs;
    snprintf(app, sizeof app, "tally-materializer/%s", o->group);
    tally_writer_opts_t wo = {.conninfo = o->pg_url, .schema = o->schema, .group = o->group,
                              .application_name = app};
    for (int r = 0; r < TALLY_ROLE_COUNT; r++)
        wo.topics[r] = o->topics[r];
    m->writer = tally_writer_new(&wo);
    if ((m->dlq = tally_deadletter_new(o->brokers, o->dlq_topic, o->client_id, o->cfg, errbuf, errsize)) == NULL)
        goto err;

    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_CONSUMER, o->brokers, o->client_id, o->group, NULL,
                                                 errbuf, errsize);
    if (conf == NULL)
        goto err;
    /* A fetch that finds nothing on some partitions waits this long at the
     * broker: keep it below the batch wait, or a quiet partition delays the
     * others at start. The prefetch is the backlog one of common/kafka.h.
     * Operators may override all of them with -X. */
    if (rd_kafka_conf_set(conf, "fetch.wait.max.ms", "100", errbuf, errsize) != RD_KAFKA_CONF_OK ||
        tally_kafka_conf_prefetch(conf, errbuf, errsize) != 0 ||
        (o->cfg != NULL && tally_config_apply_kafka(o->cfg, conf, errbuf, errsize) != 0)) {
        rd_kafka_conf_destroy(conf);
        goto err;
    }
    rd_kafka_conf_set_opaque(conf, m);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    if ((m->rk = tally_kafka_new(TALLY_KAFKA_CONSUMER, conf, errbuf, errsize)) == NULL)
        goto err;
    return m;
err:
    tally_materializer_free(m);
    return NULL;
}

void tally_materializer_free(tally_materializer_t *m)
{
    if (m == NULL)
        return;
    if (m->rk)
        rd_kafka_destroy(m->rk);
    tally_deadletter_free(m->dlq);
    tally_writer_free(m->writer);
    tally_inbound_free(m->inbound);
    tally_batch_free(m->batch);
    tally_batch_free(m->spare);
    tally_seen_free(m->known_installs);
    tally_textbuf_free(&m->key);
    tally_batch_free(m->inflight);
    tally_assignment_free(&m->assigned);
    pthread_mutex_destroy(&m->why_lock);
    pthread_mutex_destroy(&m->wlock);
    pthread_cond_destroy(&m->wcond);
    free(m);
}

static void handle(tally_materializer_t *m, rd_kafka_message_t *msg, int64_t now)
{
    char err[512];
    if (msg->err) {
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            return;
        tally_log_warn(COMPONENT, "consumer: %s", rd_kafka_message_errstr(msg));
        if (msg->err == RD_KAFKA_RESP_ERR__FATAL)
            m->fatal = 1;
        return;
    }
    /* Messages come in runs of one partition: look it up once per run. */
    if (m->last_rkt != msg->rkt || m->last_part == NULL || m->last_part->partition != msg->partition) {
        int role = tally_assignment_role_of(&m->assigned, rd_kafka_topic_name(msg->rkt));
        m->last_part = role >= 0 ? tally_assignment_find(&m->assigned, (tally_topic_role_t)role, msg->partition) : NULL;
        m->last_rkt = msg->rkt;
    }
    tally_part_t *p = m->last_part;
    if (p == NULL)
        return;   /* not (or no longer) ours */
    tally_topic_role_t role = p->role;
    const char *error = NULL;
    int rc = tally_inbound_add(m->inbound, m->batch, role, msg->partition, msg->offset, msg->payload, msg->len,
                               &error, err, sizeof err);
    if (rc == TALLY_INBOUND_UNKNOWN_BRANCH) {
        /* A newer schema's branch this projection does not know: not an
         * error to fix, so not a dead letter (inbound.h). */
        tally_log_warn(COMPONENT, "%s [%d] offset %lld skipped: %s", m->o.topics[role], (int)msg->partition,
                       (long long)msg->offset, err);
        tally_metric_add(m->m_skipped, 1);
    } else if (rc < 0) {
        tally_log_warn(COMPONENT, "%s [%d] offset %lld to the dead-letter topic: %s: %s", m->o.topics[role],
                       (int)msg->partition, (long long)msg->offset, error, err);
        tally_batch_add_dlq(m->batch, role, msg->partition, msg->offset, error, err);
        tally_metric_add(m->m_dead, 1);
    }
    tally_batch_track(m->batch, role, msg->partition, msg->offset, p->stored, msg->len, now);
    m->counted[role]++;
}

/* Whether the filling batch is to be written now: as soon as the fetch
 * queue is drained and the writer is free (a lone record waits for no
 * timer), else under backlog at a size or time bound. Returns a CLOSE_*
 * reason, or -1 to keep filling. */
static int batch_due(const tally_materializer_t *m, int64_t now, int drained)
{
    const tally_batch_t *b = m->batch;
    if (tally_batch_empty(b))
        return -1;
    if ((int64_t)b->records >= m->o.batch_max_records || (int64_t)b->bytes >= m->o.batch_max_bytes)
        return CLOSE_SIZE;
    if (now - b->first_ms >= m->o.batch_max_wait_ms)
        return CLOSE_TIME;
    /* A busy writer: what arrives meanwhile joins this batch. */
    return drained && m->inflight == NULL ? CLOSE_DRAINED : -1;
}

int tally_materializer_run(tally_materializer_t *m)
{
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(TALLY_ROLE_COUNT);
    for (int r = 0; r < TALLY_ROLE_COUNT; r++)
        if (m->o.topics[r] != NULL)   /* NULL: that role is not read */
            rd_kafka_topic_partition_list_add(topics, m->o.topics[r], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(m->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        tally_log_error(COMPONENT, "subscribe: %s", rd_kafka_err2str(err));
        return -1;
    }
    /* Readiness reflects PostgreSQL from the start, not from the first batch. */
    char perr[512];
    (void)ensure_pg(m, perr, sizeof perr);
    if (pthread_create(&m->writer_thread, NULL, writer_main, m) != 0) {
        tally_log_error(COMPONENT, "cannot start the writer thread");
        return -1;
    }
    m->writer_started = 1;
    tally_log_info(COMPONENT, "consuming %s, %s, %s%s%s as group %s", m->o.topics[0], m->o.topics[1],
                   m->o.topics[2], m->o.topics[3] ? ", " : "", m->o.topics[3] ? m->o.topics[3] : "", m->o.group);

    int rc = 0;
    while (!stopping(m) && !m->fatal) {
        int64_t now = tally_mono_ms();
        int timeout = 100;
        if (!tally_batch_empty(m->batch)) {
            /* It waits for the writer: look again soon. */
            int64_t left = m->batch->first_ms + m->o.batch_max_wait_ms - now;
            timeout = left <= 0 ? 0 : (left < BUSY_POLL_MS ? (int)left : BUSY_POLL_MS);
        }
        /* One message per poll, not a burst: a rebalance callback served
         * inside the call then never sits between messages of two
         * assignments (librdkafka drops the outdated ones it still holds). */
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(m->rk, timeout);
        now = tally_mono_ms();
        atomic_store(&m->heartbeat_ms, now);
        int drained = msg == NULL;
        for (int burst = 0; msg != NULL; burst++) {
            handle(m, msg, now);
            rd_kafka_message_destroy(msg);
            /* Keep reading what is already queued, without the clock; a
             * poll that finds nothing means the queue is drained. */
            msg = NULL;
            if (burst < CONSUME_BURST && (int64_t)m->batch->records < m->o.batch_max_records)
                drained = (msg = rd_kafka_consumer_poll(m->rk, 0)) == NULL;
        }
        for (int r = 0; r < TALLY_ROLE_COUNT; r++)
            if (m->counted[r]) {
                tally_metric_add(m->m_records[r], m->counted[r]);
                m->counted[r] = 0;
            }
        settle(m, 0, 0);
        int why = batch_due(m, now, drained);
        if (why >= 0) {
            tally_metric_add(m->m_closed[why], 1);
            hand_off(m);
        }
        /* While idle, notice a lost or returned database for /readyz. */
        if (m->inflight == NULL && tally_batch_empty(m->batch) && now - m->last_pg_check_ms >= PG_CHECK_MS) {
            m->last_pg_check_ms = now;
            if (ensure_pg(m, perr, sizeof perr) == 0 && tally_writer_ping(m->writer, perr, sizeof perr) != 0)
                set_pg_state(m, 0, perr);
        }
    }
    if (m->fatal) {
        tally_log_error(COMPONENT, "stopping on a fatal error");
        rc = -1;
    }
    settle(m, 1, 0);
    if (!tally_batch_empty(m->batch)) {
        tally_log_info(COMPONENT, "stopping: writing the last batch of %zu record(s)", m->batch->records);
        tally_metric_add(m->m_closed[CLOSE_STOP], 1);
        if (flush_here(m, 0, 0) != 0)
            rc = -1;
    }
    atomic_store(&m->stopping, 1);
    rd_kafka_resp_err_t cerr = rd_kafka_consumer_close(m->rk);
    pthread_mutex_lock(&m->wlock);
    m->w_quit = 1;
    pthread_cond_broadcast(&m->wcond);
    pthread_mutex_unlock(&m->wlock);
    pthread_join(m->writer_thread, NULL);
    m->writer_started = 0;
    if (cerr != RD_KAFKA_RESP_ERR_NO_ERROR)
        tally_log_warn(COMPONENT, "consumer close: %s", rd_kafka_err2str(cerr));
    tally_writer_disconnect(m->writer);
    return rc;
}
