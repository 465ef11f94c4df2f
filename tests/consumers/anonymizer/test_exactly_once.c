/* Exactly once across crashes: 100,000 raw records (product events, seat
 * events, usage reports and some that can only go to the DLQ) go through
 * tally-anonymizer while it is killed with SIGKILL at random moments and
 * restarted each time. In the end clean records plus DLQ records equal raw
 * records exactly: each raw record has exactly one output, none is
 * missing, none is doubled. */
#include "anon_kafka.h"
#include "codec.h"
#include "raw_gen.h"
#include "schema_catalog.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RAW_RECORDS 100000
/* Raw records are produced over about this long, while the kills go on. */
#define PRODUCE_MS 10000
#define MIN_KILLS 5
#define MAX_KILLS 20
#define T0 INT64_C(1714560000000)

/* What raw record i is. */
typedef enum { RAW_PRODUCT, RAW_SEAT, RAW_USAGE, RAW_INVALID } raw_type_t;

static raw_type_t type_of(size_t i)
{
    size_t r = i % 20;
    return r < 12 ? RAW_PRODUCT : r < 15 ? RAW_SEAT : r < 19 ? RAW_USAGE : RAW_INVALID;
}

static const char *const events[][2] = {
    {"project.create.start", "CLI"}, {"project.create.end", "CLI"}, {"deploy.start", "CLI"},
    {"deploy.end", "CLI"},           {"admin.started", "ADMIN"},    {"telemetry.enabled", "ADMIN"},
};

/* Produces raw record i; returns whether it went to the product topic. */
static void produce_raw(anon_producer_t *p, raw_gen_t *g, const anon_env_t *e, size_t i)
{
    char id[37], install[32], project[32], tenant[32], user[32], msg[160];
    const void *buf;
    size_t len;
    raw_type_t t = type_of(i);
    if (t == RAW_PRODUCT || (t == RAW_INVALID && i % 3 == 0)) {
        const char *props[] = {"template", "blog", "region", "eu-west-1", "hostname", "box-17"};
        raw_uuid(id, 1, i);
        snprintf(install, sizeof install, "install-%05zu", i % 997);
        snprintf(project, sizeof project, "project-%04zu", i % 101);
        snprintf(msg, sizeof msg, "connect ECONNREFUSED 10.%zu.%zu.%zu:5432", i % 250, (i / 250) % 250, i % 7);
        raw_product_t r = {.event_id = id, .source = events[i % 6][1], .event = events[i % 6][0],
                           .install_id = install, .project_id = i % 2 ? project : NULL, .version = "5.2.1",
                           .occurred_at = T0 + (int64_t)i, .received_at = T0 + (int64_t)i + 3, .ci = (int)(i % 2),
                           .new_user = -1, .props = props, .n_props = 3,
                           .error_message = i % 5 == 0 ? msg : NULL};
        if (t == RAW_INVALID)
            r.event = "not.in.catalog";   /* valid Avro, invalid event: DLQ at validate */
        cr_assert_eq(raw_gen_product(g, &r, &buf, &len), 0);
        anon_produce(p, e->product_raw, install, strlen(install), buf, len, i);
    } else if (t == RAW_SEAT) {
        raw_uuid(id, 2, i);
        snprintf(tenant, sizeof tenant, "tenant-%02zu", i % 17);
        snprintf(user, sizeof user, "user-%06zu", i % 5003);
        cr_assert_eq(raw_gen_seat(g, id, tenant, user, i % 2 ? "ASSIGNED" : "RELEASED", T0 + (int64_t)i, &buf, &len),
                     0);
        anon_produce(p, e->usage_raw, tenant, strlen(tenant), buf, len, i);
    } else if (t == RAW_USAGE) {
        raw_uuid(id, 3, i % 50);
        snprintf(tenant, sizeof tenant, "tenant-%02zu", i % 17);
        cr_assert_eq(raw_gen_usage(g, tenant, "env-prod", id, T0, (int64_t)i, T0 + (int64_t)i, (int64_t)i, &buf,
                                   &len),
                     0);
        anon_produce(p, e->usage_raw, tenant, strlen(tenant), buf, len, i);
    } else if (i % 3 == 1) {
        /* Not Avro at all. */
        int n = snprintf(msg, sizeof msg, "{\"garbage\":%zu}", i);
        anon_produce(p, e->usage_raw, NULL, 0, msg, (size_t)n, i);
    } else {
        /* A single-object header with a fingerprint no schema has. */
        unsigned char unknown[24] = {0xC3, 0x01, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x11, 0x22, 0x33};
        memcpy(unknown + 10, &i, sizeof i);
        anon_produce(p, e->product_raw, NULL, 0, unknown, sizeof unknown, i);
    }
}

