/* bench_aggregator_path: the per-record CPU path of tally-aggregator
 * without Kafka, for profiling (perf record) and before/after figures:
 *
 *   bench_aggregator_path --schemas=DIR [--records=N] [--rounds=R] [--stage=S]
 *                         [--read=name|index|decode]
 *
 * Builds N records in memory like tests/bench/aggregator.sh's load (4 in 5
 * UsageReports of 20,000 reporters of 200 tenants, 1 in 5 SeatEventClean),
 * spreads the tenants over 6 partition states (consumed in runs of 10,000
 * records of one partition, round-robin), then times, per record:
 * decode; decode + read (--read=decode, the default:
 * tally_usage_reader_decode; index: tally_decoder_decode then
 * tally_usage_reader_read; name: then tally_usage_record_read); + the key
 * check and
 * apply; + every 50,000 records what before_commit does with the rollup
 * library (expire, the changed API and seat rollups, the changelog
 * entries, copied out as a producer would) and clear_changes. Prints one
 * "PATH stage=... ns_per_record=..." line per stage (best of R rounds).
 */
#include "agg_gen.h"
#include "codec.h"
#include "rollup.h"
#include "schema_catalog.h"
#include "usage_record.h"
#include "bench_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T0 INT64_C(1714521600000)
#define PARTS 6
#define BATCH 50000
#define RUN 10000

typedef struct {
    void *buf;
    size_t len;
    char key[16];
    size_t key_len;
    int part;
} msg_t;

