/* bench_freshness: the load and the stopwatches of tests/bench/freshness.sh.
 *
 *   bench_freshness --gateway=URL --brokers=B --schemas=DIR --pg-url=URL
 *       --prefix=P --reporters=N --rate=R --duration=S [--warmup=S]
 *       [--poll-ms=5] [--timeout=S] [--label=NAME] [--raw-topic=T]
 *       [--clean-topic=T] [--rollups-topic=T]
 *
 * N reporters, one thread and one keep-alive connection each, POST usage
 * reports (one a request) to URL/v1/usage/reports, R reports/s in all, at
 * fixed times (open loop: reporter i sends its k-th report at
 * start + phase_i + k * N/R; one that is behind sends at once and is
 * counted late), for warmup + duration seconds; R = 0 sends back to back
 * (closed loop: the most the pipeline takes). Reporter i is the only
 * reporter of cell i: tenant "<P>i", environment "<P>i-env", API key
 * "<P>key-i" (freshness.sh registers them); its k-th report carries
 * api_calls = k, so the cell's row of tally.api_usage_daily (today's, UTC)
 * reaches base + k exactly when report k is visible, base being the row's
 * value before the run (earlier runs).
 *
 * Per report it takes, on this process's CLOCK_MONOTONIC:
 *   ack       the 202 (curl returned; a non-202 is retried, counted)
 *   raw       this tool's consumer polls the report from the raw topic
 *   clean     ... from the clean topic (read_committed: when the
 *             anonymizer's transaction committed)
 *   rollup    ... the first ApiUsageRollup of the cell whose api_calls
 *             reached base + k (read_committed: the aggregator's commit)
 *   pg        the first poll of PostgreSQL (one query for every cell,
 *             every --poll-ms) whose answer showed the row at base + k;
 *             stamped when the answer arrived
 * and prints, over the reports sent after the warm-up, p50/p90/p99/max and
 * mean (ms) of ack->pg (e2e) and of each stage: ack->raw (gateway; may be
 * below 0: the broker's ack reaches the gateway and this consumer at about
 * the same time), raw->clean (anonymizer), clean->rollup (aggregator),
 * rollup->pg (materializer). The stage means add up to the e2e mean.
 * Apart from those: the request itself, send -> 202 (request).
 *
 * Output (stdout):
 *   FRESH label=.. reporters=.. rate=.. sent=.. sent_rate=.. measured=..
 *         late=.. retries=.. poll_ms=.. poll_period_ms=.. query_ms=..
 *         landed_rate=..
 *   STAGE label=.. name=e2e|gateway|anonymizer|aggregator|materializer|request
 *         p50_ms=.. p90_ms=.. p99_ms=.. max_ms=.. mean_ms=..
 * landed_rate: reports that became visible in PostgreSQL per second while
 * the reporters sent after the warm-up (from its end to the last send):
 * the send rate while the pipeline keeps up, what it lands when it does
 * not (with R = 0, the most it takes). Exits 1
 * with a message naming the stage and the count when a report does not
 * land within --timeout seconds after the last 202, or a request is
 * refused: it prints no figure then.
 */
#include "bench_util.h"
#include "codec.h"
#include "kafka.h"
#include "schema_catalog.h"

#include <curl/curl.h>
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPORTERS 256
#define DAY_MS INT64_C(86400000)

enum { ST_SENT, ST_ACK, ST_RAW, ST_CLEAN, ST_ROLLUP, ST_PG, N_STAMPS };

/* The stamps of one report; each field has one writer thread (the
 * reporter: sent, ack; the consumer: raw, clean, rollup; the poller: pg)
 * and is read by main after every thread was joined. 0: not yet. */
typedef struct {
    double t[N_STAMPS];
} report_t;

typedef struct {
    int index;
    char tenant[64], env[72], key[80], reporter_id[40];
    int64_t base;               /* the row's api_calls before the run */
    report_t *reports;          /* reports[k - 1] for report k */
    long cap;
    atomic_long acked;          /* reports answered 202 so far */
    long late, retries, warm;   /* reporter thread's; read after join */
    int64_t rollup_cov, pg_cov; /* reports covered (consumer's, poller's) */
} cell_t;

