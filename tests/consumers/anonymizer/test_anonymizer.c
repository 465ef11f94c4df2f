/* tally-anonymizer as a black box on the real broker: no raw identifier and
 * no IP address that was sent appears in any clean record, DLQ record or
 * log line; the admin port answers; several instances share the work, and
 * SIGTERM finishes the open transaction and hands the partitions over, with
 * every raw record still yielding exactly one output. */
#include "anon_kafka.h"
#include "codec.h"
#include "http.h"
#include "raw_gen.h"
#include "schema_catalog.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 INT64_C(1714560000000)
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

TestSuite(anonymizer, .fini = anon_procs_cleanup);

static size_t find_in(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n && n <= len && i <= len - n; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return 1;
    return 0;
}

/* ---- the privacy check -------------------------------------------------- */

#define PRIV_EVENTS 1500
#define PRIV_SEATS 500

/* Everything identifying that was sent, to look for afterwards, in groups
 * sharing a prefix: a needle can only occur where its prefix does, so a
 * text without the prefix is clear of the whole group at once. */
typedef struct {
    const char *prefix;
    char (*needles)[64];
    size_t n, cap;
} needles_t;

/* The first needle of any group found in buf[0..len), or NULL. */
static const char *leak(const needles_t *groups, size_t n_groups, const char *buf, size_t len)
{
    for (size_t g = 0; g < n_groups; g++) {
        if (!find_in(buf, len, groups[g].prefix))
            continue;
        for (size_t i = 0; i < groups[g].n; i++)
            if (find_in(buf, len, groups[g].needles[i]))
                return groups[g].needles[i];
    }
    return NULL;
}

__attribute__((format(printf, 2, 3)))
static const char *needle(needles_t *s, const char *fmt, ...)
{
    va_list ap;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->needles = realloc(s->needles, s->cap * sizeof *s->needles);
    }
    va_start(ap, fmt);
    vsnprintf(s->needles[s->n], sizeof s->needles[0], fmt, ap);
    va_end(ap);
    return s->needles[s->n++];
}