typedef struct {
    const anon_env_t *e;
    const tally_catalog_t *cat;
    anon_producer_t p;
    volatile int done;
} feeder_t;

/* Produces the raw records at a steady pace, so that the kills land while
 * records arrive as well as while the backlog drains. */
static void *feed(void *arg)
{
    feeder_t *f = arg;
    raw_gen_t g;
    if (raw_gen_init(&g, f->cat) != 0)
        abort();
    long long t0 = anon_now_ms();
    for (size_t i = 0; i < RAW_RECORDS; i++) {
        produce_raw(&f->p, &g, f->e, i);
        if (i % 1000 == 999) {
            long long due = t0 + (long long)(i + 1) * PRODUCE_MS / RAW_RECORDS;
            while (anon_now_ms() < due)
                rd_kafka_poll(f->p.rk, 5);
        }
    }
    rd_kafka_flush(f->p.rk, 60000);
    raw_gen_done(&g);
    f->done = 1;
    return NULL;
}

/* The raw index a clean record came from: event ids and seqs encode it. */
static size_t index_of_clean(tally_decoder_t *dec, const anon_record_t *r)
{
    char err[256];
    avro_value_t *v, f;
    const tally_catalog_entry_t *w;
    cr_assert_eq(tally_decoder_decode(dec, r->value, r->len, &v, &w, err, sizeof err), 0, "%s", err);
    if (strcmp(w->name, "UsageReport") == 0) {
        int64_t seq;
        avro_value_get_by_name(v, "seq", &f, NULL);
        avro_value_get_long(&f, &seq);
        return (size_t)seq;
    }
    const char *id;
    size_t n;
    avro_value_get_by_name(v, "event_id", &f, NULL);
    avro_value_get_string(&f, &id, &n);
    cr_assert_eq(n, 37);
    return (size_t)strtoull(id + 24, NULL, 16);
}

typedef struct {
    int topic;   /* 0 product raw, 1 usage raw */
    int32_t partition;
    int64_t offset;
    size_t index;
} raw_pos_t;