static struct {
    const char *gateway, *brokers, *pg_url, *prefix, *label;
    const char *topics[3]; /* raw, clean, rollups */
    int reporters;
    double rate, duration, warmup, poll_s, timeout;
    int64_t start_ms, day;
    double t_start;
    cell_t cells[MAX_REPORTERS];
    atomic_int stop_readers;
    atomic_long raw_n, clean_n, rollup_n, pg_n; /* stamps taken, all cells */
    long polls;
    double poll_busy_s, poll_first, poll_last;
    tally_catalog_t *cat;
} B;

static void die_fmt(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

static void die_fmt(const char *what, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    bench_die(what, why);
}

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void sleep_until(double t)
{
    double d = t - bench_now_s();
    if (d > 0) {
        struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* The cell of a tenant id "<prefix><i>", or NULL. */
static cell_t *cell_of(const char *tenant, size_t len)
{
    size_t pl = strlen(B.prefix);
    if (len <= pl || len > pl + 3 || memcmp(tenant, B.prefix, pl) != 0)
        return NULL;
    int i = 0;
    for (size_t j = pl; j < len; j++) {
        if (tenant[j] < '0' || tenant[j] > '9')
            return NULL;
        i = i * 10 + (tenant[j] - '0');
    }
    return i < B.reporters ? &B.cells[i] : NULL;
}

/* ---- the reporters ---------------------------------------------------------------------- */

typedef struct {
    char buf[512];
    size_t len;
} answer_t;

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    answer_t *a = arg;
    size_t take = size * n;
    if (take > sizeof a->buf - 1 - a->len)
        take = sizeof a->buf - 1 - a->len;
    memcpy(a->buf + a->len, data, take);
    a->len += take;
    a->buf[a->len] = '\0';
    return size * n;
}

static void *reporter_main(void *arg)
{
    cell_t *c = arg;
    char url[512], auth[128], body[768];
    snprintf(url, sizeof url, "%s/v1/usage/reports", B.gateway);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->key);
    CURL *h = curl_easy_init();
    if (h == NULL)
        bench_die("curl", "curl_easy_init failed");
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, auth);
    answer_t a;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    double interval = B.rate > 0 ? B.reporters / B.rate : 0;
    double first = B.t_start + interval * c->index / B.reporters;
    double end = B.t_start + B.warmup + B.duration;
    sleep_until(B.t_start);
    for (long k = 1; k <= c->cap; k++) {
        double due = first + (double)(k - 1) * interval;
        if (due >= end || (interval == 0 && bench_now_s() >= end))
            break;
        if (interval > 0) {
            if (bench_now_s() > due + interval)
                c->late++;
            sleep_until(due);
        }
        if ((interval > 0 ? due : bench_now_s()) < B.t_start + B.warmup)
            c->warm = k;
        int64_t observed = B.start_ms + (int64_t)((bench_now_s() - B.t_start) * 1000);
        if (observed >= (B.day + 1) * DAY_MS)
            observed = (B.day + 1) * DAY_MS - 1; /* stay on the day the rows are read for */
        int n = snprintf(body, sizeof body,
                         "{\"tenant_id\":\"%s\",\"environment_id\":\"%s\",\"reporter_id\":\"%s\","
                         "\"reporter_started_at\":%lld,\"seq\":%ld,\"observed_at\":%lld,\"api_calls\":%ld,"
                         "\"status_4xx\":0,\"status_5xx\":0,\"exec_ms\":%ld}",
                         c->tenant, c->env, c->reporter_id, (long long)B.start_ms, k, (long long)observed, k, k);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)n);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        report_t *r = &c->reports[k - 1];
        r->t[ST_SENT] = bench_now_s();
        for (int attempt = 0;; attempt++) {
            a.len = 0;
            a.buf[0] = '\0';
            CURLcode rc = curl_easy_perform(h);
            long status = 0;
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            double now = bench_now_s();
            if (rc == CURLE_OK && status == 202 && strstr(a.buf, "\"rejected\":[{") == NULL) {
                r->t[ST_ACK] = now;
                break;
            }
            /* Overload and transport errors are retried like the tally
             * client would; anything else is a broken setup. */
            int retryable = rc != CURLE_OK || status == 429 || status == 503 || status == 408;
            if (!retryable || attempt >= 50)
                die_fmt("report refused", "%s seq %ld: %s, HTTP %ld: %.200s", c->tenant, k,
                        rc == CURLE_OK ? "answered" : curl_easy_strerror(rc), status, a.buf);
            c->retries++;
            usleep(20000);
        }
        atomic_store(&c->acked, k);
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return NULL;
}