Test(anonymizer, no_raw_identifier_or_ip_address_survives_anywhere, .timeout = 300)
{
    char err[512], line[512];
    anon_env_t e;
    anon_env_create(&e, "anon-priv", 3);
    tally_catalog_t *cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    raw_gen_t g;
    cr_assert_eq(raw_gen_init(&g, cat), 0);
    anon_producer_t p;
    anon_producer_init(&p, 0);
    enum { INSTALL, PROJECT, MAIL, HOME, USER, IP4, IP6, IP4B, GROUPS };
    static const char *const prefixes[GROUPS] = {"install-qz", "project-qz", "@example.org", "homeuser",
                                                 "seatuser-qz", "172.16.", "2001:db8:", "198.51.100."};
    needles_t sent[GROUPS];
    memset(sent, 0, sizeof sent);
    for (size_t i = 0; i < GROUPS; i++)
        sent[i].prefix = prefixes[i];
    const void *buf;
    size_t len, valid_products = 0, dlq_bound = 0;

    for (size_t k = 0; k < PRIV_EVENTS; k++) {
        char id[37], msg[512], stack[512], step[200], host[200], version[64];
        raw_uuid(id, 7, k);
        const char *install = needle(&sent[INSTALL], "install-qz%04zu", k);
        const char *project = needle(&sent[PROJECT], "project-qz%04zu", k);
        const char *mail = needle(&sent[MAIL], "person%zu@example.org", k);
        const char *home = needle(&sent[HOME], "homeuser%zu", k);
        const char *ip4 = needle(&sent[IP4], "172.16.%zu.9", k % 250);
        const char *ip6 = needle(&sent[IP6], "2001:db8:%zx::7", k + 1);
        const char *ip4b = needle(&sent[IP4B], "198.51.100.%zu", k % 200 + 1);
        snprintf(msg, sizeof msg, "connect ECONNREFUSED %s:5432 as %s", ip4, mail);
        snprintf(stack, sizeof stack, "Error\n    at /home/%s/app/x.js:1:2\n    at peer [%s]:443", home, ip6);
        snprintf(step, sizeof step, "download from %s failed", ip4b);
        snprintf(host, sizeof host, "%s.corp %s", install, ip4);
        snprintf(version, sizeof version, "5.2.%zu (%s)", k % 10, ip4b);
        /* step is allowed for project.create.error; hostname never is. */
        const char *props[] = {"step", step, "template", "blog", "hostname", host, "client_ip", ip4};
        raw_product_t r = {.event_id = id, .source = "CLI", .event = "project.create.error", .install_id = install,
                           .project_id = project, .version = version, .occurred_at = T0, .received_at = T0 + 1,
                           .ci = 0, .new_user = 1, .props = props, .n_props = 4, .error_message = msg,
                           .error_stack = stack};
        if (k % 10 == 9) {
            r.event = "not.a.catalog.event";   /* to the DLQ, identifiers and all */
            dlq_bound++;
        } else {
            valid_products++;
        }
        cr_assert_eq(raw_gen_product(&g, &r, &buf, &len), 0);
        anon_produce(&p, e.product_raw, install, strlen(install), buf, len, 0);
    }
    for (size_t k = 0; k < PRIV_SEATS; k++) {
        char id[37];
        raw_uuid(id, 8, k);
        const char *user = needle(&sent[USER], "seatuser-qz%04zu", k);
        cr_assert_eq(raw_gen_seat(&g, id, "tenant-priv", user, "ASSIGNED", T0, &buf, &len), 0);
        anon_produce(&p, e.usage_raw, "tenant-priv", 11, buf, len, 0);
    }
    /* Undecodable records whose bytes hold an identifier and an address. */
    for (size_t k = 0; k < 20; k++) {
        char junk[128];
        int n = snprintf(junk, sizeof junk, "{\"install_id\":\"%s\",\"ip\":\"%s\"}", sent[INSTALL].needles[k],
                         sent[IP4].needles[k]);
        anon_produce(&p, e.usage_raw, NULL, 0, junk, (size_t)n, 0);
        dlq_bound++;
    }
    anon_producer_close(&p);
    raw_gen_done(&g);

    tally_test_proc_t *proc = anon_spawn(&e, "priv", NULL, line, sizeof line);
    int port = tally_test_port_from_line(line);
    cr_assert_gt(port, 0, "%s", line);
    cr_assert_eq(anon_wait_done(&e, 120000), 0, "not all raw records were processed");

    /* The admin port. */
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", port);
    tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 0);
    cr_expect_eq(r.status, 200, "%s", r.body);
    tally_test_response_free(&r);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/readyz", port);
    r = tally_test_http("GET", url, NULL, NULL, 0, 0);
    cr_expect_eq(r.status, 200, "%s", r.body);
    tally_test_response_free(&r);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    r = tally_test_http("GET", url, NULL, NULL, 0, 0);
    cr_expect_eq(r.status, 200);
    char want[160];
    snprintf(want, sizeof want, "tally_anonymizer_properties_dropped_total{event=\"project.create.error\"} %zu",
             2 * valid_products);
    cr_expect(strstr(r.body, want) != NULL, "want %s in:\n%s", want, r.body);
    snprintf(want, sizeof want, "tally_txn_records_in_total %d", PRIV_EVENTS + PRIV_SEATS + 20);
    cr_expect(strstr(r.body, want) != NULL, "want %s", want);
    cr_expect(strstr(r.body, "tally_anonymizer_redactions_total{kind=\"ipv6\"}") != NULL);
    cr_expect(strstr(r.body, "tally_txn_transactions_total{result=\"committed\"}") != NULL);
    cr_expect(strstr(r.body, "tally_anonymizer_dlq_total{stage=\"validate\",error=\"unknown_event\"} 150") != NULL);
    tally_test_response_free(&r);

    tally_test_signal(proc, SIGTERM);
    cr_assert_eq(tally_test_wait(proc, 30000), 0, "log:\n%s", tally_test_log(proc));

    /* Every byte written, keys and headers included, and the log. */
    const char *outs[] = {e.product, e.usage, e.dlq};
    size_t counts[3], found = 0, needles = 0;
    for (size_t i = 0; i < GROUPS; i++)
        needles += sent[i].n;
    for (size_t t = 0; t < 3; t++) {
        anon_record_t *recs;
        counts[t] = anon_read_all(outs[t], &recs);
        for (size_t k = 0; k < counts[t]; k++) {
            const anon_record_t *rec = &recs[k];
            const char *hit = leak(sent, GROUPS, rec->value, rec->len);
            if (hit == NULL)
                hit = leak(sent, GROUPS, rec->key, rec->key_len);
            if (hit == NULL && rec->headers_text)
                hit = leak(sent, GROUPS, rec->headers_text, rec->headers_len);
            if (hit != NULL && found++ < 10)
                fprintf(stderr, "FOUND %s in %s[%d]@%" PRId64 "\n", hit, outs[t], rec->partition, rec->offset);
            if (t == 2)
                cr_expect(rec->value_null && rec->error[0] && rec->stage[0] && rec->src_topic[0],
                          "DLQ records: no value, headers naming why and where");
        }
        anon_records_free(recs, counts[t]);
    }
    const char *log = tally_test_log(proc);
    const char *hit = leak(sent, GROUPS, log, strlen(log));
    if (hit != NULL && found++ < 10)
        fprintf(stderr, "FOUND %s in the log\n", hit);
    cr_expect_eq(found, 0, "%zu raw identifiers or addresses leaked", found);
    cr_expect_eq(counts[0], valid_products);
    cr_expect_eq(counts[1], PRIV_SEATS);
    cr_expect_eq(counts[2], dlq_bound);
    fprintf(stderr, "anonymizer: scanned %zu clean + %zu DLQ records and the log for %zu identifiers and addresses\n",
            counts[0] + counts[1], counts[2], needles);
    anon_proc_free(proc);
    for (size_t i = 0; i < GROUPS; i++)
        free(sent[i].needles);
    tally_catalog_free(cat);
    anon_env_destroy(&e);
}