static int pos_cmp(const void *a, const void *b)
{
    const raw_pos_t *x = a, *y = b;
    if (x->topic != y->topic)
        return x->topic - y->topic;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

TestSuite(exactly_once, .fini = anon_procs_cleanup);

Test(exactly_once, kill_9_at_random_moments_loses_and_doubles_nothing, .timeout = 600)
{
    char err[512];
    long long t_start = anon_now_ms();
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    srand(seed);
    fprintf(stderr, "exactly_once: seed %u\n", seed);

    anon_env_t e;
    anon_env_create(&e, "anon-eo", 3);
    tally_catalog_t *cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(cat, "%s", err);

    /* Static membership: a restarted instance takes its predecessor's
     * place at once instead of waiting for its session to time out. Same
     * instance id every time: the new producer fences the dead one and
     * aborts the transaction it left open. */
    char member[160];
    snprintf(member, sizeof member, "-Xconsumer.group.instance.id=%s-eo", e.group);
    const char *extra[] = {"--batch-max-records=2000", "--batch-max-time=100ms", member, NULL};

    feeder_t f = {.e = &e, .cat = cat};
    anon_producer_init(&f.p, RAW_RECORDS);
    pthread_t feeder;
    cr_assert_eq(pthread_create(&feeder, NULL, feed, &f), 0);
    int kills = 0;
    /* Kill while raw records arrive and until the backlog is gone. */
    while (kills < MAX_KILLS && (!f.done || anon_committed(&e) < RAW_RECORDS)) {
        tally_test_proc_t *proc = anon_spawn(&e, "eo", extra, NULL, 0);
        int delay = 150 + rand() % 750;
        usleep((useconds_t)delay * 1000);
        tally_test_signal(proc, SIGKILL);
        cr_assert_eq(tally_test_wait(proc, 10000), 128 + SIGKILL);
        anon_proc_free(proc);
        int64_t now = anon_committed(&e);
        fprintf(stderr, "exactly_once: %5.1f s: kill %d after %d ms: %" PRId64 " raw records committed%s\n",
                (double)(anon_now_ms() - t_start) / 1000, ++kills, delay, now,
                f.done ? "" : ", raw records still arriving");
    }
    pthread_join(feeder, NULL);
    cr_assert_geq(kills, MIN_KILLS, "only %d kills landed while records flowed", kills);
    anon_producer_t p = f.p;
    anon_producer_close(&p);
    cr_assert_eq(p.delivered, RAW_RECORDS);
    tally_test_proc_t *proc = anon_spawn(&e, "eo", extra, NULL, 0);
    cr_assert_eq(anon_wait_done(&e, 240000), 0, "the anonymizer did not finish the raw records");
    tally_test_signal(proc, SIGTERM);
    cr_assert_eq(tally_test_wait(proc, 30000), 0, "SIGTERM must end in a clean exit; log:\n%s", tally_test_log(proc));
    cr_assert(strstr(tally_test_log(proc), "stopped cleanly") != NULL);
    anon_proc_free(proc);
    fprintf(stderr, "exactly_once: processed through %d kills in %lld ms\n", kills, anon_now_ms() - t_start);

    /* Where each DLQ-bound raw record landed, to match DLQ headers. */
    raw_pos_t *invalid = calloc(RAW_RECORDS, sizeof *invalid);
    size_t n_invalid = 0;
    for (size_t i = 0; i < RAW_RECORDS; i++)
        if (type_of(i) == RAW_INVALID) {
            int topic = (i % 3 == 1) ? 1 : 0;
            invalid[n_invalid++] = (raw_pos_t){topic, p.where[i].partition, p.where[i].offset, i};
        }
    qsort(invalid, n_invalid, sizeof *invalid, pos_cmp);

    unsigned char *seen = calloc(RAW_RECORDS, 1);
    size_t dups = 0, wrong = 0;
    tally_decoder_t *dec = tally_decoder_new_any(cat);
    const char *clean_topics[] = {e.product, e.usage};
    size_t clean = 0;
    for (int t = 0; t < 2; t++) {
        anon_record_t *recs;
        size_t n = anon_read_all(clean_topics[t], &recs);
        clean += n;
        for (size_t k = 0; k < n; k++) {
            size_t i = index_of_clean(dec, &recs[k]);
            cr_assert_lt(i, RAW_RECORDS);
            if (seen[i]++)
                dups++;
            if (type_of(i) == RAW_INVALID)
                wrong++;
        }
        anon_records_free(recs, n);
    }
    anon_record_t *dlq;
    size_t n_dlq = anon_read_all(e.dlq, &dlq);
    for (size_t k = 0; k < n_dlq; k++) {
        cr_assert(dlq[k].value_null, "a DLQ record carries no value");
        raw_pos_t key = {strcmp(dlq[k].src_topic, e.product_raw) == 0 ? 0 : 1, dlq[k].src_partition,
                         dlq[k].src_offset, 0};
        raw_pos_t *hit = bsearch(&key, invalid, n_invalid, sizeof *invalid, pos_cmp);
        cr_assert_not_null(hit, "DLQ record for %s[%d]@%" PRId64 " (%s/%s) matches no invalid raw record",
                           dlq[k].src_topic, dlq[k].src_partition, dlq[k].src_offset, dlq[k].stage, dlq[k].error);
        if (seen[hit->index]++)
            dups++;
    }
    anon_records_free(dlq, n_dlq);
    size_t missing = 0;
    for (size_t i = 0; i < RAW_RECORDS; i++)
        missing += seen[i] == 0;
    fprintf(stderr, "exactly_once: %zu clean + %zu DLQ = %zu of %d raw; %zu doubled, %zu missing (%lld ms)\n", clean,
            n_dlq, clean + n_dlq, RAW_RECORDS, dups, missing, anon_now_ms() - t_start);
    cr_expect_eq(dups, 0, "%zu raw records have more than one output", dups);
    cr_expect_eq(missing, 0, "%zu raw records have no output", missing);
    cr_expect_eq(wrong, 0, "%zu invalid raw records came out clean", wrong);
    cr_expect_eq(n_dlq, n_invalid);
    cr_expect_eq(clean + n_dlq, RAW_RECORDS);

    tally_decoder_free(dec);
    free(seen);
    free(invalid);
    free(p.where);
    tally_catalog_free(cat);
    anon_env_destroy(&e);
}