/* ---- the topics --------------------------------------------------------------------------- */

static const tally_flat_field_t *field(const tally_catalog_entry_t *w, const tally_flat_field_t *f, size_t n,
                                       const char *name)
{
    int i = avro_schema_record_field_get_index(w->schema, name);
    return i >= 0 && (size_t)i < n ? &f[i] : NULL;
}

/* Stamps reports (cov, upto] of c at t; returns how many. A value may run
 * ahead of the 202s the reporter has seen (the answer is on its way), never
 * past the reports it sent. */
static long cover(cell_t *c, int64_t *cov, int64_t upto, int stamp, double t)
{
    if (upto > c->cap)
        upto = c->cap;
    long n = 0;
    for (int64_t k = *cov + 1; k <= upto; k++, n++)
        c->reports[k - 1].t[stamp] = t;
    if (upto > *cov)
        *cov = upto;
    return n;
}

static void on_record(tally_decoder_t *dec, const rd_kafka_message_t *m, int topic, double t)
{
    const tally_flat_field_t *f;
    const tally_catalog_entry_t *w;
    size_t n;
    if (tally_decoder_decode_flat(dec, m->payload, m->len, &f, &n, &w) != 0)
        return; /* not a flat record: a seat event or a rollup of seats */
    const tally_flat_field_t *ten = field(w, f, n, "tenant_id");
    cell_t *c = ten ? cell_of(ten->str, ten->len) : NULL;
    if (c == NULL)
        return;
    if (topic < 2 && strcmp(w->name, "UsageReport") == 0) {
        const tally_flat_field_t *id = field(w, f, n, "reporter_id"), *seq = field(w, f, n, "seq");
        if (id == NULL || seq == NULL || strcmp(id->str, c->reporter_id) != 0 || seq->number < 1 ||
            seq->number > c->cap)
            return;
        report_t *r = &c->reports[seq->number - 1];
        int stamp = topic == 0 ? ST_RAW : ST_CLEAN;
        if (r->t[stamp] == 0) {
            r->t[stamp] = t;
            atomic_fetch_add(topic == 0 ? &B.raw_n : &B.clean_n, 1);
        }
    } else if (topic == 2 && strcmp(w->name, "ApiUsageRollup") == 0) {
        const tally_flat_field_t *day = field(w, f, n, "day"), *calls = field(w, f, n, "api_calls");
        if (day == NULL || calls == NULL || day->number != B.day)
            return;
        atomic_fetch_add(&B.rollup_n, cover(c, &c->rollup_cov, calls->number - c->base, ST_ROLLUP, t));
    }
}

static rd_kafka_t *consumer_new(void)
{
    char err[512], group[96];
    snprintf(group, sizeof group, "bench-freshness-%d", (int)getpid());
    rd_kafka_conf_t *conf =
        tally_kafka_conf_new(TALLY_KAFKA_CONSUMER, B.brokers, "bench-freshness", group, NULL, err, sizeof err);
    if (conf == NULL)
        bench_die("consumer config", err);
    /* A waiting fetch is answered as soon as a record (or a transaction's
     * commit marker) lands; this bounds the wait should it not be. */
    if (rd_kafka_conf_set(conf, "fetch.wait.max.ms", "50", err, sizeof err) != RD_KAFKA_CONF_OK)
        bench_die("consumer config", err);
    rd_kafka_t *rk = tally_kafka_new(TALLY_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk == NULL)
        bench_die("consumer", err);
    return rk;
}