/* ---- several instances, rebalances and SIGTERM --------------------------- */

#define PHASE 8000

/* Raw records [from, to): product events and usage reports whose event_id
 * or seq is the index. */
static void produce_range(const anon_env_t *e, raw_gen_t *g, size_t from, size_t to)
{
    anon_producer_t p;
    anon_producer_init(&p, 0);
    for (size_t i = from; i < to; i++) {
        const void *buf;
        size_t len;
        char id[37], install[32], tenant[32];
        snprintf(tenant, sizeof tenant, "tenant-%02zu", i % 13);
        if (i % 3) {
            raw_uuid(id, 9, i);
            snprintf(install, sizeof install, "install-%04zu", i % 331);
            raw_product_t r = {.event_id = id, .source = "ADMIN", .event = "admin.started", .install_id = install,
                               .occurred_at = T0, .received_at = T0, .ci = -1, .new_user = -1};
            cr_assert_eq(raw_gen_product(g, &r, &buf, &len), 0);
            anon_produce(&p, e->product_raw, install, strlen(install), buf, len, 0);
        } else {
            raw_uuid(id, 10, i % 20);
            cr_assert_eq(raw_gen_usage(g, tenant, "env-prod", id, T0, (int64_t)i, T0, (int64_t)i, &buf, &len), 0);
            anon_produce(&p, e->usage_raw, tenant, strlen(tenant), buf, len, 0);
        }
    }
    anon_producer_close(&p);
}

static size_t index_of(tally_decoder_t *dec, const anon_record_t *r)
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
    return (size_t)strtoull(id + 24, NULL, 16);
}