static msg_t *generate(const tally_catalog_t *cat, long records)
{
    enum { TENANTS = 200, ENVS = 3, REPORTERS = 20000, SEATS = 60 };
    static const char *const envs[ENVS] = {"prod", "staging", "dev"};
    static int64_t seq[REPORTERS], calls[REPORTERS];
    agg_gen_t g;
    msg_t *msgs = calloc((size_t)records, sizeof *msgs);
    if (msgs == NULL || agg_gen_init(&g, cat) != 0)
        bench_die("generator", "cannot start");
    for (long i = 0; i < records; i++) {
        char tenant[32], id[37], seat[16];
        const void *buf;
        size_t len;
        int t;
        if (i % 5 == 4) {
            long k = i / 5;
            t = (int)(k % TENANTS);
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
            t = r % TENANTS;
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
        msgs[i].buf = malloc(len);
        if (msgs[i].buf == NULL)
            bench_die("generator", "out of memory");
        memcpy(msgs[i].buf, buf, len);
        msgs[i].len = len;
        msgs[i].key_len = (size_t)snprintf(msgs[i].key, sizeof msgs[i].key, "%s", tenant);
        msgs[i].part = t % PARTS;
    }
    agg_gen_done(&g);
    /* A consumer of every partition delivers runs of one partition's
     * records (a fetch's worth), round-robin: so do we. */
    msg_t *ordered = calloc((size_t)records, sizeof *ordered);
    long pos[PARTS] = {0}, n = 0;
    if (ordered == NULL)
        bench_die("generator", "out of memory");
    while (n < records) {
        for (int p = 0; p < PARTS; p++) {
            for (long run = 0; run < RUN && pos[p] < records; pos[p]++) {
                if (msgs[pos[p]].part != p)
                    continue;
                ordered[n++] = msgs[pos[p]];
                run++;
            }
        }
    }
    free(msgs);
    return ordered;
}

/* What a producer does with a record: copy it. */
typedef struct {
    unsigned char copy[4096];
    size_t bytes, n;
} sink_t;

static int sink_api(void *ctx, const tally_api_rollup_t *r)
{
    sink_t *s = ctx;
    s->n++;
    s->bytes += (size_t)r->api_calls;
    return 0;
}

static int sink_seat(void *ctx, const tally_seat_rollup_t *r)
{
    sink_t *s = ctx;
    s->n++;
    s->bytes += (size_t)r->seats_in_use;
    return 0;
}

static int sink_entry(void *ctx, const tally_changelog_record_t *r)
{
    sink_t *s = ctx;
    size_t n = r->key_len < sizeof s->copy ? r->key_len : sizeof s->copy;
    memcpy(s->copy, r->key, n);
    if (r->value) {
        n = r->value_len < sizeof s->copy ? r->value_len : sizeof s->copy;
        memcpy(s->copy, r->value, n);
    }
    s->n++;
    s->bytes += r->key_len + r->value_len;
    return 0;
}

/* How records are read: tally_usage_record_read, tally_usage_reader_read,
 * or tally_usage_reader_decode (decode and read in one). */
enum { READ_BY_NAME, READ_BY_INDEX, READ_DECODE };

enum { STAGE_DECODE, STAGE_READ, STAGE_APPLY, STAGE_FLUSH, STAGES };
static const char *const stage_names[STAGES] = {"decode", "decode+read", "decode+read+apply",
                                                "decode+read+apply+flush"};

__attribute__((noinline)) static double run(const tally_catalog_t *cat, const msg_t *msgs, long records, int stage, int mode,
                  sink_t *sink)
{
    char err[512];
    tally_decoder_t *dec = tally_decoder_new_any(cat);
    tally_usage_reader_t *reader = tally_usage_reader_new();
    tally_rollup_t *states[PARTS];
    tally_rollup_config_t config = {.reporter_idle_ms = INT64_C(7) * 86400000};
    memcpy(config.hash_key, "bench-aggregator", 16);
    for (int p = 0; p < PARTS; p++)
        if ((states[p] = tally_rollup_new(&config, err, sizeof err)) == NULL)
            bench_die("rollup", err);
    double t0 = bench_now_s();
    for (long i = 0; i < records; i++) {
        const msg_t *m = &msgs[i];
        avro_value_t *value;
        const tally_catalog_entry_t *w;
        tally_usage_record_t ur;
        if (mode == READ_DECODE && stage != STAGE_DECODE) {
            if (tally_usage_reader_decode(reader, dec, m->buf, m->len, &ur, &w, err, sizeof err) != 0)
                bench_die("decode and read", err);
        } else {
            if (tally_decoder_decode(dec, m->buf, m->len, &value, &w, err, sizeof err) != 0)
                bench_die("decode", err);
            if (stage == STAGE_DECODE)
                continue;
            int rc = mode == READ_BY_NAME ? tally_usage_record_read(w->name, value, &ur, err, sizeof err)
                                          : tally_usage_reader_read(reader, w->name, value, &ur, err, sizeof err);
            if (rc != 0)
                bench_die("read", err);
        }
        if (stage == STAGE_READ)
            continue;
        const char *tenant = ur.kind == TALLY_USAGE_RECORD_REPORT ? ur.report.tenant_id : ur.seat.tenant_id;
        size_t tlen = strlen(tenant);
        if (m->key_len != tlen || memcmp(m->key, tenant, tlen) != 0)
            bench_die("key", "wrong key");
        if (tally_usage_record_apply(states[m->part], &ur) == TALLY_ROLLUP_INVALID)
            bench_die("apply", "invalid");
        if (stage == STAGE_APPLY || (i + 1) % BATCH != 0)
            continue;
        for (int p = 0; p < PARTS; p++) {
            (void)tally_rollup_expire(states[p], 1024);
            if (tally_rollup_each_changed_api(states[p], sink_api, sink) != 0 ||
                tally_rollup_each_changed_seat(states[p], sink_seat, sink) != 0 ||
                tally_rollup_each_changed_entry(states[p], sink_entry, sink) != 0)
                bench_die("flush", "failed");
            tally_rollup_clear_changes(states[p]);
        }
    }
    double took = bench_now_s() - t0;
    for (int p = 0; p < PARTS; p++)
        tally_rollup_free(states[p]);
    tally_usage_reader_free(reader);
    tally_decoder_free(dec);
    return took;
}

int main(int argc, char **argv)
{
    bench_program = "bench_aggregator_path";
    char err[512];
    const char *dir = bench_opt_arg(argc, argv, "--schemas");
    long records = bench_opt_arg(argc, argv, "--records") ? atol(bench_opt_arg(argc, argv, "--records")) : 1000000;
    int rounds = bench_opt_arg(argc, argv, "--rounds") ? atoi(bench_opt_arg(argc, argv, "--rounds")) : 3;
    const char *only = bench_opt_arg(argc, argv, "--stage");
    const char *read = bench_opt_arg(argc, argv, "--read");
    int mode = read == NULL || strcmp(read, "decode") == 0 ? READ_DECODE
               : strcmp(read, "index") == 0                ? READ_BY_INDEX
               : strcmp(read, "name") == 0                 ? READ_BY_NAME
                                                           : -1;
    if (mode < 0)
        bench_die("usage", "--read is name, index or decode");
    if (dir == NULL)
        bench_die("usage", "--schemas=DIR is required");
    tally_catalog_t *cat = tally_catalog_load(dir, err, sizeof err);
    if (cat == NULL)
        bench_die("schemas", err);
    msg_t *msgs = generate(cat, records);
    sink_t sink = {0};
    for (int stage = 0; stage < STAGES; stage++) {
        if (only && strcmp(only, stage_names[stage]) != 0)
            continue;
        double best = 0;
        for (int r = 0; r < rounds; r++) {
            double s = run(cat, msgs, records, stage, mode, &sink);
            if (r == 0 || s < best)
                best = s;
        }
        printf("PATH stage=%s records=%ld seconds=%.3f ns_per_record=%.0f\n", stage_names[stage], records, best,
               best * 1e9 / (double)records);
    }
    fprintf(stderr, "(sink: %zu records, %zu bytes)\n", sink.n, sink.bytes);
    for (long i = 0; i < records; i++)
        free(msgs[i].buf);
    free(msgs);
    tally_catalog_free(cat);
    return 0;
}