/* Assigns every partition of the three topics at their current end. */
static void assign_at_end(rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(32);
    for (int t = 0; t < 3; t++) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, B.topics[t], NULL);
        if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR || md->topics[0].err)
            bench_die("metadata", B.topics[t]);
        for (int p = 0; p < md->topics[0].partition_cnt; p++) {
            int64_t lo, hi;
            if (rd_kafka_query_watermark_offsets(rk, B.topics[t], p, &lo, &hi, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
                bench_die("watermarks", B.topics[t]);
            rd_kafka_topic_partition_list_add(parts, B.topics[t], p)->offset = hi;
        }
        rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
    }
    if (rd_kafka_assign(rk, parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
        bench_die("assign", "the raw, clean and rollups topics");
    rd_kafka_topic_partition_list_destroy(parts);
}

static void *consumer_main(void *arg)
{
    rd_kafka_t *rk = arg;
    tally_decoder_t *dec = tally_decoder_new_any(B.cat);
    while (!atomic_load(&B.stop_readers)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 20);
        if (m == NULL)
            continue;
        double t = bench_now_s();
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            const char *name = rd_kafka_topic_name(m->rkt);
            for (int i = 0; i < 3; i++)
                if (strcmp(name, B.topics[i]) == 0)
                    on_record(dec, m, i, t);
        } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            fprintf(stderr, "%s: consumer: %s\n", bench_program, rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
    }
    tally_decoder_free(dec);
    return NULL;
}

/* ---- PostgreSQL ------------------------------------------------------------------------------ */

static PGconn *pg_connect(void)
{
    PGconn *pg = PQconnectdb(B.pg_url);
    if (PQstatus(pg) != CONNECTION_OK)
        die_fmt("postgres", "%s", PQerrorMessage(pg));
    return pg;
}

/* Today's rows of every cell: calls f(cell, api_calls) for each. */
static void pg_rows(PGconn *pg, void (*f)(cell_t *, int64_t, double), double *sent, double *got)
{
    char day[24], like[96];
    snprintf(day, sizeof day, "%lld", (long long)B.day);
    snprintf(like, sizeof like, "%s", B.prefix);
    const char *params[2] = {day, like};
    *sent = bench_now_s();
    PGresult *res = PQexecParams(pg,
                                 "SELECT tenant_id, api_calls FROM tally.api_usage_daily "
                                 "WHERE day = date '1970-01-01' + $1::int AND starts_with(tenant_id, $2)",
                                 2, NULL, params, NULL, NULL, 0);
    *got = bench_now_s();
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        die_fmt("postgres", "%s", PQerrorMessage(pg));
    for (int i = 0; i < PQntuples(res); i++) {
        const char *t = PQgetvalue(res, i, 0);
        cell_t *c = cell_of(t, strlen(t));
        if (c)
            f(c, strtoll(PQgetvalue(res, i, 1), NULL, 10), *got);
    }
    PQclear(res);
}

static void set_base(cell_t *c, int64_t v, double t)
{
    (void)t;
    c->base = v;
}

static void set_visible(cell_t *c, int64_t v, double t)
{
    atomic_fetch_add(&B.pg_n, cover(c, &c->pg_cov, v - c->base, ST_PG, t));
}

static void *poller_main(void *arg)
{
    PGconn *pg = arg;
    double next = bench_now_s();
    while (!atomic_load(&B.stop_readers)) {
        double sent, got;
        pg_rows(pg, set_visible, &sent, &got);
        if (B.polls == 0)
            B.poll_first = sent;
        B.poll_last = sent;
        B.polls++;
        B.poll_busy_s += got - sent;
        next += B.poll_s;
        if (next < got)
            next = got;
        sleep_until(next);
    }
    return NULL;
}

/* ---- figures --------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank. */
static double pct(const double *v, size_t n, double q)
{
    size_t r = (size_t)ceil(q * (double)n);
    return v[r ? r - 1 : 0];
}

static void stage_line(const char *name, int from, int to, double *buf)
{
    size_t n = 0;
    double sum = 0;
    for (int i = 0; i < B.reporters; i++) {
        cell_t *c = &B.cells[i];
        long acked = atomic_load(&c->acked);
        for (long k = c->warm + 1; k <= acked; k++) {
            buf[n] = (c->reports[k - 1].t[to] - c->reports[k - 1].t[from]) * 1000;
            sum += buf[n++];
        }
    }
    qsort(buf, n, sizeof *buf, cmp_double);
    printf("STAGE label=%s name=%s p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f mean_ms=%.1f\n", B.label, name,
           pct(buf, n, 0.5), pct(buf, n, 0.9), pct(buf, n, 0.99), buf[n - 1], sum / (double)n);
}

static const char *opt(int argc, char **argv, const char *name, const char *dflt)
{
    const char *v = bench_opt_arg(argc, argv, name);
    return v ? v : dflt;
}

int main(int argc, char **argv)
{
    bench_program = "bench_freshness";
    char err[512];
    B.gateway = bench_arg(argc, argv, "--gateway");
    B.brokers = bench_arg(argc, argv, "--brokers");
    B.pg_url = bench_arg(argc, argv, "--pg-url");
    B.prefix = bench_arg(argc, argv, "--prefix");
    B.label = opt(argc, argv, "--label", "run");
    B.topics[0] = opt(argc, argv, "--raw-topic", "tally.usage.raw");
    B.topics[1] = opt(argc, argv, "--clean-topic", "tally.usage");
    B.topics[2] = opt(argc, argv, "--rollups-topic", "tally.rollups");
    B.reporters = atoi(bench_arg(argc, argv, "--reporters"));
    B.rate = atof(bench_arg(argc, argv, "--rate"));
    B.duration = atof(bench_arg(argc, argv, "--duration"));
    B.warmup = atof(opt(argc, argv, "--warmup", "2"));
    B.poll_s = atof(opt(argc, argv, "--poll-ms", "5")) / 1000;
    B.timeout = atof(opt(argc, argv, "--timeout", "120"));
    if (B.reporters < 1 || B.reporters > MAX_REPORTERS || B.rate < 0 || B.duration <= 0 || B.warmup < 0 ||
        B.poll_s <= 0)
        bench_die("arguments", "--reporters in 1..256, --rate >= 0, --duration > 0, --poll-ms > 0");
    B.cat = tally_catalog_load(bench_arg(argc, argv, "--schemas"), err, sizeof err);
    if (B.cat == NULL)
        bench_die("schemas", err);
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
        bench_die("curl", "curl_global_init failed");

    B.start_ms = wall_ms();
    B.day = B.start_ms / DAY_MS;
    /* At most 1000 reports/s per reporter in a closed loop (each waits
     * for acks=all); an open loop sends what its schedule says. */
    double span = B.warmup + B.duration;
    unsigned nonce = (unsigned)(B.start_ms ^ ((int64_t)getpid() << 16));
    for (int i = 0; i < B.reporters; i++) {
        cell_t *c = &B.cells[i];
        c->index = i;
        snprintf(c->tenant, sizeof c->tenant, "%s%d", B.prefix, i);
        snprintf(c->env, sizeof c->env, "%s%d-env", B.prefix, i);
        snprintf(c->key, sizeof c->key, "%skey-%d", B.prefix, i);
        snprintf(c->reporter_id, sizeof c->reporter_id, "%08x-0000-4000-8000-%012x", nonce, i);
        c->cap = B.rate > 0 ? (long)(span * B.rate / B.reporters) + 2 : (long)(span * 1000) + 2;
        c->reports = calloc((size_t)c->cap, sizeof *c->reports);
        if (c->reports == NULL)
            bench_die("memory", "report stamps");
    }
    PGconn *pg = pg_connect();
    double s0, s1;
    pg_rows(pg, set_base, &s0, &s1);

    rd_kafka_t *rk = consumer_new();
    assign_at_end(rk);
    pthread_t consumer, poller, rep[MAX_REPORTERS];
    if (pthread_create(&consumer, NULL, consumer_main, rk) != 0 || pthread_create(&poller, NULL, poller_main, pg) != 0)
        bench_die("threads", "cannot start the readers");
    B.t_start = bench_now_s() + 1.0; /* the consumer's fetchers start meanwhile */
    for (int i = 0; i < B.reporters; i++)
        if (pthread_create(&rep[i], NULL, reporter_main, &B.cells[i]) != 0)
            bench_die("threads", "cannot start a reporter");
    for (int i = 0; i < B.reporters; i++)
        pthread_join(rep[i], NULL);
    double t_sent = bench_now_s();
    long total = 0, measured = 0, late = 0, retries = 0;
    for (int i = 0; i < B.reporters; i++) {
        total += atomic_load(&B.cells[i].acked);
        measured += atomic_load(&B.cells[i].acked) - B.cells[i].warm;
        late += B.cells[i].late;
        retries += B.cells[i].retries;
    }
    while (bench_now_s() - t_sent < B.timeout &&
           (atomic_load(&B.pg_n) < total || atomic_load(&B.rollup_n) < total || atomic_load(&B.raw_n) < total ||
            atomic_load(&B.clean_n) < total))
        usleep(20000);
    atomic_store(&B.stop_readers, 1);
    pthread_join(consumer, NULL);
    pthread_join(poller, NULL);
    tally_kafka_consumer_close(rk);
    PQfinish(pg);
    long missing[] = {total - atomic_load(&B.raw_n), total - atomic_load(&B.clean_n),
                      total - atomic_load(&B.rollup_n), total - atomic_load(&B.pg_n)};
    static const char *const where[] = {"the raw topic", "the clean topic", "the rollups topic", "PostgreSQL"};
    int failed = 0;
    for (int s = 0; s < 4; s++)
        if (missing[s] > 0) {
            fprintf(stderr, "%s: %s: %ld of %ld reports not seen on %s within %.0f s after the last 202\n",
                    bench_program, B.label, missing[s], total, where[s], B.timeout);
            failed = 1;
        }
    if (failed)
        bench_die(B.label, "reports did not land: no figures");
    if (measured < 1)
        bench_die(B.label, "no report after the warm-up: nothing measured");

    /* sent_rate: over the schedule's span, or until the last send when the
     * reporters fell behind it (then it is below --rate). */
    double last_sent = 0, from = B.t_start + B.warmup;
    for (int i = 0; i < B.reporters; i++) {
        long acked = atomic_load(&B.cells[i].acked);
        if (acked > 0 && B.cells[i].reports[acked - 1].t[ST_SENT] > last_sent)
            last_sent = B.cells[i].reports[acked - 1].t[ST_SENT];
    }
    long landed = 0;
    for (int i = 0; i < B.reporters; i++)
        for (long k = 1; k <= atomic_load(&B.cells[i].acked); k++)
            landed += B.cells[i].reports[k - 1].t[ST_PG] >= from && B.cells[i].reports[k - 1].t[ST_PG] <= last_sent;
    double period = B.polls > 1 ? (B.poll_last - B.poll_first) / (double)(B.polls - 1) : 0;
    printf("FRESH label=%s reporters=%d rate=%g sent=%ld sent_rate=%.1f measured=%ld late=%ld retries=%ld "
           "poll_ms=%g poll_period_ms=%.2f query_ms=%.2f landed_rate=%.1f\n",
           B.label, B.reporters, B.rate, total, (double)total / fmax(span, last_sent - B.t_start), measured, late,
           retries, B.poll_s * 1000, period * 1000, B.polls ? B.poll_busy_s / (double)B.polls * 1000 : 0,
           last_sent > from ? (double)landed / (last_sent - from) : 0);
    double *buf = malloc((size_t)measured * sizeof *buf);
    if (buf == NULL)
        bench_die("memory", "figures");
    stage_line("e2e", ST_ACK, ST_PG, buf);
    stage_line("gateway", ST_ACK, ST_RAW, buf);
    stage_line("anonymizer", ST_RAW, ST_CLEAN, buf);
    stage_line("aggregator", ST_CLEAN, ST_ROLLUP, buf);
    stage_line("materializer", ST_ROLLUP, ST_PG, buf);
    stage_line("request", ST_SENT, ST_ACK, buf);
    free(buf);
    for (int i = 0; i < B.reporters; i++)
        free(B.cells[i].reports);
    tally_catalog_free(B.cat);
    curl_global_cleanup();
    return 0;
}