Test(anonymizer, instances_share_the_work_and_sigterm_hands_over_cleanly, .timeout = 300)
{
    char err[512];
    anon_env_t e;
    anon_env_create(&e, "anon-group", 4);
    tally_catalog_t *cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    raw_gen_t g;
    cr_assert_eq(raw_gen_init(&g, cat), 0);
    const char *extra[] = {"--batch-max-records=300", "--batch-max-time=50ms", NULL};

    char line[512];
    produce_range(&e, &g, 0, PHASE);
    tally_test_proc_t *a = anon_spawn(&e, "a", extra, line, sizeof line);
    int port_a = tally_test_port_from_line(line);
    cr_assert_eq(anon_wait_done(&e, 60000), 0);

    /* A second instance joins: the group rebalances, each gets half of
     * the 8 raw partitions. */
    tally_test_proc_t *b = anon_spawn(&e, "b", extra, line, sizeof line);
    int port_b = tally_test_port_from_line(line);
    cr_assert(anon_wait_metric(port_b, "tally_txn_assigned_partitions", 4, 60000), "b never got half");
    cr_assert(anon_wait_metric(port_a, "tally_txn_assigned_partitions", 4, 60000), "a never kept half");
    produce_range(&e, &g, PHASE, 2 * PHASE);
    cr_assert_eq(anon_wait_done(&e, 60000), 0);

    /* SIGTERM the first while it works: it commits or aborts its open
     * transaction and leaves; the other takes its partitions at once. */
    produce_range(&e, &g, 2 * PHASE, 3 * PHASE);
    tally_test_signal(a, SIGTERM);
    cr_assert_eq(tally_test_wait(a, 30000), 0, "log:\n%s", tally_test_log(a));
    cr_assert(strstr(tally_test_log(a), "stopped cleanly") != NULL);
    long long t0 = anon_now_ms();
    cr_assert(anon_wait_metric(port_b, "tally_txn_assigned_partitions", 8, 60000),
              "b must hold every partition after a left");
    cr_assert_eq(anon_wait_done(&e, 60000), 0);
    fprintf(stderr, "anonymizer: the remaining instance finished %lld ms after the other left\n",
            anon_now_ms() - t0);
    tally_test_signal(b, SIGTERM);
    cr_assert_eq(tally_test_wait(b, 30000), 0, "log:\n%s", tally_test_log(b));
    anon_proc_free(a);
    anon_proc_free(b);
    raw_gen_done(&g);

    unsigned char *seen = calloc(3 * PHASE, 1);
    size_t dups = 0, missing = 0, total = 0;
    tally_decoder_t *dec = tally_decoder_new_any(cat);
    const char *outs[] = {e.product, e.usage};
    for (size_t t = 0; t < 2; t++) {
        anon_record_t *recs;
        size_t n = anon_read_all(outs[t], &recs);
        total += n;
        for (size_t k = 0; k < n; k++) {
            size_t i = index_of(dec, &recs[k]);
            cr_assert_lt(i, 3 * PHASE);
            dups += seen[i]++ > 0;
        }
        anon_records_free(recs, n);
    }
    for (size_t i = 0; i < 3 * PHASE; i++)
        missing += seen[i] == 0;
    cr_expect_eq(dups, 0, "%zu doubled", dups);
    cr_expect_eq(missing, 0, "%zu missing", missing);
    cr_expect_eq(total, 3 * PHASE);
    tally_decoder_free(dec);
    free(seen);
    tally_catalog_free(cat);
    anon_env_destroy(&e);
}

Test(anonymizer, bad_options_and_help)
{
    char *help[] = {(char *)tally_test_bin("tally-anonymizer"), "--help", NULL};
    tally_test_proc_t *p = tally_test_spawn(help, NULL, 0, NULL, 0);
    cr_assert_eq(tally_test_wait(p, 10000), 0);
    tally_test_proc_free(p);
    char *nokey[] = {(char *)tally_test_bin("tally-anonymizer"), NULL};
    p = tally_test_spawn(nokey, NULL, 0, NULL, 0);
    cr_assert_eq(tally_test_wait(p, 10000), 2);
    cr_assert(strstr(tally_test_log(p), "--key-file is required") != NULL, "%s", tally_test_log(p));
    tally_test_proc_free(p);
    char schemas[512], catalog[512];
    snprintf(schemas, sizeof schemas, "--schemas=%s", tally_test_source_path("schemas"));
    snprintf(catalog, sizeof catalog, "--catalog=%s", tally_test_source_path("schemas/product-events.json"));
    char *badkey[] = {(char *)tally_test_bin("tally-anonymizer"), "--key-file=/nonexistent/keys", schemas, catalog,
                      NULL};
    p = tally_test_spawn(badkey, NULL, 0, NULL, 0);
    cr_assert_eq(tally_test_wait(p, 10000), 2, "a key file that cannot be read is a configuration error");
    cr_assert(strstr(tally_test_log(p), "/nonexistent/keys") != NULL, "%s", tally_test_log(p));
    tally_test_proc_free(p);

    /* A key file that group or others may read: refused at startup, exit 2
     * (the broker address leads nowhere, in case it were not). */
    char keyfile[128], keyarg[160];
    snprintf(keyfile, sizeof keyfile, "/tmp/tally-test-anon-openkeys-%d", (int)getpid());
    int fd = open(keyfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(fd >= 0);
    dprintf(fd, "1 %s\n", ANON_TEST_KEY);
    cr_assert_eq(fchmod(fd, 0640), 0);
    close(fd);
    snprintf(keyarg, sizeof keyarg, "--key-file=%s", keyfile);
    char *openkey[] = {(char *)tally_test_bin("tally-anonymizer"), keyarg, schemas, catalog,
                       "--brokers=127.0.0.1:9", "--admin-port=0", NULL};
    p = tally_test_spawn(openkey, NULL, 0, NULL, 0);
    int rc = tally_test_wait(p, 10000);
    unlink(keyfile);
    cr_assert_eq(rc, 2, "a 0640 key file: exit %d\n%s", rc, tally_test_log(p));
    cr_assert(strstr(tally_test_log(p), "chmod 600") != NULL, "%s", tally_test_log(p));
    tally_test_proc_free(p);
}
